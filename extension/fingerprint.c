/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *	  Table fingerprints taken after each backup, at a restore point a
 *	  restore drill can recover to exactly (docs/verification.md).
 *
 * A drill proves a backup restores the data, not just some data, by
 * comparing each table's row count and content hash (common/fingerprint.h)
 * on the restored copy with the same numbers taken on the primary.  The
 * numbers must describe exactly the state the drill recovers to, on a
 * primary that keeps writing.  The worker gets that by making the
 * snapshot it reads with and the point in WAL coincide for every table it
 * fingerprints:
 *
 *	1. In a REPEATABLE READ transaction, inside a subtransaction, take
 *	   SHARE locks on every table.  SHARE conflicts with the ROW EXCLUSIVE
 *	   lock every INSERT/UPDATE/DELETE holds until its transaction ends, so
 *	   once all are granted no transaction that wrote to them is still in
 *	   progress, and none can start.
 *	2. Take the transaction snapshot: it sees every committed write to
 *	   those tables, and there is no other.
 *	3. Write the restore point "revrx-fp-<backup id>" (and switch WAL so
 *	   that the segment holding it is archived soon).  Between 2 and 3 no
 *	   write to those tables can have committed, so replaying WAL up to the
 *	   point yields exactly what the snapshot sees.
 *	4. Roll back the subtransaction, which releases the locks (writers
 *	   waited only for steps 1-3, milliseconds) but keeps the transaction's
 *	   snapshot, and compute the fingerprints with that snapshot at leisure.
 *
 * Limits: one database (revrx.fingerprint_database) per cluster, since a
 * background worker connects to one; writers wait up to
 * revrx.fingerprint_lock_timeout behind the locks (a long-running writer
 * makes the worker give up, and that backup has no fingerprints); the
 * hashes read every row, which costs a sequential scan of the database
 * after each backup (it runs after the backup is complete, in its own
 * process, and does not delay it).
 *
 * Hint bits: reading a row sets its commit-status hint bits, and with data
 * checksums the first such change to a page after a checkpoint writes a
 * full-page image and gives the page a new LSN.  Scanned after the backup,
 * the fingerprints would so change every page whose rows nobody had read
 * since they were written, and the next incremental would store each of
 * them again (and the WAL would carry them too).  So, with
 * revrx.fingerprint_settle, a settle pass of the same worker reads the same
 * tables (and their TOAST tables) before the backup starts, and the backup
 * waits for it: the hints, and their WAL, then fall before the backup's
 * start LSN, where the backup holds them; the scan after it finds only rows
 * committed since the settle pass, on pages the workload itself changed.
 * It reads like the scan (every tuple's visibility checked), without
 * hashing, each relation in a transaction of its own, and only the pages
 * the visibility map does not mark all-visible: a sequential scan checks
 * no tuple of an all-visible page, so reading one would change nothing,
 * and a table left alone since VACUUM costs nothing to settle.
 * Any failure only costs incremental size, never the backup: a relation
 * that cannot be read is skipped, and a settle pass that cannot start is
 * logged.
 *
 * The result goes to the repository as backup/<id>/fingerprints.json
 * through the spool's meta/ directory (spool_meta.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/heapam.h"
#include "access/table.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_am_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "backup_state.h"
#include "fingerprint.h"
#include "fingerprint_worker.h"
#include "manifest.h"
#include "restore_point.h"
#include "settings.h"
#include "spool_meta.h"

PGDLLEXPORT void revrx_fingerprint_main(Datum main_arg);

/* bgw_main_arg of the worker: what it does */
#define FP_SCAN		0			/* fingerprints after a backup */
#define FP_SETTLE	1			/* the settle pass before one */

/*
 * The relations the settle pass reads: the fingerprinted tables and their
 * TOAST tables (the scan detoasts every value), in list_tables()'s columns.
 */
#define SETTLE_RELATIONS_SQL \
	"SELECT c.oid, n.nspname, c.relname, " \
	"       quote_ident(n.nspname) || '.' || quote_ident(c.relname) " \
	"  FROM (" RVX_FINGERPRINT_TABLES_SQL ") AS f(oid, nspname, relname, qualified) " \
	"  JOIN pg_catalog.pg_class t ON t.oid = f.oid " \
	"  JOIN pg_catalog.pg_class c ON c.oid IN (t.oid, t.reltoastrelid) " \
	"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"

typedef struct FpTable
{
	Oid			oid;
	char	   *schema;
	char	   *name;
	char	   *qualified;		/* quoted, for the query */
	bool		present;		/* still there once locked */
	int64		rows;
	char	   *hash;
} FpTable;

static BackgroundWorkerHandle *
launch(const char *backup_id, int what)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	const char *doing = what == FP_SETTLE ? "settle pass" : "fingerprint worker";

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "revrx", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "revrx_fingerprint_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "revrx %s for backup %s", doing, backup_id);
	strlcpy(worker.bgw_type, "revrx fingerprint", BGW_MAXLEN);
	strlcpy(worker.bgw_extra, backup_id, BGW_EXTRALEN);
	worker.bgw_main_arg = Int32GetDatum(what);
	/* the settle pass is waited for: the postmaster tells us when it ends */
	worker.bgw_notify_pid = what == FP_SETTLE ? MyProcPid : 0;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errmsg("revrx could not start the %s for backup %s", doing, backup_id),
				 errhint("Raise max_worker_processes.")));
		return NULL;
	}
	return handle;
}

void
revrx_fingerprint_launch(const char *backup_id)
{
	if (revrx_fingerprint_database == NULL || revrx_fingerprint_database[0] == '\0')
		return;
	(void) launch(backup_id, FP_SCAN);
}

void
revrx_fingerprint_settle_before(const char *backup_id)
{
	BackgroundWorkerHandle *handle;

	if (revrx_fingerprint_database == NULL || revrx_fingerprint_database[0] == '\0' ||
		!revrx_fingerprint_settle)
		return;
	handle = launch(backup_id, FP_SETTLE);
	if (handle == NULL)
		return;
	pgstat_report_activity(STATE_RUNNING, "waiting for the fingerprint settle pass");
	/* a cancel of the backup while we wait ends the settle pass too */
	PG_TRY();
	{
		(void) WaitForBackgroundWorkerShutdown(handle);
	}
	PG_FINALLY();
	{
		TerminateBackgroundWorker(handle);
		pfree(handle);
	}
	PG_END_TRY();
}

/* The relations a query lists, in a first transaction of its own. */
static List *
list_tables(const char *sql)
{
	List	   *tables = NIL;
	MemoryContext outer = CurrentMemoryContext;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT ||
		SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the tables of database \"%s\"", revrx_fingerprint_database);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext spi = MemoryContextSwitchTo(outer);
		FpTable    *t = palloc0(sizeof(FpTable));

		t->oid = (Oid) strtoul(SPI_getvalue(tup, desc, 1), NULL, 10);
		t->schema = SPI_getvalue(tup, desc, 2);
		t->name = SPI_getvalue(tup, desc, 3);
		t->qualified = SPI_getvalue(tup, desc, 4);
		tables = lappend(tables, t);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return tables;
}

/* Steps 1-4 of the header, then the hashes; returns the point's LSN. */
static XLogRecPtr
take_fingerprints(const char *backup_id, List *tables)
{
	char		point[MAXFNAMELEN];
	char		timeout[32];
	XLogRecPtr	lsn;
	ListCell   *lc;
	MemoryContext outer = CurrentMemoryContext;
	ResourceOwner owner;

	snprintf(point, sizeof(point), RVX_FINGERPRINT_POINT_FMT, backup_id);
	snprintf(timeout, sizeof(timeout), "%d", revrx_fingerprint_lock_timeout);
	SetConfigOption("lock_timeout", timeout, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "repeatable read",
					PGC_SUSET, PGC_S_OVERRIDE);

	StartTransactionCommand();
	owner = CurrentResourceOwner;
	pgstat_report_activity(STATE_RUNNING, "locking tables for the fingerprint restore point");
	BeginInternalSubTransaction(NULL);
	foreach(lc, tables)
	{
		FpTable    *t = lfirst(lc);

		LockRelationOid(t->oid, ShareLock);
		/* dropped since we listed it: nothing to fingerprint */
		t->present = SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->oid));
	}
	(void) GetTransactionSnapshot();	/* the transaction's snapshot, from now */
	lsn = revrx_restore_point_create(point, false);
	RequestXLogSwitch(false);
	RollbackAndReleaseCurrentSubTransaction();	/* the locks go, the snapshot stays */
	MemoryContextSwitchTo(outer);
	CurrentResourceOwner = owner;

	pgstat_report_activity(STATE_RUNNING, "computing table fingerprints");
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, tables)
	{
		FpTable    *t = lfirst(lc);
		char	   *query;
		MemoryContext spi;

		if (!t->present)
			continue;
		CHECK_FOR_INTERRUPTS();
		query = psprintf(RVX_FINGERPRINT_QUERY_FMT, t->qualified);
		if (SPI_execute(query, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not fingerprint table %s", t->qualified);
		spi = MemoryContextSwitchTo(outer);
		t->rows = strtoll(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						  NULL, 10);
		t->hash = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		MemoryContextSwitchTo(spi);
		pfree(query);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return lsn;
}

/*
 * settle_heap
 *
 * What a sequential scan does to the pages of a heap relation that are
 * not all-visible, and nothing to the others: prune them
 * (heap_page_prune_opt) and check every tuple's visibility with the
 * active snapshot, which sets the hint bits.  A sequential scan
 * (heapgetpage) skips the visibility checks of an all-visible page, and
 * such a page has nothing to prune, so reading it changes nothing; the
 * visibility map says which pages those are without reading them.  A
 * table the workload has not written since VACUUM so costs the settle
 * pass a look at its visibility map instead of a read of the whole table
 * before every backup.  Counts the pages read into *read.
 */
static void
settle_heap(Relation rel, BlockNumber *read)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	Snapshot	snapshot = GetActiveSnapshot();
	Buffer		vmbuf = InvalidBuffer;

	for (BlockNumber blk = 0; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		if (VM_ALL_VISIBLE(rel, blk, &vmbuf))
			continue;
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		heap_page_prune_opt(rel, buf);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsAllVisible(page))
		{
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

			for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off))
			{
				ItemId		lp = PageGetItemId(page, off);
				HeapTupleData tuple;

				if (!ItemIdIsNormal(lp))
					continue;
				tuple.t_tableOid = RelationGetRelid(rel);
				tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
				tuple.t_len = ItemIdGetLength(lp);
				ItemPointerSet(&tuple.t_self, blk, off);
				(void) HeapTupleSatisfiesVisibility(&tuple, snapshot, buf);
			}
		}
		UnlockReleaseBuffer(buf);
		(*read)++;
	}
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
	FreeAccessStrategy(strategy);
}

/*
 * The settle pass (header): each relation read in a transaction of its own,
 * so that no snapshot is held for long; one that fails (dropped, a lock not
 * granted within revrx.fingerprint_lock_timeout) is skipped.  Heap
 * relations are read by settle_heap(), others (another table access
 * method) by a sequential scan of every tuple.  *read and *total count the
 * pages read and the pages the relations have.
 */
static int
settle(List *relations, BlockNumber *read, BlockNumber *total)
{
	ListCell   *lc;
	int			done = 0;
	char		timeout[32];

	snprintf(timeout, sizeof(timeout), "%d", revrx_fingerprint_lock_timeout);
	SetConfigOption("lock_timeout", timeout, PGC_SUSET, PGC_S_OVERRIDE);
	/* the scan reads every tuple of every page: so must this */
	SetConfigOption("enable_indexscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_indexonlyscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_bitmapscan", "off", PGC_SUSET, PGC_S_OVERRIDE);

	foreach(lc, relations)
	{
		FpTable    *t = lfirst(lc);
		MemoryContext outer = CurrentMemoryContext;

		CHECK_FOR_INTERRUPTS();
		StartTransactionCommand();
		PG_TRY();
		{
			char	   *query = psprintf("SELECT count(*) FROM ONLY %s", t->qualified);

			LockRelationOid(t->oid, AccessShareLock);
			if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->oid)))
			{
				Relation	rel = table_open(t->oid, NoLock);
				BlockNumber nblocks = RelationGetNumberOfBlocks(rel);

				PushActiveSnapshot(GetTransactionSnapshot());
				if (rel->rd_rel->relam == HEAP_TABLE_AM_OID)
					settle_heap(rel, read);
				else
				{
					if (SPI_connect() != SPI_OK_CONNECT ||
						SPI_execute(query, true, 0) != SPI_OK_SELECT)
						elog(ERROR, "could not read %s", t->qualified);
					SPI_finish();
					*read += nblocks;
				}
				*total += nblocks;
				PopActiveSnapshot();
				table_close(rel, NoLock);
				done++;
			}
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(outer);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			ereport(LOG,
					(errmsg("revrx settle pass skipped %s", t->qualified)));
		}
		PG_END_TRY();
		MemoryContextSwitchTo(outer);
	}
	return done;
}

static void
write_document(const char *backup_id, List *tables, XLogRecPtr lsn)
{
	StringInfoData doc;
	char		key[MAXPGPATH];
	char		point[MAXFNAMELEN];
	char		when[64];
	ListCell   *lc;
	bool		first = true;

	snprintf(point, sizeof(point), RVX_FINGERPRINT_POINT_FMT, backup_id);
	revrx_format_utc((pg_time_t) time(NULL), when, sizeof(when));
	initStringInfo(&doc);
	appendStringInfo(&doc, "{\"format\": %d, \"backup_id\": ", RVX_FINGERPRINT_FORMAT);
	escape_json(&doc, backup_id);
	appendStringInfoString(&doc, ", \"database\": ");
	escape_json(&doc, revrx_fingerprint_database);
	appendStringInfoString(&doc, ", \"restore_point\": ");
	escape_json(&doc, point);
	appendStringInfo(&doc, ", \"lsn\": \"%X/%X\", \"time\": \"%s\",\n\"tables\": [",
					 LSN_FORMAT_ARGS(lsn), when);
	foreach(lc, tables)
	{
		FpTable    *t = lfirst(lc);

		if (!t->present)
			continue;
		appendStringInfoString(&doc, first ? "\n{\"schema\": " : ",\n{\"schema\": ");
		escape_json(&doc, t->schema);
		appendStringInfoString(&doc, ", \"table\": ");
		escape_json(&doc, t->name);
		appendStringInfo(&doc, ", \"rows\": " INT64_FORMAT ", \"hash\": ", t->rows);
		escape_json(&doc, t->hash);
		appendStringInfoChar(&doc, '}');
		first = false;
	}
	appendStringInfoString(&doc, "\n]}\n");

	snprintf(key, sizeof(key), "backup/%s/fingerprints.json", backup_id);
	revrx_meta_write(key, doc.data, doc.len);
	pfree(doc.data);
}

/*
 * revrx_fingerprint_main
 *
 * Entry point of the dynamic worker; bgw_extra holds the backup id and
 * bgw_main_arg what to do (FP_SCAN, FP_SETTLE).  Any error ends it (and is
 * logged): after a backup, that backup then has no fingerprints, which a
 * drill reports as skipped; before one, the backup goes on.
 */
void
revrx_fingerprint_main(Datum main_arg)
{
	char		backup_id[BGW_EXTRALEN];
	List	   *tables;
	XLogRecPtr	lsn;

	strlcpy(backup_id, MyBgworkerEntry->bgw_extra, sizeof(backup_id));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (!revrx_backup_id_valid(backup_id))
		ereport(ERROR,
				(errmsg("revrx fingerprint worker started for an invalid backup id")));
	BackgroundWorkerInitializeConnection(revrx_fingerprint_database, NULL, 0);

	/*
	 * This worker runs as the bootstrap superuser in a database whose owner
	 * may not be one: with the database's own search_path an unqualified
	 * name in the fingerprint queries could resolve to the owner's function.
	 * Only pg_catalog, as the drill that compares these fingerprints does
	 * (agent/verify/pginstance.c), so both print every row the same way.
	 */
	SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);

	if (DatumGetInt32(main_arg) == FP_SETTLE)
	{
		TimestampTz start = GetCurrentTimestamp();
		int			done;
		BlockNumber read = 0;
		BlockNumber total = 0;

		pgstat_report_activity(STATE_RUNNING, "settling hint bits before a backup");
		tables = list_tables(SETTLE_RELATIONS_SQL);
		done = settle(tables, &read, &total);
		ereport(LOG,
				(errmsg("revrx settle pass read %d of %d relations of database \"%s\" before backup %s in %ld ms",
						done, list_length(tables), revrx_fingerprint_database, backup_id,
						(long) (TimestampDifferenceMilliseconds(start, GetCurrentTimestamp()))),
				 errdetail("%u of their %u pages read, the others all-visible.",
						   read, total)));
		proc_exit(0);
	}

	tables = list_tables(RVX_FINGERPRINT_TABLES_SQL);
	lsn = take_fingerprints(backup_id, tables);
	write_document(backup_id, tables, lsn);
	ereport(LOG,
			(errmsg("revrx fingerprinted %d tables of database \"%s\" for backup %s at restore point %X/%X",
					list_length(tables), revrx_fingerprint_database, backup_id,
					LSN_FORMAT_ARGS(lsn))));
	proc_exit(0);
}
