/*-------------------------------------------------------------------------
 *
 * cmd_run.c
 *	  `revrx-agent run`: the sidecar daemon that ships the spool.
 *
 * The main thread owns the schedule: it binds the repository to the
 * cluster (repo_meta.h), scans <spool>/wal for objects the server has
 * spooled, queues them oldest first, retries failures with backoff, keeps
 * old acknowledgements from piling up, and publishes status/agent.json
 * for revrx_status().  REVRX_PARALLEL worker threads, each with its own
 * repository connection, do the per-object work in ship.c.  The server
 * spools ahead of the segment it is waiting for (revrx.archive_lookahead),
 * so the workers usually store a segment before Postgres asks for it.
 *
 * Base backups (<spool>/backup/<id>/, docs/backup-format.md) share the
 * same workers; the per-item work is in ship_backup.c.  WAL comes first,
 * because the archiver may be waiting for it, but neither kind of work can
 * starve the other (the policy is in schedule.h).  A backup directory is looked at again only when none of its objects is
 * queued, and a look queues at most BACKUP_BATCH objects, so the queue
 * (the agent's memory) stays small whatever the size of the database.
 * The commit of a backup (its record, backup.json) and the cleanup of an
 * aborted one are queued as single jobs once nothing else of that backup
 * is queued or in flight.  status/backups.json, the catalog of complete
 * backups, is published at start, by each commit, and every
 * REVRX_CATALOG_REFRESH_S seconds (default 300); each refresh
 * also publishes the newest restore drills in status/verifications.json
 * (catalog.h), and every DRILLS_PERIOD_S in between a cheap look below the
 * newest backups' verify/ prefixes brings a new drill in within seconds.
 *
 * Every REVRX_EXPIRE_INTERVAL_S (0: never) a thread of its own applies the
 * retention settings (expire.h), so that deleting never holds up WAL
 * shipping, and republishes the catalog when it is done.
 *
 * Nothing here needs to survive a crash: the spool is the state.  Killed
 * at any instant and started again, the agent finds the same .rvx files
 * and ships them again, and shipping identical content is a no-op.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "info/catalog.h"
#include "command/commands.h"
#include "daemon/daemon_int.h"
#include "daemon/http_server.h"
#include "retention/expire.h"
#include "base/log.h"
#include "storage/credentials.h"
#include "info/audit.h"
#include "base/metrics.h"
#include "info/repo_meta.h"
#include "daemon/schedule.h"
#include "ship/ship.h"
#include "ship/ship_backup.h"
#include "ship/ship_meta.h"
#include "spool.h"
#include "info/fetch.h"
#include "daemon/wal_progress.h"
#include "walname.h"

volatile sig_atomic_t daemon_stop_requested = 0;

static void
handle_stop(int sig)
{
	daemon_stop_requested = 1;
}


void
daemon_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !daemon_stop_requested)
		;
}

/* Caller holds the lock. */
void
daemon_note_error(RunState *rs, const RvxError *err)
{
	snprintf(rs->last_error, sizeof(rs->last_error), "%s", err->msg);
	rs->last_error_at = rvx_now_s();
	rs->errors_total++;
	rvx_metrics_count_error(err->code);
}

void
daemon_write_status(RunState *rs)
{
	char		path[PATH_MAX];
	json_t	   *o;
	char	   *text;
	RvxError	err;

	pthread_mutex_lock(&rs->lock);
	rs->status_dirty = false;
	o = json_pack("{s:i, s:i, s:s, s:f, s:f, s:s, s:I, s:I, s:I, s:I, s:I, s:b}",
				  "format", 1,
				  "pid", (int) getpid(),
				  "version", RVX_VERSION,
				  "started_at", rs->started_at,
				  "updated_at", rvx_now_s(),
				  "repository", rs->cfg->repo.url,
				  "stored_total", (json_int_t) rs->stored_total,
				  "stored_bytes", (json_int_t) rs->stored_bytes,
				  "errors_total", (json_int_t) rs->errors_total,
				  "backlog_files", (json_int_t) rs->backlog_files,
				  "backlog_bytes", (json_int_t) rs->backlog_bytes,
				  "repository_ok", rs->repo_ok);
	if (o && rs->last_stored[0])
	{
		json_object_set_new(o, "last_stored_wal", json_string(rs->last_stored));
		json_object_set_new(o, "last_stored_at", json_real(rs->last_stored_at));
	}
	if (o && rs->newest_wal[0])
	{
		char		lsn[32];

		snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned int) (rs->newest_wal_end >> 32),
				 (unsigned int) rs->newest_wal_end);
		json_object_set_new(o, "newest_wal", json_string(rs->newest_wal));
		json_object_set_new(o, "newest_wal_end_lsn", json_string(lsn));
		json_object_set_new(o, "newest_wal_written_at", json_real(rs->newest_wal_written_at));
	}
	if (o && rs->last_error[0])
	{
		json_object_set_new(o, "last_error", json_string(rs->last_error));
		json_object_set_new(o, "last_error_at", json_real(rs->last_error_at));
	}
	if (o)
	{
		/* backups in the spool, and what each is doing */
		json_t	   *list = json_array();

		for (size_t i = 0; list && i < rs->nbackups; i++)
		{
			const SpooledBackup *sb = &rs->backups[i];
			const char *state = sb->aborted ? "aborting" :
				sb->waiting_for[0] ? "waiting" : "shipping";
			json_t	   *b = json_pack("{s:s, s:s, s:I}", "id", sb->id, "state", state,
									  "files_left", (json_int_t) sb->files_left);

			if (b && sb->waiting_for[0])
				json_object_set_new(b, "waiting_for", json_string(sb->waiting_for));
			if (b)
				json_array_append_new(list, b);
		}
		if (list)
			json_object_set_new(o, "backups", list);
		json_object_set_new(o, "backups_committed", json_integer((json_int_t) rs->backups_committed));
	}
	pthread_mutex_unlock(&rs->lock);

	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", rs->cfg->spool_dir, RVX_SPOOL_AGENT_FILE);
	if (rvx_write_file_durable(path, text, strlen(text), false, &err) != 0)
		rvx_warn("could not write status: %s", err.msg);
	free(text);
}

/* Backoff with full jitter, which keeps many agents from retrying in step. */
double
daemon_retry_delay_s(int failures)
{
	int			delay = RETRY_MIN_MS << (failures < 7 ? failures - 1 : 6);

	if (delay > RETRY_MAX_MS)
		delay = RETRY_MAX_MS;
	delay = delay / 2 + rand() % (delay / 2 + 1);
	return delay / 1000.0;
}

/* The recovery point moved: metrics now, status/agent.json at the next turn. */
void
daemon_publish_point(RunState *rs)
{
	if (!rvx_wal_progress_point(rs->progress, rs->newest_wal, sizeof(rs->newest_wal),
								&rs->newest_wal_end, &rs->newest_wal_written_at))
		return;
	rvx_metrics_wal_newest(rs->newest_wal_end, rs->newest_wal_written_at);
	rs->status_dirty = true;
}

/* Removes acknowledgements the server never picked up (see spool.h). */
static void
expire_ok_file(const char *waldir, const char *fname, time_t now)
{
	char		path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", waldir, fname);
	if (stat(path, &st) == 0 && now - st.st_mtime > OK_FILE_MAX_AGE_S)
		unlink(path);
}

/* One look at the spool: queue what is new, count the backlog. */
void
daemon_scan_spool(RunState *rs)
{
	char		waldir[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	uint64_t	files = 0,
				bytes = 0;
	double		now = rvx_now_s();
	double		oldest = 0;		/* when the oldest waiting file became ready */
	bool		any = false;

	snprintf(waldir, sizeof(waldir), "%s/%s", rs->cfg->spool_dir, RVX_SPOOL_WAL_DIR);
	d = opendir(waldir);
	if (d == NULL)
		return;					/* the server creates it on its first archive call */

	pthread_mutex_lock(&rs->lock);
	for (size_t i = 0; i < rs->nitems; i++)
		rs->items[i].seen = false;
	while ((de = readdir(d)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		size_t		slen = strlen(RVX_SPOOL_READY_SUFFIX);
		char		name[RVX_WALNAME_MAXLEN + 1];
		char		path[PATH_MAX];
		struct stat st;
		Pending    *p;

		if (len > strlen(RVX_SPOOL_OK_SUFFIX) &&
			strcmp(de->d_name + len - strlen(RVX_SPOOL_OK_SUFFIX), RVX_SPOOL_OK_SUFFIX) == 0)
		{
			expire_ok_file(waldir, de->d_name, (time_t) now);
			continue;
		}
		if (len <= slen || len - slen > RVX_WALNAME_MAXLEN ||
			strcmp(de->d_name + len - slen, RVX_SPOOL_READY_SUFFIX) != 0)
			continue;
		memcpy(name, de->d_name, len - slen);
		name[len - slen] = '\0';
		if (rvx_walname_kind(name) == RVX_WAL_INVALID)
			continue;
		snprintf(path, sizeof(path), "%s/%s", waldir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		files++;
		bytes += (uint64_t) st.st_size;
		{
			/* written once and renamed into place: its mtime is when it became ready */
			double		ready = st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;

			if (oldest == 0 || ready < oldest)
				oldest = ready;
		}

		p = daemon_find_item(rs, name);
		if (p == NULL && (p = daemon_add_item(rs, name)) == NULL)
			continue;
		p->seen = true;
		p->written_at = st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
		if (!p->inflight && !p->queued && p->next_try <= now)
		{
			p->queued = true;
			any = true;
		}
	}
	closedir(d);
	/* forget what left the spool by other means (e.g. the server rewrote it) */
	for (size_t i = 0; i < rs->nitems;)
	{
		if (!rs->items[i].seen && !rs->items[i].inflight)
			daemon_remove_item(rs, &rs->items[i]);
		else
			i++;
	}
	rs->backlog_files = files;
	rs->backlog_bytes = bytes;
	rvx_metrics_set_backlog(files, bytes, oldest);
	if (any)
		pthread_cond_broadcast(&rs->work);
	pthread_mutex_unlock(&rs->lock);
}

/* ---------------------------------------------------------------- backups */

typedef struct Collect
{
	char	  **paths;
	size_t		n;
	size_t		cap;
} Collect;

static int
collect_object(void *arg, const char *relpath)
{
	Collect    *c = arg;

	if (c->n == BACKUP_BATCH)
		return 1;
	if (c->n == c->cap)
	{
		size_t		cap = c->cap ? c->cap * 2 : 64;
		char	  **n = realloc(c->paths, cap * sizeof(char *));

		if (n == NULL)
			return 1;
		c->paths = n;
		c->cap = cap;
	}
	if ((c->paths[c->n] = strdup(relpath)) == NULL)
		return 1;
	c->n++;
	return 0;
}

/* Is a worker shipping this object right now?  Caller holds the lock. */
static bool
object_in_flight(RunState *rs, const char *id, const char *relpath)
{
	size_t		idlen = strlen(id);

	for (int i = 0; i < rs->cfg->parallel; i++)
	{
		const char *cur = rs->workers[i].current;

		if (strncmp(cur, id, idlen) == 0 && cur[idlen] == '/' &&
			strcmp(cur + idlen + 1, relpath) == 0)
			return true;
	}
	return false;
}

/*
 * Decides what backup id needs: queue objects found in its directory, its
 * commit once nothing else is left, or its cleanup once aborted.
 */
static void
look_at_backup(RunState *rs, const char *id, double now)
{
	SpooledBackup *sb;
	Collect		c = {0};
	RvxBackupScan scan;
	RvxError	err;
	bool		tidy = false;
	int			rc;

	pthread_mutex_lock(&rs->lock);
	sb = daemon_find_backup(rs, id);
	if (sb == NULL)
	{
		pthread_mutex_unlock(&rs->lock);
		return;
	}
	if (sb->aborted)
	{
		daemon_drop_queued_objects(rs, sb);
		if (sb->inflight == 0 && !sb->control && sb->next_try <= now)
			daemon_queue_control(rs, JOB_ABORT, sb);
		pthread_mutex_unlock(&rs->lock);
		return;
	}
	if (sb->queued > 0 || sb->control || sb->next_try > now)
	{
		pthread_mutex_unlock(&rs->lock);
		return;
	}
	pthread_mutex_unlock(&rs->lock);

	/* entries only this thread adds or removes: sb stays valid while unlocked */
	rc = rvx_backup_spool_scan(rs->cfg->spool_dir, id, collect_object, &c, &scan, &err);

	pthread_mutex_lock(&rs->lock);
	if (rc != 0)
	{
		rvx_warn("backup %s: %s", id, err.msg);
		daemon_note_error(rs, &err);
		sb->failures++;
		sb->next_try = now + daemon_retry_delay_s(sb->failures);
	}
	else
	{
		for (size_t i = 0; i < c.n; i++)
		{
			BackupJob  *job;

			if (object_in_flight(rs, id, c.paths[i]) ||
				(job = daemon_new_job(JOB_OBJECT, id, c.paths[i])) == NULL)
				continue;
			daemon_push_job(&rs->obj_head, &rs->obj_tail, job);
			sb->queued++;
		}
		sb->files_left = scan.objects;
		if (sb->queued > 0)
			pthread_cond_broadcast(&rs->work);
		else if (scan.objects == 0 && scan.temporary == 0 && sb->inflight == 0)
		{
			if (scan.has_record)
				daemon_queue_control(rs, JOB_COMMIT, sb);
			else if (scan.exists)
				tidy = true;
		}
	}
	pthread_mutex_unlock(&rs->lock);

	if (tidy)
		rvx_backup_spool_tidy(rs->cfg->spool_dir, id);
	for (size_t i = 0; i < c.n; i++)
		free(c.paths[i]);
	free(c.paths);
}

/* One look at <spool>/backup: which backups are there, and which were aborted. */
void
daemon_scan_backups(RunState *rs)
{
	char		dir[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	char	  (*ids)[RVX_BACKUP_ID_MAXLEN + 1] = NULL;
	bool	   *aborted = NULL;
	size_t		n = 0,
				cap = 0;
	double		now = rvx_now_s();

	snprintf(dir, sizeof(dir), "%s/%s", rs->cfg->spool_dir, RVX_SPOOL_BACKUP_DIR);
	d = opendir(dir);
	if (d == NULL)
		return;					/* the server creates it with its first backup */
	while ((de = readdir(d)) != NULL)
	{
		char		id[RVX_BACKUP_ID_MAXLEN + 1];
		size_t		len = strlen(de->d_name);
		size_t		slen = strlen(RVX_SPOOL_ABORTED_SUFFIX);
		bool		is_abort = false;

		if (len > slen && len - slen <= RVX_BACKUP_ID_MAXLEN &&
			strcmp(de->d_name + len - slen, RVX_SPOOL_ABORTED_SUFFIX) == 0)
		{
			memcpy(id, de->d_name, len - slen);
			id[len - slen] = '\0';
			is_abort = true;
		}
		else if (len <= RVX_BACKUP_ID_MAXLEN &&
				 (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN))
			snprintf(id, sizeof(id), "%s", de->d_name);
		else
			continue;
		if (!rvx_backup_id_valid(id))
			continue;
		if (!is_abort && de->d_type == DT_UNKNOWN)
		{
			struct stat st;

			if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISDIR(st.st_mode))
				continue;
		}
		/* a backup may have both its directory and its marker */
		for (size_t i = 0; i < n; i++)
			if (strcmp(ids[i], id) == 0)
			{
				aborted[i] = aborted[i] || is_abort;
				id[0] = '\0';
				break;
			}
		if (id[0] == '\0')
			continue;
		if (n == cap)
		{
			size_t		ncap = cap ? cap * 2 : 8;
			void	   *a = realloc(ids, ncap * sizeof(*ids));
			void	   *b = a ? realloc(aborted, ncap * sizeof(bool)) : NULL;

			if (a)
				ids = a;
			if (b == NULL)
				break;
			aborted = b;
			cap = ncap;
		}
		snprintf(ids[n], sizeof(ids[n]), "%s", id);
		aborted[n++] = is_abort;
	}
	closedir(d);

	pthread_mutex_lock(&rs->lock);
	for (size_t i = 0; i < rs->nbackups; i++)
		rs->backups[i].seen = false;
	for (size_t i = 0; i < n; i++)
	{
		SpooledBackup *sb = daemon_find_backup(rs, ids[i]);

		if (sb == NULL && (sb = daemon_add_backup(rs, ids[i])) == NULL)
			continue;
		sb->seen = true;
		if (aborted[i] && !sb->aborted)
		{
			sb->aborted = true;
			sb->next_try = 0;
			rvx_info("backup %s was aborted by the server: removing it", sb->id);
		}
	}
	/* forget backups that are gone, once no worker holds them */
	for (size_t i = 0; i < rs->nbackups;)
	{
		SpooledBackup *sb = &rs->backups[i];

		if (!sb->seen && sb->inflight == 0 && !sb->control)
		{
			daemon_drop_queued_objects(rs, sb);
			memmove(sb, sb + 1, (rs->nbackups - i - 1) * sizeof(SpooledBackup));
			rs->nbackups--;
		}
		else
			i++;
	}
	pthread_mutex_unlock(&rs->lock);

	for (size_t i = 0; i < n; i++)
		look_at_backup(rs, ids[i], now);
	free(ids);
	free(aborted);
}

/* Marks every spooled object with err, so the server reports it. */
void
daemon_report_to_spool(RunState *rs, const RvxError *err)
{
	char		waldir[PATH_MAX];
	DIR		   *d;
	struct dirent *de;

	snprintf(waldir, sizeof(waldir), "%s/%s", rs->cfg->spool_dir, RVX_SPOOL_WAL_DIR);
	d = opendir(waldir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		size_t		slen = strlen(RVX_SPOOL_READY_SUFFIX);
		char		name[RVX_WALNAME_MAXLEN + 1];

		if (len <= slen || len - slen > RVX_WALNAME_MAXLEN ||
			strcmp(de->d_name + len - slen, RVX_SPOOL_READY_SUFFIX) != 0)
			continue;
		memcpy(name, de->d_name, len - slen);
		name[len - slen] = '\0';
		rvx_ship_record_error(rs->cfg->spool_dir, name, err);
	}
	closedir(d);
}

/*
 * Waits until the spool names its cluster and the repository accepts it.
 * Returns false only when asked to stop.
 */
bool
daemon_bind_repository(RunState *rs)
{
	int			delay = 1000;
	char		last[1024] = "";

	while (!daemon_stop_requested)
	{
		RvxError	err;
		RvxRepo    *repo;
		int			rc = -1;

		rvx_error_clear(&err);
		if (rvx_cluster_info_read_spool(rs->cfg->spool_dir, &rs->cluster, &err) == 0)
		{
			repo = rvx_repo_open(&rs->cfg->repo, &err);
			if (repo)
			{
				rc = rvx_repo_meta_bind(repo, &rs->cluster, &err);
				rvx_repo_close(repo);
			}
		}
		if (rc == 0)
		{
			pthread_mutex_lock(&rs->lock);
			rs->repo_ok = true;
			pthread_mutex_unlock(&rs->lock);
			rvx_info("repository %s is bound to cluster %" PRIu64, rs->cfg->repo.url,
					 rs->cluster.system_id);
			return true;
		}
		if (strcmp(last, err.msg) != 0)
		{
			if (err.code == RVX_E_NOTFOUND)
				rvx_info("waiting: %s", err.msg);
			else
				rvx_err("%s", err.msg);
			snprintf(last, sizeof(last), "%s", err.msg);
		}
		pthread_mutex_lock(&rs->lock);
		if (err.code != RVX_E_NOTFOUND)
			daemon_note_error(rs, &err);
		rs->repo_ok = false;
		pthread_mutex_unlock(&rs->lock);
		if (err.code != RVX_E_NOTFOUND)
			daemon_report_to_spool(rs, &err);
		daemon_write_status(rs);
		rvx_metrics_heartbeat();
		daemon_sleep_ms(delay);
		if (err.code != RVX_E_NOTFOUND && delay < 30000)
			delay *= 2;
	}
	return false;
}

/*
 * With REVRX_S3_OBJECT_LOCK_DAYS set, every audit record is stored with
 * Object Lock headers, which a bucket without Object Lock refuses: then no
 * backup could be recorded.  An audit record of the agent's start proves
 * it can; a refusal stops the agent, naming the setting.  A repository
 * that does not answer yet is no proof either way: run goes on.
 */
bool
daemon_check_object_lock(RunState *rs)
{
	RvxRepo    *repo;
	RvxError	err;
	RvxAuditEvent ev = {.action = "start", .ok = true};
	int			rc;

	rvx_error_clear(&err);
	repo = rvx_repo_open(&rs->cfg->repo, &err);
	rc = repo ? rvx_audit_write(repo, rs->cluster.system_id, &ev, &err) : -1;
	if (repo)
		rvx_repo_close(repo);
	if (rc == 0)
		return true;
	if (rvx_error_transient(&err))
	{
		rvx_warn("could not check that audit records can be stored with REVRX_S3_OBJECT_LOCK_DAYS=%d: %s",
				 rs->cfg->repo.s3_object_lock_days, err.msg);
		return true;
	}
	rvx_err("REVRX_S3_OBJECT_LOCK_DAYS=%d, but %s refuses an audit record with Object Lock: %s "
			"(enable Object Lock on the bucket, or set REVRX_S3_OBJECT_LOCK_DAYS=0)",
			rs->cfg->repo.s3_object_lock_days, rs->cfg->repo.url, err.msg);
	return false;
}

int
rvx_cmd_run(int argc, char **argv, RvxConfig *cfg)
{
	RunState	rs;
	Worker	   *workers;
	pthread_t	expire_thread;
	RvxExpireLoop expire;
	struct sigaction sa;
	char		statusdir[PATH_MAX];
	double		last_status = 0;
	RvxHttpServer *http = NULL;

	if (argc > 1)
	{
		fprintf(stderr, "revrx-agent run: unexpected argument \"%s\"\n", argv[1]);
		return RVX_E_USAGE;
	}
	memset(&rs, 0, sizeof(rs));
	rs.cfg = cfg;
	rs.started_at = rvx_now_s();
	rs.catalog_period = cfg->catalog_refresh_s;	/* REVRX_CATALOG_REFRESH_S, checked by config.c */
	rvx_ship_backup_set_audit_bound(cfg->audit_pending_after_s);
	pthread_mutex_init(&rs.lock, NULL);
	pthread_cond_init(&rs.work, NULL);
	srand((unsigned) getpid() ^ (unsigned) time(NULL));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(statusdir, sizeof(statusdir), "%s/%s", cfg->spool_dir, RVX_SPOOL_STATUS_DIR);
	if (mkdir(statusdir, 0750) != 0 && errno != EEXIST)
	{
		rvx_err("could not create \"%s\": %s (is REVRX_SPOOL=%s the server's revrx.spool_dir?)",
				statusdir, strerror(errno), cfg->spool_dir);
		return RVX_E_CONFIG;
	}
	rvx_info("starting: spool %s, repository %s, %d transfers at once%s%s",
			 cfg->spool_dir, cfg->repo.url, cfg->parallel,
			 cfg->repo.credentials ? ", S3 credentials from " : "",
			 cfg->repo.credentials ? rvx_credentials_describe(cfg->repo.credentials) : "");

	/* the endpoint comes up first, so a probe sees the agent waiting for its repository */
	rvx_metrics_heartbeat();
	if (cfg->listen)
	{
		RvxError	err;

		if ((http = rvx_http_server_start(cfg, &err)) == NULL)
		{
			rvx_err("%s", err.msg);
			return err.code;
		}
	}

	/* (an early return below ends the process, and the endpoint with it) */
	if (!daemon_bind_repository(&rs))
		return 0;
	if (cfg->repo.s3_object_lock_days > 0 && !daemon_check_object_lock(&rs))
		return RVX_E_CONFIG;
	rs.catalog = rvx_catalog_new(cfg->spool_dir, rs.cluster.system_id);
	rs.progress = rvx_wal_progress_new(rs.cluster.wal_segment_size);
	if (rs.catalog == NULL || rs.progress == NULL)
	{
		rvx_err("out of memory");
		return RVX_E_INTERNAL;
	}

	workers = calloc((size_t) cfg->parallel, sizeof(Worker));
	if (workers == NULL)
	{
		rvx_err("out of memory");
		return RVX_E_INTERNAL;
	}
	rs.workers = workers;
	for (int i = 0; i < cfg->parallel; i++)
	{
		workers[i].rs = &rs;
		workers[i].id = i;
		pthread_create(&workers[i].thread, NULL, daemon_worker_main, &workers[i]);
	}
	expire = (RvxExpireLoop) {.cfg = cfg, .catalog = rs.catalog, .stop = &daemon_stop_requested};
	if (cfg->expire_interval_s > 0)
		pthread_create(&expire_thread, NULL, rvx_expire_loop, &expire);

	while (!daemon_stop_requested)
	{
		double		now;
		bool		dirty;

		rvx_metrics_heartbeat();
		daemon_scan_spool(&rs);
		daemon_scan_backups(&rs);
		now = rvx_now_s();
		pthread_mutex_lock(&rs.lock);
		if (!rs.catalog_queued && now - rs.last_catalog >= rs.catalog_period)
			daemon_queue_control(&rs, JOB_CATALOG, NULL);
		else if (!rs.catalog_queued && !rs.drills_queued && now - rs.last_drills >= DRILLS_PERIOD_S)
			daemon_queue_drills(&rs);
		pthread_mutex_unlock(&rs.lock);
		/* documents are not urgent: look for them once a second, not every poll */
		if (!rs.meta_queued && now >= rs.meta_next_try && rvx_meta_pending(cfg->spool_dir))
		{
			pthread_mutex_lock(&rs.lock);
			daemon_queue_control(&rs, JOB_META, NULL);
			pthread_mutex_unlock(&rs.lock);
		}
		else if (!rs.meta_queued && now >= rs.meta_next_try)
			rs.meta_next_try = now + META_LOOK_S;
		/* backups acknowledged without their audit record: keep trying (ship_backup.h) */
		if (!rs.audit_queued && now >= rs.audit_next_try)
		{
			int			pending = rvx_ship_backup_audit_pending(cfg->spool_dir);

			rvx_metrics_audit_pending(pending);
			pthread_mutex_lock(&rs.lock);
			if (pending > 0)
				daemon_queue_control(&rs, JOB_AUDIT, NULL);
			else
				rs.audit_next_try = now + AUDIT_LOOK_S;
			pthread_mutex_unlock(&rs.lock);
		}
		/* the recovery point moved: revrx_status() should see it now, not in a second */
		pthread_mutex_lock(&rs.lock);
		dirty = rs.status_dirty;
		pthread_mutex_unlock(&rs.lock);
		if ((now - last_status) * 1000 >= STATUS_PERIOD_MS || dirty)
		{
			daemon_write_status(&rs);
			last_status = now;
		}
		daemon_sleep_ms(cfg->poll_ms);
	}

	rvx_info("stopping: waiting for transfers in progress");
	pthread_mutex_lock(&rs.lock);
	pthread_cond_broadcast(&rs.work);
	pthread_mutex_unlock(&rs.lock);
	for (int i = 0; i < cfg->parallel; i++)
		pthread_join(workers[i].thread, NULL);
	if (cfg->expire_interval_s > 0)
		pthread_join(expire_thread, NULL);
	daemon_write_status(&rs);
	free(workers);
	free(rs.items);
	while (rs.obj_head)
		free(daemon_pop_job(&rs.obj_head, &rs.obj_tail));
	while (rs.ctl_head)
		free(daemon_pop_job(&rs.ctl_head, &rs.ctl_tail));
	free(rs.backups);
	rvx_catalog_free(rs.catalog);
	rvx_wal_progress_free(rs.progress);
	rvx_http_server_stop(http);
	rvx_info("stopped");
	return 0;
}
