/*-------------------------------------------------------------------------
 *
 * http_server.c
 *	  /healthz, /readyz and /metrics over libmicrohttpd (see http_server.h).
 *
 * Every response is built in memory and handed to libmicrohttpd with
 * MHD_RESPMEM_MUST_FREE or MUST_COPY, so no handler state outlives a call.
 * The probe thread sleeps on a condition variable, so stopping the server
 * does not wait a probe period.
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "daemon/http_server.h"
#include "base/log.h"
#include "base/metrics.h"
#include "storage/repo.h"
#include "info/repo_meta.h"
#include "spool.h"

struct RvxHttpServer
{
	struct MHD_Daemon *daemon;
	const RvxConfig *cfg;
	double		stall_s;		/* /healthz fails after this long without a tick */

	pthread_t	probe;
	bool		probe_started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool		stopping;
};


/* libmicrohttpd's own complaints (bad requests, accept errors) are debug noise. */
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char		line[512];
	size_t		n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	rvx_debug("http: %s", line);
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned int status, const char *type,
	  char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, body, mode);
	if (resp == NULL)
	{
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
reply_text(struct MHD_Connection *conn, unsigned int status, const char *text)
{
	return reply(conn, status, "text/plain; charset=utf-8", (char *) text, strlen(text),
				 MHD_RESPMEM_MUST_COPY);
}

/* A reason on one line: newlines and other control characters become spaces. */
static void
one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20)
			*s = ' ';
}

static enum MHD_Result
serve_healthz(RvxHttpServer *srv, struct MHD_Connection *conn)
{
	RvxHealth	h;
	double		age;
	char		msg[128];

	rvx_metrics_health(&h);
	age = h.heartbeat_at > 0 ? rvx_now_s() - h.heartbeat_at : -1;
	if (age >= 0 && age < srv->stall_s)
		return reply_text(conn, MHD_HTTP_OK, "ok\n");
	snprintf(msg, sizeof(msg), "main loop has not run for %.0f s\n", age);
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
}

/* Can we read and write the spool and the WAL directory in it? */
static bool
spool_usable(const char *spool, char *why, size_t cap)
{
	char		path[4096];

	if (access(spool, R_OK | W_OK | X_OK) != 0)
	{
		snprintf(why, cap, "spool \"%s\" is not readable and writable: %s", spool,
				 strerror(errno));
		return false;
	}
	snprintf(path, sizeof(path), "%s/%s", spool, RVX_SPOOL_WAL_DIR);
	if (access(path, F_OK) == 0 && access(path, R_OK | W_OK | X_OK) != 0)
	{
		snprintf(why, cap, "spool directory \"%s\" is not readable and writable: %s", path,
				 strerror(errno));
		return false;
	}
	return true;
}

static enum MHD_Result
serve_readyz(RvxHttpServer *srv, struct MHD_Connection *conn)
{
	RvxHealth	h;
	char		why[512];

	rvx_metrics_health(&h);
	if (!h.creds_ok)
		snprintf(why, sizeof(why) - 1, "S3 credentials: %s", h.creds_reason);
	else if (spool_usable(srv->cfg->spool_dir, why, sizeof(why) - 1))
	{
		if (h.repo_checked_at > 0 && h.repo_ok && h.audit_pending > 0)
		{
			/* still ready (backups are stored); the reason is for whoever looks */
			snprintf(why, sizeof(why), "ready; AUDIT FAILURE: %d stored backup%s without an audit record, retrying\n",
					 h.audit_pending, h.audit_pending == 1 ? "" : "s");
			return reply_text(conn, MHD_HTTP_OK, why);
		}
		if (h.repo_checked_at > 0 && h.repo_ok)
			return reply_text(conn, MHD_HTTP_OK, "ready\n");
		if (h.repo_checked_at == 0)
			snprintf(why, sizeof(why) - 1, "repository not reached yet");
		else
			snprintf(why, sizeof(why) - 1, "repository unreachable: %s", h.repo_reason);
	}
	one_line(why);
	strcat(why, "\n");			/* room was kept for it */
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, why);
}

static enum MHD_Result
serve_metrics(RvxHttpServer *srv, struct MHD_Connection *conn)
{
	size_t		len = 0;
	char	   *text = rvx_metrics_render(srv->cfg->spool_dir, rvx_now_s(), &len);

	if (text == NULL)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
				 text, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size,
	   void **req_cls)
{
	RvxHttpServer *srv = cls;

	/*
	 * Everything is decided on the first call: a GET has no body to wait
	 * for, and any other method is refused before its body is read.
	 */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/healthz") == 0)
		return serve_healthz(srv, conn);
	if (strcmp(url, "/readyz") == 0)
		return serve_readyz(srv, conn);
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(srv, conn);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/*
 * Looks at the repository when nothing else has for a while.  rvx_repo_head
 * reports its outcome to metrics.h like every repository operation.
 */
static void *
probe_main(void *arg)
{
	RvxHttpServer *srv = arg;
	RvxRepo    *repo = NULL;

	pthread_mutex_lock(&srv->lock);
	while (!srv->stopping)
	{
		RvxHealth	h;
		struct timespec ts;

		rvx_metrics_health(&h);
		if (h.repo_checked_at == 0 || rvx_now_s() - h.repo_checked_at >= RVX_READY_PROBE_S)
		{
			RvxError	err;

			pthread_mutex_unlock(&srv->lock);
			rvx_error_clear(&err);
			if (repo == NULL)
				repo = rvx_repo_open(&srv->cfg->repo, &err);
			if (repo == NULL)
				rvx_metrics_repo_result(-1, &err);
			else if (rvx_repo_head(repo, RVX_REPO_META_KEY, NULL, &err) < 0 &&
					 err.code == RVX_E_NETWORK)
			{
				/* the connection may be bad: reconnect next time */
				rvx_repo_close(repo);
				repo = NULL;
			}
			pthread_mutex_lock(&srv->lock);
			if (srv->stopping)
				break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&srv->wake, &srv->lock, &ts);
	}
	pthread_mutex_unlock(&srv->lock);
	rvx_repo_close(repo);
	return NULL;
}

RvxHttpServer *
rvx_http_server_start(const RvxConfig *cfg, RvxError *err)
{
	RvxHttpServer *srv;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const struct sockaddr *sa;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, cfg->listen_host, &sin.sin_addr) == 1)
	{
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t) cfg->listen_port);
		sa = (const struct sockaddr *) &sin;
	}
	else if (inet_pton(AF_INET6, cfg->listen_host, &sin6.sin6_addr) == 1)
	{
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t) cfg->listen_port);
		sa = (const struct sockaddr *) &sin6;
		flags |= MHD_USE_IPv6;
	}
	else
	{
		rvx_error(err, RVX_E_CONFIG, "invalid value for REVRX_LISTEN: \"%s\"", cfg->listen);
		return NULL;
	}

	srv = calloc(1, sizeof(RvxHttpServer));
	if (srv == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		return NULL;
	}
	srv->cfg = cfg;

	/*
	 * While it binds the repository the main loop waits for repository
	 * requests, each of which may take every retry at the full timeout (plus
	 * backoff, at most 30 s each): a slow network must not look like a hung
	 * agent to a liveness probe.
	 */
	srv->stall_s = RVX_HEALTH_STALL_S +
		(cfg->repo.retries + 1) * (cfg->repo.timeout_ms / 1000.0 + 30);
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->wake, NULL);

	errno = 0;
	srv->daemon = MHD_start_daemon(flags, (uint16_t) cfg->listen_port, NULL, NULL,
								   handle, srv,
								   MHD_OPTION_SOCK_ADDR, sa,
								   MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
								   MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 32,
								   MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) 16,
								   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
								   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 32 * 1024,
								   MHD_OPTION_END);
	if (srv->daemon == NULL)
	{
		rvx_error(err, RVX_E_CONFIG, "could not listen on REVRX_LISTEN=%s: %s", cfg->listen,
				  errno ? strerror(errno) : "libmicrohttpd refused to start");
		rvx_http_server_stop(srv);
		return NULL;
	}
	if (pthread_create(&srv->probe, NULL, probe_main, srv) == 0)
		srv->probe_started = true;
	else
		rvx_warn("could not start the readiness probe: /readyz reflects shipping only");
	rvx_info("serving /healthz, /readyz and /metrics on %s", cfg->listen);
	return srv;
}

void
rvx_http_server_stop(RvxHttpServer *srv)
{
	if (srv == NULL)
		return;
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	if (srv->probe_started)
	{
		pthread_mutex_lock(&srv->lock);
		srv->stopping = true;
		pthread_cond_broadcast(&srv->wake);
		pthread_mutex_unlock(&srv->lock);
		pthread_join(srv->probe, NULL);
	}
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->wake);
	free(srv);
}
