/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  The agent's counters and gauges, and their Prometheus rendering
 *	  (see metrics.h).
 *
 * Counters only ever grow (Prometheus computes rates from them and copes
 * with restarts); gauges are overwritten.  The recovery point exposure is
 * not stored but derived at scrape time from the time the oldest
 * not-yet-stored WAL file became ready, so it keeps growing while the
 * shipping loop is stuck, which is exactly when it matters.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "base/metrics.h"
#include "spool.h"
#include "walname.h"
#include "base/log.h"

/* The catalog files are small; anything bigger is not ours to parse. */
#define CATALOG_FILE_MAX	((off_t) 16 * 1024 * 1024)

#define NKINDS	(RVX_E_INTERNAL + 1)

static atomic_uint_fast64_t upload_bytes;
static atomic_uint_fast64_t download_bytes;
static atomic_uint_fast64_t errors[NKINDS];
static _Atomic double heartbeat_at;
static atomic_int audit_pending;
static atomic_uint_fast64_t backlog_files;
static atomic_uint_fast64_t backlog_bytes;
static _Atomic double oldest_ready_at;

/* The values that are not one number. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last_wal[RVX_WALNAME_MAXLEN + 1];
/* the newest WAL byte stored: where it ends, and when the server wrote it */
static uint64_t newest_end;
static double newest_written_at;
static double last_wal_at;
static double repo_checked_at;
static bool repo_ok;
static char repo_reason[256];
static bool write_refused;		/* since the last write that succeeded */
static char write_reason[256];
static char creds_source[32];	/* "" = no provider has reported */
static double creds_expires_at;
static uint64_t creds_fetches;
static uint64_t creds_failures;
static bool creds_failing;
static double creds_usable_until;	/* while failing: the held set signs until then */
static char creds_reason[512];


void
rvx_metrics_count_upload(uint64_t bytes)
{
	atomic_fetch_add(&upload_bytes, bytes);
}

void
rvx_metrics_count_download(uint64_t bytes)
{
	atomic_fetch_add(&download_bytes, bytes);
}

void
rvx_metrics_count_error(RvxErrorCode code)
{
	if ((int) code < 0 || (int) code >= NKINDS)
		code = RVX_E_INTERNAL;
	atomic_fetch_add(&errors[code], 1);
}

void
rvx_metrics_audit_pending(int n)
{
	atomic_store(&audit_pending, n);
}

void
rvx_metrics_heartbeat(void)
{
	atomic_store(&heartbeat_at, rvx_now_s());
}

void
rvx_metrics_set_backlog(uint64_t files, uint64_t bytes, double oldest)
{
	atomic_store(&backlog_files, files);
	atomic_store(&backlog_bytes, bytes);
	atomic_store(&oldest_ready_at, files > 0 ? oldest : 0.0);
}

void
rvx_metrics_wal_stored(const char *name, double at)
{
	pthread_mutex_lock(&lock);
	/* segments are stored in parallel: report the newest one */
	if (strcmp(name, last_wal) > 0)
		snprintf(last_wal, sizeof(last_wal), "%s", name);
	last_wal_at = at;
	pthread_mutex_unlock(&lock);
}

void
rvx_metrics_wal_newest(uint64_t end, double written_at)
{
	pthread_mutex_lock(&lock);
	if (end > newest_end)
	{
		newest_end = end;
		newest_written_at = written_at;
	}
	pthread_mutex_unlock(&lock);
}

void
rvx_metrics_repo_result(int rc, const RvxError *err)
{
	bool		ok;

	if (rc >= 0 || (err && err->code == RVX_E_NOTFOUND))
		ok = true;
	else if (err && (err->code == RVX_E_NETWORK || err->code == RVX_E_AUTH))
		ok = false;
	else
		return;
	pthread_mutex_lock(&lock);
	repo_checked_at = rvx_now_s();
	repo_ok = ok;
	if (ok)
		repo_reason[0] = '\0';
	else
		snprintf(repo_reason, sizeof(repo_reason), "%s", err->msg);
	pthread_mutex_unlock(&lock);
}

void
rvx_metrics_repo_write_result(int rc, const RvxError *err)
{
	rvx_metrics_repo_result(rc, err);
	pthread_mutex_lock(&lock);
	if (rc >= 0)
		write_refused = false;
	else if (err && err->code == RVX_E_AUTH)
	{
		write_refused = true;
		snprintf(write_reason, sizeof(write_reason), "writes refused: %s", err->msg);
	}
	pthread_mutex_unlock(&lock);
}

void
rvx_metrics_credentials_fetched(const char *source, double expires_at)
{
	pthread_mutex_lock(&lock);
	snprintf(creds_source, sizeof(creds_source), "%s", source);
	creds_expires_at = expires_at;
	creds_fetches++;
	creds_failing = false;
	creds_usable_until = 0;
	creds_reason[0] = '\0';
	pthread_mutex_unlock(&lock);
}

void
rvx_metrics_credentials_failed(const char *source, const char *reason, double usable_until)
{
	pthread_mutex_lock(&lock);
	snprintf(creds_source, sizeof(creds_source), "%s", source);
	creds_failures++;
	creds_failing = true;
	creds_usable_until = usable_until;
	snprintf(creds_reason, sizeof(creds_reason), "%s", reason);
	pthread_mutex_unlock(&lock);
}

void
rvx_metrics_health(RvxHealth *h)
{
	h->heartbeat_at = atomic_load(&heartbeat_at);
	h->audit_pending = atomic_load(&audit_pending);
	pthread_mutex_lock(&lock);
	h->repo_checked_at = repo_checked_at;
	h->repo_ok = repo_ok && !write_refused;
	snprintf(h->repo_reason, sizeof(h->repo_reason), "%s",
			 repo_ok && write_refused ? write_reason : repo_reason);
	/* a failed refresh-ahead is not a reason to leave the Service: the keys still sign */
	h->creds_ok = !creds_failing || (double) time(NULL) < creds_usable_until;
	snprintf(h->creds_reason, sizeof(h->creds_reason), "%s", creds_reason);
	pthread_mutex_unlock(&lock);
}

void
rvx_metrics_reset(void)
{
	atomic_store(&audit_pending, 0);
	atomic_store(&upload_bytes, 0);
	atomic_store(&download_bytes, 0);
	for (int i = 0; i < NKINDS; i++)
		atomic_store(&errors[i], 0);
	atomic_store(&heartbeat_at, 0.0);
	rvx_metrics_set_backlog(0, 0, 0);
	pthread_mutex_lock(&lock);
	last_wal[0] = '\0';
	last_wal_at = 0;
	newest_end = 0;
	newest_written_at = 0;
	repo_checked_at = 0;
	repo_ok = false;
	repo_reason[0] = '\0';
	write_refused = false;
	write_reason[0] = '\0';
	creds_source[0] = '\0';
	creds_expires_at = 0;
	creds_fetches = creds_failures = 0;
	creds_failing = false;
	creds_usable_until = 0;
	creds_reason[0] = '\0';
	pthread_mutex_unlock(&lock);
}

/* ---------------------------------------------------------------- rendering */

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} Buf;

static void
put(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
put(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (b->failed)
		return;
	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
		{
			b->failed = true;
			return;
		}
		if ((size_t) n < b->cap - b->len)
		{
			b->len += (size_t) n;
			return;
		}
		{
			size_t		cap = (b->cap + (size_t) n) * 2;
			char	   *d = realloc(b->data, cap);

			if (d == NULL)
			{
				b->failed = true;
				return;
			}
			b->data = d;
			b->cap = cap;
		}
	}
}

static void
header(Buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the exposition format wants it: \\, \" and \n escaped. */
static void
put_label_value(Buf *b, const char *v)
{
	char		esc[512];
	size_t		o = 0;

	for (; *v && o < sizeof(esc) - 3; v++)
	{
		if (*v == '\\' || *v == '"')
		{
			esc[o++] = '\\';
			esc[o++] = *v;
		}
		else if (*v == '\n')
		{
			esc[o++] = '\\';
			esc[o++] = 'n';
		}
		else
			esc[o++] = *v;
	}
	esc[o] = '\0';
	put(b, "\"%s\"", esc);
}

/* ISO 8601 UTC ("2026-11-26T08:45:03Z") or a number, as epoch seconds; 0 if neither. */
static double
json_time(const json_t *v)
{
	struct tm	tm;
	const char *s;
	const char *end;

	if (json_is_number(v))
		return json_number_value(v);
	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return 0;
	return (double) timegm(&tm);
}

/* Loads a small JSON file of the spool; NULL if absent, too big or not JSON. */
static json_t *
load_spool_json(const char *spool_dir, const char *name)
{
	char		path[4096];
	struct stat st;

	if (spool_dir == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", spool_dir, name);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CATALOG_FILE_MAX)
		return NULL;
	return json_load_file(path, 0, NULL);
}

/*
 * PostgreSQL's own archive backlog, as the server last wrote it
 * (server.json, every RVX_SERVER_STATUS_SECS): the .ready files the archiver
 * has not handed to revrx yet, which the agent cannot see.  Left out when
 * the server has not written it (not preloaded, older version).
 */
static void
render_server(Buf *b, const char *spool_dir, double now)
{
	json_t	   *doc = load_spool_json(spool_dir, RVX_SPOOL_SERVER_FILE);
	json_t	   *files = doc ? json_object_get(doc, "wal_ready_files") : NULL;
	json_t	   *bytes = doc ? json_object_get(doc, "wal_ready_bytes") : NULL;
	double		at = doc ? json_time(json_object_get(doc, "updated_at")) : 0;

	if (json_is_integer(files) && json_is_integer(bytes) && at > 0)
	{
		header(b, "revrx_server_wal_ready_files", "gauge",
			   "WAL files PostgreSQL has marked ready but not archived yet (pg_wal/archive_status/*.ready).");
		put(b, "revrx_server_wal_ready_files %" JSON_INTEGER_FORMAT "\n", json_integer_value(files));
		header(b, "revrx_server_wal_ready_bytes", "gauge",
			   "Bytes of those WAL files.");
		put(b, "revrx_server_wal_ready_bytes %" JSON_INTEGER_FORMAT "\n", json_integer_value(bytes));
		header(b, "revrx_server_status_age_seconds", "gauge",
			   "Seconds since the server last reported its archive backlog (it does every 10 s; more means the server or its revrx worker is not running, or is taking a backup).");
		put(b, "revrx_server_status_age_seconds %.3f\n", now > at ? now - at : 0.0);
	}
	json_decref(doc);
}

static void
render_backups(Buf *b, const char *spool_dir, double now)
{
	json_t	   *cat = load_spool_json(spool_dir, RVX_SPOOL_BACKUPS_FILE);
	json_t	   *list = cat ? json_object_get(cat, "backups") : NULL;
	double		newest = 0;
	size_t		n = 0;

	if (json_is_array(list))
	{
		size_t		i;
		json_t	   *bk;

		json_array_foreach(list, i, bk)
		{
			double		t = json_time(json_object_get(bk, "stop_time"));

			n++;
			if (t > newest)
				newest = t;
		}
	}
	header(b, "revrx_backups", "gauge",
		   "Complete backups in the repository, as last published in status/backups.json.");
	put(b, "revrx_backups %zu\n", n);
	if (newest > 0)
	{
		header(b, "revrx_last_backup_timestamp_seconds", "gauge",
			   "End time of the newest complete backup (unix seconds).");
		put(b, "revrx_last_backup_timestamp_seconds %.0f\n", newest);
		header(b, "revrx_last_backup_age_seconds", "gauge",
			   "Seconds since the newest complete backup ended.");
		put(b, "revrx_last_backup_age_seconds %.3f\n", now > newest ? now - newest : 0.0);
	}
	json_decref(cat);
}

static void
render_verifications(Buf *b, const char *spool_dir)
{
	json_t	   *doc = load_spool_json(spool_dir, RVX_SPOOL_VERIFICATIONS_FILE);
	json_t	   *list = doc ? json_object_get(doc, "verifications") : NULL;
	json_t	   *last = json_is_array(list) ? json_array_get(list, 0) : NULL;
	json_t	   *v;

	if (!json_is_object(last))
	{
		json_decref(doc);
		return;
	}
	header(b, "revrx_last_verification_passed", "gauge",
		   "1 if the newest restore verification (drill) passed, 0 if it failed.");
	put(b, "revrx_last_verification_passed{backup_id=");
	v = json_object_get(last, "backup_id");
	put_label_value(b, json_is_string(v) ? json_string_value(v) : "");
	put(b, "} %d\n", json_is_true(json_object_get(last, "passed")) ? 1 : 0);

	/* the drill's total_seconds is the measured recovery time: restore + replay */
	v = json_object_get(last, "total_seconds");
	if (json_is_number(v))
	{
		header(b, "revrx_last_verification_recovery_seconds", "gauge",
			   "Measured time to restore and recover (replay WAL) in the newest verification (RTO).");
		put(b, "revrx_last_verification_recovery_seconds %.3f\n", json_number_value(v));
	}
	v = json_object_get(last, "recovery_seconds");
	if (json_is_number(v))
	{
		header(b, "revrx_last_verification_replay_seconds", "gauge",
			   "Of that, the time WAL replay took.");
		put(b, "revrx_last_verification_replay_seconds %.3f\n", json_number_value(v));
	}
	if (json_time(json_object_get(last, "finished_at")) > 0)
	{
		header(b, "revrx_last_verification_timestamp_seconds", "gauge",
			   "When the newest verification finished (unix seconds).");
		put(b, "revrx_last_verification_timestamp_seconds %.0f\n",
			json_time(json_object_get(last, "finished_at")));
	}
	json_decref(doc);
}

/* Which source the S3 credentials come from, when they expire, how fetching goes. */
static void
render_credentials(Buf *b, double now)
{
	char		source[sizeof(creds_source)];
	double		expires_at;
	uint64_t	fetches;
	uint64_t	failures;
	bool		failing;

	pthread_mutex_lock(&lock);
	memcpy(source, creds_source, sizeof(source));
	expires_at = creds_expires_at;
	fetches = creds_fetches;
	failures = creds_failures;
	failing = creds_failing;
	pthread_mutex_unlock(&lock);
	if (source[0] == '\0')
		return;
	header(b, "revrx_credentials_info", "gauge",
		   "Where the S3 credentials come from (source label: static keys, web identity, container credentials, instance metadata).");
	put(b, "revrx_credentials_info{source=");
	put_label_value(b, source);
	put(b, "} 1\n");
	if (expires_at > 0)
	{
		header(b, "revrx_credentials_expiry_seconds", "gauge",
			   "Seconds until the current temporary S3 credentials expire (negative: expired).");
		put(b, "revrx_credentials_expiry_seconds{source=");
		put_label_value(b, source);
		put(b, "} %.0f\n", expires_at - now);
	}
	header(b, "revrx_credentials_fetches_total", "counter",
		   "Sets of S3 credentials obtained (the first and each refresh).");
	put(b, "revrx_credentials_fetches_total{source=");
	put_label_value(b, source);
	put(b, "} %" PRIu64 "\n", fetches);
	header(b, "revrx_credentials_refresh_failures_total", "counter",
		   "Failed attempts to obtain S3 credentials (each is retried with backoff).");
	put(b, "revrx_credentials_refresh_failures_total{source=");
	put_label_value(b, source);
	put(b, "} %" PRIu64 "\n", failures);
	header(b, "revrx_credentials_refresh_failing", "gauge",
		   "1 while the last attempt to obtain S3 credentials failed (the current set may still be valid: see revrx_credentials_expiry_seconds), else 0.");
	put(b, "revrx_credentials_refresh_failing{source=");
	put_label_value(b, source);
	put(b, "} %d\n", failing ? 1 : 0);
}

char *
rvx_metrics_render(const char *spool_dir, double now, size_t *len)
{
	Buf			b = {0};
	char		wal[RVX_WALNAME_MAXLEN + 1];
	double		wal_at;
	double		oldest = atomic_load(&oldest_ready_at);
	double		newest_at;
	double		exposure = 0.0;
	RvxHealth	h;

	pthread_mutex_lock(&lock);
	snprintf(wal, sizeof(wal), "%s", last_wal);
	wal_at = last_wal_at;
	newest_at = newest_written_at;
	pthread_mutex_unlock(&lock);

	/*
	 * While WAL waits in the spool, what is at risk is everything after the
	 * newest WAL byte stored: the exposure is its age (when the server
	 * wrote the segment or partial that holds it), or the age of the
	 * oldest file still waiting if that is older (a gap before it: replay
	 * would stop there).  With nothing waiting it is 0: the agent cannot
	 * see WAL the server has not exported yet (revrx_status() can; it
	 * compares with the server's WAL position).
	 */
	if (oldest > 0)
	{
		double		since = newest_at > 0 && newest_at < oldest ? newest_at : oldest;

		exposure = now > since ? now - since : 0.0;
	}
	rvx_metrics_health(&h);

	if (wal[0])
	{
		header(&b, "revrx_wal_last_stored_info", "gauge",
			   "The newest WAL segment stored in the repository (name in the label).");
		put(&b, "revrx_wal_last_stored_info{segment=");
		put_label_value(&b, wal);
		put(&b, "} 1\n");
		header(&b, "revrx_wal_last_stored_timestamp_seconds", "gauge",
			   "When a WAL file was last stored in the repository (unix seconds).");
		put(&b, "revrx_wal_last_stored_timestamp_seconds %.3f\n", wal_at);
	}
	header(&b, "revrx_wal_backlog_files", "gauge",
		   "WAL files in the spool not yet stored in the repository.");
	put(&b, "revrx_wal_backlog_files %" PRIuFAST64 "\n", atomic_load(&backlog_files));
	header(&b, "revrx_wal_backlog_bytes", "gauge",
		   "Bytes of WAL in the spool not yet stored in the repository.");
	put(&b, "revrx_wal_backlog_bytes %" PRIuFAST64 "\n", atomic_load(&backlog_bytes));
	header(&b, "revrx_rpo_exposure_seconds", "gauge",
		   "Recovery point exposure: age of the newest WAL byte stored (partial or complete), or of the oldest WAL file waiting if older, while WAL waits in the spool (0 when none waits).");
	put(&b, "revrx_rpo_exposure_seconds %.3f\n", exposure);

	render_credentials(&b, now);
	render_server(&b, spool_dir, now);
	render_backups(&b, spool_dir, now);
	render_verifications(&b, spool_dir);

	header(&b, "revrx_upload_bytes_total", "counter",
		   "Bytes stored in the repository.");
	put(&b, "revrx_upload_bytes_total %" PRIuFAST64 "\n", atomic_load(&upload_bytes));
	header(&b, "revrx_download_bytes_total", "counter",
		   "Bytes read from the repository.");
	put(&b, "revrx_download_bytes_total %" PRIuFAST64 "\n", atomic_load(&download_bytes));
	header(&b, "revrx_errors_total", "counter",
		   "Failed shipping operations, by kind of error.");
	for (int k = RVX_E_NOTFOUND; k < NKINDS; k++)
		put(&b, "revrx_errors_total{kind=\"%s\"} %" PRIuFAST64 "\n",
			rvx_error_code_name((RvxErrorCode) k), atomic_load(&errors[k]));
	header(&b, "revrx_repository_up", "gauge",
		   "1 if the repository answers and writes to it are not refused.");
	put(&b, "revrx_repository_up %d\n", h.repo_checked_at > 0 && h.repo_ok ? 1 : 0);
	header(&b, "revrx_audit_pending", "gauge",
		   "Stored backups acknowledged without their audit record, which revrx-agent run keeps retrying (AUDIT FAILURE).");
	put(&b, "revrx_audit_pending %d\n", h.audit_pending);
	header(&b, "revrx_heartbeat_age_seconds", "gauge",
		   "Seconds since the agent's main loop last ticked.");
	put(&b, "revrx_heartbeat_age_seconds %.3f\n",
		h.heartbeat_at > 0 && now > h.heartbeat_at ? now - h.heartbeat_at : 0.0);

	if (b.failed)
	{
		free(b.data);
		return NULL;
	}
	*len = b.len;
	return b.data;
}
