/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  A worker thread of `revrx-agent run`: takes the next job from the
 *	  queue (queue.c) and does it with its own repository connection: ship
 *	  a WAL file (ship.c), an object, the commit or the cleanup of a backup
 *	  (ship_backup.c), the documents of meta/, pending audit records, or a
 *	  refresh of the catalog or of the drills (catalog.h).
 *
 * The lock is dropped for the work itself, so workers transfer in
 * parallel and the main thread keeps scanning; what a job changes in
 * RunState is written back under the lock when it is done.  A failure
 * only delays its item (backoff, then the next look at the spool finds it
 * again): shipping identical content twice is a no-op, so nothing here has
 * to be undone.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "daemon/daemon_int.h"
#include "info/catalog.h"
#include "info/fetch.h"
#include "info/wal_partial.h"
#include "ship/ship.h"
#include "ship/ship_backup.h"
#include "ship/ship_meta.h"
#include "spool.h"
#include "walname.h"

static RvxRepo *
worker_repo(Worker *w, RvxError *err)
{
	if (w->repo == NULL)
		w->repo = rvx_repo_open(&w->rs->cfg->repo, err);
	return w->repo;
}

/* After a network error the connection may be bad: reconnect next time. */
static void
worker_repo_failed(Worker *w, const RvxError *err)
{
	if (err->code == RVX_E_NETWORK)
	{
		rvx_repo_close(w->repo);
		w->repo = NULL;
	}
}

/*
 * Whether a WAL item in the spool, not stored yet, leaves a gap before
 * stored, a WAL file just stored (rvx_wal_progress_blocks).  Called with
 * the lock held.
 */
static bool
earlier_wal_pending(RunState *rs, const char *stored)
{
	for (size_t i = 0; i < rs->nitems; i++)
		if (strcmp(rs->items[i].name, stored) != 0 &&
			rvx_wal_progress_blocks(rs->progress, rs->items[i].name, stored))
			return true;
	return false;
}

/* Whether some WAL of segment waits in the spool.  Called with the lock held. */
static bool
segment_pending(RunState *rs, const char *segment)
{
	for (size_t i = 0; i < rs->nitems; i++)
		if (strncmp(rs->items[i].name, segment, RVX_WALNAME_SEGLEN) == 0)
			return true;
	return false;
}

/*
 * WAL file name is stored: move the recovery point (wal_progress.h).
 * Before the agent has a recovery point (it started in the middle of the
 * WAL), it needs an anchor: whether the segment before the one stored is
 * stored complete.  Asked once per segment, and only while no earlier WAL
 * waits in the spool (in flight in another worker, or not taken yet): its
 * store will tell, and an answer about the segment before says nothing
 * about one still on its way before that.  Called and returns with the
 * lock held; unlocks for the question.
 */
static void
note_stored(Worker *w, const char *name, double written_at)
{
	RunState   *rs = w->rs;
	char		prev[RVX_WALNAME_MAXLEN + 1];

	if (rvx_wal_progress_stored(rs->progress, name, written_at))
		daemon_publish_point(rs);
	else if (!earlier_wal_pending(rs, name) &&
			 rvx_wal_progress_needs_base(rs->progress, name, prev, sizeof(prev)) &&
			 !segment_pending(rs, prev))
	{
		char		key[256];
		RvxObjectInfo info;
		RvxError	err;
		int			found;

		pthread_mutex_unlock(&rs->lock);
		rvx_error_clear(&err);
		found = rvx_wal_find(w->repo, prev, RVX_COMPRESS_ZSTD, key, sizeof(key), &info, &err);
		if (found < 0)
			rvx_debug("could not look for \"%s\": %s", prev, err.msg);
		pthread_mutex_lock(&rs->lock);
		if (found == 1 && rvx_wal_progress_base(rs->progress, name, true))
			daemon_publish_point(rs);
	}
}

/*
 * Removes the streamed partials of segment from the repository: its
 * complete copy is stored.  Called with the lock held; unlocks for the
 * requests.
 */
static void
remove_superseded(Worker *w, const char *segment)
{
	RvxError	err;
	int			removed = 0;

	pthread_mutex_unlock(&w->rs->lock);
	rvx_error_clear(&err);
	if (rvx_partial_remove_superseded(w->repo, segment, NULL, &removed, &err) != 0)
		rvx_warn("could not remove the partials of \"%s\": %s", segment, err.msg);
	else if (removed > 0)
		rvx_debug("removed %d partial(s) of \"%s\" stored beside it", removed, segment);
	pthread_mutex_lock(&w->rs->lock);
}

/*
 * Ships one WAL item.  Called and returns with the lock held.
 *
 * A complete segment and a partial of it can be in flight at once, in two
 * workers: the segment's store removes the partials it finds, and one
 * stored just after that would stay beside it (never read, but kept until
 * expire).  Each side looks at the other under the lock once its own store
 * is done: the partial's worker removes it if the segment is known stored
 * by then; otherwise the segment's worker sees that a partial was stored
 * while it was in flight, and removes the partials again, after the fact.
 */
static void
run_wal(Worker *w, Pending *p)
{
	RunState   *rs = w->rs;
	char		name[RVX_WALNAME_MAXLEN + 1];
	RvxStoreResult res;
	RvxError	err;
	RvxRepo    *repo;
	int			rc;
	double		written_at = p->written_at;
	int			flags = 0;
	RvxWalKind	kind = rvx_walname_kind(p->name);
	size_t		partials_before = 0;
	bool		raced = false;

	p->inflight = true;
	p->queued = false;
	snprintf(name, sizeof(name), "%s", p->name);
	/* a streamed partial: whether this agent stored its segment complete */
	if (kind == RVX_WAL_STREAMED)
		flags = rvx_wal_progress_stored_complete(rs->progress, name) ?
			RVX_SHIP_SEGMENT_STORED : RVX_SHIP_SEGMENT_NOT_KNOWN;
	else if (kind == RVX_WAL_SEGMENT)
		partials_before = rvx_wal_progress_partials_stored(rs->progress, name);
	pthread_mutex_unlock(&rs->lock);

	rvx_error_clear(&err);
	repo = worker_repo(w, &err);
	rc = repo ? rvx_ship_wal_flags(repo, rs->cfg->spool_dir, name, &rs->cluster, flags, &res,
								   &err) : -1;
	if (rc == 0)
		rvx_debug("stored \"%s\" (%" PRIu64 " bytes)", name, res.stored_bytes);
	else if (err.code != RVX_E_NOTFOUND)
	{
		rvx_warn("could not ship \"%s\": %s", name, err.msg);
		rvx_ship_record_error(rs->cfg->spool_dir, name, &err);
	}

	pthread_mutex_lock(&rs->lock);
	p = daemon_find_item(rs, name);
	if (rc == 0)
	{
		/* segments store in parallel: report the newest one */
		if (rvx_walname_kind(name) == RVX_WAL_SEGMENT &&
			strcmp(name, rs->last_stored) > 0)
			snprintf(rs->last_stored, sizeof(rs->last_stored), "%s", name);
		/* last_stored_at goes with last_stored: partials have their own */
		if (rvx_walname_kind(name) != RVX_WAL_STREAMED)
			rs->last_stored_at = rvx_now_s();
		if (rvx_walname_kind(name) == RVX_WAL_SEGMENT)
			rvx_metrics_wal_stored(name, rs->last_stored_at);
		/* before note_stored: what the other side did is judged in one go */
		if (kind == RVX_WAL_SEGMENT &&
			rvx_wal_progress_partials_stored(rs->progress, name) > partials_before)
			raced = true;
		else if (flags == RVX_SHIP_SEGMENT_NOT_KNOWN && !res.already_stored &&
				 rvx_wal_progress_segment_stored(rs->progress, name))
			raced = true;
		note_stored(w, name, written_at);
		if (raced)
		{
			char		segment[RVX_WALNAME_SEGLEN + 1];

			snprintf(segment, sizeof(segment), "%.*s", RVX_WALNAME_SEGLEN, name);
			remove_superseded(w, segment);
		}
		p = daemon_find_item(rs, name);	/* the lock was dropped in between */
		rs->stored_total++;
		rs->stored_bytes += res.stored_bytes;
		rs->repo_ok = true;
		if (p)
			daemon_remove_item(rs, p);
		/* a backup waiting for this segment need not wait for its next check */
		for (size_t i = 0; i < rs->nbackups; i++)
			if (rs->backups[i].waiting_for[0])
				rs->backups[i].next_try = 0;
	}
	else if (err.code == RVX_E_NOTFOUND)
	{
		/* the server replaced or the agent already removed it */
		if (p)
			daemon_remove_item(rs, p);
	}
	else
	{
		daemon_note_error(rs, &err);
		if (err.code == RVX_E_NETWORK || err.code == RVX_E_AUTH)
			rs->repo_ok = false;
		if (p)
		{
			p->inflight = false;
			p->failures++;
			p->next_try = rvx_now_s() + daemon_retry_delay_s(p->failures);
		}
		worker_repo_failed(w, &err);
	}
}

/* Does one backup job.  Called and returns with the lock held; frees job. */
static void
run_backup_job(Worker *w, BackupJob *job)
{
	RunState   *rs = w->rs;
	const char *spool = rs->cfg->spool_dir;
	SpooledBackup *sb = daemon_find_backup(rs, job->id);
	RvxStoreResult res = {0};
	RvxBackupCommit commit = {0};
	RvxError	err;
	RvxRepo    *repo;
	int			rc = -1;

	if (sb)
	{
		sb->inflight++;
		if (job->kind == JOB_OBJECT)
			sb->queued--;
	}
	if (job->kind == JOB_OBJECT)
		snprintf(w->current, sizeof(w->current), "%s/%s", job->id, job->relpath);
	pthread_mutex_unlock(&rs->lock);

	rvx_error_clear(&err);
	repo = worker_repo(w, &err);
	if (repo)
	{
		switch (job->kind)
		{
			case JOB_OBJECT:
				rc = rvx_ship_backup_object(repo, spool, job->id, job->relpath, &rs->cluster,
											&res, &err);
				if (rc == 0)
					rvx_debug("stored \"%s\" of backup %s (%" PRIu64 " bytes)", job->relpath,
							  job->id, res.stored_bytes);
				break;
			case JOB_COMMIT:
				rc = rvx_ship_backup_commit(repo, spool, job->id, &rs->cluster, rs->catalog,
											&commit, &err);
				if (rc == 0 && commit.committed)
					rvx_info("backup %s is complete in %s%s", job->id, repo->display,
							 commit.audit_pending ? " (its audit record is pending)" : "");
				if (rc == 0 && commit.audit_pending)
					rvx_metrics_audit_pending(rvx_ship_backup_audit_pending(spool));
				break;
			case JOB_ABORT:
				rc = rvx_ship_backup_abort(repo, spool, job->id, &rs->cluster, &err);
				if (rc == 0)
					rvx_info("aborted backup %s is cleaned up", job->id);
				break;
			case JOB_CATALOG:
				rc = rs->catalog ? rvx_catalog_refresh(rs->catalog, repo, &err) : 0;
				break;
			case JOB_META:
				{
					int			stored = 0;

					rc = rvx_ship_meta(repo, spool, &rs->cluster, &stored, &err);
				}
				break;
			case JOB_AUDIT:
				{
					int			left = 0;

					rc = rvx_ship_backup_audit_retry(repo, spool, &rs->cluster, &left, &err);
					rvx_metrics_audit_pending(rvx_ship_backup_audit_pending(spool));
				}
				break;
			case JOB_DRILLS:
				rc = rs->catalog ? rvx_catalog_refresh_drills(rs->catalog, repo, DRILLS_BACKUPS, &err) : 0;
				break;
			case JOB_NONE:
			case JOB_WAL:
				break;
		}
	}
	if (rc != 0 && err.code != RVX_E_NOTFOUND)
	{
		if (job->kind == JOB_CATALOG || job->kind == JOB_DRILLS)
			rvx_warn("could not publish the backup catalog: %s", err.msg);
		else if (job->kind == JOB_META)
			rvx_warn("could not store a document of the spool's meta/: %s", err.msg);
		else if (job->kind == JOB_AUDIT)
			rvx_err("AUDIT FAILURE: %s", err.msg);
		else
			rvx_warn("backup %s: %s", job->id, err.msg);
		/*
		 * Tell the server: a permanent error fails the backup there (it then
		 * aborts it, and we clean up); a transient one is shown meanwhile.
		 */
		if (job->kind != JOB_CATALOG && job->kind != JOB_META && job->kind != JOB_DRILLS &&
			job->kind != JOB_AUDIT)
			rvx_ship_backup_record_error(spool, job->id, &err);
	}

	pthread_mutex_lock(&rs->lock);
	w->current[0] = '\0';
	if (job->kind == JOB_OBJECT)
		rs->backup_busy--;
	if (job->kind == JOB_DRILLS)
	{
		rs->drills_queued = false;
		rs->last_drills = rvx_now_s();
	}
	if (job->kind == JOB_CATALOG)
	{
		rs->catalog_queued = false;
		rs->last_drills = rvx_now_s();	/* it looked for drills too */
		/* after a failure, try again soon rather than in a full period */
		if (rc == 0)
			rs->last_catalog = rvx_now_s();
		else if (rs->catalog_period > CATALOG_RETRY_S)
			rs->last_catalog = rvx_now_s() - (rs->catalog_period - CATALOG_RETRY_S);
		else
			rs->last_catalog = rvx_now_s();
	}
	if (job->kind == JOB_AUDIT)
	{
		rs->audit_queued = false;
		rs->audit_next_try = rvx_now_s() + (rc == 0 ? AUDIT_LOOK_S : AUDIT_RETRY_S);
	}
	if (job->kind == JOB_META)
	{
		rs->meta_queued = false;
		rs->meta_next_try = rvx_now_s() + (rc == 0 ? META_LOOK_S : META_RETRY_S);
	}
	sb = daemon_find_backup(rs, job->id);
	if (sb)
	{
		sb->inflight--;
		if (job->kind == JOB_COMMIT || job->kind == JOB_ABORT)
			sb->control = false;
	}
	if (rc == 0)
	{
		rs->repo_ok = true;
		if (job->kind == JOB_OBJECT)
		{
			rs->stored_total++;
			rs->stored_bytes += res.stored_bytes;
		}
		if (sb && sb->failures > 0)
		{
			char		path[PATH_MAX];

			/* the trouble is over: withdraw what we told the server */
			snprintf(path, sizeof(path), "%s/%s/%s%s", spool, RVX_SPOOL_BACKUP_DIR, sb->id,
					 RVX_SPOOL_ERROR_SUFFIX);
			(void) unlink(path);
			sb->failures = 0;
		}
		if (job->kind == JOB_COMMIT && commit.committed)
		{
			rs->backups_committed++;
			rs->stored_bytes += commit.stored_bytes;
		}
		else if (job->kind == JOB_COMMIT && sb)
		{
			/* not yet: usually the last WAL segment is on its way */
			if (strcmp(sb->waiting_for, commit.waiting_for) != 0)
				rvx_info("backup %s is complete in the spool and waits for %s to be in the repository",
						 sb->id, commit.waiting_for);
			snprintf(sb->waiting_for, sizeof(sb->waiting_for), "%s", commit.waiting_for);
			sb->next_try = rvx_now_s() + COMMIT_WAIT_MS / 1000.0;
		}
	}
	else if (err.code == RVX_E_NOTFOUND && job->kind == JOB_OBJECT)
	{
		/* shipped by someone else, or removed by an abort */
	}
	else
	{
		daemon_note_error(rs, &err);
		if (err.code == RVX_E_NETWORK || err.code == RVX_E_AUTH)
			rs->repo_ok = false;
		if (sb)
		{
			/*
			 * Back off for the whole backup, and let its other queued objects
			 * go: whatever failed (the repository, usually) would fail them
			 * too, and the next look at the spool finds them again.
			 */
			sb->failures++;
			sb->next_try = rvx_now_s() + daemon_retry_delay_s(sb->failures);
			daemon_drop_queued_objects(rs, sb);
		}
		worker_repo_failed(w, &err);
	}
	free(job);
}

void *
daemon_worker_main(void *arg)
{
	Worker	   *w = arg;
	RunState   *rs = w->rs;

	pthread_mutex_lock(&rs->lock);
	while (!daemon_stop_requested)
	{
		Pending    *p = NULL;
		BackupJob  *job = NULL;

		switch (daemon_pick_job(rs, &p, &job))
		{
			case JOB_NONE:
				{
					struct timespec ts;
					struct timeval tv;

					gettimeofday(&tv, NULL);
					ts.tv_sec = tv.tv_sec + 1;
					ts.tv_nsec = tv.tv_usec * 1000L;
					pthread_cond_timedwait(&rs->work, &rs->lock, &ts);
					break;
				}
			case JOB_WAL:
				run_wal(w, p);
				break;
			default:
				run_backup_job(w, job);
				break;
		}
	}
	pthread_mutex_unlock(&rs->lock);
	rvx_repo_close(w->repo);
	w->repo = NULL;
	return NULL;
}
