/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  The restore drill (see verify.h).
 *
 * The drill server is started with settings that keep a copy of
 * production from acting like production; each one matters:
 *	- shared_preload_libraries = '': the revrx module would start its
 *	  worker and take backups into revrx.spool_dir, which names
 *	  production's spool; session/local_preload_libraries likewise;
 *	- archive_mode = off (and no archive_command/library): a drill must
 *	  never store WAL into the repository it is checking;
 *	- primary_conninfo = '', primary_slot_name = '': it must never stream
 *	  from (and hold a slot on) the production primary;
 *	- recovery_end_command, archive_cleanup_command = '': production
 *	  scripts (which may delete archived WAL) must not run;
 *	- synchronous_standby_names = '': after promotion every commit
 *	  (pg_amcheck's CREATE EXTENSION) would wait for standbys forever;
 *	- data_directory, external_pid_file, hba_file, ident_file, socket,
 *	  listen_addresses = '', ssl = off, logging to our stderr: nothing
 *	  outside the scratch directory is read or written, nothing listens
 *	  on the network, and the log is where the drill reads it;
 *	- huge_pages = try: the drill machine may have none reserved;
 *	- revrx.backup_schedule = '': belt and braces, should the module be
 *	  loaded anyway.
 * The recovery target is given the same way (-c beats postgresql.auto.conf).
 *
 * Timings: "restore" is rvx_restore's download, verification and write,
 * one streamed pipeline (network and disk time are not separated);
 * "recovery" runs from the start of postgres to the end of recovery
 * (pg_is_in_recovery() false after the promotion); the measured recovery
 * time (RTO) is their sum.  Checks are timed apart, each on its own.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "info/catalog.h"
#include "info/fetch.h"
#include "fingerprint.h"
#include "base/file_utils.h"
#include "base/log.h"
#include "object.h"
#include "verify/pginstance.h"
#include "info/repo_meta.h"
#include "restore/restore.h"
#include "verify/verify_int.h"
#include "walname.h"

/* Largest fingerprints object we accept (one entry per table). */
#define FINGERPRINTS_MAX	((size_t) 256 * 1024 * 1024)
#define SHUTDOWN_TIMEOUT_S	120




static double
round3(double v)
{
	return (double) (long long) (v * 1000.0 + (v >= 0 ? 0.5 : -0.5)) / 1000.0;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
set_phase(Drill *d, const char *name, double seconds, json_t *extra)
{
	json_t	   *p = extra ? extra : json_object();

	json_object_set_new(p, "seconds", json_real(round3(seconds)));
	json_object_set_new(d->phases, name, p);
}

/* ---------------------------------------------------------------- files */

/* rm -rf path's contents, and path itself when also_dir; a failure is only worth a warning. */
static void
remove_tree(const char *path, bool also_dir)
{
	RvxError	err;

	if (rvx_remove_tree(path, !also_dir, &err) != 0)
		rvx_warn("%s", err.msg);
}

static int
make_scratch(Drill *d, RvxError *err)
{
	const char *opt = d->opts->scratch;
	char		path[PATH_MAX];

	if (opt == NULL)
	{
		const char *tmp = getenv("TMPDIR");

		snprintf(d->scratch, sizeof(d->scratch), "%s/revrx-verify-XXXXXX",
				 tmp && tmp[0] ? tmp : "/tmp");
		if (mkdtemp(d->scratch) == NULL)
			return rvx_error(err, RVX_E_IO, "could not create a scratch directory \"%s\": %s",
							 d->scratch, strerror(errno));
		d->scratch_created = true;
	}
	else
	{
		struct stat st;

		if (realpath(opt, d->scratch) == NULL)
		{
			if (errno != ENOENT)
				return rvx_error(err, RVX_E_IO, "could not use scratch directory \"%s\": %s", opt,
								 strerror(errno));
			if (mkdir(opt, 0700) != 0)
				return rvx_error(err, RVX_E_IO, "could not create scratch directory \"%s\": %s", opt,
								 strerror(errno));
			d->scratch_created = true;
			if (realpath(opt, d->scratch) == NULL)
				return rvx_error(err, RVX_E_IO, "could not use scratch directory \"%s\": %s", opt,
								 strerror(errno));
		}
		else
		{
			DIR		   *dir;
			struct dirent *de;
			bool		empty = true;

			if (stat(d->scratch, &st) != 0 || !S_ISDIR(st.st_mode))
				return rvx_error(err, RVX_E_USAGE, "scratch \"%s\" is not a directory", opt);
			/* everything in it is removed at the end: never take a used directory */
			dir = opendir(d->scratch);
			if (dir == NULL)
				return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", opt, strerror(errno));
			while ((de = readdir(dir)) != NULL)
				if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
					empty = false;
			closedir(dir);
			if (!empty)
				return rvx_error(err, RVX_E_USAGE,
								 "scratch directory \"%s\" is not empty; give an empty or new one", opt);
		}
	}
	chmod(d->scratch, 0700);

	snprintf(d->pgdata, sizeof(d->pgdata), "%s/pgdata", d->scratch);
	if (mkdir(d->pgdata, 0700) != 0)
		return rvx_error(err, RVX_E_IO, "could not create \"%s\": %s", d->pgdata, strerror(errno));
	snprintf(d->pg.pgdata, sizeof(d->pg.pgdata), "%s", d->pgdata);
	snprintf(d->pg.logfile, sizeof(d->pg.logfile), "%s/postgres.log", d->scratch);
	snprintf(d->pg.hba_file, sizeof(d->pg.hba_file), "%s/pg_hba.conf", d->scratch);

	/* a unix socket path is limited to 107 bytes: fall back to a short one */
	snprintf(path, sizeof(path), "%s/sock", d->scratch);
	if (strlen(path) + sizeof("/.s.PGSQL.65535.lock") > 100)
	{
		snprintf(d->own_sockdir, sizeof(d->own_sockdir), "/tmp/revrx-sock-XXXXXX");
		if (mkdtemp(d->own_sockdir) == NULL)
			return rvx_error(err, RVX_E_IO, "could not create a socket directory: %s", strerror(errno));
		snprintf(path, sizeof(path), "%s", d->own_sockdir);
	}
	else if (mkdir(path, 0700) != 0)
		return rvx_error(err, RVX_E_IO, "could not create \"%s\": %s", path, strerror(errno));
	snprintf(d->pg.sockdir, sizeof(d->pg.sockdir), "%s", path);
	return 0;
}

/* ---------------------------------------------------------------- the backup */

/* Which backup: the one asked for, or the newest complete one. */
static int
choose_backup(Drill *d, RvxError *err)
{
	RvxBackupList list;
	const RvxBackupRef *ref;
	const char *want = d->opts->backup_id;

	if (rvx_backup_list(d->repo, &list, err) != 0)
		return -1;
	if (want == NULL || strcmp(want, "latest") == 0)
		ref = rvx_backup_list_latest(&list);
	else
		ref = rvx_backup_list_find(&list, want);
	if (ref == NULL || ref->record_key[0] == '\0')
	{
		if (want == NULL || strcmp(want, "latest") == 0)
			rvx_error(err, RVX_E_NOTFOUND, "repository %s holds no complete backup", d->repo->display);
		else
			rvx_error(err, RVX_E_NOTFOUND, "backup %s is not a complete backup in %s (see revrx-agent list)",
					  want, d->repo->display);
		rvx_backup_list_free(&list);
		return -1;
	}
	snprintf(d->backup_id, sizeof(d->backup_id), "%s", ref->id);
	snprintf(d->record_key, sizeof(d->record_key), "%s", ref->record_key);
	rvx_backup_list_free(&list);
	return 0;
}

/*
 * The drilled backup's record (backup.json), read once: when the backup
 * was chosen up front, by its key; when a target chose it in rvx_restore,
 * found in the listing by the id restore reported.
 */
const json_t *
verify_backup_record(Drill *d, RvxError *err)
{
	if (d->record == NULL)
	{
		char		key[sizeof(d->record_key)];

		if (d->record_key[0])
			snprintf(key, sizeof(key), "%s", d->record_key);
		else
		{
			RvxBackupList list;
			const RvxBackupRef *ref;

			if (rvx_backup_list(d->repo, &list, err) != 0)
				return NULL;
			ref = rvx_backup_list_find(&list, d->backup_id);
			if (ref == NULL || ref->record_key[0] == '\0')
			{
				rvx_error(err, RVX_E_NOTFOUND, "backup %s has no record in %s", d->backup_id,
						  d->repo->display);
				rvx_backup_list_free(&list);
				return NULL;
			}
			snprintf(key, sizeof(key), "%s", ref->record_key);
			rvx_backup_list_free(&list);
		}
		if (rvx_backup_record_load(d->repo, key, d->backup_id, d->ci.system_id, &d->record, err) != 0)
			return NULL;
	}
	return d->record;
}

/*
 * Refuses PostgreSQL programs of another major version than the backup's:
 * they could not start the copy (or would fail on its first WAL record), so
 * the drill stops here, before anything is restored, with an exit code of
 * its own.  The backup's major is its record's; when a target chooses the
 * backup later (in rvx_restore), the repository's, which restore holds
 * every backup to.
 */
static int
check_pg_major(Drill *d, RvxError *err)
{
	int			backup_major = d->ci.pg_version_num / 10000;
	int			binary_major;
	char		version[256];

	if (d->record_key[0])
	{
		const json_t *record = verify_backup_record(d, err);

		if (record == NULL)
			return -1;
		backup_major = rvx_backup_record_major(record);
	}
	if (rvx_pg_binary_major(&d->pg, &binary_major, version, sizeof(version), err) != 0)
		return -1;
	return rvx_pg_major_check(binary_major, d->pg.bindir, backup_major, d->backup_id, err);
}

/*
 * Reads backup/<id>/fingerprints.json, if the backup has one.  Returns 1
 * when loaded, 0 when there is none (reason in fp_skip_reason), -1 when it
 * exists but cannot be used (err: the fingerprints check fails).
 */
static int
load_fingerprints(Drill *d, RvxError *err)
{
	char		key[RVX_BACKUP_ID_MAXLEN + 64];
	char		base[RVX_BACKUP_ID_MAXLEN + 64];
	char		point[RVX_BACKUP_ID_MAXLEN + 16];
	bool		found = false;
	char	   *text = NULL;
	size_t		len;
	json_error_t jerr;
	json_t	   *fp;
	const char *s;

	snprintf(base, sizeof(base), "%s%s/%s", RVX_BACKUP_KEY_PREFIX, d->backup_id,
			 RVX_FINGERPRINTS_OBJECT);
	for (int alg = RVX_COMPRESS_MAX; alg >= 0 && !found; alg--)
	{
		RvxObjectInfo info;
		int			rc;

		snprintf(key, sizeof(key), "%s%s", base, rvx_compression_suffix((RvxCompression) alg));
		rc = rvx_repo_head(d->repo, key, &info, err);
		if (rc < 0)
			return -1;
		found = rc == 1;
	}
	if (!found)
	{
		snprintf(d->fp_skip_reason, sizeof(d->fp_skip_reason),
				 "backup %s has no fingerprints (%s)", d->backup_id, base);
		return 0;
	}
	if (rvx_fetch_to_buffer(d->repo, key, d->ci.system_id, FINGERPRINTS_MAX, &text, &len, NULL,
							err) != 0)
		return -1;
	fp = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	snprintf(point, sizeof(point), RVX_FINGERPRINT_POINT_FMT, d->backup_id);
	if (fp == NULL)
		return rvx_error(err, RVX_E_CORRUPT, "\"%s\" is not JSON: %s", key, jerr.text);
	if (json_integer_value(json_object_get(fp, "format")) != RVX_FINGERPRINT_FORMAT ||
		(s = json_string_value(json_object_get(fp, "backup_id"))) == NULL ||
		strcmp(s, d->backup_id) != 0 ||
		(s = json_string_value(json_object_get(fp, "restore_point"))) == NULL ||
		strcmp(s, point) != 0 ||
		(s = json_string_value(json_object_get(fp, "database"))) == NULL ||
		s[0] == '\0' || strlen(s) >= sizeof(d->drill_db) ||
		!json_is_array(json_object_get(fp, "tables")))
	{
		json_decref(fp);
		return rvx_error(err, RVX_E_CORRUPT,
						 "\"%s\" is not a fingerprints record of backup %s (format %d, restore point \"%s\")",
						 key, d->backup_id, RVX_FINGERPRINT_FORMAT, point);
	}
	json_object_set_new(fp, "key", json_string(key));
	d->fingerprints = fp;
	return 1;
}

/* "START WAL LOCATION: 0/2000028 (file ...)" of the restored backup_label. */
static void
read_start_lsn(Drill *d, char *out, size_t cap)
{
	char		path[PATH_MAX + 16];
	char		line[512];
	FILE	   *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/backup_label", d->pgdata);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
	{
		unsigned int hi,
					lo;

		if (sscanf(line, "START WAL LOCATION: %X/%X", &hi, &lo) == 2)
		{
			snprintf(out, cap, "%X/%X", hi, lo);
			break;
		}
	}
	fclose(f);
}

/* ---------------------------------------------------------------- phases */

/*
 * The recovery target restore writes for the drill: the one given, else
 * the fingerprints' restore point, else the end of the backup; always
 * promoted (the checks write: pg_amcheck installs amcheck).  Restore
 * validates it, chooses the backup for it when none was named, and
 * refuses one it cannot reach.
 */
static int
drill_target(Drill *d, RvxRecoveryTarget *target, RvxError *err)
{
	*target = d->opts->target;
	if (target->kind == RVX_TARGET_NONE)
	{
		const char *point = d->fingerprints ?
			json_string_value(json_object_get(d->fingerprints, "restore_point")) : NULL;

		if (rvx_target_set(target, point ? RVX_TARGET_NAME : RVX_TARGET_IMMEDIATE,
						   point ? point : "immediate", err) != 0)
			return -1;
	}
	target->action = RVX_TARGET_ACTION_PROMOTE;
	return 0;
}

static int
phase_restore(Drill *d)
{
	RvxRestoreOptions ro = {0};
	RvxRestoreResult res;
	RvxError	err;
	double		t0 = rvx_now_s();
	double		secs;
	json_t	   *p;
	int			rc;

	ro.pgdata = d->pgdata;
	ro.backup_id = d->backup_id[0] ? d->backup_id : d->opts->backup_id;
	ro.force = false;
	ro.parallel = d->opts->parallel > 0 ? d->opts->parallel : 1;
	ro.agent_path = NULL;		/* restore_command runs this very agent */
	ro.progress = isatty(STDERR_FILENO);	/* quiet unless someone watches */
	ro.archive = false;			/* the drill's copy never archives */
	if (drill_target(d, &ro.target, &err) != 0)
	{
		verify_add_check(d, "restore", false, false, 0, err.msg, NULL);
		json_object_set_new(d->report, "restore_error_code", json_integer(err.code));
		return -1;
	}

	rvx_info("restoring backup %s into \"%s\"", ro.backup_id ? ro.backup_id : "latest", d->pgdata);
	rc = rvx_restore(d->cfg, &ro, &res, &err);
	secs = rvx_now_s() - t0;
	if (res.backup_id[0] && d->backup_id[0] == '\0')
		snprintf(d->backup_id, sizeof(d->backup_id), "%s", res.backup_id);
	p = json_pack("{s:I, s:I, s:f}", "bytes", (json_int_t) res.bytes, "files", (json_int_t) res.files,
				  "mb_per_s", round3(secs > 0 ? res.bytes / 1048576.0 / secs : 0));
	set_phase(d, "restore", secs, p);
	json_object_set_new(d->report, "bytes_restored", json_integer((json_int_t) res.bytes));
	if (rc != 0)
	{
		char		msg[1200];

		snprintf(msg, sizeof(msg), "restore failed: %s", err.msg);
		verify_add_check(d, "restore", false, false, secs, msg,
				  json_pack("{s:s}", "error", rvx_error_code_name(err.code)));
		json_object_set_new(d->report, "restore_error_code", json_integer(err.code));
		return -1;
	}
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "%" PRIu64 " files, %.1f MB", res.files, res.bytes / 1048576.0);
		verify_add_check(d, "restore", true, false, secs, msg, NULL);
	}
	return 0;
}

static void
phase_verifybackup(Drill *d)
{
	const char *argv[] = {"pg_verifybackup", "--no-parse-wal", d->pgdata, NULL};
	double		t0 = rvx_now_s();

	/* WAL comes from the repository through restore_command, not pg_wal */
	verify_tool_check(d, "pg_verifybackup", argv, "every file matches backup_manifest");
	set_phase(d, "pg_verifybackup", rvx_now_s() - t0, NULL);
}

/* Says in words where the drill recovers to (for messages and the report). */
static void
describe_target(Drill *d)
{
	if (d->opts->target.kind != RVX_TARGET_NONE)
		rvx_target_describe(&d->opts->target, d->target_desc, sizeof(d->target_desc));
	else if (d->fingerprints)
		snprintf(d->target_desc, sizeof(d->target_desc), "restore point \"%s\" (fingerprints)",
				 json_string_value(json_object_get(d->fingerprints, "restore_point")));
	else
		snprintf(d->target_desc, sizeof(d->target_desc), "immediate (end of the backup)");
}

/*
 * Recovery settings on the drill server's command line.  The target itself
 * is in postgresql.auto.conf, written by restore (drill_target); only the
 * action is repeated here, because it must be promote whatever a restored
 * configuration says.
 */
static int
target_settings(Drill *d, const char **set, int n, char bufs[][1024])
{
	set[n++] = "recovery_target_action=promote";
	return n;
}

/*
 * The segment wal-fetch last reported missing in the server log, or "":
 * "SEG" is not in <repository> (not found: recovery ended there), or
 * segment "SEG" is missing from <repository> but later WAL ... (a gap:
 * wal-fetch stopped recovery, exit 126).
 */
static void
missing_segment(const char *log, char *out, size_t cap)
{
	static const char *const says[] = {"\" is not in ", "\" is missing from ", NULL};
	const char *last = NULL;

	out[0] = '\0';
	for (int i = 0; says[i]; i++)
		for (const char *p = log; (p = strstr(p, says[i])) != NULL; p++)
		{
			const char *q = p;
			char		name[25];

			while (q > log && q[-1] != '"')
				q--;
			if (p - q != 24 || (last != NULL && p < last))
				continue;
			memcpy(name, q, 24);
			name[24] = '\0';
			if (rvx_walname_kind(name) == RVX_WAL_SEGMENT)
			{
				snprintf(out, cap, "%s", name);
				last = p;
			}
		}
}

static bool
phase_recovery(Drill *d)
{
	static const char *const safety[] = {
		"shared_preload_libraries=", "session_preload_libraries=", "local_preload_libraries=",
		"archive_mode=off", "archive_command=", "archive_library=",
		"primary_conninfo=", "primary_slot_name=",
		"recovery_end_command=", "archive_cleanup_command=",
		"synchronous_standby_names=", "external_pid_file=",
		"ssl=off", "unix_socket_permissions=0700", "logging_collector=off",
		"log_destination=stderr", "huge_pages=try", "hot_standby=on",
		"revrx.backup_schedule=",
	};
	const char *set[64];
	char		bufs[8][1024];
	char		ident[PATH_MAX + 16];
	char		datadir[PATH_MAX + 32];
	char		start_lsn[32];
	int			n = 0;
	RvxError	err;
	double		t0;
	double		deadline;
	double		secs;
	bool		ok = false;
	PGconn	   *conn = NULL;
	FILE	   *f;

	for (size_t i = 0; i < sizeof(safety) / sizeof(safety[0]); i++)
		set[n++] = safety[i];
	snprintf(datadir, sizeof(datadir), "data_directory=%s", d->pgdata);
	set[n++] = datadir;
	snprintf(ident, sizeof(ident), "%s/pg_ident.conf", d->scratch);
	f = fopen(ident, "w");
	if (f)
		fclose(f);
	snprintf(bufs[7], sizeof(bufs[7]), "ident_file=%s", ident);
	set[n++] = bufs[7];
	n = target_settings(d, set, n, bufs);

	/* a restore of a cluster with postgresql.conf elsewhere (Debian) has none */
	{
		char		conf[PATH_MAX + 32];

		snprintf(conf, sizeof(conf), "%s/postgresql.conf", d->pgdata);
		if (access(conf, F_OK) != 0 && (f = fopen(conf, "w")) != NULL)
		{
			fputs("# written by revrx-agent verify: the backup had no postgresql.conf\n", f);
			fclose(f);
		}
	}

	read_start_lsn(d, start_lsn, sizeof(start_lsn));
	t0 = rvx_now_s();
	deadline = t0 + (d->opts->recovery_timeout_s > 0 ? d->opts->recovery_timeout_s : 21600);
	rvx_info("starting the drill server (socket %s, port %d), recovering to %s", d->pg.sockdir,
			 d->pg.port, d->target_desc);
	if (rvx_pg_start(&d->pg, set, n, &err) != 0)
	{
		verify_add_check(d, "recovery", false, false, 0, err.msg, NULL);
		return false;
	}
	d->pg_started = true;

	while (!rvx_interrupt_pending())
	{
		char	   *v = NULL;

		if (!rvx_pg_alive(&d->pg))
			break;
		if (rvx_now_s() > deadline)
			break;
		if (conn == NULL)
		{
			RvxError	cerr;

			conn = rvx_pg_connect(&d->pg, "postgres", &cerr);
			if (conn == NULL)
			{
				sleep_ms(200);
				continue;
			}
		}
		if (rvx_pg_query_value(conn, "SELECT pg_is_in_recovery()", &v, &err) != 0)
		{
			PQfinish(conn);
			conn = NULL;
			sleep_ms(200);
			continue;
		}
		if (v && strcmp(v, "f") == 0)
		{
			free(v);
			ok = true;
			break;
		}
		free(v);
		sleep_ms(200);
	}
	secs = rvx_now_s() - t0;

	if (ok)
	{
		char	   *end = NULL;
		char	   *bytes = NULL;
		char	   *cks = NULL;
		char		sql[256];
		double		wal = 0;
		json_t	   *p;
		char		msg[512];

		rvx_pg_query_value(conn, "SELECT coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text",
						   &end, &err);
		if (start_lsn[0] && end)
		{
			snprintf(sql, sizeof(sql), "SELECT pg_wal_lsn_diff('%s', '%s')::bigint", end, start_lsn);
			if (rvx_pg_query_value(conn, sql, &bytes, &err) == 0 && bytes)
				wal = strtod(bytes, NULL);
		}
		if (rvx_pg_query_value(conn, "SHOW data_checksums", &cks, &err) == 0 && cks)
			d->data_checksums = strcmp(cks, "on") == 0;
		p = json_pack("{s:s, s:s, s:I, s:f}", "start_lsn", start_lsn,
					  "end_lsn", end ? end : "", "wal_bytes", (json_int_t) wal,
					  "mb_per_s", round3(secs > 0 ? wal / 1048576.0 / secs : 0));
		set_phase(d, "recovery", secs, p);
		json_object_set_new(d->report, "wal_replayed_bytes", json_integer((json_int_t) wal));
		json_object_set_new(d->report, "replay_mb_per_s",
							json_real(round3(secs > 0 ? wal / 1048576.0 / secs : 0)));
		snprintf(msg, sizeof(msg), "recovered to %s: %.1f MB of WAL replayed (%s .. %s)",
				 d->target_desc, wal / 1048576.0, start_lsn, end ? end : "?");
		verify_add_check(d, "recovery", true, false, secs, msg, NULL);
		free(end);
		free(bytes);
		free(cks);
		PQfinish(conn);
		d->server_ok = true;
		return true;
	}

	/* failed: say why, with the server's own words */
	if (conn)
		PQfinish(conn);
	{
		static const char *const pats[] = {"FATAL", "PANIC", "ERROR", "is not in ", "could not",
		"recovery", "redo ", "consistent", NULL};
		char	   *lines = rvx_text_file_tail(d->pg.logfile, QUOTED_LINES, pats);
		char	   *all = rvx_text_file_tail(d->pg.logfile, 5000, NULL);
		char		seg[32];
		char		msg[1500];
		const char *why;

		missing_segment(all ? all : "", seg, sizeof(seg));
		if (rvx_interrupt_pending())
			why = "interrupted";
		else if (d->pg.pid != 0)
			why = "recovery did not finish before the deadline";
		else
			why = "the server stopped during recovery";
		if (seg[0] && d->pg.pid == 0)
			snprintf(msg, sizeof(msg), "%s: WAL segment %s is missing from the repository "
					 "(recovery to %s needs it)", why, seg, d->target_desc);
		else
			snprintf(msg, sizeof(msg), "%s (recovering to %s)", why, d->target_desc);
		verify_add_check(d, "recovery", false, false, secs, msg,
						 json_pack("{s:s, s:s}", "missing_wal", seg, "log", lines ? lines : ""));
		set_phase(d, "recovery", secs, json_pack("{s:s}", "start_lsn", start_lsn));
		free(lines);
		free(all);
	}
	return false;
}

static void
phase_checks(Drill *d)
{
	double		t0 = rvx_now_s();
	RvxError	err;

	verify_check_hook(d);
	if (d->fingerprints && !rvx_interrupt_pending())
		verify_check_fingerprints(d);
	else if (!rvx_interrupt_pending())
		verify_add_check(d, "fingerprints", true, true, 0, d->fp_skip_reason, NULL);
	if (!rvx_interrupt_pending())
		verify_check_amcheck(d);
	if (!rvx_interrupt_pending())
		verify_check_row_counts(d);
	if (!rvx_interrupt_pending())
		verify_check_not_included(d);
	if (d->opts->checks_dir && !rvx_interrupt_pending())
		verify_check_user(d);

	/* pg_checksums needs a cleanly stopped cluster */
	{
		double		s0 = rvx_now_s();

		if (rvx_pg_stop(&d->pg, SHUTDOWN_TIMEOUT_S, &err) != 0)
			verify_add_check(d, "shutdown", false, false, rvx_now_s() - s0, err.msg, NULL);
		else if (!rvx_interrupt_pending())
			verify_check_checksums(d);
	}
	set_phase(d, "checks", rvx_now_s() - t0, NULL);
}

/* ---------------------------------------------------------------- report */

typedef struct MemBuf
{
	char	   *buf;
	size_t		len;
	size_t		cap;
} MemBuf;

static int
membuf_sink(void *arg, const void *data, size_t len)
{
	MemBuf	   *m = arg;

	if (m->len + len > m->cap)
	{
		size_t		cap = (m->cap + len) * 2;
		char	   *n = realloc(m->buf, cap);

		if (n == NULL)
			return -1;
		m->buf = n;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, data, len);
	m->len += len;
	return 0;
}

/*
 * Stores the report as an object (zstd, like what the server writes) under
 * backup/<id>/verify/<stamp>.json.zst; a second drill in the same second
 * gets "<stamp>-2".  Never replaces a report.
 */
static int
store_report(Drill *d, const char *stamp, char *key, size_t keycap, RvxError *err)
{
	RvxCompression alg = RVX_COMPRESS_ZSTD;
	RvxObjectWriter *w = rvx_object_writer_new(alg, rvx_compression_default_level(alg));
	RvxObjectHeader hdr;
	MemBuf		out = {malloc(65536), 0, 65536};
	char	   *text;
	int			rc = -1;

	if (out.buf == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");

	/* the key is part of the report: set it before encoding */
	for (int attempt = 1; attempt <= 9; attempt++)
	{
		char		suffix[8] = "";

		if (attempt > 1)
			snprintf(suffix, sizeof(suffix), "-%d", attempt);
		snprintf(key, keycap, "%s%s/%s/%s%s.json%s", RVX_BACKUP_KEY_PREFIX, d->backup_id,
				 RVX_VERIFY_DIR, stamp, suffix, rvx_compression_suffix(alg));
		json_object_set_new(d->report, "report_key", json_string(key));
		text = json_dumps(d->report, JSON_INDENT(1) | JSON_SORT_KEYS);
		if (w == NULL || text == NULL)
		{
			free(text);
			rvx_error(err, RVX_E_INTERNAL, "out of memory");
			break;
		}
		out.len = RVX_OBJECT_HEADER_LEN;	/* the header goes in front, once known */
		if (rvx_object_writer_begin(w, d->ci.system_id, membuf_sink, &out) != 0 ||
			rvx_object_writer_write(w, text, strlen(text)) != 0 ||
			rvx_object_writer_finish(w, &hdr) != 0)
		{
			rvx_error(err, RVX_E_INTERNAL, "could not encode the report: %s",
					  rvx_object_writer_error(w));
			free(text);
			break;
		}
		free(text);
		rvx_object_header_encode(&hdr, (uint8_t *) out.buf);
		rc = rvx_repo_put_buffer(d->repo, key, out.buf, out.len, RVX_PUT_NO_OVERWRITE, err);
		if (rc == 0 || err->code != RVX_E_CONFLICT)
			break;
	}
	free(out.buf);
	rvx_object_writer_free(w);
	return rc;
}

static bool
report_passed(const json_t *checks)
{
	size_t		i;
	json_t	   *c;

	if (json_array_size(checks) == 0)
		return false;
	json_array_foreach(checks, i, c)
		if (!json_is_true(json_object_get(c, "passed")))
		return false;
	return true;
}

static void
cleanup(Drill *d)
{
	RvxError	err;

	if (d->pg_started && rvx_pg_alive(&d->pg))
		rvx_pg_stop(&d->pg, SHUTDOWN_TIMEOUT_S, &err);
	if (d->own_sockdir[0])
		remove_tree(d->own_sockdir, true);
	if (d->scratch[0] == '\0')
		return;
	if (d->opts->keep)
		rvx_info("kept the scratch directory \"%s\" (--keep)", d->scratch);
	else
		remove_tree(d->scratch, d->scratch_created);
}

int
rvx_verify(const RvxConfig *cfg, const RvxVerifyOptions *opts, json_t **report, RvxError *err)
{
	Drill		d;
	time_t		started = time(NULL);
	double		t0 = rvx_now_s();
	char		iso[32];
	char		stamp[32];
	char		key[RVX_BACKUP_ID_MAXLEN + 128];
	int			fp;
	RvxError	fperr;
	struct tm	tm;

	*report = NULL;
	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.opts = opts;
	snprintf(d.drill_db, sizeof(d.drill_db), "postgres");

	if (geteuid() == 0)
		return rvx_error(err, RVX_E_USAGE,
						 "verify starts PostgreSQL, which does not run as root; run it as the user that owns "
						 "PostgreSQL (e.g. postgres)");
	if (rvx_pg_init(&d.pg, opts->pg_bindir, err) != 0)
		return -1;
	if (opts->checks_dir)
	{
		int			n;
		char	  **names = verify_list_user_checks(opts->checks_dir, &n);

		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
		if (n == 0)
			return rvx_error(err, RVX_E_USAGE, "--checks \"%s\": no checks in \"%s/sql/*.sql\"",
							 opts->checks_dir, opts->checks_dir);
	}

	d.repo = rvx_repo_open(&cfg->repo, err);
	if (d.repo == NULL)
		return -1;
	if (rvx_repo_meta_load(d.repo, &d.ci, err) != 0)
		goto fail;
	if (opts->target.kind == RVX_TARGET_NONE || opts->backup_id)
	{
		if (choose_backup(&d, err) != 0)
			goto fail;
	}
	/* else: rvx_restore chooses the backup for the target */
	if (check_pg_major(&d, err) != 0)
		goto fail;
	if (opts->target.kind == RVX_TARGET_NONE)
	{
		fp = load_fingerprints(&d, &fperr);
		if (fp > 0)
			snprintf(d.drill_db, sizeof(d.drill_db), "%s",
					 json_string_value(json_object_get(d.fingerprints, "database")));
	}
	else
	{
		fp = 0;
		char		desc[256];

		rvx_target_describe(&opts->target, desc, sizeof(desc));
		snprintf(d.fp_skip_reason, sizeof(d.fp_skip_reason),
				 "the drill recovers to the target given (%s), not to the fingerprints' restore point",
				 desc);
	}
	describe_target(&d);
	if (make_scratch(&d, err) != 0)
	{
		cleanup(&d);
		goto fail;
	}

	rvx_iso_time(started, iso, sizeof(iso));
	gmtime_r(&started, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	d.report = json_pack("{s:i, s:s, s:s, s:s, s:s, s:{}, s:[]}", "format", RVX_VERIFY_REPORT_FORMAT,
						 "backup_id", d.backup_id, "repository", d.repo->display,
						 "target", d.target_desc, "started_at", iso, "phases", "checks");
	if (d.report == NULL)
	{
		cleanup(&d);
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto fail;
	}
	d.phases = json_object_get(d.report, "phases");
	d.checks = json_object_get(d.report, "checks");
	json_object_set_new(d.report, "scratch", json_string(d.scratch));
	rvx_info("restore drill of backup %s from %s in \"%s\"",
			 d.backup_id[0] ? d.backup_id : "(chosen for the target)", d.repo->display, d.scratch);

	/* 1. restore; nothing else makes sense without it */
	if (fp < 0)
	{
		char		msg[1200];

		snprintf(msg, sizeof(msg), "the backup's fingerprints cannot be used: %s", fperr.msg);
		verify_add_check(&d, "fingerprints", false, false, 0, msg, NULL);
		snprintf(d.fp_skip_reason, sizeof(d.fp_skip_reason), "(failed above)");
	}
	if (!rvx_interrupt_pending() && phase_restore(&d) == 0 && !rvx_interrupt_pending())
	{
		/* 2. */
		phase_verifybackup(&d);
		/* 3., then 4. */
		if (!rvx_interrupt_pending() && phase_recovery(&d) && !rvx_interrupt_pending())
			phase_checks(&d);
	}
	if (rvx_interrupt_pending())
		verify_add_check(&d, "interrupted", false, false, 0, "the drill was interrupted (SIGINT or SIGTERM)", NULL);
	cleanup(&d);

	/* 5. the report */
	{
		double		restore_s = json_real_value(json_object_get(json_object_get(d.phases, "restore"), "seconds"));
		double		recovery_s = json_real_value(json_object_get(json_object_get(d.phases, "recovery"), "seconds"));
		json_t	   *failed = json_array();
		size_t		i;
		json_t	   *c;
		RvxError	serr;

		json_array_foreach(d.checks, i, c)
			if (!json_is_true(json_object_get(c, "passed")))
			json_array_append(failed, json_object_get(c, "name"));
		rvx_iso_time(time(NULL), iso, sizeof(iso));
		json_object_set_new(d.report, "backup_id", json_string(d.backup_id));
		json_object_set_new(d.report, "finished_at", json_string(iso));
		json_object_set_new(d.report, "recovery_seconds", json_real(round3(recovery_s)));
		json_object_set_new(d.report, "total_seconds", json_real(round3(restore_s + recovery_s)));
		json_object_set_new(d.report, "drill_seconds", json_real(round3(rvx_now_s() - t0)));
		json_object_set_new(d.report, "failed_checks", failed);
		json_object_set_new(d.report, "passed", json_boolean(report_passed(d.checks)));
		if (d.scratch[0] && !opts->keep)
			json_object_del(d.report, "scratch");

		if (d.backup_id[0] && store_report(&d, stamp, key, sizeof(key), &serr) != 0)
		{
			rvx_warn("could not store the report in %s: %s", d.repo->display, serr.msg);
			json_object_del(d.report, "report_key");
		}
		else if (d.backup_id[0])
			rvx_info("report stored as \"%s\"", key);
	}
	if (opts->report_file)
	{
		char	   *text = json_dumps(d.report, JSON_INDENT(2) | JSON_SORT_KEYS);
		FILE	   *f = fopen(opts->report_file, "w");

		if (f == NULL || text == NULL || fputs(text, f) < 0 || fputc('\n', f) == EOF ||
			fclose(f) != 0)
			rvx_err("could not write the report to \"%s\": %s", opts->report_file, strerror(errno));
		free(text);
	}
	json_decref(d.fingerprints);
	json_decref(d.record);
	rvx_repo_close(d.repo);
	*report = d.report;
	return 0;

fail:
	json_decref(d.fingerprints);
	json_decref(d.record);
	rvx_repo_close(d.repo);
	return -1;
}

int
rvx_verify_exit_code(const json_t *report)
{
	const json_t *rc;

	if (json_is_true(json_object_get(report, "passed")))
		return 0;
	/* a restore that could not even run says why in its own code (network, not found...) */
	rc = json_object_get(report, "restore_error_code");
	if (json_is_integer(rc) && json_integer_value(rc) > 0)
		return (int) json_integer_value(rc);
	return RVX_E_CORRUPT;
}

void
rvx_verify_print_summary(FILE *out, const json_t *report)
{
	const json_t *phases = json_object_get(report, "phases");
	const json_t *checks = json_object_get(report, "checks");
	const json_t *p;
	size_t		i;
	json_t	   *c;

	fprintf(out, "revrx restore drill of backup %s (target: %s)\n",
			json_string_value(json_object_get(report, "backup_id")),
			json_string_value(json_object_get(report, "target")) ?
			json_string_value(json_object_get(report, "target")) : "-");
	fprintf(out, "  started %s, finished %s\n",
			json_string_value(json_object_get(report, "started_at")),
			json_string_value(json_object_get(report, "finished_at")));
	if ((p = json_object_get(phases, "restore")) != NULL)
		fprintf(out, "  %-16s %8.1f s  %.1f MB, %" JSON_INTEGER_FORMAT " files (%.1f MB/s)\n", "restore",
				json_real_value(json_object_get(p, "seconds")),
				json_integer_value(json_object_get(p, "bytes")) / 1048576.0,
				json_integer_value(json_object_get(p, "files")),
				json_real_value(json_object_get(p, "mb_per_s")));
	if ((p = json_object_get(phases, "pg_verifybackup")) != NULL)
		fprintf(out, "  %-16s %8.1f s\n", "pg_verifybackup", json_real_value(json_object_get(p, "seconds")));
	if ((p = json_object_get(phases, "recovery")) != NULL)
		fprintf(out, "  %-16s %8.1f s  %.1f MB of WAL replayed (%.1f MB/s)\n", "recovery",
				json_real_value(json_object_get(p, "seconds")),
				json_integer_value(json_object_get(p, "wal_bytes")) / 1048576.0,
				json_real_value(json_object_get(p, "mb_per_s")));
	if ((p = json_object_get(phases, "checks")) != NULL)
		fprintf(out, "  %-16s %8.1f s\n", "checks", json_real_value(json_object_get(p, "seconds")));
	json_array_foreach(checks, i, c)
	{
		bool		skipped = json_is_true(json_object_get(c, "skipped"));
		bool		passed = json_is_true(json_object_get(c, "passed"));

		fprintf(out, "    %-16s %-7s %6.1f s  %s\n", json_string_value(json_object_get(c, "name")),
				skipped ? "skipped" : passed ? "ok" : "FAILED",
				json_real_value(json_object_get(c, "seconds")),
				json_string_value(json_object_get(c, "message")));
	}
	fprintf(out, "  measured recovery time (restore + recovery): %.1f s\n",
			json_real_value(json_object_get(report, "total_seconds")));
	if (json_string_value(json_object_get(report, "report_key")))
		fprintf(out, "  report: %s\n", json_string_value(json_object_get(report, "report_key")));
	if (json_is_true(json_object_get(report, "passed")))
		fprintf(out, "PASSED\n");
	else
	{
		fprintf(out, "FAILED:");
		json_array_foreach(json_object_get(report, "failed_checks"), i, c)
			fprintf(out, " %s", json_string_value(c));
		fprintf(out, "\n");
	}
}
