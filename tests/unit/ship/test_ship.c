/*-------------------------------------------------------------------------
 *
 * test_ship.c
 *	  Unit tests for the posix repository driver, repository binding, and
 *	  shipping one spooled object (agent/storage/repo_posix.c, repo_meta.c,
 *	  ship.c, fetch.c), on real files in a temporary directory.
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

#include "info/fetch.h"
#include "object.h"
#include "storage/repo.h"
#include "info/repo_meta.h"
#include "ship/ship.h"
#include "spool.h"

#define SYSID 7312345678901234567ULL

typedef struct Env
{
	char		root[256];
	char		spool[300];
	char		repodir[300];
	char		url[320];
	RvxRepo    *repo;
	RvxClusterInfo ci;
} Env;

static int
file_sink(void *arg, const void *data, size_t len)
{
	return fwrite(data, 1, len, (FILE *) arg) == len ? 0 : -1;
}

/* Spools content as NAME.rvx, as the server would. */
static void
spool_object(Env *e, const char *name, const char *content, size_t len, uint64_t sysid)
{
	char		path[512];
	FILE	   *f;
	RvxObjectWriter *w = rvx_object_writer_new(RVX_COMPRESS_ZSTD, 3);
	RvxObjectHeader hdr;
	uint8_t		h[RVX_OBJECT_HEADER_LEN] = {0};

	snprintf(path, sizeof(path), "%s/wal/%s.rvx", e->spool, name);
	f = fopen(path, "w+b");
	assert_non_null(f);
	fwrite(h, 1, sizeof(h), f);
	rvx_object_writer_begin(w, sysid, file_sink, f);
	rvx_object_writer_write(w, content, len);
	assert_int_equal(rvx_object_writer_finish(w, &hdr), 0);
	rvx_object_header_encode(&hdr, h);
	fseek(f, 0, SEEK_SET);
	fwrite(h, 1, sizeof(h), f);
	fclose(f);
	rvx_object_writer_free(w);
}

static bool
exists(const char *fmt, const char *a, const char *b)
{
	char		path[512];
	struct stat st;

	snprintf(path, sizeof(path), fmt, a, b);
	return stat(path, &st) == 0;
}

static int
setup(void **state)
{
	Env		   *e = calloc(1, sizeof(Env));
	char		cmd[600];
	RvxRepoConfig cfg = {0};
	RvxError	err;

	snprintf(e->root, sizeof(e->root), "/tmp/revrx-unit-XXXXXX");
	assert_non_null(mkdtemp(e->root));
	snprintf(e->spool, sizeof(e->spool), "%s/spool", e->root);
	snprintf(e->repodir, sizeof(e->repodir), "%s/repo", e->root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/wal %s/status", e->spool, e->spool);
	assert_int_equal(system(cmd), 0);
	snprintf(e->url, sizeof(e->url), "file://%s", e->repodir);
	cfg.url = e->url;
	e->repo = rvx_repo_open(&cfg, &err);
	assert_non_null(e->repo);
	e->ci.system_id = SYSID;
	e->ci.pg_version_num = 150020;
	e->ci.wal_segment_size = 16 * 1024 * 1024;
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	Env		   *e = *state;
	char		cmd[300];

	rvx_repo_close(e->repo);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->root);
	(void) system(cmd);
	free(e);
	return 0;
}

static int
count_key(void *arg, const char *key, uint64_t size)
{
	char	  **keys = arg;

	for (int i = 0; keys[i]; i++)
		if (strcmp(keys[i], key) == 0)
			return 0;
	fail_msg("unexpected key %s", key);
	return -1;
}

static void
test_posix_driver(void **state)
{
	Env		   *e = *state;
	RvxError	err;
	RvxObjectInfo info;
	char	   *buf;
	size_t		len;
	char	   *expect[] = {"a/b/one", "a/b/two", NULL};

	assert_int_equal(rvx_repo_head(e->repo, "a/b/one", &info, &err), 0);
	assert_int_equal(rvx_repo_put_buffer(e->repo, "a/b/one", "hello world", 11, RVX_PUT_NO_OVERWRITE, &err), 0);
	assert_int_equal(rvx_repo_head(e->repo, "a/b/one", &info, &err), 1);
	assert_int_equal(info.size, 11);
	/* no silent replacement */
	assert_int_equal(rvx_repo_put_buffer(e->repo, "a/b/one", "other", 5, RVX_PUT_NO_OVERWRITE, &err), -1);
	assert_int_equal(err.code, RVX_E_CONFLICT);
	assert_int_equal(rvx_repo_get_buffer(e->repo, "a/b/one", 100, &buf, &len, &err), 0);
	assert_string_equal(buf, "hello world");
	free(buf);
	assert_int_equal(rvx_repo_put_buffer(e->repo, "a/b/two", "x", 1, 0, &err), 0);
	assert_int_equal(rvx_repo_list(e->repo, "a/", count_key, expect, &err), 0);
	/* a missing object is NOTFOUND, not an I/O error */
	assert_int_equal(rvx_repo_get_buffer(e->repo, "a/b/three", 100, &buf, &len, &err), -1);
	assert_int_equal(err.code, RVX_E_NOTFOUND);
	/* keys cannot climb out of the repository */
	assert_int_equal(rvx_repo_head(e->repo, "../etc/passwd", &info, &err), -1);
	assert_int_equal(rvx_repo_remove(e->repo, "a/b/two", &err), 0);
	assert_int_equal(rvx_repo_head(e->repo, "a/b/two", &info, &err), 0);
}

static void
test_bind(void **state)
{
	Env		   *e = *state;
	RvxError	err;
	RvxClusterInfo other = e->ci;
	RvxClusterInfo loaded;

	assert_int_equal(rvx_repo_meta_load(e->repo, &loaded, &err), -1);
	assert_int_equal(err.code, RVX_E_NOTFOUND);
	assert_int_equal(rvx_repo_meta_bind(e->repo, &e->ci, &err), 0);
	assert_int_equal(rvx_repo_meta_bind(e->repo, &e->ci, &err), 0);
	assert_int_equal(rvx_repo_meta_load(e->repo, &loaded, &err), 0);
	assert_true(loaded.system_id == SYSID);
	other.system_id = 42;
	assert_int_equal(rvx_repo_meta_bind(e->repo, &other, &err), -1);
	assert_int_equal(err.code, RVX_E_CLUSTER);
	assert_non_null(strstr(err.msg, "7312345678901234567"));
	assert_non_null(strstr(err.msg, "42"));
}

static void
test_ship_and_fetch(void **state)
{
	Env		   *e = *state;
	const char *name = "000000010000000000000003";
	char		content[50000];
	RvxStoreResult res;
	RvxError	err;
	char		dest[512];
	char		key[256];
	RvxObjectInfo info;
	FILE	   *f;
	char		back[60000];
	size_t		n;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char) (i % 251);
	spool_object(e, name, content, sizeof(content), SYSID);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_false(res.already_stored);
	assert_true(exists("%s/wal/%s.ok", e->spool, name));
	assert_false(exists("%s/wal/%s.rvx", e->spool, name));
	assert_true(exists("%s/wal/00000001/%s.zst", e->repodir, name));

	/* shipping identical content again is a no-op success */
	spool_object(e, name, content, sizeof(content), SYSID);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_true(res.already_stored);

	/* different content under the same name: refused, original untouched */
	content[100] ^= 1;
	spool_object(e, name, content, sizeof(content), SYSID);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CONFLICT);
	assert_non_null(strstr(err.msg, "different content"));
	assert_true(exists("%s/wal/%s.rvx", e->spool, name));
	content[100] ^= 1;

	/* fetch gives back the original */
	assert_int_equal(rvx_wal_find(e->repo, name, RVX_COMPRESS_GZIP, key, sizeof(key), &info, &err), 1);
	snprintf(dest, sizeof(dest), "%s/fetched", e->root);
	assert_int_equal(rvx_fetch_to_file(e->repo, key, SYSID, dest, &err), 0);
	f = fopen(dest, "rb");
	n = fread(back, 1, sizeof(back), f);
	fclose(f);
	assert_int_equal(n, sizeof(content));
	assert_memory_equal(back, content, sizeof(content));

	/* a fetch that expects another cluster refuses and leaves no file */
	unlink(dest);
	assert_int_equal(rvx_fetch_to_file(e->repo, key, 99, dest, &err), -1);
	assert_int_equal(err.code, RVX_E_CLUSTER);
	assert_false(exists("%s%s", dest, ""));
}

/*
 * An incomplete copy of the same content in the repository (a store that
 * kept what it got from a killed upload): replaced, then acknowledged.
 */
static void
test_ship_replaces_incomplete_copy(void **state)
{
	Env		   *e = *state;
	const char *name = "000000010000000000000006";
	char		content[30000];
	char		spooled[512];
	char		stored[512];
	char		dest[512];
	char		whole[40000];
	RvxStoreResult res;
	RvxError	err;
	FILE	   *f;
	size_t		n;
	struct stat st;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char) (i % 241);
	spool_object(e, name, content, sizeof(content), SYSID);
	snprintf(spooled, sizeof(spooled), "%s/wal/%s.rvx", e->spool, name);
	f = fopen(spooled, "rb");
	assert_non_null(f);
	n = fread(whole, 1, sizeof(whole), f);
	fclose(f);
	snprintf(stored, sizeof(stored), "mkdir -p %s/wal/00000001", e->repodir);
	assert_int_equal(system(stored), 0);
	snprintf(stored, sizeof(stored), "%s/wal/00000001/%s.zst", e->repodir, name);
	f = fopen(stored, "wb");
	assert_non_null(f);
	fwrite(whole, 1, n / 2, f);
	fclose(f);

	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_false(res.already_stored);
	assert_true(exists("%s/wal/%s.ok", e->spool, name));
	assert_int_equal(stat(stored, &st), 0);
	assert_int_equal(st.st_size, n);
	snprintf(dest, sizeof(dest), "%s/fetched6", e->root);
	assert_int_equal(rvx_fetch_to_file(e->repo, "wal/00000001/000000010000000000000006.zst",
									   SYSID, dest, &err), 0);
}

static void
test_ship_refuses_foreign_object(void **state)
{
	Env		   *e = *state;
	const char *name = "000000010000000000000004";
	RvxStoreResult res;
	RvxError	err;

	spool_object(e, name, "abc", 3, 1234);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CLUSTER);
	assert_false(exists("%s/wal/00000001/%s.zst", e->repodir, name));
}

static void
test_corrupt_object_is_refused_by_fetch(void **state)
{
	Env		   *e = *state;
	const char *name = "000000010000000000000005";
	char		content[20000];
	char		path[512];
	char		dest[512];
	RvxStoreResult res;
	RvxError	err;
	FILE	   *f;

	memset(content, 'x', sizeof(content));
	spool_object(e, name, content, sizeof(content), SYSID);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	snprintf(path, sizeof(path), "%s/wal/00000001/%s.zst", e->repodir, name);
	f = fopen(path, "r+b");
	fseek(f, RVX_OBJECT_HEADER_LEN + 5, SEEK_SET);
	fputc('Z', f);
	fclose(f);
	snprintf(dest, sizeof(dest), "%s/fetched5", e->root);
	assert_int_equal(rvx_fetch_to_file(e->repo, "wal/00000001/000000010000000000000005.zst",
									   SYSID, dest, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "000000010000000000000005"));
	assert_false(exists("%s%s", dest, ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_posix_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ship_and_fetch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ship_replaces_incomplete_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ship_refuses_foreign_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_object_is_refused_by_fetch, setup, teardown),
	};

	return cmocka_run_group_tests_name("ship", tests, NULL, NULL);
}
