/*-------------------------------------------------------------------------
 *
 * metrics.h
 *	  What the agent counts and measures, for /metrics and /readyz.
 *
 * One process-wide set of counters and gauges.  Writers are the shipping
 * threads and the main loop (daemon/) and the repository wrappers
 * (repo.c); the reader is the HTTP server's thread (http_server.c).  Every
 * number is a C11 atomic, so a writer never waits for a scrape and a
 * scrape never waits for a transfer; the few values that are not single
 * numbers (the name of the newest stored segment, the reason the
 * repository was last unreachable) sit behind a mutex that is only held to
 * copy a short string.
 *
 * Nothing here does I/O except rvx_metrics_render(), which also reads the
 * small catalog files the agent and the verifier keep in the spool
 * (status/backups.json, status/verifications.json).  Its output is the
 * Prometheus text exposition format, version 0.0.4; every metric and its
 * meaning are listed in docs/operations.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_METRICS_H
#define RVX_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define RVX_SPOOL_VERIFICATIONS_FILE	"status/verifications.json"

/* Bytes that went to / came from the repository (successful transfers). */
extern void rvx_metrics_count_upload(uint64_t bytes);
extern void rvx_metrics_count_download(uint64_t bytes);
/* One failure of the shipping loop, by kind. */
extern void rvx_metrics_count_error(RvxErrorCode code);

/* The main loop is alive (see /healthz). */
extern void rvx_metrics_heartbeat(void);

/*
 * The WAL backlog of the spool at the last scan: files and bytes waiting,
 * and when the oldest of them became ready (epoch seconds; 0 = none).
 */
extern void rvx_metrics_set_backlog(uint64_t files, uint64_t bytes, double oldest_ready_at);

/* A WAL segment was stored at time at (the newest by name is kept). */
extern void rvx_metrics_wal_stored(const char *name, double at);

/*
 * The newest WAL stored (segment or streamed partial) now ends at LSN end;
 * the server wrote it at written_at (epoch seconds).  The recovery point
 * exposure is the age of that while WAL waits in the spool.
 */
extern void rvx_metrics_wal_newest(uint64_t end, double written_at);

/*
 * The outcome of a repository operation, as far as reachability goes:
 * rc >= 0 (head answers 1 or 0) or a not-found error shows the repository
 * answering; network and access errors show it unreachable, with err->msg
 * as the reason.  Other failures (corrupt object, conflict) say nothing
 * about reachability and are ignored.
 */
extern void rvx_metrics_repo_result(int rc, const RvxError *err);

/*
 * The same for a write (put, remove).  A write refused for access (a
 * policy that lets the agent read but not write) keeps the repository
 * "not ready" until a write succeeds: otherwise every read in between
 * (the HEAD before each upload, the idle probe) would make it ready again
 * and /readyz would flap while nothing can be stored.
 */
extern void rvx_metrics_repo_write_result(int rc, const RvxError *err);

/*
 * The S3 credentials provider (credentials.c) got a set from source that
 * expires at expires_at (epoch seconds; 0 = never), or failed to get one
 * for reason (which never holds a secret).  usable_until is until when the
 * set the provider still holds may sign (epoch seconds; 0 = it holds none):
 * a failed refresh-ahead while the current set is valid is counted and
 * shown (revrx_credentials_refresh_failing) but leaves the agent ready;
 * readiness fails once no usable set remains, until the next success.
 */
extern void rvx_metrics_credentials_fetched(const char *source, double expires_at);
extern void rvx_metrics_credentials_failed(const char *source, const char *reason,
										   double usable_until);

/*
 * How many stored backups wait for their audit record (ship_backup.h):
 * revrx_audit_pending, and named by /readyz (which stays ready: the
 * backups are stored; see docs/audit.md).
 */
extern void rvx_metrics_audit_pending(int n);

/* A copy of what readiness and health need. */
typedef struct RvxHealth
{
	double		heartbeat_at;	/* 0 = the main loop never ticked */
	double		repo_checked_at;	/* 0 = no repository operation yet */
	bool		repo_ok;		/* it answers, and writes are not refused */
	char		repo_reason[256];
	bool		creds_ok;		/* false: the last fetch failed and no usable set remains */
	char		creds_reason[512];
	int			audit_pending;	/* backups acknowledged without their audit record */
} RvxHealth;

extern void rvx_metrics_health(RvxHealth *h);

/*
 * The exposition text for a scrape at time now, in a malloc'd buffer (NULL
 * when out of memory).  spool_dir is where the catalog files are read.
 */
extern char *rvx_metrics_render(const char *spool_dir, double now, size_t *len);

/* For tests: forget everything counted so far. */
extern void rvx_metrics_reset(void);

#endif							/* RVX_AGENT_METRICS_H */
