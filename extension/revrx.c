/*-------------------------------------------------------------------------
 *
 * revrx.c
 *	  Module entry point of revrx: settings, shared state, small helpers.
 *
 * The library is meant to be listed both in shared_preload_libraries (for
 * the shared state that revrx_status() reports) and as archive_library (for
 * the archive module in archive.c).  _PG_init therefore does two things:
 *
 *	- It defines the revrx.* settings in every process that loads the
 *	  library, preloaded or not, because the archiver loads the archive
 *	  module by itself and must see them even when the library was not
 *	  preloaded.
 *
 *	- Only while shared_preload_libraries is being processed, it requests
 *	  the shared memory and installs the hooks that create it.  Loading the
 *	  library later (CREATE EXTENSION, LOAD) adds no shared state, and the
 *	  SQL functions refuse to run rather than report nothing.
 *
 * While preloading it also registers the backup worker (worker.c), which
 * takes the backups that revrx_backup_now() asks for and those that
 * revrx.backup_schedule calls for.
 *
 * The lock rules for the shared state are in revrx.h.  The helpers at the
 * end read the small files the agent writes into the spool; they never
 * throw, because a missing, torn or foreign file is something to report,
 * not a reason to fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "common/file_perm.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "archive_compat.h"
#include "backup.h"
#include "compress.h"
#include "cron.h"
#include "revrx.h"
#include "spool.h"

PG_MODULE_MAGIC;

/* ---------------------------------------------------------------- settings */

char	   *revrx_spool_dir = NULL;
int			revrx_compression = RVX_COMPRESS_ZSTD;
int			revrx_compression_level = 0;
int			revrx_archive_ack = REVRX_ACK_REPOSITORY;
int			revrx_archive_timeout = 60;
int			revrx_archive_lookahead = 8;
int			revrx_archive_lookahead_workers = 1;
int			revrx_backup_compress_workers = 2;
int			revrx_spool_max_size = 1024;
char	   *revrx_fingerprint_database = NULL;
int			revrx_fingerprint_lock_timeout = 5000;
bool		revrx_fingerprint_settle = true;
int			revrx_partial_interval = 500;
char	   *revrx_backup_schedule = NULL;
const struct RevrxCron *revrx_backup_cron = NULL;
char	   *revrx_backup_schedule_incremental = NULL;
const struct RevrxCron *revrx_backup_cron_incremental = NULL;

static const struct config_enum_entry compression_options[] = {
	{"zstd", RVX_COMPRESS_ZSTD, false},
	{"gzip", RVX_COMPRESS_GZIP, false},
	{"lz4", RVX_COMPRESS_LZ4, false},
	{"none", RVX_COMPRESS_NONE, false},
	{NULL, 0, false}
};

static const struct config_enum_entry archive_ack_options[] = {
	{"repository", REVRX_ACK_REPOSITORY, false},
	{"spool", REVRX_ACK_SPOOL, false},
	{NULL, 0, false}
};

/* --------------------------------------------------------- shared state */

typedef struct RevrxSharedState
{
	slock_t		mutex;			/* protects stats; see revrx.h */
	RevrxArchiveStats stats;
} RevrxSharedState;

static RevrxSharedState *revrx_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static bool check_spool_dir(char **newval, void **extra, GucSource source);
static bool check_backup_schedule(char **newval, void **extra, GucSource source);
static bool check_partial_interval(int *newval, void **extra, GucSource source);
static bool check_backup_compress_workers(int *newval, void **extra, GucSource source);
static void assign_backup_schedule(const char *newval, void *extra);
static void assign_backup_schedule_incremental(const char *newval, void *extra);
static void revrx_shmem_request(void);
static void revrx_shmem_startup(void);

/*
 * _PG_init
 *
 * Defines the settings and, when preloading, arranges for shared memory.
 */
void
_PG_init(void)
{
	DefineCustomStringVariable("revrx.spool_dir",
							   "Directory shared with revrx-agent (the spool).",
							   "WAL is handed to the agent through this directory; "
							   "archiving waits while it is empty.",
							   &revrx_spool_dir,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_spool_dir, NULL, NULL);

	DefineCustomEnumVariable("revrx.compression",
							 "Compression of archived WAL and of base backups.",
							 "zstd, gzip, lz4 (about 60% of zstd's CPU per WAL segment, 1.7 times the bytes) or none.",
							 &revrx_compression,
							 RVX_COMPRESS_ZSTD,
							 compression_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.compression_level",
							"Compression level of archived WAL.",
							"0 selects the algorithm's default level.",
							&revrx_compression_level,
							0,
							0, 19,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("revrx.archive_ack",
							 "When a WAL file counts as archived.",
							 "\"repository\": once revrx-agent confirmed it in the repository; "
							 "\"spool\": once it is durable in the spool.",
							 &revrx_archive_ack,
							 REVRX_ACK_REPOSITORY,
							 archive_ack_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.archive_timeout",
							"Longest time one archive attempt waits for revrx-agent.",
							"After this, the attempt fails and the archiver retries it later.",
							&revrx_archive_timeout,
							60,
							1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.archive_lookahead",
							"How many further ready WAL segments to spool while waiting.",
							"They are shipped in parallel, so later archive calls usually find them confirmed.",
							&revrx_archive_lookahead,
							8,
							0, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.archive_lookahead_workers",
							"How many background workers spool ready WAL segments ahead of the archiver.",
							"Each compresses in its own process, in parallel with the archiver, so a "
							"backlog of WAL drains on that many more cores; 0 leaves it to the archiver alone.",
							&revrx_archive_lookahead_workers,
							1,
							0, RVX_AHEAD_WORKERS_MAX,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.backup_compress_workers",
							"How many zstd threads compress a backup beside the exporter.",
							"The exporter reads, checks and hashes each file while these threads "
							"compress it, so one large file is compressed on that many cores; "
							"0 compresses in the exporter itself.  zstd only.",
							&revrx_backup_compress_workers,
							2,
							0, RVX_COMPRESS_WORKERS_MAX,
							PGC_SIGHUP,
							0,
							check_backup_compress_workers, NULL, NULL);

	DefineCustomIntVariable("revrx.spool_max_size",
							"Spool size above which no segment is spooled ahead of time and backups wait.",
							"The segment the archiver asks for is always spooled; a backup waits "
							"while its objects in the spool take more than this.",
							&revrx_spool_max_size,
							1024,
							16, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomStringVariable("revrx.backup_schedule",
							   "When the backup worker takes full backups by itself.",
							   "Five cron fields (minute hour day-of-month month day-of-week) "
							   "in the server's time zone, e.g. \"0 2 * * *\"; empty for none.",
							   &revrx_backup_schedule,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_backup_schedule, assign_backup_schedule, NULL);

	DefineCustomStringVariable("revrx.backup_schedule_incremental",
							   "When the backup worker takes incremental backups by itself.",
							   "Same form as revrx.backup_schedule, e.g. \"0 2 * * 1-6\" with a full backup "
							   "\"0 2 * * 0\"; when both are due at once the full backup is taken.  "
							   "Empty for none.",
							   &revrx_backup_schedule_incremental,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_backup_schedule, assign_backup_schedule_incremental, NULL);

	DefineCustomStringVariable("revrx.fingerprint_database",
							   "Database whose tables are fingerprinted after each backup.",
							   "Row counts and content hashes of every permanent table, taken at a "
							   "restore point after the backup, for restore drills to compare; "
							   "empty for none.",
							   &revrx_fingerprint_database,
							   "postgres",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.fingerprint_lock_timeout",
							"How long the fingerprint worker waits for its table locks.",
							"Writes to the database wait while it holds them (milliseconds, "
							"normally); after this it gives up and the backup has no fingerprints.",
							&revrx_fingerprint_lock_timeout,
							5000,
							1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("revrx.fingerprint_settle",
							 "Reads the fingerprinted tables once before each backup starts.",
							 "That sets the hint bits the fingerprint scan after the backup would "
							 "set; with data checksums each such page is WAL-logged with a new LSN, "
							 "and the next incremental would store it again (docs/incremental.md).",
							 &revrx_fingerprint_settle,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.partial_interval",
							"How often the WAL written since the last complete segment is exported.",
							"While WAL is written, the WAL exporter writes the WAL flushed since its "
							"last round to the spool this often, so the repository is about this far "
							"behind plus one upload; 0 turns it off.",
							&revrx_partial_interval,
							500,
							0, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							check_partial_interval, NULL, NULL);

	MarkGUCPrefixReserved("revrx");

	/*
	 * Shared memory can only be requested while preloading.  Without it the
	 * archive module still works; only the reporting is missing.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = revrx_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = revrx_shmem_startup;

	revrx_worker_register();
	revrx_wal_export_register();
	revrx_ahead_register();
}

/*
 * check_spool_dir
 *
 * Accepts "" (archiving is then not configured) or an absolute path short
 * enough for every spool file name.  Whether the directory exists is
 * checked when archiving, not here: the shared volume may be mounted after
 * the configuration is loaded, and a check here would also run in every
 * backend at every reload.
 */
static bool
check_spool_dir(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;

	if (!is_absolute_path(*newval))
	{
		GUC_check_errdetail("revrx.spool_dir must be an absolute path.");
		GUC_check_errhint("Use the path at which the volume shared with revrx-agent is mounted, e.g. \"/var/lib/revrx/spool\".");
		return false;
	}

	/* Room for "/wal/" + the longest archived name + suffixes. */
	if (strlen(*newval) >= MAXPGPATH - 64)
	{
		GUC_check_errdetail("revrx.spool_dir is longer than %d bytes.",
							MAXPGPATH - 64 - 1);
		return false;
	}

	/* Remove trailing and doubled slashes; this only ever shortens it. */
	canonicalize_path(*newval);

	return true;
}

/*
 * check_partial_interval
 *
 * 0 (off) or at least RVX_PARTIAL_INTERVAL_MIN_MS: each round is an
 * fsync in the spool and several requests to the repository
 * (extension/wal_export.c), and the upload, not the interval, dominates
 * the exposure below that.
 */
#define RVX_PARTIAL_INTERVAL_MIN_MS 100

static bool
check_partial_interval(int *newval, void **extra, GucSource source)
{
	if (*newval != 0 && *newval < RVX_PARTIAL_INTERVAL_MIN_MS)
	{
		GUC_check_errdetail("revrx.partial_interval must be 0 (off) or at least %d ms.",
							RVX_PARTIAL_INTERVAL_MIN_MS);
		return false;
	}
	return true;
}

/*
 * check_backup_compress_workers
 *
 * A libzstd built without threads compresses in the calling thread only:
 * a value set on purpose is refused there, so the setting does not claim
 * what cannot happen.  The default is let through (the server must
 * start), and the exporter says in the log that it compresses without
 * threads.
 */
static bool
check_backup_compress_workers(int *newval, void **extra, GucSource source)
{
	if (*newval > 0 && source > PGC_S_DEFAULT && rvx_zstd_max_workers() == 0)
	{
		GUC_check_errdetail("This server's libzstd was built without multithreading.");
		GUC_check_errhint("Set revrx.backup_compress_workers to 0.");
		return false;
	}
	return true;
}

/*
 * check_backup_schedule
 *
 * Accepts "" (no scheduled backups) or a cron schedule that can fire; the
 * parsed schedule is handed to the assign hook as "extra", so the worker
 * never parses it again.
 */
static bool
check_backup_schedule(char **newval, void **extra, GucSource source)
{
	RevrxCron	cron;
	char		why[256];
	RevrxCron  *copy;

	if (*newval == NULL || (*newval)[strspn(*newval, " \t\r\n")] == '\0')
	{
		*extra = NULL;
		return true;
	}

	if (!revrx_cron_parse(*newval, &cron, why, sizeof(why)))
	{
		GUC_check_errdetail("%s", why);
		GUC_check_errhint("Use five cron fields, minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\" for 02:00 every day, or an empty string for no scheduled backups.");
		return false;
	}

	/* guc.c frees "extra" itself: allocate it the way it expects */
	copy = rvx_guc_extra_alloc(sizeof(RevrxCron));
	if (copy == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	memcpy(copy, &cron, sizeof(RevrxCron));
	*extra = copy;
	return true;
}

static void
assign_backup_schedule(const char *newval, void *extra)
{
	revrx_backup_cron = (const RevrxCron *) extra;
}

static void
assign_backup_schedule_incremental(const char *newval, void *extra)
{
	revrx_backup_cron_incremental = (const RevrxCron *) extra;
}

const char *
revrx_archive_ack_name(int ack)
{
	for (const struct config_enum_entry *e = archive_ack_options; e->name; e++)
	{
		if (e->val == ack)
			return e->name;
	}
	return "unknown";
}

/*
 * revrx_shmem_request
 *
 * Requests the shared state (PG15's shmem_request_hook).
 */
static void
revrx_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	RequestAddinShmemSpace(MAXALIGN(sizeof(RevrxSharedState)));
	revrx_backup_shmem_request();
	revrx_ahead_shmem_request();
}

/*
 * revrx_shmem_startup
 *
 * Creates or attaches to the shared state.
 */
static void
revrx_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	revrx_shared = ShmemInitStruct("revrx", sizeof(RevrxSharedState), &found);
	if (!found)
	{
		memset(revrx_shared, 0, sizeof(RevrxSharedState));
		SpinLockInit(&revrx_shared->mutex);
	}
	revrx_backup_shmem_init();
	revrx_ahead_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

bool
revrx_shared_available(void)
{
	return revrx_shared != NULL;
}

void
revrx_archive_record_success(const char *file)
{
	TimestampTz now;

	if (revrx_shared == NULL)
		return;

	now = GetCurrentTimestamp();
	SpinLockAcquire(&revrx_shared->mutex);
	strlcpy(revrx_shared->stats.last_archived_wal, file, REVRX_NAME_LEN);
	revrx_shared->stats.last_archived_time = now;
	revrx_shared->stats.archived_count++;
	SpinLockRelease(&revrx_shared->mutex);
}

void
revrx_archive_record_failure(const char *file, const char *message)
{
	TimestampTz now;

	if (revrx_shared == NULL)
		return;

	/*
	 * The message is cut at a byte boundary: the archiver has no database
	 * encoding to cut by.  Readers sanitize it (revrx_text_sanitize).
	 */
	now = GetCurrentTimestamp();
	SpinLockAcquire(&revrx_shared->mutex);
	strlcpy(revrx_shared->stats.last_failed_wal, file, REVRX_NAME_LEN);
	strlcpy(revrx_shared->stats.last_error, message ? message : "unknown error",
			REVRX_ERROR_LEN);
	revrx_shared->stats.last_error_time = now;
	revrx_shared->stats.failed_count++;
	SpinLockRelease(&revrx_shared->mutex);
}

bool
revrx_archive_stats_read(RevrxArchiveStats *stats)
{
	if (revrx_shared == NULL)
		return false;

	SpinLockAcquire(&revrx_shared->mutex);
	memcpy(stats, &revrx_shared->stats, sizeof(RevrxArchiveStats));
	SpinLockRelease(&revrx_shared->mutex);
	return true;
}

/* ----------------------------------------------------- spool file helpers */

char *
revrx_read_small_file(const char *path, size_t maxlen, size_t *len)
{
	int			fd;
	struct stat st;
	char	   *buf;
	size_t		have = 0;
	int			save_errno;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode))
	{
		errno = EISDIR;
		goto fail;
	}
	if ((size_t) st.st_size > maxlen)
	{
		errno = EFBIG;
		goto fail;
	}

	/* One byte more than expected, to notice a file that grew. */
	buf = palloc(st.st_size + 2);
	for (;;)
	{
		ssize_t		n = read(fd, buf + have, st.st_size + 1 - have);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		have += n;
		if (have > (size_t) st.st_size)
		{
			errno = EFBIG;
			goto fail;
		}
	}
	CloseTransientFile(fd);
	buf[have] = '\0';
	if (len)
		*len = have;
	return buf;

fail:
	save_errno = errno;
	CloseTransientFile(fd);
	errno = save_errno;
	return NULL;
}

/*
 * What the parser could throw on, ruled out before it runs:
 *	- deep nesting (the parser recurses and checks the stack depth);
 *	- \u escapes the database encoding cannot hold (pg_unicode_to_server);
 *	- bytes invalid in the database encoding, which must not reach SQL.
 * The agent writes UTF-8; in a database that is not UTF-8 its non-ASCII
 * text is shown as '?' rather than making the whole file unusable.
 * Returns false if the text cannot be a JSON object we accept.
 */
#define REVRX_JSON_MAX_DEPTH	16

bool
revrx_json_precheck(char *text, size_t len)
{
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	bool		in_string = false;
	int			depth = 0;

	if (strlen(text) != len)
		return false;			/* embedded NUL */
	if (utf8 && !pg_verifymbstr(text, (int) len, true))
		return false;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (c >= 0x80)
		{
			if (!utf8)
				text[i] = '?';
			continue;
		}
		if (in_string)
		{
			if (c == '"')
				in_string = false;
			else if (c == '\\' && i + 1 < len)
			{
				if (!utf8 && text[i + 1] == 'u' && i + 5 < len)
				{
					char		hex[5];
					char	   *end;
					long		cp;

					memcpy(hex, text + i + 2, 4);
					hex[4] = '\0';
					cp = strtol(hex, &end, 16);
					if (end == hex + 4 && cp > 0x7f)
						text[i] = '?';	/* "?uXXXX": plain characters */
				}
				i++;			/* skip the escaped character */
			}
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > REVRX_JSON_MAX_DEPTH)
				return false;
		}
		else if (c == '}' || c == ']')
			depth--;
	}
	return true;
}

typedef struct FlatJsonState
{
	const char *const *keys;
	int			nkeys;
	char	  **values;
	int			depth;
	int			current;		/* index of the top-level key being read */
	bool		is_object;
} FlatJsonState;

static RvxJsonCbResult
flat_object_start(void *state)
{
	FlatJsonState *s = (FlatJsonState *) state;

	if (s->depth == 0)
		s->is_object = true;
	s->depth++;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
flat_struct_end(void *state)
{
	FlatJsonState *s = (FlatJsonState *) state;

	s->depth--;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
flat_array_start(void *state)
{
	FlatJsonState *s = (FlatJsonState *) state;

	s->depth++;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
flat_field_start(void *state, char *fname, bool isnull)
{
	FlatJsonState *s = (FlatJsonState *) state;

	if (s->depth == 1)
	{
		s->current = -1;
		for (int i = 0; i < s->nkeys; i++)
		{
			if (strcmp(fname, s->keys[i]) == 0)
			{
				s->current = i;
				/* a repeated key replaces the earlier value */
				s->values[i] = NULL;
				break;
			}
		}
	}
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
flat_scalar(void *state, char *token, JsonTokenType tokentype)
{
	FlatJsonState *s = (FlatJsonState *) state;

	if (s->depth == 1 && s->current >= 0 && tokentype != JSON_TOKEN_NULL)
		s->values[s->current] = token;
	RVX_JSON_CB_RETURN;
}

bool
revrx_json_read_flat(char *text, size_t len, const char *const *keys,
					 int nkeys, char **values)
{
	FlatJsonState state;
	JsonSemAction sem;
	JsonLexContext *lex;

	for (int i = 0; i < nkeys; i++)
		values[i] = NULL;

	if (len > REVRX_STATUS_FILE_MAX || !revrx_json_precheck(text, len))
		return false;

	memset(&state, 0, sizeof(state));
	state.keys = keys;
	state.nkeys = nkeys;
	state.values = values;
	state.current = -1;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = flat_object_start;
	sem.object_end = flat_struct_end;
	sem.array_start = flat_array_start;
	sem.array_end = flat_struct_end;
	sem.object_field_start = flat_field_start;
	sem.scalar = flat_scalar;

	lex = rvx_json_lexer_new(text, (int) len);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || !state.is_object)
	{
		for (int i = 0; i < nkeys; i++)
			values[i] = NULL;
		return false;
	}
	return true;
}

bool
revrx_epoch_to_timestamptz(const char *number, TimestampTz *result)
{
	char	   *end;
	double		secs;
	double		usecs;

	if (number == NULL)
		return false;
	errno = 0;
	secs = strtod(number, &end);
	if (end == number || *end != '\0' || errno != 0 || isnan(secs) || isinf(secs))
		return false;

	usecs = (secs - (double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
		* USECS_PER_SEC;
	if (!(usecs >= (double) MIN_TIMESTAMP && usecs < (double) END_TIMESTAMP))
		return false;
	*result = (TimestampTz) rint(usecs);
	return true;
}

void
revrx_text_sanitize(char *s)
{
	if (pg_verifymbstr(s, (int) strlen(s), true))
		return;
	for (; *s; s++)
	{
		if ((unsigned char) *s >= 0x80)
			*s = '?';
	}
}

/* ------------------------------------------------------ shared helpers */

RvxObjectWriter *
revrx_object_writer(RevrxWriterCache *cache, int workers, int elevel)
{
	RvxCompression alg = (RvxCompression) revrx_compression;
	int			level = revrx_compression_level;

	if (cache->fastest)
		level = alg == RVX_COMPRESS_NONE ? 0 : 1;	/* zstd 1, gzip 1, lz4 fast mode */
	else if (level == 0 || alg == RVX_COMPRESS_NONE)
		level = rvx_compression_default_level(alg);
	else if (!rvx_compression_level_valid(alg, level))
	{
		if (cache->warned_alg != (int) alg || cache->warned_level != level)
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("revrx.compression_level %d is not valid for %s, using its default level %d",
							level, rvx_compression_name(alg),
							rvx_compression_default_level(alg))));
			cache->warned_alg = (int) alg;
			cache->warned_level = level;
		}
		level = rvx_compression_default_level(alg);
	}

	if (cache->writer != NULL && (cache->alg != (int) alg || cache->level != level))
	{
		rvx_object_writer_free(cache->writer);
		cache->writer = NULL;
	}
	if (cache->writer == NULL)
	{
		cache->writer = rvx_object_writer_new(alg, level);
		if (cache->writer == NULL)
		{
			ereport(elevel,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not create a %s compression context.",
							   rvx_compression_name(alg))));
			return NULL;
		}
		rvx_object_writer_set_workers(cache->writer, workers);
		cache->alg = (int) alg;
		cache->level = level;
	}
	return cache->writer;
}

bool
revrx_has_suffix(const char *name, const char *suffix)
{
	size_t		len = strlen(name);
	size_t		slen = strlen(suffix);

	return len > slen && strcmp(name + len - slen, suffix) == 0;
}

bool
revrx_file_exists(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return true;
	if (errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	return false;
}

void
revrx_unlink_if_exists(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
}

void
revrx_write_file_durably(const char *path, const void *data, size_t len)
{
	char		tmp[MAXPGPATH];
	int			fd;

	snprintf(tmp, MAXPGPATH, "%s%s", path, RVX_SPOOL_TMP_SUFFIX);
	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
							   pg_file_create_mode);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));

	errno = 0;
	if (write(fd, data, len) != (ssize_t) len)
	{
		/* if write didn't set errno, assume problem is no disk space */
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", tmp)));

	/* fsyncs the file, renames it and fsyncs the directory */
	(void) durable_rename(tmp, path, ERROR);
}

void
revrx_spool_claim(void)
{
	char		path[MAXPGPATH];
	char		sysid[32];
	char	   *expected;
	char	   *text;
	size_t		len;

	snprintf(path, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_CLUSTER_FILE);
	snprintf(sysid, sizeof(sysid), UINT64_FORMAT, GetSystemIdentifier());
	expected = psprintf("{\"system_identifier\": \"%s\", \"pg_version_num\": %d, \"wal_segment_size\": %d}\n",
						sysid, PG_VERSION_NUM, wal_segment_size);

	text = revrx_read_small_file(path, REVRX_STATUS_FILE_MAX, &len);
	if (text == NULL && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));

	if (text != NULL && strcmp(text, expected) != 0)
	{
		static const char *const keys[] = {"system_identifier"};
		char	   *values[1];

		if (revrx_json_read_flat(text, len, keys, 1, values) &&
			values[0] != NULL && strcmp(values[0], sysid) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("revrx spool \"%s\" belongs to another cluster",
							revrx_spool_dir),
					 errdetail("Its %s names database system identifier %s; this cluster's is %s.",
							   RVX_SPOOL_CLUSTER_FILE, values[0], sysid),
					 errhint("Give each cluster a spool of its own.  If that cluster no longer exists and nothing in the spool is needed any more, remove \"%s\".",
							 path)));

		/* Ours, from another server version, or unreadable: rewrite it. */
		text = NULL;
	}

	if (text == NULL)
		revrx_write_file_durably(path, expected, strlen(expected));
	pfree(expected);
}
