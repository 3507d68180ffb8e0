/*-------------------------------------------------------------------------
 *
 * test_hash_aside.c
 *	  Unit tests for base/hash_aside.c: the digest computed on the aside's
 *	  thread is SHA-256 of exactly the bytes handed over, whatever the
 *	  pieces (empty, smaller than a buffer, larger than all of them
 *	  together), for many digests in a row with one aside, after a digest
 *	  that was abandoned half way, and when the aside is freed in the
 *	  middle of one.
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/hash_aside.h"

#define DATA_LEN	(9 * 1024 * 1024 + 333)

static uint8_t *
make_data(unsigned seed)
{
	uint8_t    *p = malloc(DATA_LEN);

	srand(seed);
	for (size_t i = 0; i < DATA_LEN; i++)
		p[i] = (uint8_t) rand();
	return p;
}

/* Feeds data[0..len) in pieces of the sizes given in turn; checks the digest. */
static void
digest_in_pieces(RvxHashAside *h, const uint8_t *data, size_t len, const size_t *pieces,
				 size_t npieces)
{
	uint8_t		got[RVX_SHA256_LEN], want[RVX_SHA256_LEN];
	size_t		off = 0;

	assert_int_equal(rvx_hash_aside_begin(h), 0);
	for (size_t i = 0; off < len; i++)
	{
		size_t		n = pieces[i % npieces];

		if (n > len - off)
			n = len - off;
		assert_int_equal(rvx_hash_aside_update(h, data + off, n), 0);
		off += n;
	}
	assert_int_equal(rvx_hash_aside_final(h, got), 0);
	assert_int_equal(rvx_sha256_buf(data, len, want), 0);
	assert_memory_equal(got, want, RVX_SHA256_LEN);
}

static void
test_pieces(void **state)
{
	uint8_t    *data = make_data(1);
	RvxHashAside *h = rvx_hash_aside_new();
	const size_t small[] = {1, 0, 8192, 7, 65536 + 3};
	const size_t slot[] = {512 * 1024};
	const size_t large[] = {5 * 1024 * 1024 + 1, 0};

	assert_non_null(h);
	digest_in_pieces(h, data, DATA_LEN, small, 5);
	digest_in_pieces(h, data, DATA_LEN, slot, 1);
	digest_in_pieces(h, data, DATA_LEN, large, 2);
	digest_in_pieces(h, data, 0, slot, 1);			/* nothing at all */
	digest_in_pieces(h, data, 100, small, 5);		/* less than a buffer */
	digest_in_pieces(h, data + 17, DATA_LEN - 17, large, 2);
	rvx_hash_aside_free(h);
	free(data);
}

/* a digest begun and not finished (a fetch that failed) does not leak into the next */
static void
test_abandoned(void **state)
{
	uint8_t    *data = make_data(2);
	RvxHashAside *h = rvx_hash_aside_new();
	const size_t pieces[] = {300000};

	assert_non_null(h);
	assert_int_equal(rvx_hash_aside_begin(h), 0);
	assert_int_equal(rvx_hash_aside_update(h, data, 3 * 1024 * 1024 + 5), 0);
	digest_in_pieces(h, data + 5, 4 * 1024 * 1024, pieces, 1);
	/* and freed in the middle of one: the thread is stopped, nothing hangs */
	assert_int_equal(rvx_hash_aside_begin(h), 0);
	assert_int_equal(rvx_hash_aside_update(h, data, DATA_LEN), 0);
	rvx_hash_aside_free(h);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_abandoned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
