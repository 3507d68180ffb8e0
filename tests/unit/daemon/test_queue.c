/*-------------------------------------------------------------------------
 *
 * test_queue.c
 *	  Unit tests for the daemon's work queue (agent/daemon/queue.c), which
 *	  neither blocks nor does I/O, so it is tested here without threads:
 *	  WAL items survive the growth of their array and are taken oldest
 *	  first, a backup's queued objects are dropped without touching
 *	  another's, and the catalog and drills refreshes are queued once each,
 *	  when due.  (The daemon as a whole runs in tests/unit/ship/
 *	  test_backup_ship.c and the TAP tests.)
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

#include <cmocka.h>

#include "daemon/daemon_int.h"

static RvxConfig cfg;

static void
state_init(RunState *rs)
{
	memset(rs, 0, sizeof(*rs));
	memset(&cfg, 0, sizeof(cfg));
	cfg.parallel = 4;
	rs->cfg = &cfg;
	rs->catalog_period = 300;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_cond_init(&rs->work, NULL);
}

static void
state_free(RunState *rs)
{
	while (rs->obj_head)
		free(daemon_pop_job(&rs->obj_head, &rs->obj_tail));
	while (rs->ctl_head)
		free(daemon_pop_job(&rs->ctl_head, &rs->ctl_tail));
	free(rs->items);
	free(rs->backups);
}

static void
segment_name(char *buf, size_t cap, unsigned int segno)
{
	snprintf(buf, cap, "00000001%016X", segno);
}

/* 200 items (the array starts at 64): each is found, in order; oldest first. */
static void
test_items_grow_and_oldest_first(void **state)
{
	RunState	rs;
	char		name[RVX_WALNAME_MAXLEN + 1];
	Pending    *p = NULL;
	BackupJob  *job = NULL;

	state_init(&rs);
	/* added newest first, so the oldest is the last one added */
	for (unsigned int i = 200; i > 0; i--)
	{
		segment_name(name, sizeof(name), i);
		p = daemon_add_item(&rs, name);
		assert_non_null(p);
		p->queued = true;
	}
	assert_int_equal(rs.nitems, 200);
	assert_true(rs.cap >= 200);
	for (unsigned int i = 1; i <= 200; i++)
	{
		segment_name(name, sizeof(name), i);
		p = daemon_find_item(&rs, name);
		assert_non_null(p);
		assert_string_equal(p->name, name);
	}

	/* the oldest queued, and not one in flight */
	segment_name(name, sizeof(name), 1);
	daemon_find_item(&rs, name)->inflight = true;
	assert_int_equal(daemon_pick_job(&rs, &p, &job), JOB_WAL);
	segment_name(name, sizeof(name), 2);
	assert_string_equal(p->name, name);

	/* removing one keeps the others */
	daemon_remove_item(&rs, p);
	assert_null(daemon_find_item(&rs, name));
	assert_int_equal(rs.nitems, 199);
	assert_int_equal(daemon_pick_job(&rs, &p, &job), JOB_WAL);
	segment_name(name, sizeof(name), 3);
	assert_string_equal(p->name, name);
	state_free(&rs);
}

/* Dropping a backup's objects leaves the other backup's, and a usable tail. */
static void
test_drop_queued_objects(void **state)
{
	RunState	rs;
	SpooledBackup *a;
	SpooledBackup *b;
	BackupJob  *job;
	Pending    *p = NULL;
	int			n = 0;

	state_init(&rs);
	a = daemon_add_backup(&rs, "20261126T084500Z");
	b = daemon_add_backup(&rs, "20261126T094500Z");
	assert_non_null(a);
	assert_non_null(b);
	/* interleaved, and the last one is a's: the tail must move back */
	for (int i = 0; i < 6; i++)
	{
		SpooledBackup *sb = i % 2 ? a : b;
		char		rel[32];

		snprintf(rel, sizeof(rel), "base/1/%d", i);
		daemon_push_job(&rs.obj_head, &rs.obj_tail,
						daemon_new_job(JOB_OBJECT, sb->id, rel));
		sb->queued++;
	}
	a = daemon_find_backup(&rs, "20261126T084500Z");
	daemon_drop_queued_objects(&rs, a);
	assert_int_equal(a->queued, 0);
	daemon_push_job(&rs.obj_head, &rs.obj_tail,
					daemon_new_job(JOB_OBJECT, "20261126T094500Z", "base/1/last"));
	for (job = rs.obj_head; job; job = job->next)
	{
		assert_string_equal(job->id, "20261126T094500Z");
		n++;
	}
	assert_int_equal(n, 4);
	assert_string_equal(rs.obj_tail->relpath, "base/1/last");

	/* objects are taken in the order found */
	assert_int_equal(daemon_pick_job(&rs, &p, &job), JOB_OBJECT);
	assert_string_equal(job->relpath, "base/1/0");
	free(job);
	state_free(&rs);
}

/* The catalog when its period is over, else the drills; each once. */
static void
test_queue_refresh(void **state)
{
	RunState	rs;
	double		now = 1000000;
	Pending    *p = NULL;
	BackupJob  *job = NULL;

	state_init(&rs);
	rs.last_catalog = now - 300;
	rs.last_drills = now - 300;
	daemon_queue_refresh(&rs, now);
	assert_true(rs.catalog_queued);
	assert_false(rs.drills_queued);
	/* queued already: not twice, and no drills while the catalog is on its way */
	daemon_queue_refresh(&rs, now + 60);
	assert_int_equal(daemon_pick_job(&rs, &p, &job), JOB_CATALOG);
	free(job);
	assert_null(rs.ctl_head);

	/* the catalog is fresh: the drills' turn once DRILLS_PERIOD_S is over */
	rs.catalog_queued = false;
	rs.last_catalog = now;
	rs.last_drills = now;
	daemon_queue_refresh(&rs, now + DRILLS_PERIOD_S - 1);
	assert_null(rs.ctl_head);
	daemon_queue_refresh(&rs, now + DRILLS_PERIOD_S);
	assert_true(rs.drills_queued);
	daemon_queue_refresh(&rs, now + DRILLS_PERIOD_S + 1);
	assert_int_equal(daemon_pick_job(&rs, &p, &job), JOB_DRILLS);
	free(job);
	assert_null(rs.ctl_head);
	state_free(&rs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_items_grow_and_oldest_first),
		cmocka_unit_test(test_drop_queued_objects),
		cmocka_unit_test(test_queue_refresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
