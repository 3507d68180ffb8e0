/*-------------------------------------------------------------------------
 *
 * spool.h
 *	  The spool contract between the server module and revrx-agent.
 *
 * The spool is a directory both sides can write (a volume shared by the
 * Postgres container and the agent sidecar).  It is made of files, never
 * of a live connection, so either side can be killed at any instant and
 * the other sees a consistent state when it looks again:
 *
 *	 cluster.json		server: system identifier, version, segment size
 *	 wal/NAME.rvx		server: an archived file as a complete revrx object,
 *						written under a temporary name, fsynced, renamed
 *	 wal/NAME.ok		agent: NAME is stored in the repository; holds the
 *						content's SHA-256 and the object key (RVX_SPOOL_OK_FMT)
 *	 wal/NAME.error		agent: NAME could not be stored; first line says
 *						whether retrying can help ("transient"/"permanent")
 *	 wal/SEG.GEN.START-END.partial.rvx	server (WAL exporter): bytes
 *						[START, END) of segment SEG (common/walname.h), written
 *						like NAME.rvx; the agent stores it and removes it, with
 *						no NAME.ok (nobody waits); the exporter removes it
 *						unshipped once it is redundant (extension/wal_export.c)
 *	 status/agent.json	agent: heartbeat and counters for revrx_status()
 *	 server.json		server: PostgreSQL's own archive backlog (pg_wal .ready
 *						files), every RVX_SERVER_STATUS_SECS, for /metrics
 *
 * Order of events, and why nothing is lost: the server acknowledges NAME to
 * Postgres only when NAME.ok names the same SHA-256 as the segment it was
 * asked to archive (or, in spool mode, once NAME.rvx is durable).  The agent
 * writes NAME.ok durably before it deletes NAME.rvx, and only after the
 * repository confirmed the object; re-shipping identical content is a
 * no-op, so a crash between any two steps at most repeats a step.
 * docs/spool-protocol.md tells the whole story.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_SPOOL_H
#define RVX_SPOOL_H

#include "rvx_port.h"

#include "sha256.h"

#define RVX_SPOOL_WAL_DIR		"wal"
#define RVX_SPOOL_STATUS_DIR	"status"
#define RVX_SPOOL_CLUSTER_FILE	"cluster.json"
#define RVX_SPOOL_SERVER_FILE	"server.json"
#define RVX_SERVER_STATUS_SECS	10
#define RVX_SPOOL_AGENT_FILE	"status/agent.json"

/* Base backups (docs/backup-format.md) */
#define RVX_SPOOL_BACKUP_DIR		"backup"
#define RVX_SPOOL_BACKUPS_FILE		"status/backups.json"
#define RVX_SPOOL_ABORTED_SUFFIX	".aborted"

/*
 * Small documents for the repository (docs/backup-format.md, "Documents"):
 * meta/<key>.rvx is stored by the agent under <key> plus the compression
 * suffix, never replacing different content, then removed; a permanent
 * failure leaves meta/<key>.error beside it.
 */
#define RVX_SPOOL_META_DIR			"meta"
#define RVX_RESTORE_POINT_PREFIX	"restore_points/"
#define RVX_SPOOL_VERIFICATIONS_FILE	"status/verifications.json"
/* the server's own state: state/<backup id>.files (incremental backups) */
#define RVX_SPOOL_STATE_DIR			"state"

#define RVX_SPOOL_READY_SUFFIX	".rvx"
#define RVX_SPOOL_OK_SUFFIX		".ok"
#define RVX_SPOOL_ERROR_SUFFIX	".error"
#define RVX_SPOOL_TMP_SUFFIX	".tmp"

/* Largest .ok / .error file either side writes or accepts. */
#define RVX_SPOOL_NOTE_MAX		2048

/*
 * NAME.ok: "<sha256 hex> <object key>\n".  Returns 0 and fills sha when the
 * text is well formed, -1 otherwise (a torn or foreign file is never taken
 * as an acknowledgement).
 */
extern int	rvx_spool_ok_format(char *out, size_t cap,
								const uint8_t sha[RVX_SHA256_LEN], const char *key);
extern int	rvx_spool_ok_parse(const char *text, uint8_t sha[RVX_SHA256_LEN]);

/*
 * NAME.error: "<transient|permanent> <unix time>\n<message>\n".  Parsing
 * returns 0 and points *message into text (which it modifies).
 */
extern int	rvx_spool_error_format(char *out, size_t cap, bool permanent,
								   long long when, const char *message);
extern int	rvx_spool_error_parse(char *text, bool *permanent, long long *when,
								  const char **message);

#endif							/* RVX_SPOOL_H */
