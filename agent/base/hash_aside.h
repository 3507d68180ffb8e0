/*-------------------------------------------------------------------------
 *
 * hash_aside.h
 *	  A SHA-256 computed on a thread of its own, beside the stream that
 *	  feeds it.
 *
 * Restoring a large file is one stream on one thread: decompress, hash,
 * write.  SHA-256 is about as costly as the other two together, and at the
 * end of a restore the largest file is often all that is left, with the
 * other core idle.  A hash aside takes the hashing to a thread of its own:
 * update() copies the bytes into one of a few buffers and returns at once
 * unless all of them are still being hashed, final() waits for the last
 * one.  The digest is the same as a plain rvx_sha256 of the same bytes.
 *
 * One owner at a time (a restore thread keeps one, as it keeps its object
 * reader); begin() starts a new digest, so one aside serves many files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_HASH_ASIDE_H
#define RVX_HASH_ASIDE_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

typedef struct RvxHashAside RvxHashAside;

/* Starts the thread; NULL if it or its memory cannot be had. */
extern RvxHashAside *rvx_hash_aside_new(void);
/* Starts a new digest (the previous one must have been finished). */
extern int	rvx_hash_aside_begin(RvxHashAside *h);
/*
 * Hands len bytes over (copied); waits only while every buffer is still
 * being hashed.  0 (a failure of the hashing shows in final()).
 */
extern int	rvx_hash_aside_update(RvxHashAside *h, const void *data, size_t len);
/* Waits for every byte handed over to be hashed; the digest; -1 on failure. */
extern int	rvx_hash_aside_final(RvxHashAside *h, uint8_t out[RVX_SHA256_LEN]);
/* Stops the thread (after a final or not) and frees everything. */
extern void rvx_hash_aside_free(RvxHashAside *h);

#endif							/* RVX_HASH_ASIDE_H */
