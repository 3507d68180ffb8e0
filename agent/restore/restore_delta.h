/*-------------------------------------------------------------------------
 *
 * restore_delta.h
 *	  Rebuilding a file of an incremental backup in one pass: the newest
 *	  whole copy of it in the chain streams to disk while the pages that
 *	  later backups changed (their deltas, common/delta.h) replace it on
 *	  the way, and the result is hashed as it is written.
 *
 * Use: rvx_delta_merge_add() each delta, oldest first (a newer delta's
 * page wins); fetch the whole copy with rvx_delta_merge_filter as the
 * fetch filter (fetch.h); then rvx_delta_merge_finish() writes the pages
 * past the whole copy's end (or cuts the file), fsyncs it and gives the
 * rebuilt file's SHA-256 and size, which restore.c compares with the
 * backup's record.  Each page is written once and nothing is read back.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_RESTORE_DELTA_H
#define RVX_AGENT_RESTORE_DELTA_H

#include <stdint.h>

#include "base/error.h"
#include "base/hash_aside.h"
#include "sha256.h"

typedef struct RvxDeltaMerge RvxDeltaMerge;

/*
 * aside: NULL, or the rebuilt file is hashed on its thread (the caller's,
 * not in use until rvx_delta_merge_finish).
 */
extern RvxDeltaMerge *rvx_delta_merge_new(RvxHashAside *aside);

/*
 * Adds the delta held in the file delta_path (fetched and verified as an
 * object; removed by rvx_delta_merge_free).  A delta that is not well
 * formed is RVX_E_CORRUPT, naming what.
 */
extern int	rvx_delta_merge_add(RvxDeltaMerge *m, const char *delta_path, const char *what,
								RvxError *err);

/* The fetch filter (RvxFetchOptions.filter); arg is the RvxDeltaMerge. */
extern int	rvx_delta_merge_filter(void *arg, uint64_t offset, const void *data, size_t len,
								   const void **out);

/*
 * After the whole copy (base_size bytes) is in dest: the pages beyond it,
 * or the cut, then fsync; out and size describe the rebuilt file.
 */
extern int	rvx_delta_merge_finish(RvxDeltaMerge *m, const char *dest, uint64_t base_size,
								   uint8_t out[RVX_SHA256_LEN], uint64_t *size, RvxError *err);

extern void rvx_delta_merge_free(RvxDeltaMerge *m);

#endif							/* RVX_AGENT_RESTORE_DELTA_H */
