/*-------------------------------------------------------------------------
 *
 * backup_sql.c
 *	  The SQL functions of base backups: revrx_backup_now(),
 *	  revrx_backups(), and revrx_verifications() (the restore drills of
 *	  those backups).
 *
 * revrx_backup_now() does not take the backup itself: the backup worker
 * does (worker.c, backup.c), so that a backup survives the session that
 * asked for it, runs one at a time, and the server's backup state is never
 * tied to a client connection.  The function checks what it can check at
 * once (arguments, settings, whether a backup is already active), hands
 * the request over through shared memory (backup_state.c) and returns the
 * new backup's id; with wait => true it then sleeps on the condition
 * variable until the backup is complete and stored in the repository (the
 * agent acknowledged it), and raises the backup's error if it failed.
 * Cancelling the wait does not cancel the backup.
 *
 * revrx_backups() lists the repository's catalog (status/backups.json,
 * published by the agent: complete backups) merged with what the server
 * remembers since it started (running, shipping, failed and aborted
 * backups, and complete ones the catalog does not show yet).  For an id in
 * both, the catalog's row is shown when the server also says complete
 * (the catalog has the full record), the server's otherwise.
 *
 * revrx_verifications() shows the drill summaries the agent publishes in
 * status/verifications.json.
 *
 * None of them is executable by PUBLIC (sql/revrx--0.2.sql).  Each refuses
 * a declaration of another shape than its C code serves (declaration.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "backup_state.h"
#include "catalog.h"
#include "declaration.h"
#include "settings.h"
#include "spool_read.h"

PG_FUNCTION_INFO_V1(revrx_backup_now);
PG_FUNCTION_INFO_V1(revrx_backups);
PG_FUNCTION_INFO_V1(revrx_verifications);

/*
 * How long revrx_backup_now() waits for a worker that is (re)starting;
 * longer than the worker's restart interval (worker.c).
 */
#define WORKER_START_WAIT_MS	15000

/* Columns of revrx_backups(), in order; see sql/revrx--0.2.sql. */
enum
{
	COL_ID,
	COL_LABEL,
	COL_KIND,
	COL_STATUS,
	COL_SCHEDULED,
	COL_START_LSN,
	COL_STOP_LSN,
	COL_START_TIME,
	COL_STOP_TIME,
	COL_ORIGINAL_BYTES,
	COL_STORED_BYTES,
	COL_FILE_COUNT,
	COL_PROBLEMS,
	COL_ERROR,
	COL_PARENT,
	COL_PINNED,
	COL_PG_MAJOR,
	COL_NOT_INCLUDED,
	REVRX_BACKUPS_COLS
};

/* Their types, for revrx_check_declaration(). */
static const Oid backups_types[REVRX_BACKUPS_COLS] = {
	[COL_ID] = TEXTOID,
	[COL_LABEL] = TEXTOID,
	[COL_KIND] = TEXTOID,
	[COL_STATUS] = TEXTOID,
	[COL_SCHEDULED] = BOOLOID,
	[COL_START_LSN] = PG_LSNOID,
	[COL_STOP_LSN] = PG_LSNOID,
	[COL_START_TIME] = TIMESTAMPTZOID,
	[COL_STOP_TIME] = TIMESTAMPTZOID,
	[COL_ORIGINAL_BYTES] = INT8OID,
	[COL_STORED_BYTES] = INT8OID,
	[COL_FILE_COUNT] = INT8OID,
	[COL_PROBLEMS] = JSONBOID,
	[COL_ERROR] = TEXTOID,
	[COL_PARENT] = TEXTOID,
	[COL_PINNED] = BOOLOID,
	[COL_PG_MAJOR] = INT4OID,
	[COL_NOT_INCLUDED] = JSONBOID,
};

static void
require_preload(void)
{
	if (!revrx_backup_state_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revrx must be loaded via \"shared_preload_libraries\"")));
}

static const char *
status_name(RevrxBackupStatus status)
{
	switch (status)
	{
		case REVRX_BACKUP_REQUESTED:
		case REVRX_BACKUP_RUNNING:
			return "running";
		case REVRX_BACKUP_SHIPPING:
			return "shipping";
		case REVRX_BACKUP_COMPLETE:
			return "complete";
		case REVRX_BACKUP_FAILED:
			return "failed";
		case REVRX_BACKUP_ABORTED:
			return "aborted";
		case REVRX_BACKUP_FREE:
			break;
	}
	return "unknown";
}

static const char *
phase_description(RevrxBackupStatus status, RevrxBackupPhase phase)
{
	if (status == REVRX_BACKUP_REQUESTED)
		return "waiting for the backup worker";
	switch (phase)
	{
		case REVRX_PHASE_CHECKPOINT:
			return "waiting for a checkpoint";
		case REVRX_PHASE_COPYING:
			return "copying files";
		case REVRX_PHASE_SPOOL_FULL:
			return "waiting for revrx-agent to make room in the spool";
		case REVRX_PHASE_STOPPING:
			return "waiting for its WAL to be archived";
		case REVRX_PHASE_COMMITTING:
			return "writing its manifest";
		case REVRX_PHASE_SHIPPING:
			return "waiting for revrx-agent to store it";
		case REVRX_PHASE_NONE:
			break;
	}
	return "starting";
}

/*
 * check_label
 *
 * Returns the label in UTF-8 (the encoding of backup.json), or NULL.  A
 * label is free text for people, so only what would break the formats it
 * is written into is refused.
 */
static char *
check_label(text *label_t)
{
	char	   *label;
	char	   *utf8;
	int			len;

	if (label_t == NULL)
		return NULL;

	label = text_to_cstring(label_t);
	len = strlen(label);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup label must not be empty"),
				 errhint("Pass NULL for a backup without a label.")));

	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) label[i];

		if (c < 0x20 || c == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("backup label must not contain control characters"),
					 errdetail("Byte %d of the label is 0x%02x.", i + 1, c)));
	}

	if (len > REVRX_BACKUP_LABEL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("backup label is too long"),
				 errdetail("A label may have at most %d bytes; this one has %d.",
						   REVRX_BACKUP_LABEL_MAX, len)));

	utf8 = (char *) pg_server_to_any(label, len, PG_UTF8);
	if (strlen(utf8) > REVRX_BACKUP_LABEL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("backup label is too long"),
				 errdetail("A label may have at most %d bytes in UTF-8; this one has %d.",
						   REVRX_BACKUP_LABEL_MAX, (int) strlen(utf8))));
	return utf8;
}

/*
 * check_settings
 *
 * What a backup needs from the configuration, checked in the order an
 * administrator would fix it.
 */
static void
check_settings(void)
{
	struct stat st;

	if (revrx_spool_dir == NULL || revrx_spool_dir[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revrx.spool_dir is not set"),
				 errhint("Set revrx.spool_dir to the directory shared with revrx-agent and reload the configuration.")));

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revrx cannot take a backup during recovery"),
				 errhint("Take backups on the primary.")));

	if (!XLogArchivingActive())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("WAL archiving is not enabled"),
				 errdetail("A backup can only be restored with the WAL written while it was taken."),
				 errhint("Set archive_mode = on and archive_library = 'revrx', and restart the server.")));

	if (stat(revrx_spool_dir, &st) != 0 || !S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("revrx.spool_dir \"%s\" is not a directory", revrx_spool_dir),
				 errhint("Create the directory, or mount the volume shared with revrx-agent there.")));
}

/*
 * wait_for_worker
 *
 * The worker may be starting (just after the server started) or restarting
 * (after it exited); give it a moment rather than refusing at once.
 */
static void
wait_for_worker(void)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   WORKER_START_WAIT_MS);

	while (revrx_backup_worker_pid() == 0)
	{
		if (GetCurrentTimestamp() >= deadline)
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the revrx backup worker is not running"),
					 errhint("It is started with the server, and restarted within seconds if it exits; the server log says why it is not running.  Check that max_worker_processes leaves room for it.")));
		}
		revrx_backup_wait_for_change(100);
		CHECK_FOR_INTERRUPTS();
	}
	ConditionVariableCancelSleep();
}

/*
 * revrx_backup_now
 *
 * SQL: revrx_backup_now(label text DEFAULT NULL, wait boolean DEFAULT false,
 * incremental boolean DEFAULT false) returns the id of the new backup.
 */
Datum
revrx_backup_now(PG_FUNCTION_ARGS)
{
	char	   *label;
	char	   *requested_by;
	bool		wait;
	bool		incremental;
	RevrxBackupEntry created;
	RevrxBackupEntry busy;
	RevrxBackupEntry e;

	/* 0.1 before incremental backups declared (label, wait) */
	revrx_check_declaration(fcinfo, 3, NULL, NULL, 0);
	require_preload();

	label = check_label(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"wait\" must not be null")));
	wait = PG_GETARG_BOOL(1);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"incremental\" must not be null")));
	incremental = PG_GETARG_BOOL(2);
	if (incremental && !DataChecksumsEnabled())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("incremental backups need data checksums"),
				 errdetail("An incremental backup stores the pages whose LSN is newer than its parent's start; "
						   "data checksums are what makes every change to a page, hint bits included, advance it."),
				 errhint("Take full backups, or enable checksums with pg_checksums.")));

	check_settings();
	wait_for_worker();

	/*
	 * Who asked, for the audit trail: the session user (the role that
	 * logged in), not a role taken on since with SET ROLE or a security
	 * definer function; in UTF-8 like the rest of backup.json.
	 */
	requested_by = GetUserNameFromId(GetSessionUserId(), false);
	requested_by = pg_server_to_any(requested_by, strlen(requested_by), PG_UTF8);

	if (!revrx_backup_request(label, false, incremental, requested_by, revrx_spool_dir,
							  &created, &busy))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("a revrx backup is already in progress"),
				 errdetail("Backup %s is %s: %s.", busy.id,
						   status_name(busy.status),
						   phase_description(busy.status, busy.phase)),
				 errhint("Wait for it to finish; revrx_backups() shows how it is going.")));

	ereport(LOG,
			(errmsg("revrx backup %s requested%s%s%s", created.id,
					incremental ? " (incremental)" : "",
					label ? " with label " : "",
					label ? quote_literal_cstr(label) : "")));

	if (!wait)
		PG_RETURN_TEXT_P(cstring_to_text(created.id));

	for (;;)
	{
		if (!revrx_backup_lookup(created.id, &e))
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("revrx backup %s is no longer tracked by the server", created.id),
					 errhint("revrx_backups() shows whether it completed.")));
		}
		if (e.status == REVRX_BACKUP_COMPLETE)
			break;
		if (e.status == REVRX_BACKUP_FAILED || e.status == REVRX_BACKUP_ABORTED)
		{
			ConditionVariableCancelSleep();
			revrx_text_sanitize(e.error);
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("revrx backup %s %s: %s", e.id,
							e.status == REVRX_BACKUP_FAILED ? "failed" : "was aborted",
							e.error[0] ? e.error : "no reason recorded")));
		}
		revrx_backup_wait_for_change(1000);
		CHECK_FOR_INTERRUPTS();
	}
	ConditionVariableCancelSleep();

	PG_RETURN_TEXT_P(cstring_to_text(created.id));
}

/* ------------------------------------------------------------- listing */

typedef struct BackupRow
{
	const char *id;
	RevrxCatalogEntry *cat;		/* exactly one of these is set */
	RevrxBackupEntry *mem;
} BackupRow;

static int
row_cmp(const void *a, const void *b)
{
	return strcmp(((const BackupRow *) a)->id, ((const BackupRow *) b)->id);
}

/* Text written in UTF-8 by revrx, for a database that may not be UTF-8. */
static Datum
utf8_text_datum(char *s)
{
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		for (char *p = s; *p; p++)
		{
			if ((unsigned char) *p >= 0x80)
				*p = '?';
		}
	}
	else
		revrx_text_sanitize(s);
	return CStringGetTextDatum(s);
}

static void
catalog_row(RevrxCatalogEntry *c, Datum *values, bool *nulls)
{
	values[COL_ID] = CStringGetTextDatum(c->id);
	nulls[COL_ID] = false;
	if (c->label != NULL)
	{
		values[COL_LABEL] = CStringGetTextDatum(c->label);
		nulls[COL_LABEL] = false;
	}
	if (c->kind != NULL)
	{
		values[COL_KIND] = CStringGetTextDatum(c->kind);
		nulls[COL_KIND] = false;
	}
	if (c->parent != NULL)
	{
		values[COL_PARENT] = CStringGetTextDatum(c->parent);
		nulls[COL_PARENT] = false;
	}
	if (c->has_pinned)
	{
		values[COL_PINNED] = BoolGetDatum(c->pinned);
		nulls[COL_PINNED] = false;
	}
	if (c->pg_major > 0)
	{
		values[COL_PG_MAJOR] = Int32GetDatum(c->pg_major);
		nulls[COL_PG_MAJOR] = false;
	}
	values[COL_STATUS] = CStringGetTextDatum("complete");
	nulls[COL_STATUS] = false;
	if (c->has_scheduled)
	{
		values[COL_SCHEDULED] = BoolGetDatum(c->scheduled);
		nulls[COL_SCHEDULED] = false;
	}
	if (c->has_start_lsn)
	{
		values[COL_START_LSN] = LSNGetDatum(c->start_lsn);
		nulls[COL_START_LSN] = false;
	}
	if (c->has_stop_lsn)
	{
		values[COL_STOP_LSN] = LSNGetDatum(c->stop_lsn);
		nulls[COL_STOP_LSN] = false;
	}
	if (c->has_start_time)
	{
		values[COL_START_TIME] = TimestampTzGetDatum(c->start_time);
		nulls[COL_START_TIME] = false;
	}
	if (c->has_stop_time)
	{
		values[COL_STOP_TIME] = TimestampTzGetDatum(c->stop_time);
		nulls[COL_STOP_TIME] = false;
	}
	if (c->has_original_bytes)
	{
		values[COL_ORIGINAL_BYTES] = Int64GetDatum(c->original_bytes);
		nulls[COL_ORIGINAL_BYTES] = false;
	}
	if (c->has_stored_bytes)
	{
		values[COL_STORED_BYTES] = Int64GetDatum(c->stored_bytes);
		nulls[COL_STORED_BYTES] = false;
	}
	if (c->has_file_count)
	{
		values[COL_FILE_COUNT] = Int64GetDatum(c->file_count);
		nulls[COL_FILE_COUNT] = false;
	}
	if (c->problems != NULL)
	{
		values[COL_PROBLEMS] = DirectFunctionCall1(jsonb_in, CStringGetDatum(c->problems));
		nulls[COL_PROBLEMS] = false;
	}
	if (c->not_included != NULL)
	{
		values[COL_NOT_INCLUDED] = DirectFunctionCall1(jsonb_in, CStringGetDatum(c->not_included));
		nulls[COL_NOT_INCLUDED] = false;
	}
}

static void
memory_row(RevrxBackupEntry *m, Datum *values, bool *nulls)
{
	values[COL_ID] = CStringGetTextDatum(m->id);
	nulls[COL_ID] = false;
	if (m->has_label)
	{
		values[COL_LABEL] = utf8_text_datum(m->label);
		nulls[COL_LABEL] = false;
	}
	/* what was asked for: the exporter may fall back to full (the catalog then says) */
	values[COL_KIND] = CStringGetTextDatum(m->incremental ? "incremental" : "full");
	nulls[COL_KIND] = false;
	values[COL_STATUS] = CStringGetTextDatum(status_name(m->status));
	nulls[COL_STATUS] = false;
	values[COL_SCHEDULED] = BoolGetDatum(m->scheduled);
	nulls[COL_SCHEDULED] = false;
	/* taken by this server, which the module was built for */
	values[COL_PG_MAJOR] = Int32GetDatum(PG_VERSION_NUM / 10000);
	nulls[COL_PG_MAJOR] = false;
	if (!XLogRecPtrIsInvalid(m->start_lsn))
	{
		values[COL_START_LSN] = LSNGetDatum(m->start_lsn);
		nulls[COL_START_LSN] = false;
	}
	if (!XLogRecPtrIsInvalid(m->stop_lsn))
	{
		values[COL_STOP_LSN] = LSNGetDatum(m->stop_lsn);
		nulls[COL_STOP_LSN] = false;
	}
	if (m->start_time != 0)
	{
		values[COL_START_TIME] = TimestampTzGetDatum(m->start_time);
		nulls[COL_START_TIME] = false;
	}
	if (m->stop_time != 0)
	{
		values[COL_STOP_TIME] = TimestampTzGetDatum(m->stop_time);
		nulls[COL_STOP_TIME] = false;
	}
	/* what an entry recovered from the spool does not know stays NULL */
	if (m->start_time != 0)
	{
		values[COL_ORIGINAL_BYTES] = Int64GetDatum(m->original_bytes);
		nulls[COL_ORIGINAL_BYTES] = false;
		values[COL_STORED_BYTES] = Int64GetDatum(m->stored_bytes);
		nulls[COL_STORED_BYTES] = false;
		values[COL_FILE_COUNT] = Int64GetDatum(m->file_count);
		nulls[COL_FILE_COUNT] = false;
	}
	if (m->problems[0] != '\0')
	{
		values[COL_PROBLEMS] = DirectFunctionCall1(jsonb_in, CStringGetDatum(m->problems));
		nulls[COL_PROBLEMS] = false;
	}
	if (m->error[0] != '\0')
	{
		values[COL_ERROR] = utf8_text_datum(m->error);
		nulls[COL_ERROR] = false;
	}
}

/*
 * revrx_backups
 *
 * SQL: revrx_backups() returns one row per backup; see the column list
 * above.
 */
Datum
revrx_backups(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RevrxCatalogEntry *cat;
	int			ncat;
	RevrxBackupEntry *mem;
	int			nmem;
	BackupRow  *rows;
	int			nrows = 0;

	require_preload();

	/*
	 * The columns grew within 0.1 (parent, then pinned) and in 0.2
	 * (pg_major, not_included); a declaration without them is refused with the hint to
	 * update the extension.
	 */
	InitMaterializedSRF(fcinfo, 0);
	revrx_check_declaration(fcinfo, 0, rsinfo->setDesc, backups_types, REVRX_BACKUPS_COLS);

	ncat = revrx_catalog_read(revrx_spool_dir, &cat);
	mem = palloc(REVRX_BACKUP_HISTORY * sizeof(RevrxBackupEntry));
	nmem = revrx_backup_list(mem, REVRX_BACKUP_HISTORY);

	rows = palloc((ncat + nmem + 1) * sizeof(BackupRow));
	for (int i = 0; i < ncat; i++)
	{
		bool		dup = false;

		/* the agent should not list an id twice; show it once if it does */
		for (int j = 0; j < nrows && !dup; j++)
			dup = strcmp(rows[j].id, cat[i].id) == 0;
		if (dup)
			continue;
		rows[nrows].id = cat[i].id;
		rows[nrows].cat = &cat[i];
		rows[nrows].mem = NULL;
		nrows++;
	}
	for (int i = 0; i < nmem; i++)
	{
		BackupRow  *row = NULL;

		for (int j = 0; j < nrows; j++)
		{
			if (strcmp(rows[j].id, mem[i].id) == 0)
			{
				row = &rows[j];
				break;
			}
		}
		if (row == NULL)
			row = &rows[nrows++];
		else if (mem[i].status == REVRX_BACKUP_COMPLETE)
			continue;			/* the catalog's record is the full one */
		row->id = mem[i].id;
		row->cat = NULL;
		row->mem = &mem[i];
	}

	qsort(rows, nrows, sizeof(BackupRow), row_cmp);

	for (int i = 0; i < nrows; i++)
	{
		Datum		values[REVRX_BACKUPS_COLS];
		bool		nulls[REVRX_BACKUPS_COLS];

		memset(values, 0, sizeof(values));
		memset(nulls, true, sizeof(nulls));
		if (rows[i].cat != NULL)
			catalog_row(rows[i].cat, values, nulls);
		else
			memory_row(rows[i].mem, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	return (Datum) 0;
}

/*
 * revrx_verifications
 *
 * SQL: revrx_verifications() returns the latest restore drills, newest
 * first, from status/verifications.json (the agent's summary of the drill
 * reports stored in the repository).  Works without preloading: it only
 * reads the spool.
 */
#define REVRX_VERIFICATIONS_COLS 8

static const Oid verifications_types[REVRX_VERIFICATIONS_COLS] = {
	TEXTOID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID, FLOAT8OID, JSONBOID, TEXTOID,
};

Datum
revrx_verifications(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RevrxVerification *v;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	revrx_check_declaration(fcinfo, 0, rsinfo->setDesc, verifications_types,
							REVRX_VERIFICATIONS_COLS);

	n = revrx_verifications_read(revrx_spool_dir, &v);
	for (int i = 0; i < n; i++)
	{
		Datum		values[REVRX_VERIFICATIONS_COLS];
		bool		nulls[REVRX_VERIFICATIONS_COLS];

		memset(values, 0, sizeof(values));
		memset(nulls, true, sizeof(nulls));
		revrx_text_sanitize(v[i].backup_id);
		values[0] = CStringGetTextDatum(v[i].backup_id);
		nulls[0] = false;
		values[1] = BoolGetDatum(v[i].passed);
		nulls[1] = false;
		if (v[i].has_started_at)
		{
			values[2] = TimestampTzGetDatum(v[i].started_at);
			nulls[2] = false;
		}
		if (v[i].has_finished_at)
		{
			values[3] = TimestampTzGetDatum(v[i].finished_at);
			nulls[3] = false;
		}
		if (v[i].has_recovery_seconds)
		{
			values[4] = Float8GetDatum(v[i].recovery_seconds);
			nulls[4] = false;
		}
		if (v[i].has_total_seconds)
		{
			values[5] = Float8GetDatum(v[i].total_seconds);
			nulls[5] = false;
		}
		if (v[i].failed_checks != NULL)
		{
			values[6] = DirectFunctionCall1(jsonb_in, CStringGetDatum(v[i].failed_checks));
			nulls[6] = false;
		}
		if (v[i].report_key != NULL)
		{
			revrx_text_sanitize(v[i].report_key);
			values[7] = CStringGetTextDatum(v[i].report_key);
			nulls[7] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
