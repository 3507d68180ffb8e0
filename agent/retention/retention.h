/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  The retention policy as a pure function: which backups a repository
 *	  keeps, and from which WAL segment on it keeps WAL.
 *
 * No I/O happens here: expire.c reads the repository, describes every
 * complete backup with an RvxRetainBackup, asks this module, and deletes
 * what it says.  That keeps the rules (docs/retention.md) testable with
 * plain arrays (tests/unit/retention/test_retention.c).
 *
 * A backup is retained when any of these holds, checked in this order so
 * that the reason reported is the strongest one:
 *	 - it is pinned;
 *	 - its age, now minus its recorded stop_time, is within the days of its
 *	   policy: labelled manual backups REVRX_RETAIN_LABELLED_DAYS, scheduled
 *	   backups and unlabelled manual ones REVRX_RETAIN_SCHEDULED_DAYS;
 *	 - it is one of the REVRX_RETAIN_MIN_FULL newest full backups (newest
 *	   by stop_time, never by id);
 *	 - its stop_time is unknown (a record without one: never guess an age);
 *	 - a retained backup depends on it through "parent", transitively.
 * Everything else expires.
 *
 * WAL: every segment from the start_wal of the oldest retained backup on
 * is kept, on every timeline (compared by segment number, the position in
 * the WAL stream, not by name), and so is everything from the floor of
 * any lease (a backup being shipped).  With no retained backup there is
 * no bound, and no WAL is deleted: nothing would anchor the window.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_RETENTION_H
#define RVX_AGENT_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RVX_SECONDS_PER_DAY		INT64_C(86400)

typedef struct RvxRetentionPolicy
{
	int			scheduled_days; /* REVRX_RETAIN_SCHEDULED_DAYS */
	int			labelled_days;	/* REVRX_RETAIN_LABELLED_DAYS */
	int			min_full;		/* REVRX_RETAIN_MIN_FULL */
} RvxRetentionPolicy;

/* Why a backup is kept; RVX_RETAIN_NONE means it expires. */
typedef enum RvxRetainReason
{
	RVX_RETAIN_NONE = 0,
	RVX_RETAIN_PINNED,
	RVX_RETAIN_AGE,
	RVX_RETAIN_MIN_FULL,
	RVX_RETAIN_UNKNOWN_AGE,
	RVX_RETAIN_PARENT,
} RvxRetainReason;

/* One complete backup, as the policy sees it. */
typedef struct RvxRetainBackup
{
	const char *id;
	bool		full;			/* "kind": "full" (or no kind: every older backup is full) */
	const char *parent;			/* id of the backup it depends on; NULL for none */
	bool		scheduled;		/* taken by revrx.backup_schedule */
	bool		labelled;		/* a manual backup with a label */
	bool		has_stop_time;
	int64_t		stop_time;		/* seconds since the epoch */
	bool		pinned;
	uint64_t	start_segno;	/* segment number of start_wal */

	/* set by rvx_retention_apply */
	RvxRetainReason reason;
	const char *needed_by;		/* RVX_RETAIN_PARENT: the retained backup that needs it */
} RvxRetainBackup;

/*
 * Decides for every backup of b[0..n) (any order): sets reason (and
 * needed_by).  now is in seconds since the epoch.  Returns how many are
 * retained.
 */
extern size_t rvx_retention_apply(const RvxRetentionPolicy *policy, int64_t now,
								  RvxRetainBackup *b, size_t n);

/*
 * The first segment number whose WAL must be kept: the lowest start_segno
 * of a retained backup and of the lease floors (floors[0..nfloors)).
 * Returns false when there is no bound (no retained backup): then no WAL
 * may be deleted.  *oldest (if not NULL) is set to the retained backup
 * whose start is the bound, or NULL when a lease floor is lower.
 */
extern bool rvx_retention_wal_bound(const RvxRetainBackup *b, size_t n,
									const uint64_t *floors, size_t nfloors,
									uint64_t *bound, const RvxRetainBackup **oldest);

/* The days of the policy that applies to b. */
extern int	rvx_retention_days(const RvxRetentionPolicy *policy, const RvxRetainBackup *b);

/*
 * One line saying why b is kept or expires, e.g. "labelled manual backup,
 * 95 days old, older than 90 days (REVRX_RETAIN_LABELLED_DAYS)".
 */
extern void rvx_retention_explain(const RvxRetentionPolicy *policy, int64_t now,
								  const RvxRetainBackup *b, char *out, size_t cap);

/*
 * Segment number of a WAL file name (segment, .partial or .backup: its
 * first 24 characters), for segments of seg_size bytes.  False if name is
 * not one.
 */
extern bool rvx_retention_segno(const char *name, uint64_t seg_size, uint64_t *segno);

#endif							/* RVX_AGENT_RETENTION_H */
