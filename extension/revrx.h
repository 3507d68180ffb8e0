/*-------------------------------------------------------------------------
 *
 * revrx.h
 *	  Declarations shared by the files of the revrx server module.
 *
 * revrx.c owns the settings (revrx.*), the shared-memory state and a few
 * small helpers for reading the spool's status files; archive.c (the
 * archive module), status.c and backup_sql.c (the SQL functions), the
 * backup worker (worker.c, backup.c) and backup_state.c use them through
 * what is declared here and nothing else.
 *
 * Shared state and its lock rules
 * -------------------------------
 * Three fixed-size structs live in the main shared memory segment, allocated
 * only when the library is in shared_preload_libraries.
 *
 * Archiving (RevrxSharedState, revrx.c).  Its one writer is the archiver
 * process (through the archive module); its readers are the backends that
 * call revrx_status().  Every field is read and written only while holding
 * the spinlock "mutex", and only through the accessors below, which copy
 * the whole record in or out in a few instructions: nothing that can fail,
 * allocate or sleep ever runs while the lock is held.  The counters start
 * at zero at every server start (they are not persisted; pg_stat_archiver
 * is the durable count).
 *
 * Backups (RevrxBackupShared, backup_state.c).  A table of the last
 * REVRX_BACKUP_HISTORY backups started since the server started (an
 * orphan found in the spool at worker start counts as started), plus the
 * pid and latch of the backup worker.  Rules:
 *	- Every field is read and written only while holding the LWLock of the
 *	  "revrx" tranche, and only through the functions of backup_state.c,
 *	  which copy entries in and out; no I/O, allocation or ereport happens
 *	  while the lock is held.  (An LWLock rather than a spinlock: entries
 *	  are a few kilobytes, and a backend copying them all must not spin.)
 *	- At most one entry is "active" (requested, running or shipping) at a
 *	  time; revrx_backup_request() checks that and claims the new entry in
 *	  one critical section, so two concurrent requests cannot both win.
 *	- An entry is created by revrx_backup_request() (a backend, or the
 *	  worker for a scheduled backup) or revrx_backup_recovered() (the
 *	  worker); after that only the worker changes it, identified by its
 *	  slot number, which stays valid while the entry is active (only
 *	  entries in a final state are ever reused).
 *	- Every status change is broadcast on the condition variable, which is
 *	  what revrx_backup_now(wait => true) sleeps on.
 *	- Like the archive counters, the table starts empty at every server
 *	  start, including the reinitialization after a crash; the spool and
 *	  the agent's catalog (status/backups.json) are the durable record.
 *
 * Spooling ahead (RevrxAheadShared, lookahead.c): the archiver's current
 * file, the spooler workers' latches, the claims on segments being spooled
 * and the digests of segments spooled ahead.  Every field is read and
 * written only while holding the LWLock of the "revrx lookahead" tranche,
 * only through the functions of lookahead.c, which copy in and out; no
 * I/O, allocation or ereport happens while it is held (SetLatch comes
 * after the release).
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

#include <sys/stat.h>
#include <time.h>

#include "access/tupdesc.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "fmgr.h"

#include "object.h"

/* Entry point of every loadable module (fmgr.h declares it only in PG16+). */
extern void _PG_init(void);

/*
 * The version of the SQL objects this module serves: revrx.control's
 * default_version.  A function whose declaration in an older version had
 * another shape refuses to run through it (declaration.c); new SQL objects
 * go into a new version with its update script (docs/configuration.md).
 */
#define REVRX_SQL_VERSION "0.2"

extern void revrx_check_declaration(FunctionCallInfo fcinfo, int nargs, TupleDesc tupdesc,
									const Oid *types, int ncols);

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
extern int	revrx_archive_lookahead_workers;	/* revrx.archive_lookahead_workers */
extern int	revrx_backup_compress_workers;	/* revrx.backup_compress_workers */
extern int	revrx_spool_max_size;	/* revrx.spool_max_size, MB */
extern char *revrx_backup_schedule;	/* revrx.backup_schedule; "" = none */
extern char *revrx_fingerprint_database;	/* revrx.fingerprint_database; "" = none */
extern int	revrx_fingerprint_lock_timeout;	/* revrx.fingerprint_lock_timeout, ms */
extern bool revrx_fingerprint_settle;	/* revrx.fingerprint_settle */
extern int	revrx_partial_interval;	/* revrx.partial_interval, ms; 0 = off */

/* The parsed revrx.backup_schedule (a RevrxCron), NULL when it is empty. */
struct RevrxCron;
extern const struct RevrxCron *revrx_backup_cron;
/* revrx.backup_schedule_incremental, likewise */
extern char *revrx_backup_schedule_incremental;
extern const struct RevrxCron *revrx_backup_cron_incremental;

extern const char *revrx_archive_ack_name(int ack);

/* Defines the settings (settings.c, from _PG_init). */
extern void revrx_settings_define(void);

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

/* Installs the shared memory hooks (shmem.c, while preloading). */
extern void revrx_shmem_install(void);

/* Archiver side; no-ops when the library was not preloaded. */
extern bool revrx_shared_available(void);
extern void revrx_archive_record_success(const char *file);
extern void revrx_archive_record_failure(const char *file, const char *message);
/* The .ready files of pg_wal/archive_status: how many, and their segments' size. */
extern void revrx_wal_ready_count(int64 *count, int64 *bytes);

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

/*
 * An object writer for the current revrx.compression settings, kept in
 * *cache between calls (allocated outside any per-call memory context, so
 * an error in the middle of a file cannot leak the compression library's
 * state) and replaced when the settings change.  A level that is not valid
 * for the algorithm is reported once per setting and replaced by the
 * algorithm's default.  A cache made with REVRX_WRITER_CACHE_FASTEST
 * compresses at the algorithm's fastest level whatever
 * revrx.compression_level says (the WAL exporter: its objects live until
 * their segment is stored, and it runs beside the backends).  workers:
 * zstd helper threads.  NULL (after a report at elevel) when out of memory.
 */
typedef struct RevrxWriterCache
{
	RvxObjectWriter *writer;
	int			alg;
	int			level;
	int			warned_alg;		/* -1: nothing reported yet */
	int			warned_level;
	bool		fastest;
} RevrxWriterCache;

#define REVRX_WRITER_CACHE_INIT {NULL, -1, -1, -1, -1, false}
#define REVRX_WRITER_CACHE_FASTEST {NULL, -1, -1, -1, -1, true}

extern RvxObjectWriter *revrx_object_writer(RevrxWriterCache *cache, int workers,
												   int elevel);

/*
 * Writes a spool object durably and atomically (archive.c): reads src
 * (the first limit bytes, or to its end if limit is 0) through writer,
 * into tmp_path, then durable_rename() to final_path, so the agent never
 * sees a partial object.  If expected_sha is set the content must have
 * that digest; if still_valid is set it is asked, after the read and
 * before the rename, whether what was read may still be published (it
 * reports why not itself).  src is read from its current position.  With
 * mtime set, the file carries it as its modification time (the agent takes
 * a file's mtime for when the server wrote its WAL).  With
 * rename_not_durable the content is fsynced before the rename, as always,
 * but the directory is not after it: an OS crash may then lose the name
 * (for optional files, the WAL exporter's, which are then simply not
 * there), never show it with other content.  With prefix set, the
 * content opens with those bytes, then src's (a range's identity, for the
 * WAL exporter; expected_sha then covers both).  hdr receives the
 * object's header.  Used by the archive module for whole files and by the
 * WAL exporter for ranges of the current segment.
 */
typedef struct RevrxSpoolWrite
{
	RvxObjectWriter *writer;
	int			src;
	const char *src_path;
	uint64		limit;
	char	   *buf;
	size_t		bufsize;
	const char *tmp_path;
	const char *final_path;
	const uint8 *expected_sha;
	bool		(*still_valid) (void *arg);
	void	   *arg;
	int			elevel;
	TimestampTz mtime;			/* 0: now; else the published file's mtime */
	bool		rename_not_durable; /* see below */
	const uint8 *prefix;		/* prefix_len bytes of content before src's */
	size_t		prefix_len;
} RevrxSpoolWrite;

extern bool revrx_spool_write_object(const RevrxSpoolWrite *sw, RvxObjectHeader *hdr);

/*
 * Replaces path with data: a temporary file, then durable_rename() (which
 * fsyncs the file, renames it and fsyncs the directory).
 */
extern void revrx_write_file_durably(const char *path, const void *data, size_t len);

/*
 * Makes sure the spool is this cluster's: writes cluster.json (system
 * identifier, version, segment size) for the agent when it is missing or
 * outdated, and ERRORs when it names another cluster, whose objects must
 * never be mixed with ours.  Everything that writes into the spool calls it
 * first.
 */
extern void revrx_spool_claim(void);

/* Whether name ends with suffix (and is longer than it). */
extern bool revrx_has_suffix(const char *name, const char *suffix);

/* Whether path exists; ERROR for anything but ENOENT. */
extern bool revrx_file_exists(const char *path);
/* unlink(2) that is fine with a missing file; ERROR otherwise. */
extern void revrx_unlink_if_exists(const char *path);

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
	/* the newest WAL stored, segment or partial: where it ends, when written */
	bool		has_newest_wal;
	XLogRecPtr	newest_wal_end;
	TimestampTz newest_wal_written_at;
} RevrxAgentStatus;

/* Never throws (except out of memory); spool_dir may be "". */
extern void revrx_agent_status_read(const char *spool_dir, RevrxAgentStatus *st);

/*
 * The JSON checks revrx_json_read_flat() makes before parsing, for other
 * readers of agent-written JSON: false if text (of len bytes, modified in
 * place as described at its definition) must not be handed to the parser.
 */
extern bool revrx_json_precheck(char *text, size_t len);

/* ---------------------------------------------------------------- backups */

/*
 * Backup ids: "YYYYMMDDTHHMMSSZ" of the start time in UTC, with "-N"
 * appended when that id is taken (docs/backup-format.md).
 */
#define REVRX_BACKUP_ID_LEN		32	/* room for any id we make, with NUL */
#define REVRX_BACKUP_LABEL_MAX	200 /* bytes of a label, in UTF-8 */
#define REVRX_BACKUP_HISTORY	16	/* backups remembered since start */
#define REVRX_PROBLEMS_LEN		2048	/* JSON text of the first problems */


typedef enum RevrxBackupStatus
{
	REVRX_BACKUP_FREE = 0,		/* slot unused */
	REVRX_BACKUP_REQUESTED,		/* waiting for the worker */
	REVRX_BACKUP_RUNNING,		/* being exported */
	REVRX_BACKUP_SHIPPING,		/* exported; waiting for the agent's .ok */
	REVRX_BACKUP_COMPLETE,		/* stored in the repository */
	REVRX_BACKUP_FAILED,		/* an error ended it */
	REVRX_BACKUP_ABORTED,		/* stopped (worker stopped or found half done) */
} RevrxBackupStatus;

typedef enum RevrxBackupPhase
{
	REVRX_PHASE_NONE = 0,
	REVRX_PHASE_CHECKPOINT,		/* do_pg_backup_start: waiting for a checkpoint */
	REVRX_PHASE_COPYING,		/* reading and spooling files */
	REVRX_PHASE_SPOOL_FULL,		/* waiting for the agent to make room */
	REVRX_PHASE_STOPPING,		/* do_pg_backup_stop: waiting for WAL archiving */
	REVRX_PHASE_COMMITTING,		/* writing backup_manifest and backup.json */
	REVRX_PHASE_SHIPPING,		/* waiting for the agent */
} RevrxBackupPhase;

#define REVRX_BACKUP_IS_ACTIVE(s) \
	((s) == REVRX_BACKUP_REQUESTED || (s) == REVRX_BACKUP_RUNNING || \
	 (s) == REVRX_BACKUP_SHIPPING)

typedef struct RevrxBackupEntry
{
	uint64		seq;			/* creation order; 0 for a free slot */
	int			slot;			/* its index in the table */
	RevrxBackupStatus status;
	RevrxBackupPhase phase;
	char		id[REVRX_BACKUP_ID_LEN];
	bool		has_label;
	char		label[REVRX_BACKUP_LABEL_MAX + 1];	/* UTF-8 */
	bool		scheduled;
	/*
	 * The session user of revrx_backup_now() in UTF-8 (a name grows at most
	 * 4 times in the conversion); "" for a scheduled backup.
	 */
	char		requested_by[NAMEDATALEN * 4];
	bool		incremental;	/* asked for; the exporter may fall back to full */
	char		parent[REVRX_BACKUP_ID_LEN];	/* "" for a full backup */
	TimeLineID	timeline;		/* 0 until known */
	XLogRecPtr	start_lsn;		/* InvalidXLogRecPtr until known */
	XLogRecPtr	stop_lsn;
	TimestampTz start_time;		/* 0 until known */
	TimestampTz stop_time;
	int64		original_bytes;
	int64		stored_bytes;
	int64		file_count;
	int32		problem_count;
	/* JSON array of the first problems that fit; "" if not known */
	char		problems[REVRX_PROBLEMS_LEN];
	/* SHA-256 (hex) of backup.json as written; "" if not known */
	char		backup_json_sha[65];
	char		error[REVRX_ERROR_LEN]; /* "" if none */
} RevrxBackupEntry;

/* backup_state.c: shared memory, see the lock rules above */
extern Size revrx_backup_shmem_size(void);
extern void revrx_backup_shmem_request(void);
extern void revrx_backup_shmem_init(void);
extern bool revrx_backup_state_available(void);

/*
 * Claims a new entry (status requested) for a backup starting now, with an
 * id not used by any remembered backup, by the catalog or in the spool.
 * Returns false, with a copy of the active entry in *busy, if a backup is
 * already active.  Wakes the worker.  label may be NULL; spool_dir is
 * where taken ids are looked for ("" = nowhere).
 */
extern bool revrx_backup_request(const char *label, bool scheduled, bool incremental,
								 const char *requested_by, const char *spool_dir,
								 RevrxBackupEntry *created,
								 RevrxBackupEntry *busy);
/* A copy of the entry with this id; false if none is remembered. */
extern bool revrx_backup_lookup(const char *id, RevrxBackupEntry *out);
/* Copies of every used entry, oldest first; returns how many (<= max). */
extern int	revrx_backup_list(RevrxBackupEntry *out, int max);
/* The active entry, if any. */
extern bool revrx_backup_active(RevrxBackupEntry *out);
/* Sleeps on the condition variable (at most timeout_ms); see ConditionVariableTimedSleep. */
extern void revrx_backup_wait_for_change(long timeout_ms);
/* Pid of the running worker, 0 if none. */
extern pid_t revrx_backup_worker_pid(void);

/* Worker side; slot numbers come from revrx_backup_take_request(). */
extern bool revrx_backup_worker_attach(pid_t *other);
extern void revrx_backup_worker_detach(void);
extern bool revrx_backup_take_request(int *slot, RevrxBackupEntry *out);
extern void revrx_backup_set_phase(int slot, RevrxBackupPhase phase);
extern void revrx_backup_set_start(int slot, TimeLineID tli, XLogRecPtr start_lsn);
extern void revrx_backup_set_progress(int slot, int64 files, int64 original_bytes,
									  int64 stored_bytes, int32 problem_count,
									  const char *problems);
extern void revrx_backup_set_stop(int slot, XLogRecPtr stop_lsn, TimestampTz stop_time);
extern void revrx_backup_set_shipping(int slot, const char *backup_json_sha);
extern void revrx_backup_set_note(int slot, const char *message);
extern void revrx_backup_finish(int slot, RevrxBackupStatus status, const char *error);
/* Records a backup found in the spool at worker start; returns its slot or -1. */
extern int	revrx_backup_recovered(const char *id, RevrxBackupStatus status,
								   const char *error);
/* Fails every entry left running by an earlier worker; returns how many. */
extern int	revrx_backup_abandon_running(const char *error);

/* ------------------------------------------ catalog (status/backups.json) */

/* One backup of the repository, as the agent's catalog summarizes it. */
typedef struct RevrxCatalogEntry
{
	char	   *id;
	char	   *label;			/* NULL if none */
	char	   *kind;			/* NULL if absent */
	bool		has_scheduled;
	bool		scheduled;
	bool		has_start_lsn;
	XLogRecPtr	start_lsn;
	bool		has_stop_lsn;
	XLogRecPtr	stop_lsn;
	bool		has_start_time;
	TimestampTz start_time;
	bool		has_stop_time;
	TimestampTz stop_time;
	bool		has_original_bytes;
	int64		original_bytes;
	bool		has_stored_bytes;
	int64		stored_bytes;
	bool		has_file_count;
	int64		file_count;
	char	   *problems;		/* JSON array text, NULL if absent/unusable */
	char	   *not_included;	/* JSON array text, NULL if absent/unusable */
	TimeLineID	timeline;		/* 0 if absent */
	char	   *parent;			/* an incremental's parent; NULL for a full backup */
	bool		has_pinned;		/* false from an agent that does not say */
	bool		pinned;			/* revrx-agent pin: expire keeps it */
	int			pg_major;		/* PostgreSQL major of the backup; 0 if not said */
} RevrxCatalogEntry;

/*
 * Reads <spool>/status/backups.json (catalog.c).  Returns the number of
 * usable entries (palloc'd array in *entries); 0 if the file is missing,
 * unreadable or malformed, or spool_dir is "".  Never throws, except out
 * of memory.
 */
extern int	revrx_catalog_read(const char *spool_dir, RevrxCatalogEntry **entries);

/* One restore drill, as status/verifications.json summarizes it. */
typedef struct RevrxVerification
{
	char	   *backup_id;
	bool		passed;
	bool		has_started_at;
	TimestampTz started_at;
	bool		has_finished_at;
	TimestampTz finished_at;
	bool		has_recovery_seconds;
	double		recovery_seconds;
	bool		has_total_seconds;
	double		total_seconds;
	char	   *failed_checks;	/* JSON array text, NULL if absent/unusable */
	char	   *report_key;		/* NULL if absent */
} RevrxVerification;

/*
 * Reads <spool>/status/verifications.json (catalog.c), newest first as the
 * agent writes it; same contract as revrx_catalog_read().
 */
extern int	revrx_verifications_read(const char *spool_dir, RevrxVerification **entries);

/* Whether s has the shape of a backup id (so it is safe in a path). */
extern bool revrx_backup_id_valid(const char *s);

/*
 * Documents for the repository (spool_meta.c): writes text durably as the
 * object meta/<key>.rvx, which revrx-agent stores under key; exists says
 * whether one is still waiting there, or was refused (meta/<key>.error).
 */
extern void revrx_meta_write(const char *key, const char *text, size_t len);
extern bool revrx_meta_exists(const char *key);

/*
 * Starts the fingerprint worker for a backup that was just exported
 * (fingerprint.c); only logs if it cannot.
 */
extern void revrx_fingerprint_launch(const char *backup_id);

/*
 * Before a backup starts: reads the tables the fingerprints will read, and
 * waits, so that the hint bits they set fall before the backup
 * (fingerprint.c; revrx.fingerprint_settle).  Only logs if it cannot.
 */
extern void revrx_fingerprint_settle_before(const char *backup_id);

/* Writes a restore point, and with record its record for the repository. */
extern XLogRecPtr revrx_restore_point_create(const char *name, bool record);

/* ------------------------------------------------------ spooling segments */

/* What revrx_spool_segment() spooled. */
typedef struct RevrxSpooled
{
	uint8		sha[RVX_SHA256_LEN];	/* of the source file's content */
	int64		written;		/* bytes of the object */
	bool		settled;		/* the source did not change around the read */
	struct stat source;			/* the source file, after the read */
} RevrxSpooled;

/*
 * Writes the WAL file at path (relative to the data directory) into the
 * spool as file's object (archive.c), durably and atomically.  With elevel
 * ERROR any failure throws; with a lower elevel failures are reported at
 * that level, cleaned up, and false is returned (a source file that has
 * disappeared is not worth a report).  If expected_sha is given, the
 * content must have that digest; ahead says the segment is spooled ahead
 * of the archiver, and is then published only if it is still .ready after
 * the read.  result, if given, receives what was spooled.  The caller
 * holds file's claim (revrx_ahead_claim).
 */
extern bool revrx_spool_segment(const char *file, const char *path,
								const uint8 *expected_sha, bool ahead, int elevel,
								RevrxSpooled *result);
/* Frees this process's object writer. */
extern void revrx_spool_segment_cleanup(void);
/* Bytes the objects (*.rvx) in the spool's wal/ directory take. */
extern int64 revrx_spool_wal_bytes(const char *wal_dir);

/* ---------------------------------------------- spooling ahead (lookahead.c) */

/* The largest revrx.archive_lookahead_workers. */
#define RVX_AHEAD_WORKERS_MAX 8
/* Most zstd helper threads a backup may compress with. */
#define RVX_COMPRESS_WORKERS_MAX 16

extern void revrx_ahead_shmem_request(void);
extern void revrx_ahead_shmem_init(void);
extern void revrx_ahead_register(void);
extern PGDLLEXPORT void revrx_ahead_main(Datum main_arg);

/* The archiver starts an attempt for file / is still in it. */
extern void revrx_ahead_archiving(const char *file);
extern void revrx_ahead_keepalive(void);

/*
 * Claims: a process spools a segment only while it holds the segment's
 * claim.  revrx_ahead_claim() is false when another process holds it.
 * Claims are released by the process that holds them, and at its exit
 * once revrx_ahead_on_exit_register() was called.
 */
extern bool revrx_ahead_claim(const char *name);
extern void revrx_ahead_release(const char *name);
extern void revrx_ahead_release_all(void);
extern void revrx_ahead_on_exit_register(void);

/*
 * Digests of segments spooled ahead, for the archiver (see "Digests" in
 * lookahead.c): whether a read may be remembered, remembering, recalling.
 */
extern bool revrx_ahead_settled(const struct stat *before, const struct stat *after,
								time_t read_started);
extern void revrx_ahead_remember(const char *name, const RevrxSpooled *spooled);
extern bool revrx_ahead_recall(const char *name, const char *path,
							   uint8 sha[RVX_SHA256_LEN]);

/* The segments to spool ahead of a file (revrx_ahead_collect). */
typedef struct RevrxAheadList
{
	char		wal_dir[MAXPGPATH];
	char	  **names;
	int			n;
	int			next;			/* the next one to look at */
	int64		spool_bytes;	/* the spool's objects, as last known */
} RevrxAheadList;

extern void revrx_ahead_collect(RevrxAheadList *list, const char *after);
/* Spools the next one nobody has spooled or is spooling: 1, 0 (none), -1 (failed). */
extern int	revrx_ahead_step(RevrxAheadList *list, int elevel);

#endif							/* REVRX_H */
