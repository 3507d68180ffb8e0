/*-------------------------------------------------------------------------
 *
 * test_wal_partial.c
 *	  Unit tests for streamed WAL partials: their names (common/walname.c),
 *	  the choice of the newest one (agent/wal_partial.c), and shipping them
 *	  (agent/ship.c) into the posix repository of test_backup_fixture.h:
 *	  older partials go once a newer one is stored, all of them once the
 *	  complete segment is, and the spool keeps no acknowledgement.
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
#include "wal_partial.h"
#include "walname.h"

#define SEG "000000010000000000000003"
/* two server generations: before and after a crash-restart */
#define G1 "0000000001000028"
#define G2 "0000000002000060"
#define GEN1 UINT64_C(0x1000028)
#define GEN2 UINT64_C(0x2000060)

/* ------------------------------------------------------------- names */

static void
test_names(void **state)
{
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		seg[RVX_WALNAME_SEGLEN + 1];
	char		key[256];
	uint32_t	off;
	uint64_t	gen;
	RvxCompression alg;

	assert_int_equal(rvx_walname_streamed(SEG, GEN1, 0xA3F000, name, sizeof(name)), 0);
	assert_string_equal(name, SEG "." G1 ".00A3F000.partial");
	assert_int_equal(strlen(name), RVX_WALNAME_MAXLEN);
	assert_int_equal(rvx_walname_kind(name), RVX_WAL_STREAMED);
	assert_int_equal(rvx_walname_timeline(name), 1);
	assert_int_equal(rvx_walname_streamed_parse(name, seg, &gen, &off), 0);
	assert_string_equal(seg, SEG);
	assert_true(gen == GEN1);
	assert_int_equal(off, 0xA3F000);
	/* the whole 64 bits of a generation */
	assert_int_equal(rvx_walname_streamed(SEG, UINT64_C(0xFEDCBA9876543210), 1, name, sizeof(name)), 0);
	assert_string_equal(name, SEG ".FEDCBA9876543210.00000001.partial");
	assert_int_equal(rvx_walname_streamed_parse(name, seg, NULL, &off), 0);
	assert_int_equal(rvx_walname_streamed_parse(name, seg, &gen, &off), 0);
	assert_true(gen == UINT64_C(0xFEDCBA9876543210));

	/* the key: under the timeline, never the complete segment's key */
	assert_int_equal(rvx_wal_object_key(name, RVX_COMPRESS_ZSTD, key, sizeof(key)), 0);
	rvx_walname_streamed(SEG, GEN1, 0xA3F000, name, sizeof(name));
	assert_int_equal(rvx_wal_object_key(name, RVX_COMPRESS_ZSTD, key, sizeof(key)), 0);
	assert_string_equal(key, "wal/00000001/" SEG "." G1 ".00A3F000.partial.zst");
	assert_int_equal(rvx_wal_key_name(key, name, &alg), 0);
	assert_string_equal(name, SEG "." G1 ".00A3F000.partial");
	assert_int_equal(alg, RVX_COMPRESS_ZSTD);
	assert_int_equal(rvx_wal_key_name("wal/00000001/" SEG ".gz", name, &alg), 0);
	assert_string_equal(name, SEG);
	assert_int_equal(alg, RVX_COMPRESS_GZIP);
	assert_int_equal(rvx_wal_key_name("wal/00000001/" SEG ".txt", name, NULL), -1);

	/* PostgreSQL's own .partial is another kind, and not a streamed one */
	assert_int_equal(rvx_walname_kind(SEG ".partial"), RVX_WAL_PARTIAL);
	assert_int_equal(rvx_walname_streamed_parse(SEG ".partial", seg, &gen, &off), -1);

	/* refused: no offset, a bad offset, not a segment, a bad size */
	assert_int_equal(rvx_walname_streamed(SEG, GEN1, 0, name, sizeof(name)), -1);
	assert_int_equal(rvx_walname_streamed("00000002.history", GEN1, 10, name, sizeof(name)), -1);
	assert_int_equal(rvx_walname_streamed(SEG, GEN1, 1, name, 40), -1);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00000000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00a3f000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG ".000000000100002a.00A3F000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".0A3F000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG ".000000001000028.00A3F000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00A3F000.partia"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(SEG "." G1 ".00A3F000.partialx"), RVX_WAL_INVALID);
	/* the generation-less names of early builds are nothing, so ignored */
	assert_int_equal(rvx_walname_kind(SEG ".00A3F000.partial"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_streamed_parse(SEG ".00A3F000.partial", seg, &gen, &off), -1);
	assert_int_equal(rvx_wal_key_name("wal/00000001/" SEG ".00A3F000.partial.zst", name, &alg), -1);
}

/* ------------------------------------------------------- newest partial */

static void
test_pick(void **state)
{
	RvxPartialPick p;

	rvx_partial_pick_init(&p, SEG);
	assert_false(p.found);
	/* the complete segment, other segments, other timelines: never */
	assert_false(rvx_partial_pick_key(&p, "wal/00000001/" SEG ".zst"));
	assert_false(rvx_partial_pick_key(&p, "wal/00000001/" SEG ".partial.zst"));
	assert_false(rvx_partial_pick_key(&p, "wal/00000001/000000010000000000000004." G1 ".00FFF000.partial.zst"));
	assert_false(rvx_partial_pick_key(&p, "wal/00000002/000000020000000000000003." G1 ".00FFF000.partial.zst"));
	/* a timeline-1 name misfiled under another timeline */
	assert_false(rvx_partial_pick_key(&p, "wal/00000002/" SEG "." G1 ".00FFF000.partial.zst"));
	assert_false(rvx_partial_pick_key(&p, "backup/x/" SEG "." G1 ".00FFF000.partial.zst"));
	/* an early build's name */
	assert_false(rvx_partial_pick_key(&p, "wal/00000001/" SEG ".00FFF000.partial.zst"));
	assert_false(p.found);

	/* the largest end offset wins, in any listing order, any codec */
	assert_true(rvx_partial_pick_key(&p, "wal/00000001/" SEG "." G1 ".00002000.partial.zst"));
	assert_true(rvx_partial_pick_key(&p, "wal/00000001/" SEG "." G1 ".00A00000.partial.gz"));
	assert_false(rvx_partial_pick_key(&p, "wal/00000001/" SEG "." G1 ".00004000.partial.zst"));
	assert_false(rvx_partial_pick_key(&p, "wal/00000001/" SEG "." G1 ".00A00000.partial.zst"));
	assert_true(p.found);
	assert_int_equal(p.end_offset, 0xA00000);
	assert_string_equal(p.key, "wal/00000001/" SEG "." G1 ".00A00000.partial.gz");

	/*
	 * A newer generation wins over a longer partial of an older one: after
	 * a crash-restart the older one's tail may no longer be the server's WAL.
	 */
	assert_true(rvx_partial_pick_key(&p, "wal/00000001/" SEG "." G2 ".00003000.partial.zst"));
	assert_false(rvx_partial_pick_key(&p, "wal/00000001/" SEG "." G1 ".00F00000.partial.zst"));
	assert_true(rvx_partial_pick_key(&p, "wal/00000001/" SEG "." G2 ".00004000.partial.zst"));
	assert_true(p.generation == GEN2);
	assert_int_equal(p.end_offset, 0x4000);
	assert_string_equal(p.key, "wal/00000001/" SEG "." G2 ".00004000.partial.zst");

	/* later WAL of the timeline: complete, or of this generation or newer */
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004.zst"));
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000100000000"));
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004.partial.gz"));
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004." G1 ".00001000.partial.zst"));
	assert_true(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004." G2 ".00001000.partial.zst"));
	/* not: an older generation's leftover, earlier WAL, the segment itself, other timelines */
	assert_false(rvx_partial_key_is_later(SEG, GEN2, "wal/00000001/000000010000000000000004." G1 ".00001000.partial.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000002.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/" SEG ".zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/" SEG "." G2 ".00001000.partial.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000002/000000020000000000000004.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000002/000000010000000000000004.zst"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/00000002.history"));
	assert_false(rvx_partial_key_is_later(SEG, GEN1, "wal/00000001/000000010000000000000004.00000028.backup"));

	/* the recovery point does not pass an earlier segment still waiting */
	assert_true(rvx_wal_pending_blocks("000000010000000000000002", SEG));
	assert_true(rvx_wal_pending_blocks("000000010000000000000002", SEG "." G1 ".00001000.partial"));
	assert_true(rvx_wal_pending_blocks("000000010000000000000002.partial", SEG));
	assert_false(rvx_wal_pending_blocks(SEG, SEG "." G1 ".00001000.partial"));
	assert_false(rvx_wal_pending_blocks("000000010000000000000004", SEG));
	assert_false(rvx_wal_pending_blocks("000000010000000000000002." G1 ".00001000.partial", SEG));
	assert_false(rvx_wal_pending_blocks("000000020000000000000002", "000000010000000000000003"));
	assert_false(rvx_wal_pending_blocks("00000002.history", SEG));
	assert_false(rvx_wal_pending_blocks("000000010000000000000002.00000028.backup", SEG));

	/* the order */
	assert_true(rvx_partial_older(1, 0xFFFFFF, 2, 1));
	assert_true(rvx_partial_older(2, 1, 2, 2));
	assert_false(rvx_partial_older(2, 2, 2, 2));
	assert_false(rvx_partial_older(3, 1, 2, 0xFFFFFF));
}

/* ------------------------------------------------ shipping, with a repository */

/* Spools the first len bytes of content as NAME.rvx, as the server would. */
static void
spool_object(Fixture *fx, const char *name, const char *content, size_t len)
{
	char		path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/wal/%s.rvx", fx->spool, name);
	fx_write_object(path, content, len, SYSID, NULL);
}

static bool
exists(const char *dir, const char *name)
{
	return fx_exists("%s/%s", dir, name);
}

static void
test_ship_partials(void **state)
{
	Fixture    *e = *state;
	static char content[64 * 1024];
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		waldir[400];
	char		repowal[400];
	RvxShipResult res;
	RvxPartialPick pick;
	RvxError	err;
	char		dest[512];
	struct stat st;
	FILE	   *f;
	static char back[64 * 1024];

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char) (i % 253);
	snprintf(waldir, sizeof(waldir), "%s/wal", e->spool);
	snprintf(repowal, sizeof(repowal), "%s/wal/00000001", e->repodir);

	/* the first partial: stored, spool file gone, no .ok */
	rvx_walname_streamed(SEG, GEN1, 0x4000, name, sizeof(name));
	spool_object(e, name, content, 0x4000);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_true(exists(repowal, SEG "." G1 ".00004000.partial.zst"));
	assert_false(exists(waldir, SEG "." G1 ".00004000.partial.rvx"));
	assert_false(exists(waldir, SEG "." G1 ".00004000.partial.ok"));
	assert_int_equal(rvx_partial_find_newest(e->repo, SEG, &pick, &err), 1);
	assert_int_equal(pick.end_offset, 0x4000);

	/* a newer one replaces it, after it is stored */
	rvx_walname_streamed(SEG, GEN1, 0xC000, name, sizeof(name));
	spool_object(e, name, content, 0xC000);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_true(exists(repowal, SEG "." G1 ".0000C000.partial.zst"));
	assert_false(exists(repowal, SEG "." G1 ".00004000.partial.zst"));

	/* fetched as the segment: the partial's bytes, then zeros */
	{
		RvxFetchOptions opts = RVX_FETCH_OPTIONS_INIT;

		assert_int_equal(rvx_partial_find_newest(e->repo, SEG, &pick, &err), 1);
		opts.expect_size = pick.end_offset;
		opts.pad_to = 0x10000;
		snprintf(dest, sizeof(dest), "%s/fetched", e->root);
		assert_int_equal(rvx_fetch_to_file_opts(e->repo, pick.key, &opts, dest, &err), 0);
		assert_int_equal(stat(dest, &st), 0);
		assert_int_equal(st.st_size, 0x10000);
		f = fopen(dest, "rb");
		assert_int_equal(fread(back, 1, sizeof(back), f), 0x10000);
		fclose(f);
		assert_memory_equal(back, content, 0xC000);
		for (size_t i = 0xC000; i < 0x10000; i++)
			assert_int_equal(back[i], 0);
		/* a partial whose size is not the one its name says is refused */
		opts.expect_size = 0x4000;
		assert_int_equal(rvx_fetch_to_file_opts(e->repo, pick.key, &opts, dest, &err), -1);
		assert_int_equal(err.code, RVX_E_CORRUPT);
	}

	/* a spooled partial whose content does not match its name is refused */
	rvx_walname_streamed(SEG, GEN1, 0xD000, name, sizeof(name));
	spool_object(e, name, content, 0x100);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	unlink(strcat(strcpy(dest, waldir), "/" SEG "." G1 ".0000D000.partial.rvx"));

	/* the complete segment: stored, acknowledged, and its partials go */
	spool_object(e, SEG, content, sizeof(content));
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, SEG, &e->ci, &res, &err), 0);
	assert_true(exists(repowal, SEG ".zst"));
	assert_true(exists(waldir, SEG ".ok"));
	assert_false(exists(repowal, SEG "." G1 ".0000C000.partial.zst"));
	assert_int_equal(rvx_partial_find_newest(e->repo, SEG, &pick, &err), 0);

	/* a late partial of a stored segment is dropped, not stored */
	rvx_walname_streamed(SEG, GEN1, 0xE000, name, sizeof(name));
	spool_object(e, name, content, 0xE000);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_true(res.already_stored);
	assert_false(exists(repowal, SEG "." G1 ".0000E000.partial.zst"));
	assert_false(exists(waldir, SEG "." G1 ".0000E000.partial.rvx"));

	/*
	 * A crash-restart: the partial of the new generation is shorter than
	 * the one stored before the crash, and still wins; once it is stored,
	 * the older generation's go, however long.
	 */
#define SEG5 "000000010000000000000005"
	rvx_walname_streamed(SEG5, GEN1, 0xC000, name, sizeof(name));
	spool_object(e, name, content, 0xC000);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	rvx_walname_streamed(SEG5, GEN2, 0x8000, name, sizeof(name));
	spool_object(e, name, content + 1, 0x8000);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_int_equal(rvx_partial_find_newest(e->repo, SEG5, &pick, &err), 1);
	assert_true(pick.generation == GEN2);
	assert_int_equal(pick.end_offset, 0x8000);
	assert_false(exists(repowal, SEG5 "." G1 ".0000C000.partial.zst"));
	assert_true(exists(repowal, SEG5 "." G2 ".00008000.partial.zst"));
	/* a late upload of the old generation does not remove the new one */
	rvx_walname_streamed(SEG5, GEN1, 0xD000, name, sizeof(name));
	spool_object(e, name, content, 0xD000);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_true(exists(repowal, SEG5 "." G2 ".00008000.partial.zst"));
	assert_int_equal(rvx_partial_find_newest(e->repo, SEG5, &pick, &err), 1);
	assert_true(pick.generation == GEN2);

	/* a partial as long as a segment, or longer, is refused as corrupt */
	rvx_walname_streamed(SEG5, GEN2, 16 * 1024 * 1024, name, sizeof(name));
	spool_object(e, name, content, 0x100);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	snprintf(dest, sizeof(dest), "%s/%s.rvx", waldir, name);
	unlink(dest);

	/* the complete segment stored with another codec also supersedes */
#define SEG6 "000000010000000000000006"
	snprintf(dest, sizeof(dest), "%s/" SEG6 ".gz", repowal);
	f = fopen(dest, "wb");
	assert_non_null(f);
	fputs("stored complete", f);
	fclose(f);
	rvx_walname_streamed(SEG6, GEN2, 0x4000, name, sizeof(name));
	spool_object(e, name, content, 0x4000);
	assert_int_equal(rvx_ship_wal(e->repo, e->spool, name, &e->ci, &res, &err), 0);
	assert_true(res.already_stored);
	assert_false(exists(repowal, SEG6 "." G2 ".00004000.partial.zst"));

	/*
	 * wal-fetch's check: a partial of SEG5 is not the end of the WAL while
	 * SEG6 is stored; nothing is stored after SEG6.
	 */
	{
		char		later[256];

		assert_int_equal(rvx_partial_later_wal(e->repo, SEG5, GEN2, later, sizeof(later), &err), 1);
		assert_string_equal(later, "wal/00000001/" SEG6 ".gz");
		assert_int_equal(rvx_partial_later_wal(e->repo, SEG6, GEN2, later, sizeof(later), &err), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_pick),
		cmocka_unit_test_setup_teardown(test_ship_partials, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
