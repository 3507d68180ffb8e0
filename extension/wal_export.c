/*-------------------------------------------------------------------------
 *
 * wal_export.c
 *	  The revrx WAL exporter: streams the current, unfinished WAL segment
 *	  to the spool as "partials", so that a commit is in the repository
 *	  about revrx.partial_interval after it returned, not only once its
 *	  segment is switched and archived.
 *
 * A background worker (registered in _PG_init next to the backup worker;
 * contrib/pg_prewarm's autoprewarm is the model for the loop: latch,
 * WL_EXIT_ON_PM_DEATH, reload on SIGHUP).  Every revrx.partial_interval,
 * when WAL was flushed since its last round, it writes
 *
 *		$spool/wal/<segment>.<generation, 16 hex>.<end offset, 8 hex>.partial.rvx
 *
 * holding the segment's bytes [segment start, flush): a prefix of the
 * segment, read from pg_wal/<segment> (never beyond GetFlushRecPtr(): what
 * is flushed is what committed transactions were promised), as a revrx
 * object (common/object.h: compression, SHA-256, the agent encrypts when
 * the repository is encrypted), durably and atomically like the archive
 * module's files (temporary name, fsync, durable_rename).  The name
 * carries the timeline, the segment, the generation and the end offset
 * (common/walname.h);
 * the object's raw size equals the end offset, so a reader checks one
 * against the other.  revrx-agent stores it as the segment's streamed
 * partial in the repository, and wal-fetch uses the newest one for a
 * segment that is not stored complete (docs/architecture.md, "Partial
 * WAL").
 *
 * Why a prefix and not increments: a prefix stands alone (a reader needs
 * one object, not a gap-free chain), it supersedes every older partial of
 * its segment whole (so a lost or late upload of an older one never
 * matters), and a restart of either side needs no memory of what was sent.
 * Its price is that a busy segment is compressed again each round: at most
 * one segment (16 MB) per round, on average half of that, in this one
 * process, away from the backends.  Under a load that fills a segment in
 * less than a round, each segment is exported at most once or not at all
 * (the archive module then stores it complete).
 *
 * The generation is the redo LSN the exporter sees first once recovery is
 * over.  After a crash, recovery ends at the last complete record and the
 * WAL after it is written anew; a partial exported before the crash may
 * hold a longer, now invalid tail.  The end-of-recovery checkpoint's redo
 * pointer is past every byte recovery kept, so it is larger than any
 * generation before the crash, and readers rank partials by (generation,
 * end offset), never by offset alone.  A restart of the exporter alone
 * may start a new generation of the same WAL: harmless, its partials are
 * just as current.
 *
 * Contract with the spool:
 *	- A partial is only ever published whole (rename after fsync).
 *	- The spool holds at most one partial per segment, and none for a
 *	  segment whose complete file the archive module spooled (or the agent
 *	  acknowledged): each round, and after each publication, the exporter
 *	  removes every spool partial that a higher-ranked one of its segment
 *	  or the complete segment supersedes, if the agent has not taken it
 *	  yet.  Nothing the repository could have
 *	  stored is lost, and a stalled repository cannot fill the spool with
 *	  one partial per round.  The agent removes what it stored.
 *	- Partials are optional: while the spool's WAL files take more than
 *	  revrx.spool_max_size, no round writes one (logged at most once a
 *	  minute); complete segments, which are not optional, keep the room.
 *	- Temporary files are "<name>.tmp" (not ".rvx.tmp", which the archive
 *	  module's sweep removes); a round that fails removes its own, and the
 *	  exporter removes an earlier process's leftovers at start.
 *
 * A round reads at most one segment and is not interrupted: SIGTERM sets
 * ShutdownRequestPending (CHECK_FOR_INTERRUPTS would not see it), which
 * the loop checks between rounds, so a shutdown waits for at most one
 * round.
 *
 * It does not run during recovery (a standby has no WAL of its own to
 * protect: the bgworker starts once recovery finished, and checks again
 * each round), without archiving (archive_mode off) or without a spool,
 * and not when revrx.partial_interval is 0.  An ERROR in a round is
 * logged (at most once a minute when it repeats) and the next round tries
 * again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "common/file_perm.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "backup.h"
#include "object.h"
#include "revrx.h"
#include "spool.h"
#include "walname.h"

/* Restart delay after the worker exits. */
#define EXPORT_RESTART_SECS		5
/* How long to sleep when exporting is off (a reload wakes it anyway). */
#define EXPORT_IDLE_MS			60000
#define EXPORT_IO_CHUNK			(256 * 1024)
#define EXPORT_TMP_SUFFIX		".tmp"

static MemoryContext export_context = NULL;
static RevrxWriterCache writer_cache = REVRX_WRITER_CACHE_INIT;
static char *io_buf = NULL;

/* Where the flush was at the last round. */
static TimeLineID last_tli = 0;
static XLogSegNo last_segno = 0;
static uint32 last_offset = 0;

/* This exporter's generation (see the header); 0 until the first round. */
static uint64 export_gen = 0;

/* The temporary file a round is writing, removed when the round fails. */
static char export_tmp[MAXPGPATH] = "";

/* Rate limit for repeated errors, and for the spool-full message. */
static RevrxErrorRepeat round_errors = {NULL, 0};
static TimestampTz spool_full_logged = 0;

#define EXPORT_SPOOL_FULL_LOG_MS	60000

/* What segment_still_there checks after a read. */
typedef struct ExportSource
{
	XLogSegNo	segno;
	TimeLineID	tli;
} ExportSource;

static void export_round(void);
static int64 tidy_spool(const char *dir);
static void remove_leftovers(void);
static bool segment_still_there(void *arg);

void
revrx_wal_export_register(void)
{
	revrx_register_worker("revrx_wal_export_main", "revrx wal exporter", "revrx wal exporter",
						  BGWORKER_SHMEM_ACCESS, EXPORT_RESTART_SECS, (Datum) 0);
}

/*
 * One round inside an error boundary: an ERROR is logged, its state
 * cleaned up, and the loop goes on (a restart would only lose the
 * settings' cache and the name of the last partial).
 */
static void
guarded(void (*fn) (void))
{
	MemoryContext oldcxt = MemoryContextSwitchTo(export_context);

	PG_TRY();
	{
		fn();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		FlushErrorState();
		AtEOXact_Files(false);
		pgstat_report_wait_end();
		/* a failed write (ENOSPC, typically) must not leave its file */
		if (export_tmp[0] != '\0')
			(void) unlink(export_tmp);
		export_tmp[0] = '\0';
		revrx_log_caught_error(&round_errors, "revrx wal exporter", "export partial WAL", edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(export_context);
}

void
revrx_wal_export_main(Datum main_arg)
{
	char	   *cleaned_spool = NULL;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	export_context = AllocSetContextCreate(TopMemoryContext, "revrx wal exporter",
										   ALLOCSET_DEFAULT_SIZES);
	io_buf = MemoryContextAlloc(TopMemoryContext, EXPORT_IO_CHUNK);

	while (!ShutdownRequestPending)
	{
		long		timeout = EXPORT_IDLE_MS;
		TimestampTz started = GetCurrentTimestamp();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (revrx_partial_interval > 0 && revrx_spool_dir[0] != '\0' &&
			XLogArchivingActive() && !RecoveryInProgress())
		{
			/* once per spool: the leftovers of an earlier exporter */
			if (cleaned_spool == NULL || strcmp(cleaned_spool, revrx_spool_dir) != 0)
			{
				if (cleaned_spool)
					pfree(cleaned_spool);
				cleaned_spool = MemoryContextStrdup(TopMemoryContext, revrx_spool_dir);
				guarded(remove_leftovers);
			}
			guarded(export_round);
			timeout = revrx_partial_interval -
				(long) ((GetCurrentTimestamp() - started) / 1000);
			timeout = Max(timeout, 10);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	if (writer_cache.writer != NULL)
		rvx_object_writer_free(writer_cache.writer);
	writer_cache.writer = NULL;
	proc_exit(0);
}

/*
 * export_round
 *
 * Writes the flushed part of the current segment as a partial, if WAL was
 * flushed since the last round.
 */
static void
export_round(void)
{
	TimeLineID	tli;
	XLogRecPtr	flush;
	XLogSegNo	segno;
	uint32		offset;
	char		segment[MAXFNAMELEN];
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		src_path[MAXPGPATH];
	char		dir[MAXPGPATH];
	char		final[MAXPGPATH];
	char		tmp[MAXPGPATH];
	RevrxSpoolWrite sw;
	RvxObjectHeader hdr;
	ExportSource source;
	int64		spooled;
	int			src;
	bool		ok;

	/*
	 * Never during recovery (the caller checks): segment_still_there relies
	 * on it, since RemoveNonParentXlogFiles() at promotion removes segments
	 * without advancing the last-removed segment.
	 */
	Assert(!RecoveryInProgress());
	if (export_gen == 0)
		export_gen = (uint64) GetRedoRecPtr();

	flush = GetFlushRecPtr(&tli);
	XLByteToSeg(flush, segno, wal_segment_size);
	offset = (uint32) XLogSegmentOffset(flush, wal_segment_size);

	/*
	 * Every round, even an idle one: the archive module may have spooled a
	 * segment complete since the last, which supersedes its partial.
	 */
	revrx_spool_claim();
	snprintf(dir, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_WAL_DIR);
	if (MakePGDirectory(dir) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
	spooled = tidy_spool(dir);

	if (tli == last_tli && segno == last_segno && offset == last_offset)
		return;					/* nothing flushed since the last round */

	/*
	 * At a segment boundary the segment before is complete (the archive
	 * module stores it) and the new one holds nothing yet.
	 */
	if (offset == 0)
	{
		last_tli = tli;
		last_segno = segno;
		last_offset = offset;
		return;
	}

	/* partials are optional: the room is for complete segments */
	if (spooled > (int64) revrx_spool_max_size * 1024 * 1024)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (spool_full_logged == 0 ||
			TimestampDifferenceExceeds(spool_full_logged, now, EXPORT_SPOOL_FULL_LOG_MS))
		{
			ereport(LOG,
					(errmsg("revrx wal exporter skips partial WAL: the spool holds " INT64_FORMAT " bytes of WAL",
							spooled),
					 errdetail("revrx.spool_max_size is %d MB.", revrx_spool_max_size),
					 errhint("Check that revrx-agent is running and can reach the repository.")));
			spool_full_logged = now;
		}
		return;
	}
	spool_full_logged = 0;

	XLogFileName(segment, tli, segno, wal_segment_size);
	if (rvx_walname_streamed(segment, export_gen, offset, name, sizeof(name)) != 0)
		elog(ERROR, "no partial name for segment \"%s\"", segment);
	snprintf(final, MAXPGPATH, "%s/%s%s", dir, name, RVX_SPOOL_READY_SUFFIX);
	snprintf(tmp, MAXPGPATH, "%s/%s%s", dir, name, EXPORT_TMP_SUFFIX);
	snprintf(src_path, MAXPGPATH, XLOGDIR "/%s", segment);

	src = OpenTransientFile(src_path, O_RDONLY | PG_BINARY);
	if (src < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", src_path)));

	memset(&sw, 0, sizeof(sw));
	sw.writer = revrx_object_writer(&writer_cache, 0, ERROR);
	sw.src = src;
	sw.src_path = src_path;
	sw.limit = offset;
	sw.buf = io_buf;
	sw.bufsize = EXPORT_IO_CHUNK;
	sw.tmp_path = tmp;
	sw.final_path = final;
	source.segno = segno;
	source.tli = tli;
	sw.still_valid = segment_still_there;
	sw.arg = &source;
	sw.elevel = ERROR;
	strlcpy(export_tmp, tmp, sizeof(export_tmp));
	pgstat_report_wait_start(PG_WAIT_EXTENSION);
	ok = revrx_spool_write_object(&sw, &hdr);
	pgstat_report_wait_end();
	export_tmp[0] = '\0';
	CloseTransientFile(src);
	if (!ok)
		return;

	/* superseded: every byte of the older ones is in the new one */
	(void) tidy_spool(dir);

	ereport(DEBUG1,
			(errmsg_internal("revrx exported partial WAL \"%s\": %u bytes as %llu",
							 name, offset, (unsigned long long) hdr.payload_size)));
	last_tli = tli;
	last_segno = segno;
	last_offset = offset;
}

/*
 * PostgreSQL recycles a segment (renames it to a future one and
 * overwrites it) only after it was archived and a checkpoint passed.  A
 * partial read while that happened would hold other WAL, so it is not
 * published: recycling would have to have overtaken this read, which
 * started at most a round after the data was flushed.
 */
static bool
segment_still_there(void *arg)
{
	ExportSource *source = (ExportSource *) arg;

	/*
	 * RemoveOldXlogFiles() advances the last removed segment before it
	 * recycles one.  The other remover, RemoveNonParentXlogFiles() at
	 * promotion, does not, which is fine only because no round runs during
	 * recovery (asserted in export_round); the timeline check below covers
	 * a promotion that would happen anyway.
	 */
	if (XLogGetLastRemovedSegno() >= source->segno)
	{
		ereport(DEBUG1,
				(errmsg_internal("revrx: segment was removed while it was exported")));
		return false;
	}
	if (GetWALInsertionTimeLine() != source->tli)
	{
		ereport(DEBUG1,
				(errmsg_internal("revrx: the timeline changed while a segment was exported")));
		return false;
	}
	return true;
}

/* One streamed partial found in the spool. */
typedef struct SpoolPartial
{
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		segment[RVX_WALNAME_SEGLEN + 1];
	uint64		gen;
	uint32		offset;
} SpoolPartial;

/*
 * tidy_spool
 *
 * Removes the spool partials that are superseded: by a partial of the same
 * segment that ranks above them (generation, then end offset), or by the
 * segment's complete file, spooled (".rvx", published only once durable)
 * or already acknowledged by the agent (".ok").  Returns the bytes the
 * spool's WAL files take, the remaining partials included.
 */
static int64
tidy_spool(const char *dir)
{
	DIR		   *d;
	struct dirent *de;
	int64		total = 0;
	SpoolPartial *parts = NULL;
	int			nparts = 0;
	int			cap = 0;
	char		path[MAXPGPATH];
	size_t		slen = strlen(RVX_SPOOL_READY_SUFFIX);

	d = AllocateDir(dir);
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		struct stat st;
		SpoolPartial *p;

		if (len <= slen || strcmp(de->d_name + len - slen, RVX_SPOOL_READY_SUFFIX) != 0)
			continue;
		snprintf(path, MAXPGPATH, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;			/* taken by the agent meanwhile */
		total += st.st_size;
		if (len - slen > RVX_WALNAME_MAXLEN)
			continue;
		if (nparts == cap)
		{
			cap = cap ? cap * 2 : 8;
			parts = parts ? repalloc(parts, cap * sizeof(SpoolPartial)) :
				palloc(cap * sizeof(SpoolPartial));
		}
		p = &parts[nparts];
		memcpy(p->name, de->d_name, len - slen);
		p->name[len - slen] = '\0';
		if (rvx_walname_streamed_parse(p->name, p->segment, &p->gen, &p->offset) != 0)
			continue;
		nparts++;
	}
	FreeDir(d);

	for (int i = 0; i < nparts; i++)
	{
		SpoolPartial *p = &parts[i];
		bool		superseded = false;
		struct stat st;

		for (int j = 0; j < nparts && !superseded; j++)
			superseded = j != i && strcmp(parts[j].segment, p->segment) == 0 &&
				(parts[j].gen > p->gen ||
				 (parts[j].gen == p->gen && parts[j].offset > p->offset));
		if (!superseded)
		{
			snprintf(path, MAXPGPATH, "%s/%s%s", dir, p->segment, RVX_SPOOL_READY_SUFFIX);
			superseded = revrx_file_exists(path);
		}
		if (!superseded)
		{
			snprintf(path, MAXPGPATH, "%s/%s%s", dir, p->segment, RVX_SPOOL_OK_SUFFIX);
			superseded = revrx_file_exists(path);
		}
		if (!superseded)
			continue;
		snprintf(path, MAXPGPATH, "%s/%s%s", dir, p->name, RVX_SPOOL_READY_SUFFIX);
		if (stat(path, &st) == 0)
			total -= st.st_size;
		revrx_unlink_if_exists(path);
	}
	if (parts)
		pfree(parts);
	return total;
}

/* Removes temporary files an earlier exporter left in the spool. */
static void
remove_leftovers(void)
{
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;

	snprintf(dir, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_WAL_DIR);
	d = AllocateDir(dir);
	while ((de = ReadDirExtended(d, dir, DEBUG1)) != NULL)
	{
		char		base[RVX_WALNAME_MAXLEN + 1];
		size_t		len = strlen(de->d_name);
		size_t		slen = strlen(EXPORT_TMP_SUFFIX);

		if (len <= slen || len - slen > RVX_WALNAME_MAXLEN ||
			strcmp(de->d_name + len - slen, EXPORT_TMP_SUFFIX) != 0)
			continue;
		memcpy(base, de->d_name, len - slen);
		base[len - slen] = '\0';
		if (rvx_walname_kind(base) != RVX_WAL_STREAMED)
			continue;
		snprintf(path, MAXPGPATH, "%s/%s", dir, de->d_name);
		revrx_unlink_if_exists(path);
	}
	FreeDir(d);
}
