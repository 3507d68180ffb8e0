/*-------------------------------------------------------------------------
 *
 * schedule.h
 *	  Which kind of work a free worker of `revrx-agent run` takes next.
 *
 * WAL comes first: the archiver may be waiting for the segment, and with
 * it the whole database (archive_timeout).  But not exclusively, or a busy
 * archive would starve a backup forever, and a backup of large files
 * would hold every worker for minutes:
 *	- when both wait, at most RVX_WAL_STREAK WAL items are taken in a row
 *	  before a backup item;
 *	- backup objects occupy at most parallel - 1 workers (all of them
 *	  when parallel is 1), so one is always free for WAL;
 *	- a backup's control jobs (commit, abort, catalog) are short and go
 *	  before its objects.
 * A pure function, so the policy can be tested without threads.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_SCHEDULE_H
#define RVX_AGENT_SCHEDULE_H

#include <stdbool.h>

#define RVX_WAL_STREAK	3

typedef enum RvxWorkKind
{
	RVX_WORK_NONE = 0,
	RVX_WORK_WAL,
	RVX_WORK_CONTROL,			/* a commit, an abort, a catalog refresh */
	RVX_WORK_OBJECT,			/* one object of a backup */
} RvxWorkKind;

typedef struct RvxScheduleState
{
	bool		wal_waiting;	/* a WAL item is queued */
	bool		control_waiting;
	bool		object_waiting;
	int			objects_busy;	/* workers on backup objects now */
	int			parallel;		/* workers in all */
	int			wal_streak;		/* WAL items taken in a row while backup work waited */
} RvxScheduleState;

/* The next kind of work; updates s->wal_streak. */
extern RvxWorkKind rvx_schedule_next(RvxScheduleState *s);

#endif							/* RVX_AGENT_SCHEDULE_H */
