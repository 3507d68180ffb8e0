/*-------------------------------------------------------------------------
 *
 * walsummary.h
 *	  Which blocks WAL changed between two LSNs, from the WAL summaries
 *	  that PostgreSQL 17's summarizer writes (summarize_wal = on): what an
 *	  incremental backup uses to leave unchanged relation files unread
 *	  (backup.c, docs/incremental.md).
 *
 * The summaries are used only when they provably cover the whole range,
 * on every timeline of this server's history that the range crosses;
 * otherwise rvx_wal_summaries_load() returns NULL and says why, and the
 * caller falls back to reading every page.  Built against PostgreSQL 15 or
 * 16 it always does that.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_WALSUMMARY_H
#define REVRX_WALSUMMARY_H

#include "access/xlogdefs.h"
#include "common/relpath.h"
#include "storage/block.h"

typedef struct RvxWalSummaries RvxWalSummaries;

/*
 * Waits up to wait_ms for the summarizer to reach to_lsn, then merges every
 * summary needed to cover [from_lsn, to_lsn) on the history of to_tli;
 * from_lsn must lie on from_tli in that history.  NULL, with a palloc'd
 * reason in *why (lower case, for a log line and backup.json), when the
 * summaries cannot prove that range; *nsummaries is how many files were
 * read.  Throws if a summary file is unreadable or corrupt (one that is
 * merely gone is a reason to fall back).  Everything is
 * allocated in the current memory context.
 */
extern RvxWalSummaries *rvx_wal_summaries_load(TimeLineID from_tli, XLogRecPtr from_lsn,
											   TimeLineID to_tli, XLogRecPtr to_lsn,
											   int wait_ms, int *nsummaries,
											   char **why);

/* What the summaries say about one segment file of a relation fork. */
typedef struct RvxSegmentChanges
{
	bool		new_database;	/* the database was created (copied) in the range */
	uint32		nnamed;			/* blocks of the segment WAL touched */
	uint32		limit;			/* blocks at or past this one (segment-relative,
								 * at most RELSEG_SIZE) were cut by a truncation */
} RvxSegmentChanges;

/*
 * The changes of segment segno of relation file number relnumber's fork
 * in tablespace spcoid, database dboid (InvalidOid for shared relations).
 * If named is not NULL, it gets a bitmap of RELSEG_SIZE bits, one per
 * block of the segment, set for each block WAL touched.
 */
extern void rvx_wal_summaries_segment(RvxWalSummaries *ws, Oid spcoid, Oid dboid,
									  Oid relnumber, ForkNumber fork, int segno,
									  RvxSegmentChanges *changes, uint8 *named);

static inline bool
rvx_block_named(const uint8 *named, uint32 block)
{
	return (named[block / 8] & (1 << (block % 8))) != 0;
}

#endif							/* REVRX_WALSUMMARY_H */
