/*-------------------------------------------------------------------------
 *
 * spool_scan.c
 *	  The main thread's looks at the spool (spool.h): which WAL files
 *	  wait in <spool>/wal, which backups in <spool>/backup, and what each
 *	  backup needs next (objects to ship, its commit, or its cleanup).
 *
 * A look only queues work (queue.c); workers do it.  The walk of a
 * backup's directory, the long part, runs without the lock, so it does
 * not hold up the workers.  A backup directory is
 * looked at again only when none of its objects is queued, and a look
 * queues at most BACKUP_BATCH objects, so the queue (the agent's memory)
 * stays small whatever the size of the database.  Acknowledgements the
 * server never picked up are removed here too.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "daemon/daemon_int.h"
#include "ship/ship_backup.h"
#include "ship/ship_meta.h"
#include "spool.h"
#include "walname.h"

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

/*
 * Queues the documents of <spool>/meta and the audit records of backups
 * acknowledged without one (ship_backup.h), when the spool has some.
 * Neither is urgent: each is looked for at most every META_LOOK_S or
 * AUDIT_LOOK_S, not at every poll; audit records are tried until stored.
 * Only the main thread sets meta_queued and audit_queued, and a worker
 * clears one only when its job is done: read without the lock, a stale
 * value only delays a look by one poll.
 */
void
daemon_scan_documents(RunState *rs, double now)
{
	const char *spool = rs->cfg->spool_dir;

	if (!rs->meta_queued && now >= rs->meta_next_try && rvx_meta_pending(spool))
	{
		pthread_mutex_lock(&rs->lock);
		daemon_queue_control(rs, JOB_META, NULL);
		pthread_mutex_unlock(&rs->lock);
	}
	else if (!rs->meta_queued && now >= rs->meta_next_try)
		rs->meta_next_try = now + META_LOOK_S;
	if (!rs->audit_queued && now >= rs->audit_next_try)
	{
		int			pending = rvx_ship_backup_audit_pending(spool);

		rvx_metrics_audit_pending(pending);
		pthread_mutex_lock(&rs->lock);
		if (pending > 0)
			daemon_queue_control(rs, JOB_AUDIT, NULL);
		else
			rs->audit_next_try = now + AUDIT_LOOK_S;
		pthread_mutex_unlock(&rs->lock);
	}
}
