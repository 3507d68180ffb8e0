/*-------------------------------------------------------------------------
 *
 * restore_delta.h
 *	  Rebuilding a file of an incremental backup in one pass: the newest
 *	  whole copy of it in the chain streams to disk while the pages that
 *	  later backups changed (their deltas, common/delta.h) replace it on
 *	  the way, and the result is hashed as it is written.
 *
 * Use: rvx_delta_merge_add() each delta, oldest first (a newer delta's
 * page wins), then rvx_delta_merge_start(); fetch the whole copy with
 * rvx_delta_merge_filter as the fetch filter (fetch.h); then
 * rvx_delta_merge_finish() writes the pages past the whole copy's end (or
 * cuts the file), fsyncs it and gives the rebuilt file's SHA-256 and
 * size, which restore.c compares with the backup's record.
 *
 * Each page is written once, and only into the rebuilt file: no delta is
 * written to disk.  A delta's index comes after its pages, so each delta
 * larger than a ring (512 kB) is read twice: once for its index, once more
 * on a thread of its own that hands its pages over in block order while
 * the whole copy streams; a smaller one is kept from its first read
 * (restore_delta.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_RESTORE_DELTA_H
#define RVX_AGENT_RESTORE_DELTA_H

#include <stdint.h>

#include "base/error.h"
#include "base/hash_aside.h"
#include "object.h"
#include "sha256.h"
#include "storage/repo.h"

typedef struct RvxDeltaMerge RvxDeltaMerge;

/* Where a delta is, and what must be true of it. */
typedef struct RvxDeltaSource
{
	const RvxRepoConfig *repo;	/* the page stream's thread opens its own handle */
	const char *key;
	const uint8_t *object_sha;	/* the object's content SHA-256 per the record; NULL: any */
	uint64_t	system_id;		/* 0: any cluster */
	const volatile int *cancel; /* NULL, or the merge gives up once non-zero */

	/*
	 * The content's SHA-256 is computed and compared with the header's,
	 * at both reads.  Needed only when nothing checks the rebuilt file as
	 * a whole (a sparse delta's file has no recorded digest).  Otherwise
	 * the rebuilt file's SHA-256, compared with the record's, is the
	 * check, and the caller checks the objects one by one only should it
	 * fail, to name the damaged one; the stored bytes are CRC-checked at
	 * every read in any case.
	 */
	bool		check_digest;
} RvxDeltaSource;

/*
 * aside: NULL, or the rebuilt file is hashed on its thread (the caller's,
 * not in use until rvx_delta_merge_finish).
 */
extern RvxDeltaMerge *rvx_delta_merge_new(RvxHashAside *aside);

/*
 * Reads the delta at src (through repo and reader, the caller's) whole,
 * checking it as any fetched object (but see check_digest), and keeps its
 * index.  A delta that
 * is not well formed is RVX_E_CORRUPT, naming what.
 */
extern int	rvx_delta_merge_add(RvxDeltaMerge *m, RvxRepo *repo, RvxObjectReader *reader,
								const RvxDeltaSource *src, const char *what, RvxError *err);

/* After the last add: starts reading the deltas' pages, a thread each. */
extern int	rvx_delta_merge_start(RvxDeltaMerge *m, RvxError *err);

/* The fetch filter (RvxFetchOptions.filter); arg is the RvxDeltaMerge. */
extern int	rvx_delta_merge_filter(void *arg, uint64_t offset, const void *data, size_t len,
								   const void **out);

/*
 * After the whole copy (base_size bytes) is in dest: the pages beyond it,
 * or the cut, then fsync; out and size describe the rebuilt file.  Fails
 * too if a delta, read the second time, was not what its first read was.
 */
extern int	rvx_delta_merge_finish(RvxDeltaMerge *m, const char *dest, uint64_t base_size,
								   uint8_t out[RVX_SHA256_LEN], uint64_t *size, RvxError *err);

/*
 * After the fetch of the whole copy failed: if it was the filter's doing
 * (a delta that could not be read again, say), its reason goes to err.
 */
extern void rvx_delta_merge_reason(const RvxDeltaMerge *m, RvxError *err);

/* Stops the page streams, if still running, and frees everything. */
extern void rvx_delta_merge_free(RvxDeltaMerge *m);

#endif							/* RVX_AGENT_RESTORE_DELTA_H */
