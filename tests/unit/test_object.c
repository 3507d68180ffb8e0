/*-------------------------------------------------------------------------
 *
 * test_object.c
 *	  Unit tests for the object format (common/object.c) and the codecs
 *	  under it: every way a stored object can be damaged must be caught by
 *	  the reader, for every compression.
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

#include "object.h"
#include "spool.h"
#include "walname.h"

typedef struct Buf
{
	uint8_t    *data;
	size_t		len;
} Buf;

static int
buf_sink(void *arg, const void *data, size_t len)
{
	Buf		   *b = arg;

	b->data = realloc(b->data, b->len + len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* Something WAL-like: compressible runs with some noise. */
static uint8_t *
make_content(size_t len, unsigned seed)
{
	uint8_t    *p = malloc(len);

	srand(seed);
	for (size_t i = 0; i < len; i++)
		p[i] = (i % 512 < 300) ? (uint8_t) (i / 512) : (uint8_t) rand();
	return p;
}

/* Writes content as an object (header + payload) into out. */
static void
write_object(RvxCompression alg, const uint8_t *content, size_t len, Buf *out)
{
	RvxObjectWriter *w = rvx_object_writer_new(alg, rvx_compression_default_level(alg));
	RvxObjectHeader hdr;
	Buf			payload = {NULL, 0};

	assert_non_null(w);
	assert_int_equal(rvx_object_writer_begin(w, 7312345678901234567ULL, buf_sink, &payload), 0);
	/* feed in uneven pieces */
	for (size_t off = 0; off < len;)
	{
		size_t		n = (off % 3 == 0) ? 70001 : 1;

		if (n > len - off)
			n = len - off;
		assert_int_equal(rvx_object_writer_write(w, content + off, n), 0);
		off += n;
	}
	assert_int_equal(rvx_object_writer_finish(w, &hdr), 0);
	assert_int_equal(hdr.raw_size, len);
	assert_int_equal(hdr.payload_size, payload.len);
	out->len = RVX_OBJECT_HEADER_LEN + payload.len;
	out->data = malloc(out->len);
	rvx_object_header_encode(&hdr, out->data);
	memcpy(out->data + RVX_OBJECT_HEADER_LEN, payload.data, payload.len);
	free(payload.data);
	rvx_object_writer_free(w);
}

/* Reads obj back in chunks of the given size; returns 0 and fills out, or -1. */
static int
read_object(const Buf *obj, size_t chunk, Buf *out, char *why, size_t whylen)
{
	RvxObjectReader *r = rvx_object_reader_new();
	int			rc = 0;

	assert_non_null(r);
	rvx_object_reader_begin(r, buf_sink, out);
	for (size_t off = 0; off < obj->len && rc == 0; off += chunk)
	{
		size_t		n = obj->len - off < chunk ? obj->len - off : chunk;

		rc = rvx_object_reader_feed(r, obj->data + off, n);
	}
	if (rc == 0)
		rc = rvx_object_reader_finish(r);
	snprintf(why, whylen, "%s", rvx_object_reader_error(r));
	rvx_object_reader_free(r);
	return rc;
}

static void
roundtrip(RvxCompression alg)
{
	size_t		len = 3 * 1024 * 1024 + 17;
	uint8_t    *content = make_content(len, 1);
	Buf			obj = {NULL, 0};
	size_t		chunks[] = {1, 4096, 65536, 10 * 1024 * 1024};

	write_object(alg, content, len, &obj);
	if (alg != RVX_COMPRESS_NONE)
		assert_true(obj.len < len);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
	{
		Buf			out = {NULL, 0};
		char		why[256];

		if (chunks[i] == 1 && alg == RVX_COMPRESS_NONE)
			continue;			/* byte-at-a-time over 3 MB uncompressed is slow */
		assert_int_equal(read_object(&obj, chunks[i], &out, why, sizeof(why)), 0);
		assert_int_equal(out.len, len);
		assert_memory_equal(out.data, content, len);
		free(out.data);
	}
	free(obj.data);
	free(content);
}

static void
test_roundtrip_zstd(void **state)
{
	roundtrip(RVX_COMPRESS_ZSTD);
}

static void
test_roundtrip_gzip(void **state)
{
	roundtrip(RVX_COMPRESS_GZIP);
}

static void
test_roundtrip_none(void **state)
{
	roundtrip(RVX_COMPRESS_NONE);
}

static void
test_empty_content(void **state)
{
	for (int alg = 0; alg <= RVX_COMPRESS_MAX; alg++)
	{
		Buf			obj = {NULL, 0};
		Buf			out = {NULL, 0};
		char		why[256];

		write_object((RvxCompression) alg, (const uint8_t *) "", 0, &obj);
		assert_int_equal(read_object(&obj, 4096, &out, why, sizeof(why)), 0);
		assert_int_equal(out.len, 0);
		free(obj.data);
	}
}

/* Every damage must be detected, whatever the compression. */
static void
expect_damage_detected(RvxCompression alg)
{
	size_t		len = 1024 * 1024;
	uint8_t    *content = make_content(len, 2);
	Buf			obj = {NULL, 0};
	char		why[256];

	write_object(alg, content, len, &obj);

	/* a flipped byte anywhere in the payload */
	for (size_t pos = RVX_OBJECT_HEADER_LEN; pos < obj.len; pos += obj.len / 7 + 1)
	{
		Buf			out = {NULL, 0};

		obj.data[pos] ^= 0x20;
		assert_int_equal(read_object(&obj, 65536, &out, why, sizeof(why)), -1);
		obj.data[pos] ^= 0x20;
		free(out.data);
	}
	/* a flipped byte in the header */
	for (size_t pos = 0; pos < RVX_OBJECT_HEADER_LEN; pos += 5)
	{
		Buf			out = {NULL, 0};

		obj.data[pos] ^= 0x01;
		assert_int_equal(read_object(&obj, 65536, &out, why, sizeof(why)), -1);
		obj.data[pos] ^= 0x01;
		free(out.data);
	}
	/* truncation at several points, including inside the header */
	{
		size_t		cuts[] = {0, 10, RVX_OBJECT_HEADER_LEN, RVX_OBJECT_HEADER_LEN + 1,
		obj.len / 2, obj.len - 1};

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		{
			Buf			cut = {obj.data, cuts[i]};
			Buf			out = {NULL, 0};

			assert_int_equal(read_object(&cut, 65536, &out, why, sizeof(why)), -1);
			assert_non_null(strstr(why, "truncated"));
			free(out.data);
		}
	}
	/* trailing garbage */
	{
		Buf			longer = {malloc(obj.len + 3), obj.len + 3};
		Buf			out = {NULL, 0};

		memcpy(longer.data, obj.data, obj.len);
		memcpy(longer.data + obj.len, "xyz", 3);
		assert_int_equal(read_object(&longer, 65536, &out, why, sizeof(why)), -1);
		free(longer.data);
		free(out.data);
	}
	free(obj.data);
	free(content);
}

static void
test_damage_zstd(void **state)
{
	expect_damage_detected(RVX_COMPRESS_ZSTD);
}

static void
test_damage_gzip(void **state)
{
	expect_damage_detected(RVX_COMPRESS_GZIP);
}

static void
test_damage_none(void **state)
{
	expect_damage_detected(RVX_COMPRESS_NONE);
}

static void
test_walname(void **state)
{
	char		key[128];

	assert_int_equal(rvx_walname_kind("000000010000000000000001"), RVX_WAL_SEGMENT);
	assert_int_equal(rvx_walname_kind("000000010000000000000001.partial"), RVX_WAL_PARTIAL);
	assert_int_equal(rvx_walname_kind("00000002.history"), RVX_WAL_HISTORY);
	assert_int_equal(rvx_walname_kind("000000010000000000000001.00000028.backup"),
					 RVX_WAL_BACKUP_HISTORY);
	assert_int_equal(rvx_walname_kind("00000001000000000000000"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind("00000001000000000000000g"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind("../../etc/passwd"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind("0000000100000000000000a1"), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_kind(""), RVX_WAL_INVALID);
	assert_int_equal(rvx_walname_timeline("0000000A0000000000000001"), 10);
	assert_int_equal(rvx_walname_timeline("0000000B.history"), 11);
	assert_int_equal(rvx_wal_object_key("000000020000000100000003", RVX_COMPRESS_ZSTD,
										key, sizeof(key)), 0);
	assert_string_equal(key, "wal/00000002/000000020000000100000003.zst");
	assert_int_equal(rvx_wal_object_key("00000002.history", RVX_COMPRESS_NONE, key, sizeof(key)), 0);
	assert_string_equal(key, "wal/00000002/00000002.history");
	assert_int_equal(rvx_wal_object_key("nope", RVX_COMPRESS_NONE, key, sizeof(key)), -1);
	assert_int_equal(rvx_wal_object_key("000000020000000100000003", RVX_COMPRESS_GZIP, key, 10), -1);
}

static void
test_spool_notes(void **state)
{
	uint8_t		sha[RVX_SHA256_LEN];
	uint8_t		back[RVX_SHA256_LEN];
	char		text[RVX_SPOOL_NOTE_MAX];
	bool		permanent;
	long long	when;
	const char *msg;

	for (int i = 0; i < RVX_SHA256_LEN; i++)
		sha[i] = (uint8_t) (i * 7);
	assert_int_equal(rvx_spool_ok_format(text, sizeof(text), sha, "wal/x"), 0);
	assert_int_equal(rvx_spool_ok_parse(text, back), 0);
	assert_memory_equal(sha, back, RVX_SHA256_LEN);
	/* torn or foreign acknowledgements are never accepted */
	assert_int_equal(rvx_spool_ok_parse("", back), -1);
	assert_int_equal(rvx_spool_ok_parse("0011", back), -1);
	text[20] = '\0';
	assert_int_equal(rvx_spool_ok_parse(text, back), -1);
	assert_int_equal(rvx_spool_ok_parse("zz3456789012345678901234567890123456789012345678901234567890123 k\n", back), -1);

	assert_int_equal(rvx_spool_error_format(text, sizeof(text), true, 1764145000LL,
											"repository belongs to another cluster"), 0);
	assert_int_equal(rvx_spool_error_parse(text, &permanent, &when, &msg), 0);
	assert_true(permanent);
	assert_int_equal(when, 1764145000LL);
	assert_string_equal(msg, "repository belongs to another cluster");
	strcpy(text, "sometimes 12\nx\n");
	assert_int_equal(rvx_spool_error_parse(text, &permanent, &when, &msg), -1);
	strcpy(text, "transient\n");
	assert_int_equal(rvx_spool_error_parse(text, &permanent, &when, &msg), -1);
}

static void
test_sha256_vectors(void **state)
{
	uint8_t		d[RVX_SHA256_LEN];
	char		hex[RVX_SHA256_HEXLEN + 1];
	RvxSha256  *ctx = rvx_sha256_new();

	/* FIPS 180-2 examples */
	rvx_sha256_buf("abc", 3, d);
	rvx_hex_encode(d, sizeof(d), hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rvx_sha256_buf("", 0, d);
	rvx_hex_encode(d, sizeof(d), hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* streaming equals one-shot */
	rvx_sha256_update(ctx, "ab", 2);
	rvx_sha256_update(ctx, "c", 1);
	rvx_sha256_final(ctx, d);
	rvx_hex_encode(d, sizeof(d), hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rvx_sha256_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_zstd),
		cmocka_unit_test(test_roundtrip_gzip),
		cmocka_unit_test(test_roundtrip_none),
		cmocka_unit_test(test_empty_content),
		cmocka_unit_test(test_damage_zstd),
		cmocka_unit_test(test_damage_gzip),
		cmocka_unit_test(test_damage_none),
		cmocka_unit_test(test_walname),
		cmocka_unit_test(test_spool_notes),
		cmocka_unit_test(test_sha256_vectors),
	};

	return cmocka_run_group_tests_name("object", tests, NULL, NULL);
}
