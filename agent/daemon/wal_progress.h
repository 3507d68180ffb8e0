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
 *	- A complete segment (or PostgreSQL's .partial) counts once the recovery
 *	  point reaches its start.  Nothing else makes it count: the segments
 *	  before it may still be on their way (stored in parallel and finishing
 *	  out of order, or not even spooled yet while the look-ahead workers
 *	  spooled this one ahead of the archiver's).
 *	- A range counts as far as the chain of its segment's ranges stored by
 *	  this agent reaches (rvx_partial_chain, as wal-fetch would assemble
 *	  it), once the recovery point is at the segment's start.  A chain that
 *	  fills its segment counts like the complete segment: the exporter sends
 *	  a segment's last bytes when the next one begins, so the recovery point
 *	  does not wait for the 16 MB upload.
 *	- The anchor: an agent that starts in the middle of the WAL knows
 *	  nothing before, so until it has a recovery point, the segment before
 *	  a stored one is looked up in the repository (the caller asks when
 *	  rvx_wal_progress_needs_base says so, once per segment, and only while
 *	  no earlier WAL waits in the spool); stored complete, it makes the
 *	  segment's start the point's start.  Once there is a point no question
 *	  is asked: knowing that segment N+1 is stored says nothing about N.
 *	  (Again only if a segment beyond the point had to be forgotten, below.)
 *	  The first segment of timeline 1 needs no question: no WAL is before it.
 *	- Nothing moves it back; a new agent starts from nothing.
 *
 * Only the newest RVX_WAL_PROGRESS_SEGMENTS segments are remembered: older
 * ones are behind the recovery point or long stuck.  When one beyond the
 * point has to be forgotten, the point could stay stuck once the gap
 * fills, so the anchor question may be asked once more.  Pure: no I/O,
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
 * Returns whether the recovery point moved.
 */
extern bool rvx_wal_progress_stored(RvxWalProgress *p, const char *name, double written_at);

/*
 * Whether file pending, waiting in the spool, is WAL missing before stored
 * (a WAL file just stored): a complete segment of the same timeline,
 * earlier, and not behind the recovery point already.  While one is, the
 * anchor question is not asked for stored.
 */
extern bool rvx_wal_progress_blocks(const RvxWalProgress *p, const char *pending,
									const char *stored);

/*
 * After WAL file stored (a segment or a range) did not count: whether the
 * repository should be asked if the segment before its segment is stored
 * complete (the anchor, see above: only without a recovery point, once per
 * segment, with that segment's name in prev).
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

/*
 * The same, but only for the segment itself, not PostgreSQL's SEG.partial
 * (which wal-fetch never serves: the streamed partials stay needed).
 */
extern bool rvx_wal_progress_segment_stored(RvxWalProgress *p, const char *segment);

/* How many streamed partials of segment were stored (as remembered). */
extern size_t rvx_wal_progress_partials_stored(RvxWalProgress *p, const char *segment);

#endif							/* RVX_AGENT_WAL_PROGRESS_H */
