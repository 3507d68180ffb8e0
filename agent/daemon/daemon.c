/*-------------------------------------------------------------------------
 *
 * daemon.c
 *	  The sidecar daemon of `revrx-agent run`: ships the spool.
 *
 * The main thread owns the schedule: it binds the repository to the
 * cluster (bind.c), then every REVRX_POLL_INTERVAL_MS looks at the spool
 * (spool_scan.c) for WAL the server has spooled, backups and documents,
 * queues the work it finds (queue.c), and publishes status/agent.json for
 * revrx_status() (status.c).  REVRX_PARALLEL worker threads (worker.c),
 * each with its own repository connection, take the jobs oldest first,
 * retry failures with backoff, and do the per-object work in ship.c and
 * ship_backup.c.  The server spools ahead of the segment it is waiting for
 * (revrx.archive_lookahead), so the workers usually store a segment
 * before Postgres asks for it.
 *
 * WAL comes first, because the archiver may be waiting for it, but
 * neither WAL nor backups can starve the other (the policy is in
 * schedule.h).  The commit of a backup (its record, backup.json) and the
 * cleanup of an aborted one are queued as single jobs once nothing else of
 * that backup is queued or in flight.  status/backups.json, the catalog
 * of complete backups, is published at start, by each commit, and every
 * REVRX_CATALOG_REFRESH_S seconds (default 300); each refresh also
 * publishes the newest restore drills in status/verifications.json
 * (catalog.h), and every DRILLS_PERIOD_S in between a cheap look below the
 * newest backups' verify/ prefixes brings a new drill in within seconds.
 *
 * Every REVRX_EXPIRE_INTERVAL_S (0: never) a thread of its own applies the
 * retention settings (rvx_expire_loop, expire.h), so that deleting never
 * holds up WAL shipping, and republishes the catalog when it is done.
 *
 * Nothing here needs to survive a crash: the spool is the state.  Killed
 * at any instant and started again, the agent finds the same .rvx files
 * and ships them again, and shipping identical content is a no-op.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "daemon/http_server.h"
#include "info/catalog.h"
#include "retention/expire.h"
#include "ship/ship_backup.h"
#include "spool.h"
#include "storage/credentials.h"

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

int
rvx_daemon_run(RvxConfig *cfg)
{
	RunState	rs;
	Worker	   *workers;
	pthread_t	expire_thread;
	RvxExpireLoop expire;
	struct sigaction sa;
	char		statusdir[PATH_MAX];
	double		last_status = 0;
	RvxHttpServer *http = NULL;

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
		daemon_queue_refresh(&rs, now);
		pthread_mutex_unlock(&rs.lock);
		daemon_scan_documents(&rs, now);
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
