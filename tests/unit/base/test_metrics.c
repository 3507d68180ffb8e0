/*-------------------------------------------------------------------------
 *
 * test_metrics.c
 *	  Unit tests of agent/base/metrics.c (what /metrics and /readyz report) and
 *	  of the REVRX_LISTEN parser in agent/config/config.c.
 *
 * The exposition text is checked line by line: every sample belongs to a
 * metric announced by # HELP and # TYPE, label values are escaped, the
 * catalog files of the spool are read when present and ignored when absent
 * or malformed, and the recovery point exposure is derived from the oldest
 * waiting file.
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

#include "config/config.h"
#include "base/metrics.h"
#include "spool.h"

static char spool[] = "/tmp/revrx-test-metrics.XXXXXX";

static void
write_status_file(const char *name, const char *text)
{
	char		path[512];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/status", spool);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s", spool, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
remove_status_file(const char *name)
{
	char		path[512];

	snprintf(path, sizeof(path), "%s/%s", spool, name);
	unlink(path);
}

static char *
render(double now)
{
	size_t		len = 0;
	char	   *text = rvx_metrics_render(spool, now, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The value of the sample whose name (with labels) is exactly name; NaN-ish -1 if absent. */
static double
sample(const char *text, const char *name)
{
	size_t		n = strlen(name);
	const char *p = text;

	while ((p = strstr(p, name)) != NULL)
	{
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

/* Every sample line names a metric announced by # HELP and # TYPE before it. */
static void
assert_well_formed(const char *text)
{
	char	   *copy = strdup(text);
	char	   *save = NULL;
	char		typed[64][96];
	int			ntyped = 0;

	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char		name[96];
		size_t		n;
		bool		found = false;

		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0)
		{
			assert_true(ntyped < 64);
			n = strcspn(line + 7, " ");
			snprintf(typed[ntyped++], sizeof(typed[0]), "%.*s", (int) n, line + 7);
			assert_true(strcmp(line + 7 + n, " gauge") == 0 || strcmp(line + 7 + n, " counter") == 0);
			continue;
		}
		n = strcspn(line, "{ ");
		snprintf(name, sizeof(name), "%.*s", (int) n, line);
		assert_true(strncmp(name, "revrx_", 6) == 0);
		for (int i = 0; i < ntyped; i++)
			found = found || strcmp(typed[i], name) == 0;
		if (!found)
			fail_msg("sample without # TYPE: %s", line);
	}
	free(copy);
}

static void
test_empty(void **state)
{
	char	   *text;

	rvx_metrics_reset();
	text = render(1000);
	assert_well_formed(text);
	assert_null(strstr(text, "revrx_wal_last_stored_info"));
	assert_true(sample(text, "revrx_wal_backlog_files") == 0);
	assert_true(sample(text, "revrx_rpo_exposure_seconds") == 0);
	assert_true(sample(text, "revrx_backups") == 0);
	assert_null(strstr(text, "revrx_last_backup_age_seconds"));
	assert_null(strstr(text, "revrx_last_verification"));
	assert_true(sample(text, "revrx_errors_total{kind=\"network\"}") == 0);
	assert_true(sample(text, "revrx_repository_up") == 0);
	free(text);
}

static void
test_counters_and_exposure(void **state)
{
	RvxError	err = {RVX_E_NETWORK, "connection refused"};
	char	   *text;

	rvx_metrics_reset();
	rvx_metrics_count_upload(100);
	rvx_metrics_count_upload(23);
	rvx_metrics_count_download(7);
	rvx_metrics_count_error(RVX_E_NETWORK);
	rvx_metrics_count_error(RVX_E_NETWORK);
	rvx_metrics_count_error(RVX_E_CORRUPT);
	rvx_metrics_count_error((RvxErrorCode) 999);	/* unknown: counted as internal */
	rvx_metrics_wal_stored("000000010000000000000005", 900);
	rvx_metrics_wal_stored("000000010000000000000003", 950);	/* older name, stored later */
	rvx_metrics_set_backlog(3, 48000, 990.5);
	rvx_metrics_repo_result(-1, &err);

	text = render(1000);
	assert_well_formed(text);
	assert_true(sample(text, "revrx_upload_bytes_total") == 123);
	assert_true(sample(text, "revrx_download_bytes_total") == 7);
	assert_true(sample(text, "revrx_errors_total{kind=\"network\"}") == 2);
	assert_true(sample(text, "revrx_errors_total{kind=\"corrupt\"}") == 1);
	assert_true(sample(text, "revrx_errors_total{kind=\"internal\"}") == 1);
	assert_true(sample(text, "revrx_wal_last_stored_info{segment=\"000000010000000000000005\"}") == 1);
	assert_true(sample(text, "revrx_wal_last_stored_timestamp_seconds") == 950);
	assert_true(sample(text, "revrx_wal_backlog_files") == 3);
	assert_true(sample(text, "revrx_wal_backlog_bytes") == 48000);
	assert_true(sample(text, "revrx_rpo_exposure_seconds") == 9.5);
	assert_true(sample(text, "revrx_repository_up") == 0);
	free(text);

	/* the backlog drains: exposure is 0 again, whatever the old time was */
	rvx_metrics_set_backlog(0, 0, 990.5);
	text = render(2000);
	assert_true(sample(text, "revrx_rpo_exposure_seconds") == 0);
	free(text);
}

/* revrx_rpo_exposure_seconds as rendered at now. */
static double
exposure_at(double now)
{
	char	   *text = render(now);
	double		v = sample(text, "revrx_rpo_exposure_seconds");

	free(text);
	return v;
}

/*
 * With WAL stored (partials every second), the exposure is the age of the
 * newest stored WAL byte while WAL waits, or of the oldest waiting file if
 * that is older (a gap); 0 with nothing waiting.
 */
static void
test_exposure_from_newest_stored(void **state)
{
	rvx_metrics_reset();
	/* a partial written at 998 stored; the next one (999.5) waits */
	rvx_metrics_wal_newest(UINT64_C(0x3A00000), 998.0);
	rvx_metrics_set_backlog(1, 4000, 999.5);
	assert_true(exposure_at(1000.0) == 2.0);
	/* an older end never replaces a newer one */
	rvx_metrics_wal_newest(UINT64_C(0x3000000), 999.8);
	assert_true(exposure_at(1000.0) == 2.0);
	/* a segment waiting since 990 is a gap before the partial: its age counts */
	rvx_metrics_set_backlog(2, 9000, 990.0);
	assert_true(exposure_at(1000.0) == 10.0);
	rvx_metrics_set_backlog(0, 0, 0);
	assert_true(exposure_at(1000.0) == 0);
}

static void
test_repo_result(void **state)
{
	RvxError	net = {RVX_E_NETWORK, "could not connect"};
	RvxError	corrupt = {RVX_E_CORRUPT, "checksum mismatch"};
	RvxError	missing = {RVX_E_NOTFOUND, "no such key"};
	RvxHealth	h;

	rvx_metrics_reset();
	rvx_metrics_health(&h);
	assert_true(h.repo_checked_at == 0);

	rvx_metrics_repo_result(-1, &net);
	rvx_metrics_health(&h);
	assert_false(h.repo_ok);
	assert_string_equal(h.repo_reason, "could not connect");
	assert_true(h.repo_checked_at > 0);

	/* a corrupt object says nothing about reachability */
	rvx_metrics_repo_result(-1, &corrupt);
	rvx_metrics_health(&h);
	assert_false(h.repo_ok);

	/* "not found" is an answer: the repository is there */
	rvx_metrics_repo_result(-1, &missing);
	rvx_metrics_health(&h);
	assert_true(h.repo_ok);
	assert_string_equal(h.repo_reason, "");

	rvx_metrics_repo_result(-1, &net);
	rvx_metrics_repo_result(1, NULL);	/* head: found */
	rvx_metrics_health(&h);
	assert_true(h.repo_ok);

	rvx_metrics_heartbeat();
	rvx_metrics_health(&h);
	assert_true(h.heartbeat_at > 0);
}

/*
 * Reads allowed, writes denied: not ready, and reads in between do not
 * make it ready again (no flapping); a write that succeeds does.
 */
static void
test_repo_write_refused(void **state)
{
	RvxError	denied = {RVX_E_AUTH, "403 AccessDenied"};
	RvxError	conflict = {RVX_E_CONFLICT, "different content"};
	RvxHealth	h;

	rvx_metrics_reset();
	rvx_metrics_repo_result(1, NULL);	/* head */
	rvx_metrics_repo_write_result(-1, &denied);	/* put */
	rvx_metrics_health(&h);
	assert_false(h.repo_ok);

	rvx_metrics_repo_result(0, NULL);	/* the HEAD before the next upload */
	rvx_metrics_repo_result(1, NULL);	/* the idle probe */
	rvx_metrics_health(&h);
	assert_false(h.repo_ok);
	assert_string_equal(h.repo_reason, "writes refused: 403 AccessDenied");

	/* a refused overwrite is an answer about content, not about access */
	rvx_metrics_repo_write_result(-1, &conflict);
	rvx_metrics_health(&h);
	assert_false(h.repo_ok);

	rvx_metrics_repo_write_result(0, NULL);
	rvx_metrics_health(&h);
	assert_true(h.repo_ok);
	assert_string_equal(h.repo_reason, "");

	/* and an unreachable repository is still reported as such */
	{
		RvxError	net = {RVX_E_NETWORK, "could not connect"};

		rvx_metrics_repo_write_result(-1, &net);
		rvx_metrics_health(&h);
		assert_false(h.repo_ok);
		assert_string_equal(h.repo_reason, "could not connect");
	}
}

static void
test_catalog_files(void **state)
{
	char	   *text;

	rvx_metrics_reset();
	write_status_file("status/backups.json",
					  "{\"format\":1,\"updated_at\":1,\"backups\":["
					  "{\"id\":\"a\",\"stop_time\":\"2026-11-26T08:45:03Z\"},"
					  "{\"id\":\"b\",\"stop_time\":\"2026-11-26T10:00:00Z\"},"
					  "{\"id\":\"c\"}]}");
	write_status_file(RVX_SPOOL_VERIFICATIONS_FILE,
					  "{\"verifications\":[{\"backup_id\":\"we\\\"ird\\\\id\\n\",\"passed\":true,"
					  "\"recovery_seconds\":2.5,\"total_seconds\":42.25,\"finished_at\":1795690000},"
					  "{\"backup_id\":\"old\",\"passed\":false}]}");
	/* no server.json yet: no server metrics */
	text = render(1795687200 + 60);
	assert_null(strstr(text, "revrx_server_wal_ready_files"));
	free(text);
	write_status_file(RVX_SPOOL_SERVER_FILE,
					  "{\"format\":1,\"updated_at\":1795687230,\"wal_ready_files\":3,"
					  "\"wal_ready_bytes\":50331648}");
	text = render(1795687200 + 60);
	assert_well_formed(text);
	assert_true(sample(text, "revrx_server_wal_ready_files") == 3);
	assert_true(sample(text, "revrx_server_wal_ready_bytes") == 50331648);
	assert_true(sample(text, "revrx_server_status_age_seconds") == 30);
	assert_true(sample(text, "revrx_backups") == 3);
	assert_true(sample(text, "revrx_last_backup_timestamp_seconds") == 1795687200);
	assert_true(sample(text, "revrx_last_backup_age_seconds") == 60);
	/* the newest (first) verification, its id escaped as a label value */
	assert_true(sample(text, "revrx_last_verification_passed{backup_id=\"we\\\"ird\\\\id\\n\"}") == 1);
	assert_true(sample(text, "revrx_last_verification_recovery_seconds") == 42.25);
	assert_true(sample(text, "revrx_last_verification_timestamp_seconds") == 1795690000);
	free(text);

	/* malformed files are ignored, not fatal */
	write_status_file("status/backups.json", "{\"backups\": [tru");
	write_status_file(RVX_SPOOL_VERIFICATIONS_FILE, "{\"verifications\": 5}");
	text = render(1000);
	assert_well_formed(text);
	assert_true(sample(text, "revrx_backups") == 0);
	assert_null(strstr(text, "revrx_last_verification"));
	free(text);

	remove_status_file("status/backups.json");
	remove_status_file(RVX_SPOOL_VERIFICATIONS_FILE);
}

/* Backups acknowledged without their audit record: counted, and named to /readyz. */
static void
test_audit_pending(void **state)
{
	char	   *text;
	RvxHealth	h;

	rvx_metrics_reset();
	text = render(1000);
	assert_true(sample(text, "revrx_audit_pending") == 0);
	free(text);
	rvx_metrics_audit_pending(2);
	text = render(1000);
	assert_well_formed(text);
	assert_true(sample(text, "revrx_audit_pending") == 2);
	free(text);
	rvx_metrics_health(&h);
	assert_int_equal(h.audit_pending, 2);
	rvx_metrics_reset();
	rvx_metrics_health(&h);
	assert_int_equal(h.audit_pending, 0);
}

static void
test_listen(void **state)
{
	static const struct
	{
		const char *in;
		const char *host;		/* NULL = refused */
		int			port;
	}			cases[] = {
		{"127.0.0.1:9187", "127.0.0.1", 9187},
		{"[::1]:9187", "::1", 9187},
		{":9187", "0.0.0.0", 9187},
		{"localhost:80", "127.0.0.1", 80},
		{"0.0.0.0:65535", "0.0.0.0", 65535},
		{"127.0.0.1:0", NULL, 0},
		{"127.0.0.1:65536", NULL, 0},
		{"127.0.0.1:-1", NULL, 0},
		{"127.0.0.1:+1", NULL, 0},
		{"127.0.0.1:", NULL, 0},
		{"127.0.0.1", NULL, 0},
		{"9187", NULL, 0},
		{"::1:9187", NULL, 0},
		{"[::1]9187", NULL, 0},
		{"[127.0.0.1]:9187", NULL, 0},
		{"example.com:9187", NULL, 0},
		{"127.0.0.1:91x", NULL, 0},
		{"", NULL, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		host[64] = "";
		int			port = 0;
		bool		ok = rvx_config_parse_listen(cases[i].in, host, sizeof(host), &port);

		if (cases[i].host == NULL)
		{
			if (ok)
				fail_msg("\"%s\" accepted", cases[i].in);
			continue;
		}
		if (!ok)
			fail_msg("\"%s\" refused", cases[i].in);
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
	}
}

static int
setup(void **state)
{
	return mkdtemp(spool) ? 0 : -1;
}

static int
teardown(void **state)
{
	char		path[512];

	snprintf(path, sizeof(path), "%s/status", spool);
	rmdir(path);
	rmdir(spool);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_counters_and_exposure),
		cmocka_unit_test(test_exposure_from_newest_stored),
		cmocka_unit_test(test_repo_result),
		cmocka_unit_test(test_repo_write_refused),
		cmocka_unit_test(test_catalog_files),
		cmocka_unit_test(test_audit_pending),
		cmocka_unit_test(test_listen),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
