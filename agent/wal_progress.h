/*-------------------------------------------------------------------------
 *
 * wal_progress.h
 *	  The recovery point of `revrx-agent run`: where the WAL that recovery
 *	  could replay from the repository ends, and when the server wrote it.
 *
 * revrx_status().rpo_seconds and the revrx_rpo_exposure_seconds metric
 * are its age, so it must never run ahead of what a restore would reach.
 * The agent stores WAL in parallel and out of order: complete segments
 * from the archive module, and ranges of the segment being written from
 * the WAL exporter (wal_partial.h).  What counts:
 *
 *	- A complete segment (or PostgreSQL's .partial) counts when no earlier
 *	  one still waits in the spool beyond the recovery point (the caller
 *	  asks rvx_wal_progress_blocks for each waiting file): the server hands
 *	  segments over in order, so an earlier one that left the spool is
 *	  stored.  One that waited counts as soon as the recovery point reaches
 *	  its start (it is remembered).
 *	- A range counts as far as the chain of its segment's ranges stored by
 *	  this agent reaches (rvx_partial_chain, as wal-fetch would assemble
 *	  it), once the recovery point is at the segment's start, or the
 *	  segment before is known stored complete (the caller looks it up in
 *	  the repository when rvx_wal_progress_needs_base says so, once per
 *	  segment; an agent that starts in the middle of the WAL knows nothing
 *	  before).  A chain that fills its segment counts like the complete
 *	  segment: the exporter sends a segment's last bytes when the next one
 *	  begins, so the recovery point does not wait for the 16 MB upload.
 *	- Nothing moves it back; a new agent starts from nothing.
 *
 * Only the newest RVX_WAL_PROGRESS_SEGMENTS segments are remembered: older
 * ones are behind the recovery point or long stuck, and a segment stuck
 * that long holds it back through the spool check anyway.  Pure: no I/O,
 * no locking (the caller holds its lock).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_WAL_PROGRESS_H
#define RVX_AGENT_WAL_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walname.h"

#define RVX_WAL_PROGRESS_SEGMENTS	32

typedef struct RvxWalProgress RvxWalProgress;

/* NULL when out of memory. */
extern RvxWalProgress *rvx_wal_progress_new(uint64_t segment_size);
extern void rvx_wal_progress_free(RvxWalProgress *p);

/*
 * WAL file name (a segment, PostgreSQL's .partial, or a streamed partial)
 * is stored, written by the server at written_at (epoch seconds).
 * counts: for a complete segment, that no earlier file waiting in the
 * spool blocks it (ignored for streamed partials).  Returns whether the
 * recovery point moved.
 */
extern bool rvx_wal_progress_stored(RvxWalProgress *p, const char *name, double written_at,
									bool counts);

/*
 * Whether file pending, waiting in the spool, keeps complete segment
 * stored from counting: a complete segment of the same timeline, earlier,
 * and not behind the recovery point already.
 */
extern bool rvx_wal_progress_blocks(const RvxWalProgress *p, const char *pending,
									const char *stored);

/*
 * After streamed partial stored did not count: whether the repository
 * should be asked if the segment before its segment is stored complete
 * (true once per segment, with that segment's name in prev).
 */
extern bool rvx_wal_progress_needs_base(RvxWalProgress *p, const char *stored, char *prev,
										size_t cap);

/*
 * The answer for the segment before segment's: when complete is true,
 * the WAL before segment is stored, and its ranges count.  Returns whether
 * the recovery point moved.
 */
extern bool rvx_wal_progress_base(RvxWalProgress *p, const char *segment, bool complete);

/*
 * The recovery point: the file whose end it is, that end (an LSN), and
 * when the server wrote that file.  False before anything counted.
 */
extern bool rvx_wal_progress_point(const RvxWalProgress *p, char *name, size_t cap,
								   uint64_t *end, double *written_at);

/* Whether the recovery point is at or past the end of segment (a segment name). */
extern bool rvx_wal_progress_covers(const RvxWalProgress *p, const char *segment);

/* Whether segment (a segment name) was stored complete (and is still remembered). */
extern bool rvx_wal_progress_stored_complete(RvxWalProgress *p, const char *segment);

#endif							/* RVX_AGENT_WAL_PROGRESS_H */
