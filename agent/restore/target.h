/*-------------------------------------------------------------------------
 *
 * target.h
 *	  Point-in-time recovery targets: parsing them, choosing the backup to
 *	  start from, and refusing what the repository cannot reach (see
 *	  docs/pitr.md for the user's view).
 *
 * A target says where PostgreSQL's recovery stops: a time, an LSN, a
 * transaction id, a named restore point, or "immediate" (as soon as the
 * backup is consistent).  restore.c writes it into postgresql.auto.conf as
 * recovery_target_*; PostgreSQL does the stopping.  What the agent adds is
 * what PostgreSQL cannot know before it has replayed for hours:
 *	- whether the backup ends at or before the target.  Recovery cannot
 *	  stop before the backup is consistent, so a backup that ends after the
 *	  target would silently recover past it (or fail at the very end);
 *	  without --backup the newest backup that ends at or before the target
 *	  is chosen, with --backup one that ends after it is refused;
 *	- whether the repository holds WAL up to the target at all: a target
 *	  before the end of the oldest backup, or after the last archived WAL,
 *	  is refused with the reachable range in the message.
 * Every check happens before restore changes anything.
 *
 * Values are validated up front and normalised: a time is parsed (by
 * base/timefmt.c, to compare it with backup times) and written back in a form PostgreSQL
 * accepts whatever the server's TimeZone ("YYYY-MM-DD HH:MM:SS.ffffff+00").
 *
 * The parsing, formatting and comparison functions (target.c) are pure
 * (no I/O) so unit tests can call them; rvx_target_plan() (target_plan.c)
 * is the part that reads the repository.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_TARGET_H
#define RVX_AGENT_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "base/timefmt.h"
#include "info/catalog.h"
#include "info/repo_meta.h"
#include "spool.h"				/* RVX_RESTORE_POINT_PREFIX */
#include "storage/repo.h"

typedef enum RvxTargetKind
{
	RVX_TARGET_NONE = 0,		/* replay to the end of the archive */
	RVX_TARGET_IMMEDIATE,		/* stop as soon as the backup is consistent */
	RVX_TARGET_TIME,
	RVX_TARGET_LSN,
	RVX_TARGET_XID,
	RVX_TARGET_NAME,
} RvxTargetKind;

typedef enum RvxTargetAction
{
	RVX_TARGET_ACTION_PROMOTE = 0,	/* PostgreSQL's recovery_target_action values */
	RVX_TARGET_ACTION_PAUSE,
	RVX_TARGET_ACTION_SHUTDOWN,
} RvxTargetAction;

/* Longest restore point name PostgreSQL accepts (MAXFNAMELEN - 1). */
#define RVX_RESTORE_POINT_NAME_MAX	63

/*
 * A recovery target as the operator gave it, validated.  All zeroes (or
 * RVX_TARGET_INIT) is "no target": replay everything, promote, latest
 * timeline.
 */
typedef struct RvxRecoveryTarget
{
	RvxTargetKind kind;
	const char *value;			/* as given; for NAME the restore point's name */
	int64_t		time_us;		/* TIME: microseconds since 1970-01-01 00:00 UTC */
	uint64_t	lsn;			/* LSN */
	uint64_t	xid;			/* XID: 64-bit when epoch-qualified, else 32-bit */
	bool		exclusive;		/* stop just before the target (time, lsn, xid) */
	RvxTargetAction action;
	const char *timeline;		/* NULL (= "latest"), "latest", "current" or a number */
} RvxRecoveryTarget;

#define RVX_TARGET_INIT {RVX_TARGET_NONE, NULL, 0, 0, 0, false, RVX_TARGET_ACTION_PROMOTE, NULL}

/* --target-time / --target-lsn / ... values.  Each returns 0 or -1 (RVX_E_USAGE). */
extern int	rvx_target_parse_time(const char *text, int64_t *us, RvxError *err);
extern int	rvx_target_parse_lsn(const char *text, uint64_t *lsn, RvxError *err);
extern int	rvx_target_parse_xid(const char *text, uint64_t *xid, RvxError *err);

/*
 * Sets the target's kind and value (value must outlive t); refuses a
 * second target kind and a value that does not parse.  "immediate" is the
 * only value --target accepts.
 */
extern int	rvx_target_set(RvxRecoveryTarget *t, RvxTargetKind kind, const char *value,
						   RvxError *err);
extern int	rvx_target_set_action(RvxRecoveryTarget *t, const char *value, RvxError *err);
extern int	rvx_target_set_timeline(RvxRecoveryTarget *t, const char *value, RvxError *err);
/* The checks that need the whole set of options (--target-exclusive, ...). */
extern int	rvx_target_check(const RvxRecoveryTarget *t, RvxError *err);

/*
 * The checks restore and verify make once their options are read: the
 * --backup value (NULL, "latest" or a backup id) and rvx_target_check.
 * Returns 0, or -1 with RVX_E_USAGE.
 */
extern int	rvx_target_check_backup(const char *backup_id, const RvxRecoveryTarget *t,
									RvxError *err);

/*
 * The target options restore and verify share: --target-time, --target-lsn,
 * --target-name, --target-xid, --target immediate, --target-action,
 * --target-timeline and --target-exclusive (as "--opt value" or
 * "--opt=value") at argv[*i].  Returns 1 when it took the option (moving *i
 * past a separate value), 0 when argv[*i] is not one of them, -1 with
 * RVX_E_USAGE for a bad or missing value.
 */
extern int	rvx_target_option(RvxRecoveryTarget *t, int argc, char **argv, int *i,
							  RvxError *err);

/* "0/3000028" (cap >= 20) */
extern void rvx_target_format_lsn(uint64_t lsn, char *out, size_t cap);
/* The target for messages: "time 2026-11-26 10:00:00.000000+00", "xid 1234"... */
extern void rvx_target_describe(const RvxRecoveryTarget *t, char *out, size_t cap);

/*
 * The postgresql.auto.conf lines for the target (recovery_target_*,
 * recovery_target_inclusive, recovery_target_action,
 * recovery_target_timeline), each ending in a newline; "" is never
 * returned: the timeline line is always there.  -1 if cap is too small.
 */
extern int	rvx_target_conf(const RvxRecoveryTarget *t, char *out, size_t cap);

/* Where a backup ends, from its record (backup.json). */
typedef struct RvxBackupEnd
{
	char		id[RVX_BACKUP_ID_MAXLEN + 1];
	uint32_t	timeline;
	uint64_t	stop_lsn;
	/*
	 * The latest instant the backup may have ended: a stop_time in whole
	 * seconds ("...:03Z") was truncated, so it is taken as ...:03.999999.
	 */
	int64_t		stop_time_us;
	bool		has_next_xid;	/* records older than "next_xid" lack it */
	uint64_t	next_xid;		/* FullTransactionId next at the backup's end */
} RvxBackupEnd;

extern int	rvx_backup_end_from_record(const json_t *record, RvxBackupEnd *out, RvxError *err);

/*
 * Can recovery from backup b stop at target t?  1 yes (b ends at or before
 * it), 0 no, -1 unknown (an xid target and a record without next_xid).
 * For NAME, point_lsn is the restore point's LSN (0: not recorded, 1).
 */
extern int	rvx_target_reachable_from(const RvxRecoveryTarget *t, uint64_t point_lsn,
									  const RvxBackupEnd *b);

/* What the repository can reach: from the end of its oldest backup to its last WAL. */
typedef struct RvxReach
{
	bool		has_backup;
	uint64_t	first_lsn;		/* stop_lsn of the oldest complete backup */
	int64_t		first_time_us;	/* its stop_time (as in RvxBackupEnd) */
	bool		has_wal;
	uint64_t	last_lsn;		/* end of the last WAL segment stored */
	int64_t		last_time_us;	/* the newest segment's store time, rounded up */
} RvxReach;

/*
 * Refuses (RVX_E_USAGE) a time or LSN target (or a restore point's LSN:
 * point_lsn, for NAME) outside r, naming the reachable range.
 */
extern int	rvx_target_check_reach(const RvxRecoveryTarget *t, uint64_t point_lsn,
								   const RvxReach *r, RvxError *err);

/* What rvx_target_plan decided. */
typedef struct RvxTargetPlan
{
	char		backup_id[RVX_BACKUP_ID_MAXLEN + 1];	/* "" = not chosen here */
	bool		point_found;	/* NAME: the restore point is recorded */
	uint64_t	point_lsn;
	char		point_time[64];
	RvxReach	reach;
} RvxTargetPlan;

/*
 * Chooses the backup for target t and checks the target against what the
 * repository holds (see the banner).  want is --backup (NULL: choose).
 * Without a target, or with "immediate", nothing is checked and
 * plan->backup_id is "" (the caller takes want, or the newest).
 */
extern int	rvx_target_plan(RvxRepo *repo, const RvxClusterInfo *ci, const RvxRecoveryTarget *t,
							const char *want, RvxTargetPlan *plan, RvxError *err);

#endif							/* RVX_AGENT_TARGET_H */
