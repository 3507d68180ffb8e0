/*-------------------------------------------------------------------------
 *
 * test_backup_fixture.h
 *	  A fake base backup in a spool, as the server's exporter writes it
 *	  (docs/backup-format.md), for the unit tests of the agent's backup
 *	  shipping and restore (test_backup_ship.c, test_backup_restore.c).
 *
 * A fixture is a temporary directory holding a spool, a posix repository
 * bound to cluster SYSID, and the content of every file of the fake data
 * directory, so a test can compare what restore wrote with what the
 * "server" backed up.  The fake backup has a compressible table, a file of
 * several MB (more than one read and one codec chunk), an empty file, a
 * postgresql.auto.conf without a final newline, an empty directory, a
 * tablespace, and a pg_control that names the cluster.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TEST_BACKUP_FIXTURE_H
#define TEST_BACKUP_FIXTURE_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "info/catalog.h"
#include "config/config.h"
#include "info/fetch.h"
#include "base/log.h"
#include "object.h"
#include "storage/repo.h"
#include "info/repo_meta.h"
#include "ship/ship.h"
#include "ship/ship_backup.h"
#include "spool.h"

#define SYSID		7312345678901234567ULL
#define TS_OID		16390
#define START_WAL	"000000010000000000000002"
#define STOP_WAL	"000000010000000000000003"
#define MAX_FILES	16

typedef struct FakeFile
{
	const char *path;
	char	   *data;
	size_t		len;
} FakeFile;

typedef struct Fixture
{
	char		root[256];
	char		spool[300];
	char		repodir[300];
	char		url[320];
	char		tsdir[300];		/* the tablespace's original location */
	RvxRepo    *repo;
	RvxClusterInfo ci;
	RvxConfig	cfg;
	FakeFile	files[MAX_FILES];
	int			nfiles;
	char		manifest[64];
} Fixture;

static void
fx_mkdir_p(const char *path)
{
	char		buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/')
		{
			*p = '\0';
			mkdir(buf, 0750);
			*p = '/';
		}
	mkdir(buf, 0750);
}

static int
fx_file_sink(void *arg, const void *data, size_t len)
{
	return fwrite(data, 1, len, (FILE *) arg) == len ? 0 : -1;
}

/*
 * Writes content as an object at path (parents created) the way the server
 * does: under a temporary name, then renamed.  Returns the object's size.
 */
static uint64_t
fx_write_object(const char *final, const void *content, size_t len, uint64_t sysid,
				RvxObjectHeader *hdr_out)
{
	char		path[PATH_MAX];
	char		dir[PATH_MAX];
	FILE	   *f;
	RvxObjectWriter *w = rvx_object_writer_new(RVX_COMPRESS_ZSTD, 3);
	RvxObjectHeader hdr;
	uint8_t		h[RVX_OBJECT_HEADER_LEN] = {0};
	long		size;

	snprintf(path, sizeof(path), "%s.tmp", final);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	fx_mkdir_p(dir);
	f = fopen(path, "w+b");
	assert_non_null(f);
	fwrite(h, 1, sizeof(h), f);
	rvx_object_writer_begin(w, sysid, fx_file_sink, f);
	rvx_object_writer_write(w, content, len);
	assert_int_equal(rvx_object_writer_finish(w, &hdr), 0);
	rvx_object_header_encode(&hdr, h);
	fseek(f, 0, SEEK_SET);
	fwrite(h, 1, sizeof(h), f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	assert_int_equal(rename(path, final), 0);
	rvx_object_writer_free(w);
	if (hdr_out)
		*hdr_out = hdr;
	return (uint64_t) size;
}

static void
fx_add_file(Fixture *fx, const char *path, const char *data, size_t len)
{
	FakeFile   *f = &fx->files[fx->nfiles++];

	assert_true(fx->nfiles <= MAX_FILES);
	f->path = path;
	f->data = malloc(len ? len : 1);
	memcpy(f->data, data, len);
	f->len = len;
}

static const FakeFile *
fx_file(const Fixture *fx, const char *path)
{
	for (int i = 0; i < fx->nfiles; i++)
		if (strcmp(fx->files[i].path, path) == 0)
			return &fx->files[i];
	return NULL;
}

static int
fx_setup(void **state)
{
	Fixture    *fx = calloc(1, sizeof(Fixture));
	char		path[PATH_MAX];
	char		text[512];
	char	   *big;
	RvxError	err;
	FILE	   *f;

	rvx_log_init("test", getenv("TEST_LOG_DEBUG") ? RVX_LOG_DEBUG : RVX_LOG_WARNING, false);
	snprintf(fx->root, sizeof(fx->root), "/tmp/revrx-unit-XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	snprintf(fx->spool, sizeof(fx->spool), "%s/spool", fx->root);
	snprintf(fx->repodir, sizeof(fx->repodir), "%s/repo", fx->root);
	snprintf(fx->tsdir, sizeof(fx->tsdir), "%s/ts1", fx->root);
	snprintf(fx->url, sizeof(fx->url), "file://%s", fx->repodir);
	snprintf(path, sizeof(path), "%s/wal", fx->spool);
	fx_mkdir_p(path);
	snprintf(path, sizeof(path), "%s/status", fx->spool);
	fx_mkdir_p(path);
	snprintf(path, sizeof(path), "%s/backup", fx->spool);
	fx_mkdir_p(path);
	snprintf(path, sizeof(path), "%s/%s", fx->spool, RVX_SPOOL_CLUSTER_FILE);
	f = fopen(path, "w");
	fprintf(f, "{\"system_identifier\":\"%llu\",\"pg_version_num\":150020,"
			"\"wal_segment_size\":16777216}", SYSID);
	fclose(f);

	fx->cfg.repo.url = fx->url;
	fx->cfg.spool_dir = fx->spool;
	fx->cfg.parallel = 3;
	fx->cfg.poll_ms = 20;
	fx->cfg.log_level = RVX_LOG_WARNING;
	fx->repo = rvx_repo_open(&fx->cfg.repo, &err);
	assert_non_null(fx->repo);
	fx->ci.system_id = SYSID;
	fx->ci.pg_version_num = 150020;
	fx->ci.wal_segment_size = 16 * 1024 * 1024;
	assert_int_equal(rvx_repo_meta_bind(fx->repo, &fx->ci, &err), 0);

	/* the data directory that is "backed up" */
	fx_add_file(fx, "PG_VERSION", "15\n", 3);
	snprintf(text, sizeof(text),
			 "START WAL LOCATION: 0/2000028 (file %s)\nCHECKPOINT LOCATION: 0/2000060\n"
			 "BACKUP METHOD: streamed\nBACKUP FROM: primary\nLABEL: unit\n", START_WAL);
	fx_add_file(fx, "backup_label", text, strlen(text));
	snprintf(text, sizeof(text), "%d %s\n", TS_OID, fx->tsdir);
	fx_add_file(fx, "tablespace_map", text, strlen(text));
	snprintf(text, sizeof(text), "# Do not edit this file manually!\nwork_mem = '8MB'");
	fx_add_file(fx, "postgresql.auto.conf", text, strlen(text));
	big = malloc(3 * 1024 * 1024 + 123);
	for (size_t i = 0; i < 8192; i++)
		big[i] = (char) (i * 7 + 3);
	{
		/* pg_control opens with the system identifier (restore --delta reads it) */
		uint64_t	sysid = SYSID;

		memcpy(big, &sysid, sizeof(sysid));
	}
	fx_add_file(fx, "global/pg_control", big, 8192);
	for (size_t i = 0; i < 300000; i++)
		big[i] = (char) ('a' + (i / 100) % 26);
	fx_add_file(fx, "base/1/1259", big, 300000);
	srand(42);
	for (size_t i = 0; i < 3 * 1024 * 1024 + 123; i++)
		big[i] = (i % 8192 < 4000) ? (char) (i / 8192) : (char) rand();
	fx_add_file(fx, "base/1/16384", big, 3 * 1024 * 1024 + 123);
	fx_add_file(fx, "base/1/16385", "", 0);
	fx_add_file(fx, "pg_tblspc/16390/PG_15_202209061/1/16391", big, 100000);
	free(big);
	snprintf(fx->manifest, sizeof(fx->manifest), "{\"PostgreSQL-Backup-Manifest-Version\": 1}\n");
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	Fixture    *fx = *state;
	char		cmd[400];

	rvx_repo_close(fx->repo);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->root);
	(void) system(cmd);
	for (int i = 0; i < fx->nfiles; i++)
		free(fx->files[i].data);
	free(fx);
	return 0;
}

/*
 * Spools backup id as the server would: every file, the manifest, and the
 * record last.  wrong_sha_for names a file whose SHA-256 the record gets
 * wrong (NULL: none).
 */
static void
fx_spool_backup(Fixture *fx, const char *id, const char *wrong_sha_for)
{
	char		path[PATH_MAX];
	json_t	   *files = json_array();
	json_t	   *dirs = json_pack("[s,s,s,s,s,s,s,s,s,s]", "base", "base/1", "global", "pg_wal",
								 "pg_wal/archive_status", "pg_notify", "pg_tblspc",
								 "pg_tblspc/16390", "pg_tblspc/16390/PG_15_202209061",
								 "pg_tblspc/16390/PG_15_202209061/1");
	json_t	   *record;
	uint64_t	original = 0,
				stored = 0;
	char	   *text;

	for (int i = 0; i < fx->nfiles; i++)
	{
		const FakeFile *f = &fx->files[i];
		RvxObjectHeader hdr;
		char		hex[RVX_SHA256_HEXLEN + 1];
		char		key[PATH_MAX];
		uint64_t	size;

		snprintf(path, sizeof(path), "%s/backup/%s/data/%s.rvx", fx->spool, id, f->path);
		size = fx_write_object(path, f->data, f->len, SYSID, &hdr);
		if (wrong_sha_for && strcmp(wrong_sha_for, f->path) == 0)
			hdr.sha256[0] ^= 1;
		rvx_hex_encode(hdr.sha256, RVX_SHA256_LEN, hex);
		snprintf(key, sizeof(key), "backup/%s/data/%s.zst", id, f->path);
		json_array_append_new(files, json_pack("{s:s, s:I, s:s, s:s, s:s, s:I}",
											   "path", f->path, "size", (json_int_t) f->len,
											   "mtime", "2026-11-26T08:44:59Z", "sha256", hex,
											   "key", key, "stored", (json_int_t) size));
		original += f->len;
		stored += size;
	}
	snprintf(path, sizeof(path), "%s/backup/%s/backup_manifest.rvx", fx->spool, id);
	stored += fx_write_object(path, fx->manifest, strlen(fx->manifest), SYSID, NULL);

	record = json_pack("{s:i, s:s, s:s, s:s, s:b, s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:s,"
					   " s:s, s:s, s:I, s:I, s:i, s:b, s:[], s:[{s:i, s:s}], s:o, s:o}",
					   "format", 1, "id", id, "label", "unit", "kind", "full",
					   "scheduled", 0, "requested_by", "alice", "system_identifier", "7312345678901234567",
					   "pg_version_num", 150020, "timeline", 1,
					   "start_lsn", "0/2000028", "stop_lsn", "0/3000100",
					   "start_wal", START_WAL, "stop_wal", STOP_WAL,
					   "start_time", "2026-11-26T08:45:00Z", "stop_time", "2026-11-26T08:45:03Z",
					   "original_bytes", (json_int_t) original, "stored_bytes", (json_int_t) stored,
					   "file_count", fx->nfiles, "page_checksums", 1,
					   "problems",
					   "tablespaces", "oid", TS_OID, "location", fx->tsdir,
					   "directories", dirs, "files", files);
	assert_non_null(record);
	text = json_dumps(record, JSON_INDENT(1));
	json_decref(record);
	snprintf(path, sizeof(path), "%s/backup/%s/backup.json.rvx", fx->spool, id);
	fx_write_object(path, text, strlen(text), SYSID, NULL);
	free(text);
}

/* Spools and ships one WAL segment. */
static void
fx_ship_wal(Fixture *fx, const char *name)
{
	char		path[PATH_MAX];
	char		content[65536];
	RvxStoreResult res;
	RvxError	err;

	memset(content, name[23], sizeof(content));
	snprintf(path, sizeof(path), "%s/wal/%s.rvx", fx->spool, name);
	fx_write_object(path, content, sizeof(content), SYSID, NULL);
	assert_int_equal(rvx_ship_wal(fx->repo, fx->spool, name, &fx->ci, &res, &err), 0);
}

typedef struct FxShip
{
	Fixture    *fx;
	const char *id;
	int			shipped;
} FxShip;

static int
fx_ship_one(void *arg, const char *relpath)
{
	FxShip	   *s = arg;
	RvxStoreResult res;
	RvxError	err;
	int			rc = rvx_ship_backup_object(s->fx->repo, s->fx->spool, s->id, relpath,
											&s->fx->ci, &res, &err);

	if (rc != 0)
		fail_msg("shipping %s: %s", relpath, err.msg);
	s->shipped++;
	return 0;
}

/* Ships every object of backup id that is in the spool; returns how many. */
static int
fx_ship_objects(Fixture *fx, const char *id)
{
	FxShip		s = {fx, id, 0};
	RvxBackupScan scan;
	RvxError	err;

	assert_int_equal(rvx_backup_spool_scan(fx->spool, id, fx_ship_one, &s, &scan, &err), 0);
	return s.shipped;
}

/* A whole backup in the repository: spooled, shipped, WAL stored, committed. */
static void
fx_make_stored_backup(Fixture *fx, const char *id, const char *wrong_sha_for)
{
	RvxBackupCommit commit;
	RvxError	err;

	fx_spool_backup(fx, id, wrong_sha_for);
	fx_ship_objects(fx, id);
	fx_ship_wal(fx, START_WAL);
	fx_ship_wal(fx, STOP_WAL);
	assert_int_equal(rvx_ship_backup_commit(fx->repo, fx->spool, id, &fx->ci, NULL, &commit, &err), 0);
	assert_true(commit.committed);
}

static bool
fx_exists(const char *fmt, const char *a, const char *b)
{
	char		path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), fmt, a, b);
	return lstat(path, &st) == 0;
}

static char *
fx_slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (fread(buf, 1, (size_t) n, f) != (size_t) n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t) n;
	return buf;
}

#endif							/* TEST_BACKUP_FIXTURE_H */
