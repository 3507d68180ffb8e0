/*-------------------------------------------------------------------------
 *
 * revrx.h
 *	  Declarations shared by the files of the revrx server module.
 *
 * revrx.c owns the settings (revrx.*), the shared-memory state and a few
 * small helpers for reading the spool's status files; archive.c (the
 * archive module) and status.c (the SQL functions) use them through what
 * is declared here and nothing else.
 *
 * Shared state and its lock rules
 * -------------------------------
 * RevrxSharedState is a single fixed-size struct in the main shared memory
 * segment, allocated only when the library is in shared_preload_libraries.
 * Its one writer is the archiver process (through the archive module); its
 * readers are the backends that call revrx_status().  Every field is read
 * and written only while holding the spinlock "mutex", and only through
 * the accessors below, which copy the whole record in or out in a few
 * instructions: nothing that can fail, allocate or sleep ever runs while
 * the lock is held.  The counters start at zero at every server start (they
 * are not persisted; pg_stat_archiver is the durable count).
 *
 * When the library was not preloaded (archive_library = 'revrx' alone is
 * enough to archive), there is no shared state: the archive module still
 * works, the accessors that record do nothing, and revrx_status() refuses
 * with ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_H
#define REVRX_H

#include "datatype/timestamp.h"

/* Entry point of every loadable module (fmgr.h declares it only in PG16+). */
extern void _PG_init(void);

/* ---------------------------------------------------------------- settings */

/* Values of revrx.archive_ack */
typedef enum RevrxArchiveAck
{
	REVRX_ACK_REPOSITORY,		/* success once the agent stored it */
	REVRX_ACK_SPOOL,			/* success once it is durable in the spool */
} RevrxArchiveAck;

extern char *revrx_spool_dir;	/* revrx.spool_dir; "" = not configured */
extern int	revrx_compression;	/* revrx.compression (RvxCompression) */
extern int	revrx_compression_level;	/* revrx.compression_level; 0 = default */
extern int	revrx_archive_ack;	/* revrx.archive_ack (RevrxArchiveAck) */
extern int	revrx_archive_timeout;	/* revrx.archive_timeout, seconds */
extern int	revrx_archive_lookahead;	/* revrx.archive_lookahead, segments */
extern int	revrx_spool_max_size;	/* revrx.spool_max_size, MB */

extern const char *revrx_archive_ack_name(int ack);

/* ------------------------------------------------------------ shared state */

/* Longest message kept in shared memory, including the terminating NUL. */
#define REVRX_ERROR_LEN		512
/* Room for any archived file name (MAXFNAMELEN in xlog_internal.h). */
#define REVRX_NAME_LEN		64

typedef struct RevrxArchiveStats
{
	/* last file acknowledged to the archiver; "" if none since start */
	char		last_archived_wal[REVRX_NAME_LEN];
	TimestampTz last_archived_time;
	int64		archived_count;
	int64		failed_count;
	/* last failure; "" if none since start */
	char		last_failed_wal[REVRX_NAME_LEN];
	char		last_error[REVRX_ERROR_LEN];
	TimestampTz last_error_time;
} RevrxArchiveStats;

/* Archiver side; no-ops when the library was not preloaded. */
extern bool revrx_shared_available(void);
extern void revrx_archive_record_success(const char *file);
extern void revrx_archive_record_failure(const char *file, const char *message);

/* Reader side: false when the library was not preloaded. */
extern bool revrx_archive_stats_read(RevrxArchiveStats *stats);

/* ----------------------------------------------------- spool file helpers */

/*
 * Status files written by the agent are small; anything larger is not one
 * of ours and is treated as unreadable.
 */
#define REVRX_STATUS_FILE_MAX	(64 * 1024)

/* An agent whose heartbeat is older than this is taken as not running. */
#define REVRX_AGENT_STALE_SECS	15

/*
 * Reads a whole small file into a NUL-terminated palloc'd buffer.  Returns
 * NULL with errno set when it cannot (EFBIG if longer than maxlen); it never
 * throws, so callers can treat a missing or unreadable file as data.
 */
extern char *revrx_read_small_file(const char *path, size_t maxlen, size_t *len);

/*
 * Parses text (modified in place) as one JSON object and returns, for each
 * of the nkeys keys, the text of its scalar value at the top level (strings
 * de-escaped, numbers and booleans as written) in values[i], or NULL when
 * the key is absent, null or not a scalar.  Returns false, never throws, if
 * the text is not a well-formed JSON object.
 */
extern bool revrx_json_read_flat(char *text, size_t len,
								 const char *const *keys, int nkeys,
								 char **values);

/* Unix epoch seconds as a JSON number -> timestamptz; false if unusable. */
extern bool revrx_epoch_to_timestamptz(const char *number, TimestampTz *result);

/*
 * Makes s, in place, valid in the database encoding: if it is not, every
 * non-ASCII byte becomes '?'.  For text that comes from files or from the
 * archiver (which has no database encoding) on its way to SQL.
 */
extern void revrx_text_sanitize(char *s);

/* What status/agent.json says (status.c) */
typedef struct RevrxAgentStatus
{
	bool		missing;		/* the file does not exist */
	bool		valid;			/* read and parsed; the fields below apply */
	bool		has_pid;
	int32		pid;
	bool		has_updated_at;
	TimestampTz updated_at;
	char	   *last_stored_wal;	/* NULL if absent */
	bool		has_last_stored_at;
	TimestampTz last_stored_at;
	char	   *last_error;		/* NULL if absent */
	bool		has_last_error_at;
	TimestampTz last_error_at;
} RevrxAgentStatus;

/* Never throws (except out of memory); spool_dir may be "". */
extern void revrx_agent_status_read(const char *spool_dir, RevrxAgentStatus *st);

#endif							/* REVRX_H */
