/*-------------------------------------------------------------------------
 *
 * test_wal_partial.c
 *	  Unit tests for streamed WAL partials: their names and which one makes
 *	  another redundant (common/walname.c), the chain recovery assembles
 *	  from a segment's ranges (agent/info/wal_partial.c), the agent's recovery
 *	  point (agent/daemon/wal_progress.c), and shipping and fetching them
 *	  (agent/ship/ship.c, agent/info/fetch.c) with the posix repository of
 *	  test_backup_fixture.h: ranges are stored as they come, a range from
 *	  the segment's start removes those it supersedes, the complete
 *	  segment removes all of them, and the spool keeps no acknowledgement.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* the fixture's spool and repository; not every helper is needed here */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_backup_fixture.h"
#pragma GCC diagnostic pop
#include "daemon/wal_progress.h"
#include "info/wal_partial.h"
#include "walname.h"

#define SEG "000000010000000000000003"
/* two server generations: before and after a crash-restart */
#define G1 "0000000001000028"
#define G2 "0000000002000060"
#define GEN1 UINT64_C(0x1000028)
#define GEN2 UINT64_C(0x2000060)
#define SEGSIZE (16 * 1024 * 1024)

static RvxStreamedName
range(uint64_t gen, uint32_t start, uint32_t end)
{
	RvxStreamedName r;

	memset(&r, 0, sizeof(r));
	snprintf(r.segment, sizeof(r.segment), "%s", SEG);
	r.generation = gen;
	r.start = start;
	r.end = end;
	return r;
}

/* ------------------------------------------------------------- names */

static void
test_names(void **state)
{
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		key[256];
	RvxStreamedName r;
	RvxCompression alg;

	assert_int_equal(rvx_walname_streamed(SEG, GEN1, 0xA3F000, 0xA51000, name, sizeof(name)), 0);
	assert_string_equal(name, SEG "." G1 ".00A3F000-00A51000.partial");
	assert_int_equal(strlen(name), RVX_WALNAME_MAXLEN);
	assert_int_equal(rvx_walname_kind(name), RVX_WAL_STREAMED);
	assert_int_equal(rvx_walname_timeline(name), 1);
	assert_int_equal(rvx_walname_streamed_parse(name, &r), 0);
	assert_string_equal(r.segment, SEG);
	assert_true(r.generation == GEN1);
	assert_int_equal(r.start, 0xA3F000);
	assert_int_equal(r.end, 0xA51000);
	assert_true(r.has_range_header);
	/* its identity, big-endian, and back */
	{
		uint8_t		h[RVX_RANGE_HEADER_LEN];
		static const uint8_t want[RVX_RANGE_HEADER_LEN] = {
			'R', 'V', 'X', 'R', 0, 0, 0, 1,
			0, 0, 0, 0, 0x03, 0xA3, 0xF0, 0x00,
			0, 0, 0, 0, 0x03, 0xA5, 0x10, 0x00};
		uint32_t	tli;
		uint64_t	a,
					b;

		rvx_range_header_encode(1, UINT64_C(0x3A3F000), UINT64_C(0x3A51000), h);
		assert_memory_equal(h, want, sizeof(want));
		assert_int_equal(rvx_range_header_decode(h, &tli, &a, &b), 0);
		assert_int_equal(tli, 1);
		assert_true(a == UINT64_C(0x3A3F000) && b == UINT64_C(0x3A51000));
		h[0] = 'X';
		assert_int_equal(rvx_range_header_decode(h, &tli, &a, &b), -1);
	}
	/* the whole 64 bits of a generation; a range up to the segment's end */
	assert_int_equal(rvx_walname_streamed(SEG, UINT64_C(0xFEDCBA9876543210), 0, SEGSIZE, name,
										  sizeof(name)), 0);
	assert_string_equal(name, SEG ".FEDCBA9876543210.00000000-01000000.partial");
	assert_int_equal(rvx_walname_streamed_parse(name, &r), 0);
	assert_true(r.generation == UINT64_C(0xFEDCBA9876543210));
	assert_int_equal(r.end, SEGSIZE);

	/* the previous build's names: the segment's first <end> bytes */
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00A3F000.partial"), RVX_WAL_STREAMED);
	assert_int_equal(rvx_walname_streamed_parse(SEG "." G1 ".00A3F000.partial", &r), 0);
	assert_int_equal(r.start, 0);
	assert_int_equal(r.end, 0xA3F000);
	assert_true(r.generation == GEN1);
	assert_false(r.has_range_header);

	/* the key: under the timeline, never the complete segment's key */
	rvx_walname_streamed(SEG, GEN1, 0x1000, 0xA3F000, name, sizeof(name));
	assert_int_equal(rvx_wal_object_key(name, RVX_COMPRESS_ZSTD, key, sizeof(key)), 0);
	assert_string_equal(key, "wal/00000001/" SEG "." G1 ".00001000-00A3F000.partial.zst");
	assert_int_equal(rvx_wal_key_name(key, name, &alg), 0);
	assert_string_equal(name, SEG "." G1 ".00001000-00A3F000.partial");
	assert_int_equal(alg, RVX_COMPRESS_ZSTD);
	assert_int_equal(rvx_wal_key_name("wal/00000001/" SEG ".gz", name, &alg), 0);
	assert_string_equal(name, SEG);
	assert_int_equal(alg, RVX_COMPRESS_GZIP);
	assert_int_equal(rvx_wal_key_name("wal/00000001/" SEG ".txt", name, NULL), -1);

	/* PostgreSQL's own .partial is another kind, and not a streamed one */
	assert_int_equal(rvx_walname_kind(SEG ".partial"), RVX_WAL_PARTIAL);
	assert_int_equal(rvx_walname_streamed_parse(SEG ".partial", &r), -1);

	/* refused: an empty or reversed range, not a segment, no room */
	assert_int_equal(rvx_walname_streamed(SEG, GEN1, 0, 0, name, sizeof(name)), -1);
	assert_int_equal(rvx_walname_streamed(SEG, GEN1, 0x2000, 0x2000, name, sizeof(name)), -1);
	assert_int_equal(rvx_walname_streamed(SEG, GEN1, 0x3000, 0x2000, name, sizeof(name)), -1);
	assert_int_equal(rvx_walname_streamed("00000002.history", GEN1, 0, 10, name, sizeof(name)), -1);
	assert_int_equal(rvx_walname_streamed(SEG, GEN1, 0, 1, name, 60), -1);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00002000-00002000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00003000-00002000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00000000-00a3f000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00000000+00A3F000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".0000000-00A3F000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00000000-00A3F000.partia"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00000000-00A3F000.partialx"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00000000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG ".000000000100002a.00A3F000.partial"), RVX_WAL_INVALID);
	/* the generation-less names of early builds are nothing, so ignored */
	assert_int_equal(rvx_walname_kind(SEG ".00A3F000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_wal_key_name("wal/00000001/" SEG ".00A3F000.partial.zst", name, &alg), -1);
}

static void
test_supersedes(void **state)
{
	RvxStreamedName a = range(GEN1, 0, 0x8000);
	RvxStreamedName b = range(GEN1, 0x2000, 0x4000);
	RvxStreamedName c = range(GEN1, 0x4000, 0x9000);
	RvxStreamedName n = range(GEN2, 0, 0x1000);
	RvxStreamedName m = range(GEN2, 0x1000, 0x2000);
	RvxStreamedName other = a;

	/* the same generation: only what it holds whole */
	assert_true(rvx_streamed_supersedes(&a, &b));
	assert_false(rvx_streamed_supersedes(&b, &a));
	assert_false(rvx_streamed_supersedes(&a, &c));
	assert_false(rvx_streamed_supersedes(&a, &a));
	/* a newer generation from the segment's start: every older one, however long */
	assert_true(rvx_streamed_supersedes(&n, &a));
	assert_true(rvx_streamed_supersedes(&n, &c));
	/* not without its start: its chain would not be used */
	assert_false(rvx_streamed_supersedes(&m, &a));
	assert_false(rvx_streamed_supersedes(&a, &n));
	/* another segment: never */
	snprintf(other.segment, sizeof(other.segment), "000000010000000000000004");
	assert_false(rvx_streamed_supersedes(&a, &other));
	assert_false(rvx_streamed_supersedes(&n, &other));
}

/* ---------------------------------------------------------------- chains */

/* The chain found in r[0..n): which generation, up to where, which links, a gap after or not. */
static void
expect_chain(const RvxStreamedName *r, size_t n, uint64_t generation, uint32_t end,
			 const size_t *want, size_t nwant, bool gap_after)
{
	size_t		links[8];
	RvxPartialChain c;

	rvx_partial_chain(r, n, links, &c);
	assert_true(c.found);
	assert_true(c.generation == generation);
	assert_int_equal(c.end, end);
	assert_int_equal(c.nlinks, nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_int_equal(links[i], want[i]);
	assert_int_equal(c.gap_after, gap_after);
}

static void
test_chain(void **state)
{
	RvxStreamedName r[8];
	size_t		links[8];
	RvxPartialChain c;

	memset(r, 0, sizeof(r));
	/* nothing */
	rvx_partial_chain(r, 0, links, &c);
	assert_false(c.found);

	/* contiguous ranges, in any order */
	r[0] = range(GEN1, 0x3000, 0x5000);
	r[1] = range(GEN1, 0, 0x1000);
	r[2] = range(GEN1, 0x1000, 0x3000);
	expect_chain(r, 3, GEN1, 0x5000, (const size_t[]) {1, 2, 0}, 3, false);

	/* a missing middle range: the chain stops at the gap, and says so */
	r[2] = range(GEN1, 0x1000, 0x2000);
	expect_chain(r, 3, GEN1, 0x2000, (const size_t[]) {1, 2}, 2, true);

	/* overlaps (an exporter restarted in the same generation): the longest reach */
	r[0] = range(GEN1, 0, 0x2000);
	r[1] = range(GEN1, 0x1000, 0x3000);
	r[2] = range(GEN1, 0, 0x1800);
	r[3] = range(GEN1, 0x2800, 0x6000);
	r[4] = range(GEN1, 0x3000, 0x4000);
	expect_chain(r, 5, GEN1, 0x6000, (const size_t[]) {0, 1, 3}, 3, false);

	/* no range from the start: nothing, and what there is lies after a gap */
	r[0] = range(GEN1, 0x1000, 0x2000);
	rvx_partial_chain(r, 1, links, &c);
	assert_false(c.found);

	/*
	 * A newer generation decides, however short, and never borrows from an
	 * older one: after a crash the older one's tail may not be the WAL.
	 */
	r[0] = range(GEN1, 0, 0x1000);
	r[1] = range(GEN1, 0x1000, 0x9000);
	r[2] = range(GEN2, 0, 0x2000);
	r[3] = range(GEN2, 0x2000, 0x3000);
	expect_chain(r, 4, GEN2, 0x3000, (const size_t[]) {2, 3}, 2, false);
	/* ...but a newer generation without its start does not hide the older chain */
	r[2] = range(GEN2, 0x2000, 0x3000);
	rvx_partial_chain(r, 3, links, &c);
	assert_true(c.generation == GEN1);
	assert_int_equal(c.end, 0x9000);
	assert_true(c.gap_after);	/* the newer one's WAL is not reachable */

	/* a chain that fills the segment */
	r[0] = range(GEN1, 0, 0x800000);
	r[1] = range(GEN1, 0x800000, SEGSIZE);
	rvx_partial_chain(r, 2, links, &c);
	assert_int_equal(c.end, SEGSIZE);
	assert_false(c.gap_after);
}

/* ------------------------------------------------------- recovery point */

static void
stored_range(RvxWalProgress *p, const char *seg, uint64_t gen, uint32_t start, uint32_t end,
			 double at, bool moves)
{
	char		name[RVX_WALNAME_MAXLEN + 1];

	assert_int_equal(rvx_walname_streamed(seg, gen, start, end, name, sizeof(name)), 0);
	assert_int_equal(rvx_wal_progress_stored(p, name, at), moves);
}

static void
assert_point(RvxWalProgress *p, uint64_t end, double at)
{
	uint64_t	e;
	double		a;

	assert_true(rvx_wal_progress_point(p, NULL, 0, &e, &a));
	assert_true(e == end);
	assert_true(a == at);
}

#define S2 "000000010000000000000002"
#define S4 "000000010000000000000004"
#define S5 "000000010000000000000005"
#define S6 "000000010000000000000006"
#define S7 "000000010000000000000007"
#define S8 "000000010000000000000008"

static void
test_progress(void **state)
{
	RvxWalProgress *p = rvx_wal_progress_new(SEGSIZE);
	char		prev[RVX_WALNAME_MAXLEN + 1];
	char		name[RVX_WALNAME_MAXLEN + 1];

	assert_non_null(p);
	assert_false(rvx_wal_progress_point(p, NULL, 0, NULL, NULL));

	/* ranges of a segment whose start is not reached: nothing yet */
	stored_range(p, SEG, GEN1, 0, 0x1000, 10.0, false);
	assert_false(rvx_wal_progress_point(p, NULL, 0, NULL, NULL));
	/* the agent asks once whether the segment before is stored */
	rvx_walname_streamed(SEG, GEN1, 0, 0x1000, name, sizeof(name));
	assert_true(rvx_wal_progress_needs_base(p, name, prev, sizeof(prev)));
	assert_string_equal(prev, S2);
	assert_false(rvx_wal_progress_needs_base(p, name, prev, sizeof(prev)));
	/* it is: the chain counts, with the time its last range was read */
	assert_true(rvx_wal_progress_base(p, name, true));
	assert_point(p, 3 * (uint64_t) SEGSIZE + 0x1000, 10.0);

	/* out of order: the range after a gap waits for the gap */
	stored_range(p, SEG, GEN1, 0x2000, 0x3000, 12.0, false);
	assert_point(p, 3 * (uint64_t) SEGSIZE + 0x1000, 10.0);
	stored_range(p, SEG, GEN1, 0x1000, 0x2000, 11.0, true);
	assert_point(p, 3 * (uint64_t) SEGSIZE + 0x3000, 12.0);

	/*
	 * The next segment's ranges wait for this one's last bytes (or the
	 * complete segment); a complete earlier segment still in the spool
	 * does not block once the ranges passed it.
	 */
	stored_range(p, S4, GEN1, 0, 0x4000, 14.0, false);
	assert_true(rvx_wal_progress_blocks(p, SEG, S4));
	stored_range(p, SEG, GEN1, 0x3000, SEGSIZE, 13.0, true);
	assert_point(p, 4 * (uint64_t) SEGSIZE + 0x4000, 14.0);
	assert_true(rvx_wal_progress_covers(p, SEG));
	assert_false(rvx_wal_progress_covers(p, S4));
	assert_false(rvx_wal_progress_stored_complete(p, SEG));	/* covered by ranges only */
	assert_false(rvx_wal_progress_blocks(p, SEG, S5));
	/* ...nor do partials, or other timelines, or later segments */
	assert_false(rvx_wal_progress_blocks(p, S4 "." G1 ".00000000-00001000.partial", S5));
	assert_false(rvx_wal_progress_blocks(p, "000000020000000000000004", S5));
	assert_false(rvx_wal_progress_blocks(p, S5, S4));
	assert_false(rvx_wal_progress_blocks(p, "00000002.history", S5));
	/* an earlier complete segment beyond the point does */
	assert_true(rvx_wal_progress_blocks(p, S4, S5));
	assert_true(rvx_wal_progress_blocks(p, S4 ".partial", S5));

	/* the complete segment after the point, blocked: it counts once the point reaches it */
	assert_false(rvx_wal_progress_stored(p, S5, 20.0));
	assert_point(p, 4 * (uint64_t) SEGSIZE + 0x4000, 14.0);
	assert_true(rvx_wal_progress_stored(p, S4, 18.0));
	assert_point(p, 6 * (uint64_t) SEGSIZE, 20.0);
	assert_true(rvx_wal_progress_stored_complete(p, S4));
	assert_true(rvx_wal_progress_stored_complete(p, S4 "." G1 ".00000000-00001000.partial"));
	/* what run_wal compares: partials remembered, and the segment itself stored */
	assert_int_equal(rvx_wal_progress_partials_stored(p, S4), 1);
	assert_int_equal(rvx_wal_progress_partials_stored(p, S5), 0);
	assert_true(rvx_wal_progress_segment_stored(p, S4 "." G1 ".00000000-00001000.partial"));
	assert_false(rvx_wal_progress_segment_stored(p, SEG));
	/* PostgreSQL's SEG.partial is complete, but not the segment */
	rvx_wal_progress_stored(p, "000000010000000000000009.partial", 19.0);
	assert_true(rvx_wal_progress_stored_complete(p, "000000010000000000000009"));
	assert_false(rvx_wal_progress_segment_stored(p, "000000010000000000000009"));
	assert_true(rvx_wal_progress_point(p, name, sizeof(name), NULL, NULL));
	assert_string_equal(name, S5);

	/* never back */
	assert_false(rvx_wal_progress_stored(p, SEG, 30.0));
	assert_point(p, 6 * (uint64_t) SEGSIZE, 20.0);

	/*
	 * Segment N (S6) not stored yet: in flight in another worker, or not
	 * even spooled while the look-ahead workers spooled N+1 ahead of the
	 * archiver.  N+1 stored complete and ranges of N+2 stored do not move
	 * the point past N, and with a point no question about the segment
	 * before is asked (N+1 stored says nothing about N).
	 */
	assert_false(rvx_wal_progress_stored(p, S7, 40.0));
	stored_range(p, S8, GEN1, 0, 0x100, 41.0, false);
	rvx_walname_streamed(S8, GEN1, 0, 0x100, name, sizeof(name));
	assert_false(rvx_wal_progress_needs_base(p, name, prev, sizeof(prev)));
	assert_false(rvx_wal_progress_needs_base(p, S7, prev, sizeof(prev)));
	assert_point(p, 6 * (uint64_t) SEGSIZE, 20.0);
	assert_false(rvx_wal_progress_covers(p, S6));
	/* N waiting in the spool is WAL missing before both (the caller asks nothing then) */
	assert_true(rvx_wal_progress_blocks(p, S6, name));
	assert_true(rvx_wal_progress_blocks(p, S6, S7));
	/* N arrives: all of it counts */
	assert_true(rvx_wal_progress_stored(p, S6, 42.0));
	assert_point(p, 8 * (uint64_t) SEGSIZE + 0x100, 41.0);

	/* a newer generation decides within its segment */
	stored_range(p, S8, GEN2, 0, 0x80, 43.0, false);
	stored_range(p, S8, GEN2, 0x80, 0x200, 44.0, true);
	assert_point(p, 8 * (uint64_t) SEGSIZE + 0x200, 44.0);
	rvx_wal_progress_free(p);

	/*
	 * The anchor of an agent started in the middle of the WAL: a complete
	 * segment counts only when the one before is found stored; asked once.
	 */
	p = rvx_wal_progress_new(SEGSIZE);
	assert_false(rvx_wal_progress_stored(p, S7, 50.0));
	assert_true(rvx_wal_progress_needs_base(p, S7, prev, sizeof(prev)));
	assert_string_equal(prev, S6);
	assert_false(rvx_wal_progress_needs_base(p, S7, prev, sizeof(prev)));
	assert_true(rvx_wal_progress_base(p, S7, true));
	assert_point(p, 8 * (uint64_t) SEGSIZE, 50.0);
	rvx_wal_progress_free(p);

	/* the first segment of timeline 1 has nothing before it */
	p = rvx_wal_progress_new(SEGSIZE);
	assert_true(rvx_wal_progress_stored(p, "000000010000000000000001", 1.0));
	assert_point(p, 2 * (uint64_t) SEGSIZE, 1.0);

	/*
	 * Segment 2 missing while more segments after it are stored than are
	 * remembered: once one beyond the point is forgotten, the anchor
	 * question may be asked again (once).
	 */
	for (int i = 3; i <= 3 + RVX_WAL_PROGRESS_SEGMENTS; i++)
	{
		snprintf(name, sizeof(name), "0000000100000000%08X", i);
		assert_false(rvx_wal_progress_needs_base(p, name, prev, sizeof(prev)));
		assert_false(rvx_wal_progress_stored(p, name, 2.0 + i));
	}
	assert_true(rvx_wal_progress_needs_base(p, name, prev, sizeof(prev)));
	assert_false(rvx_wal_progress_needs_base(p, name, prev, sizeof(prev)));
	assert_point(p, 2 * (uint64_t) SEGSIZE, 1.0);
	rvx_wal_progress_free(p);
}

/* ------------------------------------------------ shipping, with a repository */

/*
 * Spools the first len bytes of content as NAME.rvx, as the server would:
 * a range's after its identity (the one its name says).
 */
static void
spool_object(Fixture *fx, const char *name, const char *content, size_t len)
{
	char		path[PATH_MAX];
	RvxStreamedName r;
	char	   *buf;

	snprintf(path, sizeof(path), "%s/wal/%s.rvx", fx->spool, name);
	if (rvx_walname_streamed_parse(name, &r) != 0 || !r.has_range_header)
	{
		fx_write_object(path, content, len, SYSID, NULL);
		return;
	}
	buf = malloc(RVX_RANGE_HEADER_LEN + len);
	assert_non_null(buf);
	rvx_range_header_encode(rvx_walname_timeline(name),
							strtoull(name + 16, NULL, 16) * SEGSIZE + r.start,
							strtoull(name + 16, NULL, 16) * SEGSIZE + r.end, (uint8_t *) buf);
	memcpy(buf + RVX_RANGE_HEADER_LEN, content, len);
	fx_write_object(path, buf, RVX_RANGE_HEADER_LEN + len, SYSID, NULL);
	free(buf);
}

/* Spools and ships bytes [start, end) of content as a range of seg. */
static int
ship_range(Fixture *e, const char *seg, uint64_t gen, uint32_t start, uint32_t end,
		   const char *content, RvxStoreResult *res, RvxError *err)
{
	char		name[RVX_WALNAME_MAXLEN + 1];

	assert_int_equal(rvx_walname_streamed(seg, gen, start, end, name, sizeof(name)), 0);
	spool_object(e, name, content + start, end - start);
	return rvx_ship_wal(e->repo, e->spool, name, &e->ci, res, err);
}

static bool
exists(const char *dir, const char *name)
{
	return fx_exists("%s/%s", dir, name);
}

/*
 * Fetches seg's chain into e->root/fetched the way wal-fetch does; its
 * length.  With check_pages each range's WAL page headers are checked
 * against its name, as wal-fetch does.
 */
static uint32_t
fetch_chain_pages(Fixture *e, const char *seg, char *back, size_t cap, bool check_pages,
				  RvxError *err)
{
	RvxPartialSet set;
	RvxPartialChain c;
	size_t		links[64];
	RvxFetchPart parts[64];
	RvxWalPageCheck pages[64];
	uint8_t		heads[64][RVX_RANGE_HEADER_LEN];
	RvxFetchOptions opts = RVX_FETCH_OPTIONS_INIT;
	char		dest[512];
	FILE	   *f;
	int			rc;

	assert_int_equal(rvx_partial_list(e->repo, seg, &set, err), 0);
	assert_true(set.keys.n <= 64);
	rvx_partial_chain(set.ranges, set.keys.n, links, &c);
	if (!c.found)
	{
		rvx_partial_set_free(&set);
		return 0;
	}
	rvx_partial_chain_parts(&set, links, c.nlinks, rvx_walname_timeline(seg),
							strtoull(seg + 16, NULL, 16), SEGSIZE, SEGSIZE, parts,
							check_pages ? pages : NULL, heads);
	opts.pad_to = cap;
	snprintf(dest, sizeof(dest), "%s/fetched", e->root);
	rc = rvx_fetch_parts_to_file(e->repo, parts, c.nlinks, &opts, dest, err);
	rvx_partial_set_free(&set);
	if (rc != 0)
		return UINT32_MAX;
	f = fopen(dest, "rb");
	assert_int_equal(fread(back, 1, cap, f), cap);
	fclose(f);
	return c.end;
}

static uint32_t
fetch_chain(Fixture *e, const char *seg, char *back, size_t cap, RvxError *err)
{
	return fetch_chain_pages(e, seg, back, cap, false, err);
}

static void
test_ship_partials(void **state)
{
	Fixture    *e = *state;
	static char content[64 * 1024];
	static char back[64 * 1024];
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		waldir[400];
	char		repowal[400];
	char		dest[512];
	RvxStoreResult res;
	RvxPartialSet set;
	RvxError	err;
	FILE	   *f;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char) (i % 253);
	snprintf(waldir, sizeof(waldir), "%s/wal", e->spool);
	snprintf(repowal, sizeof(repowal), "%s/wal/00000001", e->repodir);

	/* the first ranges: stored as they come, spool files gone, no .ok */
	assert_int_equal(ship_range(e, SEG, GEN1, 0, 0x4000, content, &res, &err), 0);
	assert_int_equal(ship_range(e, SEG, GEN1, 0x4000, 0x6000, content, &res, &err), 0);
	assert_true(exists(repowal, SEG "." G1 ".00000000-00004000.partial.zst"));
	assert_true(exists(repowal, SEG "." G1 ".00004000-00006000.partial.zst"));
	assert_false(exists(waldir, SEG "." G1 ".00004000-00006000.partial.rvx"));
	assert_false(exists(waldir, SEG "." G1 ".00004000-00006000.partial.ok"));
	/* stored again (an agent killed before it removed the spool file): fine */
	assert_int_equal(ship_range(e, SEG, GEN1, 0x4000, 0x6000, content, &res, &err), 0);

	/* fetched as the segment: the chain's bytes, then zeros */
	assert_int_equal(fetch_chain(e, SEG, back, 0x10000, &err), 0x6000);
	assert_memory_equal(back, content, 0x6000);
	for (size_t i = 0x6000; i < 0x10000; i++)
		assert_int_equal(back[i], 0);

	/* a missing middle range: the fetch stops at the gap, and holds no hole */
	assert_int_equal(ship_range(e, SEG, GEN1, 0x8000, 0x9000, content, &res, &err), 0);
	assert_int_equal(fetch_chain(e, SEG, back, 0x10000, &err), 0x6000);
	for (size_t i = 0x6000; i < 0x10000; i++)
		assert_int_equal(back[i], 0);
	assert_int_equal(ship_range(e, SEG, GEN1, 0x6000, 0x8000, content, &res, &err), 0);
	assert_int_equal(fetch_chain(e, SEG, back, 0x10000, &err), 0x9000);
	assert_memory_equal(back, content, 0x9000);

	/* a range overlapping the ones before (an exporter restart) is served once */
	assert_int_equal(ship_range(e, SEG, GEN1, 0x8800, 0xA000, content, &res, &err), 0);
	assert_int_equal(fetch_chain(e, SEG, back, 0x10000, &err), 0xA000);
	assert_memory_equal(back, content, 0xA000);

	/* a part whose content is not as long as its name says fails the fetch */
	snprintf(dest, sizeof(dest), "%s/" SEG "." G1 ".00008800-0000A000.partial.zst", repowal);
	rvx_walname_streamed(SEG, GEN1, 0x8800, 0xA000, name, sizeof(name));
	spool_object(e, name, content + 0x8800, 0x100);
	{
		char		from[512];

		snprintf(from, sizeof(from), "%s/%s.rvx", waldir, name);
		assert_int_equal(rename(from, dest), 0);
	}
	assert_int_equal(fetch_chain(e, SEG, back, 0x10000, &err), UINT32_MAX);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_int_equal(ship_range(e, SEG, GEN1, 0x8800, 0xA000, content, &res, &err), 0);

	/* a spooled range whose content does not match its name is refused */
	rvx_walname_streamed(SEG, GEN1, 0xA000, 0xB000, name, sizeof(name));
	spool_object(e, name, content, 0x100);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	snprintf(dest, sizeof(dest), "%s/%s.rvx", waldir, name);
	unlink(dest);
	/* so is one that reaches past the end of a segment */
	rvx_walname_streamed(SEG, GEN1, 0xA000, SEGSIZE + 1, name, sizeof(name));
	spool_object(e, name, content, 0x100);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	snprintf(dest, sizeof(dest), "%s/%s.rvx", waldir, name);
	unlink(dest);

	/* a range from the start removes the ranges it holds, after it is stored */
	assert_int_equal(ship_range(e, SEG, GEN1, 0, 0x9000, content, &res, &err), 0);
	assert_int_equal(rvx_partial_list(e->repo, SEG, &set, &err), 0);
	assert_int_equal(set.keys.n, 2);
	assert_string_equal(set.keys.s[0], "wal/00000001/" SEG "." G1 ".00000000-00009000.partial.zst");
	assert_string_equal(set.keys.s[1], "wal/00000001/" SEG "." G1 ".00008800-0000A000.partial.zst");
	rvx_partial_set_free(&set);
	assert_int_equal(fetch_chain(e, SEG, back, 0x10000, &err), 0xA000);
	assert_memory_equal(back, content, 0xA000);

	/* the complete segment: stored, acknowledged, and its partials go */
	spool_object(e, SEG, content, sizeof(content));
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, SEG, &e->ci, &res, &err), 0);
	assert_true(exists(repowal, SEG ".zst"));
	assert_true(exists(waldir, SEG ".ok"));
	assert_int_equal(rvx_partial_list(e->repo, SEG, &set, &err), 0);
	assert_int_equal(set.keys.n, 0);
	rvx_partial_set_free(&set);

	/* a late range of an acknowledged segment is dropped, not stored */
	assert_int_equal(ship_range(e, SEG, GEN1, 0xA000, 0xC000, content, &res, &err), 0);
	assert_true(res.already_stored);
	assert_false(exists(repowal, SEG "." G1 ".0000A000-0000C000.partial.zst"));
	assert_false(exists(waldir, SEG "." G1 ".0000A000-0000C000.partial.rvx"));
	/* ...and so is one of a segment stored complete, once the .ok is gone */
	snprintf(dest, sizeof(dest), "%s/" SEG ".ok", waldir);
	unlink(dest);
	assert_int_equal(ship_range(e, SEG, GEN1, 0xC000, 0xD000, content, &res, &err), 0);
	assert_true(res.already_stored);
	assert_false(exists(repowal, SEG "." G1 ".0000C000-0000D000.partial.zst"));

	/*
	 * A crash-restart: the new generation's first range is shorter than the
	 * chain stored before the crash, and still wins; once it is stored, the
	 * older generation's ranges go, however long.
	 */
	assert_int_equal(ship_range(e, S5, GEN1, 0, 0x8000, content, &res, &err), 0);
	assert_int_equal(ship_range(e, S5, GEN1, 0x8000, 0xC000, content, &res, &err), 0);
	assert_int_equal(ship_range(e, S5, GEN2, 0x0, 0x6000, content + 1, &res, &err), 0);
	assert_false(exists(repowal, S5 "." G1 ".00000000-00008000.partial.zst"));
	assert_false(exists(repowal, S5 "." G1 ".00008000-0000C000.partial.zst"));
	assert_true(exists(repowal, S5 "." G2 ".00000000-00006000.partial.zst"));
	/* a late upload of the old generation does not remove the new one, nor is it used */
	assert_int_equal(ship_range(e, S5, GEN1, 0xC000, 0xD000, content, &res, &err), 0);
	assert_true(exists(repowal, S5 "." G2 ".00000000-00006000.partial.zst"));
	assert_int_equal(fetch_chain(e, S5, back, 0x10000, &err), 0x6000);
	assert_memory_equal(back, content + 1, 0x6000);

	/*
	 * The complete segment in the repository supersedes (looked up under
	 * the partial's codec); `run` tells what it knows instead of asking.
	 */
#define SEG6 "000000010000000000000006"
	snprintf(dest, sizeof(dest), "%s/" SEG6 ".zst", repowal);
	f = fopen(dest, "wb");
	assert_non_null(f);
	fputs("stored complete", f);
	fclose(f);
	assert_int_equal(ship_range(e, SEG6, GEN2, 0, 0x4000, content, &res, &err), 0);
	assert_true(res.already_stored);
	assert_false(exists(repowal, SEG6 "." G2 ".00000000-00004000.partial.zst"));
	rvx_walname_streamed(SEG6, GEN2, 0x4000, 0x5000, name, sizeof(name));
	spool_object(e, name, content + 0x4000, 0x1000);
	assert_int_equal(rvx_ship_wal_flags(e->repo, e->spool, name, &e->ci, RVX_SHIP_SEGMENT_STORED,
										&res, &err), 0);
	assert_true(res.already_stored);
	assert_false(exists(repowal, SEG6 "." G2 ".00004000-00005000.partial.zst"));
	assert_false(exists(waldir, SEG6 "." G2 ".00004000-00005000.partial.rvx"));
	/* not known: stored without asking (a leftover readers never use) */
	spool_object(e, name, content + 0x4000, 0x1000);
	assert_int_equal(rvx_ship_wal_flags(e->repo, e->spool, name, &e->ci, RVX_SHIP_SEGMENT_NOT_KNOWN,
										&res, &err), 0);
	assert_false(res.already_stored);
	assert_true(exists(repowal, SEG6 "." G2 ".00004000-00005000.partial.zst"));

	/*
	 * wal-fetch's check: the chain of S5 is not the end of the WAL while
	 * SEG6 is stored; nothing is stored after SEG6.
	 */
	{
		char		later[256];

		assert_int_equal(rvx_partial_later_wal(e->repo, S5, GEN2, later, sizeof(later), &err), 1);
		assert_memory_equal(later, "wal/00000001/" SEG6, strlen("wal/00000001/" SEG6));
		assert_int_equal(rvx_partial_later_wal(e->repo, SEG6, GEN2, later, sizeof(later), &err), 0);
	}

	/* the directory driver lists from a key on, as S3 does with StartAfter */
	{
		const char *after = "wal/00000001/" S5 "~";
		RvxStrVec	all = {0};
		RvxStrVec	keys = {0};

		assert_int_equal(rvx_repo_list(e->repo, "wal/00000001/", rvx_strvec_collect_key,
									   &all, &err), 0);
		assert_int_equal(rvx_repo_list_after(e->repo, "wal/00000001/", after,
											 rvx_strvec_collect_key, &keys, &err), 0);
		assert_true(keys.n > 0 && keys.n < all.n);
		for (size_t i = 0; i < keys.n; i++)
			assert_true(strcmp(keys.s[i], after) > 0);
		for (size_t i = 0; i < all.n - keys.n; i++)
			assert_true(strcmp(all.s[i], after) <= 0);
		rvx_strvec_free(&all);
		rvx_strvec_free(&keys);
	}

	/* later WAL of the timeline: complete, or of this generation or newer */
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004.zst"));
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000100000000"));
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004.partial.gz"));
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004." G1 ".00001000-00002000.partial.zst"));
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004." G2 ".00001000.partial.zst"));
	/* not: an older generation's leftover, earlier WAL, the segment itself, other timelines */
	assert_false(rvx_partial_key_is_later(SEG, GEN2, "wal/00000001/000000010000000000000004." G1 ".00000000-00001000.partial.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000002.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/" SEG ".zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/" SEG "." G2 ".00000000-00001000.partial.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000002/000000020000000000000004.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000002/000000010000000000000004.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/00000002.history"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004.00000028.backup"));

	/* a partial is only ever one of its own segment, under its own timeline */
	{
		RvxStreamedName r;

		assert_true(rvx_partial_key_parse(SEG, "wal/00000001/" SEG "." G1 ".00000000-00001000.partial.gz", &r));
		assert_false(rvx_partial_key_parse(SEG, "wal/00000001/" SEG ".zst", &r));
		assert_false(rvx_partial_key_parse(SEG, "wal/00000001/" SEG ".partial.zst", &r));
		assert_false(rvx_partial_key_parse(SEG, "wal/00000001/" S4 "." G1 ".00000000-00001000.partial.zst", &r));
		assert_false(rvx_partial_key_parse(SEG, "wal/00000002/" SEG "." G1 ".00000000-00001000.partial.zst", &r));
		assert_false(rvx_partial_key_parse(SEG, "backup/x/" SEG "." G1 ".00000000-00001000.partial.zst", &r));
		assert_false(rvx_partial_key_parse(SEG, "wal/00000001/" SEG ".00FFF000.partial.zst", &r));
	}
}


/* --------------------------------------------------- timelines' switch points */

static void
test_history_branch(void **state)
{
	const char *h3 = "1\t0/3000158\tno recovery target specified\n"
		"\n# a comment\n"
		"2\t0/5000000\tbefore 2026-12-07\n";
	uint64_t	lsn = 0;

	/* timeline 1 ended inside segment 3 (of 16 MB) in this history */
	assert_true(rvx_history_branch_in(h3, 1, 3 * (uint64_t) SEGSIZE, 4 * (uint64_t) SEGSIZE, &lsn));
	assert_true(lsn == UINT64_C(0x3000158));
	assert_false(rvx_history_branch_in(h3, 1, 4 * (uint64_t) SEGSIZE, 5 * (uint64_t) SEGSIZE, &lsn));
	/* timeline 2 at the start of segment 5: in it */
	assert_true(rvx_history_branch_in(h3, 2, 5 * (uint64_t) SEGSIZE, 6 * (uint64_t) SEGSIZE, &lsn));
	assert_true(lsn == UINT64_C(0x5000000));
	assert_false(rvx_history_branch_in(h3, 2, 4 * (uint64_t) SEGSIZE, 5 * (uint64_t) SEGSIZE, &lsn));
	/* other timelines, garbage */
	assert_false(rvx_history_branch_in(h3, 3, 0, UINT64_MAX, &lsn));
	assert_false(rvx_history_branch_in("not a history\n", 1, 0, UINT64_MAX, &lsn));
	assert_false(rvx_history_branch_in("", 1, 0, UINT64_MAX, &lsn));
}

/* ----------------------------------------- a range's WAL against its name */

/* Fills buf (segment bytes [0, len)) with WAL pages of segment segno, timeline tli. */
static void
make_wal(uint8_t *buf, size_t len, uint64_t segno, uint32_t tli)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t) (i * 7 + 3);
	for (size_t page = 0; page < len; page += RVX_WAL_PAGE_SIZE)
	{
		uint64_t	addr = segno * SEGSIZE + page;

		for (int b = 0; b < 4; b++)
			buf[page + 4 + b] = (uint8_t) (tli >> (8 * b));
		for (int b = 0; b < 8; b++)
			buf[page + 8 + b] = (uint8_t) (addr >> (8 * b));
	}
}

/* Checks segment bytes [start, end) of buf as a range of segment segno, fed in pieces of step. */
static int
check_range(const uint8_t *buf, uint32_t start, uint32_t end, uint64_t segno, uint32_t tli,
			size_t step, char *why)
{
	RvxWalPageCheck c;

	rvx_wal_page_check_begin(&c, SEGSIZE, tli, segno, start);
	for (uint32_t pos = start; pos < end; pos += step)
		if (rvx_wal_page_check_feed(&c, buf + pos, pos + step > end ? end - pos : step,
									why, 200) != 0)
			return -1;
	return 0;
}

static void
test_page_check(void **state)
{
	static uint8_t wal[4 * RVX_WAL_PAGE_SIZE];
	char		why[200];

	make_wal(wal, sizeof(wal), 3, 1);
	/* a good range, fed whole or a byte at a time */
	assert_int_equal(check_range(wal, 0, sizeof(wal), 3, 1, sizeof(wal), why), 0);
	assert_int_equal(check_range(wal, 0, sizeof(wal), 3, 1, 1, why), 0);
	/* a range not starting at a page boundary: the next page's header is checked */
	assert_int_equal(check_range(wal, 100, 3 * RVX_WAL_PAGE_SIZE + 5, 3, 1, 333, why), 0);
	assert_int_equal(check_range(wal, 10, 3 * RVX_WAL_PAGE_SIZE + 12, 3, 1, 7, why), 0);
	/* ...and pages of a parent timeline are fine in a child's segment */
	assert_int_equal(check_range(wal, 0, sizeof(wal), 3, 2, 5000, why), 0);

	/* misfiled: the same WAL under another segment's name */
	assert_int_equal(check_range(wal, 0, sizeof(wal), 4, 1, sizeof(wal), why), -1);
	assert_non_null(strstr(why, "offset 0 has address 0/3000000, where its name says 0/4000000"));
	/* ...or at another offset (a range renamed) */
	assert_int_equal(check_range(wal + RVX_WAL_PAGE_SIZE, 0, 2 * RVX_WAL_PAGE_SIZE, 3, 1, 999, why), -1);
	assert_non_null(strstr(why, "where its name says 0/3000000"));

	/* a wrong page address in the middle, seen from a range starting mid-page */
	wal[2 * RVX_WAL_PAGE_SIZE + 9] ^= 0x40;
	assert_int_equal(check_range(wal, 100, sizeof(wal), 3, 1, 4096, why), -1);
	assert_non_null(strstr(why, "offset 4000 has address"));
	wal[2 * RVX_WAL_PAGE_SIZE + 9] ^= 0x40;

	/* a wrong timeline: a later one, or none */
	wal[RVX_WAL_PAGE_SIZE + 4] = 2;
	assert_int_equal(check_range(wal, 0, sizeof(wal), 3, 1, 3, why), -1);
	assert_non_null(strstr(why, "offset 2000 was written by timeline 2"));
	assert_int_equal(check_range(wal, 0, sizeof(wal), 3, 2, 3, why), 0);
	wal[RVX_WAL_PAGE_SIZE + 4] = 0;
	assert_int_equal(check_range(wal, 0, sizeof(wal), 3, 1, sizeof(wal), why), -1);
	assert_non_null(strstr(why, "timeline 0"));
	wal[RVX_WAL_PAGE_SIZE + 4] = 1;

	/* a header cut by the range's start is checked as far as it is there */
	wal[14] ^= 1;
	assert_int_equal(check_range(wal, 10, sizeof(wal), 3, 1, 1, why), -1);
	assert_non_null(strstr(why, "(in part)"));
	assert_int_equal(check_range(wal, 15, sizeof(wal), 3, 1, 1, why), 0);
	wal[14] ^= 1;
}

/*
 * wal-fetch's chain with the checks on: a misfiled range (another range's
 * WAL under its name) and a range whose overlap with the one before holds
 * other bytes are refused as corrupt, naming the object; nothing is
 * written.
 */
static void
test_fetch_checks(void **state)
{
	Fixture    *e = *state;
	static uint8_t wal[8 * RVX_WAL_PAGE_SIZE];
	static char other[8 * RVX_WAL_PAGE_SIZE];
	static char back[0x10000];
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		from[512];
	char		to[512];
	char		dest[512];
	RvxStoreResult res;
	RvxError	err;

	make_wal(wal, sizeof(wal), 3, 1);
	snprintf(dest, sizeof(dest), "%s/fetched", e->root);
	assert_int_equal(ship_range(e, SEG, GEN1, 0, 0x3000, (char *) wal, &res, &err), 0);
	assert_int_equal(ship_range(e, SEG, GEN1, 0x2000, 0x5000, (char *) wal, &res, &err), 0);
	assert_int_equal(fetch_chain_pages(e, SEG, back, sizeof(back), true, &err), 0x5000);
	assert_memory_equal(back, wal, 0x5000);

	/* the second range's overlap holds other bytes (its pages are fine) */
	memcpy(other, wal, sizeof(other));
	other[0x2800] ^= 0x55;
	rvx_walname_streamed(SEG, GEN1, 0x2000, 0x5000, name, sizeof(name));
	spool_object(e, name, other + 0x2000, 0x3000);
	snprintf(from, sizeof(from), "%s/wal/%s.rvx", e->spool, name);
	snprintf(to, sizeof(to), "%s/wal/00000001/%s.zst", e->repodir, name);
	assert_int_equal(rename(from, to), 0);
	unlink(dest);
	assert_int_equal(fetch_chain_pages(e, SEG, back, sizeof(back), false, &err), UINT32_MAX);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, name));
	assert_non_null(strstr(err.msg, "holds other bytes at offset 10240 than the part before it"));
	assert_false(exists(e->root, "fetched"));
	/* the same bytes where they do not overlap are only WAL: served */
	assert_int_equal(ship_range(e, SEG, GEN1, 0x2000, 0x5000, (char *) wal, &res, &err), 0);
	assert_int_equal(fetch_chain_pages(e, SEG, back, sizeof(back), true, &err), 0x5000);

	/* misfiled: the WAL of [0x1000, 0x4000) stored as [0x5000, 0x8000) */
	rvx_walname_streamed(SEG, GEN1, 0x5000, 0x8000, name, sizeof(name));
	spool_object(e, name, (char *) wal + 0x1000, 0x3000);
	snprintf(from, sizeof(from), "%s/wal/%s.rvx", e->spool, name);
	snprintf(to, sizeof(to), "%s/wal/00000001/%s.zst", e->repodir, name);
	assert_int_equal(rename(from, to), 0);
	unlink(dest);
	assert_int_equal(fetch_chain_pages(e, SEG, back, sizeof(back), true, &err), UINT32_MAX);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, name));
	assert_non_null(strstr(err.msg, "is not the WAL its name says: the WAL page at offset 6000 "
						   "has address 0/3002000, where its name says 0/3006000"));
	assert_false(exists(e->root, "fetched"));
	/* without the check (the old reader) it would have been spliced in */
	assert_int_equal(fetch_chain_pages(e, SEG, back, sizeof(back), false, &err), 0x8000);

	/*
	 * Renamed: a range of [0x1000, 0x4000) stored under the name of
	 * [0x5000, 0x8000).  Its identity says where its WAL belongs, whatever
	 * its pages hold: refused before a byte is used, pages checked or not.
	 */
	rvx_walname_streamed(SEG, GEN1, 0x1000, 0x4000, name, sizeof(name));
	spool_object(e, name, (char *) wal + 0x1000, 0x3000);
	snprintf(from, sizeof(from), "%s/wal/%s.rvx", e->spool, name);
	rvx_walname_streamed(SEG, GEN1, 0x5000, 0x8000, name, sizeof(name));
	snprintf(to, sizeof(to), "%s/wal/00000001/%s.zst", e->repodir, name);
	assert_int_equal(rename(from, to), 0);
	unlink(dest);
	assert_int_equal(fetch_chain_pages(e, SEG, back, sizeof(back), false, &err), UINT32_MAX);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, name));
	assert_non_null(strstr(err.msg, "does not carry the range its name says"));
	assert_false(exists(e->root, "fetched"));
	/* a segment of timeline 2 does not take it either: its pages say another segment */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_supersedes),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_progress),
		cmocka_unit_test_setup_teardown(test_ship_partials, fx_setup, fx_teardown),
		cmocka_unit_test(test_page_check),
		cmocka_unit_test(test_history_branch),
		cmocka_unit_test_setup_teardown(test_fetch_checks, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
