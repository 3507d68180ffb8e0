/*-------------------------------------------------------------------------
 *
 * chunk_digest.h
 *	  The chunk digest of a large file: XXH3-128 of each 8 MiB piece, and
 *	  XXH3-128 of those digests in order.  Computed by the exporter beside
 *	  the file's SHA-256, from the same bytes; compared by `restore
 *	  --delta` with the file on disk.
 *
 * Why a second digest: a file's SHA-256 is one sequential computation, so
 * checking a 1 GB relation segment takes one core for its whole length,
 * about 0.7 s here, and a delta restore of a database whose size is in a
 * few such files cannot go faster than its largest one.  The pieces of a
 * chunk digest are independent, so every core can check a part of the
 * same file, at a few GB/s each (docs/backup-format.md, "Chunk digests",
 * says what a file kept by it is then known to be).
 *
 * The digest is defined by its bytes, not by how they were fed: any split
 * of the same content into update calls gives the same result, and
 * rvx_chunk_digest_piece() of every piece, given to
 * rvx_chunk_digest_combine() in order, gives it too.  Digests are the
 * canonical (big-endian) form of XXH128_hash_t.  Only files of more than
 * one piece carry one (RVX_CHUNK_DIGEST_MIN).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_CHUNK_DIGEST_H
#define RVX_CHUNK_DIGEST_H

#include "rvx_port.h"

#define RVX_CHUNK_DIGEST_LEN	16
#define RVX_CHUNK_DIGEST_HEXLEN	(RVX_CHUNK_DIGEST_LEN * 2)
#define RVX_CHUNK_PIECE			(8 * 1024 * 1024)
/* Files of more bytes than this have a chunk digest. */
#define RVX_CHUNK_DIGEST_MIN	RVX_CHUNK_PIECE

typedef struct RvxChunkDigest RvxChunkDigest;

/* NULL when out of memory. */
extern RvxChunkDigest *rvx_chunk_digest_new(void);
/* Start over for a new file (a context may be reused). */
extern void rvx_chunk_digest_init(RvxChunkDigest *cd);
extern void rvx_chunk_digest_update(RvxChunkDigest *cd, const void *data, size_t len);
extern void rvx_chunk_digest_final(RvxChunkDigest *cd, uint8_t out[RVX_CHUNK_DIGEST_LEN]);
extern void rvx_chunk_digest_free(RvxChunkDigest *cd);

/* The number of pieces of a file of size bytes. */
extern uint64_t rvx_chunk_digest_pieces(uint64_t size);

/*
 * The digest of one piece (at most RVX_CHUNK_PIECE bytes), in parts:
 * begin, any number of adds, end.  state must come from
 * rvx_chunk_digest_new() and is reset by begin.
 */
extern void rvx_chunk_digest_piece_begin(RvxChunkDigest *state);
extern void rvx_chunk_digest_piece_add(RvxChunkDigest *state, const void *data, size_t len);
extern void rvx_chunk_digest_piece_end(RvxChunkDigest *state,
									   uint8_t out[RVX_CHUNK_DIGEST_LEN]);

/* The file's digest from its pieces' digests, in order. */
extern void rvx_chunk_digest_combine(const uint8_t (*pieces)[RVX_CHUNK_DIGEST_LEN], uint64_t n,
									 uint8_t out[RVX_CHUNK_DIGEST_LEN]);

#endif							/* RVX_CHUNK_DIGEST_H */
