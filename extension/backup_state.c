/*-------------------------------------------------------------------------
 *
 * backup_state.c
 *	  What the server knows about backups since it started: the shared
 *	  table of recent backups, the request hand-off between the SQL
 *	  functions and the backup worker, and the choice of backup ids.
 *
 * The lock rules are in shmem.h.  In short: one LWLock protects the whole
 * table; every function here holds it only to copy an entry in or out;
 * at most one entry is active (requested, running or shipping), which is
 * how a second revrx_backup_now() learns that it must refuse; and every
 * status change is broadcast on a condition variable.
 *
 * A request is a table entry in state "requested": the backend (or the
 * worker, for a scheduled backup) creates it and sets the worker's latch,
 * the worker turns it into "running" when it starts the export.  So a
 * request made while the worker is restarting simply waits for it, and
 * a request can never be lost between a backend and the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <time.h>

#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgtime.h"
#include "storage/condition_variable.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "backup_state.h"
#include "catalog.h"
#include "fileutil.h"
#include "spool.h"

#define REVRX_LWLOCK_TRANCHE	"revrx"

typedef struct RevrxBackupShared
{
	LWLock	   *lock;
	ConditionVariable cv;
	pid_t		worker_pid;		/* 0 when no worker runs */
	Latch	   *worker_latch;	/* its latch, NULL when none */
	uint64		next_seq;
	RevrxBackupEntry entries[REVRX_BACKUP_HISTORY];
} RevrxBackupShared;

static RevrxBackupShared *bstate = NULL;

Size
revrx_backup_shmem_size(void)
{
	return MAXALIGN(sizeof(RevrxBackupShared));
}

/* Called from the shmem_request_hook. */
void
revrx_backup_shmem_request(void)
{
	RequestAddinShmemSpace(revrx_backup_shmem_size());
	RequestNamedLWLockTranche(REVRX_LWLOCK_TRANCHE, 1);
}

/* Called from the shmem_startup_hook, with AddinShmemInitLock held. */
void
revrx_backup_shmem_init(void)
{
	bool		found;

	bstate = ShmemInitStruct("revrx backups", sizeof(RevrxBackupShared), &found);
	if (!found)
	{
		memset(bstate, 0, sizeof(RevrxBackupShared));
		bstate->lock = &(GetNamedLWLockTranche(REVRX_LWLOCK_TRANCHE))->lock;
		ConditionVariableInit(&bstate->cv);
		bstate->next_seq = 1;
	}
}

bool
revrx_backup_state_available(void)
{
	return bstate != NULL;
}

/* ------------------------------------------------------------------ ids */

bool
revrx_backup_id_valid(const char *s)
{
	size_t		len = strlen(s);

	if (len < 16 || len >= REVRX_BACKUP_ID_LEN)
		return false;
	for (int i = 0; i < 16; i++)
	{
		if (i == 8 ? s[i] != 'T' : i == 15 ? s[i] != 'Z' :
			!(s[i] >= '0' && s[i] <= '9'))
			return false;
	}
	for (size_t i = 16; i < len; i++)
	{
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
			  (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return false;
	}
	return true;
}

/*
 * Ids that exist outside our table: in the agent's catalog and in the
 * spool's backup/ directory (backups being shipped or cleaned up, and
 * their markers).  Best effort: what cannot be read is not there.
 */
static List *
taken_ids(const char *spool_dir)
{
	List	   *ids = NIL;
	RevrxCatalogEntry *cat;
	int			n;
	char		dirpath[MAXPGPATH];
	DIR		   *dir;
	struct dirent *de;

	if (spool_dir == NULL || spool_dir[0] == '\0')
		return NIL;

	n = revrx_catalog_read(spool_dir, &cat);
	for (int i = 0; i < n; i++)
		ids = lappend(ids, cat[i].id);

	snprintf(dirpath, MAXPGPATH, "%s/%s", spool_dir, RVX_SPOOL_BACKUP_DIR);
	dir = AllocateDir(dirpath);
	while ((de = ReadDirExtended(dir, dirpath, DEBUG1)) != NULL)
	{
		char		name[MAXPGPATH];
		static const char *const suffixes[] = {
			".ok", ".error", ".aborted", ".tmp"
		};

		strlcpy(name, de->d_name, sizeof(name));
		for (int i = 0; i < lengthof(suffixes); i++)
		{
			while (revrx_has_suffix(name, suffixes[i]))
				name[strlen(name) - strlen(suffixes[i])] = '\0';
		}
		if (revrx_backup_id_valid(name))
			ids = lappend(ids, pstrdup(name));
	}
	if (dir != NULL)
		FreeDir(dir);
	return ids;
}

static bool
id_in_list(List *ids, const char *id)
{
	ListCell   *lc;

	foreach(lc, ids)
	{
		if (strcmp((const char *) lfirst(lc), id) == 0)
			return true;
	}
	return false;
}

/* Caller holds the lock. */
static bool
id_in_table(const char *id)
{
	for (int i = 0; i < REVRX_BACKUP_HISTORY; i++)
	{
		if (bstate->entries[i].seq != 0 && strcmp(bstate->entries[i].id, id) == 0)
			return true;
	}
	return false;
}

/* Caller holds the lock exclusively; -1 if every slot is active. */
static int
free_slot(void)
{
	int			best = -1;

	for (int i = 0; i < REVRX_BACKUP_HISTORY; i++)
	{
		RevrxBackupEntry *e = &bstate->entries[i];

		if (e->seq == 0)
			return i;
		if (REVRX_BACKUP_IS_ACTIVE(e->status))
			continue;
		if (best < 0 || e->seq < bstate->entries[best].seq)
			best = i;
	}
	return best;
}

/* Caller holds the lock; -1 if none. */
static int
active_slot(void)
{
	for (int i = 0; i < REVRX_BACKUP_HISTORY; i++)
	{
		if (bstate->entries[i].seq != 0 &&
			REVRX_BACKUP_IS_ACTIVE(bstate->entries[i].status))
			return i;
	}
	return -1;
}

static void
wake_worker_and_waiters(Latch *latch)
{
	ConditionVariableBroadcast(&bstate->cv);
	if (latch != NULL)
		SetLatch(latch);
}

/* ------------------------------------------------------------ requests */

bool
revrx_backup_request(const char *label, bool scheduled, bool incremental,
					 const char *requested_by, const char *spool_dir,
					 RevrxBackupEntry *created, RevrxBackupEntry *busy)
{
	List	   *taken;
	TimestampTz now;
	pg_time_t	secs;
	struct pg_tm *tm;
	char		base[REVRX_BACKUP_ID_LEN];
	char		id[REVRX_BACKUP_ID_LEN];
	int			slot;
	int			act;
	Latch	   *latch;
	RevrxBackupEntry *e;

	Assert(bstate != NULL);

	/* Refuse early, before reading files, when the answer is known. */
	if (revrx_backup_active(busy))
		return false;

	taken = taken_ids(spool_dir);

	now = GetCurrentTimestamp();
	secs = timestamptz_to_time_t(now);
	tm = pg_gmtime(&secs);
	snprintf(base, sizeof(base), "%04d%02d%02dT%02d%02d%02dZ",
			 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
			 tm->tm_hour, tm->tm_min, tm->tm_sec);

	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);

	act = active_slot();
	if (act >= 0)
	{
		memcpy(busy, &bstate->entries[act], sizeof(RevrxBackupEntry));
		LWLockRelease(bstate->lock);
		return false;
	}

	strlcpy(id, base, sizeof(id));
	for (int n = 2; id_in_table(id) || id_in_list(taken, id); n++)
		snprintf(id, sizeof(id), "%s-%d", base, n);

	slot = free_slot();
	Assert(slot >= 0);			/* nothing is active */
	e = &bstate->entries[slot];
	memset(e, 0, sizeof(RevrxBackupEntry));
	e->seq = bstate->next_seq++;
	e->slot = slot;
	e->status = REVRX_BACKUP_REQUESTED;
	strlcpy(e->id, id, sizeof(e->id));
	if (label != NULL)
	{
		e->has_label = true;
		strlcpy(e->label, label, sizeof(e->label));
	}
	e->scheduled = scheduled;
	if (requested_by != NULL)
		strlcpy(e->requested_by, requested_by, sizeof(e->requested_by));
	e->incremental = incremental;
	/* the id's second, so that id and start time always agree */
	e->start_time = time_t_to_timestamptz(secs);
	memcpy(created, e, sizeof(RevrxBackupEntry));
	latch = bstate->worker_latch;

	LWLockRelease(bstate->lock);

	wake_worker_and_waiters(latch);
	return true;
}

bool
revrx_backup_lookup(const char *id, RevrxBackupEntry *out)
{
	bool		found = false;

	LWLockAcquire(bstate->lock, LW_SHARED);
	for (int i = 0; i < REVRX_BACKUP_HISTORY; i++)
	{
		if (bstate->entries[i].seq != 0 && strcmp(bstate->entries[i].id, id) == 0)
		{
			memcpy(out, &bstate->entries[i], sizeof(RevrxBackupEntry));
			found = true;
			break;
		}
	}
	LWLockRelease(bstate->lock);
	return found;
}

static int
entry_seq_cmp(const void *a, const void *b)
{
	uint64		sa = ((const RevrxBackupEntry *) a)->seq;
	uint64		sb = ((const RevrxBackupEntry *) b)->seq;

	return sa < sb ? -1 : sa > sb ? 1 : 0;
}

int
revrx_backup_list(RevrxBackupEntry *out, int max)
{
	int			n = 0;

	LWLockAcquire(bstate->lock, LW_SHARED);
	for (int i = 0; i < REVRX_BACKUP_HISTORY && n < max; i++)
	{
		if (bstate->entries[i].seq != 0)
			memcpy(&out[n++], &bstate->entries[i], sizeof(RevrxBackupEntry));
	}
	LWLockRelease(bstate->lock);

	qsort(out, n, sizeof(RevrxBackupEntry), entry_seq_cmp);
	return n;
}

bool
revrx_backup_active(RevrxBackupEntry *out)
{
	int			act;

	LWLockAcquire(bstate->lock, LW_SHARED);
	act = active_slot();
	if (act >= 0)
		memcpy(out, &bstate->entries[act], sizeof(RevrxBackupEntry));
	LWLockRelease(bstate->lock);
	return act >= 0;
}

void
revrx_backup_wait_for_change(long timeout_ms)
{
	(void) ConditionVariableTimedSleep(&bstate->cv, timeout_ms, PG_WAIT_EXTENSION);
}

pid_t
revrx_backup_worker_pid(void)
{
	pid_t		pid;

	LWLockAcquire(bstate->lock, LW_SHARED);
	pid = bstate->worker_pid;
	LWLockRelease(bstate->lock);
	return pid;
}

/* ------------------------------------------------------------- worker */

bool
revrx_backup_worker_attach(pid_t *other)
{
	bool		ok = true;

	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	if (bstate->worker_pid != 0 && bstate->worker_pid != MyProcPid)
	{
		*other = bstate->worker_pid;
		ok = false;
	}
	else
	{
		bstate->worker_pid = MyProcPid;
		bstate->worker_latch = MyLatch;
	}
	LWLockRelease(bstate->lock);
	return ok;
}

void
revrx_backup_worker_detach(void)
{
	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	if (bstate->worker_pid == MyProcPid)
	{
		bstate->worker_pid = 0;
		bstate->worker_latch = NULL;
	}
	LWLockRelease(bstate->lock);
	ConditionVariableBroadcast(&bstate->cv);
}

bool
revrx_backup_take_request(int *slot, RevrxBackupEntry *out)
{
	int			best = -1;

	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	for (int i = 0; i < REVRX_BACKUP_HISTORY; i++)
	{
		RevrxBackupEntry *e = &bstate->entries[i];

		if (e->seq != 0 && e->status == REVRX_BACKUP_REQUESTED &&
			(best < 0 || e->seq < bstate->entries[best].seq))
			best = i;
	}
	if (best >= 0)
	{
		bstate->entries[best].status = REVRX_BACKUP_RUNNING;
		bstate->entries[best].phase = REVRX_PHASE_CHECKPOINT;
		memcpy(out, &bstate->entries[best], sizeof(RevrxBackupEntry));
		*slot = best;
	}
	LWLockRelease(bstate->lock);

	if (best >= 0)
		ConditionVariableBroadcast(&bstate->cv);
	return best >= 0;
}

void
revrx_backup_set_phase(int slot, RevrxBackupPhase phase)
{
	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	bstate->entries[slot].phase = phase;
	LWLockRelease(bstate->lock);
}

void
revrx_backup_set_start(int slot, TimeLineID tli, XLogRecPtr start_lsn)
{
	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	bstate->entries[slot].timeline = tli;
	bstate->entries[slot].start_lsn = start_lsn;
	LWLockRelease(bstate->lock);
}

void
revrx_backup_set_progress(int slot, int64 files, int64 original_bytes,
						  int64 stored_bytes, int32 problem_count,
						  const char *problems)
{
	RevrxBackupEntry *e = &bstate->entries[slot];

	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	e->file_count = files;
	e->original_bytes = original_bytes;
	e->stored_bytes = stored_bytes;
	e->problem_count = problem_count;
	if (problems != NULL)
		strlcpy(e->problems, problems, sizeof(e->problems));
	LWLockRelease(bstate->lock);
}

void
revrx_backup_set_stop(int slot, XLogRecPtr stop_lsn, TimestampTz stop_time)
{
	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	bstate->entries[slot].stop_lsn = stop_lsn;
	bstate->entries[slot].stop_time = stop_time;
	LWLockRelease(bstate->lock);
}

void
revrx_backup_set_shipping(int slot, const char *backup_json_sha)
{
	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	bstate->entries[slot].status = REVRX_BACKUP_SHIPPING;
	bstate->entries[slot].phase = REVRX_PHASE_SHIPPING;
	if (backup_json_sha != NULL)
		strlcpy(bstate->entries[slot].backup_json_sha, backup_json_sha,
				sizeof(bstate->entries[slot].backup_json_sha));
	LWLockRelease(bstate->lock);
	ConditionVariableBroadcast(&bstate->cv);
}

void
revrx_backup_set_note(int slot, const char *message)
{
	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	strlcpy(bstate->entries[slot].error, message ? message : "",
			sizeof(bstate->entries[slot].error));
	LWLockRelease(bstate->lock);
}

void
revrx_backup_finish(int slot, RevrxBackupStatus status, const char *error)
{
	Assert(!REVRX_BACKUP_IS_ACTIVE(status));

	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	bstate->entries[slot].status = status;
	bstate->entries[slot].phase = REVRX_PHASE_NONE;
	strlcpy(bstate->entries[slot].error, error ? error : "",
			sizeof(bstate->entries[slot].error));
	LWLockRelease(bstate->lock);
	ConditionVariableBroadcast(&bstate->cv);
}

int
revrx_backup_recovered(const char *id, RevrxBackupStatus status, const char *error)
{
	int			slot = -1;

	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	for (int i = 0; i < REVRX_BACKUP_HISTORY; i++)
	{
		if (bstate->entries[i].seq != 0 && strcmp(bstate->entries[i].id, id) == 0)
		{
			slot = i;
			break;
		}
	}
	if (slot < 0)
	{
		slot = free_slot();
		if (slot >= 0)
		{
			RevrxBackupEntry *e = &bstate->entries[slot];

			memset(e, 0, sizeof(RevrxBackupEntry));
			e->seq = bstate->next_seq++;
			e->slot = slot;
			strlcpy(e->id, id, sizeof(e->id));
		}
	}
	if (slot >= 0)
	{
		RevrxBackupEntry *e = &bstate->entries[slot];

		e->status = status;
		e->phase = (status == REVRX_BACKUP_SHIPPING) ? REVRX_PHASE_SHIPPING :
			REVRX_PHASE_NONE;
		strlcpy(e->error, error ? error : "", sizeof(e->error));
	}
	LWLockRelease(bstate->lock);
	ConditionVariableBroadcast(&bstate->cv);
	return slot;
}

int
revrx_backup_abandon_running(const char *error)
{
	int			n = 0;

	LWLockAcquire(bstate->lock, LW_EXCLUSIVE);
	for (int i = 0; i < REVRX_BACKUP_HISTORY; i++)
	{
		RevrxBackupEntry *e = &bstate->entries[i];

		if (e->seq != 0 && e->status == REVRX_BACKUP_RUNNING)
		{
			e->status = REVRX_BACKUP_ABORTED;
			e->phase = REVRX_PHASE_NONE;
			strlcpy(e->error, error, sizeof(e->error));
			n++;
		}
	}
	LWLockRelease(bstate->lock);
	if (n > 0)
		ConditionVariableBroadcast(&bstate->cv);
	return n;
}
