/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Restoring a base backup into a data directory (see restore.h).
 *
 * The order of events, and why:
 *	1. read repo.json, check the recovery target against the repository and
 *	   choose the backup for it (target.c), read the backup record, check
 *	   both, and check the target and tablespace locations: nothing has
 *	   been changed yet, so bad input costs nothing;
 *	2. (--force) empty the target and the tablespace locations;
 *	3. create the directories and the tablespace symlinks;
 *	4. download every file except pg_control, in parallel, each verified
 *	   and fsynced by its thread (a file rebuilt from an incremental chain
 *	   is verified as the rebuilt file, restore_delta.h);
 *	5. backup_manifest, the recovery settings (restore_command, the target,
 *	   and unless opts->archive archiving and scheduled backups turned
 *	   off), recovery.signal;
 *	6. fsync every directory, then write pg_control and fsync its
 *	   directory: from here on the directory can start, and it is whole.
 *
 * --delta into a directory that is not empty changes 1 and 2: the
 * directory must be the cluster's (its system identifier) and is read
 * (restore_reuse.c: what can be kept, each kept file hashed) before
 * anything changes; then the marker naming the cluster is written,
 * pg_control removed and what is not the backup's deleted, and only the
 * files that were not kept are downloaded in 4.  After 6 the marker goes.
 *
 * Tablespaces: the symlink pg_tblspc/<oid> points to the tablespace's
 * original location (or its --tablespace-map), which must be empty.  A
 * tablespace_map in the backup is written as is when no tablespace was
 * moved (PostgreSQL recreates the same links from it, and pg_verifybackup
 * finds the file its manifest lists), and left out when one was moved (it
 * would point PostgreSQL back to the original locations).
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file_utils.h"
#include "base/hash_aside.h"
#include "base/log.h"
#include "info/fetch.h"
#include "info/repo_meta.h"
#include "restore/restore.h"
#include "restore/manifest_fix.h"
#include "restore/restore_delta.h"
#include "restore/restore_reuse.h"
#include "chunk_digest.h"
#include "sha256.h"

#define PG_CONTROL_PATH		"global/pg_control"
#define BACKUP_LABEL_PATH	"backup_label"
#define TABLESPACE_MAP_PATH "tablespace_map"
#define AUTO_CONF_PATH		"postgresql.auto.conf"
#define RECOVERY_SIGNAL		"recovery.signal"

typedef struct RestoreFile
{
	const char *path;			/* relative to pgdata (points into the record) */
	const char *key;
	int64_t		size;
	uint8_t		sha256[RVX_SHA256_LEN]; /* a sparse one's: once rebuilt */
	bool		delta;			/* changed pages over the parent's version */
	bool		sparse;			/* a delta whose backup recorded no digest of the file */
	bool		chunked;		/* chunk_digest holds the record's (restore --delta) */
	uint8_t		chunk_digest[RVX_CHUNK_DIGEST_LEN];
} RestoreFile;

/*
 * The digest a delta's object must carry, from its record: NULL for one
 * recorded before deltas carried it, which is then bound to the backup only
 * by the rebuilt file's digest (none for a sparse file: its own deltas
 * always have one, catalog.c).
 */
static const uint8_t *
delta_object_sha(const json_t *entry, uint8_t sha[RVX_SHA256_LEN])
{
	const char *hex = json_string_value(json_object_get(entry, "object_sha256"));

	if (hex == NULL || rvx_hex_decode(hex, sha, RVX_SHA256_LEN) != 0)
		return NULL;
	return sha;
}

/* The longest chain of incremental backups restore follows. */
#define MAX_CHAIN		64

typedef struct Tablespace
{
	unsigned int oid;
	const char *location;		/* where its files go */
	bool		moved;			/* not its original location */
} Tablespace;

typedef struct RestoreRun
{
	const RvxConfig *cfg;
	const RvxRestoreOptions *opts;
	uint64_t	system_id;
	uid_t		owner;			/* (uid_t) -1: leave files to the user running this */
	gid_t		group;

	RestoreFile *files;			/* everything but pg_control, largest first */
	size_t		nfiles;
	RestoreFile control;		/* global/pg_control */
	uint64_t	total_bytes;

	/*
	 * An incremental backup's chain: [0] the backup restored, then its
	 * parent, and so on to a full one; for each, its files by path.
	 */
	json_t	   *chain[MAX_CHAIN];
	json_t	   *chain_files[MAX_CHAIN];
	char		chain_ids[MAX_CHAIN][RVX_BACKUP_ID_MAXLEN + 1];
	size_t		nchain;

	/* shared by the threads */
	size_t		next;			/* index of the next file to take (atomic) */
	uint64_t	bytes_written;	/* atomic */
	uint64_t	files_done;		/* atomic */
	int			threads_done;	/* atomic */
	volatile int cancel;		/* set on the first failure: the others stop */
	pthread_mutex_t lock;
	bool		failed;
	RvxError	first_error;	/* under lock */
} RestoreRun;


/* ---------------------------------------------------------------- restore_command */

typedef struct Str
{
	char	   *buf;
	size_t		cap;
	size_t		len;
	bool		overflow;
} Str;

static void
str_addc(Str *s, char c)
{
	if (s->len + 1 >= s->cap)
	{
		s->overflow = true;
		return;
	}
	s->buf[s->len++] = c;
	s->buf[s->len] = '\0';
}

static void
str_add(Str *s, const char *text)
{
	for (; *text; text++)
		str_addc(s, *text);
}

/*
 * Adds value as one shell word inside restore_command: single-quoted for
 * the shell ('\'' for a quote), unless it is plain and always_quote is
 * false, and with % doubled, because PostgreSQL expands %f, %p, %r and %%
 * in restore_command.  (postgresql.conf quoting is applied to the whole
 * command afterwards.)
 */
static void
add_shell_word(Str *s, const char *value, bool always_quote)
{
	bool		plain = *value != '\0' && !always_quote;

	for (const char *c = value; plain && *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			  (*c >= '0' && *c <= '9') || strchr("/._-+:,=@", *c)))
			plain = false;
	if (!plain)
		str_addc(s, '\'');
	for (const char *c = value; *c; c++)
	{
		if (*c == '\'')
			str_add(s, "'\\''");
		else if (*c == '%')
			str_add(s, "%%");
		else
			str_addc(s, *c);
	}
	if (!plain)
		str_addc(s, '\'');
}

static int
add_setting(Str *s, const char *name, const char *value, RvxError *err)
{
	for (const char *c = value; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			return rvx_error(err, RVX_E_CONFIG,
							 "%s contains a control character; it cannot be written into restore_command",
							 name);
	str_add(s, name);
	str_addc(s, '=');
	add_shell_word(s, value, true);
	str_addc(s, ' ');
	return 0;
}

/* The path of this program, to run the same agent from restore_command. */
static void
own_path(char *out, size_t cap)
{
	ssize_t		n = readlink("/proc/self/exe", out, cap - 1);

	if (n <= 0 || (size_t) n >= cap - 1)
	{
		snprintf(out, cap, "revrx-agent");
		return;
	}
	out[n] = '\0';
	if (access(out, X_OK) != 0)		/* replaced since it started */
		snprintf(out, cap, "revrx-agent");
}

int
rvx_restore_command(const RvxRepoConfig *repo, const char *agent_path, char *out, size_t cap,
					RvxError *err)
{
	char		shellbuf[8192];
	char		self[PATH_MAX];
	Str			cmd = {shellbuf, sizeof(shellbuf), 0, false};
	Str			conf = {out, cap, 0, false};
	bool		s3 = strncmp(repo->url, "s3://", 5) == 0;

	shellbuf[0] = '\0';
	if (cap > 0)
		out[0] = '\0';
	str_add(&cmd, "env ");
	if (add_setting(&cmd, "REVRX_REPO", repo->url, err) != 0)
		return -1;
	/* only what locates and verifies the repository: never a credential */
	if (s3)
	{
		if (repo->s3_endpoint &&
			add_setting(&cmd, "REVRX_S3_ENDPOINT", repo->s3_endpoint, err) != 0)
			return -1;
		if (add_setting(&cmd, "REVRX_S3_URI_STYLE", repo->s3_path_style ? "path" : "host", err) != 0)
			return -1;
		if (repo->s3_ca_file && add_setting(&cmd, "REVRX_S3_CA_FILE", repo->s3_ca_file, err) != 0)
			return -1;
		if (!repo->s3_verify_tls && add_setting(&cmd, "REVRX_S3_VERIFY_TLS", "off", err) != 0)
			return -1;
		if (repo->s3_region && add_setting(&cmd, "AWS_REGION", repo->s3_region, err) != 0)
			return -1;
	}
	if (agent_path == NULL)
	{
		own_path(self, sizeof(self));
		agent_path = self;
	}
	for (const char *c = agent_path; *c; c++)
		if ((unsigned char) *c < 0x20)
			return rvx_error(err, RVX_E_USAGE, "the agent path contains a control character");
	add_shell_word(&cmd, agent_path, false);
	str_add(&cmd, " wal-fetch %f %p");
	if (cmd.overflow)
		return rvx_error(err, RVX_E_CONFIG, "restore_command would be too long");

	/* postgresql.conf string: quotes doubled, backslashes escaped */
	str_addc(&conf, '\'');
	for (const char *c = shellbuf; *c; c++)
	{
		if (*c == '\'')
			str_add(&conf, "''");
		else if (*c == '\\')
			str_add(&conf, "\\\\");
		else
			str_addc(&conf, *c);
	}
	str_addc(&conf, '\'');
	if (conf.overflow)
		return rvx_error(err, RVX_E_CONFIG, "restore_command would be too long");
	return 0;
}

/* ---------------------------------------------------------------- file system */

static int
path_join(char *out, size_t cap, const char *a, const char *b, RvxError *err)
{
	if (snprintf(out, cap, "%s/%s", a, b) >= (int) cap)
		return rvx_error(err, RVX_E_USAGE, "path \"%s/%s\" is too long", a, b);
	return 0;
}

/* 1 empty (or missing), 0 not empty, -1 error. */
static int
dir_is_empty(const char *dir, RvxError *err)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			empty = 1;

	if (d == NULL)
	{
		if (errno == ENOENT)
			return 1;
		if (errno == ENOTDIR)
			return rvx_error(err, RVX_E_USAGE, "\"%s\" exists and is not a directory", dir);
		return rvx_error(err, RVX_E_IO, "could not open directory \"%s\": %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
		{
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/* Deletes everything inside dir (not following symlinks); dir stays. */
static int
clear_dir(const char *dir, RvxError *err)
{
	if (rvx_remove_tree(dir, true, err) != 0)
		return rvx_error_prefix(err, "could not empty \"%s\"", dir);
	return 0;
}

/* mkdir -p; the last component gets mode, the ones above it 0755. */
static int
make_dirs(const char *path, mode_t mode, RvxError *err)
{
	char		buf[PATH_MAX];
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
	{
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return rvx_error(err, RVX_E_IO, "could not create directory \"%s\": %s",
							 buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, mode) != 0)
	{
		if (errno != EEXIST)
			return rvx_error(err, RVX_E_IO, "could not create directory \"%s\": %s",
							 buf, strerror(errno));
		if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
			return rvx_error(err, RVX_E_IO, "\"%s\" exists and is not a directory", buf);
	}
	return 0;
}

/* Writes a small file of our own (not from the backup), durably. */
static int
write_own_file(RestoreRun *run, const char *relpath, const char *text, bool append,
			   RvxError *err)
{
	char		path[PATH_MAX];

	if (path_join(path, sizeof(path), run->opts->pgdata, relpath, err) != 0)
		return -1;
	return rvx_write_file_owned(path, text, strlen(text), append, run->owner, run->group, err);
}

/* ---------------------------------------------------------------- the plan */

static int
cmp_size_desc(const void *a, const void *b)
{
	const RestoreFile *x = a,
			   *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Which backup: the one asked for, or the newest complete one. */
static int
choose_backup(RvxRepo *repo, const char *want, char *key, size_t keycap, char *manifest,
			  size_t mcap, char *id, RvxError *err)
{
	RvxBackupList list;
	const RvxBackupRef *ref;

	if (rvx_backup_list(repo, &list, err) != 0)
		return -1;
	if (want == NULL || strcmp(want, "latest") == 0)
	{
		ref = rvx_backup_list_latest(&list);
		if (ref == NULL)
		{
			rvx_backup_list_free(&list);
			return rvx_error(err, RVX_E_NOTFOUND, "repository %s holds no complete backup",
							 repo->display);
		}
	}
	else
	{
		ref = rvx_backup_list_find(&list, want);
		if (ref == NULL)
		{
			rvx_backup_list_free(&list);
			return rvx_error(err, RVX_E_NOTFOUND, "backup %s is not in %s (see revrx-agent list)",
							 want, repo->display);
		}
		if (ref->record_key[0] == '\0')
		{
			rvx_backup_list_free(&list);
			return rvx_error(err, RVX_E_NOTFOUND,
							 "backup %s in %s is incomplete (it has no %s): it cannot be restored",
							 want, repo->display, RVX_BACKUP_RECORD);
		}
	}
	snprintf(id, RVX_BACKUP_ID_MAXLEN + 1, "%s", ref->id);
	snprintf(key, keycap, "%s", ref->record_key);
	snprintf(manifest, mcap, "%s", ref->manifest_key);
	rvx_backup_list_free(&list);
	if (manifest[0] == '\0')
		return rvx_error(err, RVX_E_NOTFOUND, "backup %s in %s has no %s", id, repo->display,
						 RVX_BACKUP_MANIFEST);
	return 0;
}

/* The tablespaces of the record, where each goes, checked. */
static int
plan_tablespaces(RestoreRun *run, const json_t *record, Tablespace **out, size_t *nout,
				 RvxError *err)
{
	const json_t *list = json_object_get(record, "tablespaces");
	size_t		n = json_array_size(list);
	Tablespace *ts = calloc(n ? n : 1, sizeof(Tablespace));
	const RvxRestoreOptions *o = run->opts;

	if (ts == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++)
	{
		const json_t *t = json_array_get(list, i);

		ts[i].oid = (unsigned int) json_integer_value(json_object_get(t, "oid"));
		ts[i].location = json_string_value(json_object_get(t, "location"));
		for (int m = 0; m < o->n_tablespace_map; m++)
			if (o->tablespace_map[m].oid == ts[i].oid)
			{
				ts[i].location = o->tablespace_map[m].path;
				ts[i].moved = strcmp(ts[i].location,
									 json_string_value(json_object_get(t, "location"))) != 0;
			}
	}
	for (int m = 0; m < o->n_tablespace_map; m++)
	{
		bool		found = false;

		for (size_t i = 0; i < n; i++)
			found |= ts[i].oid == o->tablespace_map[m].oid;
		if (!found)
		{
			free(ts);
			return rvx_error(err, RVX_E_USAGE, "the backup has no tablespace with oid %u",
							 o->tablespace_map[m].oid);
		}
	}
	*out = ts;
	*nout = n;
	return 0;
}

/* The files to download, and pg_control apart. */
static int
plan_files(RestoreRun *run, const json_t *record, bool skip_tablespace_map, RvxError *err)
{
	const json_t *files = json_object_get(record, "files");
	size_t		n = json_array_size(files);
	bool		have_control = false,
				have_label = false;

	run->files = calloc(n ? n : 1, sizeof(RestoreFile));
	if (run->files == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++)
	{
		const json_t *f = json_array_get(files, i);
		RestoreFile rf;

		rf.path = json_string_value(json_object_get(f, "path"));
		rf.key = json_string_value(json_object_get(f, "key"));
		rf.size = (int64_t) json_integer_value(json_object_get(f, "size"));
		rf.delta = json_is_true(json_object_get(f, "delta"));
		rf.sparse = rf.delta && json_is_true(json_object_get(f, "sparse"));
		memset(rf.sha256, 0, RVX_SHA256_LEN);
		if (!rf.sparse)
			rvx_hex_decode(json_string_value(json_object_get(f, "sha256")), rf.sha256,
						   RVX_SHA256_LEN);
		rf.chunked = (json_object_get(f, "chunk_digest") != NULL);
		if (rf.chunked)
			rvx_hex_decode(json_string_value(json_object_get(f, "chunk_digest")),
						   rf.chunk_digest, RVX_CHUNK_DIGEST_LEN);
		if (strcmp(rf.path, PG_CONTROL_PATH) == 0)
		{
			run->control = rf;
			have_control = true;
			continue;
		}
		if (strcmp(rf.path, BACKUP_LABEL_PATH) == 0)
			have_label = true;
		if (skip_tablespace_map && strcmp(rf.path, TABLESPACE_MAP_PATH) == 0)
			continue;
		run->files[run->nfiles++] = rf;
		run->total_bytes += (uint64_t) rf.size;
	}
	/* without these a started server would not know it must recover */
	if (!have_control || !have_label)
		return rvx_error(err, RVX_E_CORRUPT, "the backup record lists no %s",
						 have_control ? BACKUP_LABEL_PATH : PG_CONTROL_PATH);
	run->total_bytes += (uint64_t) run->control.size;
	/* largest first: the long transfers start early and the end is balanced */
	qsort(run->files, run->nfiles, sizeof(RestoreFile), cmp_size_desc);
	return 0;
}

/*
 * The chain of an incremental backup: its parent's record, the parent's
 * parent's, and so on down to a full backup, each with its files indexed
 * by path.  Every record is checked as any record is.
 */
static int
load_chain(RestoreRun *run, RvxRepo *repo, json_t *record, const char *id, RvxError *err)
{
	json_t	   *cur = record;

	for (;;)
	{
		const json_t *files = json_object_get(cur, "files");
		const char *kind = json_string_value(json_object_get(cur, "kind"));
		const char *parent = json_string_value(json_object_get(cur, "parent"));
		json_t	   *index = json_object();
		char		key[RVX_BACKUP_ID_MAXLEN + 64];
		char		manifest[RVX_BACKUP_ID_MAXLEN + 64];
		char		pid[RVX_BACKUP_ID_MAXLEN + 1];

		if (index == NULL)
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		for (size_t i = 0; i < json_array_size(files); i++)
		{
			json_t	   *f = json_array_get(files, i);

			json_object_set(index, json_string_value(json_object_get(f, "path")), f);
		}
		run->chain[run->nchain] = cur == record ? json_incref(cur) : cur;
		run->chain_files[run->nchain] = index;
		snprintf(run->chain_ids[run->nchain], sizeof(run->chain_ids[0]), "%s",
				 run->nchain == 0 ? id : json_string_value(json_object_get(cur, "id")));
		run->nchain++;

		if (kind == NULL || strcmp(kind, "incremental") != 0)
			return 0;
		if (parent == NULL || !rvx_backup_id_valid(parent))
			return rvx_error(err, RVX_E_CORRUPT, "incremental backup %s names no parent",
							 run->chain_ids[run->nchain - 1]);
		if (run->nchain == MAX_CHAIN)
			return rvx_error(err, RVX_E_CORRUPT, "backup %s builds on more than %d backups",
							 id, MAX_CHAIN);
		if (choose_backup(repo, parent, key, sizeof(key), manifest, sizeof(manifest), pid,
						  err) != 0)
			return rvx_error_prefix(err, "backup %s builds on backup %s",
									run->chain_ids[run->nchain - 1], parent);
		cur = NULL;
		if (rvx_backup_record_load(repo, key, parent, run->system_id, &cur, err) != 0)
			return -1;
	}
}

/* The tablespace locations sound (rvx_reuse_check_locations). */
static int
check_locations(const char *pgdata, const Tablespace *ts, size_t nts, RvxError *err)
{
	RvxReuseTablespace *rts = calloc(nts + 1, sizeof(RvxReuseTablespace));
	int			rc;

	if (rts == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < nts; i++)
		rts[i] = (RvxReuseTablespace) {.oid = ts[i].oid, .location = ts[i].location};
	rc = rvx_reuse_check_locations(pgdata, rts, nts, err);
	free(rts);
	return rc;
}

/*
 * A server running in dir would be destroyed: never touch it.  As
 * PostgreSQL itself decides whether a postmaster.pid is stale: the
 * postmaster's pid alive (kill 0), or the shared memory segment line 7
 * names still attached by some process; the second is what sees a server
 * from a sidecar, whose PID namespace is its own while the pod shares
 * the IPC namespace.  An empty or garbled postmaster.pid may be a server
 * starting: refused too.  Called before the work and again right before
 * the first change, since the scan of --delta can take long.
 */
static int
check_no_server(const char *dir, RvxError *err)
{
	char		path[PATH_MAX];
	char		text[1024];
	FILE	   *f;
	size_t		n;
	RvxPidFile	pf;
	struct shmid_ds ds;

	snprintf(path, sizeof(path), "%s/postmaster.pid", dir);
	f = fopen(path, "r");
	if (f == NULL)
	{
		if (errno == ENOENT)
			return 0;
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if (!rvx_reuse_parse_pidfile(text, &pf))
		return rvx_error(err, RVX_E_RUNNING,
						 "\"%s\" is %s: a PostgreSQL server may be starting in \"%s\"; stop it "
						 "first (or remove postmaster.pid if no server runs there)",
						 path, n == 0 ? "empty" : "not a postmaster.pid PostgreSQL wrote", dir);
	if (kill((pid_t) pf.pid, 0) == 0 || errno == EPERM)
		return rvx_error(err, RVX_E_RUNNING,
						 "a PostgreSQL server (pid %ld) seems to be running in \"%s\"; stop it first "
						 "(or remove postmaster.pid if no server runs there)", pf.pid, dir);
	if (pf.has_shmem && pf.shmem_id != 0)
	{
		if (shmctl((int) pf.shmem_id, IPC_STAT, &ds) == 0)
		{
			if (ds.shm_nattch > 0)
				return rvx_error(err, RVX_E_RUNNING,
								 "the shared memory segment of the PostgreSQL server in \"%s\" "
								 "(key %lu, id %lu, from postmaster.pid) is still in use by %lu "
								 "process(es): its server (pid %ld in its own PID namespace) or "
								 "its backends still run; stop it first (or remove postmaster.pid "
								 "if no server runs there)",
								 dir, pf.shmem_key, pf.shmem_id, (unsigned long) ds.shm_nattch,
								 pf.pid);
		}
		else if (errno != EINVAL && errno != EIDRM)
			return rvx_error(err, RVX_E_RUNNING,
							 "cannot tell whether the shared memory segment (key %lu, id %lu) "
							 "that postmaster.pid of \"%s\" names is in use (%s), so a PostgreSQL "
							 "server may be running there; stop it first (or remove postmaster.pid "
							 "if no server runs there)",
							 pf.shmem_key, pf.shmem_id, dir, strerror(errno));
	}
	return 0;
}

/*
 * WAL the server of dir wrote but had not archived yet (a .ready file in
 * pg_wal/archive_status, the archiver's to-do list): a delta restore
 * would delete it, and with it perhaps the only copy of the last commits.
 * Refused unless the operator said to discard it.
 */
static int
check_unarchived_wal(const char *dir, bool discard, RvxError *err)
{
	char		path[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	uint64_t	ready = 0;
	size_t		len;

	snprintf(path, sizeof(path), "%s/pg_wal/archive_status", dir);
	d = opendir(path);
	if (d == NULL)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return rvx_error(err, RVX_E_IO, "could not open directory \"%s\": %s", path, strerror(errno));
	}
	while ((errno = 0, de = readdir(d)) != NULL)
		if ((len = strlen(de->d_name)) > 6 && strcmp(de->d_name + len - 6, ".ready") == 0)
			ready++;
	if (errno != 0)
	{
		int			save = errno;

		closedir(d);
		return rvx_error(err, RVX_E_IO, "could not read directory \"%s\": %s", path, strerror(save));
	}
	closedir(d);
	if (ready == 0)
		return 0;
	if (discard)
	{
		rvx_warn("--delta: pg_wal of \"%s\" holds %" PRIu64 " WAL file(s) its server had not "
				 "archived yet; they are removed with the rest of pg_wal "
				 "(--discard-unarchived-wal)", dir, ready);
		return 0;
	}
	return rvx_error(err, RVX_E_UNARCHIVED_WAL,
					 "pg_wal of \"%s\" holds %" PRIu64 " WAL file(s) its server had not archived "
					 "yet (.ready in pg_wal/archive_status); --delta would delete them, and with "
					 "them transactions that may be nowhere else.  Start the server and let it "
					 "archive them (or copy them away), or, if they are not needed, run again "
					 "with --discard-unarchived-wal", dir, ready);
}

/* ---------------------------------------------------------------- download */

static void
run_failed(RestoreRun *run, const RvxError *err)
{
	pthread_mutex_lock(&run->lock);
	if (!run->failed)
	{
		run->failed = true;
		run->first_error = *err;
	}
	run->cancel = 1;
	pthread_mutex_unlock(&run->lock);
}

static int
discard_content(void *arg, const RvxObjectHeader *hdr, uint64_t offset, const void *data,
				size_t len)
{
	return 0;
}

/*
 * After a rebuilt file did not match its record: reads one of the objects
 * it was rebuilt from again, this time checking its content's SHA-256.
 * -1 with the object's own error if it is damaged (RVX_E_CORRUPT); else 0
 * and err untouched: the object is sound, or it could not be read again
 * (the repository gone), and the rebuilt file's mismatch is still the
 * error to report.
 */
static int
check_object(RestoreRun *run, RvxRepo *repo, RvxObjectReader *reader, const char *key,
			 const uint8_t *sha, int64_t size, RvxError *err)
{
	RvxFetchOptions o = RVX_FETCH_OPTIONS_INIT;
	RvxError	object_err = {0};

	o.expect_system_id = run->system_id;
	o.expect_sha256 = sha;
	o.expect_size = size;
	o.reader = reader;
	o.cancel = &run->cancel;
	if (rvx_fetch_to_fn(repo, key, &o, discard_content, NULL, &object_err) != 0 &&
		object_err.code == RVX_E_CORRUPT)
	{
		*err = object_err;
		return -1;
	}
	return 0;
}

/*
 * A file of an incremental backup stored as a delta: every delta of the
 * chain since the newest backup that stored it whole, then that whole
 * version streamed with their pages put in (restore_delta.c), then the
 * check that the result is, byte for byte, the file the backup read (its
 * recorded SHA-256 and size, hashed as it was written).
 *
 * A sparse delta's backup read only the blocks the WAL summaries named and
 * recorded no digest of the file.  Then every piece is checked instead:
 * each delta by its digest, and the whole copy's content by the digest its
 * backup recorded (computed here, which the other files skip); the rebuilt
 * file's size must be the record's, and its SHA-256 goes to f->sha256, for
 * backup_manifest (manifest_fix.h).
 */
static int
fetch_rebuilt(RestoreRun *run, RvxRepo *repo, RvxObjectReader *reader, RvxHashAside *aside,
			  RestoreFile *f, const char *dest, RvxError *err)
{
	const json_t *entries[MAX_CHAIN];
	size_t		base = 0;
	uint8_t		sha[RVX_SHA256_LEN];
	uint8_t		base_sha[RVX_SHA256_LEN];
	uint64_t	size;
	uint64_t	base_size;
	RvxFetchOptions o = RVX_FETCH_OPTIONS_INIT;
	RvxDeltaMerge *merge;
	int			rc = -1;

	entries[0] = json_object_get(run->chain_files[0], f->path);
	for (size_t l = 1; l < run->nchain; l++)
	{
		entries[l] = json_object_get(run->chain_files[l], f->path);
		if (entries[l] == NULL)
			return rvx_error(err, RVX_E_CORRUPT,
							 "\"%s\" is stored as changed pages in backup %s, but backup %s, "
							 "on which it builds, does not have it", f->path, run->chain_ids[l - 1],
							 run->chain_ids[l]);
		if (!json_is_true(json_object_get(entries[l], "delta")))
		{
			base = l;
			break;
		}
	}
	if (base == 0)
		return rvx_error(err, RVX_E_CORRUPT,
						 "\"%s\" is stored as changed pages all along its backup chain: no backup "
						 "has it whole", f->path);

	merge = rvx_delta_merge_new(aside);
	if (merge == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");

	/*
	 * The deltas' indexes first, oldest first (a newer page wins), each
	 * delta read whole (its content digest checked only for a sparse file:
	 * restore_delta.h); then their pages stream beside the whole version.
	 */
	o.expect_system_id = run->system_id;
	o.reader = reader;
	o.cancel = &run->cancel;
	for (size_t l = base; l-- > 0;)
	{
		RvxDeltaSource src = {0};
		uint8_t		object_sha[RVX_SHA256_LEN];
		char		what[PATH_MAX + 64];

		src.repo = &run->cfg->repo;
		src.key = l == 0 ? f->key : json_string_value(json_object_get(entries[l], "key"));
		src.object_sha = delta_object_sha(entries[l], object_sha);
		src.system_id = run->system_id;
		src.cancel = &run->cancel;
		src.check_digest = f->sparse;
		snprintf(what, sizeof(what), "\"%s\" in backup %s", f->path, run->chain_ids[l]);
		if (rvx_delta_merge_add(merge, repo, reader, &src, what, err) != 0)
			goto out;
	}
	/*
	 * Then the whole version, with the changed pages put in on the way:
	 * every page is written once, and hashed once, as the rebuilt file.
	 * The whole copy is the one its backup recorded (its header carries
	 * that digest; its stored bytes are checked by CRC-32), but its own
	 * content digest is not computed: the rebuilt file's, compared with the
	 * record below, is the check that matters, and on the critical path of
	 * a restore (one thread streaming a 1 GB segment) a second SHA-256 of
	 * the same gigabyte is a large share of the time.  Should the rebuilt
	 * file not match, the whole copy and the deltas are read again, fully
	 * checked, to say which is damaged.
	 */
	if (rvx_hex_decode(json_string_value(json_object_get(entries[base], "sha256")),
					   base_sha, RVX_SHA256_LEN) != 0)
	{
		rvx_error(err, RVX_E_CORRUPT, "backup %s lists no SHA-256 for \"%s\"",
				  run->chain_ids[base], f->path);
		goto out;
	}
	base_size = (uint64_t) json_integer_value(json_object_get(entries[base], "size"));
	if (rvx_delta_merge_start(merge, err) != 0)
		goto out;
	o.expect_sha256 = base_sha;
	o.expect_size = (int64_t) base_size;
	o.owner = run->owner;
	o.group = run->group;
	/*
	 * Written back as it streams and fsynced before it is renamed, as any
	 * restored file: left to rvx_delta_merge_finish()'s fsync, a gigabyte
	 * of dirty pages was written out only then, with nothing else to do.
	 */
	o.no_fsync = false;
	o.bytes_written = &run->bytes_written;
	o.filter = rvx_delta_merge_filter;
	o.filter_arg = merge;
	o.digest_by_filter = !f->sparse;
	if (rvx_fetch_to_file_opts(repo, json_string_value(json_object_get(entries[base], "key")),
							   &o, dest, err) != 0)
	{
		rvx_delta_merge_reason(merge, err);
		goto out;
	}
	if (rvx_delta_merge_finish(merge, dest, base_size, sha, &size, err) != 0)
	{
		unlink(dest);			/* the whole copy with some pages in: no file of any backup */
		goto out;
	}

	if (f->sparse && size == (uint64_t) f->size)
		memcpy(f->sha256, sha, RVX_SHA256_LEN);
	else if (f->sparse)
	{
		unlink(dest);
		rvx_error(err, RVX_E_CORRUPT,
				  "\"%s\" rebuilt from backups %s to %s has %" PRIu64 " bytes, not the %" PRId64
				  " backup %s recorded", f->path, run->chain_ids[base], run->chain_ids[0], size,
				  f->size, run->chain_ids[0]);
		goto out;
	}
	else if (size != (uint64_t) f->size || memcmp(sha, f->sha256, RVX_SHA256_LEN) != 0)
	{
		/* which object is damaged, if one is: each read again, fully checked */
		unlink(dest);
		if (check_object(run, repo, reader, json_string_value(json_object_get(entries[base], "key")),
						 base_sha, (int64_t) base_size, err) != 0)
		{
			rvx_error_prefix(err, "\"%s\" cannot be rebuilt from backups %s to %s",
							 f->path, run->chain_ids[base], run->chain_ids[0]);
			goto out;
		}
		for (size_t l = base; l-- > 0;)
		{
			uint8_t		object_sha[RVX_SHA256_LEN];
			const char *key = l == 0 ? f->key :
				json_string_value(json_object_get(entries[l], "key"));

			if (check_object(run, repo, reader, key, delta_object_sha(entries[l], object_sha), -1,
							 err) != 0)
			{
				rvx_error_prefix(err, "\"%s\" cannot be rebuilt from backups %s to %s",
								 f->path, run->chain_ids[base], run->chain_ids[0]);
				goto out;
			}
		}
		rvx_error(err, RVX_E_CORRUPT,
				  "\"%s\" rebuilt from backups %s to %s is not the file backup %s read "
				  "(%" PRIu64 " bytes, SHA-256 differs)", f->path, run->chain_ids[base],
				  run->chain_ids[0], run->chain_ids[0], size);
		goto out;
	}
	rc = 0;
out:
	rvx_delta_merge_free(merge);
	return rc;
}

/*
 * Files of at least this size are hashed on a thread of their own
 * (base/hash_aside.h): decompressing, hashing and writing a 1 GB relation
 * segment on one thread is the longest part of a restore, often its end,
 * when the other threads have nothing left.
 */
#define HASH_ASIDE_MIN	(8 * 1024 * 1024)

/*
 * The hash aside for a file of size bytes: made at the thread's first
 * large file, kept in *aside (freed by the thread).  NULL: hashed on the
 * fetching thread (a small file; no aside wanted; no thread to be had).
 */
static RvxHashAside *
aside_for(RvxHashAside **aside, int64_t size)
{
	if (aside == NULL || size < HASH_ASIDE_MIN)
		return NULL;
	if (*aside == NULL)
		*aside = rvx_hash_aside_new();
	return *aside;
}

static int
fetch_one(RestoreRun *run, RvxRepo *repo, RvxObjectReader *reader, RvxHashAside **aside,
		  RestoreFile *f, RvxError *err)
{
	char		dest[PATH_MAX];
	RvxFetchOptions o = RVX_FETCH_OPTIONS_INIT;

	if (path_join(dest, sizeof(dest), run->opts->pgdata, f->path, err) != 0)
		return -1;
	if (f->delta)
	{
		if (fetch_rebuilt(run, repo, reader, aside_for(aside, f->size), f, dest, err) != 0)
			return rvx_error_prefix(err, "could not restore \"%s\"", f->path);
		__atomic_add_fetch(&run->files_done, 1, __ATOMIC_RELAXED);
		if (run->opts->on_file)
			run->opts->on_file(run->opts->on_file_arg, f->path);
		return 0;
	}
	o.expect_system_id = run->system_id;
	o.expect_sha256 = f->sha256;
	o.expect_size = f->size;
	o.mode = 0600;
	o.owner = run->owner;
	o.group = run->group;
	o.reader = reader;
	o.hash_aside = aside_for(aside, f->size);
	o.cancel = &run->cancel;
	o.bytes_written = &run->bytes_written;
	if (rvx_fetch_to_file_opts(repo, f->key, &o, dest, err) != 0)
		return rvx_error_prefix(err, "could not restore \"%s\"", f->path);
	__atomic_add_fetch(&run->files_done, 1, __ATOMIC_RELAXED);
	if (run->opts->on_file)
		run->opts->on_file(run->opts->on_file_arg, f->path);
	return 0;
}

static void *
download_thread(void *arg)
{
	RestoreRun *run = arg;
	RvxError	err;
	RvxRepo    *repo = rvx_repo_open(&run->cfg->repo, &err);
	RvxObjectReader *reader = rvx_object_reader_new();
	RvxHashAside *aside = NULL;

	if (repo == NULL || reader == NULL)
	{
		if (reader == NULL)
			rvx_error(&err, RVX_E_INTERNAL, "out of memory");
		run_failed(run, &err);
	}
	while (repo && reader && !run->cancel)
	{
		size_t		i = __atomic_fetch_add(&run->next, 1, __ATOMIC_RELAXED);

		if (i >= run->nfiles)
			break;
		if (fetch_one(run, repo, reader, &aside, &run->files[i], &err) != 0)
		{
			run_failed(run, &err);
			break;
		}
	}
	rvx_hash_aside_free(aside);
	rvx_object_reader_free(reader);
	rvx_repo_close(repo);
	__atomic_add_fetch(&run->threads_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The longest backup_manifest rewritten in memory (about 200 bytes a file). */
#define MANIFEST_MAX		((size_t) 1 << 30)

/*
 * backup_manifest into path, with the digests of the files rebuilt from
 * sparse deltas added (manifest_fix.h); as stored when there are none.
 */
static int
restore_manifest(RestoreRun *run, RvxRepo *repo, const char *key, const char *path,
				 RvxError *err)
{
	RvxFetchOptions o = RVX_FETCH_OPTIONS_INIT;
	RvxManifestDigest *d;
	size_t		n = 0;
	char	   *text = NULL;
	char	   *fixed = NULL;
	size_t		len,
				fixed_len;
	int			rc = -1;

	for (size_t i = 0; i < run->nfiles; i++)
		n += run->files[i].sparse ? 1 : 0;
	if (n == 0)
	{
		o.expect_system_id = run->system_id;
		o.owner = run->owner;
		o.group = run->group;
		return rvx_fetch_to_file_opts(repo, key, &o, path, err);
	}

	d = calloc(n, sizeof(RvxManifestDigest));
	if (d == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	n = 0;
	for (size_t i = 0; i < run->nfiles; i++)
		if (run->files[i].sparse)
			d[n++] = (RvxManifestDigest) {.path = run->files[i].path,
										  .sha256 = run->files[i].sha256};
	if (rvx_fetch_to_buffer(repo, key, run->system_id, MANIFEST_MAX, &text, &len, NULL, err) == 0 &&
		rvx_manifest_add_digests(text, len, d, n, &fixed, &fixed_len, err) == 0 &&
		rvx_write_file_owned(path, fixed, fixed_len, false, run->owner, run->group, err) == 0)
		rc = 0;
	if (rc == 0)
		rvx_debug("restore: backup_manifest now has the SHA-256 of %zu rebuilt files", n);
	free(fixed);
	free(text);
	free(d);
	return rc;
}

static void
show_progress(RestoreRun *run, const char *id, double started, bool last)
{
	uint64_t	bytes = __atomic_load_n(&run->bytes_written, __ATOMIC_RELAXED);
	uint64_t	files = __atomic_load_n(&run->files_done, __ATOMIC_RELAXED);
	double		secs = rvx_now_s() - started;

	fprintf(stderr, "\rrestoring %s: %" PRIu64 "/%zu files, %.1f/%.1f MB (%.0f%%), %.0f MB/s   %s",
			id, files, run->nfiles + 1, bytes / 1048576.0, run->total_bytes / 1048576.0,
			run->total_bytes ? 100.0 * bytes / run->total_bytes : 100.0,
			secs > 0 ? bytes / 1048576.0 / secs : 0.0, last ? "\n" : "");
	fflush(stderr);
}

static int
download(RestoreRun *run, const char *id, double started, RvxError *err)
{
	int			n = run->opts->parallel > 0 ? run->opts->parallel : 1;
	pthread_t  *threads = calloc((size_t) n, sizeof(pthread_t));
	int			started_threads = 0;
	double		last_shown = 0;

	if (threads == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	if ((size_t) n > run->nfiles && run->nfiles > 0)
		n = (int) run->nfiles;
	for (int i = 0; i < n; i++)
	{
		if (pthread_create(&threads[i], NULL, download_thread, run) != 0)
		{
			RvxError	terr;

			rvx_error(&terr, RVX_E_INTERNAL, "could not start a thread: %s", strerror(errno));
			run_failed(run, &terr);
			break;
		}
		started_threads++;
	}
	/*
	 * Show progress and watch for an interrupt while the threads work: a
	 * request to stop cancels every transfer (fetch checks run->cancel
	 * between chunks, the HTTP layer the same request even while a server
	 * sends nothing), so the restore fails within a moment.
	 */
	while (__atomic_load_n(&run->threads_done, __ATOMIC_ACQUIRE) < started_threads)
	{
		struct timespec ts = {0, 100 * 1000 * 1000};

		nanosleep(&ts, NULL);
		if (rvx_interrupt_pending() && !run->cancel)
		{
			RvxError	ierr;

			rvx_error(&ierr, RVX_E_INTERNAL, "the restore was interrupted");
			run_failed(run, &ierr);
		}
		if (run->opts->progress && rvx_now_s() - last_shown >= 0.5)
		{
			show_progress(run, id, started, false);
			last_shown = rvx_now_s();
		}
	}
	for (int i = 0; i < started_threads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	if (run->failed)
	{
		if (run->opts->progress)
			fputc('\n', stderr);
		if (err)
			*err = run->first_error;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- restore */

static int
append_recovery_settings(RestoreRun *run, const char *id, RvxError *err)
{
	char		command[12288];
	char		target[2048];
	char		text[16384];
	char		stamp[32];
	char		path[PATH_MAX];
	struct stat st;
	bool		newline = false;

	if (rvx_restore_command(&run->cfg->repo, run->opts->agent_path, command, sizeof(command),
							err) != 0)
		return -1;
	rvx_iso_time(time(NULL), stamp, sizeof(stamp));

	/* the restored file may lack a final newline: do not glue our first line to it */
	if (path_join(path, sizeof(path), run->opts->pgdata, AUTO_CONF_PATH, err) != 0)
		return -1;
	if (stat(path, &st) == 0 && st.st_size > 0)
	{
		int			fd = open(path, O_RDONLY | O_CLOEXEC);
		char		c = '\n';

		if (fd >= 0)
		{
			if (pread(fd, &c, 1, st.st_size - 1) == 1 && c != '\n')
				newline = true;
			close(fd);
		}
	}
	else
	{
		if (write_own_file(run, AUTO_CONF_PATH,
						   "# Do not edit this file manually!\n"
						   "# It will be overwritten by the ALTER SYSTEM command.\n", false, err) != 0)
			return -1;
	}
	if (rvx_target_conf(&run->opts->target, target, sizeof(target)) != 0)
		return rvx_error(err, RVX_E_INTERNAL, "the recovery target settings do not fit");
	snprintf(text, sizeof(text),
			 "%s# added by revrx-agent restore of backup %s at %s\n"
			 "restore_command = %s\n"
			 "%s%s",
			 newline ? "\n" : "", id, stamp, command, target,
			 run->opts->archive ?
			 "# --archive: this cluster keeps the archiving settings of the backup\n" :
			 "# a restored copy must not archive into, nor back up to, the original's repository,\n"
			 "# nor touch the original's spool (restore with --archive, or change these, to make\n"
			 "# it a new primary that does)\n"
			 "archive_mode = 'off'\n"
			 "revrx.backup_schedule = ''\n"
			 "revrx.spool_dir = ''\n");
	if (write_own_file(run, AUTO_CONF_PATH, text, true, err) != 0 ||
		write_own_file(run, RECOVERY_SIGNAL, "", false, err) != 0)
		return -1;
	return 0;
}

/*
 * Creates pgdata, the tablespace links and every directory of the
 * backup.  dirs receives every directory to fsync at the end.
 */
static int
make_tree(RestoreRun *run, const json_t *record, const Tablespace *ts, size_t nts,
		  const char ***dirs_out, size_t *ndirs_out, RvxError *err)
{
	const char *pgdata = run->opts->pgdata;
	const json_t *dirs = json_object_get(record, "directories");
	const json_t *files = json_object_get(record, "files");
	size_t		ndirs = json_array_size(dirs);
	const char **sorted = calloc(ndirs + 1, sizeof(char *));
	char		path[PATH_MAX];
	char		last_parent[PATH_MAX] = "";

	if (sorted == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	*dirs_out = sorted;
	*ndirs_out = 0;
	if (make_dirs(pgdata, 0700, err) != 0)
		return -1;
	/* PostgreSQL refuses a data directory others can read */
	if (chmod(pgdata, 0700) != 0 ||
		(run->owner != (uid_t) -1 && chown(pgdata, run->owner, run->group) != 0))
		return rvx_error(err, RVX_E_IO, "could not set the mode or owner of \"%s\": %s",
						 pgdata, strerror(errno));

	if (nts > 0)
	{
		if (path_join(path, sizeof(path), pgdata, "pg_tblspc", err) != 0 ||
			make_dirs(path, 0700, err) != 0)
			return -1;
		for (size_t i = 0; i < nts; i++)
		{
			char		link[PATH_MAX];

			if (make_dirs(ts[i].location, 0700, err) != 0)
				return -1;
			if (chmod(ts[i].location, 0700) != 0 ||
				(run->owner != (uid_t) -1 && chown(ts[i].location, run->owner, run->group) != 0))
				return rvx_error(err, RVX_E_IO, "could not set the mode or owner of \"%s\": %s",
								 ts[i].location, strerror(errno));
			snprintf(link, sizeof(link), "%s/pg_tblspc/%u", pgdata, ts[i].oid);
			/* (--delta keeps a link that is already right) */
			if (symlink(ts[i].location, link) != 0 &&
				!(errno == EEXIST && rvx_reuse_links_to(link, ts[i].location)))
				return rvx_error(err, RVX_E_IO, "could not create symbolic link \"%s\": %s",
								 link, strerror(errno));
			if (run->owner != (uid_t) -1)
				(void) lchown(link, run->owner, run->group);
		}
	}

	/* parents first: a sorted list of paths has every parent before its children */
	for (size_t i = 0; i < ndirs; i++)
		sorted[i] = json_string_value(json_array_get(dirs, i));
	qsort(sorted, ndirs, sizeof(char *), cmp_str);
	for (size_t i = 0; i < ndirs; i++)
	{
		bool		is_link = false;

		for (size_t t = 0; t < nts; t++)
		{
			char		name[32];

			snprintf(name, sizeof(name), "pg_tblspc/%u", ts[t].oid);
			is_link |= strcmp(sorted[i], name) == 0;
		}
		if (is_link)
			continue;
		if (path_join(path, sizeof(path), pgdata, sorted[i], err) != 0 ||
			make_dirs(path, 0700, err) != 0)
			return -1;
		if (run->owner != (uid_t) -1 && chown(path, run->owner, run->group) != 0)
			return rvx_error(err, RVX_E_IO, "could not change the owner of \"%s\": %s",
							 path, strerror(errno));
		sorted[(*ndirs_out)++] = sorted[i];
	}
	/* a record that forgot a directory must not fail the download */
	for (size_t i = 0; i < json_array_size(files); i++)
	{
		const char *p = json_string_value(json_object_get(json_array_get(files, i), "path"));
		const char *slash = strrchr(p, '/');

		if (slash == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%.*s", pgdata, (int) (slash - p), p);
		if (strcmp(path, last_parent) == 0)
			continue;
		if (make_dirs(path, 0700, err) != 0)
			return -1;
		if (run->owner != (uid_t) -1 && chown(path, run->owner, run->group) != 0)
			return rvx_error(err, RVX_E_IO, "could not change the owner of \"%s\": %s",
							 path, strerror(errno));
		snprintf(last_parent, sizeof(last_parent), "%s", path);
	}
	return 0;
}

static void
log_plan(RestoreRun *run, const char *id, const json_t *record)
{
	const char *label = json_string_value(json_object_get(record, "label"));

	rvx_info("restoring backup %s%s%s%s (taken %s, %s to %s) into \"%s\": %zu files, %.1f MB, %d transfers at once",
			 id, label ? " \"" : "", label ? label : "", label ? "\"" : "",
			 json_string_value(json_object_get(record, "stop_time")) ?
			 json_string_value(json_object_get(record, "stop_time")) : "?",
			 json_string_value(json_object_get(record, "start_lsn")) ?
			 json_string_value(json_object_get(record, "start_lsn")) : "?",
			 json_string_value(json_object_get(record, "stop_lsn")) ?
			 json_string_value(json_object_get(record, "stop_lsn")) : "?",
			 run->opts->pgdata, run->nfiles + 1, run->total_bytes / 1048576.0,
			 run->opts->parallel);
}

/* Says where recovery will stop and whether the copy will archive. */
static void
log_recovery_plan(RestoreRun *run)
{
	static const char *const actions[] = {"promote", "pause", "shut down"};
	const RvxRecoveryTarget *t = &run->opts->target;
	char		what[128];

	rvx_target_describe(t, what, sizeof(what));
	if (t->kind == RVX_TARGET_NONE)
		rvx_info("recovery will replay to the end of the archived WAL (timeline %s), then promote",
				 t->timeline ? t->timeline : "latest");
	else
		rvx_info("recovery will stop at %s%s (timeline %s), then %s", what,
				 t->exclusive ? ", exclusive" : "", t->timeline ? t->timeline : "latest",
				 actions[t->action]);
	if (run->opts->archive)
		rvx_info("--archive: the restored cluster keeps its archiving settings and will archive "
				 "into the repository they name");
	else
		rvx_info("the restored cluster will not archive nor take scheduled backups "
				 "nor use the original's spool (archive_mode = 'off', revrx.backup_schedule = '', "
				 "revrx.spool_dir = ''); use --archive to make it "
				 "a new primary that does");
}

/* ---------------------------------------------------------------- --delta */

/*
 * --delta into a directory that is not empty: it must be a data directory
 * of the repository's cluster.  One with neither pg_control nor the marker
 * of an interrupted delta restore cannot be told from anyone else's.
 */
static int
check_same_cluster(const char *pgdata, uint64_t system_id, RvxError *err)
{
	uint64_t	found = 0;
	const char *from = NULL;
	int			rc = rvx_reuse_system_id(pgdata, &found, &from, err);

	if (rc < 0)
		return rvx_error_prefix(err, "--delta");
	if (rc == 0)
		return rvx_error(err, RVX_E_FOREIGN_PGDATA,
						 "\"%s\" has no global/pg_control, so --delta cannot tell which cluster it "
						 "belongs to; restore into an empty or new directory, or use --force to "
						 "delete its contents first", pgdata);
	if (found != system_id)
		return rvx_error(err, RVX_E_FOREIGN_PGDATA,
						 "data directory \"%s\" belongs to the cluster with system identifier %" PRIu64
						 " (its %s), the repository to the cluster with system identifier %" PRIu64
						 ": --delta only reuses a data directory of the same cluster; restore into "
						 "an empty or new directory, or use --force to delete its contents first",
						 pgdata, found, from, system_id);
	return 0;
}

/*
 * Reads the existing data directory (nothing is changed): which files of
 * the backup are already there, verified, and what is not the backup's.
 * The kept files are taken out of run->files, so only the others are
 * downloaded.
 */
static int
scan_existing(RestoreRun *run, const json_t *record, const Tablespace *ts, size_t nts,
			  RvxReusePlan *plan, RvxError *err)
{
	const json_t *dirs = json_object_get(record, "directories");
	const json_t *omitted = json_object_get(record, "not_included");
	json_t	   *dirset = json_object();
	RvxReuseFile *files = calloc(run->nfiles + 1, sizeof(RvxReuseFile));
	RvxReuseTablespace *rts = calloc(nts + 1, sizeof(RvxReuseTablespace));
	const char **dirlist = NULL;
	const char **leave = calloc(json_array_size(omitted) + 1, sizeof(char *));
	size_t		ndirs = 0,
				nleave = 0,
				nwrite = 0;
	const char *key;
	json_t	   *value;
	RvxReuseInput in;
	double		started = rvx_now_s();
	long		threads = run->opts->hash_threads;
	uint64_t	write_bytes = 0;
	int			rc = -1;

	if (dirset == NULL || files == NULL || rts == NULL || leave == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto out;
	}
	/* the record's directories and, as make_tree does, the parents of its files */
	for (size_t i = 0; i < json_array_size(dirs); i++)
		json_object_set_new(dirset, json_string_value(json_array_get(dirs, i)), json_true());
	for (size_t i = 0; i <= run->nfiles; i++)
	{
		const RestoreFile *f = i < run->nfiles ? &run->files[i] : &run->control;
		char		parent[PATH_MAX];
		char	   *slash;

		if (i < run->nfiles)
			files[i] = (RvxReuseFile) {.path = f->path, .size = f->size,
									   .sha256 = f->sparse ? NULL : f->sha256,
									   .chunk_digest = f->chunked ? f->chunk_digest : NULL};
		snprintf(parent, sizeof(parent), "%s", f->path);
		while ((slash = strrchr(parent, '/')) != NULL)
		{
			*slash = '\0';
			json_object_set_new(dirset, parent, json_true());
		}
	}
	dirlist = calloc(json_object_size(dirset) + 1, sizeof(char *));
	if (dirlist == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto out;
	}
	json_object_foreach(dirset, key, value)
		dirlist[ndirs++] = key;
	qsort(dirlist, ndirs, sizeof(char *), cmp_str);
	/* what the backup left out on purpose (the spool inside pgdata) is not the restore's */
	for (size_t i = 0; i < json_array_size(omitted); i++)
	{
		const json_t *o = json_array_get(omitted, i);
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *path = json_string_value(json_object_get(o, "path"));

		if (kind && path && strcmp(kind, "skipped_file") == 0)
			leave[nleave++] = path;
	}
	qsort(leave, nleave, sizeof(char *), cmp_str);
	for (size_t i = 0; i < nts; i++)
		rts[i] = (RvxReuseTablespace) {.oid = ts[i].oid, .location = ts[i].location};
	if (threads <= 0)
		threads = sysconf(_SC_NPROCESSORS_ONLN);
	if (threads <= 0)
		threads = 1;

	in = (RvxReuseInput) {
		.pgdata = run->opts->pgdata,
		.files = files, .nfiles = run->nfiles,
		.dirs = dirlist, .ndirs = ndirs,
		.tablespaces = rts, .ntablespaces = nts,
		.leave = leave, .nleave = nleave,
		.threads = (int) threads,
		.cancel = &run->cancel,
	};
	if (rvx_reuse_scan(&in, plan, err) != 0)
	{
		rvx_error_prefix(err, "--delta: reading \"%s\"", run->opts->pgdata);
		goto out;
	}

	/* what is kept is not downloaded; pg_control always is, last */
	for (size_t i = 0; i < run->nfiles; i++)
		if (!files[i].keep)
		{
			write_bytes += (uint64_t) run->files[i].size;
			run->files[nwrite++] = run->files[i];
		}
	run->nfiles = nwrite;
	run->total_bytes = write_bytes + (uint64_t) run->control.size;
	rvx_info("--delta: \"%s\" read in %.1f s with %ld threads (%" PRIu64 " files of more than "
			 "one piece compared by their chunk digests, the others by their SHA-256): %" PRIu64
			 " files (%.1f MB) are the backup's already, each read back and matching its digest, "
			 "and are kept; %zu files (%.1f MB) will be rewritten; %" PRIu64 " files and "
			 "directories (%.1f MB) that are not in the backup will be removed",
			 run->opts->pgdata, rvx_now_s() - started, threads, plan->chunked_files,
			 plan->kept_files, plan->kept_bytes / 1048576.0, run->nfiles + 1,
			 run->total_bytes / 1048576.0, plan->removed_entries,
			 plan->removed_bytes / 1048576.0);
	rc = 0;
out:
	json_decref(dirset);
	free(dirlist);
	free(leave);
	free(files);
	free(rts);
	return rc;
}

/*
 * The first change --delta makes: the marker that names the cluster, then
 * pg_control gone (PostgreSQL refuses the directory from here until the
 * restore is done), then what is not the backup's.
 */
static int
prepare_existing(RestoreRun *run, const char *id, const RvxReusePlan *plan, RvxError *err)
{
	char		path[PATH_MAX];

	if (rvx_reuse_write_marker(run->opts->pgdata, run->system_id, id, run->owner, run->group,
							   err) != 0 ||
		rvx_fsync_dir(run->opts->pgdata, err) != 0)
		return -1;
	if (path_join(path, sizeof(path), run->opts->pgdata, PG_CONTROL_PATH, err) != 0)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT)
		return rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
	if (path_join(path, sizeof(path), run->opts->pgdata, "global", err) != 0)
		return -1;
	if (access(path, F_OK) == 0 && rvx_fsync_dir(path, err) != 0)
		return -1;
	if (rvx_reuse_remove(plan, err) != 0)
		return -1;
	/* kept files: durable and owned as written ones, now that the directory changes anyway */
	return rvx_reuse_settle(plan, run->owner, run->group, err);
}

/*
 * The restored PG_VERSION is what PostgreSQL itself goes by: it must say
 * the major the record says, since that is what verify holds the programs
 * it starts to (verify.c) and what the operator was told (list).
 */
static int
check_pg_version_file(const char *pgdata, const char *id, int record_major, RvxError *err)
{
	char		path[PATH_MAX];
	FILE	   *f;
	int			major = 0;

	if (path_join(path, sizeof(path), pgdata, "PG_VERSION", err) != 0)
		return -1;
	f = fopen(path, "r");
	if (f == NULL)
		return rvx_error(err, RVX_E_CORRUPT, "backup %s restored no PG_VERSION: %s", id, strerror(errno));
	if (fscanf(f, "%d", &major) != 1)
		major = 0;
	fclose(f);
	if (major != record_major)
		return rvx_error(err, RVX_E_CORRUPT,
						 "backup %s restored a PG_VERSION of PostgreSQL %d, but its record says PostgreSQL %d",
						 id, major, record_major);
	return 0;
}

int
rvx_restore(const RvxConfig *cfg, const RvxRestoreOptions *opts, RvxRestoreResult *res,
			RvxError *err)
{
	RestoreRun	run;
	RvxRepo    *repo = NULL;
	RvxClusterInfo ci;
	RvxTargetPlan plan;
	json_t	   *record = NULL;
	Tablespace *ts = NULL;
	size_t		nts = 0;
	const char **dirs = NULL;
	size_t		ndirs = 0;
	char		id[RVX_BACKUP_ID_MAXLEN + 1];
	char		record_key[RVX_BACKUP_ID_MAXLEN + 64];
	char		manifest_key[RVX_BACKUP_ID_MAXLEN + 64];
	char		path[PATH_MAX];
	bool		moved = false;
	bool		changed = false;
	bool		reuse = false;	/* --delta into a directory that is not empty */
	RvxReusePlan reuse_plan;
	struct stat st;
	double		started = rvx_now_s();
	int			rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&run, 0, sizeof(run));
	memset(&reuse_plan, 0, sizeof(reuse_plan));
	run.cfg = cfg;
	run.opts = opts;
	run.owner = (uid_t) -1;
	run.group = (gid_t) -1;
	pthread_mutex_init(&run.lock, NULL);

	if (opts->pgdata == NULL || opts->pgdata[0] == '\0')
		return rvx_error(err, RVX_E_USAGE, "no data directory given (--pgdata)");
	if (opts->delta && opts->force)
		return rvx_error(err, RVX_E_USAGE,
						 "--delta and --force exclude each other: --delta keeps what is right, "
						 "--force deletes everything first");

	/* 1. everything that can be checked before touching anything */
	repo = rvx_repo_open(&cfg->repo, err);
	if (repo == NULL)
		goto out;
	if (rvx_repo_meta_load(repo, &ci, err) != 0)
		goto out;
	run.system_id = ci.system_id;
	if (rvx_target_check(&opts->target, err) != 0 ||
		rvx_target_plan(repo, &ci, &opts->target, opts->backup_id, &plan, err) != 0)
		goto out;
	if (choose_backup(repo, plan.backup_id[0] ? plan.backup_id : opts->backup_id,
					  record_key, sizeof(record_key), manifest_key,
					  sizeof(manifest_key), id, err) != 0)
		goto out;
	snprintf(res->backup_id, sizeof(res->backup_id), "%s", id);
	if (rvx_backup_record_load(repo, record_key, id, ci.system_id, &record, err) != 0)
		goto out;
	if (rvx_backup_record_major(record) != ci.pg_version_num / 10000)
	{
		rvx_error(err, RVX_E_CLUSTER, "backup %s is of PostgreSQL %d, the repository holds PostgreSQL %d",
				  id, rvx_backup_record_major(record), ci.pg_version_num / 10000);
		goto out;
	}
	res->timeline = (uint32_t) json_integer_value(json_object_get(record, "timeline"));
	if (load_chain(&run, repo, record, id, err) != 0)
		goto out;
	if (run.nchain > 1)
		rvx_info("backup %s is incremental: it builds on %zu older backup(s), down to %s",
				 id, run.nchain - 1, run.chain_ids[run.nchain - 1]);
	if (plan_tablespaces(&run, record, &ts, &nts, err) != 0)
		goto out;
	for (size_t i = 0; i < nts; i++)
		moved |= ts[i].moved;
	if (plan_files(&run, record, moved, err) != 0)
		goto out;

	if (stat(opts->pgdata, &st) == 0)
	{
		int			empty;

		if (!S_ISDIR(st.st_mode))
		{
			rvx_error(err, RVX_E_USAGE, "\"%s\" exists and is not a directory", opts->pgdata);
			goto out;
		}
		if (check_no_server(opts->pgdata, err) != 0)
			goto out;
		empty = dir_is_empty(opts->pgdata, err);
		if (empty < 0)
			goto out;
		if (!empty && opts->delta)
		{
			if (check_same_cluster(opts->pgdata, ci.system_id, err) != 0 ||
				check_unarchived_wal(opts->pgdata, opts->discard_unarchived_wal, err) != 0)
				goto out;
			reuse = true;
		}
		else if (!empty && !opts->force)
		{
			rvx_error(err, RVX_E_USAGE,
					  "data directory \"%s\" is not empty; restore into an empty or new directory, "
					  "use --delta to keep what of it is the backup's already, "
					  "or use --force to delete its contents first", opts->pgdata);
			goto out;
		}
		/* as root, restore for whoever owns the directory prepared for it */
		if (geteuid() == 0 && st.st_uid != 0)
		{
			run.owner = st.st_uid;
			run.group = st.st_gid;
		}
	}
	if (check_locations(opts->pgdata, ts, nts, err) != 0)
		goto out;
	for (size_t i = 0; i < nts; i++)
	{
		int			empty;

		/*
		 * --delta compares the contents of a location only when this data
		 * directory links to it already: anything else may be another
		 * cluster's tablespace, refused as a normal restore refuses it.
		 */
		if (reuse)
		{
			snprintf(path, sizeof(path), "%s/pg_tblspc/%u", opts->pgdata, ts[i].oid);
			if (rvx_reuse_links_to(path, ts[i].location))
				continue;
		}
		empty = dir_is_empty(ts[i].location, err);
		if (empty < 0)
			goto out;
		if (!empty && !opts->force)
		{
			rvx_error(err, RVX_E_USAGE,
					  "tablespace %u: location \"%s\" is not empty%s; empty it, restore it elsewhere "
					  "with --tablespace-map %u=DIR, or use --force to delete its contents",
					  ts[i].oid, ts[i].location,
					  reuse ? " and pg_tblspc of the data directory does not link to it "
					  "(--delta reuses only a location the data directory links to)" : "",
					  ts[i].oid);
			goto out;
		}
	}
	if (opts->delta && !reuse)
		rvx_info("--delta: \"%s\" is empty or missing, so this is a normal restore", opts->pgdata);
	log_plan(&run, id, record);
	log_recovery_plan(&run);
	if (reuse && scan_existing(&run, record, ts, nts, &reuse_plan, err) != 0)
		goto out;

	/* 2. only now: change things (a server may have started while we read) */
	if (stat(opts->pgdata, &st) == 0 && check_no_server(opts->pgdata, err) != 0)
		goto out;
	changed = true;
	if (reuse && prepare_existing(&run, id, &reuse_plan, err) != 0)
		goto out;
	if (opts->force)
	{
		if (clear_dir(opts->pgdata, err) != 0)
			goto out;
		for (size_t i = 0; i < nts; i++)
			if (clear_dir(ts[i].location, err) != 0)
				goto out;
	}

	/* 3. */
	if (make_tree(&run, record, ts, nts, &dirs, &ndirs, err) != 0)
		goto out;

	/* 4. */
	if (download(&run, id, started, err) != 0)
		goto out;
	if (check_pg_version_file(opts->pgdata, id, rvx_backup_record_major(record), err) != 0)
		goto out;

	/* 5. */
	if (path_join(path, sizeof(path), opts->pgdata, RVX_BACKUP_MANIFEST, err) != 0 ||
		restore_manifest(&run, repo, manifest_key, path, err) != 0)
	{
		rvx_error_prefix(err, "could not restore \"%s\"", RVX_BACKUP_MANIFEST);
		goto out;
	}
	if (append_recovery_settings(&run, id, err) != 0)
		goto out;

	/* 6. */
	for (size_t i = 0; i < ndirs; i++)
		if (path_join(path, sizeof(path), opts->pgdata, dirs[i], err) != 0 ||
			rvx_fsync_dir(path, err) != 0)
			goto out;
	for (size_t i = 0; i < nts; i++)
		if (rvx_fsync_dir(ts[i].location, err) != 0)
			goto out;
	if (rvx_fsync_dir(opts->pgdata, err) != 0)
		goto out;
	if (fetch_one(&run, repo, NULL, NULL, &run.control, err) != 0)
		goto out;
	if (path_join(path, sizeof(path), opts->pgdata, "global", err) != 0 ||
		rvx_fsync_dir(path, err) != 0)
		goto out;
	if (reuse)
	{
		if (path_join(path, sizeof(path), opts->pgdata, RVX_REUSE_MARKER, err) != 0)
			goto out;
		if (unlink(path) != 0 && errno != ENOENT)
		{
			rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
			goto out;
		}
		if (rvx_fsync_dir(opts->pgdata, err) != 0)
			goto out;
	}
	if (opts->progress)
		show_progress(&run, id, started, true);

	res->files = run.files_done;
	res->bytes = run.total_bytes;
	res->delta = reuse;
	res->kept_files = reuse_plan.kept_files;
	res->kept_bytes = reuse_plan.kept_bytes;
	res->removed = reuse_plan.removed_entries;
	res->removed_bytes = reuse_plan.removed_bytes;
	res->seconds = rvx_now_s() - started;
	if (geteuid() == 0 && run.owner == (uid_t) -1)
		rvx_warn("the restored files belong to root; PostgreSQL will not start on them as another user "
				 "(chown -R, or restore into a directory owned by that user)");
	rc = 0;

out:
	if (rc != 0 && changed)
		res->incomplete = true;
	rvx_reuse_plan_free(&reuse_plan);
	free(dirs);
	free(ts);
	free(run.files);
	for (size_t i = 0; i < run.nchain; i++)
	{
		json_decref(run.chain[i]);
		json_decref(run.chain_files[i]);
	}
	json_decref(record);
	rvx_repo_close(repo);
	pthread_mutex_destroy(&run.lock);
	return rc;
}
