/*-------------------------------------------------------------------------
 *
 * bind.c
 *	  What `revrx-agent run` checks before it ships anything: that the
 *	  repository belongs to the spool's cluster (repo_meta.h), and, with
 *	  REVRX_S3_OBJECT_LOCK_DAYS set, that the bucket accepts audit records
 *	  with Object Lock.
 *
 * Shipping to a repository bound to another cluster would mix two
 * clusters' WAL, so nothing starts before the binding holds; while it
 * waits, the reason is in status/agent.json and on every spooled WAL
 * file, where the server shows it.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "daemon/daemon_int.h"
#include "info/audit.h"
#include "info/repo_meta.h"

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
