/*-------------------------------------------------------------------------
 *
 * test_backup_restore.c
 *	  Unit tests for restoring a base backup (agent/restore/restore.c, and
 *	  `revrx-agent list` through catalog.c), from a posix repository in a
 *	  temporary directory.
 *
 * What would make them fail: a restored file that differs from the
 * backed-up one by a byte, a missing directory, a wrong mode;
 * global/pg_control written before any other file; a flipped byte or a
 * missing object that does not stop the restore, is not named, or leaves
 * a pg_control (or a temporary file) behind; a record whose checksum for a
 * file differs from the object's accepted; a non-empty target overwritten
 * without --force; an incomplete backup restored; a restore_command that
 * is wrongly quoted or carries a secret.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "restore/restore.h"
#include "test_backup_fixture.h"

#define ID		"20261126T084500Z"
#define ID_OLD	"20261125T000000Z"
#define ID_NEW	"20261127T000000Z"

typedef struct Order
{
	pthread_mutex_t lock;
	char	   *paths[64];
	int			n;
} Order;

static void
record_order(void *arg, const char *path)
{
	Order	   *o = arg;

	pthread_mutex_lock(&o->lock);
	if (o->n < 64)
		o->paths[o->n++] = strdup(path);
	pthread_mutex_unlock(&o->lock);
}

static void
order_free(Order *o)
{
	for (int i = 0; i < o->n; i++)
		free(o->paths[i]);
	o->n = 0;
}

static int
do_restore(Fixture *fx, const char *pgdata, const char *backup, bool force, const char *tsdir,
		   Order *order, RvxRestoreResult *res, RvxError *err)
{
	RvxRestoreOptions opts = {0};
	RvxTablespaceMapping map = {TS_OID, tsdir};

	opts.pgdata = pgdata;
	opts.backup_id = backup;
	opts.force = force;
	opts.parallel = 3;
	opts.agent_path = "/usr/bin/revrx-agent";
	if (tsdir)
	{
		opts.tablespace_map = &map;
		opts.n_tablespace_map = 1;
	}
	if (order)
	{
		opts.on_file = record_order;
		opts.on_file_arg = order;
	}
	return rvx_restore(&fx->cfg, &opts, res, err);
}

static void
assert_same_file(const char *path, const FakeFile *f)
{
	size_t		len;
	char	   *data = fx_slurp(path, &len);
	struct stat st;

	assert_non_null(data);
	assert_int_equal(len, f->len);
	assert_memory_equal(data, f->data, f->len);
	free(data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* No "*.revrx.tmp" anywhere below dir. */
static void
assert_no_temporary_files(const char *dir)
{
	char		cmd[600];

	snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -name '*.revrx.tmp' 2>/dev/null)\"", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_restore_gives_back_every_file(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	char		path[PATH_MAX];
	char		link[PATH_MAX];
	RvxRestoreResult res;
	RvxError	err;
	Order		order = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};
	struct stat st;
	char	   *text;
	ssize_t		n;

	fx_make_stored_backup(fx, ID, NULL);
	snprintf(pgdata, sizeof(pgdata), "%s/restored", fx->root);
	if (do_restore(fx, pgdata, NULL, false, NULL, &order, &res, &err) != 0)
		fail_msg("restore failed: %s", err.msg);
	assert_string_equal(res.backup_id, ID);
	assert_int_equal(res.files, fx->nfiles);

	/* every file, byte for byte; pg_control last of all */
	for (int i = 0; i < fx->nfiles; i++)
	{
		if (strcmp(fx->files[i].path, "postgresql.auto.conf") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pgdata, fx->files[i].path);
		assert_same_file(path, &fx->files[i]);
	}
	assert_int_equal(order.n, fx->nfiles);
	assert_string_equal(order.paths[order.n - 1], "global/pg_control");
	order_free(&order);

	/* directories, also the empty ones, private to the owner */
	snprintf(path, sizeof(path), "%s/pg_wal/archive_status", pgdata);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(path, sizeof(path), "%s/pg_notify", pgdata);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(pgdata, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* the tablespace: a link to its original location, which holds its files */
	snprintf(path, sizeof(path), "%s/pg_tblspc/%d", pgdata, TS_OID);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, fx->tsdir);
	snprintf(path, sizeof(path), "%s/PG_15_202209061/1/16391", fx->tsdir);
	assert_same_file(path, fx_file(fx, "pg_tblspc/16390/PG_15_202209061/1/16391"));

	/* backup_manifest, and the recovery settings after the original ones */
	snprintf(path, sizeof(path), "%s/backup_manifest", pgdata);
	text = fx_slurp(path, NULL);
	assert_string_equal(text, fx->manifest);
	free(text);
	snprintf(path, sizeof(path), "%s/postgresql.auto.conf", pgdata);
	text = fx_slurp(path, NULL);
	assert_non_null(text);
	{
		/* the original had no final newline: ours start on a line of their own */
		const char *expect = "# Do not edit this file manually!\nwork_mem = '8MB'\n"
			"# added by revrx-agent restore of backup " ID " at ";

		assert_memory_equal(text, expect, strlen(expect));
	}
	assert_non_null(strstr(text, "\nrestore_command = 'env REVRX_REPO=''file://"));
	assert_non_null(strstr(text, "/usr/bin/revrx-agent wal-fetch %f %p'\n"));
	assert_non_null(strstr(text, "\narchive_mode = 'off'"));
	free(text);
	assert_true(fx_exists("%s/%s", pgdata, "recovery.signal"));
	assert_no_temporary_files(pgdata);
}

static void
test_flipped_byte_stops_restore(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	char		path[PATH_MAX];
	RvxRestoreResult res;
	RvxError	err;
	FILE	   *f;
	int			c;

	fx_make_stored_backup(fx, ID, NULL);
	snprintf(path, sizeof(path), "%s/backup/%s/data/base/1/16384.zst", fx->repodir, ID);
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, RVX_OBJECT_HEADER_LEN + 1000, SEEK_SET);
	c = fgetc(f);
	fseek(f, RVX_OBJECT_HEADER_LEN + 1000, SEEK_SET);
	fputc(c ^ 0xff, f);
	fclose(f);

	snprintf(pgdata, sizeof(pgdata), "%s/restored", fx->root);
	assert_int_equal(do_restore(fx, pgdata, ID, false, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "backup/" ID "/data/base/1/16384.zst"));
	assert_non_null(strstr(err.msg, "\"base/1/16384\""));
	assert_true(res.incomplete);
	assert_false(fx_exists("%s/%s", pgdata, "global/pg_control"));
	assert_false(fx_exists("%s/%s", pgdata, "base/1/16384"));
	assert_no_temporary_files(pgdata);

	/* a missing object the same way, with its own code */
	unlink(path);
	assert_int_equal(do_restore(fx, pgdata, ID, true, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "backup/" ID "/data/base/1/16384.zst"));
	assert_false(fx_exists("%s/%s", pgdata, "global/pg_control"));
}

static void
test_record_checksum_must_match_object(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	RvxRestoreResult res;
	RvxError	err;

	/* the object is sound, but it is not what the backup recorded for the file */
	fx_make_stored_backup(fx, ID, "base/1/1259");
	snprintf(pgdata, sizeof(pgdata), "%s/restored", fx->root);
	assert_int_equal(do_restore(fx, pgdata, ID, false, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "\"base/1/1259\""));
	assert_non_null(strstr(err.msg, "SHA-256"));
	assert_false(fx_exists("%s/%s", pgdata, "global/pg_control"));
}

static void
test_target_must_be_empty(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	char		path[PATH_MAX];
	char		tsdir[PATH_MAX];
	RvxRestoreResult res;
	RvxError	err;
	FILE	   *f;

	fx_make_stored_backup(fx, ID, NULL);
	snprintf(pgdata, sizeof(pgdata), "%s/restored", fx->root);
	fx_mkdir_p(pgdata);
	snprintf(path, sizeof(path), "%s/precious", pgdata);
	f = fopen(path, "w");
	fputs("keep me", f);
	fclose(f);
	assert_int_equal(do_restore(fx, pgdata, ID, false, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_USAGE);
	assert_non_null(strstr(err.msg, "not empty"));
	assert_non_null(strstr(err.msg, "--force"));
	assert_false(res.incomplete);
	assert_true(fx_exists("%s%s", path, ""));
	assert_false(fx_exists("%s/%s", pgdata, "PG_VERSION"));

	/* a non-empty tablespace location is refused the same way */
	fx_mkdir_p(fx->tsdir);
	snprintf(tsdir, sizeof(tsdir), "%s/other", fx->tsdir);
	f = fopen(tsdir, "w");
	fclose(f);
	unlink(path);
	assert_int_equal(do_restore(fx, pgdata, ID, false, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_USAGE);
	assert_non_null(strstr(err.msg, fx->tsdir));
	/* ... or moved elsewhere */
	snprintf(tsdir, sizeof(tsdir), "%s/ts-moved", fx->root);
	if (do_restore(fx, pgdata, ID, false, tsdir, NULL, &res, &err) != 0)
		fail_msg("restore with a moved tablespace failed: %s", err.msg);
	snprintf(path, sizeof(path), "%s/PG_15_202209061/1/16391", tsdir);
	assert_true(fx_exists("%s%s", path, ""));
	/* a moved tablespace has no tablespace_map: it would point back */
	assert_false(fx_exists("%s/%s", pgdata, "tablespace_map"));

	/* --force: emptied first, then restored */
	f = fopen(path, "a");
	fclose(f);
	snprintf(path, sizeof(path), "%s/precious", pgdata);
	f = fopen(path, "w");
	fclose(f);
	if (do_restore(fx, pgdata, ID, true, tsdir, NULL, &res, &err) != 0)
		fail_msg("restore --force failed: %s", err.msg);
	assert_false(fx_exists("%s%s", path, ""));
	assert_true(fx_exists("%s/%s", pgdata, "global/pg_control"));
}

static void
test_latest_complete_backup(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	RvxRestoreResult res;
	RvxError	err;
	RvxBackupCommit commit;
	RvxBackupList list;

	fx_make_stored_backup(fx, ID_OLD, NULL);
	fx_make_stored_backup(fx, ID, NULL);
	/* a newer one, shipped but never committed */
	fx_spool_backup(fx, ID_NEW, NULL);
	fx_ship_objects(fx, ID_NEW);
	assert_int_equal(rvx_backup_list(fx->repo, &list, &err), 0);
	assert_int_equal(list.n, 3);
	assert_string_equal(rvx_backup_list_latest(&list)->id, ID);
	rvx_backup_list_free(&list);

	snprintf(pgdata, sizeof(pgdata), "%s/restored", fx->root);
	assert_int_equal(do_restore(fx, pgdata, ID_NEW, false, fx->root, NULL, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "incomplete"));
	assert_false(fx_exists("%s%s", pgdata, ""));
	assert_int_equal(do_restore(fx, pgdata, "20200101T000000Z", false, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_NOTFOUND);

	if (do_restore(fx, pgdata, "latest", false, NULL, NULL, &res, &err) != 0)
		fail_msg("restore of latest failed: %s", err.msg);
	assert_string_equal(res.backup_id, ID);
	(void) commit;
}

static void
test_restore_command_quoting(void **state)
{
	RvxRepoConfig repo = {0};
	RvxError	err;
	char		out[4096];

	repo.url = "file:///srv/it's 100%";
	assert_int_equal(rvx_restore_command(&repo, "/usr/lib/postgresql/15/bin/revrx-agent", out,
										 sizeof(out), &err), 0);
	/* shell: 'file:///srv/it'\''s 100%%'; postgresql.conf doubles the quotes, escapes \ */
	assert_string_equal(out,
						"'env REVRX_REPO=''file:///srv/it''\\\\''''s 100%%'' "
						"/usr/lib/postgresql/15/bin/revrx-agent wal-fetch %f %p'");

	repo.url = "s3://bkt/prefix";
	repo.s3_endpoint = "http://127.0.0.1:9000";
	repo.s3_path_style = true;
	repo.s3_region = "eu-west-1";
	repo.s3_access_key = "AKIAEXAMPLE";
	repo.s3_secret_key = "TOPSECRET";
	repo.s3_session_token = "TOKEN";
	repo.s3_verify_tls = true;
	assert_int_equal(rvx_restore_command(&repo, "/opt/revrx agent/revrx-agent", out,
										 sizeof(out), &err), 0);
	assert_string_equal(out,
						"'env REVRX_REPO=''s3://bkt/prefix'' REVRX_S3_ENDPOINT=''http://127.0.0.1:9000'' "
						"REVRX_S3_URI_STYLE=''path'' AWS_REGION=''eu-west-1'' "
						"''/opt/revrx agent/revrx-agent'' wal-fetch %f %p'");
	assert_null(strstr(out, "AKIA"));
	assert_null(strstr(out, "TOPSECRET"));
	assert_null(strstr(out, "TOKEN"));

	repo.url = "file:///a\nb";
	assert_int_equal(rvx_restore_command(&repo, NULL, out, sizeof(out), &err), -1);
	assert_int_equal(err.code, RVX_E_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restore_gives_back_every_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_stops_restore, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_record_checksum_must_match_object, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_target_must_be_empty, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_latest_complete_backup, fx_setup, fx_teardown),
		cmocka_unit_test(test_restore_command_quoting),
	};

	return cmocka_run_group_tests_name("backup_restore", tests, NULL, NULL);
}
