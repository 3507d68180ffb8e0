/*-------------------------------------------------------------------------
 *
 * chunk_digest.c
 *	  Chunk digests of large files (chunk_digest.h), on libxxhash.
 *
 * libxxhash allocates its states itself (XXH3_createState: aligned as its
 * vector code needs, and of the size of the library actually loaded, whose
 * state layout is not a stable ABI); they live as long as the context.
 *
 *-------------------------------------------------------------------------
 */
#include "rvx_port.h"

#include <xxhash.h>

#include "chunk_digest.h"

struct RvxChunkDigest
{
	XXH3_state_t *piece;		/* the piece being read */
	XXH3_state_t *whole;		/* the digests of the pieces so far */
	uint64_t	in_piece;		/* bytes of the current piece so far */
};

RvxChunkDigest *
rvx_chunk_digest_new(void)
{
	RvxChunkDigest *cd = rvx_malloc(sizeof(RvxChunkDigest));

	if (cd == NULL)
		return NULL;
	cd->piece = XXH3_createState();
	cd->whole = XXH3_createState();
	if (cd->piece == NULL || cd->whole == NULL)
	{
		rvx_chunk_digest_free(cd);
		return NULL;
	}
	rvx_chunk_digest_init(cd);
	return cd;
}

void
rvx_chunk_digest_init(RvxChunkDigest *cd)
{
	(void) XXH3_128bits_reset(cd->piece);
	(void) XXH3_128bits_reset(cd->whole);
	cd->in_piece = 0;
}

/* The digest of the piece read so far, in canonical form. */
static void
piece_digest(RvxChunkDigest *cd, uint8_t out[RVX_CHUNK_DIGEST_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(cd->piece));
	memcpy(out, c.digest, RVX_CHUNK_DIGEST_LEN);
}

/* The current piece is complete: its digest goes into the whole's. */
static void
end_piece(RvxChunkDigest *cd)
{
	uint8_t		d[RVX_CHUNK_DIGEST_LEN];

	piece_digest(cd, d);
	(void) XXH3_128bits_update(cd->whole, d, sizeof(d));
	(void) XXH3_128bits_reset(cd->piece);
	cd->in_piece = 0;
}

void
rvx_chunk_digest_update(RvxChunkDigest *cd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0)
	{
		size_t		n = len;

		if (n > RVX_CHUNK_PIECE - cd->in_piece)
			n = (size_t) (RVX_CHUNK_PIECE - cd->in_piece);
		(void) XXH3_128bits_update(cd->piece, p, n);
		cd->in_piece += n;
		p += n;
		len -= n;
		if (cd->in_piece == RVX_CHUNK_PIECE)
			end_piece(cd);
	}
}

void
rvx_chunk_digest_final(RvxChunkDigest *cd, uint8_t out[RVX_CHUNK_DIGEST_LEN])
{
	XXH128_canonical_t c;

	if (cd->in_piece > 0)
		end_piece(cd);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(cd->whole));
	memcpy(out, c.digest, RVX_CHUNK_DIGEST_LEN);
}

void
rvx_chunk_digest_free(RvxChunkDigest *cd)
{
	if (cd == NULL)
		return;
	if (cd->piece)
		XXH3_freeState(cd->piece);
	if (cd->whole)
		XXH3_freeState(cd->whole);
	rvx_free(cd);
}

uint64_t
rvx_chunk_digest_pieces(uint64_t size)
{
	return (size + RVX_CHUNK_PIECE - 1) / RVX_CHUNK_PIECE;
}

void
rvx_chunk_digest_piece_begin(RvxChunkDigest *state)
{
	(void) XXH3_128bits_reset(state->piece);
	state->in_piece = 0;
}

void
rvx_chunk_digest_piece_add(RvxChunkDigest *state, const void *data, size_t len)
{
	(void) XXH3_128bits_update(state->piece, data, len);
	state->in_piece += len;
}

void
rvx_chunk_digest_piece_end(RvxChunkDigest *state, uint8_t out[RVX_CHUNK_DIGEST_LEN])
{
	piece_digest(state, out);
}

void
rvx_chunk_digest_combine(const uint8_t (*pieces)[RVX_CHUNK_DIGEST_LEN], uint64_t n,
						 uint8_t out[RVX_CHUNK_DIGEST_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(pieces, (size_t) n * RVX_CHUNK_DIGEST_LEN));
	memcpy(out, c.digest, RVX_CHUNK_DIGEST_LEN);
}
