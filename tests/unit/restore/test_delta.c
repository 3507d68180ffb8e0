/*-------------------------------------------------------------------------
 *
 * test_delta.c
 *	  Unit tests for rebuilding incremental backups' files
 *	  (agent/restore/restore_delta.c, common/delta.h): a whole copy streamed in
 *	  uneven pieces with two deltas over it (one that grows the file, one
 *	  that shrinks it again) gives exactly the expected bytes and their
 *	  SHA-256; a newer delta's page wins; malformed deltas are refused.
 *	  And the decision to store a mostly changed file whole
 *	  (rvx_delta_store_whole) at its boundaries, and that deciding it chunk
 *	  by chunk while reading, as the exporter does, gives the same answer
 *	  as deciding at the end.
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
#include <unistd.h>

#include <cmocka.h>

#include "delta.h"
#include "restore/restore_delta.h"

#define BS	8192

static char dir[] = "/tmp/revrx-test-delta-XXXXXX";

static void
fill_page(uint8_t *p, int tag)
{
	for (int i = 0; i < BS; i++)
		p[i] = (uint8_t) (tag * 31 + i % 251);
}

/* Writes a delta file: the given blocks (each filled with its tag), then index and trailer. */
static void
write_delta(const char *path, uint64_t file_size, const uint32_t *blocks, const int *tags, int n)
{
	FILE	   *f = fopen(path, "wb");
	uint8_t		page[BS];
	uint8_t		trailer[RVX_DELTA_TRAILER_LEN];
	RvxDeltaTrailer t = {file_size, (uint32_t) n, BS};

	assert_non_null(f);
	for (int i = 0; i < n; i++)
	{
		fill_page(page, tags[i]);
		assert_int_equal(fwrite(page, 1, BS, f), BS);
	}
	for (int i = 0; i < n; i++)
	{
		uint8_t		be[4] = {blocks[i] >> 24, blocks[i] >> 16, blocks[i] >> 8, blocks[i]};

		assert_int_equal(fwrite(be, 1, 4, f), 4);
	}
	rvx_delta_trailer_encode(&t, trailer);
	assert_int_equal(fwrite(trailer, 1, sizeof(trailer), f), sizeof(trailer));
	fclose(f);
}

/* Streams base (len bytes) through the merge into dest in pieces of chunk bytes. */
static int
stream(RvxDeltaMerge *m, const uint8_t *base, size_t len, size_t chunk, const char *dest)
{
	FILE	   *f = fopen(dest, "wb");

	assert_non_null(f);
	for (size_t off = 0; off < len; off += chunk)
	{
		size_t		n = len - off < chunk ? len - off : chunk;
		const void *out = NULL;

		if (rvx_delta_merge_filter(m, off, base + off, n, &out) != 0)
		{
			fclose(f);
			return -1;
		}
		assert_int_equal(fwrite(out, 1, n, f), n);
	}
	fclose(f);
	return 0;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t) ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(*len ? *len : 1);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static void
rebuild_hashed(size_t chunk, bool shrink, RvxHashAside *aside)
{
	uint8_t		base[4 * BS];
	uint8_t		expect[6 * BS];
	size_t		expect_len;
	char		d1[256], d2[256], dest[256];
	RvxDeltaMerge *m = rvx_delta_merge_new(aside);
	RvxError	err;
	uint8_t		sha[RVX_SHA256_LEN], want[RVX_SHA256_LEN];
	uint64_t	size;
	size_t		got_len;
	uint8_t    *got;

	for (int b = 0; b < 4; b++)
		fill_page(base + b * BS, 100 + b);
	snprintf(d1, sizeof(d1), "%s/d1", dir);
	snprintf(d2, sizeof(d2), "%s/d2", dir);
	snprintf(dest, sizeof(dest), "%s/file", dir);

	/* delta 1: blocks 1 and 5 (the file grows to 6 blocks; block 4 was never written) */
	write_delta(d1, 6 * BS, (uint32_t[]) {1, 5}, (int[]) {1, 5}, 2);
	if (shrink)
		/* delta 2: block 1 again, and the file is cut to 3 blocks */
		write_delta(d2, 3 * BS, (uint32_t[]) {1}, (int[]) {21}, 1);
	else
		write_delta(d2, 6 * BS, (uint32_t[]) {0, 1}, (int[]) {20, 21}, 2);

	memcpy(expect, base, sizeof(base));
	memset(expect + 4 * BS, 0, 2 * BS);
	fill_page(expect + 1 * BS, 1);
	fill_page(expect + 5 * BS, 5);
	fill_page(expect + 1 * BS, 21);
	if (!shrink)
		fill_page(expect + 0 * BS, 20);
	expect_len = shrink ? 3 * BS : 6 * BS;

	assert_non_null(m);
	assert_int_equal(rvx_delta_merge_add(m, d1, "d1", &err), 0);
	assert_int_equal(rvx_delta_merge_add(m, d2, "d2", &err), 0);
	assert_int_equal(stream(m, base, sizeof(base), chunk, dest), 0);
	assert_int_equal(rvx_delta_merge_finish(m, dest, sizeof(base), sha, &size, &err), 0);
	assert_int_equal(size, expect_len);
	got = slurp(dest, &got_len);
	assert_int_equal(got_len, expect_len);
	assert_memory_equal(got, expect, expect_len);
	assert_int_equal(rvx_sha256_buf(expect, expect_len, want), 0);
	assert_memory_equal(sha, want, RVX_SHA256_LEN);
	free(got);
	rvx_delta_merge_free(m);
	/* the merge removes the delta files it was given */
	assert_int_not_equal(access(d1, F_OK), 0);
	assert_int_not_equal(access(d2, F_OK), 0);
}

/* with the rebuilt file hashed on the fetching thread, then on an aside's (reused) */
static void
rebuild(size_t chunk, bool shrink)
{
	RvxHashAside *aside = rvx_hash_aside_new();

	assert_non_null(aside);
	rebuild_hashed(chunk, shrink, NULL);
	rebuild_hashed(chunk, shrink, aside);
	rebuild_hashed(chunk, shrink, aside);
	rvx_hash_aside_free(aside);
}

static void
test_rebuild_grow(void **state)
{
	rebuild(BS, false);
	rebuild(1000, false);		/* pieces that straddle pages */
	rebuild(3 * BS + 7, false);
}

static void
test_rebuild_shrink(void **state)
{
	rebuild(BS, true);
	rebuild(777, true);
}

static void
test_malformed(void **state)
{
	char		d[256];
	RvxDeltaMerge *m;
	RvxError	err;
	FILE	   *f;

	snprintf(d, sizeof(d), "%s/bad", dir);

	/* not a delta at all */
	f = fopen(d, "wb");
	fputs("this is not a delta, just some bytes long enough", f);
	fclose(f);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(rvx_delta_merge_add(m, d, "junk", &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	rvx_delta_merge_free(m);

	/* blocks out of order */
	write_delta(d, 4 * BS, (uint32_t[]) {2, 1}, (int[]) {1, 2}, 2);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(rvx_delta_merge_add(m, d, "unordered", &err), -1);
	assert_non_null(strstr(err.msg, "out of place"));
	rvx_delta_merge_free(m);

	/* a block past the file's end */
	write_delta(d, 2 * BS, (uint32_t[]) {3}, (int[]) {1}, 1);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(rvx_delta_merge_add(m, d, "past the end", &err), -1);
	rvx_delta_merge_free(m);
}

/* Unchanged and empty files stay deltas. */
static void
test_whole_none_changed(void **state)
{
	assert_false(rvx_delta_store_whole(0, 0));
	assert_false(rvx_delta_store_whole(0, 1));
	assert_false(rvx_delta_store_whole(0, 131072));
}

/* Exactly at the threshold is still a delta; one page more is whole. */
static void
test_whole_threshold(void **state)
{
	assert_int_equal(RVX_DELTA_WHOLE_NUM * 2, RVX_DELTA_WHOLE_DEN);	/* the documented half */
	assert_false(rvx_delta_store_whole(1, 2));
	assert_true(rvx_delta_store_whole(2, 2));
	assert_false(rvx_delta_store_whole(65536, 131072));	/* a 1 GB segment, half changed */
	assert_true(rvx_delta_store_whole(65537, 131072));
	/* odd sizes: half is not a whole page */
	assert_false(rvx_delta_store_whole(1, 3));
	assert_true(rvx_delta_store_whole(2, 3));
	assert_false(rvx_delta_store_whole(50, 101));
	assert_true(rvx_delta_store_whole(51, 101));
}

/* Every page changed: whole, whatever the size, without overflow. */
static void
test_whole_all_changed(void **state)
{
	assert_true(rvx_delta_store_whole(1, 1));
	assert_true(rvx_delta_store_whole(131072, 131072));
	assert_true(rvx_delta_store_whole(UINT32_MAX, UINT32_MAX));
	assert_false(rvx_delta_store_whole(UINT32_MAX / 2, UINT32_MAX));
}

/*
 * A file that grew: the pages past the parent's end are in the delta, so
 * they count as changed.  10 pages grown to 30: 20 new pages are more than
 * half.  100 pages grown to 101 with 49 of the old ones changed: 50 of 101,
 * a delta; one more changed page makes it whole.
 */
static void
test_whole_grown(void **state)
{
	uint64_t	parent = 10, now = 30;

	assert_true(rvx_delta_store_whole(0 + (now - parent), now));
	parent = 100;
	now = 101;
	assert_false(rvx_delta_store_whole(49 + (now - parent), now));
	assert_true(rvx_delta_store_whole(50 + (now - parent), now));
}

/*
 * The exporter decides chunk by chunk, before writing the chunk that takes
 * the count over (extension/backup.c delta_chunk): for any pattern of
 * changed pages that gives the answer of deciding once at the end, since
 * the decision only turns from delta to whole as the count grows.
 */
static void
test_whole_decided_while_reading(void **state)
{
	const int	chunk = 128;		/* pages in the exporter's 1 MB reads */

	srandom(10);
	for (int round = 0; round < 2000; round++)
	{
		uint64_t	npages = (uint64_t) (random() % 1000);
		int			density = (int) (random() % 101);	/* percent of pages changed */
		bool		changed_page[1000];
		uint64_t	total = 0;
		uint64_t	counted = 0;
		bool		switched = false;

		for (uint64_t p = 0; p < npages; p++)
		{
			changed_page[p] = (random() % 100) < density;
			total += changed_page[p] ? 1 : 0;
		}
		for (uint64_t first = 0; first < npages && !switched; first += chunk)
		{
			uint64_t	in_chunk = 0;

			for (uint64_t p = first; p < first + chunk && p < npages; p++)
				in_chunk += changed_page[p] ? 1 : 0;
			if (rvx_delta_store_whole(counted + in_chunk, npages))
				switched = true;
			else
				counted += in_chunk;
		}
		assert_int_equal(switched, rvx_delta_store_whole(total, npages));
		/* once whole, more changed pages never make it a delta again */
		for (uint64_t c = 0; c < npages; c++)
			if (rvx_delta_store_whole(c, npages))
				assert_true(rvx_delta_store_whole(c + 1, npages));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rebuild_grow),
		cmocka_unit_test(test_rebuild_shrink),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_whole_none_changed),
		cmocka_unit_test(test_whole_threshold),
		cmocka_unit_test(test_whole_all_changed),
		cmocka_unit_test(test_whole_grown),
		cmocka_unit_test(test_whole_decided_while_reading),
	};
	int			rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char		cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
