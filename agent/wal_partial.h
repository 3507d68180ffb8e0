/*-------------------------------------------------------------------------
 *
 * wal_partial.h
 *	  Streamed WAL partials in the repository: which one to use, and
 *	  removing those that are superseded.
 *
 * The server's WAL exporter (extension/wal_export.c) writes the flushed
 * prefix of the current segment as
 * <segment>.<generation>.<end offset>.partial (common/walname.h); the
 * agent stores each under wal/<timeline>/<that name><compression suffix>.
 * For a segment, the newest partial is the one with the largest
 * (generation, end offset): within a generation each is a prefix of the
 * same bytes, so it holds every byte of the others; a newer generation
 * (the server restarted after a crash) may have rewritten the WAL past the
 * end of crash recovery, so its partials supersede every partial of an
 * older one, however long.  A partial is
 * only ever looked for by its segment's full name, which starts with the
 * timeline, and under that timeline's prefix: a partial of one timeline is
 * never used for another.
 *
 * Removal follows storage, never precedes it: older partials of a segment
 * go once a newer one is confirmed, all of them once the complete segment
 * is confirmed.  A partial left behind (a removal that failed, a slow
 * upload that finished after the complete segment) is harmless: the
 * complete segment always wins (rvx_wal_find never returns a partial).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_WAL_PARTIAL_H
#define RVX_AGENT_WAL_PARTIAL_H

#include "repo.h"
#include "walname.h"

/* The newest partial of one segment seen in a listing so far. */
typedef struct RvxPartialPick
{
	char		segment[RVX_WALNAME_SEGLEN + 1];	/* the segment wanted */
	bool		found;
	uint64_t	generation;
	uint32_t	end_offset;
	char		key[256];
} RvxPartialPick;

extern void rvx_partial_pick_init(RvxPartialPick *pick, const char *segment);

/*
 * Considers one repository key: kept when it is a partial of pick's
 * segment that ranks above the one kept so far (generation, then end
 * offset).  Pure; returns
 * whether it was kept.
 */
extern bool rvx_partial_pick_key(RvxPartialPick *pick, const char *key);

/*
 * The newest stored partial of segment (a segment name): 1 and pick
 * filled, 0 when there is none, -1 on error.  One listing of the
 * segment's key stem.
 */
extern int	rvx_partial_find_newest(RvxRepo *repo, const char *segment,
									RvxPartialPick *pick, RvxError *err);

/*
 * Removes the stored partials of segment that rank below (generation,
 * end_offset): every one of an older generation, and those of the same
 * generation that end before end_offset (UINT64_MAX, UINT64_MAX: all of
 * them).  *removed (if not NULL) counts them.
 */
extern int	rvx_partial_remove_older(RvxRepo *repo, const char *segment, uint64_t generation,
									 uint64_t end_offset, int *removed, RvxError *err);

/*
 * Whether repository key shows WAL of segment's timeline after segment: a
 * later complete segment (or PostgreSQL's .partial), or a streamed partial
 * of a later segment and of generation generation or newer (an older
 * generation's partial of a later segment may be a leftover from before a
 * crash, whose WAL recovery discarded).  Pure.
 */
extern bool rvx_partial_key_is_later(const char *segment, uint64_t generation, const char *key);

/*
 * Whether the repository holds WAL of segment's timeline after segment
 * (rvx_partial_key_is_later; one listing of wal/<timeline>/): 1 and the
 * first such key in found, 0 when not, -1 on error.  A partial of segment
 * is the end of the WAL only when this is 0: otherwise the segment's
 * complete copy is missing, and recovery must not end at the partial.
 */
extern int	rvx_partial_later_wal(RvxRepo *repo, const char *segment, uint64_t generation,
								  char *found, size_t cap, RvxError *err);

/*
 * Whether WAL file pending (in the spool, not stored yet) keeps the end of
 * the stored WAL from advancing to the end of stored, a WAL file just
 * stored: a complete segment (or PostgreSQL's .partial) of stored's
 * timeline and of an earlier segment is a gap before it, which recovery
 * cannot pass.  A pending streamed partial never is: its segment's
 * complete file is the one that counts.  Pure.
 */
extern bool rvx_wal_pending_blocks(const char *pending, const char *stored);

/* Whether partial (generation a, offset a_off) ranks below (b, b_off). */
extern bool rvx_partial_older(uint64_t a, uint64_t a_off, uint64_t b, uint64_t b_off);

#endif							/* RVX_AGENT_WAL_PARTIAL_H */
