/*-------------------------------------------------------------------------
 *
 * test_audit.c
 *	  Unit tests for the audit trail (agent/info/audit.c): the record's fields,
 *	  the key's shape and that key order is time order, reading the time
 *	  back from a key (and refusing what is not a record's key), the
 *	  retention rule at its boundary, and a round trip through a posix
 *	  repository, plain and encrypted (the record is an object like any
 *	  other, never replaced, listed oldest first, filtered by --since).
 *	  The S3 Object Lock headers of a record's PUT are in test_s3_http.c;
 *	  the commands that write records, in tests/t/029_audit.pl.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "info/audit.h"
#include "crypto.h"
#include "object.h"
#include "rvx_port.h"

/* 2026-12-06 19:57:16.000042 UTC */
#define WHEN	(INT64_C(1796587036) * 1000000 + 42)
#define DAY_US	(INT64_C(86400) * 1000000)

static const RvxAuditWho who = {"postgres", "db-1.example/x y", 4242};

static void
test_record_fields(void **state)
{
	json_t	   *details = json_pack("{s:i}", "files", 3);
	RvxAuditEvent ev = {
		.action = "backup", .backup_id = "20261206T195716Z", .ok = true,
		.error = "ignored when ok", .db_role = "alice", .details = details,
	};
	json_t	   *rec = rvx_audit_record_build(&ev, WHEN, UINT64_C(7412345678901234567), &who);

	assert_non_null(rec);
	assert_int_equal(json_integer_value(json_object_get(rec, "format")), RVX_AUDIT_FORMAT);
	assert_string_equal(json_string_value(json_object_get(rec, "time")), "2026-12-06T19:57:16.000042Z");
	assert_string_equal(json_string_value(json_object_get(rec, "action")), "backup");
	assert_string_equal(json_string_value(json_object_get(rec, "system_identifier")),
						"7412345678901234567");
	assert_string_equal(json_string_value(json_object_get(rec, "backup_id")), "20261206T195716Z");
	assert_string_equal(json_string_value(json_object_get(rec, "result")), "ok");
	assert_true(json_is_null(json_object_get(rec, "error")));
	assert_string_equal(json_string_value(json_object_get(rec, "os_user")), "postgres");
	assert_string_equal(json_string_value(json_object_get(rec, "host")), "db-1.example/x y");
	assert_int_equal(json_integer_value(json_object_get(rec, "pid")), 4242);
	assert_string_equal(json_string_value(json_object_get(rec, "db_role")), "alice");
	assert_string_equal(json_string_value(json_object_get(rec, "agent_version")), RVX_VERSION);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "details"), "files")), 3);
	assert_int_equal(json_object_size(rec), 13);
	json_decref(rec);
	/* the caller's details are borrowed, not taken */
	assert_int_equal(details->refcount, 1);
	json_decref(details);

	/* a failure without backup, role or cluster: nulls, and the message */
	ev = (RvxAuditEvent) {.action = "restore", .ok = false, .error = "directory not empty"};
	rec = rvx_audit_record_build(&ev, WHEN, 0, &who);
	assert_string_equal(json_string_value(json_object_get(rec, "result")), "failed");
	assert_string_equal(json_string_value(json_object_get(rec, "error")), "directory not empty");
	assert_true(json_is_null(json_object_get(rec, "backup_id")));
	assert_true(json_is_null(json_object_get(rec, "db_role")));
	assert_true(json_is_null(json_object_get(rec, "system_identifier")));
	assert_int_equal(json_object_size(json_object_get(rec, "details")), 0);
	json_decref(rec);

	/* a message that is not UTF-8 (a file name from disk) still makes a record */
	ev.error = "could not open \"/data/\xff\xfe\"";
	rec = rvx_audit_record_build(&ev, WHEN, 0, &who);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "error")), "could not open \"/data/??\"");
	json_decref(rec);
}

static void
test_key(void **state)
{
	char		key[RVX_AUDIT_KEY_MAXLEN];
	char		later[RVX_AUDIT_KEY_MAXLEN];
	char		next_day[RVX_AUDIT_KEY_MAXLEN];
	int64_t		t;

	rvx_audit_key(key, sizeof(key), WHEN, &who, 0xdeadbeef);
	/* the host is made safe for a key: '/' and ' ' are not kept */
	assert_string_equal(key, "audit/2026/12/06/20261206T195716.000042Z-db-1.example_x_y-4242-deadbeef.json");
	assert_true(rvx_audit_key_time(key, &t));
	assert_true(t == WHEN);

	/* one microsecond later sorts later, whatever host, pid and random part say */
	rvx_audit_key(later, sizeof(later), WHEN + 1, &(RvxAuditWho) {"a", "a", 1}, 0);
	assert_true(strcmp(key, later) < 0);
	rvx_audit_key(next_day, sizeof(next_day), WHEN + DAY_US, &(RvxAuditWho) {"a", "", 1}, 0);
	assert_true(strcmp(later, next_day) < 0);
	assert_non_null(strstr(next_day, "audit/2026/12/07/20261207T195716.000042Z-unknown-1-00000000.json"));

	/* not records: other prefixes, names without the time, folders that disagree */
	assert_false(rvx_audit_key_time("backup/2026/12/06/20261206T195716.000042Z-h-1-0.json", &t));
	assert_false(rvx_audit_key_time("audit/2026/12/06/notes.txt", &t));
	assert_false(rvx_audit_key_time("audit/2026/12/06/20261206T195716Z-h-1-0.json", &t));
	assert_false(rvx_audit_key_time("audit/2026/12/07/20261206T195716.000042Z-h-1-0.json", &t));
	assert_false(rvx_audit_key_time("audit/20261206T195716.000042Z-h-1-0.json", &t));
	assert_false(rvx_audit_key_time("audit/2026/13/06/20261306T195716.000042Z-h-1-0.json", &t));
}

static void
test_retention(void **state)
{
	int64_t		now = WHEN / 1000000 + 2557 * INT64_C(86400);

	/* exactly 2557 days old is kept; a microsecond more is not */
	assert_true(rvx_audit_retained(WHEN - 42, now, 2557));
	assert_false(rvx_audit_retained(WHEN - 43, now, 2557));
	assert_true(rvx_audit_retained(WHEN, now, 2557));
	assert_false(rvx_audit_retained(WHEN, now, 2556));
	/* from the future (a wrong clock): kept */
	assert_true(rvx_audit_retained(WHEN + DAY_US, WHEN / 1000000, 1));
	assert_int_equal(RVX_AUDIT_RETENTION_DEFAULT, 2557);
}

typedef struct Seen
{
	int			n;
	char		actions[256];
	int64_t		last;
} Seen;

static int
collect(void *arg, const char *key, json_t *rec)
{
	Seen	   *s = arg;
	int64_t		t;
	size_t		used = strlen(s->actions);

	assert_true(rvx_audit_key_time(key, &t));
	assert_true(t >= s->last);
	s->last = t;
	snprintf(s->actions + used, sizeof(s->actions) - used, "%s%s:%s", used ? " " : "",
			 json_string_value(json_object_get(rec, "action")),
			 json_string_value(json_object_get(rec, "result")));
	s->n++;
	return 0;
}

static void
round_trip(const RvxKey *key)
{
	char		root[] = "/tmp/revrx-test-audit-XXXXXX";
	char		url[128];
	char		cmd[256];
	RvxRepoConfig cfg = {0};
	RvxError	err = {0};
	RvxRepo    *repo;
	Seen		seen = {0};
	RvxAuditEvent ev = {.action = "pin", .backup_id = "20261206T195716Z", .ok = true};
	char	   *raw = NULL;
	size_t		len;
	int64_t		since;
	FILE	   *f;

	assert_non_null(mkdtemp(root));
	snprintf(url, sizeof(url), "file://%s", root);
	cfg.url = url;
	cfg.key = key;
	repo = rvx_repo_open(&cfg, &err);
	assert_non_null(repo);

	assert_int_equal(rvx_audit_write(repo, 42, &ev, &err), 0);
	ev = (RvxAuditEvent) {.action = "unpin", .backup_id = "20261206T195716Z", .ok = false,
	.error = "backup is not pinned"};
	assert_int_equal(rvx_audit_write(repo, 42, &ev, &err), 0);
	/* a stray object under audit/ is not part of the trail */
	assert_int_equal(rvx_repo_put_buffer(repo, "audit/README", "x", 1, 0, &err), 0);

	assert_int_equal(rvx_audit_list(repo, INT64_MIN, collect, &seen, &err), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.actions, "pin:ok unpin:failed");

	/* --since the second record's time: only it; a day from now: none */
	since = seen.last;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(rvx_audit_list(repo, since, collect, &seen, &err), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.actions, "unpin:failed");
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(rvx_audit_list(repo, (int64_t) time(NULL) * 1000000 + DAY_US, collect, &seen, &err), 0);
	assert_int_equal(seen.n, 0);

	/* stored as an object: the header first; encrypted, the JSON is not readable */
	snprintf(cmd, sizeof(cmd), "cat %s/audit/*/*/*/*.json", root);
	f = popen(cmd, "r");
	assert_non_null(f);
	raw = calloc(1, 65536);
	len = fread(raw, 1, 65535, f);
	pclose(f);
	assert_true(len > RVX_OBJECT_HEADER_LEN);
	assert_memory_equal(raw, RVX_OBJECT_MAGIC, 4);
	if (key)
		assert_null(memmem(raw, len, "\"action\"", 8));
	else
		assert_non_null(memmem(raw, len, "\"action\":\"pin\"", 14));
	free(raw);

	rvx_repo_close(repo);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static void
test_round_trip_plain(void **state)
{
	round_trip(NULL);
}

static void
test_round_trip_encrypted(void **state)
{
	uint8_t		master[RVX_KEY_LEN];
	RvxKey		key;

	memset(master, 7, sizeof(master));
	assert_int_equal(rvx_key_derive(master, &key), 0);
	round_trip(&key);
}

static void
test_exit_code(void **state)
{
	assert_int_equal(rvx_audit_exit_code(0, 0), 0);
	assert_int_equal(rvx_audit_exit_code(0, -1), RVX_E_AUDIT);
	/* a failed action keeps its own code: the audit failure never masks it */
	assert_int_equal(rvx_audit_exit_code(RVX_E_NOTFOUND, -1), RVX_E_NOTFOUND);
	assert_int_equal(rvx_audit_exit_code(RVX_E_USAGE, 0), RVX_E_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_fields),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_round_trip_plain),
		cmocka_unit_test(test_round_trip_encrypted),
		cmocka_unit_test(test_exit_code),
	};

	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
