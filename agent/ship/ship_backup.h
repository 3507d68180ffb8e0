/*-------------------------------------------------------------------------
 *
 * ship_backup.h
 *	  Shipping a base backup from the spool: the per-item work of
 *	  `revrx-agent run` for <spool>/backup/<id>/ (daemon/ decides what to
 *	  do and when).  The contract is docs/backup-format.md.
 *
 * A backup reaches the repository in three kinds of step, each idempotent
 * and safe to interrupt anywhere:
 *
 *	- rvx_ship_backup_object() stores one spooled object under its key and
 *	  then deletes it from the spool (that is what lets the server spool
 *	  more: its back-pressure counts the bytes left in the spool).
 *	- rvx_ship_backup_commit() stores the record, backup.json, which makes
 *	  the backup complete.  It does so only when nothing else of the backup
 *	  is left in the spool, every file the record lists is in the
 *	  repository, and so is every WAL segment from start_wal to stop_wal;
 *	  otherwise it says what it is waiting for and changes nothing.  Then it
 *	  publishes the catalog, writes backup/<id>.ok durably and removes the
 *	  spool directory.
 *	- rvx_ship_backup_abort() undoes a backup the server gave up on
 *	  (backup/<id>.aborted): it deletes what was stored of it, unless its
 *	  record is already there (then it is complete and stays), then the
 *	  spool directory, then the marker.
 *
 * Before the first object of a backup, its lease (locks/backup-<id>.json,
 * expire.h) is stored, so that `revrx-agent expire`, on any host, keeps
 * the backup's objects and the WAL it needs; the commit removes it after
 * the record is stored (before the .ok), the abort after the cleanup (or,
 * for a backup whose record is stored, after recording it as complete).
 * Once the record is stored no error fails the backup on the server: all
 * are reported as transient, and the audit record is waited for only so
 * long (rvx_ship_backup_set_audit_bound()).
 *
 * Crashing between any two steps at most repeats a step: storing identical
 * content again is a no-op, and no object is deleted from the spool before
 * the repository confirmed it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_SHIP_BACKUP_H
#define RVX_AGENT_SHIP_BACKUP_H

#include "info/catalog.h"
#include "storage/repo.h"
#include "info/repo_meta.h"
#include "ship/ship.h"
#include "walname.h"

/* What is left of one backup in the spool. */
typedef struct RvxBackupScan
{
	uint64_t	objects;		/* "*.rvx" other than the record */
	uint64_t	temporary;		/* "*.tmp": the server is still writing */
	bool		has_record;		/* backup.json.rvx */
	bool		exists;			/* the directory exists at all */
} RvxBackupScan;

/*
 * Called for each object to ship: relpath is its path below backup/<id>/
 * without ".rvx" (e.g. "data/base/5/16384").  Returns 0 to go on, 1 to stop
 * reporting objects (they are still counted), -1 to fail the scan.
 */
typedef int (*RvxBackupObjectFn) (void *arg, const char *relpath);

/* Looks at <spool>/backup/<id>/; fn may be NULL. */
extern int	rvx_backup_spool_scan(const char *spool_dir, const char *id,
								  RvxBackupObjectFn fn, void *arg, RvxBackupScan *scan,
								  RvxError *err);

/*
 * Stores <spool>/backup/<id>/<relpath>.rvx as
 * backup/<id>/<relpath><compression suffix>, then deletes it from the spool.
 * A spool file that is gone is RVX_E_NOTFOUND (someone else finished it).
 */
extern int	rvx_ship_backup_object(RvxRepo *repo, const char *spool_dir, const char *id,
								   const char *relpath, const RvxClusterInfo *cluster,
								   RvxStoreResult *res, RvxError *err);

typedef struct RvxBackupCommit
{
	bool		committed;		/* false: waiting, see waiting_for */
	char		waiting_for[256];	/* what is missing, for the log */
	uint64_t	stored_bytes;
	bool		audit_pending;	/* acknowledged, its audit record queued (see below) */
} RvxBackupCommit;

/* Where stored backups wait for their audit record, below the spool. */
#define RVX_AUDIT_PENDING_DIR	"status/audit-pending"

/*
 * How long (seconds, from the first failure this process saw) the audit
 * record of a stored backup may fail before the backup is acknowledged
 * anyway, with its record queued in RVX_AUDIT_PENDING_DIR and an "AUDIT
 * FAILURE" logged (REVRX_AUDIT_PENDING_AFTER_S; 0 = at the first failure).
 * Until then the commit fails with a transient error and is repeated.
 */
extern void rvx_ship_backup_set_audit_bound(int seconds);

/*
 * Tries to store every queued audit record; *left is how many still wait.
 * Returns -1 (err says why) if any failed.
 */
extern int	rvx_ship_backup_audit_retry(RvxRepo *repo, const char *spool_dir,
										const RvxClusterInfo *cluster, int *left,
										RvxError *err);

/* How many audit records are queued. */
extern int	rvx_ship_backup_audit_pending(const char *spool_dir);

/*
 * Commits backup id (see above).  Returns 0 either way when nothing went
 * wrong: res->committed says whether it happened.  catalog may be NULL.
 */
extern int	rvx_ship_backup_commit(RvxRepo *repo, const char *spool_dir, const char *id,
								   const RvxClusterInfo *cluster, RvxCatalog *catalog,
								   RvxBackupCommit *res, RvxError *err);

/*
 * Removes the leftover (empty) directory of a backup whose .ok exists: the
 * last step of a commit that was interrupted.
 */
extern void rvx_backup_spool_tidy(const char *spool_dir, const char *id);

/*
 * Undoes an aborted backup (see above); the marker goes last.  Its audit
 * record names cluster's system identifier and the server's reason (with
 * anything like a credential redacted).
 */
extern int	rvx_ship_backup_abort(RvxRepo *repo, const char *spool_dir, const char *id,
								  const RvxClusterInfo *cluster, RvxError *err);

/* Writes <spool>/backup/<id>.error for the server (rvx_spool_error_format). */
extern void rvx_ship_backup_record_error(const char *spool_dir, const char *id,
										 const RvxError *error);

#endif							/* RVX_AGENT_SHIP_BACKUP_H */
