/*-------------------------------------------------------------------------
 *
 * http_server.h
 *	  The HTTP endpoint of `revrx-agent run`: /healthz, /readyz, /metrics.
 *
 * Served by libmicrohttpd from its own thread, so a slow or hostile client
 * never holds up shipping: a handler only copies counters (metrics.h) and
 * reads the spool's small status files.  Requests are bounded (a handful
 * of connections, a short timeout, a small per-connection memory pool);
 * libmicrohttpd itself answers malformed requests with 400.
 *
 *	/healthz	200 "ok" while the main loop ticks (rvx_metrics_heartbeat);
 *				503 once it has been silent for RVX_HEALTH_STALL_S plus the
 *				longest one repository request may take with its retries
 *				(the loop waits for those while it binds the repository).
 *	/readyz		200 "ready" when the repository answered the last operation
 *				or check and the spool is readable and writable; else 503
 *				with a one-line reason.
 *	/metrics	Prometheus text format 0.0.4 (rvx_metrics_render).
 *	other paths 404; methods other than GET and HEAD 405.
 *
 * Readiness never costs a request per scrape.  A probe thread started with
 * the server looks at the repository (HEAD repo.json) only when no
 * repository operation has reported for RVX_READY_PROBE_S, i.e. when the
 * agent is idle or the repository is down; otherwise shipping itself keeps
 * the answer fresh.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_HTTP_SERVER_H
#define RVX_AGENT_HTTP_SERVER_H

#include "config/config.h"
#include "base/error.h"

#define RVX_HEALTH_STALL_S	60
#define RVX_READY_PROBE_S	5

typedef struct RvxHttpServer RvxHttpServer;

/*
 * Starts listening on cfg->listen_host:cfg->listen_port.  Fails (naming
 * REVRX_LISTEN) when the address cannot be bound.
 */
extern RvxHttpServer *rvx_http_server_start(const RvxConfig *cfg, RvxError *err);
/* Stops the server and its probe; NULL is allowed. */
extern void rvx_http_server_stop(RvxHttpServer *srv);

#endif							/* RVX_AGENT_HTTP_SERVER_H */
