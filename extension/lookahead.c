/*-------------------------------------------------------------------------
 *
 * lookahead.c
 *	  Spooling ready WAL segments ahead of the archiver, in parallel with it.
 *
 * PostgreSQL's archiver hands the archive module one file at a time, and
 * reading, hashing (SHA-256) and compressing a 16 MB segment takes one core
 * about 50 ms.  After an outage (agent or repository down for a while)
 * pg_wal holds a backlog of .ready segments, and one process working
 * through them uses one core of the machine.  So the segments that come
 * after the one the archiver is on are spooled ahead, by up to
 * revrx.archive_lookahead_workers background workers ("revrx wal spooler")
 * and by the archiver itself while it waits for the agent, each in its own
 * process: a backlog drains on every core the workers get, and the
 * archiver's calls find their segments spooled, usually already stored.
 *
 * What a spooled-ahead segment is: exactly what the archive module would
 * have written for it (archive.c, revrx_spool_segment: the same object,
 * temporary file, fsync, durable rename), so the archive module's rules
 * for an existing NAME.rvx apply unchanged, and a segment is acknowledged
 * to PostgreSQL only when the agent's NAME.ok names the SHA-256 of
 * pg_wal/NAME as the archiver knows it.  Nothing here makes the archiver
 * report success sooner.
 *
 * The rules that keep it safe:
 *
 * - Claims.  A process spools a segment only while it holds the segment's
 *	 claim (a slot in shared memory with its pid), so two processes never
 *	 write the same temporary file.  The archiver holds the claim on the
 *	 file it is archiving for the whole attempt, waiting while a worker
 *	 finishes it; a worker never waits (it skips a claimed segment).
 *	 Claims are released when the spooling ends, in every error path, and
 *	 when a process exits; a claim whose process is gone is free.
 *
 * - Only .ready segments after the archiver's current file.  The archiver
 *	 says which file it is on at the start of each attempt; workers take
 *	 the first revrx.archive_lookahead .ready segments after it, in the
 *	 archiver's order (by name; history, partial and backup history files
 *	 are left to the archiver), bounded by revrx.spool_max_size.  A
 *	 segment's content is final once it is .ready and PostgreSQL neither
 *	 removes nor recycles it before it is archived, which only the archiver
 *	 does.  Even so, what a worker read is published only if NAME.ready
 *	 still exists after the read: then NAME was not archived (and so not
 *	 recycled) while it was read.
 *
 * - Workers only work while the archive module does.  The archiver's
 *	 attempts keep a timestamp fresh; workers do nothing when it is older
 *	 than RVX_AHEAD_ACTIVE_SECS (another archive library, archiving paused
 *	 by an empty revrx.spool_dir, a standby), and nothing without a spool,
 *	 during recovery, or with revrx.archive_lookahead = 0.
 *
 * - Digests.  When the archiver comes to a segment spooled ahead, it needs
 *	 the segment's SHA-256 to recognise the agent's answer; reading and
 *	 hashing the 16 MB again would cost a fifth of the work saved.  Whoever
 *	 spooled it leaves the digest here with the file's identity (device,
 *	 inode, size, modification and change times), and the archiver uses it
 *	 only when the identity is still the same.  A digest is left only when
 *	 the identity did not change during the read and the file was last
 *	 written at least RVX_AHEAD_SETTLED_SECS before it (a write in the same
 *	 clock tick would not move the times: git's "racy" rule).  Otherwise
 *	 the archiver hashes the file again, as for any other segment.
 *
 * A deep backlog is compressed faster.  From revrx.archive_fast_backlog
 * ready segments behind the archiver's until fewer than half as many wait,
 * what is spooled ahead is compressed at the codec's fastest level (zstd 1
 * in place of 3: about a quarter less CPU per segment, a tenth to a sixth more
 * bytes), because the drain is CPU-bound and the WAL not yet stored is
 * what a lost server would lose.  The objects are ordinary objects of that
 * codec; nothing that reads them knows or cares about the level.
 *
 * Shared state: one struct (RevrxAheadShared) protected by one LWLock of
 * the "revrx lookahead" tranche; entries are copied in and out, and no
 * I/O, allocation or ereport happens while it is held.  Without
 * shared_preload_libraries there are no workers and the same struct lives
 * in the archiver's own memory, unlocked: the archiver then spools ahead
 * alone, while it waits, as before workers existed.  After a crash of any
 * server process the postmaster creates shared memory anew, and the state
 * starts empty, which is always safe (no claims, no digests).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "archive.h"
#include "compress.h"
#include "fileutil.h"
#include "lookahead.h"
#include "settings.h"
#include "sha256.h"
#include "shmem.h"
#include "spool.h"
#include "spool_write.h"
#include "walname.h"
#include "worker.h"

#define RVX_AHEAD_TRANCHE		"revrx lookahead"
/* Digests remembered: the largest revrx.archive_lookahead. */
#define RVX_AHEAD_MEMORY		64
/* Claims held at once: one per worker, two for the archiver. */
#define RVX_AHEAD_CLAIMS		(RVX_AHEAD_WORKERS_MAX + 2)
/* See "Digests" above. */
#define RVX_AHEAD_SETTLED_SECS	2
/* Workers rest when the archiver has not been archiving for this long. */
#define RVX_AHEAD_ACTIVE_SECS	10
/* The archiver refreshes its timestamp at most this often (ms). */
#define RVX_AHEAD_KEEPALIVE_MS	1000
/* An idle worker's sleep; the archiver wakes it at each attempt anyway. */
#define RVX_AHEAD_IDLE_MS		10000
#define RVX_AHEAD_RESTART_SECS	5

typedef struct AheadClaim
{
	char		name[REVRX_NAME_LEN];	/* "" = free */
	int			pid;
} AheadClaim;

typedef struct AheadDigest
{
	char		name[REVRX_NAME_LEN];	/* "" = unused */
	uint8		sha[RVX_SHA256_LEN];
	struct stat source;			/* the file's identity when it was spooled */
} AheadDigest;

typedef struct RevrxAheadShared
{
	LWLock	   *lock;			/* NULL: the archiver's private copy */
	char		current[REVRX_NAME_LEN];	/* the archiver's file */
	TimestampTz active_at;		/* when the archiver last said it works */
	Latch	   *workers[RVX_AHEAD_WORKERS_MAX]; /* to wake them */
	AheadClaim	claims[RVX_AHEAD_CLAIMS];
	AheadDigest digests[RVX_AHEAD_MEMORY];
	int			next_digest;
	bool		fastest;		/* the last list seen was a backlog */
} RevrxAheadShared;

static RevrxAheadShared *ahead = NULL;

/* this process's last keepalive (archiver) */
static TimestampTz last_keepalive = 0;

static MemoryContext worker_context = NULL;
static RevrxErrorRepeat worker_errors = {NULL, 0};

static RevrxAheadShared *ahead_state(void);
static void ahead_lock(RevrxAheadShared *s);
static void ahead_unlock(RevrxAheadShared *s);
static void ahead_on_exit(int code, Datum arg);
static bool in_spool(const char *wal_dir, const char *name);
static void note_backlog(RevrxAheadList *list);
static bool same_identity(const struct stat *a, const struct stat *b);
static bool worker_round(void);

/* ------------------------------------------------------------ shared state */

void
revrx_ahead_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(RevrxAheadShared)));
	RequestNamedLWLockTranche(RVX_AHEAD_TRANCHE, 1);
}

/* Called from the shmem_startup_hook, holding AddinShmemInitLock. */
void
revrx_ahead_shmem_init(void)
{
	bool		found;

	ahead = ShmemInitStruct("revrx lookahead", sizeof(RevrxAheadShared), &found);
	if (!found)
	{
		memset(ahead, 0, sizeof(RevrxAheadShared));
		ahead->lock = &(GetNamedLWLockTranche(RVX_AHEAD_TRANCHE))->lock;
	}
}

/*
 * The shared struct, or without shared memory (the library was not
 * preloaded) the archiver's private one.
 */
static RevrxAheadShared *
ahead_state(void)
{
	if (ahead == NULL)
		ahead = MemoryContextAllocZero(TopMemoryContext, sizeof(RevrxAheadShared));
	return ahead;
}

static void
ahead_lock(RevrxAheadShared *s)
{
	if (s->lock != NULL)
		LWLockAcquire(s->lock, LW_EXCLUSIVE);
}

static void
ahead_unlock(RevrxAheadShared *s)
{
	if (s->lock != NULL)
		LWLockRelease(s->lock);
}

/*
 * revrx_ahead_on_exit_register
 *
 * Releases this process's claims when it exits, whatever the reason.
 */
void
revrx_ahead_on_exit_register(void)
{
	before_shmem_exit(ahead_on_exit, Int32GetDatum(-1));
}

static void
ahead_on_exit(int code, Datum arg)
{
	int			slot = DatumGetInt32(arg);
	RevrxAheadShared *s = ahead_state();

	revrx_ahead_release_all();
	if (slot >= 0)
	{
		ahead_lock(s);
		s->workers[slot] = NULL;
		ahead_unlock(s);
	}
}

/* ---------------------------------------------------------- the archiver */

/*
 * revrx_ahead_archiving
 *
 * The archiver starts an attempt for file: workers now spool the segments
 * after it, and are woken to do so.
 */
void
revrx_ahead_archiving(const char *file)
{
	RevrxAheadShared *s = ahead_state();
	Latch	   *wake[RVX_AHEAD_WORKERS_MAX];
	int			nwake = 0;

	last_keepalive = GetCurrentTimestamp();
	ahead_lock(s);
	strlcpy(s->current, file, REVRX_NAME_LEN);
	s->active_at = last_keepalive;
	for (int i = 0; i < RVX_AHEAD_WORKERS_MAX; i++)
	{
		if (s->workers[i] != NULL)
			wake[nwake++] = s->workers[i];
	}
	ahead_unlock(s);

	for (int i = 0; i < nwake; i++)
		SetLatch(wake[i]);
}

/*
 * revrx_ahead_keepalive
 *
 * The archiver is still in its attempt (waiting for the agent): workers go
 * on.  Cheap enough to call at every poll.
 */
void
revrx_ahead_keepalive(void)
{
	TimestampTz now = GetCurrentTimestamp();
	RevrxAheadShared *s;

	if (!TimestampDifferenceExceeds(last_keepalive, now, RVX_AHEAD_KEEPALIVE_MS))
		return;
	last_keepalive = now;
	s = ahead_state();
	ahead_lock(s);
	s->active_at = now;
	ahead_unlock(s);
}

/* --------------------------------------------------------------- claims */

/*
 * revrx_ahead_claim
 *
 * Claims name for this process: true if nobody else holds it (a claim of
 * a process that is gone does not count).  Claiming a name this process
 * holds already succeeds.
 */
bool
revrx_ahead_claim(const char *name)
{
	RevrxAheadShared *s = ahead_state();
	int			free_slot = -1;
	bool		ok = true;

	ahead_lock(s);
	for (int i = 0; i < RVX_AHEAD_CLAIMS; i++)
	{
		AheadClaim *c = &s->claims[i];

		if (c->name[0] == '\0')
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strcmp(c->name, name) != 0)
			continue;
		if (c->pid == MyProcPid)
		{
			free_slot = -2;		/* ours already */
			break;
		}
		if (kill(c->pid, 0) != 0 && errno == ESRCH)
		{
			/* its process is gone without releasing it: take it over */
			c->pid = MyProcPid;
			free_slot = -2;
			break;
		}
		ok = false;
		break;
	}
	/* every slot taken: only by claims whose process is gone, if at all */
	for (int i = 0; ok && free_slot == -1 && i < RVX_AHEAD_CLAIMS; i++)
	{
		if (kill(s->claims[i].pid, 0) != 0 && errno == ESRCH)
			free_slot = i;
	}
	if (ok && free_slot >= 0)
	{
		strlcpy(s->claims[free_slot].name, name, REVRX_NAME_LEN);
		s->claims[free_slot].pid = MyProcPid;
	}
	else if (free_slot == -1)
		ok = false;
	ahead_unlock(s);
	return ok;
}

void
revrx_ahead_release(const char *name)
{
	RevrxAheadShared *s = ahead_state();

	ahead_lock(s);
	for (int i = 0; i < RVX_AHEAD_CLAIMS; i++)
	{
		AheadClaim *c = &s->claims[i];

		if (c->pid == MyProcPid && strcmp(c->name, name) == 0)
			c->name[0] = '\0';
	}
	ahead_unlock(s);
}

void
revrx_ahead_release_all(void)
{
	RevrxAheadShared *s = ahead_state();

	ahead_lock(s);
	for (int i = 0; i < RVX_AHEAD_CLAIMS; i++)
	{
		if (s->claims[i].pid == MyProcPid)
			s->claims[i].name[0] = '\0';
	}
	ahead_unlock(s);
}

/* -------------------------------------------------------------- digests */

static bool
same_identity(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
		a->st_size == b->st_size &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
		a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
		a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
		a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * revrx_ahead_settled
 *
 * Whether a read of a file that had identity before when the read started
 * at read_started and after when it ended may be remembered (see
 * "Digests" in the header).
 */
bool
revrx_ahead_settled(const struct stat *before, const struct stat *after,
					time_t read_started)
{
	return same_identity(before, after) &&
		read_started - after->st_mtim.tv_sec >= RVX_AHEAD_SETTLED_SECS;
}

/*
 * revrx_ahead_remember
 *
 * Leaves the digest of a segment spooled ahead for the archiver.
 */
void
revrx_ahead_remember(const char *name, const RevrxSpooled *spooled)
{
	RevrxAheadShared *s;
	AheadDigest *e;

	if (!spooled->settled || strlen(name) >= REVRX_NAME_LEN)
		return;
	s = ahead_state();
	ahead_lock(s);
	/* one entry per name: a newer spooling replaces the older one */
	e = NULL;
	for (int i = 0; i < RVX_AHEAD_MEMORY && e == NULL; i++)
	{
		if (strcmp(s->digests[i].name, name) == 0)
			e = &s->digests[i];
	}
	if (e == NULL)
	{
		e = &s->digests[s->next_digest];
		s->next_digest = (s->next_digest + 1) % RVX_AHEAD_MEMORY;
	}
	strlcpy(e->name, name, REVRX_NAME_LEN);
	memcpy(e->sha, spooled->sha, RVX_SHA256_LEN);
	e->source = spooled->source;
	ahead_unlock(s);
}

/*
 * revrx_ahead_recall
 *
 * The digest of name remembered when it was spooled ahead, if its file at
 * path still has the identity it had then.  Forgets what it returns: one
 * recall per spooling.
 */
bool
revrx_ahead_recall(const char *name, const char *path, uint8 sha[RVX_SHA256_LEN])
{
	RevrxAheadShared *s = ahead_state();
	AheadDigest e;
	bool		found = false;
	struct stat st;

	ahead_lock(s);
	for (int i = 0; i < RVX_AHEAD_MEMORY; i++)
	{
		if (strcmp(s->digests[i].name, name) == 0)
		{
			e = s->digests[i];
			s->digests[i].name[0] = '\0';
			found = true;
			break;
		}
	}
	ahead_unlock(s);

	if (!found || stat(path, &st) != 0 || !same_identity(&st, &e.source))
		return false;
	memcpy(sha, e.sha, RVX_SHA256_LEN);
	return true;
}

/* ------------------------------------------------------------ the window */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * revrx_ahead_collect
 *
 * The first revrx.archive_lookahead WAL segments that are .ready and come
 * after the file named after, in the order the archiver will ask for them,
 * and the bytes the spool's objects take now (only looked at when there
 * is something to spool).
 */
void
revrx_ahead_collect(RevrxAheadList *list, const char *after)
{
	DIR		   *dir;
	struct dirent *de;
	int			cap = 64;
	int			n = 0;
	char	  **names = palloc(cap * sizeof(char *));

	dir = AllocateDir(XLOGDIR "/archive_status");
	while ((de = ReadDirExtended(dir, XLOGDIR "/archive_status", LOG)) != NULL)
	{
		char		name[REVRX_NAME_LEN];
		size_t		len = strlen(de->d_name);

		if (!revrx_has_suffix(de->d_name, ".ready") || len - 6 >= sizeof(name))
			continue;
		memcpy(name, de->d_name, len - 6);
		name[len - 6] = '\0';
		if (rvx_walname_kind(name) != RVX_WAL_SEGMENT || strcmp(name, after) <= 0)
			continue;
		if (n == cap)
		{
			cap *= 2;
			names = repalloc(names, cap * sizeof(char *));
		}
		names[n++] = pstrdup(name);
	}
	FreeDir(dir);

	qsort(names, n, sizeof(char *), name_cmp);
	list->names = names;
	list->n = Min(n, revrx_archive_lookahead);
	list->next = 0;
	snprintf(list->wal_dir, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_WAL_DIR);
	list->spool_bytes = list->n > 0 ? revrx_spool_wal_bytes(list->wal_dir) : 0;
	list->backlog = n;
	note_backlog(list);
}

/*
 * note_backlog
 *
 * Whether the segments of list are spooled at the fastest level: from
 * revrx.archive_fast_backlog segments waiting until fewer than half as
 * many do.  A backlog is when the exposure to losing WAL is largest, and
 * draining it sooner is worth somewhat larger objects for a while.  The
 * state is shared, so the change is said once for all the processes that
 * spool.
 */
static void
note_backlog(RevrxAheadList *list)
{
	RevrxAheadShared *s = ahead_state();
	int			limit = revrx_archive_fast_backlog;
	bool		changed;

	ahead_lock(s);
	/* down to half the limit before leaving, so that it does not flap */
	if (limit <= 0)
		list->fastest = false;
	else if (s->fastest)
		list->fastest = list->backlog >= (limit + 1) / 2;
	else
		list->fastest = list->backlog >= limit;
	changed = s->fastest != list->fastest;
	s->fastest = list->fastest;
	ahead_unlock(s);

	if (changed && list->fastest)
		ereport(LOG,
				(errmsg("revrx is compressing WAL at the fastest level: %d segments wait to be archived",
						list->backlog),
				 errdetail("revrx.archive_fast_backlog is %d; segments spooled ahead are compressed at %s's fastest level until fewer than half as many wait.",
						   revrx_archive_fast_backlog,
						   rvx_compression_name((RvxCompression) revrx_compression))));
	else if (changed)
		ereport(LOG,
				(errmsg("revrx is compressing WAL at revrx.compression_level again: %d segments wait to be archived",
						list->backlog)));
}

/* Whether the spool holds, or has answered for, name. */
static bool
in_spool(const char *wal_dir, const char *name)
{
	static const char *const suffixes[] = {
		RVX_SPOOL_READY_SUFFIX, RVX_SPOOL_OK_SUFFIX,
		RVX_SPOOL_ERROR_SUFFIX,	/* left to the attempt for that file */
	};
	char		path[MAXPGPATH];

	for (int i = 0; i < lengthof(suffixes); i++)
	{
		snprintf(path, MAXPGPATH, "%s/%s%s", wal_dir, name, suffixes[i]);
		if (revrx_file_exists(path))
			return true;
	}
	return false;
}

/*
 * revrx_ahead_step
 *
 * Spools the next segment of the list that nobody has spooled and nobody
 * is spooling: 1 if it did, 0 if there was none, -1 if spooling failed.
 * Failures are reported at elevel (below ERROR) and end the list: the
 * segment is left to whoever comes next, in the end to the archiver's
 * attempt for it.
 */
int
revrx_ahead_step(RevrxAheadList *list, int elevel)
{
	int64		max_bytes = (int64) revrx_spool_max_size * 1024 * 1024;

	while (list->next < list->n)
	{
		const char *name = list->names[list->next++];
		char		src[MAXPGPATH];
		RevrxSpooled spooled;
		bool		ok;

		if (in_spool(list->wal_dir, name))
			continue;
		if (list->spool_bytes >= max_bytes)
		{
			ereport(DEBUG1,
					(errmsg_internal("revrx lookahead stops: spool holds " INT64_FORMAT " bytes",
									 list->spool_bytes)));
			list->next = list->n;
			return 0;
		}
		if (!revrx_ahead_claim(name))
			continue;			/* another process is spooling it */
		/* it may have finished just before we claimed */
		if (in_spool(list->wal_dir, name))
		{
			revrx_ahead_release(name);
			continue;
		}

		snprintf(src, MAXPGPATH, XLOGDIR "/%s", name);
		ok = revrx_spool_segment(name, src, NULL, true, list->fastest, elevel, &spooled);
		/* the digest first: whoever waits for the claim looks for it */
		if (ok)
		{
			list->spool_bytes += spooled.written;
			revrx_ahead_remember(name, &spooled);
		}
		else
			list->next = list->n;
		revrx_ahead_release(name);
		return ok ? 1 : -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- workers */

void
revrx_ahead_register(void)
{
	for (int i = 0; i < revrx_archive_lookahead_workers; i++)
	{
		char		name[BGW_MAXLEN];

		snprintf(name, sizeof(name), "revrx wal spooler %d", i + 1);
		revrx_register_worker("revrx_ahead_main", name, "revrx wal spooler",
							  BGWORKER_SHMEM_ACCESS, RVX_AHEAD_RESTART_SECS,
							  Int32GetDatum(i));
	}
}

/*
 * worker_round
 *
 * Spools one segment ahead of the archiver if there is one to spool.
 * Returns true if it did (the caller looks again at once); after a failure
 * the worker waits for the archiver's next attempt, so a lasting one (a
 * full disk) is neither retried nor reported in a loop.
 */
static bool
worker_round(void)
{
	RevrxAheadShared *s = ahead_state();
	char		current[REVRX_NAME_LEN];
	TimestampTz active_at;
	RevrxAheadList list;

	ahead_lock(s);
	strlcpy(current, s->current, REVRX_NAME_LEN);
	active_at = s->active_at;
	ahead_unlock(s);

	if (current[0] == '\0' ||
		TimestampDifferenceExceeds(active_at, GetCurrentTimestamp(),
								   RVX_AHEAD_ACTIVE_SECS * 1000))
		return false;

	/* like everything that writes into the spool (spool_write.h) */
	revrx_spool_claim();
	revrx_ahead_collect(&list, current);
	return revrx_ahead_step(&list, LOG) > 0;
}

void
revrx_ahead_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	RevrxAheadShared *s;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (slot < 0 || slot >= RVX_AHEAD_WORKERS_MAX || ahead == NULL)
		proc_exit(0);			/* cannot happen: registered while preloading */

	worker_context = AllocSetContextCreate(TopMemoryContext, "revrx wal spooler",
										   ALLOCSET_DEFAULT_SIZES);
	before_shmem_exit(ahead_on_exit, Int32GetDatum(slot));
	s = ahead_state();
	ahead_lock(s);
	s->workers[slot] = MyLatch;
	ahead_unlock(s);

	while (!ShutdownRequestPending)
	{
		bool		worked = false;
		MemoryContext oldcxt;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (revrx_spool_dir[0] != '\0' && revrx_archive_lookahead > 0 &&
			XLogArchivingActive() && !RecoveryInProgress())
		{
			oldcxt = MemoryContextSwitchTo(worker_context);
			PG_TRY();
			{
				pgstat_report_wait_start(PG_WAIT_EXTENSION);
				worked = worker_round();
				pgstat_report_wait_end();
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				edata = revrx_recover_caught_error(TopMemoryContext);
				revrx_ahead_release_all();
				revrx_log_caught_error(&worker_errors, "revrx wal spooler",
									   "spool WAL ahead", edata);
				FreeErrorData(edata);
				worked = false;
			}
			PG_END_TRY();
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(worker_context);
		}

		if (!worked)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 RVX_AHEAD_IDLE_MS, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
	}

	revrx_spool_segment_cleanup();
	proc_exit(0);
}
