/*-------------------------------------------------------------------------
 *
 * daemon_int.h
 *	  What the files of the daemon (`revrx-agent run`) share: its state,
 *	  RunState, the work queue's items and the workers.  Not for other
 *	  callers: they use daemon.h.
 *
 * One lock, RunState.lock, guards everything in RunState but the catalog
 * (which has its own) and the configuration (read-only).  A function that
 * says "caller holds the lock" must be called with it.  Whoever drops the
 * lock looks its Pending up again afterwards: workers remove items.  Only
 * the main thread adds or removes backups, so it alone may keep a
 * SpooledBackup across an unlock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_DAEMON_INT_H
#define RVX_AGENT_DAEMON_INT_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "info/catalog.h"
#include "info/repo_meta.h"
#include "base/error.h"
#include "storage/repo.h"
#include "daemon/wal_progress.h"
#include "walname.h"

/* An acknowledgement nobody picked up is removed after this long. */
#define OK_FILE_MAX_AGE_S	900
/* Backoff for an object whose shipping failed. */
#define RETRY_MIN_MS		500
#define RETRY_MAX_MS		30000
/* How often status/agent.json is rewritten. */
#define STATUS_PERIOD_MS	1000
/* Objects of one backup queued by one look at its directory. */
#define BACKUP_BATCH		2048
/* How often status/backups.json is rebuilt from the repository (default). */
#define CATALOG_RETRY_S		30
#define META_RETRY_S		5	/* after a transient failure to store meta/ */
#define META_LOOK_S			1	/* between looks at meta/ */
#define AUDIT_LOOK_S		10	/* between looks for pending audit records */
#define AUDIT_RETRY_S		15	/* after a failure to store them */
/*
 * Between catalog refreshes, how often the drill reports of the newest
 * DRILLS_BACKUPS backups are looked for, so a drill shows up in
 * status/verifications.json within seconds of its end.
 */
#define DRILLS_PERIOD_S		10
#define DRILLS_BACKUPS		3
/* How often a backup waiting for its WAL checks again. */
#define COMMIT_WAIT_MS		1000

typedef struct Pending
{
	char		name[RVX_WALNAME_MAXLEN + 1];
	bool		inflight;		/* a worker has it */
	bool		queued;			/* waiting for a worker */
	bool		seen;			/* still in the spool at the last scan */
	int			failures;
	double		next_try;		/* not before this time (epoch seconds) */
	double		written_at;		/* when the server wrote it (its mtime) */
} Pending;

typedef enum JobKind
{
	JOB_NONE = 0,
	JOB_WAL,					/* a Pending item */
	JOB_OBJECT,					/* one object of a backup */
	JOB_COMMIT,					/* store a backup's record */
	JOB_ABORT,					/* remove an aborted backup */
	JOB_CATALOG,				/* rebuild status/backups.json */
	JOB_META,					/* store the documents in meta/ */
	JOB_AUDIT,					/* store the pending audit records of stored backups */
	JOB_DRILLS,					/* look for new restore drill reports */
} JobKind;

/* A unit of backup work; relpath only for JOB_OBJECT. */
typedef struct BackupJob
{
	struct BackupJob *next;
	JobKind		kind;
	char		id[RVX_BACKUP_ID_MAXLEN + 1];
	char		relpath[];
} BackupJob;

/* What the scheduler knows of one backup in the spool. */
typedef struct SpooledBackup
{
	char		id[RVX_BACKUP_ID_MAXLEN + 1];
	bool		seen;			/* at the last look at the spool */
	bool		aborted;		/* the server wrote <id>.aborted */
	int			queued;			/* object jobs waiting for a worker */
	int			inflight;		/* jobs a worker is doing */
	bool		control;		/* its commit or abort is queued or running */
	int			failures;		/* in a row, for the backoff */
	double		next_try;		/* no new work for it before this time */
	uint64_t	files_left;		/* objects in the spool at the last look */
	char		waiting_for[256];	/* what its last commit attempt missed */
} SpooledBackup;

typedef struct RunState
{
	RvxConfig  *cfg;
	RvxClusterInfo cluster;

	pthread_mutex_t lock;
	pthread_cond_t work;
	Pending    *items;			/* everything in the spool we know of */
	size_t		nitems;
	size_t		cap;

	/* status, under lock */
	double		started_at;
	char		last_stored[RVX_WALNAME_MAXLEN + 1];
	double		last_stored_at;
	/* the recovery point: the end of the stored WAL recovery can reach */
	RvxWalProgress *progress;
	char		newest_wal[RVX_WALNAME_MAXLEN + 1];
	uint64_t	newest_wal_end;
	double		newest_wal_written_at;
	bool		status_dirty;	/* it moved: status/agent.json is rewritten at once */
	uint64_t	stored_total;
	uint64_t	stored_bytes;
	uint64_t	errors_total;
	char		last_error[1024];
	double		last_error_at;
	bool		repo_ok;
	uint64_t	backlog_files;
	uint64_t	backlog_bytes;

	/* backups, under lock */
	SpooledBackup *backups;
	size_t		nbackups;
	size_t		backups_cap;
	BackupJob  *obj_head;		/* objects to ship, in the order found */
	BackupJob  *obj_tail;
	BackupJob  *ctl_head;		/* commits, aborts, catalog refreshes */
	BackupJob  *ctl_tail;
	int			backup_busy;	/* workers on backup objects */
	int			wal_streak;		/* WAL items taken in a row while backup work waited */
	bool		catalog_queued;
	double		last_catalog;
	bool		meta_queued;
	bool		audit_queued;
	double		audit_next_try;
	double		meta_next_try;
	double		catalog_period;	/* seconds between refreshes (REVRX_CATALOG_REFRESH_S) */
	bool		drills_queued;
	double		last_drills;
	uint64_t	backups_committed;
	struct Worker *workers;
	RvxCatalog *catalog;		/* has its own lock */
} RunState;

typedef struct Worker
{
	RunState   *rs;
	pthread_t	thread;
	int			id;
	RvxRepo    *repo;			/* opened on first use, reopened after network errors */
	char		current[PATH_MAX];	/* "<id>/<relpath>" of the backup object in hand */
} Worker;

/* Set by SIGTERM or SIGINT: every loop of the daemon ends. */
extern volatile sig_atomic_t daemon_stop_requested;

/* daemon.c: what every file of the daemon uses */
extern void daemon_sleep_ms(int ms);	/* cut short by a stop */
extern void daemon_note_error(RunState *rs, const RvxError *err);	/* caller holds the lock */
extern double daemon_retry_delay_s(int failures);	/* backoff, with jitter */

/* queue.c: the work queue.  Caller holds the lock. */
extern Pending *daemon_find_item(RunState *rs, const char *name);
extern Pending *daemon_add_item(RunState *rs, const char *name);	/* NULL: out of memory */
extern void daemon_remove_item(RunState *rs, Pending *p);
extern SpooledBackup *daemon_find_backup(RunState *rs, const char *id);
extern SpooledBackup *daemon_add_backup(RunState *rs, const char *id);	/* NULL: out of memory */
extern BackupJob *daemon_new_job(JobKind kind, const char *id, const char *relpath);
extern void daemon_push_job(BackupJob **head, BackupJob **tail, BackupJob *job);
extern BackupJob *daemon_pop_job(BackupJob **head, BackupJob **tail);
/* Forgets the queued objects of one backup. */
extern void daemon_drop_queued_objects(RunState *rs, SpooledBackup *sb);
/* Queues a commit, abort (of sb) or catalog, meta or audit job (sb NULL). */
extern void daemon_queue_control(RunState *rs, JobKind kind, SpooledBackup *sb);
/* Queues a look for new drill reports. */
extern void daemon_queue_drills(RunState *rs);
/* Chooses the next job (policy: schedule.h): *wal or *job is set. */
extern JobKind daemon_pick_job(RunState *rs, Pending **wal, BackupJob **job);
/* Queues the catalog's or the drills' refresh when it is due. */
extern void daemon_queue_refresh(RunState *rs, double now);

/* worker.c: a worker thread's start routine, arg a Worker */
extern void *daemon_worker_main(void *arg);

/* spool_scan.c: the main thread's looks at the spool; they take the lock */
extern void daemon_scan_spool(RunState *rs);	/* queue new WAL, count the backlog */
extern void daemon_scan_backups(RunState *rs);	/* queue the work of each backup */
/* Queue the storing of meta/ documents and pending audit records, if any. */
extern void daemon_scan_documents(RunState *rs, double now);

/* status.c */
extern void daemon_write_status(RunState *rs);	/* status/agent.json; takes the lock */
/* Marks every spooled WAL file with err, so the server reports it. */
extern void daemon_report_to_spool(RunState *rs, const RvxError *err);
/* The recovery point moved.  Caller holds the lock. */
extern void daemon_publish_point(RunState *rs);

/* bind.c: before the workers start */
/* Waits until the repository accepts the spool's cluster; false: asked to stop. */
extern bool daemon_bind_repository(RunState *rs);
/* With REVRX_S3_OBJECT_LOCK_DAYS, whether audit records can be stored; false: stop. */
extern bool daemon_check_object_lock(RunState *rs);

#endif							/* RVX_AGENT_DAEMON_INT_H */
