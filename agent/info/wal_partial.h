/*-------------------------------------------------------------------------
 *
 * wal_partial.h
 *	  Streamed WAL partials in the repository: which of them recovery can
 *	  use, and removing those that are superseded.
 *
 * The server's WAL exporter (extension/wal_export.c) writes the flushed
 * WAL of the current segment as ranges, <segment>.<generation>.<start>-
 * <end>.partial (common/walname.h), each holding only the bytes flushed
 * since the one before; the agent stores each under wal/<timeline>/<that
 * name><compression suffix>.  A reader assembles a segment's ranges into
 * a chain from the segment's start: within one generation each range is
 * the same WAL (a restart of the exporter alone may repeat some of it, so
 * ranges may overlap, and then hold the same bytes), and the chain is as
 * long as the ranges reach without a gap.  A missing range ends the chain
 * where it begins: recovery stops there, it never skips a hole.  A newer
 * generation (the server restarted after a crash) may have rewritten the
 * WAL past the end of crash recovery, so the chain is taken from the
 * newest generation that has one; ranges of two generations are never
 * joined.  A partial is only ever looked for by its segment's full name,
 * which starts with the timeline, and under that timeline's prefix: a
 * partial of one timeline is never used for another.
 *
 * Removal follows storage, never precedes it: after a range that starts
 * at the segment's start is confirmed, the ranges it makes redundant go
 * (rvx_streamed_supersedes: older generations, and ranges of its own it
 * contains); all of them once the complete segment is confirmed.  A
 * partial left behind (a removal that failed, a slow upload that finished
 * after the complete segment) is harmless: the complete segment always
 * wins (rvx_wal_find never returns a partial), and expire removes it with
 * its segment.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_WAL_PARTIAL_H
#define RVX_AGENT_WAL_PARTIAL_H

#include "base/strvec.h"
#include "info/fetch.h"
#include "storage/repo.h"
#include "walname.h"

/* What the partials of one segment give recovery (rvx_partial_chain). */
typedef struct RvxPartialChain
{
	bool		found;			/* WAL from the segment's start, in one generation */
	uint64_t	generation;		/* the chain's, when found */
	uint32_t	end;			/* the chain holds [0, end) of the segment */
	size_t		nlinks;			/* the ranges it is made of, in links[] */
	/*
	 * Some partial of the segment holds WAL the chain does not reach: one of
	 * its generation after a gap, or one of a newer generation whose start
	 * is missing.  That WAL is stored but cannot be replayed: the chain's
	 * end is then not the end of the stored WAL.
	 */
	bool		gap_after;
} RvxPartialChain;

/*
 * The chain recovery can use from the n ranges of one segment (any order):
 * from the newest generation that has a range starting at 0, the ranges
 * that continue one another without a gap, each the one reaching furthest.
 * links (room for n) receives their indexes in order; link i is used from
 * the previous link's end (overlapping bytes are the same WAL).  Pure.
 */
extern void rvx_partial_chain(const RvxStreamedName *ranges, size_t n, size_t *links,
							  RvxPartialChain *chain);

/* The stored partials of one segment, as listed. */
typedef struct RvxPartialSet
{
	RvxStreamedName *ranges;
	RvxStrVec	keys;			/* keys.s[i] stores ranges[i] */
	size_t		cap;
} RvxPartialSet;

/*
 * Whether repository key is a partial of segment (a segment name), under
 * the segment's own timeline; if so, *range is filled.  Pure.
 */
extern bool rvx_partial_key_parse(const char *segment, const char *key, RvxStreamedName *range);

/*
 * Every stored partial of segment (one listing of its key stem): 0 and set
 * filled (set->keys.n of them, free with rvx_partial_set_free), or -1.
 */
extern int	rvx_partial_list(RvxRepo *repo, const char *segment, RvxPartialSet *set,
							 RvxError *err);
extern void rvx_partial_set_free(RvxPartialSet *set);

/*
 * Removes the stored partials of segment that stored makes redundant
 * (rvx_streamed_supersedes), or every one when stored is NULL (the
 * complete segment is stored).  *removed (if not NULL) counts them.
 */
extern int	rvx_partial_remove_superseded(RvxRepo *repo, const char *segment,
										  const RvxStreamedName *stored, int *removed,
										  RvxError *err);

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
 * first such key in found, 0 when not, -1 on error.  A chain that ends
 * inside segment is the end of the WAL only when this is 0: otherwise the
 * rest of segment is missing, and recovery must not end at the chain.
 */
extern int	rvx_partial_later_wal(RvxRepo *repo, const char *segment, uint64_t generation,
								  char *found, size_t cap, RvxError *err);

/*
 * Where a later timeline branched off timeline tli inside [from, to): the
 * earliest switch point of tli in history file text (lines "<parent
 * timeline> <switch LSN X/X> <reason>", PostgreSQL's format; comments and
 * blank lines skipped).  True and *lsn when one is.  Pure.
 */
extern bool rvx_history_branch_in(const char *text, uint32_t tli, uint64_t from, uint64_t to,
								  uint64_t *lsn);

/*
 * Whether a later timeline branched off segment's timeline inside segment
 * (a segment name): reads the history files of the timelines after it in
 * the repository, probing tli+1, tli+2, ... until one is missing, as
 * PostgreSQL's findNewestTimeLine does.  1 with the earliest switch point
 * in *lsn and the history file's name in history (cap bytes); 0 when none
 * did; -1 on error (an unreadable history file is an error: a switch point
 * must not be missed).
 */
extern int	rvx_partial_branch_point(RvxRepo *repo, uint64_t system_id, const char *segment,
									 uint64_t segment_size, uint64_t *lsn, char *history,
									 size_t cap, RvxError *err);

/*
 * Checking a range's WAL against its name.  The name (the repository key)
 * is the only place that says which timeline, segment and offsets a
 * partial holds: the object header has no such fields.  A range misfiled
 * under another name (copied, renamed) would be spliced into a segment at
 * the wrong place without a word.  WAL says where it belongs itself: each
 * page (XLOG_BLCKSZ, 8192 bytes in every PostgreSQL build revrx supports)
 * starts with a header whose xlp_tli (4 bytes, little-endian, at offset 4)
 * is the timeline that wrote it and whose xlp_pageaddr (8 bytes at offset
 * 8) is the page's own LSN.  So at every page boundary inside the range,
 * xlp_pageaddr must be the segment's start LSN plus the offset, and
 * xlp_tli nonzero and not above the segment's timeline (a segment of a
 * new timeline begins with its parent's pages).  A header cut by the
 * range's start or end is checked as far as its bytes are there.
 * Streaming: the bytes are fed in the order of the range, in any pieces.
 */
#define RVX_WAL_PAGE_SIZE	8192

typedef struct RvxWalPageCheck
{
	uint64_t	segment_lsn;	/* LSN of the segment's first byte */
	uint32_t	tli;			/* the segment's timeline, from the name */
	uint64_t	pos;			/* segment offset of the next byte fed */
	uint8_t		hdr[16];		/* the page header being read */
	uint32_t	hdr_lo;			/* hdr[hdr_lo, hdr_hi) hold its bytes so far */
	uint32_t	hdr_hi;
} RvxWalPageCheck;

/* Starts checking bytes [start, ...) of segment segno of timeline tli. */
extern void rvx_wal_page_check_begin(RvxWalPageCheck *c, uint64_t segment_size, uint32_t tli,
									 uint64_t segno, uint32_t start);

/*
 * The next len bytes of the range: 0, or -1 with why (cap bytes) saying
 * which page disagrees with the name and how.  Pure.
 */
extern int	rvx_wal_page_check_feed(RvxWalPageCheck *c, const void *data, size_t len,
									char *why, size_t cap);

/*
 * The parts (rvx_fetch_parts_to_file) that read a chain of set's partials
 * (links[0..nlinks), from rvx_partial_chain) of segment segno of timeline
 * tli as one stretch of WAL, stopping before the first link that starts at
 * or after limit: each link read from where the previous one ends, its
 * range's identity (walname.h) expected when its name says it has one,
 * and, when pages is not NULL, its WAL pages checked against its name.
 * parts, pages and heads have room for nlinks.  Returns how many parts.
 */
extern size_t rvx_partial_chain_parts(const RvxPartialSet *set, const size_t *links,
									  size_t nlinks, uint32_t tli, uint64_t segno,
									  uint64_t segment_size, uint32_t limit,
									  RvxFetchPart *parts, RvxWalPageCheck *pages,
									  uint8_t (*heads)[RVX_RANGE_HEADER_LEN]);

#endif							/* RVX_AGENT_WAL_PARTIAL_H */
