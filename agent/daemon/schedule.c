/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  The order in which `revrx-agent run` takes work (see schedule.h).
 *
 *-------------------------------------------------------------------------
 */
#include "daemon/schedule.h"

RvxWorkKind
rvx_schedule_next(RvxScheduleState *s)
{
	int			object_limit = s->parallel > 1 ? s->parallel - 1 : 1;
	bool		object_ok = s->object_waiting && s->objects_busy < object_limit;
	bool		backup_waiting = s->control_waiting || object_ok;

	if (s->wal_waiting && (!backup_waiting || s->wal_streak < RVX_WAL_STREAK))
	{
		s->wal_streak = backup_waiting ? s->wal_streak + 1 : 0;
		return RVX_WORK_WAL;
	}
	s->wal_streak = 0;
	if (s->control_waiting)
		return RVX_WORK_CONTROL;
	if (object_ok)
		return RVX_WORK_OBJECT;
	return RVX_WORK_NONE;
}
