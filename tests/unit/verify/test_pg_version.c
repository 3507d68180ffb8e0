/*-------------------------------------------------------------------------
 *
 * test_pg_version.c
 *	  Unit tests for the PostgreSQL major version checks of the agent
 *	  (agent/verify/pginstance.c, agent/info/catalog.c): the version line of the
 *	  programs is read right, programs of another major than the backup's
 *	  are refused with their own exit code and a message naming both, and a
 *	  backup record's major is found in old and new records.
 *	  (tests/t/027_pg_versions.pl runs the refusal end to end.)
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "info/catalog.h"
#include "verify/pginstance.h"

static void
test_version_major(void **state)
{
	assert_int_equal(rvx_pg_version_major("postgres (PostgreSQL) 17.2"), 17);
	assert_int_equal(rvx_pg_version_major("postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"), 15);
	assert_int_equal(rvx_pg_version_major("postgres (PostgreSQL) 18beta1"), 18);
	assert_int_equal(rvx_pg_version_major("pg_ctl (PostgreSQL) 16.4"), 16);
	/* a packager's own name before the version does not count */
	assert_int_equal(rvx_pg_version_major("postgres (PostgreSQL) 16.1 (Ubuntu 16.1-1.pgdg22.04+1)"), 16);
	assert_int_equal(rvx_pg_version_major(""), 0);
	assert_int_equal(rvx_pg_version_major("postgres (PostgreSQL)"), 0);
}

static void
test_major_check(void **state)
{
	RvxError	err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(rvx_pg_major_check(15, "/usr/lib/postgresql/15/bin", 15, "20261126T084500Z", &err), 0);
	assert_int_equal(err.code, RVX_OK);

	assert_int_equal(rvx_pg_major_check(17, "/opt/pg17/bin", 15, "20261126T084500Z", &err), -1);
	assert_int_equal(err.code, RVX_E_PG_VERSION);
	assert_int_equal(RVX_E_PG_VERSION, 12);		/* an exit code: stable */
	assert_non_null(strstr(err.msg, "backup 20261126T084500Z is of PostgreSQL 15"));
	assert_non_null(strstr(err.msg, "\"/opt/pg17/bin\" are of PostgreSQL 17"));
	assert_non_null(strstr(err.msg, "REVRX_PG_BINDIR"));

	/* an older major is refused as well: no program replays another's WAL */
	assert_int_equal(rvx_pg_major_check(15, "/b", 17, NULL, &err), -1);
	assert_int_equal(err.code, RVX_E_PG_VERSION);
}

static void
test_binary_major(void **state)
{
	char		dir[] = "/tmp/rvx_pgver_XXXXXX";
	char		path[64];
	char		text[256];
	int			major = -1;
	RvxPgInstance pg;
	RvxError	err;
	FILE	   *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/postgres", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho 'postgres (PostgreSQL) 17.2'\n", f);
	fclose(f);
	chmod(path, 0700);
	memset(&pg, 0, sizeof(pg));
	snprintf(pg.bindir, sizeof(pg.bindir), "%s", dir);
	assert_int_equal(rvx_pg_binary_major(&pg, &major, text, sizeof(text), &err), 0);
	assert_int_equal(major, 17);
	assert_string_equal(text, "postgres (PostgreSQL) 17.2");

	/* a program that says no version is a setting error, not a guess */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho hello\n", f);
	fclose(f);
	assert_int_equal(rvx_pg_binary_major(&pg, &major, text, sizeof(text), &err), -1);
	assert_int_equal(err.code, RVX_E_CONFIG);
	unlink(path);
	rmdir(dir);
}

static void
test_record_major(void **state)
{
	json_t	   *now = json_pack("{s:i, s:i}", "pg_version_num", 150020, "pg_major", 15);
	json_t	   *old = json_pack("{s:i}", "pg_version_num", 170002);

	assert_int_equal(rvx_backup_record_major(now), 15);
	/* records written before "pg_major" */
	assert_int_equal(rvx_backup_record_major(old), 17);
	json_decref(now);
	json_decref(old);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_major),
		cmocka_unit_test(test_major_check),
		cmocka_unit_test(test_binary_major),
		cmocka_unit_test(test_record_major),
	};

	return cmocka_run_group_tests_name("pg_version", tests, NULL, NULL);
}
