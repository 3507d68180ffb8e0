/*-------------------------------------------------------------------------
 *
 * test_wal_prefetch.c
 *	  Unit tests for the queue of segments fetched ahead of recovery
 *	  (agent/restore/wal_prefetch.c), the parts that need no repository:
 *	  which destinations have a queue, when a queued segment is taken, and
 *	  how a request for a history file removes the queue, with and without
 *	  a prefetcher holding it.  The prefetcher itself, against a repository
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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	assert_true(rvx_prefetch_dir("/data/pg_wal/RECOVERYXLOG", dir, sizeof(dir)));
	assert_string_equal(dir, "/data/pg_wal/revrx_prefetch");
	/* anything else is a fetch by hand */
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
	assert_false(rvx_prefetch_take(queue, "000000010000000000000006", dest, &cfg));
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir),
		cmocka_unit_test_setup_teardown(test_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
	};

	return cmocka_run_group_tests_name("wal_prefetch", tests, NULL, NULL);
}
