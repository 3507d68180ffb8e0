/*-------------------------------------------------------------------------
 *
 * backup_state.h
 *	  The table of backups started since the server started, in shared
 *	  memory (backup_state.c), and the shape of a backup id.
 *
 * Its lock rules are in shmem.h; every access goes through the functions
 * below, which copy entries in and out.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_BACKUP_STATE_H
#define REVRX_BACKUP_STATE_H

#include <sys/types.h>

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

#include "shmem.h"

/*
 * Backup ids: "YYYYMMDDTHHMMSSZ" of the start time in UTC, with "-N"
 * appended when that id is taken (docs/backup-format.md).
 */
#define REVRX_BACKUP_ID_LEN		32	/* room for any id we make, with NUL */
#define REVRX_BACKUP_LABEL_MAX	200 /* bytes of a label, in UTF-8 */
#define REVRX_BACKUP_HISTORY	16	/* backups remembered since start */
#define REVRX_PROBLEMS_LEN		2048	/* JSON text of the first problems */

typedef enum RevrxBackupStatus
{
	REVRX_BACKUP_FREE = 0,		/* slot unused */
	REVRX_BACKUP_REQUESTED,		/* waiting for the worker */
	REVRX_BACKUP_RUNNING,		/* being exported */
	REVRX_BACKUP_SHIPPING,		/* exported; waiting for the agent's .ok */
	REVRX_BACKUP_COMPLETE,		/* stored in the repository */
	REVRX_BACKUP_FAILED,		/* an error ended it */
	REVRX_BACKUP_ABORTED,		/* stopped (worker stopped or found half done) */
} RevrxBackupStatus;

typedef enum RevrxBackupPhase
{
	REVRX_PHASE_NONE = 0,
	REVRX_PHASE_CHECKPOINT,		/* do_pg_backup_start: waiting for a checkpoint */
	REVRX_PHASE_COPYING,		/* reading and spooling files */
	REVRX_PHASE_SPOOL_FULL,		/* waiting for the agent to make room */
	REVRX_PHASE_STOPPING,		/* do_pg_backup_stop: waiting for WAL archiving */
	REVRX_PHASE_COMMITTING,		/* writing backup_manifest and backup.json */
	REVRX_PHASE_SHIPPING,		/* waiting for the agent */
} RevrxBackupPhase;

#define REVRX_BACKUP_IS_ACTIVE(s) \
	((s) == REVRX_BACKUP_REQUESTED || (s) == REVRX_BACKUP_RUNNING || \
	 (s) == REVRX_BACKUP_SHIPPING)

typedef struct RevrxBackupEntry
{
	uint64		seq;			/* creation order; 0 for a free slot */
	int			slot;			/* its index in the table */
	RevrxBackupStatus status;
	RevrxBackupPhase phase;
	char		id[REVRX_BACKUP_ID_LEN];
	bool		has_label;
	char		label[REVRX_BACKUP_LABEL_MAX + 1];	/* UTF-8 */
	bool		scheduled;
	/*
	 * The session user of revrx_backup_now() in UTF-8 (a name grows at most
	 * 4 times in the conversion); "" for a scheduled backup.
	 */
	char		requested_by[NAMEDATALEN * 4];
	bool		incremental;	/* asked for; the exporter may fall back to full */
	char		parent[REVRX_BACKUP_ID_LEN];	/* "" for a full backup */
	TimeLineID	timeline;		/* 0 until known */
	XLogRecPtr	start_lsn;		/* InvalidXLogRecPtr until known */
	XLogRecPtr	stop_lsn;
	TimestampTz start_time;		/* 0 until known */
	TimestampTz stop_time;
	int64		original_bytes;
	int64		stored_bytes;
	int64		file_count;
	int32		problem_count;
	/* JSON array of the first problems that fit; "" if not known */
	char		problems[REVRX_PROBLEMS_LEN];
	/* SHA-256 (hex) of backup.json as written; "" if not known */
	char		backup_json_sha[65];
	char		error[REVRX_ERROR_LEN]; /* "" if none */
} RevrxBackupEntry;

/* Shared memory (see the lock rules in shmem.h) */
extern Size revrx_backup_shmem_size(void);
extern void revrx_backup_shmem_request(void);
extern void revrx_backup_shmem_init(void);
extern bool revrx_backup_state_available(void);

/*
 * Claims a new entry (status requested) for a backup starting now, with an
 * id not used by any remembered backup, by the catalog or in the spool.
 * Returns false, with a copy of the active entry in *busy, if a backup is
 * already active.  Wakes the worker.  label may be NULL; spool_dir is
 * where taken ids are looked for ("" = nowhere).
 */
extern bool revrx_backup_request(const char *label, bool scheduled, bool incremental,
								 const char *requested_by, const char *spool_dir,
								 RevrxBackupEntry *created,
								 RevrxBackupEntry *busy);
/* A copy of the entry with this id; false if none is remembered. */
extern bool revrx_backup_lookup(const char *id, RevrxBackupEntry *out);
/* Copies of every used entry, oldest first; returns how many (<= max). */
extern int	revrx_backup_list(RevrxBackupEntry *out, int max);
/* The active entry, if any. */
extern bool revrx_backup_active(RevrxBackupEntry *out);
/* Sleeps on the condition variable (at most timeout_ms); see ConditionVariableTimedSleep. */
extern void revrx_backup_wait_for_change(long timeout_ms);
/* Pid of the running worker, 0 if none. */
extern pid_t revrx_backup_worker_pid(void);

/* Worker side; slot numbers come from revrx_backup_take_request(). */
extern bool revrx_backup_worker_attach(pid_t *other);
extern void revrx_backup_worker_detach(void);
extern bool revrx_backup_take_request(int *slot, RevrxBackupEntry *out);
extern void revrx_backup_set_phase(int slot, RevrxBackupPhase phase);
extern void revrx_backup_set_start(int slot, TimeLineID tli, XLogRecPtr start_lsn);
extern void revrx_backup_set_progress(int slot, int64 files, int64 original_bytes,
									  int64 stored_bytes, int32 problem_count,
									  const char *problems);
extern void revrx_backup_set_stop(int slot, XLogRecPtr stop_lsn, TimestampTz stop_time);
extern void revrx_backup_set_shipping(int slot, const char *backup_json_sha);
extern void revrx_backup_set_note(int slot, const char *message);
extern void revrx_backup_finish(int slot, RevrxBackupStatus status, const char *error);
/* Records a backup found in the spool at worker start; returns its slot or -1. */
extern int	revrx_backup_recovered(const char *id, RevrxBackupStatus status,
								   const char *error);
/* Fails every entry left running by an earlier worker; returns how many. */
extern int	revrx_backup_abandon_running(const char *error);

/* Whether s has the shape of a backup id (so it is safe in a path). */
extern bool revrx_backup_id_valid(const char *s);

#endif							/* REVRX_BACKUP_STATE_H */
