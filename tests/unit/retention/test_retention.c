/*-------------------------------------------------------------------------
 *
 * test_retention.c
 *	  Unit tests for the retention policy (agent/retention/retention.c): given
 *	  backups (id, kind, parent, scheduled, label, stop_time, pinned), the
 *	  settings and now, exactly the expected set is retained, for the
 *	  expected reason, and WAL is kept from the right segment.  (The
 *	  deletion engine is exercised by tests/t/023_expire.pl.)
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

#include "retention/retention.h"

#define DAY		RVX_SECONDS_PER_DAY
/* 2026-11-26 10:00:00 UTC */
#define NOW		INT64_C(1795687200)

static const RvxRetentionPolicy defaults = {30, 90, 2};

/* A full backup that stopped age_days ago and started at segment segno. */
static RvxRetainBackup
backup(const char *id, double age_days, bool scheduled, bool labelled, uint64_t segno)
{
	RvxRetainBackup b;

	memset(&b, 0, sizeof(b));
	b.id = id;
	b.full = true;
	b.scheduled = scheduled;
	b.labelled = labelled;
	b.has_stop_time = true;
	b.stop_time = NOW - (int64_t) (age_days * DAY);
	b.start_segno = segno;
	return b;
}

static RvxRetainBackup *
find(RvxRetainBackup *b, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(b[i].id, id) == 0)
			return &b[i];
	fail_msg("no backup %s", id);
	return NULL;
}

static void
test_ages(void **state)
{
	RvxRetainBackup b[] = {
		backup("20260101T000000Z", 100, true, false, 1),	/* scheduled, too old */
		backup("20260102T000000Z", 80, false, true, 2), /* labelled, within 90 */
		backup("20260103T000000Z", 40, false, false, 3),	/* manual unlabelled: 30 days */
		backup("20260104T000000Z", 30, true, false, 4), /* exactly 30 days: kept */
		backup("20260105T000000Z", 30.0001, true, true, 5), /* scheduled with label: 30 */
		backup("20260106T000000Z", 1, true, false, 6),
		backup("20260107T000000Z", 0, true, false, 7),
	};
	size_t		n = sizeof(b) / sizeof(b[0]);

	assert_int_equal(rvx_retention_apply(&defaults, NOW, b, n), 4);
	assert_int_equal(find(b, n, "20260101T000000Z")->reason, RVX_RETAIN_NONE);
	assert_int_equal(find(b, n, "20260102T000000Z")->reason, RVX_RETAIN_AGE);
	assert_int_equal(find(b, n, "20260103T000000Z")->reason, RVX_RETAIN_NONE);
	assert_int_equal(find(b, n, "20260104T000000Z")->reason, RVX_RETAIN_AGE);
	assert_int_equal(find(b, n, "20260105T000000Z")->reason, RVX_RETAIN_NONE);
	assert_int_equal(find(b, n, "20260106T000000Z")->reason, RVX_RETAIN_AGE);
	assert_int_equal(find(b, n, "20260107T000000Z")->reason, RVX_RETAIN_AGE);
}

/* The newest full backups are kept however old, newest by stop_time, not id. */
static void
test_min_full(void **state)
{
	RvxRetainBackup b[] = {
		/* ids deliberately in the opposite order of their stop times */
		backup("20260101T000000Z", 300, true, false, 30),
		backup("20260102T000000Z", 200, true, false, 20),
		backup("20260103T000000Z", 100, true, false, 10),
	};
	RvxRetentionPolicy p = defaults;
	size_t		n = 3;

	assert_int_equal(rvx_retention_apply(&p, NOW, b, n), 2);
	assert_int_equal(b[0].reason, RVX_RETAIN_NONE);
	assert_int_equal(b[1].reason, RVX_RETAIN_MIN_FULL);
	assert_int_equal(b[2].reason, RVX_RETAIN_MIN_FULL);

	p.min_full = 0;
	assert_int_equal(rvx_retention_apply(&p, NOW, b, n), 0);
	p.min_full = 5;
	assert_int_equal(rvx_retention_apply(&p, NOW, b, n), 3);

	/* incrementals do not count as full: the two newest full ones are older */
	p.min_full = 2;
	b[2].full = false;
	b[2].parent = "20260102T000000Z";
	assert_int_equal(rvx_retention_apply(&p, NOW, b, n), 2);
	assert_int_equal(b[0].reason, RVX_RETAIN_MIN_FULL);
	assert_int_equal(b[1].reason, RVX_RETAIN_MIN_FULL);
	assert_int_equal(b[2].reason, RVX_RETAIN_NONE);
}

static void
test_pinned_and_unknown_age(void **state)
{
	RvxRetainBackup b[] = {
		backup("20250101T000000Z", 1000, false, true, 1),
		backup("20250102T000000Z", 1000, true, false, 2),
		backup("20260101T000000Z", 1, true, false, 3),
	};
	RvxRetentionPolicy p = {30, 90, 0};

	b[0].pinned = true;
	b[1].has_stop_time = false;
	assert_int_equal(rvx_retention_apply(&p, NOW, b, 3), 3);
	assert_int_equal(b[0].reason, RVX_RETAIN_PINNED);
	assert_int_equal(b[1].reason, RVX_RETAIN_UNKNOWN_AGE);
	assert_int_equal(b[2].reason, RVX_RETAIN_AGE);

	b[0].pinned = false;
	b[1].has_stop_time = true;
	assert_int_equal(rvx_retention_apply(&p, NOW, b, 3), 1);
}

/* A retained incremental keeps its whole chain, however old. */
static void
test_parents(void **state)
{
	RvxRetainBackup b[] = {
		backup("20250101T000000Z", 400, true, false, 1),	/* full F1 */
		backup("20250102T000000Z", 399, true, false, 2),	/* inc of F1 */
		backup("20250103T000000Z", 398, true, false, 3),	/* inc of the inc */
		backup("20250104T000000Z", 397, true, false, 4),	/* full F2, old */
		backup("20260101T000000Z", 1, true, false, 5),	/* inc of [2]: recent */
		backup("20260102T000000Z", 0.5, true, false, 6),	/* full, recent */
	};
	RvxRetentionPolicy p = {30, 90, 1};
	size_t		n = 6;
	uint64_t	bound;
	const RvxRetainBackup *oldest;

	b[1].full = false;
	b[1].parent = b[0].id;
	b[2].full = false;
	b[2].parent = b[1].id;
	b[4].full = false;
	b[4].parent = b[2].id;
	assert_int_equal(rvx_retention_apply(&p, NOW, b, n), 5);
	assert_int_equal(b[0].reason, RVX_RETAIN_PARENT);
	assert_int_equal(b[1].reason, RVX_RETAIN_PARENT);
	assert_int_equal(b[2].reason, RVX_RETAIN_PARENT);
	assert_string_equal(b[2].needed_by, b[4].id);
	assert_string_equal(b[0].needed_by, b[1].id);
	assert_int_equal(b[3].reason, RVX_RETAIN_NONE);
	assert_int_equal(b[4].reason, RVX_RETAIN_AGE);
	assert_int_equal(b[5].reason, RVX_RETAIN_AGE);

	/* WAL from the start of the oldest retained backup: the chain's full one */
	assert_true(rvx_retention_wal_bound(b, n, NULL, 0, &bound, &oldest));
	assert_int_equal(bound, 1);
	assert_ptr_equal(oldest, &b[0]);

	/* the chain goes once the incremental that needs it expires */
	b[4].stop_time = NOW - 100 * DAY;
	assert_int_equal(rvx_retention_apply(&p, NOW, b, n), 1);
	assert_true(rvx_retention_wal_bound(b, n, NULL, 0, &bound, &oldest));
	assert_int_equal(bound, 6);

	/* a parent that is not in the repository any more changes nothing */
	b[4].stop_time = NOW;
	b[4].parent = "20240101T000000Z";
	assert_int_equal(rvx_retention_apply(&p, NOW, b, n), 2);
}

static void
test_wal_bound(void **state)
{
	RvxRetainBackup b[] = {
		backup("20260101T000000Z", 100, true, false, 10),
		backup("20260102T000000Z", 20, true, false, 50),
		backup("20260103T000000Z", 10, true, false, 40),	/* not in segment order */
	};
	RvxRetentionPolicy p = {30, 90, 0};
	uint64_t	floors[] = {45, 30};
	uint64_t	bound = 0;
	const RvxRetainBackup *oldest;

	rvx_retention_apply(&p, NOW, b, 3);
	assert_true(rvx_retention_wal_bound(b, 3, NULL, 0, &bound, &oldest));
	assert_int_equal(bound, 40);
	assert_ptr_equal(oldest, &b[2]);
	/* a lease floor below it wins */
	assert_true(rvx_retention_wal_bound(b, 3, floors, 2, &bound, &oldest));
	assert_int_equal(bound, 30);
	assert_null(oldest);
	/* nothing retained: no bound, no WAL deleted */
	p.scheduled_days = 1;
	rvx_retention_apply(&p, NOW, b, 3);
	assert_false(rvx_retention_wal_bound(b, 3, floors, 2, &bound, &oldest));
}

static void
test_segno(void **state)
{
	uint64_t	s;

	assert_true(rvx_retention_segno("000000010000000000000003", 16 * 1024 * 1024, &s));
	assert_int_equal(s, 3);
	assert_true(rvx_retention_segno("000000020000000100000004", 16 * 1024 * 1024, &s));
	assert_int_equal(s, 256 + 4);
	assert_true(rvx_retention_segno("000000010000000100000004", 64 * 1024 * 1024, &s));
	assert_int_equal(s, 64 + 4);
	assert_true(rvx_retention_segno("000000010000000000000005.partial", 16 * 1024 * 1024, &s));
	assert_int_equal(s, 5);
	assert_true(rvx_retention_segno("000000010000000000000006.00000028.backup", 16 * 1024 * 1024, &s));
	assert_int_equal(s, 6);
	/* history files have no position: always kept */
	assert_false(rvx_retention_segno("00000002.history", 16 * 1024 * 1024, &s));
	assert_false(rvx_retention_segno("bogus", 16 * 1024 * 1024, &s));
}

static void
test_explain(void **state)
{
	RvxRetainBackup b = backup("20260101T000000Z", 95, false, true, 1);
	char		buf[512];

	rvx_retention_apply(&defaults, NOW, &b, 1);
	/* the only full backup: kept by min_full */
	rvx_retention_explain(&defaults, NOW, &b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "REVRX_RETAIN_MIN_FULL"));
	b.full = false;
	rvx_retention_apply(&defaults, NOW, &b, 1);
	rvx_retention_explain(&defaults, NOW, &b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "labelled manual backup"));
	assert_non_null(strstr(buf, "older than 90 days (REVRX_RETAIN_LABELLED_DAYS)"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ages),
		cmocka_unit_test(test_min_full),
		cmocka_unit_test(test_pinned_and_unknown_age),
		cmocka_unit_test(test_parents),
		cmocka_unit_test(test_wal_bound),
		cmocka_unit_test(test_segno),
		cmocka_unit_test(test_explain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
