/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The daemon's work queue: the WAL files in the spool (Pending), the
 *	  backups in the spool (SpooledBackup) and their jobs (BackupJob), and
 *	  the choice of a free worker's next job.
 *
 * The main thread fills the queue (spool_scan.c, daemon.c), the workers
 * empty it (worker.c).  Everything here runs with RunState.lock held and
 * neither blocks nor does I/O, so the lock is only ever held briefly.  The
 * queue is memory only: the spool is the state, and a restarted agent
 * rebuilds the queue from it.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon_int.h"
#include "daemon/schedule.h"

/*
 * The array arr, n of *cap elements of size bytes used, with room for one
 * more: arr itself, or a larger copy (capacity doubled, first at first)
 * and *cap updated.  NULL when out of memory; arr is then unchanged.
 */
static void *
room_for_one(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t		ncap = *cap ? *cap * 2 : first;
	void	   *grown;

	if (n < *cap)
		return arr;
	if ((grown = realloc(arr, ncap * size)) != NULL)
		*cap = ncap;
	return grown;
}

/* Caller holds the lock. */
Pending *
daemon_find_item(RunState *rs, const char *name)
{
	for (size_t i = 0; i < rs->nitems; i++)
		if (strcmp(rs->items[i].name, name) == 0)
			return &rs->items[i];
	return NULL;
}

/* Caller holds the lock. */
Pending *
daemon_add_item(RunState *rs, const char *name)
{
	Pending    *items = room_for_one(rs->items, &rs->cap, rs->nitems, sizeof(Pending), 64);
	Pending    *p;

	if (items == NULL)
		return NULL;
	rs->items = items;
	p = &rs->items[rs->nitems++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

/* Caller holds the lock. */
void
daemon_remove_item(RunState *rs, Pending *p)
{
	size_t		i = (size_t) (p - rs->items);

	memmove(&rs->items[i], &rs->items[i + 1], (rs->nitems - i - 1) * sizeof(Pending));
	rs->nitems--;
}

/*
 * Picks the oldest queued item (WAL names sort by age within a timeline;
 * history files sort before segments, which is what recovery wants first).
 * Caller holds the lock.
 */
static Pending *
next_queued(RunState *rs)
{
	Pending    *best = NULL;

	for (size_t i = 0; i < rs->nitems; i++)
	{
		Pending    *p = &rs->items[i];

		if (p->queued && !p->inflight &&
			(best == NULL || strcmp(p->name, best->name) < 0))
			best = p;
	}
	return best;
}

/* Caller holds the lock. */
SpooledBackup *
daemon_find_backup(RunState *rs, const char *id)
{
	for (size_t i = 0; i < rs->nbackups; i++)
		if (strcmp(rs->backups[i].id, id) == 0)
			return &rs->backups[i];
	return NULL;
}

/* Caller holds the lock. */
SpooledBackup *
daemon_add_backup(RunState *rs, const char *id)
{
	SpooledBackup *backups = room_for_one(rs->backups, &rs->backups_cap, rs->nbackups,
										  sizeof(SpooledBackup), 8);
	SpooledBackup *sb;

	if (backups == NULL)
		return NULL;
	rs->backups = backups;
	sb = &rs->backups[rs->nbackups++];
	memset(sb, 0, sizeof(*sb));
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	return sb;
}

BackupJob *
daemon_new_job(JobKind kind, const char *id, const char *relpath)
{
	size_t		len = relpath ? strlen(relpath) + 1 : 1;
	BackupJob  *job = calloc(1, sizeof(BackupJob) + len);

	if (job == NULL)
		return NULL;
	job->kind = kind;
	snprintf(job->id, sizeof(job->id), "%s", id);
	if (relpath)
		memcpy(job->relpath, relpath, len);
	return job;
}

/* Caller holds the lock. */
void
daemon_push_job(BackupJob **head, BackupJob **tail, BackupJob *job)
{
	job->next = NULL;
	if (*tail)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

/* Caller holds the lock. */
BackupJob *
daemon_pop_job(BackupJob **head, BackupJob **tail)
{
	BackupJob  *job = *head;

	if (job)
	{
		*head = job->next;
		if (*head == NULL)
			*tail = NULL;
	}
	return job;
}

/* Forgets the queued objects of one backup.  Caller holds the lock. */
void
daemon_drop_queued_objects(RunState *rs, SpooledBackup *sb)
{
	BackupJob **link = &rs->obj_head;

	rs->obj_tail = NULL;
	while (*link)
	{
		BackupJob  *job = *link;

		if (strcmp(job->id, sb->id) == 0)
		{
			*link = job->next;
			free(job);
			continue;
		}
		rs->obj_tail = job;
		link = &job->next;
	}
	sb->queued = 0;
}

/* Queues a commit, abort or catalog job (id "" for the catalog).  Caller holds the lock. */
void
daemon_queue_control(RunState *rs, JobKind kind, SpooledBackup *sb)
{
	BackupJob  *job = daemon_new_job(kind, sb ? sb->id : "", NULL);

	if (job == NULL)
		return;					/* tried again at the next look */
	if (sb)
		sb->control = true;
	else if (kind == JOB_META)
		rs->meta_queued = true;
	else if (kind == JOB_AUDIT)
		rs->audit_queued = true;
	else
		rs->catalog_queued = true;
	daemon_push_job(&rs->ctl_head, &rs->ctl_tail, job);
	pthread_cond_broadcast(&rs->work);
}

/* Queues a look for new drill reports.  Caller holds the lock. */
void
daemon_queue_drills(RunState *rs)
{
	BackupJob  *job = daemon_new_job(JOB_DRILLS, "", NULL);

	if (job == NULL)
		return;
	rs->drills_queued = true;
	daemon_push_job(&rs->ctl_head, &rs->ctl_tail, job);
	pthread_cond_broadcast(&rs->work);
}

/* Chooses the next job (policy: schedule.h).  Caller holds the lock. */
JobKind
daemon_pick_job(RunState *rs, Pending **wal, BackupJob **job)
{
	Pending    *p = next_queued(rs);
	RvxScheduleState s = {
		.wal_waiting = p != NULL,
		.control_waiting = rs->ctl_head != NULL,
		.object_waiting = rs->obj_head != NULL,
		.objects_busy = rs->backup_busy,
		.parallel = rs->cfg->parallel,
		.wal_streak = rs->wal_streak,
	};
	RvxWorkKind kind = rvx_schedule_next(&s);

	rs->wal_streak = s.wal_streak;
	switch (kind)
	{
		case RVX_WORK_WAL:
			*wal = p;
			return JOB_WAL;
		case RVX_WORK_CONTROL:
			*job = daemon_pop_job(&rs->ctl_head, &rs->ctl_tail);
			return (*job)->kind;
		case RVX_WORK_OBJECT:
			*job = daemon_pop_job(&rs->obj_head, &rs->obj_tail);
			rs->backup_busy++;
			return JOB_OBJECT;
		case RVX_WORK_NONE:
			break;
	}
	return JOB_NONE;
}

/*
 * Queues the refresh of the catalog when its period is over, else a look
 * for new drills when DRILLS_PERIOD_S is (a catalog refresh looks for
 * drills too).  Caller holds the lock.
 */
void
daemon_queue_refresh(RunState *rs, double now)
{
	if (!rs->catalog_queued && now - rs->last_catalog >= rs->catalog_period)
		daemon_queue_control(rs, JOB_CATALOG, NULL);
	else if (!rs->catalog_queued && !rs->drills_queued && now - rs->last_drills >= DRILLS_PERIOD_S)
		daemon_queue_drills(rs);
}
