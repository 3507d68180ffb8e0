/*-------------------------------------------------------------------------
 *
 * test_verify_catalog.c
 *	  Restore drill reports in the repository (backup/<id>/verify/...):
 *	  they must not change what a backup is (its object count, whether it
 *	  is complete, what restore reads), and the catalog publishes the
 *	  newest ones, newest first, in status/verifications.json.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_backup_fixture.h"

#define ID	"20261126T084500Z"
#define ID2 "20261126T090000Z"

/* Stores a drill report for id, as verify.c does (an object, zstd). */
static void
store_report(Fixture *fx, const char *id, const char *stamp, bool passed)
{
	char		path[PATH_MAX];
	char		text[1024];

	snprintf(text, sizeof(text),
			 "{\"format\":1,\"backup_id\":\"%s\",\"started_at\":\"%s\",\"finished_at\":\"x\","
			 "\"passed\":%s,\"recovery_seconds\":1.5,\"total_seconds\":2.5,"
			 "\"failed_checks\":[%s],\"checks\":[]}",
			 id, stamp, passed ? "true" : "false", passed ? "" : "\"amcheck\"");
	snprintf(path, sizeof(path), "%s/backup/%s/verify/%s.json.zst", fx->repodir, id, stamp);
	fx_write_object(path, text, strlen(text), SYSID, NULL);
}

static void
test_reports_are_not_backup_objects(void **state)
{
	Fixture    *fx = *state;
	RvxBackupList list;
	RvxError	err;
	uint64_t	objects;

	fx_make_stored_backup(fx, ID, NULL);
	assert_int_equal(rvx_backup_list(fx->repo, &list, &err), 0);
	objects = list.items[0].objects;
	rvx_backup_list_free(&list);

	store_report(fx, ID, "20261127T020000Z", true);
	store_report(fx, ID, "20261128T020000Z", false);
	assert_true(fx_exists("%s/backup/%s/verify/20261127T020000Z.json.zst", fx->repodir, ID));
	assert_int_equal(rvx_backup_list(fx->repo, &list, &err), 0);
	assert_int_equal(list.n, 1);
	assert_int_equal(list.items[0].objects, objects);
	assert_string_not_equal(list.items[0].record_key, "");
	assert_non_null(rvx_backup_list_latest(&list));
	assert_int_equal(list.n_verify, 2);
	/* newest first */
	assert_string_equal(list.verify_keys[0], "backup/" ID "/verify/20261128T020000Z.json.zst");
	assert_string_equal(list.verify_keys[1], "backup/" ID "/verify/20261127T020000Z.json.zst");
	rvx_backup_list_free(&list);

	/* reports alone never make a backup appear */
	store_report(fx, ID2, "20261129T020000Z", true);
	assert_int_equal(rvx_backup_list(fx->repo, &list, &err), 0);
	assert_int_equal(list.n, 1);
	assert_int_equal(list.n_verify, 3);
	rvx_backup_list_free(&list);
}

/* A document the catalog published in the spool (e.g. status/verifications.json), parsed. */
static json_t *
published(const Fixture *fx, const char *file)
{
	char		path[PATH_MAX];
	char	   *text;
	size_t		len = 0;
	json_t	   *doc;
	json_error_t jerr;

	snprintf(path, sizeof(path), "%s/%s", fx->spool, file);
	text = fx_slurp(path, &len);
	doc = json_loadb(text, len, 0, &jerr);
	free(text);
	assert_non_null(doc);
	return doc;
}

static void
test_catalog_publishes_drills(void **state)
{
	Fixture    *fx = *state;
	RvxCatalog *cat;
	RvxError	err;
	char		path[PATH_MAX];
	json_t	   *doc;
	json_t	   *v;

	fx_make_stored_backup(fx, ID, NULL);
	cat = rvx_catalog_new(fx->spool, SYSID);
	assert_non_null(cat);

	/* none yet: an empty list, so the server can tell "never" from "unknown" */
	assert_int_equal(rvx_catalog_refresh(cat, fx->repo, &err), 0);
	doc = published(fx, RVX_SPOOL_VERIFICATIONS_FILE);
	assert_int_equal(json_array_size(json_object_get(doc, "verifications")), 0);
	json_decref(doc);

	store_report(fx, ID, "20261127T020000Z", true);
	store_report(fx, ID, "20261128T020000Z", false);
	/* a damaged report is left out; the others are still published */
	snprintf(path, sizeof(path), "%s/backup/%s/verify/20261126T020000Z.json.zst", fx->repodir, ID);
	{
		FILE	   *f = fopen(path, "w");

		fputs("garbage", f);
		fclose(f);
	}
	assert_int_equal(rvx_catalog_refresh(cat, fx->repo, &err), 0);
	doc = published(fx, RVX_SPOOL_VERIFICATIONS_FILE);
	assert_int_equal(json_integer_value(json_object_get(doc, "format")), 1);
	v = json_object_get(doc, "verifications");
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "started_at")),
						"20261128T020000Z");
	assert_false(json_is_true(json_object_get(json_array_get(v, 0), "passed")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(v, 0),
																		   "failed_checks"), 0)),
						"amcheck");
	assert_true(json_is_true(json_object_get(json_array_get(v, 1), "passed")));
	assert_true(json_real_value(json_object_get(json_array_get(v, 1), "recovery_seconds")) == 1.5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "report_key")),
						"backup/" ID "/verify/20261127T020000Z.json.zst");
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "backup_id")), ID);
	json_decref(doc);

	/* between full refreshes, the quick look finds a new drill of a recent backup */
	store_report(fx, ID, "20261129T020000Z", true);
	assert_int_equal(rvx_catalog_refresh_drills(cat, fx->repo, 3, &err), 0);
	doc = published(fx, RVX_SPOOL_VERIFICATIONS_FILE);
	v = json_object_get(doc, "verifications");
	assert_int_equal(json_array_size(v), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "started_at")),
						"20261129T020000Z");
	json_decref(doc);

	/* the backup catalog is unchanged by them */
	doc = published(fx, RVX_SPOOL_BACKUPS_FILE);
	assert_int_equal(json_array_size(json_object_get(doc, "backups")), 1);
	json_decref(doc);
	rvx_catalog_free(cat);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reports_are_not_backup_objects, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_catalog_publishes_drills, fx_setup, fx_teardown),
	};

	(void) fx_file;				/* the fixture's, unused here */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
