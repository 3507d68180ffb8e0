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
 * WL_EXIT_ON_PM_DEATH, reload on SIGHUP).  When WAL was flushed since its
 * last round, and at least revrx.partial_interval after that round began,
 * it writes the bytes flushed since, as a range of the segment:
 *
 *		$spool/wal/<segment>.<generation, 16 hex>.<start>-<end, 8 hex>.partial.rvx
 *
 * holding the segment's bytes [start, end), read from pg_wal/<segment>
 * (never beyond GetFlushRecPtr(): what is flushed is what committed
 * transactions were promised), as a revrx object (common/object.h:
 * compression at the codec's fastest level, SHA-256, the agent encrypts
 * when the repository is encrypted), atomically like the archive module's
 * files (temporary name, fsync, rename; the directory is not fsynced: a
 * name lost in an OS crash is only a partial less).  The name carries the timeline,
 * the segment, the generation and the range (common/walname.h), and so
 * does the object: its content opens with the range's identity (timeline,
 * start and end LSN: rvx_range_header_encode()), then the WAL, so the
 * object's raw size is that identity's length plus the range's, and a
 * reader checks both against the name.  Its modification time is when the round read the
 * flush position, which is no later than when its last byte was flushed:
 * the agent reports the recovery point's age from it.  revrx-agent stores
 * each range as it comes, and wal-fetch assembles a segment's ranges into
 * the segment's flushed prefix, stopping at the first gap
 * (agent/info/wal_partial.h, docs/architecture.md, "Partial WAL").
 *
 * Why ranges, each only the new bytes: a round then costs the WAL written
 * since the round before, compressed once and uploaded once, whatever the
 * segment's length so far; a prefix of the segment each round (the first
 * design) compressed and uploaded the segment again and again, about 8 MB
 * per round under load, which is what limited how often a round could run.
 * The price is on the reader, who needs every range from the segment's
 * start: a lost one ends recovery at the gap.  So that the chain stays
 * short on a quiet server (a segment may take hours to fill), every
 * EXPORT_PREFIX_EVERY ranges of a segment the round writes the whole
 * prefix [0, flush) instead, and the agent then removes the ranges it
 * contains.  When the flush moves on to the next segment, the round first
 * writes the last bytes of the segment before: its ranges then hold all of
 * it, and the recovery point does not have to wait for the archive module
 * to compress and the agent to upload the 16 MB segment.  Those last bytes
 * are optional (the complete segment comes anyway): when the segment is
 * gone already (archived and removed by a checkpoint, on a quiet server)
 * they are skipped, and when writing them fails the current segment is
 * exported all the same.  When exporting is turned off, or the spool
 * changes, the exporter forgets where it was: the next round starts the
 * current segment from its start.
 *
 * The loop looks at the flush position every EXPORT_TICK_MS at most (less
 * when the interval is shorter), so the first commit after a quiet spell
 * is exported within that, and a busy server is exported every
 * revrx.partial_interval.  Nothing is written while no WAL is flushed.
 *
 * The generation is the redo LSN the exporter sees first once recovery is
 * over.  After a crash, recovery ends at the last complete record and the
 * WAL after it is written anew; a range exported before the crash may
 * hold a now invalid tail.  The end-of-recovery checkpoint's redo pointer
 * is past every byte recovery kept, so it is larger than any generation
 * before the crash, and readers use the newest generation that has ranges
 * from the segment's start, and never join two generations.  A restart of
 * the exporter alone may start a new generation of the same WAL
 * (harmless: its ranges are just as current), or keep the generation (no
 * checkpoint in between): it then exports the segment from its start
 * again, and the ranges overlap with the same bytes.
 *
 * Contract with the spool:
 *	- A range is only ever published whole (rename after fsync).
 *	- Each round, and after each publication, the exporter removes the
 *	  spool partials that are redundant, if the agent has not taken them
 *	  yet: those another spooled one supersedes (rvx_streamed_supersedes),
 *	  those of a segment the agent acknowledged complete, and those of a
 *	  segment the archive module spooled complete unless it is the one the
 *	  flush just left (its last bytes let the recovery point pass it while
 *	  the segment uploads).  Nothing the repository could have stored is
 *	  lost, and a stalled repository does not fill the spool with ranges of
 *	  every segment.
 *	- While EXPORT_MAX_UNSHIPPED ranges of the current segment, of its
 *	  generation, wait in the spool (the agent is stalled), no round
 *	  writes another; the next one after the agent took them covers
 *	  everything since.  (An older generation's go with the first range
 *	  of ours.)  The agent removes what it stored.
 *	- Partials are optional: while the spool's WAL files take more than
 *	  revrx.spool_max_size, no round writes one (logged at most once a
 *	  minute); complete segments, which are not optional, keep the room.
 *	- Temporary files are "<name>.tmp" (not ".rvx.tmp", which the archive
 *	  module's sweep removes); a round that fails removes its own, and the
 *	  exporter removes an earlier process's leftovers at start.
 *
 * A round reads at most about one segment and is not interrupted: SIGTERM
 * sets ShutdownRequestPending (CHECK_FOR_INTERRUPTS would not see it),
 * which the loop checks between rounds, so a shutdown waits for at most
 * one round.
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

#include "fileutil.h"
#include "object.h"
#include "settings.h"
#include "spool.h"
#include "spool_write.h"
#include "wal_export.h"
#include "walname.h"
#include "worker.h"

/* Restart delay after the worker exits. */
#define EXPORT_RESTART_SECS		5
/* How long to sleep when exporting is off (a reload wakes it anyway). */
#define EXPORT_IDLE_MS			60000
/* How often the flush position is looked at while nothing is to export. */
#define EXPORT_TICK_MS			100
/* How often the spool is tidied while nothing is exported. */
#define EXPORT_TIDY_MS			1000
/* Ranges of one segment after which a round writes its whole prefix. */
#define EXPORT_PREFIX_EVERY		32
/* Unshipped ranges of ours of the current segment in the spool that stop the rounds. */
#define EXPORT_MAX_UNSHIPPED	8
#define EXPORT_IO_CHUNK			(256 * 1024)
#define EXPORT_TMP_SUFFIX		".tmp"

static MemoryContext export_context = NULL;
static RevrxWriterCache writer_cache = REVRX_WRITER_CACHE_FASTEST;
static char *io_buf = NULL;

/*
 * What has been exported: every byte of segment last_segno of timeline
 * last_tli before last_end (from the exporter's first range of it on), and
 * how many ranges of it since the last one from its start.
 */
static TimeLineID last_tli = 0;
static XLogSegNo last_segno = 0;
static uint32 last_end = 0;
static int	since_prefix = 0;

/* When the last round began, and when the spool was tidied. */
static TimestampTz last_round_at = 0;
static TimestampTz last_tidy_at = 0;

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

/* What tidy_spool found. */
typedef struct SpoolState
{
	int64		bytes;			/* the spool's WAL files, partials included */
	int			unshipped;		/* ranges of the current segment */
} SpoolState;

static void export_round(void);
static void tidy_round(void);
static bool flushed_since(void);
static bool export_range(TimeLineID tli, XLogSegNo segno, uint32 start, uint32 end,
						 TimestampTz read_at, const char *dir, bool optional);
static void export_tail(TimeLineID tli, XLogSegNo segno, uint32 start, TimestampTz read_at,
						const char *dir);
static void tidy_spool(const char *dir, XLogSegNo current, SpoolState *state);
static void spool_wal_dir(char *dir);
static void remove_leftovers(void);
static bool segment_still_there(void *arg);

void
revrx_wal_export_register(void)
{
	revrx_register_worker("revrx_wal_export_main", "revrx wal exporter", "revrx wal exporter",
						  BGWORKER_SHMEM_ACCESS, EXPORT_RESTART_SECS, (Datum) 0);
}

/*
 * After an ERROR was caught: logs it (rate limited by repeat), closes the
 * files the failed step had open and removes its temporary file (a failed
 * write, ENOSPC typically, must not leave it).  Called in the PG_CATCH
 * block; returns in TopMemoryContext.
 */
static void
caught_error(RevrxErrorRepeat *repeat, const char *what)
{
	ErrorData  *edata;

	edata = revrx_recover_caught_error(TopMemoryContext);
	if (export_tmp[0] != '\0')
		(void) unlink(export_tmp);
	export_tmp[0] = '\0';
	revrx_log_caught_error(repeat, "revrx wal exporter", what, edata);
	FreeErrorData(edata);
}

/*
 * One round inside an error boundary: an ERROR is logged, its state
 * cleaned up, and the loop goes on (a restart would only lose the
 * settings' cache and the position of the last range).
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
		caught_error(&round_errors, "export partial WAL");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(export_context);
}

/*
 * Forgets what was exported: the next round starts the current segment
 * from its start and exports no tail.  For when exporting was off (the
 * segment exported last may be long gone, and the WAL written meanwhile
 * is in no range) or the spool changed (the ranges went to the other one).
 */
static void
forget_position(void)
{
	last_tli = 0;
	last_segno = 0;
	last_end = 0;
	since_prefix = 0;
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

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (revrx_partial_interval > 0 && revrx_spool_dir[0] != '\0' &&
			XLogArchivingActive() && !RecoveryInProgress())
		{
			TimestampTz now = GetCurrentTimestamp();
			long		tick = Min(EXPORT_TICK_MS, revrx_partial_interval);
			TimestampTz due = TimestampTzPlusMilliseconds(last_round_at, revrx_partial_interval);

			/* once per spool: the leftovers of an earlier exporter */
			if (cleaned_spool == NULL || strcmp(cleaned_spool, revrx_spool_dir) != 0)
			{
				if (cleaned_spool)
					pfree(cleaned_spool);
				cleaned_spool = MemoryContextStrdup(TopMemoryContext, revrx_spool_dir);
				forget_position();
				guarded(remove_leftovers);
			}

			timeout = tick;
			if (flushed_since())
			{
				if (now >= due)
				{
					guarded(export_round);
					due = TimestampTzPlusMilliseconds(last_round_at, revrx_partial_interval);
					now = GetCurrentTimestamp();
				}
				/* WAL waits: wake up when it is due, not a tick later */
				if (due > now)
					timeout = Min(tick, (long) ((due - now) / 1000) + 1);
			}
			else if (TimestampDifferenceExceeds(last_tidy_at, now, EXPORT_TIDY_MS))
				guarded(tidy_round);	/* a segment spooled complete supersedes its ranges */
		}

		else
			forget_position();	/* off: what it exported last says nothing when it is on again */

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

/* Whether WAL was flushed that no range holds yet. */
static bool
flushed_since(void)
{
	TimeLineID	tli;
	XLogRecPtr	flush = GetFlushRecPtr(&tli);
	XLogSegNo	segno;

	XLByteToSeg(flush, segno, wal_segment_size);
	return tli != last_tli || segno != last_segno ||
		XLogSegmentOffset(flush, wal_segment_size) != last_end;
}

/* $spool/wal, created if missing, after making sure the spool is ours. */
static void
spool_wal_dir(char *dir)
{
	revrx_spool_claim();
	snprintf(dir, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_WAL_DIR);
	if (MakePGDirectory(dir) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
}

/* A round with nothing to export: only the spool's redundant partials go. */
static void
tidy_round(void)
{
	char		dir[MAXPGPATH];
	SpoolState	state;

	last_tidy_at = GetCurrentTimestamp();
	spool_wal_dir(dir);
	tidy_spool(dir, last_segno, &state);
}

/*
 * export_round
 *
 * Exports what was flushed since the last round (see the header): the
 * last bytes of the segment before, when the flush has just left it, and
 * the current segment's bytes since the last range, or from its start.
 */
static void
export_round(void)
{
	TimeLineID	tli;
	XLogRecPtr	flush;
	XLogSegNo	segno;
	uint32		offset;
	char		dir[MAXPGPATH];
	SpoolState	state;
	TimestampTz read_at;

	/*
	 * Never during recovery (the caller checks): segment_still_there relies
	 * on it, since RemoveNonParentXlogFiles() at promotion removes segments
	 * without advancing the last-removed segment.
	 */
	Assert(!RecoveryInProgress());
	if (export_gen == 0)
		export_gen = (uint64) GetRedoRecPtr();

	/*
	 * The time first: every byte read was flushed by then.  It is also when
	 * this round began, exported or not (skipped, failed): the next one is
	 * an interval later, not a tick.
	 */
	read_at = GetCurrentTimestamp();
	last_round_at = read_at;
	flush = GetFlushRecPtr(&tli);
	XLByteToSeg(flush, segno, wal_segment_size);
	offset = (uint32) XLogSegmentOffset(flush, wal_segment_size);

	spool_wal_dir(dir);
	last_tidy_at = read_at;
	tidy_spool(dir, segno, &state);

	/* partials are optional: the room is for complete segments */
	if (state.bytes > (int64) revrx_spool_max_size * 1024 * 1024)
	{
		if (spool_full_logged == 0 ||
			TimestampDifferenceExceeds(spool_full_logged, read_at, EXPORT_SPOOL_FULL_LOG_MS))
		{
			ereport(LOG,
					(errmsg("revrx wal exporter skips partial WAL: the spool holds " INT64_FORMAT " bytes of WAL",
							state.bytes),
					 errdetail("revrx.spool_max_size is %d MB.", revrx_spool_max_size),
					 errhint("Check that revrx-agent is running and can reach the repository.")));
			spool_full_logged = read_at;
		}
		return;
	}
	spool_full_logged = 0;

	/* the agent has not taken the last ones: more would only pile up */
	if (state.unshipped >= EXPORT_MAX_UNSHIPPED)
	{
		ereport(DEBUG1,
				(errmsg_internal("revrx wal exporter waits: %d ranges of the current segment are not shipped",
								 state.unshipped)));
		return;
	}

	/* the flush left the segment before: its last bytes, so that its ranges hold all of it */
	if (tli == last_tli && segno == last_segno + 1 && last_end > 0 &&
		last_end < (uint32) wal_segment_size)
		export_tail(tli, last_segno, last_end, read_at, dir);

	if (tli != last_tli || segno != last_segno)
	{
		/* a new segment (or the first, or a timeline switch): from its start */
		last_tli = tli;
		last_segno = segno;
		last_end = 0;
		since_prefix = 0;
	}
	if (offset > last_end)
	{
		/* now and then the whole prefix, which supersedes the ranges before */
		uint32		start = since_prefix >= EXPORT_PREFIX_EVERY ? 0 : last_end;

		if (export_range(tli, segno, start, offset, read_at, dir, false))
		{
			last_end = offset;
			since_prefix = start == 0 ? 0 : since_prefix + 1;
		}
	}

	/* superseded: every byte of them is in a newer one */
	tidy_spool(dir, segno, &state);
}

/*
 * The last bytes [start, segment end) of the segment the flush just left.
 * Optional: they only let the recovery point pass the segment before its
 * complete copy is stored, and the archive module stores that anyway.  So
 * a segment already archived and removed (a quiet server switches,
 * archives and checkpoints within a round) is skipped quietly, and any
 * other failure is logged (rate limited) without taking the current
 * segment's range down with it: an ERROR here must not end the round.
 */
static void
export_tail(TimeLineID tli, XLogSegNo segno, uint32 start, TimestampTz read_at, const char *dir)
{
	static RevrxErrorRepeat tail_errors = {NULL, 0};
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		(void) export_range(tli, segno, start, (uint32) wal_segment_size, read_at, dir, true);
	}
	PG_CATCH();
	{
		caught_error(&tail_errors, "export the end of the previous WAL segment");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Writes bytes [start, end) of the segment as a range.  False when the
 * segment was recycled while it was read (nothing published), or when
 * optional and the segment is gone already (removed, or about to be).
 */
static bool
export_range(TimeLineID tli, XLogSegNo segno, uint32 start, uint32 end, TimestampTz read_at,
			 const char *dir, bool optional)
{
	char		segment[MAXFNAMELEN];
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		src_path[MAXPGPATH];
	char		final[MAXPGPATH];
	char		tmp[MAXPGPATH];
	RevrxSpoolWrite sw;
	RvxObjectHeader hdr;
	ExportSource source;
	uint8		range_header[RVX_RANGE_HEADER_LEN];
	XLogRecPtr	start_lsn;
	XLogRecPtr	end_lsn;
	int			src;
	bool		ok;

	XLogFileName(segment, tli, segno, wal_segment_size);
	if (rvx_walname_streamed(segment, export_gen, start, end, name, sizeof(name)) != 0)
		elog(ERROR, "no partial name for segment \"%s\"", segment);
	snprintf(final, MAXPGPATH, "%s/%s%s", dir, name, RVX_SPOOL_READY_SUFFIX);
	snprintf(tmp, MAXPGPATH, "%s/%s%s", dir, name, EXPORT_TMP_SUFFIX);
	snprintf(src_path, MAXPGPATH, XLOGDIR "/%s", segment);

	/* a segment PostgreSQL removed (or recycled: another segment's WAL) */
	if (optional && XLogGetLastRemovedSegno() >= segno)
	{
		ereport(DEBUG1,
				(errmsg_internal("revrx: segment \"%s\" was removed before its end was exported",
								 segment)));
		return false;
	}
	src = OpenTransientFile(src_path, O_RDONLY | PG_BINARY);
	if (src < 0)
	{
		/* archived and checkpointed since the check above */
		if (optional && errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", src_path)));
	}
	if (lseek(src, (off_t) start, SEEK_SET) != (off_t) start)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seek in file \"%s\": %m", src_path)));

	memset(&sw, 0, sizeof(sw));
	sw.writer = revrx_object_writer(&writer_cache, 0, ERROR);
	sw.src = src;
	sw.src_path = src_path;
	sw.limit = end - start;
	sw.buf = io_buf;
	sw.bufsize = EXPORT_IO_CHUNK;
	sw.tmp_path = tmp;
	sw.final_path = final;
	source.segno = segno;
	source.tli = tli;
	sw.still_valid = segment_still_there;
	sw.arg = &source;
	sw.elevel = ERROR;
	sw.mtime = read_at;
	sw.rename_not_durable = true;	/* optional: an OS crash may lose it, never tear it */
	/* the range says itself which WAL it holds (common/walname.h) */
	XLogSegNoOffsetToRecPtr(segno, start, wal_segment_size, start_lsn);
	XLogSegNoOffsetToRecPtr(segno, end, wal_segment_size, end_lsn);
	rvx_range_header_encode(tli, start_lsn, end_lsn, range_header);
	sw.prefix = range_header;
	sw.prefix_len = sizeof(range_header);
	strlcpy(export_tmp, tmp, sizeof(export_tmp));
	pgstat_report_wait_start(PG_WAIT_EXTENSION);
	ok = revrx_spool_write_object(&sw, &hdr);
	pgstat_report_wait_end();
	export_tmp[0] = '\0';
	CloseTransientFile(src);
	if (ok)
		ereport(DEBUG1,
				(errmsg_internal("revrx exported partial WAL \"%s\": %u bytes as %llu",
								 name, end - start, (unsigned long long) hdr.payload_size)));
	return ok;
}

/*
 * PostgreSQL recycles a segment (renames it to a future one and
 * overwrites it) only after it was archived and a checkpoint passed.  A
 * range read while that happened would hold other WAL, so it is not
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
	RvxStreamedName range;
	XLogSegNo	segno;
} SpoolPartial;

/*
 * tidy_spool
 *
 * Removes the spool partials that are redundant (see the header): those
 * another spooled one supersedes, those of a segment acknowledged complete
 * (".ok"), and those of a segment spooled complete (".rvx", published
 * only once durable) before the one the flush just left (current - 1).
 * Fills state: the bytes the spool's WAL files take, the remaining
 * partials included, and how many ranges of segment current of this
 * exporter's generation remain.
 */
static void
tidy_spool(const char *dir, XLogSegNo current, SpoolState *state)
{
	DIR		   *d;
	struct dirent *de;
	SpoolPartial *parts = NULL;
	int			nparts = 0;
	int			cap = 0;
	char		path[MAXPGPATH];
	size_t		slen = strlen(RVX_SPOOL_READY_SUFFIX);

	state->bytes = 0;
	state->unshipped = 0;
	d = AllocateDir(dir);
	/* ERROR, not LOG: an unreadable directory must not count as an empty spool */
	while ((de = ReadDirExtended(d, dir, ERROR)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		struct stat st;
		SpoolPartial *p;
		TimeLineID	tli;

		if (len <= slen || strcmp(de->d_name + len - slen, RVX_SPOOL_READY_SUFFIX) != 0)
			continue;
		snprintf(path, MAXPGPATH, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;			/* taken by the agent meanwhile */
		state->bytes += st.st_size;
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
		if (rvx_walname_streamed_parse(p->name, &p->range) != 0)
			continue;
		XLogFromFileName(p->range.segment, &tli, &p->segno, wal_segment_size);
		nparts++;
	}
	FreeDir(d);

	for (int i = 0; i < nparts; i++)
	{
		SpoolPartial *p = &parts[i];
		bool		redundant = false;
		struct stat st;

		for (int j = 0; j < nparts && !redundant; j++)
			redundant = j != i && rvx_streamed_supersedes(&parts[j].range, &p->range);
		if (!redundant)
		{
			snprintf(path, MAXPGPATH, "%s/%s%s", dir, p->range.segment, RVX_SPOOL_OK_SUFFIX);
			redundant = revrx_file_exists(path);
		}
		if (!redundant && p->segno + 1 < current)
		{
			snprintf(path, MAXPGPATH, "%s/%s%s", dir, p->range.segment, RVX_SPOOL_READY_SUFFIX);
			redundant = revrx_file_exists(path);
		}
		if (!redundant)
		{
			/* ours: an older generation's go with our first range of the segment */
			if (p->segno == current && p->range.generation == export_gen)
				state->unshipped++;
			continue;
		}
		snprintf(path, MAXPGPATH, "%s/%s%s", dir, p->name, RVX_SPOOL_READY_SUFFIX);
		if (stat(path, &st) == 0)
			state->bytes -= st.st_size;
		revrx_unlink_if_exists(path);
		/* a superseded one may supersede others: it is still compared with */
	}
	if (parts)
		pfree(parts);
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
