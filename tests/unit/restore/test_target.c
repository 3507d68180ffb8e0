/*-------------------------------------------------------------------------
 *
 * test_target.c
 *	  Unit tests for recovery targets (agent/restore/target.c): the values an
 *	  operator types are parsed exactly or refused, written back in a form
 *	  PostgreSQL accepts, and compared with where backups end and with what
 *	  the repository reaches.  (The repository side is exercised by
 *	  tests/t/015_pitr.pl.)
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

#include "restore/target.h"

/* 2026-11-26 10:00:00 UTC */
#define T0	(INT64_C(1795687200) * 1000000)

static void
test_parse_time(void **state)
{
	static const struct
	{
		const char *text;
		int64_t		us;
	}			good[] = {
		{"2026-11-26 10:00:00+00", T0},
		{"2026-11-26T10:00:00Z", T0},
		{"2026-11-26 10:00:00 UTC", T0},
		{"2026-11-26 10:00+00", T0},
		{"2026-11-26 11:30:00+01:30", T0},
		{"2026-11-26 11:30:00+0130", T0},
		{"2026-11-26 05:00:00-05", T0},
		{"2026-11-26 10:00:00.5+00", T0 + 500000},
		{"2026-11-26 10:00:00.000001Z", T0 + 1},
		{"2026-11-26 10:00:00.123456+00", T0 + 123456},
		/* beyond microseconds: rounded, as PostgreSQL rounds */
		{"2026-11-26 10:00:00.1234564+00", T0 + 123456},
		{"2026-11-26 10:00:00.1234565+00", T0 + 123457},
		{"2026-11-26T10:00:00.123456789Z", T0 + 123457},
		{"2026-11-26 09:59:59.9999995+00", T0},
	};
	static const char *const bad[] = {
		"", "now", "2026-11-26", "2026-11-26 10:00:00", "2026-13-01 00:00:00+00",
		"2026-02-29 00:00:00+00", "2026-11-26 24:00:00+00", "2026-11-26 10:60:00+00",
		"2026-11-26 10:00:00.+00", "2026-11-26 10:00:00+00 x",
		"26-11-26 10:00:00+00", "2026-11-26 10:00:00 CET", "2026-11-26 10:00:00+16",
	};
	RvxError	err;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		int64_t		us = 0;

		if (rvx_target_parse_time(good[i].text, &us, &err) != 0)
			fail_msg("\"%s\" refused: %s", good[i].text, err.msg);
		assert_int_equal(us, good[i].us);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		int64_t		us;

		if (rvx_target_parse_time(bad[i], &us, &err) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(err.code, RVX_E_USAGE);
		assert_non_null(strstr(err.msg, "invalid recovery target time"));
	}
	/* leap day */
	{
		int64_t		us;

		assert_int_equal(rvx_target_parse_time("2028-02-29 00:00:00+00", &us, &err), 0);
	}
}

static void
test_format_time(void **state)
{
	char		buf[64];

	rvx_time_format(T0, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-26 10:00:00.000000+00");
	rvx_time_format(T0 + 123456, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-26 10:00:00.123456+00");
}

static void
test_parse_lsn_xid(void **state)
{
	uint64_t	v;
	RvxError	err;

	assert_int_equal(rvx_target_parse_lsn("0/3000028", &v, &err), 0);
	assert_true(v == UINT64_C(0x3000028));
	assert_int_equal(rvx_target_parse_lsn("1A/ff", &v, &err), 0);
	assert_true(v == ((UINT64_C(0x1A) << 32) | 0xff));
	assert_int_equal(rvx_target_parse_lsn("0/3000028x", &v, &err), -1);
	assert_int_equal(err.code, RVX_E_USAGE);
	assert_int_equal(rvx_target_parse_lsn("3000028", &v, &err), -1);
	assert_int_equal(rvx_target_parse_lsn("/1", &v, &err), -1);
	assert_int_equal(rvx_target_parse_lsn("123456789/1", &v, &err), -1);
	assert_int_equal(rvx_target_parse_lsn("0/-1", &v, &err), -1);

	assert_int_equal(rvx_target_parse_xid("750", &v, &err), 0);
	assert_true(v == 750);
	assert_int_equal(rvx_target_parse_xid("8589934594", &v, &err), -1);	/* epoch 2, xid 2 */
	assert_int_equal(rvx_target_parse_xid("8589935342", &v, &err), 0);
	assert_int_equal(rvx_target_parse_xid("2", &v, &err), -1);
	assert_int_equal(rvx_target_parse_xid("-5", &v, &err), -1);
	assert_int_equal(rvx_target_parse_xid("12a", &v, &err), -1);
	assert_int_equal(rvx_target_parse_xid("99999999999999999999999", &v, &err), -1);
	assert_int_equal(err.code, RVX_E_USAGE);
}

static void
test_options(void **state)
{
	RvxRecoveryTarget t = RVX_TARGET_INIT;
	RvxError	err;

	assert_int_equal(rvx_target_set(&t, RVX_TARGET_LSN, "0/1", &err), 0);
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_TIME, "2026-11-26 10:00:00+00", &err), -1);
	assert_non_null(strstr(err.msg, "only one recovery target"));

	t = (RvxRecoveryTarget) RVX_TARGET_INIT;
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_IMMEDIATE, "now", &err), -1);
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_IMMEDIATE, "immediate", &err), 0);
	t.exclusive = true;
	assert_int_equal(rvx_target_check(&t, &err), -1);
	assert_non_null(strstr(err.msg, "--target-exclusive"));

	t = (RvxRecoveryTarget) RVX_TARGET_INIT;
	assert_int_equal(rvx_target_set_action(&t, "pause", &err), 0);
	assert_int_equal(rvx_target_check(&t, &err), -1);	/* an action without a target */
	assert_int_equal(rvx_target_set_action(&t, "explode", &err), -1);
	assert_int_equal(rvx_target_set_timeline(&t, "current", &err), 0);
	assert_int_equal(rvx_target_set_timeline(&t, "3", &err), 0);
	assert_int_equal(rvx_target_set_timeline(&t, "0", &err), -1);
	assert_int_equal(rvx_target_set_timeline(&t, "x", &err), -1);
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_NAME, "", &err), -1);
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_NAME, "a\nb", &err), -1);
}

static void
test_conf(void **state)
{
	RvxRecoveryTarget t = RVX_TARGET_INIT;
	RvxError	err;
	char		conf[2048];

	assert_int_equal(rvx_target_conf(&t, conf, sizeof(conf)), 0);
	assert_non_null(strstr(conf, "recovery_target_time = ''\n"));
	assert_non_null(strstr(conf, "recovery_target_timeline = 'latest'\n"));
	assert_null(strstr(conf, "recovery_target_action"));
	assert_null(strstr(conf, "recovery_target_inclusive"));

	assert_int_equal(rvx_target_set(&t, RVX_TARGET_TIME, "2026-11-26T11:00:00.25+01", &err), 0);
	t.exclusive = true;
	assert_int_equal(rvx_target_set_action(&t, "shutdown", &err), 0);
	assert_int_equal(rvx_target_conf(&t, conf, sizeof(conf)), 0);
	assert_non_null(strstr(conf, "recovery_target_time = '2026-11-26 10:00:00.250000+00'\n"));
	assert_non_null(strstr(conf, "recovery_target_lsn = ''\n"));
	assert_non_null(strstr(conf, "recovery_target = ''\n"));
	assert_non_null(strstr(conf, "recovery_target_inclusive = false\n"));
	assert_non_null(strstr(conf, "recovery_target_action = 'shutdown'\n"));
	/* PostgreSQL 15 refuses clearing one kind after another is set */
	assert_true(strstr(conf, "recovery_target_time = '") > strstr(conf, "recovery_target_xid = ''"));
	assert_true(strstr(conf, "recovery_target_time = '") > strstr(conf, "recovery_target_name = ''"));

	t = (RvxRecoveryTarget) RVX_TARGET_INIT;
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_NAME, "it's \\ here", &err), 0);
	assert_int_equal(rvx_target_set_timeline(&t, "2", &err), 0);
	assert_int_equal(rvx_target_conf(&t, conf, sizeof(conf)), 0);
	assert_non_null(strstr(conf, "recovery_target_name = 'it''s \\\\ here'\n"));
	assert_non_null(strstr(conf, "recovery_target_action = 'promote'\n"));
	assert_non_null(strstr(conf, "recovery_target_timeline = '2'\n"));
	assert_null(strstr(conf, "recovery_target_inclusive"));
}

static void
test_backup_end(void **state)
{
	RvxBackupEnd b;
	RvxError	err;
	json_t	   *rec = json_pack("{s:s, s:s, s:s, s:i, s:s}", "id", "20261126T095959Z",
								"stop_lsn", "0/5000100", "stop_time", "2026-11-26T10:00:00Z",
								"timeline", 1, "next_xid", "750");
	RvxRecoveryTarget t = RVX_TARGET_INIT;

	assert_int_equal(rvx_backup_end_from_record(rec, &b, &err), 0);
	assert_true(b.stop_lsn == UINT64_C(0x5000100));
	/* whole seconds: the backup ended before the next second */
	assert_true(b.stop_time_us == T0 + 1000000);
	assert_true(b.has_next_xid && b.next_xid == 750);

	assert_int_equal(rvx_target_set(&t, RVX_TARGET_TIME, "2026-11-26 10:00:00.5+00", &err), 0);
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), 0);
	t.time_us = T0 + 1000000;
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), 1);

	t = (RvxRecoveryTarget) RVX_TARGET_INIT;
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_LSN, "0/50000FF", &err), 0);
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), 0);
	t.lsn = UINT64_C(0x5000100);
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), 1);

	t = (RvxRecoveryTarget) RVX_TARGET_INIT;
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_XID, "749", &err), 0);
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), 0);
	t.xid = 750;
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), 1);
	/* epoch-qualified: epoch 1 is after every xid of epoch 0 */
	t.xid = (UINT64_C(1) << 32) | 10;
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), 1);
	b.has_next_xid = false;
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), -1);

	t = (RvxRecoveryTarget) RVX_TARGET_INIT;
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_NAME, "before-migration", &err), 0);
	assert_int_equal(rvx_target_reachable_from(&t, UINT64_C(0x5000000), &b), 0);
	assert_int_equal(rvx_target_reachable_from(&t, UINT64_C(0x6000000), &b), 1);
	assert_int_equal(rvx_target_reachable_from(&t, 0, &b), 1);	/* not recorded: trusted */

	json_object_set_new(rec, "stop_lsn", json_string("zz"));
	assert_int_equal(rvx_backup_end_from_record(rec, &b, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	json_decref(rec);
}

static void
test_reach(void **state)
{
	RvxReach	r = {true, UINT64_C(0x3000100), T0, true, UINT64_C(0x9000000), T0 + 300 * 1000000};
	RvxRecoveryTarget t = RVX_TARGET_INIT;
	RvxError	err;

	assert_int_equal(rvx_target_set(&t, RVX_TARGET_TIME, "2026-11-26 10:01:00+00", &err), 0);
	assert_int_equal(rvx_target_check_reach(&t, 0, &r, &err), 0);
	t.time_us = T0 - 1;
	assert_int_equal(rvx_target_check_reach(&t, 0, &r, &err), -1);
	assert_int_equal(err.code, RVX_E_USAGE);
	assert_non_null(strstr(err.msg, "before the end of the oldest backup"));
	assert_non_null(strstr(err.msg, "reachable: 2026-11-26 10:00:00+00 .. 2026-11-26 10:05:00+00"));
	t.time_us = T0 + 301 * 1000000;
	assert_int_equal(rvx_target_check_reach(&t, 0, &r, &err), -1);
	assert_non_null(strstr(err.msg, "after the last archived WAL"));

	t = (RvxRecoveryTarget) RVX_TARGET_INIT;
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_LSN, "0/9000001", &err), 0);
	assert_int_equal(rvx_target_check_reach(&t, 0, &r, &err), -1);
	assert_non_null(strstr(err.msg, "reachable: 0/3000100 .. 0/9000000"));
	t.lsn = UINT64_C(0x9000000);
	assert_int_equal(rvx_target_check_reach(&t, 0, &r, &err), 0);

	t = (RvxRecoveryTarget) RVX_TARGET_INIT;
	assert_int_equal(rvx_target_set(&t, RVX_TARGET_NAME, "p", &err), 0);
	assert_int_equal(rvx_target_check_reach(&t, UINT64_C(0x2000000), &r, &err), -1);
	assert_int_equal(rvx_target_check_reach(&t, 0, &r, &err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_parse_lsn_xid),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_backup_end),
		cmocka_unit_test(test_reach),
	};

	return cmocka_run_group_tests_name("target", tests, NULL, NULL);
}
