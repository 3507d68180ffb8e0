/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The revrx backup worker: takes the backups revrx_backup_now() asks
 *	  for and those revrx.backup_schedule calls for, and follows them
 *	  until revrx-agent has stored them.
 *
 * One worker per server, registered in _PG_init when the library is
 * preloaded (contrib/pg_prewarm's autoprewarm is the model): it records
 * its pid and latch in shared memory (refusing to run twice), sleeps on
 * its latch with WL_EXIT_ON_PM_DEATH, rereads the configuration on SIGHUP,
 * and is restarted REVRX_WORKER_RESTART_SECS after it exits.  It runs
 * without a database (like the logical replication launcher), connected
 * only so that it shows in pg_stat_activity (backend_type "revrx", the
 * current phase as its query).  Its loop:
 *
 *	1. At start, and whenever revrx.spool_dir changes, it settles what an
 *	   earlier run left in the spool (recover_spool): a backup directory
 *	   with backup.json is waiting for the agent and is followed again; one
 *	   without, and without the agent's .ok, was cut short (the server or
 *	   the worker died) and is marked <id>.aborted, so the agent removes
 *	   what it stored of it.
 *	2. It follows the backups being shipped (watch_shipping): <id>.ok from
 *	   the agent makes one complete, a permanent <id>.error makes it fail.
 *	3. It requests a scheduled backup when one is due.
 *	4. It takes a requested backup (backup.c), inside an error boundary:
 *	   an ERROR fails that backup, is logged, and the worker goes on.
 *	5. Every RVX_SERVER_STATUS_SECS it writes the archiver's backlog
 *	   (pg_wal's .ready files) to the spool's server.json, so the agent's
 *	   /metrics shows what PostgreSQL itself has not archived yet: the one
 *	   backlog the agent cannot see (not while a backup is being taken).
 *
 * Once, at start (the worker starts when recovery has finished), it
 * removes the segments revrx-agent wal-fetch fetched ahead of a recovery
 * that ended without asking for a timeline history file (a server shut
 * down at its recovery target, then started without recovery): nothing
 * takes them any more (agent/restore/wal_prefetch.h).
 *
 * pg_cancel_backend() on the worker cancels the backup it is taking (it
 * fails with "canceling statement due to user request"); the worker goes
 * on.  SIGTERM while a backup runs is the backend's die(), which makes the
 * next CHECK_FOR_INTERRUPTS() exit with FATAL.  That is what ends a backup
 * promptly wherever it waits, including inside
 * do_pg_backup_start()'s checkpoint and do_pg_backup_stop()'s wait for
 * archiving, which only check for interrupts: a shutdown must never wait
 * for an agent that may not come.  On the way out, do_pg_abort_backup()
 * (registered by the exporter) releases the server's backup state, then
 * worker_exit() marks the backup aborted, in shared memory and in the
 * spool.  A backup being shipped is left alone: it is followed again by
 * the next worker.  SIGTERM between backups (every clean shutdown) just
 * ends the loop, without a FATAL that alerting would take for a failure.
 * Either way the worker exits with code 1 and is restarted, except during
 * shutdown.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "backup.h"
#include "backup_state.h"
#include "cron.h"
#include "fileutil.h"
#include "fingerprint_worker.h"
#include "settings.h"
#include "sha256.h"
#include "spool.h"
#include "spool_read.h"
#include "spool_write.h"
#include "status.h"
#include "walname.h"
#include "worker.h"

/* Seconds before the postmaster restarts a worker that exited. */
#define REVRX_WORKER_RESTART_SECS	5
/*
 * How often the spool is looked at while a backup is being shipped: the
 * agent's acknowledgement is a file, and revrx_backup_now(wait => true)
 * returns only once this worker has seen it, so every millisecond of this
 * interval is waited for half the time.  A look is two failing open()s.
 */
#define SHIPPING_POLL_MS			50
/* Longest sleep (the schedule is checked at least this often). */
#define MAX_SLEEP_MS				60000
/* An error of the worker's housekeeping is logged again after this. */
#define ERROR_REPEAT_SECS			60

static MemoryContext worker_context = NULL;
static MemoryContext tick_context = NULL;

/* The backup being exported, for worker_exit(); slot -1 when none. */
static int	current_slot = -1;
static char current_id[REVRX_BACKUP_ID_LEN];
static char current_spool[MAXPGPATH];
static RevrxBackupJob *current_job = NULL;

/* The spool directory whose leftovers were settled ("" = none yet). */
static char recovered_spool[MAXPGPATH] = "";

/* The schedule as last seen. */
/* One cron schedule's state: full backups, and incremental ones. */
typedef struct Schedule
{
	const char *what;			/* "full" or "incremental", for messages */
	bool		incremental;
	char	   *text;			/* the setting it was computed for */
	bool		on;
	pg_time_t	next_due;
} Schedule;

static Schedule full_schedule = {"full", false, NULL, false, 0};
static Schedule incremental_schedule = {"incremental", true, NULL, false, 0};

/* How long the main loop may sleep, as the schedule sees it. */
static long schedule_timeout_ms = MAX_SLEEP_MS;

/* When server.json was last written. */
static pg_time_t server_status_at = 0;

/* Rate limit for housekeeping errors. */
static RevrxErrorRepeat housekeeping_errors = {NULL, 0};

static void worker_exit(int code, Datum arg);
static void recover_spool(void);
static void watch_shipping(void);
static void check_schedule(void);
static void publish_server_status(void);
static void run_backup(int slot, const RevrxBackupEntry *e);
static void remove_prefetched_wal(void);

/*
 * revrx_worker_register
 *
 * Called by _PG_init while preloading.
 */
void
revrx_worker_register(void)
{
	revrx_register_worker("revrx_worker_main", "revrx backup worker", "revrx",
						  BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION,
						  REVRX_WORKER_RESTART_SECS, (Datum) 0);
}

/* See the file's header: the queue of pg_wal/revrx_prefetch, once out of recovery. */
static void
remove_prefetched_wal(void)
{
	const char *dir = XLOGDIR "/" RVX_PREFETCH_DIR;
	struct stat st;
	int			fd;

	if (stat(dir, &st) != 0)
		return;

	/*
	 * A prefetcher that is still fetching holds the lock: it removes the
	 * queue itself when it sees the stop mark, and rmtree() racing its
	 * writes could leave the directory behind.
	 */
	fd = OpenTransientFile(XLOGDIR "/" RVX_PREFETCH_DIR "/lock", O_RDWR | PG_BINARY);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		int			mark = OpenTransientFile(XLOGDIR "/" RVX_PREFETCH_DIR "/stop",
											 O_WRONLY | O_CREAT | PG_BINARY);

		if (mark >= 0)
			CloseTransientFile(mark);
		CloseTransientFile(fd);
		ereport(LOG,
				(errmsg("left \"%s\" to the revrx-agent prefetcher still running, which removes it",
						dir)));
		return;
	}
	if (!rmtree(dir, true))
		ereport(LOG,
				(errmsg("could not remove \"%s\"", dir),
				 errdetail("It holds WAL that revrx-agent wal-fetch fetched ahead of a recovery.")));
	else
		ereport(LOG,
				(errmsg("removed \"%s\"", dir),
				 errdetail("It held WAL that revrx-agent wal-fetch fetched ahead of a recovery that ended without removing it.")));
	if (fd >= 0)
		CloseTransientFile(fd);
}

/*
 * revrx_register_worker
 *
 * Registers one of revrx's background workers while preloading (see
 * backup.h).  Every one starts once recovery finished: none has anything
 * to do on a standby.
 */
void
revrx_register_worker(const char *function, const char *name, const char *type,
					  int flags, int restart_secs, Datum main_arg)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = flags;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = restart_secs;
	strlcpy(worker.bgw_library_name, "revrx", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	worker.bgw_main_arg = main_arg;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * revrx_log_caught_error
 *
 * Logs an error a worker caught ("<who> could not <what>: <message>"), but
 * the same message only once per ERROR_REPEAT_SECS: a step that fails every
 * round must not flood the log.  Call in the caller's long-lived context.
 */
void
revrx_log_caught_error(RevrxErrorRepeat *r, const char *who, const char *what,
					   const ErrorData *edata)
{
	pg_time_t	now = (pg_time_t) time(NULL);

	if (r->message != NULL && strcmp(r->message, edata->message) == 0 &&
		now - r->at < ERROR_REPEAT_SECS)
		return;
	ereport(LOG,
			(errmsg("%s could not %s: %s", who, what, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
			 edata->hint ? errhint("%s", edata->hint) : 0));
	if (r->message)
		pfree(r->message);
	r->message = MemoryContextStrdup(TopMemoryContext, edata->message);
	r->at = now;
}

/*
 * revrx_recover_caught_error
 *
 * The first steps of a worker's PG_CATCH block: switches to context,
 * copies the error there and leaves the process as its next round expects
 * it: error state flushed, the files the failed step had open closed, its
 * wait event ended.  The caller then undoes its own state, logs the copy
 * (revrx_log_caught_error) and frees it.
 */
ErrorData *
revrx_recover_caught_error(MemoryContext context)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	FlushErrorState();
	AtEOXact_Files(false);
	pgstat_report_wait_end();
	return edata;
}

/*
 * guarded
 *
 * Runs one housekeeping step; an ERROR in it is logged (once a minute if
 * it repeats) instead of ending the worker, and the step is tried again
 * on the next round.
 */
static void
guarded(void (*fn) (void), const char *what)
{
	PG_TRY();
	{
		fn();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		edata = revrx_recover_caught_error(worker_context);
		ConditionVariableCancelSleep();
		LWLockReleaseAll();

		revrx_log_caught_error(&housekeeping_errors, "revrx backup worker", what, edata);
		FreeErrorData(edata);
		MemoryContextSwitchTo(tick_context);
	}
	PG_END_TRY();
}

/* SIGTERM: see the file header. */
static volatile sig_atomic_t shutdown_requested = false;
static volatile sig_atomic_t backup_running = false;

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	if (backup_running)
		die(postgres_signal_arg);
	SetLatch(MyLatch);
	errno = save_errno;
}

void
revrx_worker_main(Datum main_arg)
{
	pid_t		other;
	int			abandoned;

	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	/* no database: only for pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	if (!revrx_backup_state_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revrx must be loaded via \"shared_preload_libraries\"")));
	if (!revrx_backup_worker_attach(&other))
	{
		ereport(LOG,
				(errmsg("revrx backup worker is already running under PID %d",
						(int) other)));
		return;
	}
	before_shmem_exit(worker_exit, (Datum) 0);

	worker_context = AllocSetContextCreate(TopMemoryContext, "revrx worker",
										   ALLOCSET_DEFAULT_SIZES);
	tick_context = AllocSetContextCreate(worker_context, "revrx worker round",
										 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(tick_context);

	/* a worker that exited (not a crash: that empties the table) */
	abandoned = revrx_backup_abandon_running("the revrx backup worker exited during the backup");
	if (abandoned > 0)
		ereport(LOG,
				(errmsg("revrx backup worker found %d backup(s) left running by its predecessor and marked them aborted",
						abandoned)));

	pgstat_report_activity(STATE_IDLE, NULL);
	ereport(DEBUG1, (errmsg_internal("revrx backup worker started")));
	guarded(remove_prefetched_wal, "remove the WAL segments fetched ahead of recovery");

	for (;;)
	{
		long		timeout = MAX_SLEEP_MS;
		int			slot;
		RevrxBackupEntry e;
		RevrxBackupEntry active;

		MemoryContextReset(tick_context);

		/*
		 * pg_cancel_backend() cancels the backup being taken (the exporter
		 * fails it); one that arrives between backups has nothing to cancel.
		 */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (shutdown_requested)
		{
			ereport(DEBUG1, (errmsg_internal("revrx backup worker shutting down")));
			proc_exit(1);
		}

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		guarded(recover_spool, "settle the spool's leftover backups");
		guarded(watch_shipping, "follow the backups being shipped");
		schedule_timeout_ms = MAX_SLEEP_MS;
		guarded(check_schedule, "take a scheduled backup");
		timeout = schedule_timeout_ms;
		guarded(publish_server_status, "publish the archiver's backlog");
		timeout = Min(timeout, RVX_SERVER_STATUS_SECS * 1000L);

		if (revrx_backup_take_request(&slot, &e))
		{
			backup_running = true;
			if (shutdown_requested)
				die(SIGTERM);	/* it came in between: the backup fails at once */
			run_backup(slot, &e);
			backup_running = false;
			continue;
		}

		if (revrx_backup_active(&active) && active.status == REVRX_BACKUP_SHIPPING)
			timeout = Min(timeout, SHIPPING_POLL_MS);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * worker_exit
 *
 * before_shmem_exit callback: a backup cut short by the worker's exit is
 * aborted (do_pg_abort_backup, registered later, has already run).
 */
static void
worker_exit(int code, Datum arg)
{
	if (current_slot >= 0)
	{
		const char *why = "the revrx backup worker stopped during the backup (server shutdown, pg_terminate_backend() or a fatal error)";

		if (current_job != NULL && current_job->dir_created)
			(void) revrx_backup_write_marker(current_spool, current_id,
											 RVX_SPOOL_ABORTED_SUFFIX, why, LOG);
		revrx_backup_finish(current_slot, REVRX_BACKUP_ABORTED, why);
		ereport(LOG,
				(errmsg("revrx backup %s aborted: %s", current_id, why)));
		current_slot = -1;
	}
	revrx_backup_worker_detach();
}

/* ------------------------------------------------------------- a backup */

/*
 * run_backup
 *
 * Takes the backup of shared entry slot; the error boundary around
 * revrx_backup_export().
 */
static void
run_backup(int slot, const RevrxBackupEntry *e)
{
	RevrxBackupJob *job;
	MemoryContext backup_context;

	backup_context = AllocSetContextCreate(worker_context, "revrx backup",
										   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(backup_context);

	job = palloc0(sizeof(RevrxBackupJob));
	job->slot = slot;
	strlcpy(job->id, e->id, sizeof(job->id));
	job->label = e->has_label ? pstrdup(e->label) : NULL;
	job->scheduled = e->scheduled;
	job->requested_by = e->requested_by[0] ? pstrdup(e->requested_by) : NULL;
	job->incremental = e->incremental;
	job->start_time = e->start_time;

	current_slot = slot;
	strlcpy(current_id, e->id, sizeof(current_id));
	strlcpy(current_spool, revrx_spool_dir ? revrx_spool_dir : "", sizeof(current_spool));
	current_job = job;

	PG_TRY();
	{
		revrx_fingerprint_settle_before(job->id);
		revrx_backup_export(job);
		current_slot = -1;
		revrx_fingerprint_launch(job->id);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		char	   *why;

		/* the exporter's PG_ENSURE_ERROR_CLEANUP ended the backup mode */
		MemoryContextSwitchTo(worker_context);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AtEOXact_Files(false);
		ConditionVariableCancelSleep();
		LWLockReleaseAll();
		pgstat_report_wait_end();

		why = psprintf("%s", edata->message);
		if (job->dir_created)
			(void) revrx_backup_write_marker(current_spool, job->id,
											 RVX_SPOOL_ABORTED_SUFFIX, why, LOG);
		revrx_backup_finish(slot, REVRX_BACKUP_FAILED, why);
		ereport(LOG,
				(errmsg("revrx backup %s failed: %s", job->id, why)));
		current_slot = -1;
		FreeErrorData(edata);
		pfree(why);
	}
	PG_END_TRY();

	current_job = NULL;
	MemoryContextSwitchTo(tick_context);
	MemoryContextDelete(backup_context);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* ------------------------------------------------------ the spool's state */

/* A revrx_walk_files visitor that ends the walk at the first file. */
static bool
stop_at_file(const char *path, const char *name, const struct stat *st, void *arg)
{
	return false;
}

/* Whether a backup directory holds any object or temporary file. */
static bool
holds_files(const char *dirpath)
{
	return !revrx_walk_files(dirpath, LOG, stop_at_file, NULL);
}

/*
 * read_agent_error
 *
 * The message of <id>.error, and whether it is permanent; NULL if there is
 * none (or it cannot be parsed yet).
 */
static char *
read_agent_error(const char *path, bool *permanent)
{
	char	   *text;
	long long	when;
	const char *message;

	text = revrx_read_small_file(path, RVX_SPOOL_NOTE_MAX, NULL);
	if (text == NULL)
		return NULL;
	if (rvx_spool_error_parse(text, permanent, &when, &message) != 0)
		return NULL;
	return pstrdup(message);
}

/*
 * recover_spool
 *
 * Settles the backups an earlier worker (or server) left in the spool;
 * see the file header.  Runs once per value of revrx.spool_dir.
 */
static void
recover_spool(void)
{
	char		dirpath[MAXPGPATH];
	DIR		   *dir;
	struct dirent *de;
	List	   *names = NIL;
	ListCell   *lc;
	const char *spool = revrx_spool_dir;

	if (spool == NULL || spool[0] == '\0' || strcmp(spool, recovered_spool) == 0)
		return;

	snprintf(dirpath, MAXPGPATH, "%s/%s", spool, RVX_SPOOL_BACKUP_DIR);
	dir = AllocateDir(dirpath);
	if (dir == NULL)
	{
		if (errno == ENOENT && revrx_file_exists(spool))
		{
			/* no backup was ever spooled here */
			strlcpy(recovered_spool, spool, MAXPGPATH);
			return;
		}
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", dirpath)));
	}
	while ((de = ReadDir(dir, dirpath)) != NULL)
		names = lappend(names, pstrdup(de->d_name));
	FreeDir(dir);

	/* first the backup directories */
	foreach(lc, names)
	{
		const char *id = (const char *) lfirst(lc);
		char		path[MAXPGPATH];
		char		json[MAXPGPATH];
		char		ok[MAXPGPATH];
		char		error[MAXPGPATH];
		struct stat sb;
		RevrxBackupEntry known;
		char	   *agent_error;
		bool		permanent = false;

		if (!revrx_backup_id_valid(id))
			continue;
		snprintf(path, MAXPGPATH, "%s/%s", dirpath, id);
		if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
			continue;
		if (revrx_backup_lookup(id, &known) && REVRX_BACKUP_IS_ACTIVE(known.status))
			continue;			/* ours, and still followed */

		snprintf(json, MAXPGPATH, "%s/backup.json%s", path, RVX_SPOOL_READY_SUFFIX);
		snprintf(ok, MAXPGPATH, "%s/%s%s", dirpath, id, RVX_SPOOL_OK_SUFFIX);
		snprintf(error, MAXPGPATH, "%s/%s%s", dirpath, id, RVX_SPOOL_ERROR_SUFFIX);

		/* the order of the checks matters: see the agent's order of steps */
		if (revrx_file_exists(json))
		{
			(void) revrx_backup_recovered(id, REVRX_BACKUP_SHIPPING, "");
			ereport(LOG,
					(errmsg("revrx backup %s was exported before the worker restarted; waiting for revrx-agent to store it",
							id)));
			continue;
		}
		if (revrx_file_exists(ok))
			continue;			/* stored; the agent removes the directory */
		{
			char		aborted[MAXPGPATH];
			char	   *reason;

			snprintf(aborted, MAXPGPATH, "%s/%s%s", dirpath, id, RVX_SPOOL_ABORTED_SUFFIX);
			if (revrx_file_exists(aborted))
			{
				/* already given up (the agent cleans up); shown until then */
				if (!revrx_backup_lookup(id, &known))
				{
					reason = revrx_read_small_file(aborted, RVX_SPOOL_NOTE_MAX, NULL);
					if (reason != NULL)
						reason[strcspn(reason, "\n")] = '\0';
					(void) revrx_backup_recovered(id, REVRX_BACKUP_ABORTED,
												  reason ? reason : "aborted");
				}
				continue;
			}
		}

		/*
		 * Nothing left to ship and no answer yet: the agent may have just
		 * stored backup.json and not yet written .ok.  Give it a moment.
		 */
		if (!holds_files(path))
		{
			pg_usleep(1000000L);
			if (revrx_file_exists(ok) || !revrx_file_exists(path))
				continue;
		}

		agent_error = read_agent_error(error, &permanent);
		if (agent_error != NULL && permanent)
		{
			char	   *why = psprintf("revrx-agent could not store it: %s", agent_error);

			if (revrx_backup_write_marker(spool, id, RVX_SPOOL_ABORTED_SUFFIX, why, ERROR))
				revrx_unlink_if_exists(error);
			(void) revrx_backup_recovered(id, REVRX_BACKUP_FAILED, why);
			ereport(LOG,
					(errmsg("revrx backup %s failed: %s", id, why)));
			continue;
		}

		{
			const char *why = "found incomplete when the revrx backup worker started: the server or the worker stopped during the backup";

			(void) revrx_backup_write_marker(spool, id, RVX_SPOOL_ABORTED_SUFFIX, why, ERROR);
			(void) revrx_backup_recovered(id, REVRX_BACKUP_ABORTED, why);
			ereport(LOG,
					(errmsg("revrx backup %s was aborted: %s", id, why)));
		}
	}

	/* then answers nobody will read: for backups no longer followed */
	foreach(lc, names)
	{
		char		name[MAXPGPATH];
		char		path[MAXPGPATH];
		char		dirp[MAXPGPATH];
		bool		is_ok;
		RevrxBackupEntry known;

		strlcpy(name, (const char *) lfirst(lc), MAXPGPATH);
		is_ok = strlen(name) > strlen(RVX_SPOOL_OK_SUFFIX) &&
			strcmp(name + strlen(name) - strlen(RVX_SPOOL_OK_SUFFIX), RVX_SPOOL_OK_SUFFIX) == 0;
		if (!is_ok)
			continue;
		snprintf(path, MAXPGPATH, "%s/%s", dirpath, name);
		name[strlen(name) - strlen(RVX_SPOOL_OK_SUFFIX)] = '\0';
		if (!revrx_backup_id_valid(name))
			continue;
		if (revrx_backup_lookup(name, &known) && REVRX_BACKUP_IS_ACTIVE(known.status))
			continue;
		snprintf(dirp, MAXPGPATH, "%s/%s", dirpath, name);
		if (revrx_file_exists(dirp))
			continue;			/* the agent is still cleaning up */
		revrx_unlink_if_exists(path);
	}

	strlcpy(recovered_spool, spool, MAXPGPATH);
}

/*
 * watch_shipping
 *
 * Looks for the agent's answer about each backup being shipped.
 */
static void
watch_shipping(void)
{
	RevrxBackupEntry entries[REVRX_BACKUP_HISTORY];
	int			n;
	const char *spool = revrx_spool_dir;

	if (spool == NULL || spool[0] == '\0')
		return;

	n = revrx_backup_list(entries, REVRX_BACKUP_HISTORY);
	for (int i = 0; i < n; i++)
	{
		RevrxBackupEntry *e = &entries[i];
		char		dirpath[MAXPGPATH];
		char		ok[MAXPGPATH];
		char		error[MAXPGPATH];
		char	   *text;
		char	   *agent_error;
		bool		permanent = false;

		if (e->status != REVRX_BACKUP_SHIPPING)
			continue;

		snprintf(dirpath, MAXPGPATH, "%s/%s/%s", spool, RVX_SPOOL_BACKUP_DIR, e->id);
		snprintf(ok, MAXPGPATH, "%s%s", dirpath, RVX_SPOOL_OK_SUFFIX);
		snprintf(error, MAXPGPATH, "%s%s", dirpath, RVX_SPOOL_ERROR_SUFFIX);

		text = revrx_read_small_file(ok, RVX_SPOOL_NOTE_MAX, NULL);
		if (text == NULL && errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", ok)));
		if (text != NULL)
		{
			uint8		sha[RVX_SHA256_LEN];
			char		hex[RVX_SHA256_HEXLEN + 1];

			if (strlen(text) < RVX_SHA256_HEXLEN ||
				(memcpy(hex, text, RVX_SHA256_HEXLEN), hex[RVX_SHA256_HEXLEN] = '\0',
				 rvx_hex_decode(hex, sha, RVX_SHA256_LEN) != 0))
			{
				revrx_backup_set_note(e->slot, psprintf("\"%s\" is malformed", ok));
				continue;		/* torn, or not ours: not an answer */
			}
			if (e->backup_json_sha[0] != '\0' &&
				pg_strcasecmp(hex, e->backup_json_sha) != 0)
			{
				revrx_backup_set_note(e->slot,
									  psprintf("\"%s\" acknowledges other content than the backup.json written", ok));
				continue;
			}
			revrx_backup_finish(e->slot, REVRX_BACKUP_COMPLETE, NULL);
			revrx_unlink_if_exists(ok);
			revrx_unlink_if_exists(error);
			ereport(LOG,
					(errmsg("revrx backup %s is complete: revrx-agent stored it in the repository",
							e->id)));
			continue;
		}

		agent_error = read_agent_error(error, &permanent);
		if (agent_error != NULL)
		{
			if (permanent)
			{
				char	   *why = psprintf("revrx-agent could not store it: %s", agent_error);

				(void) revrx_backup_write_marker(spool, e->id, RVX_SPOOL_ABORTED_SUFFIX,
												 why, ERROR);
				revrx_unlink_if_exists(error);
				revrx_backup_finish(e->slot, REVRX_BACKUP_FAILED, why);
				ereport(LOG,
						(errmsg("revrx backup %s failed: %s", e->id, why)));
				continue;
			}
			/* transient: shown meanwhile, the agent retries */
			if (strcmp(e->error, agent_error) != 0)
				revrx_backup_set_note(e->slot, agent_error);
		}

		/* gone without an answer (.ok is looked for again: it comes first) */
		if (!revrx_file_exists(dirpath) && !revrx_file_exists(ok))
		{
			const char *why = "its spool directory disappeared before revrx-agent acknowledged it";

			revrx_backup_finish(e->slot, REVRX_BACKUP_FAILED, why);
			ereport(LOG,
					(errmsg("revrx backup %s failed: %s", e->id, why)));
		}
	}
}

/* ------------------------------------------------------------- schedule */

/*
 * run_schedule
 *
 * Requests a scheduled backup of one kind when one is due, and shortens
 * schedule_timeout_ms to wake up for the next one.  A due time that passed
 * while the worker was busy (or that finds another backup active, such as
 * the full one due at the same time) is skipped and logged, as cron would
 * skip it.
 */
static void
run_schedule(Schedule *sch, const RevrxCron *cron, const char *text, pg_time_t now)
{
	if (sch->text == NULL || strcmp(sch->text, text) != 0)
	{
		if (sch->text)
			pfree(sch->text);
		sch->text = MemoryContextStrdup(worker_context, text);
		sch->on = (cron != NULL) && revrx_cron_next(cron, now, session_timezone, &sch->next_due);
		if (sch->on)
		{
			char		buf[128];

			pg_strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M %Z",
						pg_localtime(&sch->next_due, session_timezone));
			ereport(LOG,
					(errmsg("revrx takes scheduled %s backups at \"%s\"; the next one at %s",
							sch->what, text, buf)));
		}
		else if (cron != NULL)
			ereport(LOG,
					(errmsg("revrx %s backup schedule \"%s\" does not fire in the next years",
							sch->what, text)));
	}
	if (!sch->on)
		return;

	if (now >= sch->next_due)
	{
		char		when[128];

		pg_strftime(when, sizeof(when), "%Y-%m-%d %H:%M %Z",
					pg_localtime(&sch->next_due, session_timezone));

		if (now - sch->next_due >= 60)
			ereport(LOG,
					(errmsg("revrx skipped the scheduled %s backup of %s: the backup worker was busy",
							sch->what, when)));
		else if (revrx_spool_dir == NULL || revrx_spool_dir[0] == '\0')
			ereport(LOG,
					(errmsg("revrx skipped the scheduled %s backup of %s: revrx.spool_dir is not set",
							sch->what, when)));
		else if (!XLogArchivingActive())
			ereport(LOG,
					(errmsg("revrx skipped the scheduled %s backup of %s: WAL archiving is not enabled",
							sch->what, when)));
		else
		{
			RevrxBackupEntry created;
			RevrxBackupEntry busy;

			if (revrx_backup_request(NULL, true, sch->incremental, NULL, revrx_spool_dir,
									 &created, &busy))
				ereport(LOG,
						(errmsg("revrx scheduled %s backup %s requested", sch->what, created.id)));
			else
				ereport(LOG,
						(errmsg("revrx skipped the scheduled %s backup of %s: backup %s is still active",
								sch->what, when, busy.id)));
		}
		sch->on = revrx_cron_next(cron, now, session_timezone, &sch->next_due);
		if (!sch->on)
			return;
	}

	schedule_timeout_ms = Min(schedule_timeout_ms, (long) Max(sch->next_due - now, 1) * 1000L);
}

/* The full schedule first: when both are due, the full backup is taken. */
static void
check_schedule(void)
{
	pg_time_t	now = (pg_time_t) time(NULL);

	run_schedule(&full_schedule, revrx_backup_cron,
				 revrx_backup_schedule ? revrx_backup_schedule : "", now);
	run_schedule(&incremental_schedule, revrx_backup_cron_incremental,
				 revrx_backup_schedule_incremental ? revrx_backup_schedule_incremental : "", now);
}

/*
 * publish_server_status
 *
 * Writes server.json (see the file header) when RVX_SERVER_STATUS_SECS
 * have passed.  Only into a spool that exists: creating it is the
 * archiver's business (and a missing one is an error it reports).
 */
static void
publish_server_status(void)
{
	pg_time_t	now = (pg_time_t) time(NULL);
	char		path[MAXPGPATH];
	char		text[256];
	struct stat st;
	int64		count;
	int64		bytes;

	if (revrx_spool_dir == NULL || revrx_spool_dir[0] == '\0' ||
		now - server_status_at < RVX_SERVER_STATUS_SECS ||
		stat(revrx_spool_dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return;
	server_status_at = now;
	revrx_wal_ready_count(&count, &bytes);
	snprintf(text, sizeof(text),
			 "{\"format\":1,\"updated_at\":" INT64_FORMAT ",\"wal_ready_files\":" INT64_FORMAT
			 ",\"wal_ready_bytes\":" INT64_FORMAT "}\n",
			 (int64) now, count, bytes);
	snprintf(path, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_SERVER_FILE);
	revrx_write_file_durably(path, text, strlen(text));
}
