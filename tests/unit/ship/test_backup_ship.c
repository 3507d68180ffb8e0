/*-------------------------------------------------------------------------
 *
 * test_backup_ship.c
 *	  Unit tests for shipping base backups from the spool
 *	  (agent/ship/ship_backup.c, catalog.c, and the scheduler in daemon/), on
 *	  a posix repository in a temporary directory.
 *
 * What would make them fail: a backup.json stored while an object of the
 * backup is still in the spool, or while a WAL segment between start_wal
 * and stop_wal is missing from the repository; a spooled object deleted
 * before it was stored; no .ok after the commit, or one that does not name
 * the record's SHA-256; different content overwritten; an aborted backup
 * leaving objects in the repository or files in the spool; a complete
 * backup deleted by an abort; the daemon not doing all of this by itself;
 * a committed backup acknowledged (.ok) before its audit record is stored,
 * recorded without the role of its requested_by, or twice; an aborted one
 * not recorded as failed with the server's reason.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "info/audit.h"
#include "command/commands.h"
#include "daemon/schedule.h"
#include "test_backup_fixture.h"

#define ID	"20261126T084500Z"
#define ID2 "20261126T090000Z"

/* The audit records of the repository, as "action:result:backup:role:error;" each. */
static int
audit_line(void *arg, const char *key, json_t *rec)
{
	char	   *out = arg;
	size_t		used = strlen(out);
	const char *role = json_string_value(json_object_get(rec, "db_role"));
	const char *error = json_string_value(json_object_get(rec, "error"));

	snprintf(out + used, 1024 - used, "%s:%s:%s:%s:%s;",
			 json_string_value(json_object_get(rec, "action")),
			 json_string_value(json_object_get(rec, "result")),
			 json_string_value(json_object_get(rec, "backup_id")),
			 role ? role : "-", error ? error : "-");
	return 0;
}

static const char *
audit_trail(Fixture *fx)
{
	static char out[1024];
	RvxError	err;

	out[0] = '\0';
	assert_int_equal(rvx_audit_list(fx->repo, INT64_MIN, audit_line, out, &err), 0);
	return out;
}

static void
test_commit_waits_for_objects_and_wal(void **state)
{
	Fixture    *fx = *state;
	RvxBackupScan scan;
	RvxBackupCommit commit;
	RvxError	err;
	char		path[PATH_MAX];
	char		hex[RVX_SHA256_HEXLEN + 1];
	char	   *text;
	RvxObjectHeader hdr;
	char	   *record;
	size_t		len;
	RvxCatalog *cat = rvx_catalog_new(fx->spool, SYSID);
	json_t	   *doc;
	json_t	   *b;

	fx_spool_backup(fx, ID, NULL);
	assert_int_equal(rvx_backup_spool_scan(fx->spool, ID, NULL, NULL, &scan, &err), 0);
	assert_int_equal(scan.objects, fx->nfiles + 1);	/* + backup_manifest */
	assert_true(scan.has_record);

	/* objects still in the spool: the record stays */
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, cat, &commit, &err), 0);
	assert_false(commit.committed);
	assert_false(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));

	assert_int_equal(fx_ship_objects(fx, ID), fx->nfiles + 1);
	assert_true(fx_exists("%s/backup/%s/data/base/1/16384.zst", fx->repodir, ID));
	assert_true(fx_exists("%s/backup/%s/data/base/1/16385.zst", fx->repodir, ID));
	assert_true(fx_exists("%s/backup/%s/backup_manifest.zst", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s/data/base/1/16384.rvx", fx->spool, ID));
	assert_false(fx_exists("%s/backup/%s/backup_manifest.rvx", fx->spool, ID));

	/* no WAL at all, then only the first segment: still held back */
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, cat, &commit, &err), 0);
	assert_false(commit.committed);
	assert_non_null(strstr(commit.waiting_for, START_WAL));
	fx_ship_wal(fx, START_WAL);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, cat, &commit, &err), 0);
	assert_false(commit.committed);
	assert_non_null(strstr(commit.waiting_for, STOP_WAL));
	assert_false(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s.ok", fx->spool, ID));
	assert_true(fx_exists("%s/backup/%s/backup.json.rvx", fx->spool, ID));
	assert_string_equal(audit_trail(fx), "");

	/* the last segment arrives: committed */
	snprintf(path, sizeof(path), "%s/backup/%s/backup.json.rvx", fx->spool, ID);
	assert_int_equal(rvx_object_load_file(path, SYSID, 1 << 20, &record, &len, &hdr, &err), 0);
	free(record);
	fx_ship_wal(fx, STOP_WAL);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, cat, &commit, &err), 0);
	assert_true(commit.committed);
	assert_true(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s", fx->spool, ID));
	/* recorded once, with the role that asked (backup.json's requested_by) */
	assert_string_equal(audit_trail(fx), "backup:ok:" ID ":alice:-;");

	/* .ok names the record's SHA-256 */
	snprintf(path, sizeof(path), "%s/backup/%s.ok", fx->spool, ID);
	text = fx_slurp(path, NULL);
	assert_non_null(text);
	rvx_hex_encode(hdr.sha256, RVX_SHA256_LEN, hex);
	assert_int_equal(strlen(text), RVX_SHA256_HEXLEN + 1);
	assert_memory_equal(text, hex, RVX_SHA256_HEXLEN);
	free(text);

	/* the published catalog has the summary, without the file list */
	snprintf(path, sizeof(path), "%s/%s", fx->spool, RVX_SPOOL_BACKUPS_FILE);
	text = fx_slurp(path, NULL);
	assert_non_null(text);
	doc = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "format")), 1);
	assert_int_equal(json_array_size(json_object_get(doc, "backups")), 1);
	b = json_array_get(json_object_get(doc, "backups"), 0);
	assert_string_equal(json_string_value(json_object_get(b, "id")), ID);
	assert_string_equal(json_string_value(json_object_get(b, "stop_wal")), STOP_WAL);
	assert_null(json_object_get(b, "files"));
	assert_null(json_object_get(b, "directories"));
	json_decref(doc);

	/* a refresh from the repository finds the same */
	assert_int_equal(rvx_catalog_refresh(cat, fx->repo, &err), 0);
	rvx_catalog_free(cat);
}

/*
 * A backup is acknowledged only once it is recorded: with audit/ not
 * writable the commit fails and sends no .ok (the record stays stored),
 * and the repeated commit records it, once.
 */
static void
test_commit_waits_for_audit(void **state)
{
	Fixture    *fx = *state;
	RvxBackupCommit commit;
	RvxError	err;
	char		path[PATH_MAX];
	FILE	   *f;

	fx_spool_backup(fx, ID, NULL);
	fx_ship_objects(fx, ID);
	fx_ship_wal(fx, START_WAL);
	fx_ship_wal(fx, STOP_WAL);
	/* a file where the audit/ directory must be */
	snprintf(path, sizeof(path), "%s/audit", fx->repodir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, NULL, &commit, &err), -1);
	assert_non_null(strstr(err.msg, "is stored, but its audit record could not be written"));
	assert_false(commit.committed);
	assert_true(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s.ok", fx->spool, ID));

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, NULL, &commit, &err), 0);
	assert_true(commit.committed);
	assert_true(fx_exists("%s/backup/%s.ok", fx->spool, ID));
	assert_string_equal(audit_trail(fx), "backup:ok:" ID ":alice:-;");
}

/* The lease of backup id is in the repository. */
static bool
lease_exists(Fixture *fx, const char *id)
{
	return fx_exists("%s/locks/backup-%s.json", fx->repodir, id);
}

/* Makes audit/ unwritable (a file where its directory goes); returns its path. */
static const char *
block_audit(Fixture *fx)
{
	static char path[PATH_MAX];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/audit", fx->repodir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	return path;
}

/*
 * M4/S6: past REVRX_AUDIT_PENDING_AFTER_S a stored backup whose audit
 * record fails is acknowledged anyway (not left to fail on the server),
 * its lease goes, and its record is stored once the repository takes it.
 */
static void
test_commit_audit_failure_is_bounded(void **state)
{
	Fixture    *fx = *state;
	RvxBackupCommit commit;
	RvxError	err;
	const char *blocked;
	int			left = -1;

	fx_spool_backup(fx, ID, NULL);
	fx_ship_objects(fx, ID);
	fx_ship_wal(fx, START_WAL);
	fx_ship_wal(fx, STOP_WAL);
	assert_true(lease_exists(fx, ID));
	blocked = block_audit(fx);

	/* within the bound: a transient failure, repeated; the lease stays */
	rvx_ship_backup_set_audit_bound(600);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, NULL, &commit, &err), -1);
	assert_true(rvx_error_transient(&err));
	assert_false(commit.committed);
	assert_true(lease_exists(fx, ID));

	/* past it: acknowledged, lease dropped, the record queued */
	rvx_ship_backup_set_audit_bound(0);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, NULL, &commit, &err), 0);
	assert_true(commit.committed);
	assert_true(commit.audit_pending);
	assert_true(fx_exists("%s/backup/%s.ok", fx->spool, ID));
	assert_false(lease_exists(fx, ID));
	assert_int_equal(rvx_ship_backup_audit_pending(fx->spool), 1);

	/* retried in the background: still failing, then stored once writable */
	assert_int_equal(rvx_ship_backup_audit_retry(fx->repo, fx->spool, &fx->ci, &left, &err), -1);
	assert_int_equal(left, 1);
	assert_int_equal(unlink(blocked), 0);
	assert_int_equal(rvx_ship_backup_audit_retry(fx->repo, fx->spool, &fx->ci, &left, &err), 0);
	assert_int_equal(left, 0);
	assert_int_equal(rvx_ship_backup_audit_pending(fx->spool), 0);
	assert_string_equal(audit_trail(fx), "backup:ok:" ID ":alice:-;");
	rvx_ship_backup_set_audit_bound(600);
}

/*
 * M4: the server gave up on a backup whose backup.json is stored but whose
 * audit record failed: the abort keeps it, records it as complete and
 * drops its lease.
 */
static void
test_abort_of_stored_backup_records_it(void **state)
{
	Fixture    *fx = *state;
	RvxBackupCommit commit;
	RvxError	err;
	char		path[PATH_MAX];
	const char *blocked;
	FILE	   *f;

	fx_spool_backup(fx, ID, NULL);
	fx_ship_objects(fx, ID);
	fx_ship_wal(fx, START_WAL);
	fx_ship_wal(fx, STOP_WAL);
	blocked = block_audit(fx);
	rvx_ship_backup_set_audit_bound(600);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, NULL, &commit, &err), -1);
	assert_true(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	assert_true(lease_exists(fx, ID));

	snprintf(path, sizeof(path), "%s/backup/%s.aborted", fx->spool, ID);
	f = fopen(path, "w");
	fputs("revrx-agent could not store it: InvalidRequest\n", f);
	fclose(f);
	/* the record still cannot be written: the abort is repeated, nothing is lost */
	assert_int_equal(rvx_ship_backup_abort(fx->repo, fx->spool, ID, &fx->ci, &err), -1);
	assert_true(rvx_error_transient(&err));
	assert_true(fx_exists("%s/backup/%s.aborted", fx->spool, ID));
	assert_true(lease_exists(fx, ID));

	assert_int_equal(unlink(blocked), 0);
	assert_int_equal(rvx_ship_backup_abort(fx->repo, fx->spool, ID, &fx->ci, &err), 0);
	assert_true(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	assert_false(lease_exists(fx, ID));
	assert_false(fx_exists("%s/backup/%s.aborted", fx->spool, ID));
	assert_string_equal(audit_trail(fx), "backup:ok:" ID ":alice:-;");
}

static void
test_commit_refuses_missing_object(void **state)
{
	Fixture    *fx = *state;
	RvxBackupCommit commit;
	RvxError	err;
	char		key[PATH_MAX];

	fx_spool_backup(fx, ID, NULL);
	fx_ship_objects(fx, ID);
	fx_ship_wal(fx, START_WAL);
	fx_ship_wal(fx, STOP_WAL);
	snprintf(key, sizeof(key), "backup/%s/data/base/1/1259.zst", ID);
	assert_int_equal(rvx_repo_remove(fx->repo, key, &err), 0);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, ID, &fx->ci, NULL, &commit, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, key));
	assert_false(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s.ok", fx->spool, ID));
}

static void
test_conflict_is_not_overwritten(void **state)
{
	Fixture    *fx = *state;
	RvxStoreResult res;
	RvxError	err;
	char		path[PATH_MAX];

	fx_spool_backup(fx, ID, NULL);
	/* identical content twice is fine */
	assert_int_equal(rvx_ship_backup_object(fx->repo, fx->spool, ID, "data/base/1/1259", &fx->ci, &res, &err), 0);
	snprintf(path, sizeof(path), "%s/backup/%s/data/base/1/1259.rvx", fx->spool, ID);
	fx_write_object(path, fx_file(fx, "base/1/1259")->data, fx_file(fx, "base/1/1259")->len, SYSID, NULL);
	assert_int_equal(rvx_ship_backup_object(fx->repo, fx->spool, ID, "data/base/1/1259", &fx->ci, &res, &err), 0);
	assert_true(res.already_stored);
	/* different content under the same key is refused, and kept in the spool */
	fx_write_object(path, "other", 5, SYSID, NULL);
	assert_int_equal(rvx_ship_backup_object(fx->repo, fx->spool, ID, "data/base/1/1259", &fx->ci, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CONFLICT);
	assert_true(fx_exists("%s%s", path, ""));
	/* another cluster's object is refused */
	fx_write_object(path, "x", 1, 42, NULL);
	assert_int_equal(rvx_ship_backup_object(fx->repo, fx->spool, ID, "data/base/1/1259", &fx->ci, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CLUSTER);
	/* the .error the server reads */
	rvx_ship_backup_record_error(fx->spool, ID, &err);
	assert_true(fx_exists("%s/backup/%s.error", fx->spool, ID));
}

static void
test_abort_cleans_repository_and_spool(void **state)
{
	Fixture    *fx = *state;
	RvxStoreResult res;
	RvxError	err;
	char		path[PATH_MAX];
	FILE	   *f;
	RvxBackupList list;

	fx_spool_backup(fx, ID, NULL);
	assert_int_equal(rvx_ship_backup_object(fx->repo, fx->spool, ID, "data/base/1/1259", &fx->ci, &res, &err), 0);
	assert_int_equal(rvx_ship_backup_object(fx->repo, fx->spool, ID, "data/base/1/16384", &fx->ci, &res, &err), 0);
	assert_true(fx_exists("%s/backup/%s/data/base/1/1259.zst", fx->repodir, ID));

	/* incomplete: listed, but not restorable */
	assert_int_equal(rvx_backup_list(fx->repo, &list, &err), 0);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.items[0].record_key, "");
	assert_int_equal(list.items[0].objects, 2);
	assert_null(rvx_backup_list_latest(&list));
	rvx_backup_list_free(&list);

	snprintf(path, sizeof(path), "%s/backup/%s.aborted", fx->spool, ID);
	f = fopen(path, "w");
	fputs("canceled by the user\n", f);
	fclose(f);
	assert_int_equal(rvx_ship_backup_abort(fx->repo, fx->spool, ID, &fx->ci, &err), 0);
	assert_false(fx_exists("%s/backup/%s", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s", fx->spool, ID));
	assert_false(fx_exists("%s/backup/%s.aborted", fx->spool, ID));
	assert_int_equal(rvx_backup_list(fx->repo, &list, &err), 0);
	assert_int_equal(list.n, 0);
	rvx_backup_list_free(&list);
	assert_string_equal(audit_trail(fx), "backup:failed:" ID ":-:canceled by the user;");
	/* twice is fine, and recorded once */
	assert_int_equal(rvx_ship_backup_abort(fx->repo, fx->spool, ID, &fx->ci, &err), 0);
	assert_string_equal(audit_trail(fx), "backup:failed:" ID ":-:canceled by the user;");
}

/* The first audit record of the repository (the caller frees it). */
static int
first_record(void *arg, const char *key, json_t *rec)
{
	json_t	  **out = arg;

	if (*out == NULL)
		*out = json_incref(rec);
	return 0;
}

/* A failed backup's record names the cluster, and never a credential of the reason. */
static void
test_abort_record_names_cluster_and_redacts(void **state)
{
	Fixture    *fx = *state;
	RvxError	err;
	char		path[PATH_MAX];
	char		sysid[32];
	FILE	   *f;
	json_t	   *rec = NULL;
	const char *why;

	fx_spool_backup(fx, ID, NULL);
	snprintf(path, sizeof(path), "%s/backup/%s.aborted", fx->spool, ID);
	f = fopen(path, "w");
	fputs("PUT https://AKIA1:s3cret@s3.example/b/k?X-Amz-Signature=deadbeef&x=1 failed\n"
		  "Authorization: AWS4-HMAC-SHA256 Credential=AKIA1/2026\n"
		  "X-Amz-Security-Token: tok3n\n", f);
	fclose(f);
	assert_int_equal(rvx_ship_backup_abort(fx->repo, fx->spool, ID, &fx->ci, &err), 0);
	assert_int_equal(rvx_audit_list(fx->repo, INT64_MIN, first_record, &rec, &err), 0);
	assert_non_null(rec);
	snprintf(sysid, sizeof(sysid), "%llu", SYSID);
	assert_string_equal(json_string_value(json_object_get(rec, "system_identifier")), sysid);
	why = json_string_value(json_object_get(rec, "error"));
	assert_non_null(why);
	assert_null(strstr(why, "s3cret"));
	assert_null(strstr(why, "deadbeef"));
	assert_null(strstr(why, "AKIA1/2026"));
	assert_null(strstr(why, "tok3n"));
	assert_non_null(strstr(why, "https://[REDACTED]@s3.example/b/k?X-Amz-Signature=[REDACTED]&x=1 failed"));
	assert_non_null(strstr(why, "Authorization: [REDACTED]"));
	json_decref(rec);
}

static void
test_abort_keeps_a_complete_backup(void **state)
{
	Fixture    *fx = *state;
	RvxError	err;
	char		path[PATH_MAX];
	FILE	   *f;

	fx_make_stored_backup(fx, ID, NULL);
	snprintf(path, sizeof(path), "%s/backup/%s.aborted", fx->spool, ID);
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(rvx_ship_backup_abort(fx->repo, fx->spool, ID, &fx->ci, &err), 0);
	assert_true(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	assert_true(fx_exists("%s/backup/%s/data/base/1/1259.zst", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s.aborted", fx->spool, ID));
	/* not a failed backup: nothing is recorded for it */
	assert_null(strstr(audit_trail(fx), "failed"));
}

static void
test_record_checks(void **state)
{
	RvxError	err;
	json_t	   *r;
	const char *bad_path =
		"{\"format\":1,\"id\":\"20261126T084500Z\",\"system_identifier\":\"1\","
		"\"start_wal\":\"000000010000000000000002\",\"stop_wal\":\"000000010000000000000002\","
		"\"files\":[{\"path\":\"../etc/passwd\",\"size\":1,\"sha256\":\"%s\",\"key\":\"backup/20261126T084500Z/x\"}]}";
	char		text[1024];
	char		zeros[RVX_SHA256_HEXLEN + 1];

	memset(zeros, '0', RVX_SHA256_HEXLEN);
	zeros[RVX_SHA256_HEXLEN] = '\0';
	snprintf(text, sizeof(text), bad_path, zeros);
	assert_int_equal(rvx_backup_record_parse(text, strlen(text), "t", NULL, 0, &r, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "path"));
	assert_false(rvx_backup_relpath_valid("a/../b"));
	assert_false(rvx_backup_relpath_valid("/etc"));
	assert_false(rvx_backup_relpath_valid("a//b"));
	assert_false(rvx_backup_relpath_valid("a/"));
	assert_true(rvx_backup_relpath_valid("base/1/1259_fsm"));
	assert_true(rvx_backup_id_valid("20261126T084500Z-2"));
	assert_false(rvx_backup_id_valid("20261126T084500Z/.."));
	assert_false(rvx_backup_id_valid("latest"));
	assert_true(rvx_backup_id_cmp("20261126T084500Z-10", "20261126T084500Z-2") > 0);
	assert_true(rvx_backup_id_cmp("20261126T084500Z", "20261126T084500Z-2") < 0);
	assert_true(rvx_backup_id_cmp("20261126T084500Z", "20261127T000000Z") < 0);
}

/*
 * A sparse file's entry (docs/incremental.md): a delta with its object's
 * digest and no digest of the file, in a record of format 2; anything else
 * claiming to be sparse is refused, as is a format newer than the agent's.
 */
static int
parse_with_sized_file(int format, long long size, const char *file_fields, RvxError *err)
{
	char		text[2048];
	json_t	   *r = NULL;
	int			rc;

	snprintf(text, sizeof(text),
			 "{\"format\":%d,\"id\":\"20261126T084500Z\",\"system_identifier\":\"1\","
			 "\"start_wal\":\"000000010000000000000002\",\"stop_wal\":\"000000010000000000000002\","
			 "\"files\":[{\"path\":\"base/5/16384\",\"size\":%lld,%s,"
			 "\"key\":\"backup/20261126T084500Z/data/base/5/16384\"}]}", format, size, file_fields);
	rc = rvx_backup_record_parse(text, strlen(text), "t", NULL, 0, &r, err);
	json_decref(r);
	return rc;
}

static int
parse_with_file(int format, const char *file_fields, RvxError *err)
{
	return parse_with_sized_file(format, 8192, file_fields, err);
}

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void
test_record_sparse(void **state)
{
	RvxError	err;

	assert_int_equal(parse_with_file(1, "\"sha256\":\"" HEX64 "\"", &err), 0);
	assert_int_equal(parse_with_file(2, "\"delta\":true,\"sparse\":true,\"object_sha256\":\"" HEX64 "\"",
									 &err), 0);
	/* a delta of a file read whole: both digests */
	assert_int_equal(parse_with_file(1, "\"sha256\":\"" HEX64 "\",\"delta\":true,\"object_sha256\":\""
									 HEX64 "\"", &err), 0);

	assert_int_equal(parse_with_file(2, "\"sparse\":true,\"object_sha256\":\"" HEX64 "\"", &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "sparse file \"base/5/16384\" must be a delta"));
	assert_int_equal(parse_with_file(2, "\"delta\":true,\"sparse\":true", &err), -1);
	assert_non_null(strstr(err.msg, "object_sha256"));
	assert_int_equal(parse_with_file(2, "\"delta\":true,\"sparse\":true,\"sha256\":\"" HEX64
									 "\",\"object_sha256\":\"" HEX64 "\"", &err), -1);
	assert_int_equal(parse_with_file(1, "\"sha256\":\"" HEX64 "\",\"delta\":true,\"object_sha256\":\"x\"",
									 &err), -1);
	assert_non_null(strstr(err.msg, "no valid \"object_sha256\""));
	/* not sparse: the file's digest is required */
	assert_int_equal(parse_with_file(1, "\"delta\":true,\"object_sha256\":\"" HEX64 "\"", &err), -1);
	assert_non_null(strstr(err.msg, "no valid \"sha256\""));

	assert_int_equal(parse_with_file(3, "\"sha256\":\"" HEX64 "\"", &err), -1);
	assert_non_null(strstr(err.msg, "a newer revrx-agent is needed"));
	assert_int_equal(parse_with_file(0, "\"sha256\":\"" HEX64 "\"", &err), -1);
}

/*
 * A chunk digest (docs/backup-format.md, "Chunk digests"): 32 hex digits,
 * and only on a file of more than one 8 MiB piece.
 */
static void
test_record_chunk_digest(void **state)
{
	RvxError	err;
	const long long big = 3 * 8 * 1024 * 1024;

	assert_int_equal(parse_with_sized_file(1, big, "\"sha256\":\"" HEX64 "\",\"chunk_digest\":\""
										   "00112233445566778899aabbccddeeff\"", &err), 0);
	assert_int_equal(parse_with_sized_file(1, big, "\"sha256\":\"" HEX64 "\",\"chunk_digest\":\""
										   "00112233445566778899aabbccddee\"", &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "no valid \"chunk_digest\""));
	assert_int_equal(parse_with_sized_file(1, big, "\"sha256\":\"" HEX64 "\",\"chunk_digest\":\""
										   "00112233445566778899aabbccddeefg\"", &err), -1);
	assert_int_equal(parse_with_sized_file(1, big, "\"sha256\":\"" HEX64 "\",\"chunk_digest\":7",
										   &err), -1);
	/* one byte more than a piece: two pieces */
	assert_int_equal(parse_with_sized_file(1, 8 * 1024 * 1024 + 1, "\"sha256\":\"" HEX64 "\","
										   "\"chunk_digest\":\"00112233445566778899aabbccddeeff\"",
										   &err), 0);
	/* one piece: the SHA-256 is the comparison, a chunk digest is an error */
	assert_int_equal(parse_with_sized_file(1, 8 * 1024 * 1024, "\"sha256\":\"" HEX64 "\","
										   "\"chunk_digest\":\"00112233445566778899aabbccddeeff\"",
										   &err), -1);
	assert_non_null(strstr(err.msg, "no valid \"chunk_digest\""));
}

/* WAL first, but neither kind of work starves the other. */
static void
test_schedule_policy(void **state)
{
	RvxScheduleState s = {0};
	int			wal = 0,
				backup = 0;

	/* only WAL, only objects, nothing */
	s = (RvxScheduleState) {.wal_waiting = true, .parallel = 4};
	assert_int_equal(rvx_schedule_next(&s), RVX_WORK_WAL);
	s = (RvxScheduleState) {.object_waiting = true, .parallel = 4};
	assert_int_equal(rvx_schedule_next(&s), RVX_WORK_OBJECT);
	s = (RvxScheduleState) {.parallel = 4};
	assert_int_equal(rvx_schedule_next(&s), RVX_WORK_NONE);

	/* both always waiting: WAL first, and a backup item at least every fourth pick */
	s = (RvxScheduleState) {.wal_waiting = true, .object_waiting = true, .parallel = 1};
	assert_int_equal(rvx_schedule_next(&s), RVX_WORK_WAL);
	for (int i = 0; i < 400; i++)
	{
		RvxWorkKind k = rvx_schedule_next(&s);

		wal += k == RVX_WORK_WAL;
		backup += k == RVX_WORK_OBJECT;
		assert_true(s.wal_streak <= RVX_WAL_STREAK);
	}
	assert_true(wal >= 3 * backup - 3 && backup >= 99);

	/* objects never take the last worker: one stays free for WAL */
	s = (RvxScheduleState) {.object_waiting = true, .objects_busy = 3, .parallel = 4};
	assert_int_equal(rvx_schedule_next(&s), RVX_WORK_NONE);
	s = (RvxScheduleState) {.wal_waiting = true, .object_waiting = true, .objects_busy = 3,
	.parallel = 4, .wal_streak = RVX_WAL_STREAK};
	assert_int_equal(rvx_schedule_next(&s), RVX_WORK_WAL);
	/* ... except with a single worker, which must do both */
	s = (RvxScheduleState) {.object_waiting = true, .parallel = 1};
	assert_int_equal(rvx_schedule_next(&s), RVX_WORK_OBJECT);

	/* a commit goes before the objects of other backups */
	s = (RvxScheduleState) {.control_waiting = true, .object_waiting = true, .parallel = 4};
	assert_int_equal(rvx_schedule_next(&s), RVX_WORK_CONTROL);
}

/* ---------------------------------------------------------------- the daemon */

static void *
run_daemon(void *arg)
{
	Fixture    *fx = arg;
	char	   *argv[] = {"run", NULL};

	return (void *) (intptr_t) rvx_cmd_run(1, argv, &fx->cfg);
}

static bool
wait_until(bool (*cond) (Fixture *), Fixture *fx, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 20)
	{
		struct timespec ts = {0, 20 * 1000 * 1000};

		if (cond(fx))
			return true;
		nanosleep(&ts, NULL);
	}
	return cond(fx);
}

static bool
only_record_left(Fixture *fx)
{
	RvxBackupScan scan;
	RvxError	err;

	return rvx_backup_spool_scan(fx->spool, ID, NULL, NULL, &scan, &err) == 0 &&
		scan.objects == 0 && scan.has_record;
}

static bool
status_names_stop_wal(Fixture *fx)
{
	char		path[PATH_MAX];
	char	   *text;
	bool		found;

	snprintf(path, sizeof(path), "%s/%s", fx->spool, RVX_SPOOL_AGENT_FILE);
	text = fx_slurp(path, NULL);
	found = text && strstr(text, "\"waiting_for\":\"WAL segment " STOP_WAL "\"") != NULL;
	free(text);
	return found;
}

static bool
committed(Fixture *fx)
{
	return fx_exists("%s/backup/%s.ok", fx->spool, ID) &&
		!fx_exists("%s/backup/%s", fx->spool, ID);
}

static bool
aborted_cleaned(Fixture *fx)
{
	return !fx_exists("%s/backup/%s.aborted", fx->spool, ID2) &&
		!fx_exists("%s/backup/%s", fx->spool, ID2) &&
		!fx_exists("%s/backup/%s", fx->repodir, ID2);
}

static void
test_daemon_ships_and_commits(void **state)
{
	Fixture    *fx = *state;
	pthread_t	thread;
	void	   *rc;
	char		path[PATH_MAX];
	char		content[65536];
	char	   *text;
	FILE	   *f;
	struct timespec pause = {0, 300 * 1000 * 1000};

	/* the first WAL segment is in, the second is not yet */
	fx_ship_wal(fx, START_WAL);
	fx_spool_backup(fx, ID, NULL);
	assert_int_equal(pthread_create(&thread, NULL, run_daemon, fx), 0);

	assert_true(wait_until(only_record_left, fx, 20000));
	nanosleep(&pause, NULL);
	/* everything else is stored, but the record waits for the WAL */
	assert_true(fx_exists("%s/backup/%s/data/base/1/16384.zst", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	assert_false(fx_exists("%s/backup/%s.ok", fx->spool, ID));
	/* and status/agent.json says which segment it waits for */
	assert_true(wait_until(status_names_stop_wal, fx, 5000));

	/* the server spools the segment: the daemon ships it, then commits */
	memset(content, 'w', sizeof(content));
	snprintf(path, sizeof(path), "%s/wal/%s.rvx", fx->spool, STOP_WAL);
	fx_write_object(path, content, sizeof(content), SYSID, NULL);
	assert_true(wait_until(committed, fx, 20000));
	assert_true(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));
	snprintf(path, sizeof(path), "%s/%s", fx->spool, RVX_SPOOL_BACKUPS_FILE);
	text = fx_slurp(path, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, ID));
	free(text);

	/* a backup the server gave up on half way */
	fx_spool_backup(fx, ID2, NULL);
	snprintf(path, sizeof(path), "%s/backup/%s/backup.json.rvx", fx->spool, ID2);
	unlink(path);
	snprintf(path, sizeof(path), "%s/backup/%s/data/x.tmp", fx->spool, ID2);
	f = fopen(path, "w");
	fclose(f);
	nanosleep(&pause, NULL);
	snprintf(path, sizeof(path), "%s/backup/%s.aborted", fx->spool, ID2);
	f = fopen(path, "w");
	fputs("the backup worker died\n", f);
	fclose(f);
	assert_true(wait_until(aborted_cleaned, fx, 20000));
	/* the complete one is untouched */
	assert_true(fx_exists("%s/backup/%s/backup.json.zst", fx->repodir, ID));

	kill(getpid(), SIGTERM);
	pthread_join(thread, &rc);
	assert_int_equal((int) (intptr_t) rc, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_waits_for_objects_and_wal, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_commit_waits_for_audit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_commit_audit_failure_is_bounded, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_abort_of_stored_backup_records_it, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_commit_refuses_missing_object, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_conflict_is_not_overwritten, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_abort_cleans_repository_and_spool, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_abort_keeps_a_complete_backup, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_abort_record_names_cluster_and_redacts, fx_setup, fx_teardown),
		cmocka_unit_test(test_record_checks),
		cmocka_unit_test(test_record_sparse),
		cmocka_unit_test(test_record_chunk_digest),
		cmocka_unit_test(test_schedule_policy),
		cmocka_unit_test_setup_teardown(test_daemon_ships_and_commits, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests_name("backup_ship", tests, NULL, NULL);
}
