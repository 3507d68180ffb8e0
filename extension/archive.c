/*-------------------------------------------------------------------------
 *
 * archive.c
 *	  The revrx archive module: WAL goes to revrx-agent through the spool.
 *
 * For each file the archiver asks for, this module does roughly what
 *
 *		compress < pg_wal/NAME > $spool/wal/NAME.rvx
 *		until [ -f $spool/wal/NAME.ok ]; do sleep 0.01; done
 *
 * would do, where revrx-agent (a sidecar sharing the spool volume) ships
 * NAME.rvx to the repository and answers with NAME.ok.  The contract of the
 * spool itself is in common/spool.h.  Where this differs from the shell
 * version, and why:
 *
 * - NAME.rvx is a complete revrx object (common/object.h: header with the
 *	 SHA-256 of the raw segment and the system identifier, then the
 *	 compressed payload), written as NAME.rvx.tmp, then durably renamed
 *	 (file and directory fsynced), so the agent never sees a partial object.
 *
 * - Success needs NAME.ok to name the SHA-256 of exactly the content the
 *	 archiver asked for.  An acknowledgement of other content (an earlier
 *	 incarnation of the name) is removed and never counts.  With
 *	 revrx.archive_ack = spool, success comes once NAME.rvx is durable;
 *	 that is for spools on volumes that are as durable as pg_wal itself.
 *
 * - Re-archiving is cheap and idempotent: an existing NAME.ok with our
 *	 digest means the agent already stored this content (success without
 *	 spooling), and an existing NAME.rvx with our digest is kept as is.  So
 *	 a crash of Postgres, of the archiver or of the agent between any two
 *	 steps at most repeats a step.
 *
 * - One attempt never takes longer than revrx.archive_timeout.  If the
 *	 agent has not confirmed by then, the attempt fails with what is known
 *	 (the agent's last transient error, or that it has not reported since
 *	 some time), and the archiver retries later.  A permanent error from the
 *	 agent (NAME.error, e.g. the repository holds different content under
 *	 this name) fails the attempt at once.  While the server shuts down,
 *	 attempts wait RVX_SHUTDOWN_WAIT_SECS in all, and only if the agent is
 *	 alive, so that a missing or stuck agent cannot hold up the shutdown.
 *
 * - While waiting, up to revrx.archive_lookahead further .ready segments
 *	 are spooled (unless the spool already holds revrx.spool_max_size), so
 *	 the agent ships them in parallel and the archiver's later calls for
 *	 them usually find them confirmed already.  The revrx wal spooler
 *	 workers spool the same segments at the same time, in their own
 *	 processes (lookahead.c): that is what lets a backlog drain on more
 *	 than one core.  A claim in shared memory keeps two processes from
 *	 spooling one segment; the archiver holds the claim on the file it is
 *	 archiving for the whole attempt.
 *
 * - An ERROR never escapes to the archiver, where it would become FATAL
 *	 and restart the process: revrx_archive_file() catches it, reports it
 *	 as a WARNING, records it for revrx_status() and returns false, as
 *	 contrib/basic_archive does.
 *
 * Ownership of spool files: this module creates NAME.rvx (and replaces it
 * when it holds other content); the agent deletes it after writing
 * NAME.ok.  The agent creates NAME.ok and NAME.error; this module deletes
 * them: NAME.ok when it has been consumed or refers to other content,
 * NAME.error at the start of each attempt (a stale error must not be taken
 * for the answer to this attempt; the agent should treat a NAME.rvx with no
 * NAME.error beside it as work to do), and both of them once NAME is no
 * longer waiting to be archived (a sweep at most once a minute).  The agent
 * must ignore *.tmp files.  One archiver per spool: primary and standby must
 * not share a spool directory.
 *
 * Memory: everything an attempt allocates goes into archive_context, which
 * is reset after every attempt, successful or not.  The SHA-256 context,
 * the object writer and the I/O buffer live for the life of the process
 * (allocated once, outside any per-call context), so an error in the middle
 * of a segment cannot leak the compression library's state.  The spool
 * writer (revrx_spool_segment) is also what the spooler workers run, each
 * with its own writer and buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/pidfile.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "archive.h"
#include "archive_compat.h"
#include "compress.h"
#include "fileutil.h"
#include "lookahead.h"
#include "object.h"
#include "settings.h"
#include "sha256.h"
#include "shmem.h"
#include "spool.h"
#include "spool_read.h"
#include "spool_write.h"
#include "status.h"
#include "walname.h"

/* Read size for hashing and compressing segments. */
#define RVX_IO_CHUNK			(1024 * 1024)
/* Poll interval for the agent's answer when there is nothing else to do. */
#define RVX_POLL_MS				10
/* How long one attempt may wait once the server is shutting down. */
#define RVX_SHUTDOWN_WAIT_SECS	5
/* How often status files of files no longer pending are removed. */
#define RVX_SWEEP_INTERVAL_SECS	60
/* In the data directory; the name is private to miscinit.c. */
#define RVX_POSTMASTER_PID_FILE	"postmaster.pid"

/* ------------------------------------------- state for the archiver's life */

static MemoryContext archive_context = NULL;
static char *io_buf = NULL;
static RvxSha256 *file_sha = NULL;

/* The object writer, for the compression settings it was created with. */
static RevrxWriterCache writer_cache = REVRX_WRITER_CACHE_INIT;

static bool cluster_file_checked = false;
static pg_time_t last_sweep = 0;

/*
 * Whether this attempt reset the process latch after it had been set.  The
 * latch belongs to the archiver, which relies on it to learn that it must
 * stop (SIGUSR2) or that new files are ready; a wakeup swallowed here would
 * make it sleep for a minute before its final round at shutdown.  So a
 * consumed wakeup is handed back (SetLatch) when the attempt ends.
 */
static bool latch_consumed = false;

/*
 * Set once an attempt has waited RVX_SHUTDOWN_WAIT_SECS during a shutdown:
 * the archiver retries each file several times and in two rounds while the
 * server stops, and an agent that could not answer in that time is not
 * waited for again.
 */
static bool shutdown_wait_spent = false;

/* ----------------------------------------------------- state of one attempt */

typedef struct ArchiveAttempt
{
	const char *file;			/* name asked for */
	const char *path;			/* its path, relative to the data directory */
	char		wal_dir[MAXPGPATH];
	char		rvx_path[MAXPGPATH];
	char		ok_path[MAXPGPATH];
	char		error_path[MAXPGPATH];
	TimestampTz start;
	pg_time_t	start_secs;
	uint8		sha[RVX_SHA256_LEN];	/* of the file asked for */

	/* while waiting */
	bool		stopping;		/* the server is shutting down */
	char	   *agent_error;	/* last transient error the agent reported */
	char	   *note;			/* something odd seen in the spool */
	struct stat error_st;		/* NAME.error as last read */
	bool		error_seen;

	/* lookahead */
	bool		ahead_scanned;
	RevrxAheadList ahead;
} ArchiveAttempt;

static void revrx_archive_startup(void);
static bool revrx_archive_configured(void);
static bool revrx_archive_file(const char *file, const char *path);
static void revrx_archive_shutdown(void);

static void archive_one(ArchiveAttempt *a);
static void prepare_spool(void);
static void ensure_directory(const char *path);
static void check_cluster_file(void);
static void hash_file(const char *path, uint8 sha[RVX_SHA256_LEN]);
static bool consume_ack(ArchiveAttempt *a);
static void check_agent_error(ArchiveAttempt *a);
static bool spooled_object_matches(const char *rvx_path, const uint8 sha[RVX_SHA256_LEN]);
static void claim_file(ArchiveAttempt *a);
static bool still_ready(void *arg);
static void wait_for_ack(ArchiveAttempt *a);
static void stop_if_shutting_down(ArchiveAttempt *a);
static void poll_sleep(void);
static bool lookahead_step(ArchiveAttempt *a);
static int64 scan_spool(const char *wal_dir, bool sweep);
pg_noreturn static void report_timeout(ArchiveAttempt *a);
static bool server_is_stopping(void);

RVX_DEFINE_ARCHIVE_MODULE(revrx_archive_startup,
						  revrx_archive_configured,
						  revrx_archive_file,
						  revrx_archive_shutdown)

/*
 * revrx_archive_startup
 *
 * Runs once in the archiver when it loads the module.  Allocates what lives
 * as long as the archiver; an allocation failure here is FATAL, which is
 * right: the archiver cannot work and will be restarted.
 */
static void
revrx_archive_startup(void)
{
	archive_context = AllocSetContextCreate(TopMemoryContext,
											"revrx archive",
											ALLOCSET_DEFAULT_SIZES);
	if (io_buf == NULL)
		io_buf = MemoryContextAlloc(TopMemoryContext, RVX_IO_CHUNK);
	file_sha = rvx_sha256_new();
	if (file_sha == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	/* a claim must not outlive the archiver (lookahead.c) */
	revrx_ahead_on_exit_register();

	if (!revrx_shared_available())
		ereport(LOG,
				(errmsg("revrx is archiving without shared memory"),
				 errdetail("revrx is not listed in \"shared_preload_libraries\", so revrx_status() cannot report archiver activity.")));
}

/*
 * revrx_archive_configured
 *
 * Archiving waits until revrx.spool_dir is set.  The archiver then logs
 * "archive_mode enabled, yet archiving is not configured".
 */
static bool
revrx_archive_configured(void)
{
	return revrx_spool_dir != NULL && revrx_spool_dir[0] != '\0';
}

/*
 * revrx_archive_shutdown
 *
 * Frees the compression library's state; the rest goes with the process.
 */
static void
revrx_archive_shutdown(void)
{
	revrx_spool_segment_cleanup();
	if (file_sha != NULL)
		rvx_sha256_free(file_sha);
	file_sha = NULL;
}

/*
 * revrx_archive_file
 *
 * Archives one file; the error boundary around archive_one().
 */
static bool
revrx_archive_file(const char *file, const char *path)
{
	sigjmp_buf	local_sigjmp_buf;
	MemoryContext oldcontext;
	ArchiveAttempt *attempt;

	oldcontext = MemoryContextSwitchTo(archive_context);
	latch_consumed = false;

	/*
	 * The archiver runs at the bottom of the exception stack, where an ERROR
	 * becomes FATAL and restarts it.  Catch errors here instead: report
	 * them, clean up and return false, so the archiver retries the file.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		ErrorData  *edata;

		/* Since not using PG_TRY, reset the error stack by hand. */
		error_context_stack = NULL;
		HOLD_INTERRUPTS();

		/* errfinish() left us in ErrorContext; copy out before flushing. */
		MemoryContextSwitchTo(archive_context);
		edata = CopyErrorData();
		FlushErrorState();

		/* Close files left open by the attempt. */
		AtEOSubXact_Files(false, InvalidSubTransactionId, InvalidSubTransactionId);

		PG_exception_stack = NULL;

		revrx_ahead_release_all();
		revrx_archive_record_failure(file, edata->message);

		/*
		 * Report it as a WARNING: the archiver goes on (and says so itself
		 * when it gives up for a while).
		 */
		edata->elevel = WARNING;
		ThrowErrorData(edata);

		MemoryContextSwitchTo(oldcontext);
		MemoryContextReset(archive_context);

		if (latch_consumed)
			SetLatch(MyLatch);

		RESUME_INTERRUPTS();
		return false;
	}

	PG_exception_stack = &local_sigjmp_buf;

	attempt = palloc0(sizeof(ArchiveAttempt));
	attempt->file = file;
	attempt->path = path;
	archive_one(attempt);

	PG_exception_stack = NULL;

	revrx_ahead_release_all();
	revrx_archive_record_success(file);

	MemoryContextSwitchTo(oldcontext);
	MemoryContextReset(archive_context);

	if (latch_consumed)
		SetLatch(MyLatch);

	return true;
}

/*
 * archive_one
 *
 * The attempt proper: returns once the file counts as archived, ereports
 * ERROR otherwise.
 */
static void
archive_one(ArchiveAttempt *a)
{
	ereport(DEBUG3,
			(errmsg_internal("revrx archiving \"%s\"", a->file)));

	if (rvx_walname_kind(a->file) == RVX_WAL_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("revrx cannot archive \"%s\": not the name of a WAL segment, timeline history or backup history file",
						a->file)));

	a->start = GetCurrentTimestamp();
	a->start_secs = timestamptz_to_time_t(a->start);

	snprintf(a->wal_dir, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_WAL_DIR);
	snprintf(a->rvx_path, MAXPGPATH, "%s/%s%s", a->wal_dir, a->file,
			 RVX_SPOOL_READY_SUFFIX);
	snprintf(a->ok_path, MAXPGPATH, "%s/%s%s", a->wal_dir, a->file,
			 RVX_SPOOL_OK_SUFFIX);
	snprintf(a->error_path, MAXPGPATH, "%s/%s%s", a->wal_dir, a->file,
			 RVX_SPOOL_ERROR_SUFFIX);

	prepare_spool();

	if (a->start_secs - last_sweep >= RVX_SWEEP_INTERVAL_SECS)
	{
		(void) scan_spool(a->wal_dir, true);
		last_sweep = a->start_secs;
	}

	/*
	 * The spooler workers move on to the segments after this one; this
	 * one is ours until the attempt ends (if a worker is spooling it right
	 * now, we wait for it to finish, and find its work below).
	 */
	revrx_ahead_archiving(a->file);
	claim_file(a);

	/*
	 * The digest identifies the content in every answer from the agent.
	 * When the spool holds nothing for this name yet (the common case), it
	 * is computed while the file is spooled, in one pass; otherwise it is
	 * needed first, to tell whether what is there is this content.
	 */
	if (!revrx_file_exists(a->ok_path) && !revrx_file_exists(a->rvx_path))
	{
		RevrxSpooled spooled;

		revrx_unlink_if_exists(a->error_path);
		(void) revrx_spool_segment(a->file, a->path, NULL, false, false, ERROR, &spooled);
		memcpy(a->sha, spooled.sha, RVX_SHA256_LEN);
	}
	else
	{
		if (!revrx_ahead_recall(a->file, a->path, a->sha))
			hash_file(a->path, a->sha);

		/* Already stored by the agent (e.g. spooled ahead, or a retry)? */
		if (consume_ack(a))
			return;

		/* Any error file is from an earlier attempt. */
		revrx_unlink_if_exists(a->error_path);

		if (spooled_object_matches(a->rvx_path, a->sha))
		{
			/*
			 * Kept.  An earlier archiver may have died after renaming it
			 * but before the directory was fsynced, so make sure it is
			 * durable.
			 */
			(void) fsync_fname_ext(a->rvx_path, false, false, ERROR);
			(void) fsync_fname_ext(a->wal_dir, true, false, ERROR);
		}
		else
			(void) revrx_spool_segment(a->file, a->path, a->sha, false, false, ERROR, NULL);
	}

	if (revrx_archive_ack == REVRX_ACK_SPOOL)
	{
		ereport(DEBUG1,
				(errmsg_internal("revrx spooled \"%s\"", a->file)));
		return;
	}

	wait_for_ack(a);
}

/* ------------------------------------------------------------------ spool */

/*
 * prepare_spool
 *
 * Checks the spool directory, creates its subdirectories, and makes sure
 * cluster.json describes this cluster.
 */
static void
prepare_spool(void)
{
	struct stat st;
	char		path[MAXPGPATH];

	/*
	 * The directory is not created: a missing one usually means the shared
	 * volume is not mounted, and WAL written into the container's own
	 * filesystem would never reach the agent.
	 */
	if (stat(revrx_spool_dir, &st) != 0)
	{
		if (errno == ENOENT)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("revrx.spool_dir \"%s\" does not exist", revrx_spool_dir),
					 errhint("Create the directory, or mount the volume shared with revrx-agent there.")));
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat directory \"%s\": %m", revrx_spool_dir)));
	}
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("revrx.spool_dir \"%s\" is not a directory", revrx_spool_dir)));

	snprintf(path, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_WAL_DIR);
	ensure_directory(path);
	snprintf(path, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_STATUS_DIR);
	ensure_directory(path);

	check_cluster_file();
}

/*
 * ensure_directory
 *
 * Creates a spool subdirectory if needed, with the data directory's
 * permissions (pg_dir_create_mode: 0700, or 0750 with group access), so the
 * agent must run as the same OS user or, with group access enabled, in the
 * server's group.  A new directory is fsynced, with its parent, before
 * anything in it is acknowledged.
 *
 * fsync_fname_ext at ERROR rather than fsync_fname: a failed fsync in the
 * spool must fail this attempt, not PANIC the server; the spooled copy is
 * rewritten from pg_wal on retry.
 */
static void
ensure_directory(const char *path)
{
	if (MakePGDirectory(path) != 0)
	{
		if (errno == EEXIST)
			return;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", path)));
	}
	(void) fsync_fname_ext(path, true, false, ERROR);
	(void) fsync_fname_ext(revrx_spool_dir, true, false, ERROR);
}

/*
 * check_cluster_file
 *
 * cluster.json tells the agent which cluster the spool belongs to
 * (revrx_spool_claim).  It is checked on the first attempt of every
 * archiver, and whenever it has gone missing.
 */
static void
check_cluster_file(void)
{
	char		path[MAXPGPATH];

	snprintf(path, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_CLUSTER_FILE);
	if (cluster_file_checked && revrx_file_exists(path))
		return;
	revrx_spool_claim();
	cluster_file_checked = true;
}

/*
 * hash_file
 *
 * SHA-256 of a file, read in RVX_IO_CHUNK pieces.
 */
static void
hash_file(const char *path, uint8 sha[RVX_SHA256_LEN])
{
	int			fd;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));

	if (rvx_sha256_init(file_sha) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize SHA-256 context")));

	for (;;)
	{
		ssize_t		n = read(fd, io_buf, RVX_IO_CHUNK);

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		if (n == 0)
			break;
		if (rvx_sha256_update(file_sha, io_buf, n) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not compute SHA-256 of file \"%s\"", path)));
	}
	if (rvx_sha256_final(file_sha, sha) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 of file \"%s\"", path)));

	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
}

/*
 * consume_ack
 *
 * True if NAME.ok acknowledges exactly our content; it is then removed (it
 * has served its purpose).  An acknowledgement of other content is removed
 * too, as it refers to an earlier incarnation of the name.  A malformed
 * one is left alone (the agent may be replacing it) and noted.
 */
static bool
consume_ack(ArchiveAttempt *a)
{
	char	   *text;
	uint8		acked[RVX_SHA256_LEN];

	text = revrx_read_small_file(a->ok_path, RVX_SPOOL_NOTE_MAX, NULL);
	if (text == NULL)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", a->ok_path)));
		return false;
	}

	if (rvx_spool_ok_parse(text, acked) != 0)
	{
		if (a->note == NULL)
			a->note = psprintf("\"%s\" is malformed", a->ok_path);
		pfree(text);
		return false;
	}
	pfree(text);

	if (memcmp(acked, a->sha, RVX_SHA256_LEN) != 0)
	{
		ereport(LOG,
				(errmsg("revrx is removing \"%s\": it acknowledges other content than the current \"%s\"",
						a->ok_path, a->file)));
		revrx_unlink_if_exists(a->ok_path);
		return false;
	}

	revrx_unlink_if_exists(a->ok_path);
	ereport(DEBUG1,
			(errmsg_internal("revrx-agent confirmed \"%s\"", a->file)));
	return true;
}

/*
 * check_agent_error
 *
 * Looks at NAME.error, if it appeared since the attempt started.  A
 * permanent error fails the attempt now; a transient one is remembered for
 * the message in case the deadline passes.
 */
static void
check_agent_error(ArchiveAttempt *a)
{
	struct stat st;
	char	   *text;
	bool		permanent;
	long long	when;
	const char *message;

	if (stat(a->error_path, &st) != 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", a->error_path)));
		return;
	}

	/* Read each version of the file once, not at every poll. */
	if (a->error_seen &&
		st.st_ino == a->error_st.st_ino && st.st_size == a->error_st.st_size &&
		st.st_mtime == a->error_st.st_mtime)
		return;
	a->error_st = st;
	a->error_seen = true;

	text = revrx_read_small_file(a->error_path, RVX_SPOOL_NOTE_MAX, NULL);
	if (text == NULL)
		return;					/* gone again, or unreadable: not an answer */

	if (rvx_spool_error_parse(text, &permanent, &when, &message) != 0)
	{
		if (a->note == NULL)
			a->note = psprintf("\"%s\" is malformed", a->error_path);
		return;
	}

	/* Written before this attempt started: not about this attempt. */
	if (when < (long long) a->start_secs)
		return;

	if (permanent)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("revrx-agent could not store \"%s\": %s", a->file, message)));

	a->agent_error = pstrdup(message);
}

/*
 * spooled_object_matches
 *
 * True if NAME.rvx exists and its header says it holds our content for
 * this cluster; such an object is kept (the agent may be shipping it).
 */
static bool
spooled_object_matches(const char *rvx_path, const uint8 sha[RVX_SHA256_LEN])
{
	int			fd;
	uint8		buf[RVX_OBJECT_HEADER_LEN];
	RvxObjectHeader hdr;
	const char *why;
	ssize_t		n;

	fd = OpenTransientFile(rvx_path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", rvx_path)));
	}
	n = read(fd, buf, RVX_OBJECT_HEADER_LEN);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", rvx_path)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", rvx_path)));

	if (n != RVX_OBJECT_HEADER_LEN ||
		rvx_object_header_decode(buf, &hdr, &why) != 0)
	{
		ereport(LOG,
				(errmsg("revrx is replacing \"%s\": %s", rvx_path,
						n != RVX_OBJECT_HEADER_LEN ? "truncated header" : why)));
		return false;
	}
	if (memcmp(hdr.sha256, sha, RVX_SHA256_LEN) != 0 ||
		hdr.system_id != GetSystemIdentifier())
	{
		ereport(LOG,
				(errmsg("revrx is replacing \"%s\": it holds other content", rvx_path)));
		return false;
	}
	return true;
}

/*
 * revrx_spool_segment
 *
 * See archive.h.  Writes pg_wal/NAME into the spool as NAME.rvx, through
 * NAME.rvx.tmp (revrx_spool_write_object); the caller holds NAME's claim
 * (lookahead.c), so no other process writes the same temporary file.
 */
bool
revrx_spool_segment(const char *file, const char *path, const uint8 *expected_sha,
					bool ahead, bool fastest, int elevel, RevrxSpooled *result)
{
	char		tmp[MAXPGPATH];
	char		final[MAXPGPATH];
	RvxObjectHeader hdr;
	RevrxSpoolWrite sw;
	struct stat before;
	time_t		read_started = 0;
	int			src;

	snprintf(final, MAXPGPATH, "%s/%s/%s%s", revrx_spool_dir, RVX_SPOOL_WAL_DIR,
			 file, RVX_SPOOL_READY_SUFFIX);
	snprintf(tmp, MAXPGPATH, "%s%s", final, RVX_SPOOL_TMP_SUFFIX);

	memset(&sw, 0, sizeof(sw));
	if (io_buf == NULL)
		io_buf = MemoryContextAlloc(TopMemoryContext, RVX_IO_CHUNK);

	/*
	 * Compress in this process.  A zstd helper thread (as the backup
	 * exporter uses for its large files) would overlap compression with
	 * the hash and save a segment about a seventh of its wall time, but
	 * zstd's multi-threaded mode copies the input into its own buffers and
	 * costs some 7% more CPU.  Here the CPU is what counts: it is taken
	 * from the database, while a segment is archived in a small fraction of
	 * the time the server takes to fill one.
	 */
	writer_cache.fastest = fastest;
	sw.writer = revrx_object_writer(&writer_cache, 0, elevel);
	if (sw.writer == NULL)
		return false;

	src = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (src < 0)
	{
		if (elevel < ERROR && errno == ENOENT)
			return false;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
		return false;
	}

	/* the source's identity before the read ("Digests" in lookahead.c) */
	if (result != NULL && fstat(src, &before) != 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
		goto fail;
	}
	read_started = time(NULL);

	sw.src = src;
	sw.src_path = path;
	sw.buf = io_buf;
	sw.bufsize = RVX_IO_CHUNK;
	sw.tmp_path = tmp;
	sw.final_path = final;
	sw.expected_sha = expected_sha;
	if (ahead)
	{
		sw.still_valid = still_ready;
		sw.arg = unconstify(char *, file);
	}
	sw.elevel = elevel;
	if (!revrx_spool_write_object(&sw, &hdr))
		goto fail;

	if (result != NULL)
	{
		memcpy(result->sha, hdr.sha256, RVX_SHA256_LEN);
		result->written = RVX_OBJECT_HEADER_LEN + (int64) hdr.payload_size;
		if (fstat(src, &result->source) != 0)
		{
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", path)));
			goto fail;
		}
		result->settled = revrx_ahead_settled(&before, &result->source, read_started);
	}

	if (CloseTransientFile(src) != 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
		return false;
	}

	ereport(DEBUG1,
			(errmsg_internal("revrx spooled \"%s\"%s: %llu bytes as %llu (%s level %d)",
							 file, ahead ? " ahead" : "", (unsigned long long) hdr.raw_size,
							 (unsigned long long) hdr.payload_size,
							 rvx_compression_name((RvxCompression) hdr.compression),
							 writer_cache.level)));
	return true;

fail:
	/* Only reached below ERROR; with ERROR the boundary cleans up. */
	CloseTransientFile(src);
	return false;
}

/*
 * still_ready
 *
 * Whether a segment read ahead may be published: its .ready file is still
 * there, so the archiver has not finished with it, and PostgreSQL cannot
 * have recycled it while it was read (a segment is recycled only once
 * archived).  Otherwise the object is thrown away: the segment is stored
 * already.
 */
static bool
still_ready(void *arg)
{
	const char *file = (const char *) arg;
	char		path[MAXPGPATH];
	struct stat st;

	snprintf(path, MAXPGPATH, XLOGDIR "/archive_status/%s.ready", file);
	if (stat(path, &st) == 0)
		return true;
	ereport(DEBUG1,
			(errmsg_internal("revrx did not spool \"%s\" ahead: it was archived meanwhile",
							 file)));
	return false;
}

/*
 * revrx_spool_segment_cleanup
 *
 * Frees the compression library's state of this process's writer.
 */
void
revrx_spool_segment_cleanup(void)
{
	if (writer_cache.writer != NULL)
		rvx_object_writer_free(writer_cache.writer);
	writer_cache.writer = NULL;
}

/* ---------------------------------------------------------------- waiting */

/* The archiver was asked to shut down: the attempt fails (see file header). */
static void
stop_if_shutting_down(ArchiveAttempt *a)
{
	if (ShutdownRequestPending)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("revrx stopped waiting for \"%s\": the archiver is shutting down",
						a->file)));
}

/*
 * Sleeps one poll interval or until the latch is set; a latch set
 * meanwhile is noted in latch_consumed.
 */
static void
poll_sleep(void)
{
	int			rc;

	rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
				   RVX_POLL_MS, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		latch_consumed = true;
	}
}

/*
 * claim_file
 *
 * Takes the claim on the file asked for (lookahead.c), waiting while a
 * spooler worker is spooling it: that takes a fraction of a second, and
 * what it spools is what this attempt would have written.  Meanwhile the
 * archiver spools later segments itself, so that both keep working while
 * a backlog drains.
 */
static void
claim_file(ArchiveAttempt *a)
{
	TimestampTz deadline;

	deadline = TimestampTzPlusMilliseconds(a->start,
										   (int64) revrx_archive_timeout * 1000);
	while (!revrx_ahead_claim(a->file))
	{
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("revrx could not archive \"%s\" within %d s: a revrx wal spooler worker is still writing it",
							a->file, revrx_archive_timeout)));
		stop_if_shutting_down(a);
		revrx_ahead_keepalive();
		if (lookahead_step(a))
			continue;
		poll_sleep();
	}
}

/*
 * wait_for_ack
 *
 * Polls for the agent's answer until the deadline, spooling ahead while
 * there is nothing else to do.  Returns on success; throws otherwise.
 */
static void
wait_for_ack(ArchiveAttempt *a)
{
	TimestampTz deadline;
	TimestampTz last_stop_check = 0;

	deadline = TimestampTzPlusMilliseconds(a->start,
										   (int64) revrx_archive_timeout * 1000);

	for (;;)
	{
		TimestampTz now;
		bool		busy = false;

		if (consume_ack(a))
			return;
		check_agent_error(a);

		/*
		 * The object is gone but not acknowledged (someone removed it, or
		 * the agent acknowledged other content): spool it again.  Check for
		 * an acknowledgement once more first, because the agent removes the
		 * object right after acknowledging it.
		 */
		if (!revrx_file_exists(a->rvx_path) && !revrx_file_exists(a->ok_path))
		{
			ereport(LOG,
					(errmsg("revrx is spooling \"%s\" again: \"%s\" disappeared without an acknowledgement",
							a->file, a->rvx_path)));
			(void) revrx_spool_segment(a->file, a->path, a->sha, false, false, ERROR, NULL);
			busy = true;
		}

		now = GetCurrentTimestamp();

		/*
		 * Do not hold up a shutdown for long (see file header), and not at
		 * all when no agent is alive to answer.
		 */
		if (!a->stopping && TimestampDifferenceExceeds(last_stop_check, now, 1000))
		{
			last_stop_check = now;
			if (server_is_stopping())
			{
				RevrxAgentStatus agent;
				TimestampTz cap = now;

				a->stopping = true;
				revrx_agent_status_read(revrx_spool_dir, &agent);
				if (!shutdown_wait_spent &&
					agent.valid && agent.has_updated_at &&
					!TimestampDifferenceExceeds(agent.updated_at, now,
												REVRX_AGENT_STALE_SECS * 1000))
					cap = TimestampTzPlusMilliseconds(now,
													  RVX_SHUTDOWN_WAIT_SECS * 1000);
				if (cap < deadline)
					deadline = cap;
			}
		}

		if (now >= deadline)
			report_timeout(a);

		stop_if_shutting_down(a);

		revrx_ahead_keepalive();
		if (!busy)
			busy = lookahead_step(a);

		if (!busy)
			poll_sleep();
	}
}

/*
 * report_timeout
 *
 * Fails the attempt with the best explanation at hand.  The message is
 * what revrx_status() shows, so it carries the whole story.
 */
static void
report_timeout(ArchiveAttempt *a)
{
	RevrxAgentStatus agent;
	TimestampTz now = GetCurrentTimestamp();
	const char *why;
	long		secs;
	int			usecs;
	int			waited;

	TimestampDifference(a->start, now, &secs, &usecs);
	waited = (int) Min(secs, (long) revrx_archive_timeout);

	revrx_agent_status_read(revrx_spool_dir, &agent);

	if (a->agent_error != NULL)
		why = psprintf("agent error: %s", a->agent_error);
	else if (agent.missing)
		why = psprintf("revrx-agent has never reported (is revrx-agent running with REVRX_SPOOL=%s?)",
					   revrx_spool_dir);
	else if (!agent.valid || !agent.has_updated_at)
		why = psprintf("revrx-agent's status file \"%s/%s\" is unreadable",
					   revrx_spool_dir, RVX_SPOOL_AGENT_FILE);
	else if (TimestampDifferenceExceeds(agent.updated_at, now,
										REVRX_AGENT_STALE_SECS * 1000))
		why = psprintf("revrx-agent has not reported since %s (is revrx-agent running with REVRX_SPOOL=%s?)",
					   timestamptz_to_str(agent.updated_at), revrx_spool_dir);
	else if (agent.last_error != NULL && agent.has_last_error_at &&
			 agent.last_error_at >= a->start)
		why = psprintf("revrx-agent is running, its last error: %s",
					   agent.last_error);
	else
		why = psprintf("revrx-agent is running but has not stored it yet%s%s",
					   a->note ? "; " : "", a->note ? a->note : "");

	if (a->stopping)
	{
		shutdown_wait_spent = true;
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("revrx stopped waiting for \"%s\" after %d s because the server is shutting down: %s",
						a->file, waited, why)));
	}

	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("revrx could not confirm \"%s\" within %d s: %s",
					a->file, waited, why)));
}

/*
 * server_is_stopping
 *
 * The archiver cannot see the postmaster's state, but the postmaster
 * writes "stopping" into postmaster.pid when a shutdown begins.
 */
static bool
server_is_stopping(void)
{
	char	   *text;
	char	   *line;
	int			lineno = 1;

	text = revrx_read_small_file(RVX_POSTMASTER_PID_FILE, 8192, NULL);
	if (text == NULL)
		return false;

	line = text;
	while (lineno < LOCK_FILE_LINE_PM_STATUS)
	{
		line = strchr(line, '\n');
		if (line == NULL)
			return false;
		line++;
		lineno++;
	}
	return strncmp(line, PM_STATUS_STOPPING, strlen(PM_STATUS_STOPPING)) == 0;
}

/* -------------------------------------------------------------- lookahead */

/*
 * lookahead_step
 *
 * Spools the next segment ahead that is not in the spool yet and that no
 * spooler worker is spooling (lookahead.c).  Returns true if it did some
 * work (so the caller polls again without sleeping).  Failures are logged
 * and end the lookahead for this attempt; they never fail the attempt
 * itself.
 */
static bool
lookahead_step(ArchiveAttempt *a)
{
	if (revrx_archive_lookahead <= 0)
		return false;

	if (!a->ahead_scanned)
	{
		a->ahead_scanned = true;
		revrx_ahead_collect(&a->ahead, a->file);
	}
	return revrx_ahead_step(&a->ahead, LOG) != 0;
}

/*
 * scan_spool
 *
 * Returns the total size of the objects (*.rvx) in the spool's wal/.  With
 * sweep, also removes what nobody will look at any more: NAME.ok and
 * NAME.error of files no longer waiting to be archived (no .ready), and
 * temporary objects left by a process that died while writing them.
 */
static int64
scan_spool(const char *wal_dir, bool sweep)
{
	DIR		   *dir;
	struct dirent *de;
	int64		total = 0;
	char		path[MAXPGPATH];

	dir = AllocateDir(wal_dir);
	while ((de = ReadDirExtended(dir, wal_dir, LOG)) != NULL)
	{
		const char *name = de->d_name;
		const char *suffix = NULL;
		struct stat st;

		snprintf(path, MAXPGPATH, "%s/%s", wal_dir, name);

		if (revrx_has_suffix(name, RVX_SPOOL_READY_SUFFIX))
		{
			if (stat(path, &st) == 0)
				total += st.st_size;
			continue;
		}
		if (!sweep)
			continue;

		if (revrx_has_suffix(name, RVX_SPOOL_READY_SUFFIX RVX_SPOOL_TMP_SUFFIX))
		{
			/*
			 * Left by a process that died while writing it; one being
			 * written now (a spooler worker's) is younger than a sweep
			 * interval.
			 */
			if (stat(path, &st) == 0 &&
				time(NULL) - st.st_mtime >= RVX_SWEEP_INTERVAL_SECS)
				revrx_unlink_if_exists(path);
			continue;
		}
		if (revrx_has_suffix(name, RVX_SPOOL_OK_SUFFIX))
			suffix = RVX_SPOOL_OK_SUFFIX;
		else if (revrx_has_suffix(name, RVX_SPOOL_ERROR_SUFFIX))
			suffix = RVX_SPOOL_ERROR_SUFFIX;
		if (suffix != NULL)
		{
			char		base[REVRX_NAME_LEN];
			char		ready[MAXPGPATH];
			size_t		len = strlen(name) - strlen(suffix);

			if (len >= sizeof(base))
				continue;
			memcpy(base, name, len);
			base[len] = '\0';
			if (rvx_walname_kind(base) == RVX_WAL_INVALID)
				continue;
			snprintf(ready, MAXPGPATH, XLOGDIR "/archive_status/%s.ready", base);
			if (!revrx_file_exists(ready))
				revrx_unlink_if_exists(path);
		}
	}
	FreeDir(dir);
	return total;
}

/*
 * revrx_spool_wal_bytes
 *
 * See archive.h.
 */
int64
revrx_spool_wal_bytes(const char *wal_dir)
{
	return scan_spool(wal_dir, false);
}
