/*-------------------------------------------------------------------------
 *
 * status.c
 *	  What the daemon tells the server: status/agent.json, which
 *	  revrx_status() reads (heartbeat, stored WAL, the recovery point,
 *	  backlog, errors, backups in the spool), and an error marked on every
 *	  spooled WAL file while the repository refuses the cluster.
 *
 * The status file is written under a temporary name and renamed into
 * place: the server must never read half of one.  It is a report, not
 * state, so it is not fsynced: losing it in a crash loses nothing, the
 * next write (every second) replaces it.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/log.h"
#include "base/metrics.h"
#include "daemon/daemon_int.h"
#include "ship/ship.h"
#include "spool.h"
#include "walname.h"

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
