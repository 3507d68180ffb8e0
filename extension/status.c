/*-------------------------------------------------------------------------
 *
 * status.c
 *	  revrx_status(): where archiving stands, in one row.
 *
 * The row joins three sources, each read without locks held across I/O:
 *
 *	- shared memory (shmem.h): what the archive module acknowledged to the
 *	  archiver, its counters and its last error;
 *	- the spool's status/agent.json, written by revrx-agent: what reached
 *	  the repository and whether the agent is alive;
 *	- directory listings: the .ready files in pg_wal/archive_status (the
 *	  backlog the archiver has not finished) and the .rvx files in the
 *	  spool's wal/ (objects waiting for the agent).
 *
 * It ends with the answer to "are we protected right now?": the recovery
 * point exposure (seconds of work not yet in the repository), the age of
 * the newest backup (status/backups.json) and the latest restore drills
 * (status/verifications.json).
 *
 * Only the first is required: the function fails if the library was not
 * preloaded, because all zeros would look like a healthy idle archiver.
 * Everything read from files is best effort: a missing, partial or
 * malformed agent.json gives NULLs (agent_running is false if the file is
 * missing, NULL if it cannot be read), an unset or missing spool gives
 * NULL spool columns.  Nothing read from a file ever raises an error.
 *
 * Execution is not granted to PUBLIC (see sql/revrx--0.2.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "declaration.h"
#include "fileutil.h"
#include "settings.h"
#include "shmem.h"
#include "spool.h"
#include "spool_read.h"
#include "status.h"

PG_FUNCTION_INFO_V1(revrx_status);

static void protection_columns(const RevrxArchiveStats *stats, const RevrxAgentStatus *agent,
							   Datum *values, bool *nulls);

/* Columns of revrx_status(), in order; see sql/revrx--0.2.sql. */
enum
{
	COL_LAST_ARCHIVED_WAL,
	COL_LAST_ARCHIVED_TIME,
	COL_LAST_STORED_WAL,
	COL_LAST_STORED_TIME,
	COL_BACKLOG_SEGMENTS,
	COL_BACKLOG_BYTES,
	COL_SPOOL_FILES,
	COL_SPOOL_BYTES,
	COL_AGENT_PID,
	COL_AGENT_LAST_SEEN,
	COL_AGENT_RUNNING,
	COL_ARCHIVED_COUNT,
	COL_FAILED_COUNT,
	COL_LAST_ERROR,
	COL_LAST_ERROR_TIME,
	COL_ARCHIVE_ACK,
	COL_SPOOL_DIR,
	COL_RPO_SECONDS,
	COL_LAST_BACKUP_TIME,
	COL_SECONDS_SINCE_BACKUP,
	COL_LAST_VERIFICATION_TIME,
	COL_LAST_VERIFICATION_PASSED,
	COL_LAST_GOOD_VERIFICATION_TIME,
	REVRX_STATUS_COLS
};

/* Their types, for revrx_check_declaration(). */
static const Oid status_types[REVRX_STATUS_COLS] = {
	[COL_LAST_ARCHIVED_WAL] = TEXTOID,
	[COL_LAST_ARCHIVED_TIME] = TIMESTAMPTZOID,
	[COL_LAST_STORED_WAL] = TEXTOID,
	[COL_LAST_STORED_TIME] = TIMESTAMPTZOID,
	[COL_BACKLOG_SEGMENTS] = INT8OID,
	[COL_BACKLOG_BYTES] = INT8OID,
	[COL_SPOOL_FILES] = INT8OID,
	[COL_SPOOL_BYTES] = INT8OID,
	[COL_AGENT_PID] = INT4OID,
	[COL_AGENT_LAST_SEEN] = TIMESTAMPTZOID,
	[COL_AGENT_RUNNING] = BOOLOID,
	[COL_ARCHIVED_COUNT] = INT8OID,
	[COL_FAILED_COUNT] = INT8OID,
	[COL_LAST_ERROR] = TEXTOID,
	[COL_LAST_ERROR_TIME] = TIMESTAMPTZOID,
	[COL_ARCHIVE_ACK] = TEXTOID,
	[COL_SPOOL_DIR] = TEXTOID,
	[COL_RPO_SECONDS] = FLOAT8OID,
	[COL_LAST_BACKUP_TIME] = TIMESTAMPTZOID,
	[COL_SECONDS_SINCE_BACKUP] = FLOAT8OID,
	[COL_LAST_VERIFICATION_TIME] = TIMESTAMPTZOID,
	[COL_LAST_VERIFICATION_PASSED] = BOOLOID,
	[COL_LAST_GOOD_VERIFICATION_TIME] = TIMESTAMPTZOID,
};

/*
 * revrx_agent_status_read
 *
 * Reads <spool>/status/agent.json.  Keys it does not know are ignored, so
 * the agent can add fields without breaking older servers.
 */
void
revrx_agent_status_read(const char *spool_dir, RevrxAgentStatus *st)
{
	static const char *const keys[] = {
		"pid", "updated_at", "last_stored_wal", "last_stored_at",
		"last_error", "last_error_at", "newest_wal_end_lsn", "newest_wal_written_at"
	};
	char	   *values[lengthof(keys)];
	char		path[MAXPGPATH];
	char	   *text;
	size_t		len;

	memset(st, 0, sizeof(RevrxAgentStatus));
	if (spool_dir == NULL || spool_dir[0] == '\0')
		return;

	snprintf(path, MAXPGPATH, "%s/%s", spool_dir, RVX_SPOOL_AGENT_FILE);
	text = revrx_read_small_file(path, REVRX_STATUS_FILE_MAX, &len);
	if (text == NULL)
	{
		st->missing = (errno == ENOENT || errno == ENOTDIR);
		return;
	}
	if (!revrx_json_read_flat(text, len, keys, lengthof(keys), values))
		return;
	st->valid = true;

	if (values[0] != NULL)
	{
		char	   *end;
		long		pid;

		errno = 0;
		pid = strtol(values[0], &end, 10);
		if (*end == '\0' && end != values[0] && errno == 0 &&
			pid > 0 && pid <= PG_INT32_MAX)
		{
			st->has_pid = true;
			st->pid = (int32) pid;
		}
	}
	st->has_updated_at = revrx_epoch_to_timestamptz(values[1], &st->updated_at);
	st->last_stored_wal = values[2];
	st->has_last_stored_at = revrx_epoch_to_timestamptz(values[3], &st->last_stored_at);
	st->last_error = values[4];
	st->has_last_error_at = revrx_epoch_to_timestamptz(values[5], &st->last_error_at);
	if (values[6] != NULL &&
		revrx_epoch_to_timestamptz(values[7], &st->newest_wal_written_at))
	{
		uint32		hi,
					lo;
		char		extra;

		if (sscanf(values[6], "%X/%X%c", &hi, &lo, &extra) == 2)
		{
			st->has_newest_wal = true;
			st->newest_wal_end = ((uint64) hi << 32) | lo;
		}
	}
}

/*
 * revrx_wal_ready_count
 *
 * Files waiting for the archiver (.ready) and the size of those still in
 * pg_wal.
 */
void
revrx_wal_ready_count(int64 *count, int64 *bytes)
{
	const char *status_dir = XLOGDIR "/archive_status";
	DIR		   *dir;
	struct dirent *de;

	*count = 0;
	*bytes = 0;
	dir = AllocateDir(status_dir);
	while ((de = ReadDir(dir, status_dir)) != NULL)
	{
		char		path[MAXPGPATH];
		struct stat st;
		size_t		len = strlen(de->d_name);

		if (!revrx_has_suffix(de->d_name, ".ready"))
			continue;
		(*count)++;
		snprintf(path, MAXPGPATH, XLOGDIR "/%.*s", (int) (len - 6), de->d_name);
		if (stat(path, &st) == 0)
			*bytes += st.st_size;
	}
	FreeDir(dir);
}

/*
 * count_spooled
 *
 * Objects in the spool waiting for the agent; false if the spool cannot be
 * listed.
 */
static bool
count_spooled(const char *spool_dir, int64 *count, int64 *bytes)
{
	char		wal_dir[MAXPGPATH];
	DIR		   *dir;
	struct dirent *de;

	*count = 0;
	*bytes = 0;
	if (spool_dir == NULL || spool_dir[0] == '\0')
		return false;

	snprintf(wal_dir, MAXPGPATH, "%s/%s", spool_dir, RVX_SPOOL_WAL_DIR);
	dir = AllocateDir(wal_dir);
	if (dir == NULL)
		return false;
	while ((de = ReadDirExtended(dir, wal_dir, DEBUG1)) != NULL)
	{
		char		path[MAXPGPATH];
		struct stat st;

		if (!revrx_has_suffix(de->d_name, RVX_SPOOL_READY_SUFFIX))
			continue;
		snprintf(path, MAXPGPATH, "%s/%s", wal_dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;			/* shipped meanwhile */
		(*count)++;
		*bytes += st.st_size;
	}
	FreeDir(dir);
	return true;
}

/*
 * revrx_status
 *
 * SQL: revrx_status() returns one row; see the column list above.
 */
Datum
revrx_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[REVRX_STATUS_COLS];
	bool		nulls[REVRX_STATUS_COLS];
	RevrxArchiveStats stats;
	RevrxAgentStatus agent;
	int64		count;
	int64		bytes;
	bool		module_error;
	bool		agent_error;

	if (!revrx_archive_stats_read(&stats))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revrx must be loaded via \"shared_preload_libraries\"")));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* 0.1 had 17 columns before the protection ones */
	revrx_check_declaration(fcinfo, 0, tupdesc, status_types, REVRX_STATUS_COLS);
	tupdesc = BlessTupleDesc(tupdesc);

	memset(values, 0, sizeof(values));
	memset(nulls, true, sizeof(nulls));

	/* What the archive module acknowledged */
	if (stats.last_archived_wal[0] != '\0')
	{
		revrx_text_sanitize(stats.last_archived_wal);
		values[COL_LAST_ARCHIVED_WAL] = CStringGetTextDatum(stats.last_archived_wal);
		nulls[COL_LAST_ARCHIVED_WAL] = false;
		values[COL_LAST_ARCHIVED_TIME] = TimestampTzGetDatum(stats.last_archived_time);
		nulls[COL_LAST_ARCHIVED_TIME] = false;
	}
	values[COL_ARCHIVED_COUNT] = Int64GetDatum(stats.archived_count);
	nulls[COL_ARCHIVED_COUNT] = false;
	values[COL_FAILED_COUNT] = Int64GetDatum(stats.failed_count);
	nulls[COL_FAILED_COUNT] = false;

	/* What the agent says */
	revrx_agent_status_read(revrx_spool_dir, &agent);
	if (agent.valid)
	{
		if (agent.last_stored_wal != NULL)
		{
			values[COL_LAST_STORED_WAL] = CStringGetTextDatum(agent.last_stored_wal);
			nulls[COL_LAST_STORED_WAL] = false;
		}
		if (agent.has_last_stored_at)
		{
			values[COL_LAST_STORED_TIME] = TimestampTzGetDatum(agent.last_stored_at);
			nulls[COL_LAST_STORED_TIME] = false;
		}
		if (agent.has_pid)
		{
			values[COL_AGENT_PID] = Int32GetDatum(agent.pid);
			nulls[COL_AGENT_PID] = false;
		}
		if (agent.has_updated_at)
		{
			TimestampTz now = GetCurrentTimestamp();
			int			stale_ms = REVRX_AGENT_STALE_SECS * 1000;

			values[COL_AGENT_LAST_SEEN] = TimestampTzGetDatum(agent.updated_at);
			nulls[COL_AGENT_LAST_SEEN] = false;
			/* within the window either way, to tolerate small clock skew */
			values[COL_AGENT_RUNNING] =
				BoolGetDatum(!TimestampDifferenceExceeds(agent.updated_at, now, stale_ms) &&
							 !TimestampDifferenceExceeds(now, agent.updated_at, stale_ms));
			nulls[COL_AGENT_RUNNING] = false;
		}
	}
	else if (agent.missing)
	{
		values[COL_AGENT_RUNNING] = BoolGetDatum(false);
		nulls[COL_AGENT_RUNNING] = false;
	}

	/* Backlog of the archiver */
	revrx_wal_ready_count(&count, &bytes);
	values[COL_BACKLOG_SEGMENTS] = Int64GetDatum(count);
	nulls[COL_BACKLOG_SEGMENTS] = false;
	values[COL_BACKLOG_BYTES] = Int64GetDatum(bytes);
	nulls[COL_BACKLOG_BYTES] = false;

	/* Backlog of the agent */
	if (count_spooled(revrx_spool_dir, &count, &bytes))
	{
		values[COL_SPOOL_FILES] = Int64GetDatum(count);
		nulls[COL_SPOOL_FILES] = false;
		values[COL_SPOOL_BYTES] = Int64GetDatum(bytes);
		nulls[COL_SPOOL_BYTES] = false;
	}

	/* The newer of the module's and the agent's last error */
	module_error = stats.last_error[0] != '\0';
	agent_error = agent.valid && agent.last_error != NULL;
	if (module_error && agent_error && agent.has_last_error_at &&
		agent.last_error_at > stats.last_error_time)
		module_error = false;
	if (module_error)
	{
		revrx_text_sanitize(stats.last_error);
		values[COL_LAST_ERROR] = CStringGetTextDatum(stats.last_error);
		nulls[COL_LAST_ERROR] = false;
		values[COL_LAST_ERROR_TIME] = TimestampTzGetDatum(stats.last_error_time);
		nulls[COL_LAST_ERROR_TIME] = false;
	}
	else if (agent_error)
	{
		values[COL_LAST_ERROR] = CStringGetTextDatum(agent.last_error);
		nulls[COL_LAST_ERROR] = false;
		if (agent.has_last_error_at)
		{
			values[COL_LAST_ERROR_TIME] = TimestampTzGetDatum(agent.last_error_at);
			nulls[COL_LAST_ERROR_TIME] = false;
		}
	}

	/* Settings, for context */
	values[COL_ARCHIVE_ACK] = CStringGetTextDatum(revrx_archive_ack_name(revrx_archive_ack));
	nulls[COL_ARCHIVE_ACK] = false;
	if (revrx_spool_dir != NULL && revrx_spool_dir[0] != '\0')
	{
		values[COL_SPOOL_DIR] = CStringGetTextDatum(revrx_spool_dir);
		nulls[COL_SPOOL_DIR] = false;
	}

	/* Are we protected right now? */
	protection_columns(&stats, &agent, values, nulls);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * The recovery point exposure: how many seconds of committed work would be
 * lost if the server vanished now, i.e. the age of the newest WAL byte
 * stored.  Two things may be known to be stored: a whole segment
 * (acknowledged, with archive_ack = repository; stored by the agent, with
 * spool), known since it was acknowledged or stored; and the newest WAL
 * the agent stored, partial or complete (status/agent.json), with the time
 * the server wrote it.  The one that ends later counts.  Everything after
 * its end is at risk: the exposure is 0 when nothing was written after it
 * (the server's WAL position is at its end), and otherwise the age of
 * that knowledge.  NULL when nothing was stored since the server (or the
 * agent) started.
 */
static bool
rpo_seconds(const RevrxArchiveStats *stats, const RevrxAgentStatus *agent, double *result)
{
	const char *wal = NULL;
	TimestampTz at = 0;
	TimeLineID	tli;
	XLogSegNo	segno;
	XLogRecPtr	end = InvalidXLogRecPtr;
	XLogRecPtr	slack = 0;
	long		secs;
	int			usecs;

	if (revrx_archive_ack == REVRX_ACK_REPOSITORY && stats->last_archived_wal[0] != '\0')
	{
		wal = stats->last_archived_wal;
		at = stats->last_archived_time;
	}
	else if (agent->valid && agent->last_stored_wal != NULL && agent->has_last_stored_at)
	{
		wal = agent->last_stored_wal;
		at = agent->last_stored_at;
	}
	if (wal != NULL && IsXLogFileName(wal))
	{
		XLogFromFileName(wal, &tli, &segno, wal_segment_size);
		XLogSegNoOffsetToRecPtr(segno + 1, 0, wal_segment_size, end);
		/* a new segment starts with a page header before any record */
		slack = SizeOfXLogLongPHD;
	}
	if (agent->valid && agent->has_newest_wal && agent->newest_wal_end > end)
	{
		end = agent->newest_wal_end;
		at = agent->newest_wal_written_at;
		/* at a page boundary the insert position is after the next header */
		if (XLogSegmentOffset(end, wal_segment_size) == 0)
			slack = SizeOfXLogLongPHD;
		else
			slack = end % XLOG_BLCKSZ == 0 ? SizeOfXLogShortPHD : 0;
	}
	if (XLogRecPtrIsInvalid(end))
		return false;

	if (!RecoveryInProgress() && GetXLogInsertRecPtr() <= end + slack)
	{
		*result = 0;
		return true;
	}
	TimestampDifference(at, GetCurrentTimestamp(), &secs, &usecs);
	*result = secs + usecs / 1000000.0;
	return true;
}

static void
protection_columns(const RevrxArchiveStats *stats, const RevrxAgentStatus *agent,
				   Datum *values, bool *nulls)
{
	RevrxCatalogEntry *cat;
	RevrxVerification *ver;
	int			ncat,
				nver;
	double		rpo;
	bool		have_backup = false;
	TimestampTz last_backup = 0;

	if (rpo_seconds(stats, agent, &rpo))
	{
		values[COL_RPO_SECONDS] = Float8GetDatum(rpo);
		nulls[COL_RPO_SECONDS] = false;
	}

	ncat = revrx_catalog_read(revrx_spool_dir, &cat);
	for (int i = 0; i < ncat; i++)
	{
		if (cat[i].has_stop_time && (!have_backup || cat[i].stop_time > last_backup))
		{
			last_backup = cat[i].stop_time;
			have_backup = true;
		}
	}
	if (have_backup)
	{
		long		secs;
		int			usecs;

		values[COL_LAST_BACKUP_TIME] = TimestampTzGetDatum(last_backup);
		nulls[COL_LAST_BACKUP_TIME] = false;
		TimestampDifference(last_backup, GetCurrentTimestamp(), &secs, &usecs);
		values[COL_SECONDS_SINCE_BACKUP] = Float8GetDatum(secs + usecs / 1000000.0);
		nulls[COL_SECONDS_SINCE_BACKUP] = false;
	}

	/* newest first, as the agent writes them */
	nver = revrx_verifications_read(revrx_spool_dir, &ver);
	for (int i = 0; i < nver; i++)
	{
		if (!ver[i].has_finished_at)
			continue;
		if (nulls[COL_LAST_VERIFICATION_TIME])
		{
			values[COL_LAST_VERIFICATION_TIME] = TimestampTzGetDatum(ver[i].finished_at);
			nulls[COL_LAST_VERIFICATION_TIME] = false;
			values[COL_LAST_VERIFICATION_PASSED] = BoolGetDatum(ver[i].passed);
			nulls[COL_LAST_VERIFICATION_PASSED] = false;
		}
		if (ver[i].passed && nulls[COL_LAST_GOOD_VERIFICATION_TIME])
		{
			values[COL_LAST_GOOD_VERIFICATION_TIME] = TimestampTzGetDatum(ver[i].finished_at);
			nulls[COL_LAST_GOOD_VERIFICATION_TIME] = false;
		}
	}
}
