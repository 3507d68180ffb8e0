/*-------------------------------------------------------------------------
 *
 * wal_partial.h
 *	  Streamed WAL partials in the repository: which one to use, and
 *	  removing those that are superseded.
 *
 * The server's WAL exporter (extension/wal_export.c) writes the flushed
 * prefix of the current segment as <segment>.<end offset>.partial
 * (common/walname.h); the agent stores each under
 * wal/<timeline>/<that name><compression suffix>.  For a segment, the
 * newest partial is the one with the largest end offset: each is a prefix
 * of the same segment, so it holds every byte of the others.  A partial is
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
	uint32_t	end_offset;
	char		key[256];
} RvxPartialPick;

extern void rvx_partial_pick_init(RvxPartialPick *pick, const char *segment);

/*
 * Considers one repository key: kept when it is a partial of pick's
 * segment that ends later than the one kept so far.  Pure; returns
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
 * Removes the stored partials of segment that end before end_offset
 * (UINT64_MAX: all of them).  *removed (if not NULL) counts them.
 */
extern int	rvx_partial_remove_older(RvxRepo *repo, const char *segment, uint64_t end_offset,
									 int *removed, RvxError *err);

#endif							/* RVX_AGENT_WAL_PARTIAL_H */
