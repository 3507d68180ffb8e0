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

#include "commands.h"
#include "log.h"
#include "repo_meta.h"
#include "ship.h"
#include "spool.h"
#include "walname.h"

/* An acknowledgement nobody picked up is removed after this long. */
#define OK_FILE_MAX_AGE_S	900
/* Backoff for an object whose shipping failed. */
#define RETRY_MIN_MS		500
#define RETRY_MAX_MS		30000
/* How often status/agent.json is rewritten. */
#define STATUS_PERIOD_MS	1000

typedef struct Pending
{
	char		name[RVX_WALNAME_MAXLEN + 1];
	bool		inflight;		/* a worker has it */
	bool		queued;			/* waiting for a worker */
	bool		seen;			/* still in the spool at the last scan */
	int			failures;
	double		next_try;		/* not before this time (epoch seconds) */
} Pending;

typedef struct RunState
{
	RvxConfig  *cfg;
	RvxClusterInfo cluster;

	pthread_mutex_t lock;
	pthread_cond_t work;
	Pending    *items;			/* everything in the spool we know of */
	size_t		nitems;
	size_t		cap;

	/* status, under lock */
	double		started_at;
	char		last_stored[RVX_WALNAME_MAXLEN + 1];
	double		last_stored_at;
	uint64_t	stored_total;
	uint64_t	stored_bytes;
	uint64_t	errors_total;
	char		last_error[1024];
	double		last_error_at;
	bool		repo_ok;
	uint64_t	backlog_files;
	uint64_t	backlog_bytes;
} RunState;

static volatile sig_atomic_t stop_requested = 0;

static void
handle_stop(int sig)
{
	stop_requested = 1;
}

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested)
		;
}

/* Caller holds the lock. */
static void
note_error(RunState *rs, const RvxError *err)
{
	snprintf(rs->last_error, sizeof(rs->last_error), "%s", err->msg);
	rs->last_error_at = now_s();
	rs->errors_total++;
}

static void
write_status(RunState *rs)
{
	char		path[PATH_MAX];
	json_t	   *o;
	char	   *text;
	RvxError	err;

	pthread_mutex_lock(&rs->lock);
	o = json_pack("{s:i, s:i, s:s, s:f, s:f, s:s, s:I, s:I, s:I, s:I, s:I, s:b}",
				  "format", 1,
				  "pid", (int) getpid(),
				  "version", RVX_VERSION,
				  "started_at", rs->started_at,
				  "updated_at", now_s(),
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
	if (o && rs->last_error[0])
	{
		json_object_set_new(o, "last_error", json_string(rs->last_error));
		json_object_set_new(o, "last_error_at", json_real(rs->last_error_at));
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

/* Caller holds the lock. */
static Pending *
find_item(RunState *rs, const char *name)
{
	for (size_t i = 0; i < rs->nitems; i++)
		if (strcmp(rs->items[i].name, name) == 0)
			return &rs->items[i];
	return NULL;
}

/* Caller holds the lock. */
static Pending *
add_item(RunState *rs, const char *name)
{
	Pending    *p;

	if (rs->nitems == rs->cap)
	{
		size_t		cap = rs->cap ? rs->cap * 2 : 64;
		Pending    *n = realloc(rs->items, cap * sizeof(Pending));

		if (n == NULL)
			return NULL;
		rs->items = n;
		rs->cap = cap;
	}
	p = &rs->items[rs->nitems++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

/* Caller holds the lock. */
static void
remove_item(RunState *rs, Pending *p)
{
	size_t		i = (size_t) (p - rs->items);

	memmove(&rs->items[i], &rs->items[i + 1], (rs->nitems - i - 1) * sizeof(Pending));
	rs->nitems--;
}

/*
 * Picks the oldest queued item (WAL names sort by age within a timeline;
 * history files sort before segments, which is what recovery wants first).
 * Caller holds the lock.
 */
static Pending *
next_queued(RunState *rs)
{
	Pending    *best = NULL;

	for (size_t i = 0; i < rs->nitems; i++)
	{
		Pending    *p = &rs->items[i];

		if (p->queued && !p->inflight &&
			(best == NULL || strcmp(p->name, best->name) < 0))
			best = p;
	}
	return best;
}

typedef struct Worker
{
	RunState   *rs;
	pthread_t	thread;
	int			id;
} Worker;

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	RunState   *rs = w->rs;
	RvxRepo    *repo = NULL;
	RvxError	err;

	pthread_mutex_lock(&rs->lock);
	while (!stop_requested)
	{
		Pending    *p = next_queued(rs);
		char		name[RVX_WALNAME_MAXLEN + 1];
		RvxShipResult res;
		int			rc;

		if (p == NULL)
		{
			struct timespec ts;
			struct timeval tv;

			gettimeofday(&tv, NULL);
			ts.tv_sec = tv.tv_sec + 1;
			ts.tv_nsec = tv.tv_usec * 1000L;
			pthread_cond_timedwait(&rs->work, &rs->lock, &ts);
			continue;
		}
		p->inflight = true;
		p->queued = false;
		snprintf(name, sizeof(name), "%s", p->name);
		pthread_mutex_unlock(&rs->lock);

		rvx_error_clear(&err);
		if (repo == NULL)
			repo = rvx_repo_open(&rs->cfg->repo, &err);
		rc = repo ? rvx_ship_wal(repo, rs->cfg->spool_dir, name, &rs->cluster, &res, &err) : -1;
		if (rc == 0)
			rvx_debug("stored \"%s\" (%" PRIu64 " bytes)", name, res.stored_bytes);
		else if (err.code != RVX_E_NOTFOUND)
		{
			rvx_warn("could not ship \"%s\": %s", name, err.msg);
			rvx_ship_record_error(rs->cfg->spool_dir, name, &err);
		}

		pthread_mutex_lock(&rs->lock);
		p = find_item(rs, name);
		if (rc == 0)
		{
			/* segments store in parallel: report the newest one */
			if (rvx_walname_kind(name) == RVX_WAL_SEGMENT &&
				strcmp(name, rs->last_stored) > 0)
				snprintf(rs->last_stored, sizeof(rs->last_stored), "%s", name);
			rs->last_stored_at = now_s();
			rs->stored_total++;
			rs->stored_bytes += res.stored_bytes;
			rs->repo_ok = true;
			if (p)
				remove_item(rs, p);
		}
		else if (err.code == RVX_E_NOTFOUND)
		{
			/* the server replaced or the agent already removed it */
			if (p)
				remove_item(rs, p);
		}
		else
		{
			int			delay;

			note_error(rs, &err);
			if (err.code == RVX_E_NETWORK || err.code == RVX_E_AUTH)
				rs->repo_ok = false;
			if (p)
			{
				p->inflight = false;
				p->failures++;
				delay = RETRY_MIN_MS << (p->failures < 7 ? p->failures - 1 : 6);
				if (delay > RETRY_MAX_MS)
					delay = RETRY_MAX_MS;
				/* full jitter keeps many agents from retrying in step */
				delay = delay / 2 + rand() % (delay / 2 + 1);
				p->next_try = now_s() + delay / 1000.0;
			}
			if (err.code == RVX_E_NETWORK)
			{
				/* reconnect on the next attempt */
				rvx_repo_close(repo);
				repo = NULL;
			}
		}
	}
	pthread_mutex_unlock(&rs->lock);
	rvx_repo_close(repo);
	return NULL;
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
static void
scan_spool(RunState *rs)
{
	char		waldir[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	uint64_t	files = 0,
				bytes = 0;
	double		now = now_s();
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

		p = find_item(rs, name);
		if (p == NULL && (p = add_item(rs, name)) == NULL)
			continue;
		p->seen = true;
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
			remove_item(rs, &rs->items[i]);
		else
			i++;
	}
	rs->backlog_files = files;
	rs->backlog_bytes = bytes;
	if (any)
		pthread_cond_broadcast(&rs->work);
	pthread_mutex_unlock(&rs->lock);
}

/* Marks every spooled object with err, so the server reports it. */
static void
report_to_spool(RunState *rs, const RvxError *err)
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
static bool
bind_repository(RunState *rs)
{
	int			delay = 1000;
	char		last[1024] = "";

	while (!stop_requested)
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
			note_error(rs, &err);
		rs->repo_ok = false;
		pthread_mutex_unlock(&rs->lock);
		if (err.code != RVX_E_NOTFOUND)
			report_to_spool(rs, &err);
		write_status(rs);
		sleep_ms(delay);
		if (err.code != RVX_E_NOTFOUND && delay < 30000)
			delay *= 2;
	}
	return false;
}

int
rvx_cmd_run(int argc, char **argv, RvxConfig *cfg)
{
	RunState	rs;
	Worker	   *workers;
	struct sigaction sa;
	char		statusdir[PATH_MAX];
	double		last_status = 0;

	if (argc > 1)
	{
		fprintf(stderr, "revrx-agent run: unexpected argument \"%s\"\n", argv[1]);
		return RVX_E_USAGE;
	}
	memset(&rs, 0, sizeof(rs));
	rs.cfg = cfg;
	rs.started_at = now_s();
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
	rvx_info("starting: spool %s, repository %s, %d transfers at once",
			 cfg->spool_dir, cfg->repo.url, cfg->parallel);

	if (!bind_repository(&rs))
		return 0;

	workers = calloc((size_t) cfg->parallel, sizeof(Worker));
	for (int i = 0; i < cfg->parallel; i++)
	{
		workers[i].rs = &rs;
		workers[i].id = i;
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	}

	while (!stop_requested)
	{
		double		now;

		scan_spool(&rs);
		now = now_s();
		if ((now - last_status) * 1000 >= STATUS_PERIOD_MS)
		{
			write_status(&rs);
			last_status = now;
		}
		sleep_ms(cfg->poll_ms);
	}

	rvx_info("stopping: waiting for transfers in progress");
	pthread_mutex_lock(&rs.lock);
	pthread_cond_broadcast(&rs.work);
	pthread_mutex_unlock(&rs.lock);
	for (int i = 0; i < cfg->parallel; i++)
		pthread_join(workers[i].thread, NULL);
	write_status(&rs);
	free(workers);
	free(rs.items);
	rvx_info("stopped");
	return 0;
}
