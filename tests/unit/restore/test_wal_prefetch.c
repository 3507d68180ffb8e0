/*-------------------------------------------------------------------------
 *
 * test_wal_prefetch.c
 *	  Unit tests for the queue of segments fetched ahead of recovery
 *	  (agent/restore/wal_prefetch.c), the parts that need no repository:
 *	  which destinations have a queue, when a queued segment is taken, and
 *	  how a request for a history file removes the queue, with and without
 *	  a prefetcher holding it, and that the process wal-fetch leaves behind
 *	  exits with status 0 however the prefetcher ends.  The prefetcher itself, against a repository
 *	  and a recovering server, is tests/t/040_wal_prefetch.pl's.
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "restore/wal_prefetch.h"

#define SEG		"000000010000000000000005"
#define URL		"file:///repo"

static char root[PATH_MAX];
static char pgwal[PATH_MAX];
static char queue[PATH_MAX];

static void
put(const char *name, const char *content)
{
	char		path[PATH_MAX];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", queue, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static bool
has(const char *dir, const char *name)
{
	char		path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static int
setup(void **state)
{
	char		tmpl[] = "/tmp/revrx-unit-prefetch-XXXXXX";

	(void) state;
	assert_non_null(mkdtemp(tmpl));
	snprintf(root, sizeof(root), "%s", tmpl);
	snprintf(pgwal, sizeof(pgwal), "%s/pg_wal", root);
	assert_int_equal(mkdir(pgwal, 0700), 0);
	snprintf(queue, sizeof(queue), "%s/revrx_prefetch", pgwal);
	assert_int_equal(mkdir(queue, 0700), 0);
	return 0;
}

static int
teardown(void **state)
{
	char		cmd[PATH_MAX + 16];

	(void) state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_dir(void **state)
{
	char		dir[PATH_MAX];

	(void) state;
	assert_true(rvx_prefetch_dir("pg_wal/RECOVERYXLOG", dir, sizeof(dir)));
	assert_string_equal(dir, "pg_wal/revrx_prefetch");
	assert_true(rvx_prefetch_dir("/data/pg_wal/RECOVERYHISTORY", dir, sizeof(dir)));
	assert_string_equal(dir, "/data/pg_wal/revrx_prefetch");
	/* anything else is a fetch by hand, or pg_rewind's (the real name) */
	assert_false(rvx_prefetch_dir("pg_wal/" SEG, dir, sizeof(dir)));
	assert_false(rvx_prefetch_dir("/data/pg_wal/00000002.history", dir, sizeof(dir)));
	assert_false(rvx_prefetch_dir("RECOVERYXLOG", dir, sizeof(dir)));
	assert_false(rvx_prefetch_dir("/tmp/seg", dir, sizeof(dir)));
	assert_false(rvx_prefetch_dir("/data/xpg_wal/RECOVERYXLOG", dir, sizeof(dir)));
	assert_false(rvx_prefetch_dir("/data/pg_wal/sub/RECOVERYXLOG", dir, sizeof(dir)));
	assert_false(rvx_prefetch_dir("pg_wal/RECOVERYXLOG", dir, 8));
}

static void
test_take(void **state)
{
	RvxConfig	cfg;
	char		dest[PATH_MAX];

	(void) state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.repo.url = URL;
	cfg.repo.timeout_ms = 1000;
	cfg.wal_prefetch = 8;
	snprintf(dest, sizeof(dest), "%s/RECOVERYXLOG", pgwal);

	put(SEG, "segment");
	/* no source: not this repository's queue */
	assert_false(rvx_prefetch_take(queue, SEG, dest, &cfg));
	put("source", "file:///elsewhere");
	assert_false(rvx_prefetch_take(queue, SEG, dest, &cfg));
	put("source", "file:///repo/x");
	assert_false(rvx_prefetch_take(queue, SEG, dest, &cfg));
	assert_false(has(pgwal, "RECOVERYXLOG"));

	put("source", URL);
	cfg.wal_prefetch = 0;
	assert_false(rvx_prefetch_take(queue, SEG, dest, &cfg));
	cfg.wal_prefetch = 8;
	assert_false(rvx_prefetch_take(queue, "000000010000000000000006", dest, &cfg));
	assert_true(rvx_prefetch_take(queue, SEG, dest, &cfg));
	assert_true(has(pgwal, "RECOVERYXLOG"));
	assert_false(has(queue, SEG));

	/* a mark with no prefetcher holding the lock is not waited for */
	put("lock", "");
	put("000000010000000000000006.fetching", "");
	put("starting", "");
	{
		struct timespec t0,
					t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_false(rvx_prefetch_take(queue, "000000010000000000000006", dest, &cfg));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* well under the 1 s it would wait for a live one */
		assert_true((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 0.5);
	}
}

static void
test_take_waits(void **state)
{
	RvxConfig	cfg;
	char		dest[PATH_MAX];
	char		lock[PATH_MAX];
	pid_t		pid;
	int			fd;

	(void) state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.repo.url = URL;
	cfg.repo.timeout_ms = 10000;
	cfg.wal_prefetch = 8;
	snprintf(dest, sizeof(dest), "%s/RECOVERYXLOG", pgwal);
	put("source", URL);
	put(SEG ".fetching", "");
	snprintf(lock, sizeof(lock), "%s/lock", queue);
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);

	/* a "prefetcher" that finishes the segment a little later */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
	{
		char		part[PATH_MAX];
		char		done[PATH_MAX];
		char		mark[PATH_MAX];
		FILE	   *f;

		usleep(200000);
		snprintf(part, sizeof(part), "%s/%s.revrx.tmp", queue, SEG);
		snprintf(done, sizeof(done), "%s/%s", queue, SEG);
		snprintf(mark, sizeof(mark), "%s/%s.fetching", queue, SEG);
		f = fopen(part, "w");
		fputs("fetched", f);
		fclose(f);
		rename(part, done);
		unlink(mark);
		_exit(0);
	}
	assert_true(rvx_prefetch_take(queue, SEG, dest, &cfg));
	assert_true(has(pgwal, "RECOVERYXLOG"));
	close(fd);
	waitpid(pid, NULL, 0);
}

static void
test_stop(void **state)
{
	char		lock[PATH_MAX];
	int			fd;

	(void) state;
	/* a prefetcher holding the queue: it is told to remove it */
	put(SEG, "segment");
	snprintf(lock, sizeof(lock), "%s/lock", queue);
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	rvx_prefetch_stop(queue);
	assert_true(has(queue, "stop"));
	assert_true(has(queue, SEG));
	close(fd);

	/* none: removed at once */
	rvx_prefetch_stop(queue);
	assert_false(has(pgwal, "revrx_prefetch"));
	/* and nothing to do without a queue */
	rvx_prefetch_stop(queue);
	assert_false(has(pgwal, "revrx_prefetch"));
}

/* A process whose parent is ppid, waited for up to 5 s; 0 if none. */
static pid_t
child_of(pid_t ppid)
{
	for (int tries = 0; tries < 500; tries++)
	{
		char		path[64];
		FILE	   *f;
		pid_t		pid = 0;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) ppid, (int) ppid);
		if ((f = fopen(path, "r")) != NULL)
		{
			int			n = fscanf(f, "%d", &pid);

			fclose(f);
			if (n == 1 && pid > 0)
				return pid;
		}
		usleep(10000);
	}
	return 0;
}

/*
 * Whatever ends the prefetcher, the process left behind by wal-fetch exits
 * with status 0: a PID 1 postmaster would take anything else for a crash.
 * This test process stands in for PID 1 (a subreaper adopts the orphans),
 * and the prefetcher hangs opening the repository's repo.json (a FIFO).
 */
static void
test_exit_status(void **state)
{
	RvxConfig	cfg;
	char		repo[PATH_MAX];
	char		url[PATH_MAX + 8];
	char		fifo[PATH_MAX + 16];
	int			status;

	(void) state;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	snprintf(repo, sizeof(repo), "%s/repo", root);
	assert_int_equal(mkdir(repo, 0700), 0);
	snprintf(fifo, sizeof(fifo), "%s/repo.json", repo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(url, sizeof(url), "file://%s", repo);
	memset(&cfg, 0, sizeof(cfg));
	cfg.repo.url = url;
	cfg.repo.timeout_ms = 1000;
	cfg.wal_prefetch = 2;
	cfg.log_level = RVX_LOG_INFO;

	for (int round = 0; round < 2; round++)
	{
		pid_t		detached,
					prefetcher;

		rvx_prefetch_ahead(queue, SEG, &cfg);
		detached = child_of(getpid());
		assert_true(detached > 0);
		prefetcher = child_of(detached);
		assert_true(prefetcher > 0);
		if (round == 0)
			kill(prefetcher, SIGKILL);	/* the OOM killer, say */
		else
			kill(detached, SIGTERM);	/* passed on to the prefetcher */
		assert_int_equal(waitpid(detached, &status, 0), detached);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		if (round == 1)
		{
			/* adopted by us once its parent was gone */
			assert_int_equal(waitpid(prefetcher, &status, 0), prefetcher);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
	}
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir),
		cmocka_unit_test_setup_teardown(test_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_status, setup, teardown),
	};

	return cmocka_run_group_tests_name("wal_prefetch", tests, NULL, NULL);
}
