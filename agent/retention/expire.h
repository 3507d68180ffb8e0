/*-------------------------------------------------------------------------
 *
 * expire.h
 *	  Deleting what the retention policy no longer needs, and the
 *	  repository objects that coordinate it with shipping: leases and pins.
 *
 * Used by `revrx-agent expire` (cmd_expire.c) and by the daemon's periodic
 * run (daemon/); the rules are in retention.h and docs/retention.md.
 *
 * Coordination lives in the repository, so that an expire on another host
 * is as safe as one beside the daemon:
 *
 *	- A lease, locks/backup-<id>.json, is stored by the agent before the
 *	  first object of backup <id> (ship_backup.c) and removed after its
 *	  record is stored or its abort is cleaned up.  It holds
 *	  {"format","id","start_wal","started_at","host","pid"}, where
 *	  start_wal is a segment at or before the backup's own start_wal (the
 *	  agent cannot know that one before backup.json; it records the start
 *	  of the newest complete backup, which ended before this one began),
 *	  or null when there is none (then all WAL is kept).  Expire never
 *	  deletes anything below backup/<id>/ of a leased id, nor WAL from the
 *	  oldest lease's start_wal on.  A lease older than
 *	  RVX_LEASE_STALE_S is reported but still honoured.
 *	- A pin, backup/<id>/pinned, is a small object (common/object.h, so it
 *	  is encrypted like everything else) whose presence keeps a complete
 *	  backup forever.
 *
 * Audit records (audit.h) follow their own rule, not the backups': one is
 * deleted only once it is older than opts->audit_retention_days, by the
 * time its key names; a key that names no time is kept.
 *
 * Order of deletion, so that a crash anywhere leaves a consistent
 * repository that the next run finishes: for each backup its record
 * (backup.json) first, so it stops being listed or restorable at once,
 * then its other objects; then leftovers of earlier runs; WAL last.  Keys
 * below backup/<id>/ without a record and without a lease whose id is
 * older than RVX_EXPIRE_GRACE_S are such leftovers (or of an aborted
 * backup whose cleanup never ran); younger ones are left alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_EXPIRE_H
#define RVX_AGENT_EXPIRE_H

#include <signal.h>
#include <stdio.h>

#include "config/config.h"
#include "info/catalog.h"
#include "storage/repo.h"
#include "retention/retention.h"

#define RVX_LEASE_PREFIX		"locks/backup-"
/* A lease this old is reported (and still honoured). */
#define RVX_LEASE_STALE_S		(7 * RVX_SECONDS_PER_DAY)
/* Objects of an id without record or lease are deleted once the id is this old. */
#define RVX_EXPIRE_GRACE_S		(1 * RVX_SECONDS_PER_DAY)

typedef struct RvxExpireOptions
{
	RvxRetentionPolicy policy;
	/* audit records younger than this are never deleted; <= 0: the default (audit.h) */
	int			audit_retention_days;
	int64_t		now;			/* seconds since the epoch: ages are taken as of then */
	bool		dry_run;		/* decide and report, delete nothing */
	FILE	   *out;			/* the report, one line per decision; NULL: the log */
	const volatile sig_atomic_t *cancel;	/* stop between deletions once non-zero */
} RvxExpireOptions;

typedef struct RvxExpireResult
{
	size_t		backups_kept;
	size_t		backups_deleted;	/* expired backups */
	size_t		leftovers_deleted;	/* incomplete ones without lease */
	uint64_t	objects_deleted;
	uint64_t	wal_deleted;
	size_t		leases;
	size_t		stale_leases;
	uint64_t	audit_deleted;	/* audit records older than their retention */
	bool		audit_failed;	/* the run's own audit record could not be written */
} RvxExpireResult;

/* Options from the REVRX_RETAIN_* settings, ages as of now, report to the log. */
extern void rvx_expire_options_from_config(const RvxConfig *cfg, RvxExpireOptions *opts);

/*
 * One run: decide, report, and (unless dry_run) delete.  A run that is not
 * a dry run appends an audit record of what it deleted, or of its failure
 * (res->audit_failed if that record could not be written; the run's own
 * result is unchanged).
 */
extern int	rvx_expire_run(RvxRepo *repo, const RvxExpireOptions *opts,
						   RvxExpireResult *res, RvxError *err);

/* What the periodic expire needs: not the daemon's state. */
typedef struct RvxExpireLoop
{
	const RvxConfig *cfg;
	RvxCatalog *catalog;		/* republished after each run */
	const volatile sig_atomic_t *stop;	/* the loop ends once it is non-zero */
} RvxExpireLoop;

/*
 * The periodic expire of `revrx-agent run` (REVRX_EXPIRE_INTERVAL_S): a
 * thread's start routine, arg an RvxExpireLoop.  Returns NULL once stop
 * is set.
 */
extern void *rvx_expire_loop(void *arg);

/*
 * Stores the lease of backup id (see above) unless one is there already
 * (an earlier, more conservative one is kept).  tmp_dir is where an
 * encrypted copy may be made.
 */
extern int	rvx_lease_acquire(RvxRepo *repo, const char *id, uint64_t system_id,
							  const char *tmp_dir, RvxError *err);
/* Removes it; a missing lease is fine. */
extern int	rvx_lease_release(RvxRepo *repo, const char *id, RvxError *err);

/* Pins (pinned true) or unpins complete backup id. */
extern int	rvx_backup_pin(RvxRepo *repo, const char *id, bool pinned, RvxError *err);
/* 1 when backup id is pinned, 0 when not, -1 on error. */
extern int	rvx_backup_is_pinned(RvxRepo *repo, const char *id, RvxError *err);

#endif							/* RVX_AGENT_EXPIRE_H */
