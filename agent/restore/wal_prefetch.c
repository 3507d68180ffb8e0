/*-------------------------------------------------------------------------
 *
 * wal_prefetch.c
 *	  The segments wal-fetch fetches ahead of recovery (see wal_prefetch.h).
 *
 * The queue directory, pg_wal/revrx_prefetch, holds:
 *	lock				flock'd by the prefetcher (or by a wal-fetch changing
 *						the queue when none runs)
 *	source				the repository URL the segments came from
 *	served				the segment wal-fetch served last: the prefetcher
 *						keeps the REVRX_WAL_PREFETCH after it queued
 *	<segment>			a fetched, verified, fsynced segment
 *	<segment>.fetching	the segment the prefetcher is fetching now
 *	<segment>.revrx.tmp	that fetch's file, renamed to <segment> once verified
 *	starting			a prefetcher was started and has not chosen its
 *						first segment yet
 *	stop				recovery ended while the prefetcher ran: it empties
 *						the queue and removes it before its next segment
 * A wal-fetch that finds neither its segment nor a mark saying it is on
 * its way fetches it itself.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/file_utils.h"
#include "base/log.h"
#include "info/fetch.h"
#include "info/repo_meta.h"
#include "restore/wal_prefetch.h"
#include "walname.h"

/*
 * How long a request for a history file waits for a running prefetcher to
 * finish its segment before leaving it the stop marker instead.
 */
#define STOP_WAIT_S		2.0

/*
 * How long a prefetcher with a full queue waits for wal-fetch to take a
 * segment before it exits (the next wal-fetch starts another).
 */
#define IDLE_S			1.0

/*
 * The most the queue holds, whatever REVRX_WAL_PREFETCH says: it lives in
 * pg_wal, beside the WAL of the server recovering (at least one segment).
 */
#define QUEUE_MAX_BYTES	(UINT64_C(1024) * 1024 * 1024)

/* A segment name's position: the 16 characters after its timeline's 8. */
#define POSITION(name)	((name) + 8)

/* The file names PostgreSQL gives restore_command's destination in pg_wal. */
#define SEGMENT_DEST	"RECOVERYXLOG"
#define HISTORY_DEST	"RECOVERYHISTORY"

/* The fd the detached prefetcher keeps the lock on (every other is closed). */
#define LOCK_FD			3

/* Seconds on a clock that does not jump with the time of day. */
static double
monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool
queue_path(char *out, size_t cap, const char *dir, const char *name, const char *suffix)
{
	return snprintf(out, cap, "%s/%s%s", dir, name, suffix) < (int) cap;
}

static bool
queue_has(const char *dir, const char *name, const char *suffix)
{
	char		path[PATH_MAX];

	return queue_path(path, sizeof(path), dir, name, suffix) && access(path, F_OK) == 0;
}

/*
 * The queue's lock, taken without waiting: a file descriptor holding it, or
 * -1 with errno EWOULDBLOCK when another process holds it (ENOENT when
 * there is no lock file and create is false).
 */
static int
lock_queue(const char *dir, bool create)
{
	char		path[PATH_MAX];
	int			fd;

	if (!queue_path(path, sizeof(path), dir, "lock", ""))
	{
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		int			save = errno;

		close(fd);
		errno = save;
		return -1;
	}
	return fd;
}

static bool
prefetcher_running(const char *dir)
{
	char		path[PATH_MAX];
	bool		held;
	int			fd;

	if (!queue_path(path, sizeof(path), dir, "lock", "") ||
		(fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/*
 * Removes the files of the queue that doomed() picks; by the lock's holder
 * (or when nobody can hold it any more).
 */
static void
remove_files(const char *dir, bool (*doomed) (const char *name, const char *served),
			 const char *served)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		char		path[PATH_MAX];

		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
			doomed(de->d_name, served) && queue_path(path, sizeof(path), dir, de->d_name, ""))
			unlink(path);
	}
	closedir(d);
}

static bool
any_file(const char *name, const char *served)
{
	return true;
}

static bool
all_but_lock(const char *name, const char *served)
{
	return strcmp(name, "lock") != 0;
}

/*
 * What recovery no longer needs once it has been served segment served:
 * segments up to its position, segments of other timelines (recovery
 * follows served's now), and files of fetches that no longer run (the
 * caller holds the lock), among them the temporary files of "served"
 * itself that a killed wal-fetch left.
 */
static bool
passed(const char *name, const char *served)
{
	if (rvx_walname_kind(name) == RVX_WAL_SEGMENT)
		return strncmp(name, served, 8) != 0 ||
			strcmp(POSITION(name), POSITION(served)) <= 0;
	return strcmp(name, "lock") != 0 && strcmp(name, "source") != 0 &&
		strcmp(name, "served") != 0 && strcmp(name, "stop") != 0 &&
		strcmp(name, "starting") != 0;
}

/* The whole queue, and its directory. */
static void
remove_queue(const char *dir)
{
	remove_files(dir, any_file, NULL);
	rmdir(dir);
}

/* Was the queue filled from this repository? */
static bool
source_is(const char *dir, const char *url)
{
	char		path[PATH_MAX];
	char		buf[4096];
	ssize_t		n;
	int			fd;

	if (!queue_path(path, sizeof(path), dir, "source", "") ||
		(fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n > 0 && (size_t) n == strlen(url) && memcmp(buf, url, (size_t) n) == 0;
}

bool
rvx_prefetch_dir(const char *dest, char *dir, size_t cap)
{
	const char *slash = strrchr(dest, '/');
	const char *parent = dest;

	/*
	 * Only PostgreSQL's own destinations: pg_rewind's restore_command, say,
	 * writes the segment's real name, and removes what it does not know in
	 * pg_wal while a prefetcher may still be writing there.
	 */
	if (slash == NULL ||
		(strcmp(slash + 1, SEGMENT_DEST) != 0 && strcmp(slash + 1, HISTORY_DEST) != 0))
		return false;
	for (const char *c = dest; c < slash; c++)
		if (*c == '/')
			parent = c + 1;
	if (slash - parent != strlen("pg_wal") || strncmp(parent, "pg_wal", slash - parent) != 0)
		return false;
	return snprintf(dir, cap, "%.*s/" RVX_PREFETCH_DIR, (int) (slash - dest), dest) < (int) cap;
}

bool
rvx_prefetch_take(const char *dir, const char *name, const char *dest, const RvxConfig *cfg)
{
	char		path[PATH_MAX];
	double		deadline;

	if (cfg->wal_prefetch == 0 || !source_is(dir, cfg->repo.url) ||
		!queue_path(path, sizeof(path), dir, name, ""))
		return false;

	/*
	 * At most as long as one request may make no progress: a prefetcher
	 * that takes longer is retrying, and fetching the segment here is no
	 * worse.
	 */
	deadline = monotonic_s() + cfg->repo.timeout_ms / 1000.0;
	while (access(path, F_OK) != 0 &&
		   (queue_has(dir, name, ".fetching") || queue_has(dir, "starting", "")) &&
		   prefetcher_running(dir) && monotonic_s() < deadline)
		usleep(5000);
	return rename(path, dest) == 0;
}

/* The segment wal-fetch served last (the "served" file): false when unknown. */
static bool
read_served(const char *dir, char name[RVX_WALNAME_SEGLEN + 1])
{
	char		path[PATH_MAX];
	ssize_t		n;
	int			fd;

	if (!queue_path(path, sizeof(path), dir, "served", "") ||
		(fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, name, RVX_WALNAME_SEGLEN);
	close(fd);
	if (n != RVX_WALNAME_SEGLEN)
		return false;
	name[RVX_WALNAME_SEGLEN] = '\0';
	return rvx_walname_kind(name) == RVX_WAL_SEGMENT;
}

/* Creates an empty file in the queue (a mark). */
static void
touch(const char *dir, const char *name, const char *suffix)
{
	char		path[PATH_MAX];
	int			fd;

	if (queue_path(path, sizeof(path), dir, name, suffix) &&
		(fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(fd);
}

static void
untouch(const char *dir, const char *name, const char *suffix)
{
	char		path[PATH_MAX];

	if (queue_path(path, sizeof(path), dir, name, suffix))
		unlink(path);
}

/*
 * Fetches segment name into the queue if the repository holds it whole:
 * 1 when queued, 0 when not stored whole, -1 on failure.  Its mark is made
 * by the caller; once it is queued, after's (the next to fetch, or NULL)
 * is made before name's is removed, so that a wal-fetch for after never
 * finds neither.
 */
static int
prefetch_one(RvxRepo *repo, const RvxClusterInfo *ci, const char *dir, const char *name,
			 const char *after)
{
	char		path[PATH_MAX];
	char		key[256];
	RvxObjectInfo info;
	RvxError	err;
	int			rc;

	if (!queue_path(path, sizeof(path), dir, name, ""))
		return -1;
	rc = rvx_wal_find(repo, name, RVX_COMPRESS_ZSTD, key, sizeof(key), &info, &err);
	if (rc > 0)
		rc = rvx_fetch_to_file(repo, key, ci->system_id, path, &err) == 0 ? 1 : -1;
	if (rc > 0 && after != NULL)
		touch(dir, after, ".fetching");
	untouch(dir, name, ".fetching");
	if (rc < 0)
		rvx_debug("prefetch of \"%s\": %s", name, err.msg);
	else if (rc > 0)
		rvx_debug("fetched \"%s\" ahead of recovery", name);
	return rc;
}

/*
 * Whether a segment of seg_size bytes can be queued in dir and leave
 * keep_mb MB free in its file system.  The queue is a convenience: the
 * space is the server's, which needs room in pg_wal for the file it is
 * given next, for the segments restartpoints keep and, once promoted, for
 * the WAL it writes; a full pg_wal stops recovery.  Not knowing counts as
 * no room.
 */
static bool
room_for(const char *dir, uint64_t seg_size, int keep_mb, double *free_mb)
{
	struct statvfs fs;

	*free_mb = 0;
	if (statvfs(dir, &fs) != 0)
		return false;
	*free_mb = (double) fs.f_bavail * fs.f_frsize / 1048576.0;
	return (uint64_t) fs.f_bavail * fs.f_frsize >= seg_size + (uint64_t) keep_mb * 1048576;
}

/*
 * The prefetcher, holding the queue's lock: keeps the segments after the
 * one served last in the queue, in order, following wal-fetch as recovery
 * goes on (to a new timeline too), until the repository does not hold the
 * next one whole, a fetch fails, the file system has no room for it
 * (room_for), recovery ends (the stop mark, or the queue removed), or
 * nothing was taken for IDLE_S.  Never returns.
 */
static void
prefetch_main(const char *dir, const char *first, const RvxConfig *cfg)
{
	RvxRepo    *repo;
	RvxClusterInfo ci;
	RvxError	err;
	char		served[RVX_WALNAME_SEGLEN + 1];
	char		seen[RVX_WALNAME_SEGLEN + 1];
	uint32_t	high_tli = 0;
	uint64_t	high = 0;		/* the last segment queued, on high_tli */
	double		busy_at = monotonic_s();
	int			depth;

	snprintf(seen, sizeof(seen), "%s", first);
	repo = rvx_repo_open(&cfg->repo, &err);
	if (repo == NULL || rvx_repo_meta_load(repo, &ci, &err) != 0)
	{
		rvx_debug("prefetch after \"%s\": %s", first, err.msg);
		goto done;
	}
	depth = cfg->wal_prefetch;
	if ((uint64_t) depth * ci.wal_segment_size > QUEUE_MAX_BYTES)
		depth = ci.wal_segment_size >= QUEUE_MAX_BYTES ? 1 :
			(int) (QUEUE_MAX_BYTES / ci.wal_segment_size);

	for (bool start = true; !queue_has(dir, "stop", "") && queue_has(dir, "source", ""); start = false)
	{
		char		next[RVX_WALNAME_SEGLEN + 1];
		uint32_t	tli;
		uint64_t	segno;

		/* a served file being replaced, or gone: recovery is where it was */
		if (!read_served(dir, served))
			snprintf(served, sizeof(served), "%s", seen);
		if (start || strcmp(served, seen) != 0)
		{
			/* recovery moved on: forget what it passed */
			remove_files(dir, passed, served);
			snprintf(seen, sizeof(seen), "%s", served);
			busy_at = monotonic_s();
		}
		if (!rvx_walname_segno(served, ci.wal_segment_size, &tli, &segno))
			break;
		if (tli != high_tli || segno > high)
		{
			high_tli = tli;
			high = segno;
		}

		/*
		 * Past what is queued (or was, and has been taken since: it is not
		 * fetched again).
		 */
		for (;;)
		{
			rvx_walname_segment(tli, high + 1, ci.wal_segment_size, next);
			if (high >= segno + depth || !queue_has(dir, next, ""))
				break;
			high++;
		}
		if (high < segno + depth)
			touch(dir, next, ".fetching");
		untouch(dir, "starting", "");
		if (high >= segno + depth)
		{
			/* the queue is full: wait for wal-fetch to take one */
			if (monotonic_s() - busy_at > IDLE_S)
				break;
			usleep(10000);
			continue;
		}
		{
			char		after[RVX_WALNAME_SEGLEN + 1];
			double		free_mb;

			if (!room_for(dir, ci.wal_segment_size, cfg->wal_prefetch_keep_free_mb, &free_mb))
			{
				/* wal-fetch fetches it when asked; the next one looks again */
				rvx_debug("\"%s\" is not fetched ahead: %.0f MB free in pg_wal's file system, "
						  "REVRX_WAL_PREFETCH_KEEP_FREE_MB is %d", next, free_mb,
						  cfg->wal_prefetch_keep_free_mb);
				break;
			}
			rvx_walname_segment(tli, high + 2, ci.wal_segment_size, after);
			if (prefetch_one(repo, &ci, dir, next, high + 1 < segno + depth ? after : NULL) <= 0)
				break;			/* not stored whole, or failed: wal-fetch decides when asked */
		}
		high++;
		busy_at = monotonic_s();
	}

done:
	remove_files(dir, passed, seen);	/* marks of fetches that will not happen */
	if (queue_has(dir, "stop", ""))
		remove_queue(dir);
	if (repo != NULL)
		rvx_repo_close(repo);
	_exit(0);
}

/* The prefetcher's process, between a signal and its exit. */
static volatile pid_t prefetcher_pid = 0;

static void
exit_quietly(int signo)
{
	if (prefetcher_pid > 0)
		kill(prefetcher_pid, signo);
	_exit(0);
}

/*
 * The detached process, forked by wal-fetch with every signal blocked and
 * holding the queue's lock on lock_fd.  It leaves the session of the
 * startup process (whose process group the postmaster signals), keeps no
 * descriptor of its caller's (PostgreSQL's log, which whoever reads it
 * would otherwise wait on, its WAL and relation files) but stderr when
 * debugging, and runs the prefetcher in a child of its own that it waits
 * for.  In a container whose PID 1 is the postmaster, an orphan that died
 * of a signal would be taken for a crashed backend and restart the server:
 * whatever becomes of the prefetcher, this process exits with status 0
 * (only a SIGKILL of this small process itself escapes that), and so does
 * the prefetcher on every signal it can catch.  Never returns.
 */
static void
detach(const char *dir, const char *first, const RvxConfig *cfg, int lock_fd)
{
	static const int quit_on[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM};
	struct sigaction sa;
	sigset_t	none;
	int			null;
	pid_t		pid;

	setsid();
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = exit_quietly;
	for (size_t i = 0; i < sizeof(quit_on) / sizeof(quit_on[0]); i++)
		sigaction(quit_on[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);

	if ((null = open("/dev/null", O_RDWR)) >= 0)
	{
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (cfg->log_level != RVX_LOG_DEBUG)
			dup2(null, STDERR_FILENO);
	}
	if (lock_fd != LOCK_FD && dup2(lock_fd, LOCK_FD) < 0)
		_exit(0);
	if (close_range(LOCK_FD + 1, ~0U, 0) != 0)
		for (int fd = LOCK_FD + 1; fd < 4096; fd++)
			close(fd);

	sigemptyset(&none);
	pid = fork();
	if (pid == 0)
	{
		sigprocmask(SIG_SETMASK, &none, NULL);
		prefetch_main(dir, first, cfg);
	}
	prefetcher_pid = pid;
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	_exit(0);
}

void
rvx_prefetch_ahead(const char *dir, const char *name, const RvxConfig *cfg)
{
	char		path[PATH_MAX];
	RvxError	err;
	sigset_t	all,
				old;
	pid_t		pid;
	int			fd;

	if (cfg->wal_prefetch == 0 || rvx_walname_kind(name) != RVX_WAL_SEGMENT)
		return;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		rvx_debug("could not create \"%s\": %s", dir, strerror(errno));
		return;
	}

	fd = lock_queue(dir, true);
	if (fd >= 0 && !source_is(dir, cfg->repo.url))
	{
		/* another repository's segments, or a new queue */
		remove_files(dir, all_but_lock, NULL);
		if (!queue_path(path, sizeof(path), dir, "source", "") ||
			rvx_write_file_durable(path, cfg->repo.url, strlen(cfg->repo.url), true, &err) != 0)
		{
			rvx_debug("could not start a queue in \"%s\": %s", dir, err.msg);
			close(fd);
			return;
		}
	}

	/* where recovery is, for the prefetcher (a running one too) */
	if (!queue_path(path, sizeof(path), dir, "served", "") ||
		rvx_write_file_durable(path, name, strlen(name), false, &err) != 0)
	{
		rvx_debug("could not write \"%s\": %s", path, err.msg);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd < 0)
		return;					/* a prefetcher is at work */
	untouch(dir, "stop", "");	/* for a prefetcher that exited before it saw it */

	/*
	 * Marked before the prefetcher exists, so that the wal-fetch asking for
	 * the next segment waits for the prefetcher instead of racing it.
	 */
	touch(dir, "starting", "");
	fflush(stdout);
	fflush(stderr);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		detach(dir, name, cfg, fd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
	{
		rvx_debug("could not start a prefetcher: %s", strerror(errno));
		untouch(dir, "starting", "");
	}
	close(fd);
}

void
rvx_prefetch_stop(const char *dir)
{
	double		deadline = monotonic_s() + STOP_WAIT_S;
	struct stat st;
	int			fd;

	if (stat(dir, &st) != 0)
		return;
	/* a running prefetcher removes the queue itself when it sees this */
	touch(dir, "stop", "");
	while ((fd = lock_queue(dir, false)) < 0 && errno == EWOULDBLOCK)
	{
		if (monotonic_s() >= deadline)
			return;				/* it will, after the segment it is fetching */
		usleep(10000);
	}
	remove_queue(dir);
	if (fd >= 0)
		close(fd);
}
