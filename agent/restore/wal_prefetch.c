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
 * Removes from the queue, by its lock's holder: with upto NULL, everything
 * but the lock, or, with remove, everything and the directory itself;
 * otherwise the segments up to upto's position (whatever their timeline:
 * recovery has passed them) and what no fetch is writing any more.
 */
static void
clear_queue(const char *dir, const char *upto, bool remove)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		const char *n = de->d_name;
		char		path[PATH_MAX];
		bool		doomed;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (upto == NULL)
			doomed = remove || strcmp(n, "lock") != 0;
		else if (rvx_walname_kind(n) == RVX_WAL_SEGMENT)
			doomed = strcmp(n + 8, upto + 8) <= 0;
		else
			doomed = strcmp(n, "lock") != 0 && strcmp(n, "source") != 0 &&
				strcmp(n, "stop") != 0 && strncmp(n, "served", 6) != 0;
		if (doomed && queue_path(path, sizeof(path), dir, n, ""))
			unlink(path);
	}
	closedir(d);
	if (remove)
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

	if (slash == NULL)
		return false;
	for (const char *c = dest; c < slash; c++)
		if (*c == '/')
			parent = c + 1;
	if (slash - parent != 6 || strncmp(parent, "pg_wal", 6) != 0)
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

	/* as long as a fetch of it may still succeed */
	deadline = rvx_now_s() + cfg->repo.timeout_ms / 1000.0 * (cfg->repo.retries + 1);
	while (access(path, F_OK) != 0 &&
		   (queue_has(dir, name, ".fetching") || queue_has(dir, "starting", "")) &&
		   prefetcher_running(dir) && rvx_now_s() < deadline)
		usleep(5000);
	return rename(path, dest) == 0;
}

static void
exit_quietly(int signo)
{
	(void) signo;
	_exit(0);
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
 * 1 when queued, 0 when not stored whole, -1 on failure.
 */
static int
prefetch_one(RvxRepo *repo, const RvxClusterInfo *ci, const char *dir, const char *name)
{
	char		path[PATH_MAX];
	char		key[256];
	RvxObjectInfo info;
	RvxError	err;
	int			rc;

	if (!queue_path(path, sizeof(path), dir, name, ""))
		return -1;
	touch(dir, name, ".fetching");
	rc = rvx_wal_find(repo, name, RVX_COMPRESS_ZSTD, key, sizeof(key), &info, &err);
	if (rc > 0)
		rc = rvx_fetch_to_file(repo, key, ci->system_id, path, &err) == 0 ? 1 : -1;
	untouch(dir, name, ".fetching");
	if (rc < 0)
		rvx_debug("prefetch of \"%s\": %s", name, err.msg);
	else if (rc > 0)
		rvx_debug("fetched \"%s\" ahead of recovery", name);
	return rc;
}

/*
 * The prefetcher, in the forked child, holding the queue's lock: keeps the
 * cfg->wal_prefetch segments after the one served last in the queue, in
 * order, following wal-fetch as recovery goes on (to a new timeline too),
 * until the repository does not hold the next one whole, a fetch fails,
 * recovery ends (the stop mark), or nothing was taken for IDLE_S.  Never
 * returns.
 */
static void
prefetch_main(const char *dir, const char *first, const RvxConfig *cfg)
{
	RvxRepo    *repo;
	RvxClusterInfo ci;
	RvxError	err;
	char		served[RVX_WALNAME_SEGLEN + 1];
	char		seen[RVX_WALNAME_SEGLEN + 1] = "";
	uint32_t	high_tli = 0;
	uint64_t	high = 0;		/* the last segment queued, on high_tli */
	double		busy_at = rvx_now_s();
	int			fd;

	setsid();
	signal(SIGTERM, exit_quietly);
	signal(SIGINT, exit_quietly);
	signal(SIGQUIT, exit_quietly);
	signal(SIGHUP, exit_quietly);
	signal(SIGPIPE, SIG_IGN);
	if ((fd = open("/dev/null", O_RDONLY)) >= 0)
	{
		dup2(fd, STDIN_FILENO);
		close(fd);
	}

	repo = rvx_repo_open(&cfg->repo, &err);
	if (repo == NULL || rvx_repo_meta_load(repo, &ci, &err) != 0)
	{
		rvx_debug("prefetch after \"%s\": %s", first, err.msg);
		goto done;
	}
	while (!queue_has(dir, "stop", ""))
	{
		char		next[RVX_WALNAME_SEGLEN + 1];
		uint32_t	tli;
		uint64_t	segno;

		if (!read_served(dir, served))
			snprintf(served, sizeof(served), "%s", first);
		if (strcmp(served, seen) != 0)
		{
			/* recovery moved on: forget what it passed */
			clear_queue(dir, served, false);
			snprintf(seen, sizeof(seen), "%s", served);
			busy_at = rvx_now_s();
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
			if (high >= segno + cfg->wal_prefetch || !queue_has(dir, next, ""))
				break;
			high++;
		}
		if (high < segno + cfg->wal_prefetch)
			touch(dir, next, ".fetching");
		untouch(dir, "starting", "");
		if (high >= segno + cfg->wal_prefetch)
		{
			/* the queue is full: wait for wal-fetch to take one */
			if (rvx_now_s() - busy_at > IDLE_S)
				break;
			usleep(10000);
			continue;
		}
		if (prefetch_one(repo, &ci, dir, next) <= 0)
			break;				/* not stored whole, or failed: wal-fetch decides when asked */
		high++;
		busy_at = rvx_now_s();
	}

done:
	untouch(dir, "starting", "");
	if (queue_has(dir, "stop", ""))
		clear_queue(dir, NULL, true);
	if (repo != NULL)
		rvx_repo_close(repo);
	_exit(0);
}

void
rvx_prefetch_ahead(const char *dir, const char *name, const RvxConfig *cfg)
{
	char		path[PATH_MAX];
	RvxError	err;
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
		clear_queue(dir, NULL, false);
		if (!queue_path(path, sizeof(path), dir, "source", "") ||
			rvx_write_file_durable(path, cfg->repo.url, strlen(cfg->repo.url), false, &err) != 0)
		{
			rvx_debug("could not start a queue in \"%s\"", dir);
			close(fd);
			return;
		}
	}

	/* where recovery is, for the prefetcher (a running one too) */
	if (!queue_path(path, sizeof(path), dir, "served", "") ||
		rvx_write_file_durable(path, name, strlen(name), false, &err) != 0)
	{
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
	pid = fork();
	if (pid == 0)
		prefetch_main(dir, name, cfg);
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
	double		deadline = rvx_now_s() + STOP_WAIT_S;
	struct stat st;
	int			fd;

	if (stat(dir, &st) != 0)
		return;
	/* a running prefetcher removes the queue itself when it sees this */
	touch(dir, "stop", "");
	while ((fd = lock_queue(dir, false)) < 0 && errno == EWOULDBLOCK)
	{
		if (rvx_now_s() >= deadline)
			return;				/* it will, after the segment it is fetching */
		usleep(10000);
	}
	clear_queue(dir, NULL, true);
	if (fd >= 0)
		close(fd);
}
