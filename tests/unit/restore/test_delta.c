/*-------------------------------------------------------------------------
 *
 * test_delta.c
 *	  Unit tests for rebuilding incremental backups' files
 *	  (agent/restore/restore_delta.c, common/delta.h), with the deltas as
 *	  objects in a file:// repository: a whole copy streamed in uneven
 *	  pieces with two deltas over it (one that grows the file, one that
 *	  shrinks it again) gives exactly the expected bytes and their SHA-256;
 *	  a newer delta's page wins, also over deltas larger than the ring their
 *	  pages stream through and beside one of no page; a delta that is not
 *	  the same when read the second time, or is gone by then, fails the
 *	  rebuild with a reason, and a small one is read once; a rebuild given
 *	  up halfway stops its streams; malformed deltas are refused.  And the decision to store a mostly changed file whole
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
/* for fx_write_object; not every helper is needed here */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_backup_fixture.h"
#pragma GCC diagnostic pop

#define BS	8192

static char dir[] = "/tmp/revrx-test-delta-XXXXXX";
static char url[300];
static RvxRepoConfig repo_cfg;

static void
fill_page(uint8_t *p, int tag)
{
	for (int i = 0; i < BS; i++)
		p[i] = (uint8_t) (tag * 31 + i % 251);
}

/*
 * Stores a delta as object key: the given blocks (each filled with its
 * tag), then index and trailer.  sha (if not NULL) gets its content's
 * SHA-256.
 */
static void
write_delta(const char *key, uint64_t file_size, const uint32_t *blocks, const int *tags, int n,
			uint8_t *sha)
{
	size_t		len = (size_t) n * (BS + 4) + RVX_DELTA_TRAILER_LEN;
	uint8_t    *buf = malloc(len);
	uint8_t    *idx = buf + (size_t) n * BS;
	RvxDeltaTrailer t = {file_size, (uint32_t) n, BS};
	char		path[PATH_MAX];
	RvxObjectHeader hdr;

	assert_non_null(buf);
	for (int i = 0; i < n; i++)
	{
		fill_page(buf + (size_t) i * BS, tags[i]);
		idx[4 * i] = (uint8_t) (blocks[i] >> 24);
		idx[4 * i + 1] = (uint8_t) (blocks[i] >> 16);
		idx[4 * i + 2] = (uint8_t) (blocks[i] >> 8);
		idx[4 * i + 3] = (uint8_t) blocks[i];
	}
	rvx_delta_trailer_encode(&t, idx + 4 * (size_t) n);
	snprintf(path, sizeof(path), "%s/repo/%s", dir, key);
	fx_write_object(path, buf, len, SYSID, &hdr);
	if (sha)
		memcpy(sha, hdr.sha256, RVX_SHA256_LEN);
	free(buf);
}

/* Stores arbitrary content as object key. */
static void
write_junk(const char *key, const void *data, size_t len)
{
	char		path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/repo/%s", dir, key);
	fx_write_object(path, data, len, SYSID, NULL);
}

static void
remove_object(const char *key)
{
	char		path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/repo/%s", dir, key);
	assert_int_equal(unlink(path), 0);
}

/* The first read of object key into m (sha: the object's, or NULL). */
static int
add(RvxDeltaMerge *m, const char *key, const uint8_t *sha, bool check_digest, RvxError *err)
{
	RvxDeltaSource src = {0};
	RvxRepo    *repo = rvx_repo_open(&repo_cfg, err);
	RvxObjectReader *reader = rvx_object_reader_new();
	int			rc;

	assert_non_null(repo);
	src.repo = &repo_cfg;
	src.key = key;
	src.object_sha = sha;
	src.system_id = SYSID;
	src.check_digest = check_digest;
	rc = rvx_delta_merge_add(m, repo, reader, &src, key, err);
	rvx_object_reader_free(reader);
	rvx_repo_close(repo);
	return rc;
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

/* Streams base through m into a file and checks it is expect, with its SHA-256. */
static void
rebuild_and_check(RvxDeltaMerge *m, const uint8_t *base, size_t base_len, size_t chunk,
				  const uint8_t *expect, size_t expect_len)
{
	char		dest[PATH_MAX];
	RvxError	err;
	uint8_t		sha[RVX_SHA256_LEN], want[RVX_SHA256_LEN];
	uint64_t	size;
	size_t		got_len;
	uint8_t    *got;

	snprintf(dest, sizeof(dest), "%s/file", dir);
	assert_int_equal(rvx_delta_merge_start(m, &err), 0);
	assert_int_equal(stream(m, base, base_len, chunk, dest), 0);
	assert_int_equal(rvx_delta_merge_finish(m, dest, base_len, sha, &size, &err), 0);
	assert_int_equal(size, expect_len);
	got = slurp(dest, &got_len);
	assert_int_equal(got_len, expect_len);
	assert_memory_equal(got, expect, expect_len);
	assert_int_equal(rvx_sha256_buf(expect, expect_len, want), 0);
	assert_memory_equal(sha, want, RVX_SHA256_LEN);
	free(got);
}

static void
rebuild_hashed(size_t chunk, bool shrink, RvxHashAside *aside)
{
	uint8_t		base[4 * BS];
	uint8_t		expect[6 * BS];
	size_t		expect_len;
	RvxDeltaMerge *m = rvx_delta_merge_new(aside);
	RvxError	err;
	uint8_t		sha1[RVX_SHA256_LEN];

	for (int b = 0; b < 4; b++)
		fill_page(base + b * BS, 100 + b);

	/* delta 1: blocks 1 and 5 (the file grows to 6 blocks; block 4 was never written) */
	write_delta("d1", 6 * BS, (uint32_t[]) {1, 5}, (int[]) {1, 5}, 2, sha1);
	if (shrink)
		/* delta 2: block 1 again, and the file is cut to 3 blocks */
		write_delta("d2", 3 * BS, (uint32_t[]) {1}, (int[]) {21}, 1, NULL);
	else
		write_delta("d2", 6 * BS, (uint32_t[]) {0, 1}, (int[]) {20, 21}, 2, NULL);

	memcpy(expect, base, sizeof(base));
	memset(expect + 4 * BS, 0, 2 * BS);
	fill_page(expect + 1 * BS, 1);
	fill_page(expect + 5 * BS, 5);
	fill_page(expect + 1 * BS, 21);
	if (!shrink)
		fill_page(expect + 0 * BS, 20);
	expect_len = shrink ? 3 * BS : 6 * BS;

	assert_non_null(m);
	/* one with its digest checked at both reads, one without */
	assert_int_equal(add(m, "d1", sha1, true, &err), 0);
	assert_int_equal(add(m, "d2", NULL, false, &err), 0);
	rebuild_and_check(m, base, sizeof(base), chunk, expect, expect_len);
	rvx_delta_merge_free(m);
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

/*
 * Three deltas of a 400-page file, each more than the ring holds (the
 * threads wait for room while the whole copy streams): every other page,
 * every third, and a run at the end that grows the file.  Each page must
 * come from the newest delta that has it.
 */
#define BIG_BASE	400
#define BIG_FILE	430

static void
test_rebuild_many_pages(void **state)
{
	static uint32_t blocks[3][BIG_FILE];
	static int	tags[3][BIG_FILE];
	int			n[3] = {0, 0, 0};
	uint8_t    *base = malloc((size_t) BIG_BASE * BS);
	uint8_t    *expect = malloc((size_t) BIG_FILE * BS);
	RvxDeltaMerge *m;
	RvxError	err;

	for (int b = 0; b < BIG_BASE; b++)
		fill_page(base + (size_t) b * BS, 1000 + b);
	memcpy(expect, base, (size_t) BIG_BASE * BS);
	memset(expect + (size_t) BIG_BASE * BS, 0, (size_t) (BIG_FILE - BIG_BASE) * BS);
	for (int b = 0; b < BIG_FILE; b++)
	{
		bool		in[3] = {b % 2 == 0 && b < BIG_BASE, b % 3 == 0 && b < BIG_BASE, b >= 380};

		for (int d = 0; d < 3; d++)
			if (in[d])
			{
				blocks[d][n[d]] = (uint32_t) b;
				tags[d][n[d]++] = 10 * b + d;
				fill_page(expect + (size_t) b * BS, 10 * b + d);	/* newest last */
			}
	}
	write_delta("big1", (uint64_t) BIG_BASE * BS, blocks[0], tags[0], n[0], NULL);
	write_delta("big2", (uint64_t) BIG_BASE * BS, blocks[1], tags[1], n[1], NULL);
	write_delta("big3", (uint64_t) BIG_FILE * BS, blocks[2], tags[2], n[2], NULL);
	assert_true((size_t) n[0] * BS > 512 * 1024);

	/* and, oldest, one of no page at all (only a size: a file the load did not touch) */
	write_delta("big0", (uint64_t) BIG_BASE * BS, NULL, NULL, 0, NULL);
	for (size_t chunk = 100000; chunk <= 300000; chunk += 200000)
	{
		m = rvx_delta_merge_new(NULL);
		assert_int_equal(add(m, "big0", NULL, false, &err), 0);
		assert_int_equal(add(m, "big1", NULL, false, &err), 0);
		assert_int_equal(add(m, "big2", NULL, false, &err), 0);
		assert_int_equal(add(m, "big3", NULL, false, &err), 0);
		rebuild_and_check(m, base, (size_t) BIG_BASE * BS, chunk, expect, (size_t) BIG_FILE * BS);
		rvx_delta_merge_free(m);
	}

	/*
	 * Given up after the first piece: the threads, waiting for room, are
	 * stopped (a hang is a failure: the alarm ends the test); and right
	 * after the start, and after the first read without a start.
	 */
	alarm(60);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "big1", NULL, false, &err), 0);
	assert_int_equal(rvx_delta_merge_start(m, &err), 0);
	rvx_delta_merge_free(m);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "big1", NULL, false, &err), 0);
	rvx_delta_merge_free(m);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "big1", NULL, false, &err), 0);
	assert_int_equal(add(m, "big2", NULL, false, &err), 0);
	assert_int_equal(rvx_delta_merge_start(m, &err), 0);
	{
		const void *out;

		assert_int_equal(rvx_delta_merge_filter(m, 0, base, BS, &out), 0);
	}
	usleep(50 * 1000);
	rvx_delta_merge_free(m);
	alarm(0);
	free(base);
	free(expect);
}

/* Starts m, streams base through it and finishes: 0, or -1 with the reason in err. */
static int
rebuild_result(RvxDeltaMerge *m, const uint8_t *base, size_t len, RvxError *err)
{
	char		dest[PATH_MAX];
	uint8_t		sha[RVX_SHA256_LEN];
	uint64_t	size;

	snprintf(dest, sizeof(dest), "%s/file", dir);
	assert_int_equal(rvx_delta_merge_start(m, err), 0);
	if (stream(m, base, len, BS, dest) != 0)
	{
		rvx_delta_merge_reason(m, err);
		return -1;
	}
	return rvx_delta_merge_finish(m, dest, len, sha, &size, err);
}

/*
 * Stores as object key a delta of pages first .. first + n - 1 of a file
 * of file_pages pages, page i tagged tag + i; sha (if not NULL) gets its
 * content's SHA-256.  claimed (if not NULL) is the digest its header
 * carries instead: an object sound in storage whose content is not the
 * one its header names.
 */
static void
write_span(const char *key, uint32_t file_pages, uint32_t first, int n, int tag, uint8_t *sha,
		   const uint8_t *claimed)
{
	uint32_t   *blocks = malloc(sizeof(uint32_t) * (size_t) n);
	int		   *tags = malloc(sizeof(int) * (size_t) n);

	for (int i = 0; i < n; i++)
	{
		blocks[i] = first + (uint32_t) i;
		tags[i] = tag + i;
	}
	write_delta(key, (uint64_t) file_pages * BS, blocks, tags, n, sha);
	free(blocks);
	free(tags);
	if (claimed)
	{
		char		path[PATH_MAX];
		uint8_t		h[RVX_OBJECT_HEADER_LEN];
		RvxObjectHeader hdr;
		const char *why;
		FILE	   *f;

		snprintf(path, sizeof(path), "%s/repo/%s", dir, key);
		f = fopen(path, "r+b");
		assert_non_null(f);
		assert_int_equal(fread(h, 1, sizeof(h), f), sizeof(h));
		assert_int_equal(rvx_object_header_decode(h, &hdr, &why), 0);
		memcpy(hdr.sha256, claimed, RVX_SHA256_LEN);
		rvx_object_header_encode(&hdr, h);
		fseek(f, 0, SEEK_SET);
		assert_int_equal(fwrite(h, 1, sizeof(h), f), sizeof(h));
		fclose(f);
	}
}

/*
 * What the second read of a delta larger than a ring must find: the delta
 * the first read found.  One replaced in between by another of the same
 * length but other blocks; one with the same blocks but other pages,
 * under the digest of the first (found by its content digest, checked at
 * both reads when asked for: a sparse file's deltas); and one gone.  Each
 * fails the rebuild, naming why.  A delta that fits in a ring is read once:
 * gone after its first read, it still rebuilds the file.
 */
#define SPAN_FILE	100
#define SPAN		70			/* pages: more than the 512 kB ring */

static void
test_second_read(void **state)
{
	uint8_t    *base = malloc((size_t) SPAN_FILE * BS);
	uint8_t    *expect = malloc((size_t) SPAN_FILE * BS);
	uint8_t		sha[RVX_SHA256_LEN];
	RvxDeltaMerge *m;
	RvxError	err = {0};

	for (int b = 0; b < SPAN_FILE; b++)
		fill_page(base + (size_t) b * BS, 200 + b);
	assert_true((size_t) SPAN * BS > 512 * 1024);

	/* other blocks */
	write_span("s1", SPAN_FILE, 0, SPAN, 1, NULL, NULL);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "s1", NULL, false, &err), 0);
	write_span("s1", SPAN_FILE, 1, SPAN, 1, NULL, NULL);
	assert_int_equal(rebuild_result(m, base, (size_t) SPAN_FILE * BS, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "was not the same when read again"));
	rvx_delta_merge_free(m);

	/* other pages under the first one's digest, the digest checked */
	write_span("s2", SPAN_FILE, 0, SPAN, 1, sha, NULL);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "s2", sha, true, &err), 0);
	write_span("s2", SPAN_FILE, 0, SPAN, 500, NULL, sha);
	assert_int_equal(rebuild_result(m, base, (size_t) SPAN_FILE * BS, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "SHA-256 of the content does not match"));
	rvx_delta_merge_free(m);

	/* gone */
	write_span("s3", SPAN_FILE, 10, SPAN, 1, NULL, NULL);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "s3", NULL, false, &err), 0);
	remove_object("s3");
	assert_int_equal(rebuild_result(m, base, (size_t) SPAN_FILE * BS, &err), -1);
	assert_int_equal(err.code, RVX_E_NOTFOUND);
	rvx_delta_merge_free(m);

	/* small: kept from the first read */
	write_span("s4", SPAN_FILE, 10, 3, 1, NULL, NULL);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "s4", NULL, false, &err), 0);
	remove_object("s4");
	memcpy(expect, base, (size_t) SPAN_FILE * BS);
	for (int i = 0; i < 3; i++)
		fill_page(expect + (size_t) (10 + i) * BS, 1 + i);
	rebuild_and_check(m, base, (size_t) SPAN_FILE * BS, 50000, expect, (size_t) SPAN_FILE * BS);
	rvx_delta_merge_free(m);
	free(base);
	free(expect);
}

static void
test_malformed(void **state)
{
	const char	junk[] = "this is not a delta, just some bytes long enough";
	RvxDeltaMerge *m;
	RvxError	err;

	/* not a delta at all */
	write_junk("bad", junk, sizeof(junk));
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "bad", NULL, false, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	rvx_delta_merge_free(m);

	/* blocks out of order */
	write_delta("bad", 4 * BS, (uint32_t[]) {2, 1}, (int[]) {1, 2}, 2, NULL);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "bad", NULL, false, &err), -1);
	assert_non_null(strstr(err.msg, "out of place"));
	rvx_delta_merge_free(m);

	/* a block past the file's end */
	write_delta("bad", 2 * BS, (uint32_t[]) {3}, (int[]) {1}, 1, NULL);
	m = rvx_delta_merge_new(NULL);
	assert_int_equal(add(m, "bad", NULL, false, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
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
		cmocka_unit_test(test_rebuild_many_pages),
		cmocka_unit_test(test_second_read),
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
	snprintf(url, sizeof(url), "file://%s/repo", dir);
	repo_cfg.url = url;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char		cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
