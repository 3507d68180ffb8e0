/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  The shared memory of the revrx module: the hooks that create it, the
 *	  lock rules of every struct in it, and the archiver's counters.
 *
 * shmem.c installs the hooks (while preloading) and owns the archiver's
 * counters; the other two structs are owned by the files named below,
 * which declare their accessors in their own headers.
 *
 * Shared state and its lock rules
 * -------------------------------
 * Three fixed-size structs live in the main shared memory segment, allocated
 * only when the library is in shared_preload_libraries.
 *
 * Archiving (RevrxSharedState, shmem.c).  Its one writer is the archiver
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
 *	  "revrx" tranche, and only through the functions of backup_state.c
 *	  (backup_state.h),
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
 * only through the functions of lookahead.c
 * (lookahead.h), which copy in and out; no
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
#ifndef REVRX_SHMEM_H
#define REVRX_SHMEM_H

#include "datatype/timestamp.h"

/* Installs the shared memory hooks (from _PG_init, while preloading). */
extern void revrx_shmem_install(void);

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

#endif							/* REVRX_SHMEM_H */
