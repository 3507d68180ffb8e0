/*-------------------------------------------------------------------------
 *
 * test_chunk_digest.c
 *	  Unit tests for chunk digests (common/chunk_digest.c): the exporter
 *	  computes one as a stream, in whatever reads it makes, and
 *	  `restore --delta` from pieces hashed apart; both must give the same
 *	  16 bytes for the same content, and different ones for a changed
 *	  byte anywhere, a changed length, or the pieces in another order.
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "chunk_digest.h"

#define LEN		(2 * RVX_CHUNK_PIECE + 4567)	/* two whole pieces and a short one */

static uint8_t *
make_content(size_t len)
{
	uint8_t    *p = malloc(len);

	srand(7);
	for (size_t i = 0; i < len; i++)
		p[i] = (i % 8192 < 5000) ? (uint8_t) (i / 8192) : (uint8_t) rand();
	return p;
}

/* The digest as a stream, fed in parts of the given sizes (cycled). */
static void
streamed(const uint8_t *data, size_t len, const size_t *parts, size_t nparts,
		 uint8_t out[RVX_CHUNK_DIGEST_LEN])
{
	RvxChunkDigest *cd = rvx_chunk_digest_new();
	size_t		done = 0;

	assert_non_null(cd);
	/* a context used before gives the same as a new one */
	rvx_chunk_digest_update(cd, "stale", 5);
	rvx_chunk_digest_init(cd);
	for (size_t i = 0; done < len; i++)
	{
		size_t		n = parts[i % nparts];

		if (n > len - done)
			n = len - done;
		rvx_chunk_digest_update(cd, data + done, n);
		done += n;
	}
	rvx_chunk_digest_final(cd, out);
	rvx_chunk_digest_free(cd);
}

/* The digest as restore --delta computes it: each piece apart, then combined. */
static void
by_pieces(const uint8_t *data, size_t len, uint8_t out[RVX_CHUNK_DIGEST_LEN])
{
	uint64_t	n = rvx_chunk_digest_pieces(len);
	uint8_t		(*pieces)[RVX_CHUNK_DIGEST_LEN] = calloc(n, RVX_CHUNK_DIGEST_LEN);
	RvxChunkDigest *cd = rvx_chunk_digest_new();

	/* backwards, as threads may finish them */
	for (uint64_t p = n; p-- > 0;)
	{
		size_t		off = (size_t) p * RVX_CHUNK_PIECE;
		size_t		plen = len - off < RVX_CHUNK_PIECE ? len - off : RVX_CHUNK_PIECE;

		rvx_chunk_digest_piece_begin(cd);
		rvx_chunk_digest_piece_add(cd, data + off, plen / 3);
		rvx_chunk_digest_piece_add(cd, data + off + plen / 3, plen - plen / 3);
		rvx_chunk_digest_piece_end(cd, pieces[p]);
	}
	rvx_chunk_digest_combine((const uint8_t (*)[RVX_CHUNK_DIGEST_LEN]) pieces, n, out);
	rvx_chunk_digest_free(cd);
	free(pieces);
}

static void
test_same_content_same_digest(void **state)
{
	uint8_t    *data = make_content(LEN);
	uint8_t		a[RVX_CHUNK_DIGEST_LEN],
				b[RVX_CHUNK_DIGEST_LEN],
				c[RVX_CHUNK_DIGEST_LEN],
				d[RVX_CHUNK_DIGEST_LEN];
	const size_t mb[] = {1024 * 1024};
	const size_t odd[] = {1, 8191, 3 * 1024 * 1024 + 17, 5, RVX_CHUNK_PIECE};

	assert_int_equal(rvx_chunk_digest_pieces(LEN), 3);
	assert_int_equal(rvx_chunk_digest_pieces(RVX_CHUNK_PIECE), 1);
	assert_int_equal(rvx_chunk_digest_pieces(RVX_CHUNK_PIECE + 1), 2);
	streamed(data, LEN, mb, 1, a);
	streamed(data, LEN, odd, 5, b);
	by_pieces(data, LEN, c);
	assert_memory_equal(a, b, RVX_CHUNK_DIGEST_LEN);
	assert_memory_equal(a, c, RVX_CHUNK_DIGEST_LEN);

	/* the definition, spelled out with libxxhash itself */
	{
		uint8_t		pieces[3][RVX_CHUNK_DIGEST_LEN];
		XXH128_canonical_t canon;

		for (int p = 0; p < 3; p++)
		{
			size_t		off = (size_t) p * RVX_CHUNK_PIECE;

			XXH128_canonicalFromHash(&canon, XXH3_128bits(data + off, p < 2 ? RVX_CHUNK_PIECE : 4567));
			memcpy(pieces[p], canon.digest, RVX_CHUNK_DIGEST_LEN);
		}
		XXH128_canonicalFromHash(&canon, XXH3_128bits(pieces, sizeof(pieces)));
		assert_memory_equal(a, canon.digest, RVX_CHUNK_DIGEST_LEN);
	}

	/* an exact number of pieces: no empty piece at the end */
	streamed(data, 2 * RVX_CHUNK_PIECE, mb, 1, a);
	by_pieces(data, 2 * RVX_CHUNK_PIECE, d);
	assert_memory_equal(a, d, RVX_CHUNK_DIGEST_LEN);
	free(data);
}

static void
test_changes_are_seen(void **state)
{
	uint8_t    *data = make_content(LEN);
	uint8_t		base[RVX_CHUNK_DIGEST_LEN],
				other[RVX_CHUNK_DIGEST_LEN];
	const size_t mb[] = {1024 * 1024};
	const size_t where[] = {0, RVX_CHUNK_PIECE - 1, RVX_CHUNK_PIECE, RVX_CHUNK_PIECE + 777,
	2 * RVX_CHUNK_PIECE, LEN - 1};

	streamed(data, LEN, mb, 1, base);
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
	{
		data[where[i]] ^= 0x20;
		streamed(data, LEN, mb, 1, other);
		if (memcmp(base, other, RVX_CHUNK_DIGEST_LEN) == 0)
			fail_msg("a byte flipped at %zu is not seen", where[i]);
		by_pieces(data, LEN, other);
		if (memcmp(base, other, RVX_CHUNK_DIGEST_LEN) == 0)
			fail_msg("a byte flipped at %zu is not seen by pieces", where[i]);
		data[where[i]] ^= 0x20;
	}

	/* one byte less */
	streamed(data, LEN - 1, mb, 1, other);
	assert_memory_not_equal(base, other, RVX_CHUNK_DIGEST_LEN);

	/* the first two pieces swapped: each piece's digest is the same, their order is not */
	{
		uint8_t    *swapped = malloc(LEN);

		memcpy(swapped, data + RVX_CHUNK_PIECE, RVX_CHUNK_PIECE);
		memcpy(swapped + RVX_CHUNK_PIECE, data, RVX_CHUNK_PIECE);
		memcpy(swapped + 2 * RVX_CHUNK_PIECE, data + 2 * RVX_CHUNK_PIECE, 4567);
		streamed(swapped, LEN, mb, 1, other);
		assert_memory_not_equal(base, other, RVX_CHUNK_DIGEST_LEN);
		free(swapped);
	}
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_content_same_digest),
		cmocka_unit_test(test_changes_are_seen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
