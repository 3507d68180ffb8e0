/*-------------------------------------------------------------------------
 *
 * wal_prefetch.h
 *	  The segments wal-fetch fetches ahead of recovery.
 *
 * PostgreSQL's startup process runs restore_command for one segment at a
 * time and replays nothing while it waits, so each segment's fetch (the
 * requests, the decompression, the SHA-256, the fsync) used to add to the
 * recovery time.  After serving a segment, wal-fetch now leaves a
 * prefetcher behind: a process of its own, detached so that PostgreSQL
 * does not wait for it, that fetches the next REVRX_WAL_PREFETCH segments
 * of the same timeline into pg_wal/revrx_prefetch/ while the server
 * replays, and the next wal-fetch takes its segment from there with a
 * rename (pgBackRest's asynchronous archive-get works the same way).
 *
 * What makes a queued segment as good as one fetched when asked:
 *	- It went through the very fetch wal-fetch makes (rvx_fetch_to_file:
 *	  the object's header, cluster and SHA-256, then fsync and rename), so
 *	  a file in the queue is complete, verified and durable.
 *	- Only segments the repository holds whole are queued.  The prefetcher
 *	  stops at the first one it does not: partials, gaps and the end of the
 *	  archive are left to wal-fetch's own decisions, made when PostgreSQL
 *	  asks for that segment.  Complete objects are never replaced by other
 *	  content, so a queued segment is exactly what that fetch would serve.
 *	- The queue belongs to one repository: its "source" file names it, and
 *	  a queue filled from another repository is neither taken from nor kept.
 *	- No queued segment outlives recovery: PostgreSQL asks for history
 *	  files when recovery ends (to number the new timeline), and each such
 *	  request empties the queue and removes it, or, when a prefetcher is
 *	  running, tells it to do so before its next segment.  A recovery that
 *	  ends without (shut down at its target) leaves it to the revrx worker
 *	  (extension/worker.c).  Segments up to the one just served, and of
 *	  other timelines, are removed as recovery passes them, so the queue
 *	  holds at most REVRX_WAL_PREFETCH segments, no more than 1 GB, and only
 *	  while REVRX_WAL_PREFETCH_KEEP_FREE_MB stay free in its file system.
 *	- Only for PostgreSQL's destinations, pg_wal/RECOVERYXLOG and
 *	  RECOVERYHISTORY: a wal-fetch run by hand fetches no more than asked,
 *	  and pg_rewind (which writes the segment's own name there, and removes
 *	  what it does not know in pg_wal) never races a prefetcher.
 *
 * One prefetcher at a time: it holds an flock on the queue's "lock" file,
 * and marks the segment it is fetching with NAME.fetching, so that a
 * wal-fetch for that segment waits for it rather than fetching it twice.
 * PostgreSQL runs restore_command one at a time, so the only concurrency
 * is between one wal-fetch and one prefetcher.  A prefetcher's failure
 * costs nothing but time: it is logged at debug level and the segment is
 * fetched when asked, where its error is reported.  The process wal-fetch
 * leaves behind always exits with status 0, whatever becomes of the
 * prefetcher it runs: in a container whose PID 1 is the postmaster, an
 * orphaned process that died of a signal would be taken for a crashed
 * backend (see detach() in wal_prefetch.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_WAL_PREFETCH_H
#define RVX_WAL_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* The queue's directory for a restore_command destination; false when there is none. */
extern bool rvx_prefetch_dir(const char *dest, char *dir, size_t cap);

/*
 * Moves segment name from the queue to dest, first waiting for a prefetcher
 * fetching it right now.  True when dest now holds it; false when the queue
 * does not (nothing was changed: fetch it).
 */
extern bool rvx_prefetch_take(const char *dir, const char *name, const char *dest,
							  const RvxConfig *cfg);

/*
 * After segment name was served: starts a prefetcher for the
 * cfg->wal_prefetch segments after it, unless one is running.
 */
extern void rvx_prefetch_ahead(const char *dir, const char *name, const RvxConfig *cfg);

/* Recovery begins or ends: the queue is emptied and removed. */
extern void rvx_prefetch_stop(const char *dir);

#endif							/* RVX_WAL_PREFETCH_H */
