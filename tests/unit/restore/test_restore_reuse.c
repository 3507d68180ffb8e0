/*-------------------------------------------------------------------------
 *
 * test_restore_reuse.c
 *	  Unit tests for `restore --delta` (agent/restore/restore_reuse.c and its use
 *	  in agent/restore/restore.c), from a posix repository in a temporary
 *	  directory (test_backup_fixture.h).
 *
 * What would make them fail: an entry classified wrongly (a file of the
 * backup removed, an extra one kept, a directory of the backup found as a
 * file kept, what the backup left out on purpose or another server's
 * directory in a shared tablespace location touched, a WAL volume link
 * replaced); a kept file that was rewritten (new inode) or a changed one
 * (same size, other bytes) kept; a deleted file not restored, an extra
 * file, directory, WAL segment, stale postmaster.pid or wrong tablespace
 * link left; wrong kept / rewritten / removed counts; a directory of
 * another cluster, one that cannot be identified, or one a server runs in
 * changed at all, or refused with another exit code; --delta with --force
 * accepted; an interrupted delta restore that cannot be run again, or
 * whose marker stays behind; a large file whose chunk digest does not
 * match kept, or one that matches not kept.
 *
 *-------------------------------------------------------------------------
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "restore/restore.h"
#include "restore/restore_reuse.h"
#include "test_backup_fixture.h"

#define ID		"20261126T084500Z"
#define TS_VER	"pg_tblspc/16390/PG_15_202209061"

/* ---------------------------------------------------------------- classify */

static void
test_classify(void **state)
{
	static const char *const files[] = {"PG_VERSION", "base/1/1259", TS_VER "/1/16391"};
	static const char *const dirs[] = {"base", "base/1", "pg_tblspc", TS_VER, TS_VER "/1", "pg_wal"};
	static const char *const ts[] = {"pg_tblspc/16390"};
	static const char *const leave[] = {"spool"};
	const RvxReuseSets sets = {files, 3, dirs, 6, ts, 1, leave, 1};
	static const struct
	{
		const char *path;
		RvxReuseType type;
		RvxReuseAction want;
	}			cases[] = {
		{"base/1/1259", RVX_REUSE_T_FILE, RVX_REUSE_CHECK},
		{"base/1/1259", RVX_REUSE_T_DIR, RVX_REUSE_REMOVE},		/* wrong type: remade */
		{"base/1/1259", RVX_REUSE_T_LINK, RVX_REUSE_REMOVE},
		{"base/1/99999", RVX_REUSE_T_FILE, RVX_REUSE_REMOVE},
		{"base/1", RVX_REUSE_T_DIR, RVX_REUSE_DESCEND},
		{"base/1", RVX_REUSE_T_FILE, RVX_REUSE_REMOVE},
		{"base/77", RVX_REUSE_T_DIR, RVX_REUSE_REMOVE},
		{"pg_wal", RVX_REUSE_T_DIR, RVX_REUSE_DESCEND},
		{"pg_wal", RVX_REUSE_T_LINK, RVX_REUSE_DESCEND},		/* a WAL volume stays linked */
		{"base", RVX_REUSE_T_LINK, RVX_REUSE_REMOVE},
		{"pg_wal/000000010000000000000003", RVX_REUSE_T_FILE, RVX_REUSE_REMOVE},
		{"postmaster.pid", RVX_REUSE_T_FILE, RVX_REUSE_REMOVE},
		{"postmaster.opts", RVX_REUSE_T_FILE, RVX_REUSE_REMOVE},
		{"backup_label.old", RVX_REUSE_T_FILE, RVX_REUSE_REMOVE},
		{"global/pg_control", RVX_REUSE_T_FILE, RVX_REUSE_OWN},
		{"backup_manifest", RVX_REUSE_T_FILE, RVX_REUSE_OWN},
		{"backup_manifest", RVX_REUSE_T_DIR, RVX_REUSE_REMOVE},
		{"recovery.signal", RVX_REUSE_T_FILE, RVX_REUSE_OWN},
		{RVX_REUSE_MARKER, RVX_REUSE_T_FILE, RVX_REUSE_OWN},
		{"spool", RVX_REUSE_T_DIR, RVX_REUSE_LEAVE},
		{"spool/wal", RVX_REUSE_T_DIR, RVX_REUSE_REMOVE},		/* never reached: spool is not descended */
		{"pg_tblspc/16390", RVX_REUSE_T_LINK, RVX_REUSE_TABLESPACE},
		{"pg_tblspc/16390", RVX_REUSE_T_DIR, RVX_REUSE_REMOVE},
		{"pg_tblspc/16399", RVX_REUSE_T_LINK, RVX_REUSE_REMOVE},
		{TS_VER, RVX_REUSE_T_DIR, RVX_REUSE_DESCEND},
		{"pg_tblspc/16390/PG_16_202307071", RVX_REUSE_T_DIR, RVX_REUSE_LEAVE},	/* another server's */
		{TS_VER "/1/16391", RVX_REUSE_T_FILE, RVX_REUSE_CHECK},
		{TS_VER "/1/16392", RVX_REUSE_T_FILE, RVX_REUSE_REMOVE},
		{"PG_VERSION", RVX_REUSE_T_OTHER, RVX_REUSE_REMOVE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		RvxReuseAction got = rvx_reuse_classify(&sets, cases[i].path, cases[i].type);

		if (got != cases[i].want)
			fail_msg("\"%s\" (type %d): action %d, expected %d", cases[i].path, cases[i].type,
					 got, cases[i].want);
	}
}

/* ---------------------------------------------------------------- with a repository */

static int
do_restore(Fixture *fx, const char *pgdata, bool delta, bool force, RvxRestoreResult *res,
		   RvxError *err)
{
	RvxRestoreOptions opts = {0};

	opts.pgdata = pgdata;
	opts.backup_id = ID;
	opts.delta = delta;
	opts.force = force;
	opts.parallel = 3;
	opts.hash_threads = 2;
	opts.agent_path = "/usr/bin/revrx-agent";
	return rvx_restore(&fx->cfg, &opts, res, err);
}

static void
restored(Fixture *fx, const char *pgdata, bool delta, RvxRestoreResult *res)
{
	RvxError	err;

	if (do_restore(fx, pgdata, delta, false, res, &err) != 0)
		fail_msg("restore%s failed: %s", delta ? " --delta" : "", err.msg);
}

static void
put_file(const char *path, const char *text)
{
	FILE	   *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

typedef struct Snapshot
{
	ino_t		ino[MAX_FILES];
	struct timespec mtime[MAX_FILES];
} Snapshot;

/* Where file i of the fixture is on disk (the tablespace's in its location). */
static void
file_path(Fixture *fx, const char *pgdata, int i, char *out, size_t cap)
{
	const char *p = fx->files[i].path;

	if (strncmp(p, "pg_tblspc/16390/", 16) == 0)
		snprintf(out, cap, "%s/%s", fx->tsdir, p + 16);
	else
		snprintf(out, cap, "%s/%s", pgdata, p);
}

/*
 * What each file is now: inode and mtime.  A restore that rewrites a file
 * gives it a new inode, but not always a new inode *number*: pg_control is
 * removed first and written last, and the filesystem may hand its number
 * to the new file.  So mark first stamps every file with an mtime no
 * restore writes (whatever the backup recorded), and "rewritten" is a new
 * inode number or a different mtime.
 */
static void
snapshot_ex(Fixture *fx, const char *pgdata, Snapshot *s, bool mark)
{
	for (int i = 0; i < fx->nfiles; i++)
	{
		char		path[PATH_MAX];
		struct stat st;

		file_path(fx, pgdata, i, path, sizeof(path));
		if (mark)
		{
			struct timespec ts[2] = {{1000000000 + i, 123456789}, {1000000000 + i, 123456789}};

			(void) utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
		}
		s->ino[i] = lstat(path, &st) == 0 ? st.st_ino : 0;
		s->mtime[i] = st.st_mtim;
	}
}

/* before a restore: marks the files (see snapshot_ex) */
static void
snapshot(Fixture *fx, const char *pgdata, Snapshot *s)
{
	snapshot_ex(fx, pgdata, s, true);
}

/*
 * After a delta restore: every file as backed up (postgresql.auto.conf
 * with the recovery settings after it), and untouched exactly where the
 * snapshot's file is not named in rewritten.
 */
static void
assert_delta_result(Fixture *fx, const char *pgdata, const Snapshot *before,
					const char *const *rewritten)
{
	Snapshot	after;

	snapshot_ex(fx, pgdata, &after, false);
	for (int i = 0; i < fx->nfiles; i++)
	{
		char		path[PATH_MAX];
		bool		was_rewritten = false;
		size_t		len;
		char	   *data;

		for (int r = 0; rewritten[r]; r++)
			was_rewritten |= strcmp(rewritten[r], fx->files[i].path) == 0;
		file_path(fx, pgdata, i, path, sizeof(path));
		data = fx_slurp(path, &len);
		assert_non_null(data);
		if (strcmp(fx->files[i].path, "postgresql.auto.conf") == 0)
			assert_memory_equal(data, fx->files[i].data, fx->files[i].len);
		else
		{
			assert_int_equal(len, fx->files[i].len);
			assert_memory_equal(data, fx->files[i].data, len);
		}
		free(data);
		if (was_rewritten)
		{
			if (before->ino[i] == after.ino[i] &&
				before->mtime[i].tv_sec == after.mtime[i].tv_sec &&
				before->mtime[i].tv_nsec == after.mtime[i].tv_nsec)
				fail_msg("\"%s\" was not rewritten", fx->files[i].path);
		}
		else if (before->ino[i] != after.ino[i] ||
				 before->mtime[i].tv_sec != after.mtime[i].tv_sec ||
				 before->mtime[i].tv_nsec != after.mtime[i].tv_nsec)
			fail_msg("\"%s\" was rewritten, but it was the backup's already", fx->files[i].path);
	}
	assert_false(fx_exists("%s/%s", pgdata, RVX_REUSE_MARKER));
	assert_true(fx_exists("%s/%s", pgdata, "recovery.signal"));
	assert_true(fx_exists("%s/%s", pgdata, "backup_manifest"));
}

static void
test_delta_keeps_what_is_right(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	char		path[PATH_MAX];
	RvxRestoreResult res;
	Snapshot	before;
	uint64_t	total = 0;
	int			nfiles = fx->nfiles;
	pid_t		child;
	FILE	   *f;

	for (int i = 0; i < fx->nfiles; i++)
		total += fx->files[i].len;
	fx_make_stored_backup(fx, ID, NULL);
	snprintf(pgdata, sizeof(pgdata), "%s/restored", fx->root);
	restored(fx, pgdata, false, &res);
	assert_false(res.delta);

	/*
	 * Right after a restore everything is the backup's but pg_control
	 * (always written last) and postgresql.auto.conf (the restore added to it).
	 */
	snapshot(fx, pgdata, &before);
	restored(fx, pgdata, true, &res);
	assert_true(res.delta);
	assert_int_equal(res.kept_files, nfiles - 2);
	assert_int_equal(res.files, 2);
	assert_int_equal(res.removed, 0);
	assert_delta_result(fx, pgdata, &before,
						(const char *const[]) {"global/pg_control", "postgresql.auto.conf", NULL});
	{
		/* the recovery settings once, not once per restore */
		char	   *conf;

		snprintf(path, sizeof(path), "%s/postgresql.auto.conf", pgdata);
		conf = fx_slurp(path, NULL);
		assert_non_null(strstr(conf, "restore_command"));
		assert_null(strstr(strstr(conf, "restore_command") + 1, "restore_command"));
		free(conf);
	}

	/* (a) a flipped byte, same size: read back, found different, rewritten */
	snprintf(path, sizeof(path), "%s/base/1/16384", pgdata);
	f = fopen(path, "r+b");
	fseek(f, 2 * 1024 * 1024, SEEK_SET);
	fputc(fx_file(fx, "base/1/16384")->data[2 * 1024 * 1024] ^ 0x01, f);
	fclose(f);
	snapshot(fx, pgdata, &before);
	restored(fx, pgdata, true, &res);
	assert_int_equal(res.kept_files, nfiles - 3);
	assert_int_equal(res.kept_bytes, total - fx_file(fx, "base/1/16384")->len -
					 fx_file(fx, "postgresql.auto.conf")->len - 8192);
	assert_int_equal(res.files, 3);
	assert_int_equal(res.removed, 0);
	assert_delta_result(fx, pgdata, &before,
						(const char *const[]) {"global/pg_control", "postgresql.auto.conf",
						"base/1/16384", NULL});

	/* (b) a file deleted, another cut short (in the tablespace) */
	snprintf(path, sizeof(path), "%s/base/1/1259", pgdata);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/PG_15_202209061/1/16391", fx->tsdir);
	assert_int_equal(truncate(path, 8192), 0);
	snapshot(fx, pgdata, &before);
	restored(fx, pgdata, true, &res);
	assert_int_equal(res.kept_files, nfiles - 4);
	assert_int_equal(res.files, 4);
	assert_int_equal(res.removed, 0);
	assert_delta_result(fx, pgdata, &before,
						(const char *const[]) {"global/pg_control", "postgresql.auto.conf",
						"base/1/1259", TS_VER "/1/16391", NULL});

	/*
	 * (c) what is not the backup's: a file, a directory with a file in it,
	 * WAL, a stale postmaster.pid (its server is gone), a file in the
	 * tablespace; but another server's directory in the tablespace
	 * location is not the restore's.
	 */
	snprintf(path, sizeof(path), "%s/base/1/99999", pgdata);
	put_file(path, "extra");
	snprintf(path, sizeof(path), "%s/base/77", pgdata);
	fx_mkdir_p(path);
	snprintf(path, sizeof(path), "%s/base/77/1", pgdata);
	put_file(path, "extra, in an extra directory");
	snprintf(path, sizeof(path), "%s/pg_wal/000000020000000000000009", pgdata);
	put_file(path, "WAL of the restored server's own timeline");
	snprintf(path, sizeof(path), "%s/PG_15_202209061/1/16392", fx->tsdir);
	put_file(path, "extra in the tablespace");
	snprintf(path, sizeof(path), "%s/PG_16_202307071/5", fx->tsdir);
	fx_mkdir_p(path);
	child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
	f = fopen(path, "w");
	fprintf(f, "%d\n%s\n", (int) child, pgdata);
	fclose(f);
	snapshot(fx, pgdata, &before);
	restored(fx, pgdata, true, &res);
	assert_int_equal(res.kept_files, nfiles - 2);
	assert_int_equal(res.files, 2);
	assert_int_equal(res.removed, 6);
	assert_int_equal(res.removed_bytes, strlen("extra") + strlen("extra, in an extra directory") +
					 strlen("WAL of the restored server's own timeline") +
					 strlen("extra in the tablespace") + strlen(pgdata) + 1 +
					 snprintf(NULL, 0, "%d\n", (int) child));
	assert_delta_result(fx, pgdata, &before,
						(const char *const[]) {"global/pg_control", "postgresql.auto.conf", NULL});
	assert_false(fx_exists("%s/%s", pgdata, "base/1/99999"));
	assert_false(fx_exists("%s/%s", pgdata, "base/77"));
	assert_false(fx_exists("%s/%s", pgdata, "pg_wal/000000020000000000000009"));
	assert_true(fx_exists("%s/%s", pgdata, "pg_wal/archive_status"));
	assert_false(fx_exists("%s/%s", pgdata, "postmaster.pid"));
	assert_false(fx_exists("%s/%s", fx->tsdir, "PG_15_202209061/1/16392"));
	assert_true(fx_exists("%s/%s", fx->tsdir, "PG_16_202307071/5"));
}

/* Every byte of every file under dir, as one string, to see that nothing changed. */
static char *
tree_state(const char *dir)
{
	char		cmd[PATH_MAX + 128];
	char	   *out = malloc(1 << 20);
	size_t		len;
	FILE	   *p;

	snprintf(cmd, sizeof(cmd),
			 "cd '%s' && find . -printf '%%p %%y %%s %%i %%T@\\n' | sort && "
			 "find . -type f -exec sha256sum {} + | sort", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	len = fread(out, 1, (1 << 20) - 1, p);
	out[len] = '\0';
	pclose(p);
	return out;
}

static void
test_delta_links(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	char		path[PATH_MAX];
	char		other[PATH_MAX];
	char		walvol[PATH_MAX];
	char		target[PATH_MAX];
	RvxRestoreResult res;
	RvxError	err;
	struct stat st;
	ssize_t		n;
	char	   *was;
	char	   *now;

	fx_make_stored_backup(fx, ID, NULL);
	snprintf(pgdata, sizeof(pgdata), "%s/restored", fx->root);
	restored(fx, pgdata, false, &res);

	/* pg_wal on a volume of its own: the link stays, its contents go */
	snprintf(walvol, sizeof(walvol), "%s/walvol", fx->root);
	snprintf(path, sizeof(path), "%s/pg_wal", pgdata);
	assert_int_equal(rename(path, walvol), 0);
	assert_int_equal(symlink(walvol, path), 0);
	snprintf(path, sizeof(path), "%s/000000010000000000000004", walvol);
	put_file(path, "old WAL");

	/*
	 * the tablespace link pointing elsewhere, the record's location full:
	 * that location may be another cluster's tablespace, so the restore
	 * refuses it as a normal restore would, changing nothing
	 */
	snprintf(other, sizeof(other), "%s/elsewhere", fx->root);
	fx_mkdir_p(other);
	snprintf(path, sizeof(path), "%s/pg_tblspc/16390", pgdata);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(other, path), 0);
	was = tree_state(fx->root);
	assert_int_equal(do_restore(fx, pgdata, true, false, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_USAGE);
	assert_non_null(strstr(err.msg, "is not empty"));
	assert_non_null(strstr(err.msg, fx->tsdir));
	assert_false(res.incomplete);
	now = tree_state(fx->root);
	assert_string_equal(now, was);
	free(now);
	free(was);

	/* ... the record's location empty (moved away): used, and the link remade */
	snprintf(path, sizeof(path), "%s.away", fx->tsdir);
	assert_int_equal(rename(fx->tsdir, path), 0);
	snprintf(path, sizeof(path), "%s/mine", other);
	put_file(path, "not the restore's");
	restored(fx, pgdata, true, &res);
	assert_int_equal(res.removed, 2);	/* the WAL file, the wrong link */
	assert_int_equal(res.kept_files, fx->nfiles - 3);	/* pg_control, auto.conf, the tablespace's */
	snprintf(path, sizeof(path), "%s/pg_wal", pgdata);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_false(fx_exists("%s/%s", walvol, "000000010000000000000004"));
	assert_true(fx_exists("%s/%s", walvol, "archive_status"));
	snprintf(path, sizeof(path), "%s/pg_tblspc/16390", pgdata);
	n = readlink(path, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, fx->tsdir);
	assert_true(fx_exists("%s/%s", fx->tsdir, TS_VER + strlen("pg_tblspc/16390/") ));
	assert_true(fx_exists("%s/%s", other, "mine"));	/* only the link was removed */
}

/* postmaster.pid read as PostgreSQL reads it */
static void
test_parse_pidfile(void **state)
{
	RvxPidFile	pf;

	assert_true(rvx_reuse_parse_pidfile("4242\n/data\n1764000000\n5432\n/tmp\n*\n"
										"  5432001     32769\nready   \n", &pf));
	assert_int_equal(pf.pid, 4242);
	assert_true(pf.has_shmem);
	assert_int_equal(pf.shmem_key, 5432001);
	assert_int_equal(pf.shmem_id, 32769);
	/* a server still starting has not written line 7 yet: the pid alone */
	assert_true(rvx_reuse_parse_pidfile("4242\n/data\n", &pf));
	assert_int_equal(pf.pid, 4242);
	assert_false(pf.has_shmem);
	assert_true(rvx_reuse_parse_pidfile("4242\n/data\n1\n5432\n/tmp\n*\n\n", &pf));
	assert_false(pf.has_shmem);
	assert_true(rvx_reuse_parse_pidfile("4242", &pf));
	/* empty or garbled: not a file PostgreSQL wrote */
	assert_false(rvx_reuse_parse_pidfile("", &pf));
	assert_false(rvx_reuse_parse_pidfile("\n", &pf));
	assert_false(rvx_reuse_parse_pidfile("0\n/data\n", &pf));
	assert_false(rvx_reuse_parse_pidfile("-7\n", &pf));
	assert_false(rvx_reuse_parse_pidfile("42x\n", &pf));
	assert_false(rvx_reuse_parse_pidfile("\x01\x02garbage", &pf));
}

/* Tablespace locations that would overlap the data directory or each other. */
static void
test_check_locations(void **state)
{
	static const struct
	{
		RvxReuseTablespace ts[2];
		size_t		n;
		const char *want;		/* NULL: accepted */
	}			cases[] = {
		{{{1, "/srv/ts1"}, {2, "/srv/ts2"}}, 2, NULL},
		{{{1, "/srv/pgdata-ts"}}, 1, NULL},		/* a prefix of the name is not inside */
		{{{1, "/srv/ts1"}, {2, "/srv/ts1/"}}, 2, "same place"},
		{{{1, "/srv/pgdata/ts"}}, 1, "is inside"},
		{{{1, "/srv/pgdata"}}, 1, "is inside"},
		{{{1, "/srv"}}, 1, "contains"},
		{{{1, "srv/ts1"}}, 1, "absolute"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		RvxError	err;
		int			rc = rvx_reuse_check_locations("/srv/pgdata/", cases[i].ts, cases[i].n, &err);

		if (cases[i].want == NULL)
			assert_int_equal(rc, 0);
		else
		{
			assert_int_equal(rc, -1);
			assert_int_equal(err.code, RVX_E_USAGE);
			if (strstr(err.msg, cases[i].want) == NULL)
				fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, cases[i].want);
		}
	}
}

static void
test_delta_refusals(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	char		path[PATH_MAX];
	RvxRestoreResult res;
	RvxError	err;
	char	   *was;
	char	   *now;
	FILE	   *f;
	uint64_t	other = SYSID + 1;

	fx_make_stored_backup(fx, ID, NULL);
	snprintf(pgdata, sizeof(pgdata), "%s/restored", fx->root);
	restored(fx, pgdata, false, &res);
	snprintf(path, sizeof(path), "%s/base/1/1259", pgdata);
	(void) truncate(path, 10);	/* something a delta restore would repair */

	/* --delta with --force */
	was = tree_state(pgdata);
	assert_int_equal(do_restore(fx, pgdata, true, true, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_USAGE);
	assert_non_null(strstr(err.msg, "--force"));

	/* a server running in it (this process, as far as kill(pid, 0) can tell) */
	snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
	f = fopen(path, "w");
	fprintf(f, "%d\n%s\n", (int) getpid(), pgdata);
	fclose(f);
	free(was);
	was = tree_state(pgdata);
	assert_int_equal(do_restore(fx, pgdata, true, false, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_RUNNING);
	assert_int_equal(RVX_E_RUNNING, 14);		/* an exit code: stable */
	assert_non_null(strstr(err.msg, "running"));
	assert_false(res.incomplete);
	now = tree_state(pgdata);
	assert_string_equal(now, was);
	free(now);
	unlink(path);

	/*
	 * a server in another PID namespace (a sidecar): its pid means nothing
	 * here, but its shared memory segment, named on line 7, is attached
	 */
	{
		int			shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		void	   *at;
		pid_t		gone = fork();

		assert_true(shmid >= 0);
		at = shmat(shmid, NULL, 0);
		assert_true(at != (void *) -1);
		if (gone == 0)
			_exit(0);
		waitpid(gone, NULL, 0);
		f = fopen(path, "w");
		fprintf(f, "%d\n%s\n1764000000\n5432\n/tmp\n*\n%9lu %9lu\nready   \n", (int) gone,
				pgdata, 5432001UL, (unsigned long) shmid);
		fclose(f);
		free(was);
		was = tree_state(pgdata);
		assert_int_equal(do_restore(fx, pgdata, true, false, &res, &err), -1);
		assert_int_equal(err.code, RVX_E_RUNNING);
		assert_non_null(strstr(err.msg, "shared memory"));
		assert_false(res.incomplete);
		now = tree_state(pgdata);
		assert_string_equal(now, was);
		free(now);
		shmdt(at);
		shmctl(shmid, IPC_RMID, NULL);
	}

	/* an empty postmaster.pid: a server may be starting */
	f = fopen(path, "w");
	fclose(f);
	free(was);
	was = tree_state(pgdata);
	assert_int_equal(do_restore(fx, pgdata, true, false, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_RUNNING);
	assert_non_null(strstr(err.msg, "empty"));
	now = tree_state(pgdata);
	assert_string_equal(now, was);
	free(now);
	unlink(path);

	/* WAL its server had not archived: refused (exit code 16), nothing changed */
	snprintf(path, sizeof(path), "%s/pg_wal/000000010000000000000007", pgdata);
	put_file(path, "WAL not archived yet");
	snprintf(path, sizeof(path), "%s/pg_wal/archive_status/000000010000000000000007.ready", pgdata);
	put_file(path, "");
	free(was);
	was = tree_state(pgdata);
	assert_int_equal(do_restore(fx, pgdata, true, false, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_UNARCHIVED_WAL);
	assert_int_equal(RVX_E_UNARCHIVED_WAL, 16);
	assert_non_null(strstr(err.msg, "holds 1 WAL file(s)"));
	assert_non_null(strstr(err.msg, "--discard-unarchived-wal"));
	assert_false(res.incomplete);
	now = tree_state(pgdata);
	assert_string_equal(now, was);
	free(now);
	unlink(path);
	snprintf(path, sizeof(path), "%s/pg_wal/000000010000000000000007", pgdata);
	unlink(path);

	/* another cluster's pg_control */
	snprintf(path, sizeof(path), "%s/global/pg_control", pgdata);
	f = fopen(path, "r+b");
	fwrite(&other, sizeof(other), 1, f);
	fclose(f);
	free(was);
	was = tree_state(pgdata);
	assert_int_equal(do_restore(fx, pgdata, true, false, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_FOREIGN_PGDATA);
	assert_int_equal(RVX_E_FOREIGN_PGDATA, 15);
	assert_non_null(strstr(err.msg, "7312345678901234568"));
	assert_non_null(strstr(err.msg, "7312345678901234567"));
	assert_false(res.incomplete);
	now = tree_state(pgdata);
	assert_string_equal(now, was);
	free(now);

	/* no pg_control at all: whose it is cannot be told */
	unlink(path);
	free(was);
	was = tree_state(pgdata);
	assert_int_equal(do_restore(fx, pgdata, true, false, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_FOREIGN_PGDATA);
	assert_non_null(strstr(err.msg, "no global/pg_control"));
	now = tree_state(pgdata);
	assert_string_equal(now, was);
	free(now);
	free(was);

	/* ... unless a delta restore of this cluster left its marker there */
	assert_int_equal(rvx_reuse_write_marker(pgdata, SYSID, ID, (uid_t) -1, (gid_t) -1, &err), 0);
	restored(fx, pgdata, true, &res);
	assert_true(res.delta);
	assert_int_equal(res.kept_files, fx->nfiles - 3);	/* pg_control, auto.conf, 1259 */
	assert_false(fx_exists("%s/%s", pgdata, RVX_REUSE_MARKER));
	assert_true(fx_exists("%s/%s", pgdata, "global/pg_control"));
}

static void
test_delta_into_nothing(void **state)
{
	Fixture    *fx = *state;
	char		pgdata[PATH_MAX];
	RvxRestoreResult res;

	fx_make_stored_backup(fx, ID, NULL);
	snprintf(pgdata, sizeof(pgdata), "%s/new", fx->root);
	restored(fx, pgdata, true, &res);
	assert_false(res.delta);
	assert_int_equal(res.files, fx->nfiles);
	assert_int_equal(res.kept_files, 0);
	assert_true(fx_exists("%s/%s", pgdata, "global/pg_control"));
	assert_false(fx_exists("%s/%s", pgdata, RVX_REUSE_MARKER));
}


/*
 * Files compared by their chunk digests (common/chunk_digest.h), on their
 * own, without a restore around them: a large file is kept when its
 * pieces, hashed by several threads, combine into the record's digest,
 * and its SHA-256 is then not what decides (the record's is wrong here on
 * purpose); a byte flipped in any piece, the last short one included, or
 * a digest of other content, and it is not.  A small file beside it is
 * still compared by its SHA-256.
 */
static void
test_delta_by_chunks(void **state)
{
	char		root[] = "/tmp/revrx-test-chunks-XXXXXX";
	char		path[PATH_MAX];
	const size_t len = 2 * RVX_CHUNK_PIECE + 4567;
	const size_t flips[] = {0, RVX_CHUNK_PIECE + 5, 2 * RVX_CHUNK_PIECE + 4000};
	uint8_t    *big = malloc(len);
	uint8_t		digest[RVX_CHUNK_DIGEST_LEN];
	uint8_t		wrong_sha[RVX_SHA256_LEN];
	uint8_t		small_sha[RVX_SHA256_LEN];
	const char *const dirs[] = {"base", "base/1"};
	RvxReuseFile files[2];
	RvxReuseInput in;
	RvxReusePlan plan;
	RvxChunkDigest *cd = rvx_chunk_digest_new();
	RvxError	err;
	FILE	   *f;

	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/base/1", root);
	fx_mkdir_p(path);
	srand(11);
	for (size_t i = 0; i < len; i++)
		big[i] = (uint8_t) rand();
	snprintf(path, sizeof(path), "%s/base/1/16400", root);
	f = fopen(path, "wb");
	assert_int_equal(fwrite(big, 1, len, f), len);
	fclose(f);
	snprintf(path, sizeof(path), "%s/base/1/16401", root);
	put_file(path, "a small file");
	assert_int_equal(rvx_sha256_buf("a small file", 12, small_sha), 0);
	rvx_chunk_digest_update(cd, big, len);
	rvx_chunk_digest_final(cd, digest);
	memset(wrong_sha, 0x5a, sizeof(wrong_sha));

	files[0] = (RvxReuseFile) {.path = "base/1/16400", .size = (int64_t) len,
	.sha256 = wrong_sha, .chunk_digest = digest};
	files[1] = (RvxReuseFile) {.path = "base/1/16401", .size = 12, .sha256 = small_sha};
	in = (RvxReuseInput) {.pgdata = root, .files = files, .nfiles = 2, .dirs = dirs,
	.ndirs = 2, .threads = 3};

	assert_int_equal(rvx_reuse_scan(&in, &plan, &err), 0);
	assert_true(files[0].keep);
	assert_true(files[1].keep);
	assert_int_equal(plan.kept_files, 2);
	assert_int_equal(plan.chunked_files, 1);
	assert_int_equal(plan.nremove, 0);
	rvx_reuse_plan_free(&plan);

	/* the same with one thread */
	in.threads = 1;
	assert_int_equal(rvx_reuse_scan(&in, &plan, &err), 0);
	assert_true(files[0].keep);
	rvx_reuse_plan_free(&plan);
	in.threads = 2;

	snprintf(path, sizeof(path), "%s/base/1/16400", root);
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++)
	{
		uint8_t		c = big[flips[i]] ^ 0x01;

		f = fopen(path, "r+b");
		fseek(f, (long) flips[i], SEEK_SET);
		fputc(c, f);
		fclose(f);
		assert_int_equal(rvx_reuse_scan(&in, &plan, &err), 0);
		if (files[0].keep)
			fail_msg("a byte flipped at %zu was kept", flips[i]);
		assert_true(files[1].keep);
		assert_int_equal(plan.kept_files, 1);
		rvx_reuse_plan_free(&plan);
		f = fopen(path, "r+b");
		fseek(f, (long) flips[i], SEEK_SET);
		fputc(big[flips[i]], f);
		fclose(f);
	}

	/* the digest of other content of the same size: not kept, even with the right SHA-256 */
	{
		uint8_t		right_sha[RVX_SHA256_LEN];

		assert_int_equal(rvx_sha256_buf(big, len, right_sha), 0);
		files[0].sha256 = right_sha;
		digest[7] ^= 0x80;
		assert_int_equal(rvx_reuse_scan(&in, &plan, &err), 0);
		assert_false(files[0].keep);
		assert_int_equal(plan.chunked_files, 1);
		rvx_reuse_plan_free(&plan);
		digest[7] ^= 0x80;
		files[0].sha256 = wrong_sha;
	}

	/* without a chunk digest, the (wrong) SHA-256 decides */
	files[0].chunk_digest = NULL;
	assert_int_equal(rvx_reuse_scan(&in, &plan, &err), 0);
	assert_false(files[0].keep);
	assert_int_equal(plan.chunked_files, 0);
	rvx_reuse_plan_free(&plan);

	rvx_chunk_digest_free(cd);
	free(big);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test_setup_teardown(test_delta_keeps_what_is_right, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_delta_links, fx_setup, fx_teardown),
		cmocka_unit_test(test_check_locations),
		cmocka_unit_test(test_parse_pidfile),
		cmocka_unit_test_setup_teardown(test_delta_refusals, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_delta_into_nothing, fx_setup, fx_teardown),
		cmocka_unit_test(test_delta_by_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
