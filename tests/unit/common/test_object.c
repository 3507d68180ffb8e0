/*-------------------------------------------------------------------------
 *
 * test_object.c
 *	  Unit tests for the object format (common/object.c) and the codecs
 *	  under it: every way a stored object can be damaged must be caught by
 *	  the reader, for every compression; and the lz4 codec's own
 *	  streaming, which buffers a block inside the codec; zstd with helper
 *	  threads, as backups compress.
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
#include <zlib.h>
#include <zstd.h>

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

/*
 * Writes content as an object (header + payload) into out with writer w,
 * which has just begun it (payload collects what it wrote so far).
 */
static void
finish_object(RvxObjectWriter *w, Buf *payload, const uint8_t *content, size_t len, Buf *out)
{
	RvxObjectHeader hdr;

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
	assert_int_equal(hdr.payload_size, payload->len);
	out->len = RVX_OBJECT_HEADER_LEN + payload->len;
	out->data = malloc(out->len);
	rvx_object_header_encode(&hdr, out->data);
	memcpy(out->data + RVX_OBJECT_HEADER_LEN, payload->data, payload->len);
	free(payload->data);
	payload->data = NULL;
	payload->len = 0;
}

/* Writes content as an object (header + payload) into out. */
static void
write_object(RvxCompression alg, const uint8_t *content, size_t len, Buf *out)
{
	RvxObjectWriter *w = rvx_object_writer_new(alg, rvx_compression_default_level(alg));
	Buf			payload = {NULL, 0};

	assert_non_null(w);
	assert_int_equal(rvx_object_writer_begin(w, 7312345678901234567ULL, buf_sink, &payload), 0);
	finish_object(w, &payload, content, len, out);
	rvx_object_writer_free(w);
}

/* Reads obj back in chunks with key (may be NULL); 0 and fills out, or -1. */
static int
read_object_key(const Buf *obj, size_t chunk, const RvxKey *key, Buf *out, char *why,
				size_t whylen)
{
	RvxObjectReader *r = rvx_object_reader_new();
	int			rc = 0;

	assert_non_null(r);
	rvx_object_reader_begin(r, buf_sink, out);
	rvx_object_reader_set_key(r, key);
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

static int
read_object(const Buf *obj, size_t chunk, Buf *out, char *why, size_t whylen)
{
	return read_object_key(obj, chunk, NULL, out, why, whylen);
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

/*
 * zstd with helper threads (what backups use, revrx.backup_compress_workers):
 * an object of several of libzstd's 8 MB jobs, so the threads really split
 * it, reads back byte for byte with the ordinary single-threaded reader;
 * the writer says it used the threads, for this object and for the next
 * one on the same writer (a small one, less than a job); codecs without
 * threads say 0.  Debian's libzstd has threads (a libzstd without them
 * would make the writer say 0, and this test fail, rightly: backups
 * would not use both cores).
 */
static void
test_zstd_threads(void **state)
{
	size_t		len = 40 * 1024 * 1024 + 5;
	uint8_t    *content = make_content(len, 3);
	int			expect = 2;
	RvxObjectWriter *w = rvx_object_writer_new(RVX_COMPRESS_ZSTD, 3);
	RvxObjectWriter *single = rvx_object_writer_new(RVX_COMPRESS_ZSTD, 3);
	RvxObjectWriter *lz4 = rvx_object_writer_new(RVX_COMPRESS_LZ4, 1);
	Buf			payload = {NULL, 0};
	Buf			obj = {NULL, 0};
	Buf			obj1 = {NULL, 0};
	Buf			out = {NULL, 0};
	char		why[256];

	assert_non_null(w);
	assert_non_null(single);
	assert_non_null(lz4);
	assert_true(rvx_zstd_max_workers() >= 2);	/* Debian's libzstd: see above */

	rvx_object_writer_set_workers(w, 2);
	assert_int_equal(rvx_object_writer_begin(w, 7312345678901234567ULL, buf_sink, &payload), 0);
	assert_int_equal(rvx_object_writer_workers(w), expect);
	finish_object(w, &payload, content, len, &obj);
	assert_true(obj.len < len / 2);
	assert_int_equal(read_object(&obj, 1024 * 1024, &out, why, sizeof(why)), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, content, len);
	free(out.data);
	out.data = NULL;
	out.len = 0;

	/* the same content without threads: the same content back */
	assert_int_equal(rvx_object_writer_begin(single, 7312345678901234567ULL, buf_sink, &payload), 0);
	assert_int_equal(rvx_object_writer_workers(single), 0);
	finish_object(single, &payload, content, len, &obj1);
	assert_int_equal(read_object(&obj1, 65536, &out, why, sizeof(why)), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, content, len);
	free(out.data);
	out.data = NULL;
	out.len = 0;
	free(obj1.data);
	obj1.data = NULL;

	/* the next object on the threaded writer: still threaded, still right */
	free(obj.data);
	obj.data = NULL;
	assert_int_equal(rvx_object_writer_begin(w, 7312345678901234567ULL, buf_sink, &payload), 0);
	assert_int_equal(rvx_object_writer_workers(w), expect);
	finish_object(w, &payload, content + 12345, 100000, &obj);
	assert_int_equal(read_object(&obj, 4096, &out, why, sizeof(why)), 0);
	assert_int_equal(out.len, 100000);
	assert_memory_equal(out.data, content + 12345, 100000);
	free(out.data);
	free(obj.data);

	/* only zstd has threads */
	rvx_object_writer_set_workers(lz4, 2);
	assert_int_equal(rvx_object_writer_begin(lz4, 7312345678901234567ULL, buf_sink, &payload), 0);
	assert_int_equal(rvx_object_writer_workers(lz4), 0);
	finish_object(lz4, &payload, content, 100000, &obj1);
	free(obj1.data);

	rvx_object_writer_free(w);
	rvx_object_writer_free(single);
	rvx_object_writer_free(lz4);
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
test_roundtrip_lz4(void **state)
{
	roundtrip(RVX_COMPRESS_LZ4);
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

/*
 * An object whose header is sound but names another content digest: the
 * reader refuses it, unless told that the caller checks the content itself
 * (a chain restore, against the rebuilt file's record); the next object
 * read with the same reader is checked again.
 */
static void
test_skip_digest(void **state)
{
	size_t		len = 300 * 1024;
	uint8_t    *content = make_content(len, 5);
	Buf			obj = {NULL, 0};
	RvxObjectHeader hdr;
	const char *whyh;
	RvxObjectReader *r = rvx_object_reader_new();

	write_object(RVX_COMPRESS_ZSTD, content, len, &obj);
	assert_int_equal(rvx_object_header_decode(obj.data, &hdr, &whyh), 0);
	hdr.sha256[0] ^= 0x01;
	rvx_object_header_encode(&hdr, obj.data);

	for (int round = 0; round < 3; round++)
	{
		Buf			out = {NULL, 0};
		bool		skip = round == 1;
		int			rc;

		rvx_object_reader_begin(r, buf_sink, &out);
		if (skip)
			rvx_object_reader_skip_digest(r);
		rc = rvx_object_reader_feed(r, obj.data, obj.len);
		if (rc == 0)
			rc = rvx_object_reader_finish(r);
		if (skip)
		{
			assert_int_equal(rc, 0);
			assert_int_equal(out.len, len);
			assert_memory_equal(out.data, content, len);
		}
		else
		{
			assert_int_equal(rc, -1);
			assert_non_null(strstr(rvx_object_reader_error(r), "SHA-256 of the content"));
		}
		free(out.data);
	}
	/* the stored bytes are still checked when the digest is skipped */
	{
		Buf			out = {NULL, 0};

		obj.data[obj.len / 2] ^= 0x40;
		rvx_object_reader_begin(r, buf_sink, &out);
		rvx_object_reader_skip_digest(r);
		assert_int_equal(rvx_object_reader_feed(r, obj.data, obj.len) == 0 &&
						 rvx_object_reader_finish(r) == 0, 0);
		free(out.data);
	}
	rvx_object_reader_free(r);
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
test_damage_lz4(void **state)
{
	expect_damage_detected(RVX_COMPRESS_LZ4);
}

static void
test_damage_none(void **state)
{
	expect_damage_detected(RVX_COMPRESS_NONE);
}

/*
 * Drives a codec the way the object writer and reader do, but with input
 * in the given piece sizes (cycled) and out_cap bytes of output room per
 * call: while a piece is not consumed or the output came back full, call
 * again; then finish until RVX_CODEC_END.  Returns the last status (END,
 * or ERROR with the codec's reason in why).
 */
static RvxCodecStatus
codec_drive(RvxCodec *codec, const uint8_t *in, size_t len, const size_t *pieces,
			size_t npieces, size_t out_cap, Buf *out, char *why, size_t whylen)
{
	uint8_t    *room = malloc(out_cap);
	RvxCodecStatus st = RVX_CODEC_MORE;
	size_t		off = 0;
	size_t		stalls = 0;

	for (size_t i = 0; off < len; i++)
	{
		size_t		n = pieces[i % npieces];
		const uint8_t *p = in + off;

		if (n > len - off)
			n = len - off;
		off += n;
		for (;;)
		{
			size_t		used,
						produced;

			st = rvx_codec_run(codec, p, n, &used, room, out_cap, &produced, false);
			if (st == RVX_CODEC_ERROR)
				goto done;
			buf_sink(out, room, produced);
			p += used;
			n -= used;
			stalls = (used == 0 && produced == 0) ? stalls + 1 : 0;
			assert_true(stalls < 2);	/* no progress twice: a hang */
			if (st == RVX_CODEC_END || (n == 0 && produced < out_cap))
				break;
		}
		if (st == RVX_CODEC_END)
			break;
	}
	while (st != RVX_CODEC_END && off == len)
	{
		size_t		used,
					produced;

		st = rvx_codec_run(codec, NULL, 0, &used, room, out_cap, &produced, true);
		if (st == RVX_CODEC_ERROR)
			goto done;
		buf_sink(out, room, produced);
		stalls = (produced == 0 && st != RVX_CODEC_END) ? stalls + 1 : 0;
		assert_true(stalls < 2);
	}
	if (st != RVX_CODEC_END)
		snprintf(why, whylen, "stream ended early");
done:
	if (st == RVX_CODEC_ERROR)
		snprintf(why, whylen, "%s", rvx_codec_error(codec));
	free(room);
	return st;
}

static const size_t whole[] = {SIZE_MAX};

/* lz4 payload in pieces and output room as given; returns the frame. */
static void
lz4_compress(const uint8_t *in, size_t len, int level, const size_t *pieces, size_t npieces,
			 size_t out_cap, Buf *frame)
{
	RvxCodec   *c = rvx_codec_new(RVX_COMPRESS_LZ4, true, level);
	char		why[256];

	assert_non_null(c);
	memset(frame, 0, sizeof(*frame));
	assert_int_equal(codec_drive(c, in, len, pieces, npieces, out_cap, frame, why, sizeof(why)),
					 RVX_CODEC_END);
	rvx_codec_free(c);
}

static RvxCodecStatus
lz4_decompress(const Buf *frame, const size_t *pieces, size_t npieces, size_t out_cap,
			   Buf *out, char *why, size_t whylen)
{
	RvxCodec   *d = rvx_codec_new(RVX_COMPRESS_LZ4, false, 0);
	RvxCodecStatus st;

	assert_non_null(d);
	memset(out, 0, sizeof(*out));
	st = codec_drive(d, frame->data, frame->len, pieces, npieces, out_cap, out, why, whylen);
	rvx_codec_free(d);
	return st;
}

/* An LZ4 frame (lz4frame.h), what `lz4 -d` reads: magic 0x184D2204, LE. */
static void
assert_lz4_frame(const uint8_t *p, size_t len)
{
	static const uint8_t magic[] = {0x04, 0x22, 0x4D, 0x18};

	assert_true(len >= 4 + 3 + 4);	/* magic, descriptor, end mark */
	assert_memory_equal(p, magic, sizeof(magic));
	/* FLG: version 01, blocks linked, no content checksum */
	assert_int_equal(p[4] & 0xC0, 0x40);
	assert_int_equal(p[4] & 0x20, 0x00);
	assert_int_equal(p[4] & 0x04, 0x00);
	/* the end mark: a zero block size */
	assert_int_equal(p[len - 4] | p[len - 3] | p[len - 2] | p[len - 1], 0);
}

static void
test_lz4_names_levels(void **state)
{
	char		key[128];

	assert_int_equal(RVX_COMPRESS_LZ4, 3);	/* stored in object headers */
	assert_string_equal(rvx_compression_name(RVX_COMPRESS_LZ4), "lz4");
	assert_int_equal(rvx_compression_from_name("lz4"), RVX_COMPRESS_LZ4);
	assert_string_equal(rvx_compression_suffix(RVX_COMPRESS_LZ4), ".lz4");
	assert_int_equal(rvx_compression_default_level(RVX_COMPRESS_LZ4), 1);
	assert_false(rvx_compression_level_valid(RVX_COMPRESS_LZ4, 0));
	assert_true(rvx_compression_level_valid(RVX_COMPRESS_LZ4, 1));
	assert_true(rvx_compression_level_valid(RVX_COMPRESS_LZ4, 12));
	assert_false(rvx_compression_level_valid(RVX_COMPRESS_LZ4, 13));
	assert_int_equal(rvx_wal_object_key("000000010000000000000002", RVX_COMPRESS_LZ4,
										key, sizeof(key)), 0);
	assert_string_equal(key, "wal/00000001/000000010000000000000002.lz4");
}

/* Empty and small content, at the fast and the HC levels. */
static void
test_lz4_small(void **state)
{
	static const char *const texts[] = {"", "x", "hello, hello, hello, hello, world"};
	int			levels[] = {1, 3, 9, 12};

	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
		for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++)
		{
			size_t		len = strlen(texts[t]);
			Buf			frame,
						out;
			char		why[256];

			lz4_compress((const uint8_t *) texts[t], len, levels[l], whole, 1, 65536, &frame);
			assert_lz4_frame(frame.data, frame.len);
			assert_int_equal(lz4_decompress(&frame, whole, 1, 65536, &out, why, sizeof(why)),
							 RVX_CODEC_END);
			assert_int_equal(out.len, len);
			if (len > 0)
				assert_memory_equal(out.data, texts[t], len);
			free(frame.data);
			free(out.data);
		}
}

/*
 * A 16 MB segment's worth, fed in odd pieces with 1 and 7 bytes of output
 * room per call: the frame compresses a whole block (1 MB) before it
 * writes, so nearly everything goes through the codec's own buffer.  The
 * frame must not depend on how it was fed.
 */
static void
test_lz4_tiny_buffers(void **state)
{
	size_t		len = 16 * 1024 * 1024;
	uint8_t    *content = make_content(len, 4);
	static const size_t odd[] = {1, 4093, 7, 65537, 1, 1048579, 333331};
	static const size_t tiny[] = {1, 7};
	Buf			ref,
				out;
	char		why[256];

	lz4_compress(content, len, 1, whole, 1, 256 * 1024, &ref);
	assert_lz4_frame(ref.data, ref.len);
	assert_true(ref.len < len);

	for (size_t i = 0; i < sizeof(tiny) / sizeof(tiny[0]); i++)
	{
		Buf			frame;

		lz4_compress(content, len, 1, odd, sizeof(odd) / sizeof(odd[0]), tiny[i], &frame);
		assert_int_equal(frame.len, ref.len);
		assert_memory_equal(frame.data, ref.data, ref.len);
		free(frame.data);

		assert_int_equal(lz4_decompress(&ref, odd, sizeof(odd) / sizeof(odd[0]), tiny[i], &out,
										why, sizeof(why)), RVX_CODEC_END);
		assert_int_equal(out.len, len);
		assert_memory_equal(out.data, content, len);
		free(out.data);
	}
	free(ref.data);
	free(content);
}

/* Truncated, damaged or followed by more: refused by the codec itself. */
static void
test_lz4_refused(void **state)
{
	size_t		len = 1024 * 1024 + 100;
	uint8_t    *content = make_content(len, 5);
	Buf			frame,
				out;
	char		why[256];

	lz4_compress(content, len, 1, whole, 1, 65536, &frame);

	/* cut anywhere, even inside the frame header or the end mark */
	{
		size_t		cuts[] = {0, 1, 6, 7, 11, frame.len / 2, frame.len - 4, frame.len - 1};

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		{
			Buf			cut = {frame.data, cuts[i]};
			static const size_t pieces[] = {4096};

			assert_int_equal(lz4_decompress(&cut, pieces, 1, 65536, &out, why, sizeof(why)),
							 RVX_CODEC_ERROR);
			assert_non_null(strstr(why, "truncated"));
			free(out.data);
		}
	}

	/*
	 * Damage LZ4F notices: the magic, the descriptor's checksum, a block
	 * size beyond the frame's maximum.  (A changed literal decodes to
	 * other content: the object's CRC-32 and SHA-256 catch that, see
	 * test_damage_lz4.)
	 */
	{
		size_t		spots[] = {0, 3, 6, 9};

		for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++)
		{
			frame.data[spots[i]] ^= 0x40;
			assert_int_equal(lz4_decompress(&frame, whole, 1, 65536, &out, why, sizeof(why)),
							 RVX_CODEC_ERROR);
			assert_null(strstr(why, "truncated"));
			frame.data[spots[i]] ^= 0x40;
			free(out.data);
		}
	}

	/* a second frame, or anything, after the end mark */
	{
		Buf			twice = {malloc(2 * frame.len), 2 * frame.len};

		memcpy(twice.data, frame.data, frame.len);
		memcpy(twice.data + frame.len, frame.data, frame.len);
		assert_int_equal(lz4_decompress(&twice, whole, 1, 65536, &out, why, sizeof(why)),
						 RVX_CODEC_ERROR);
		assert_non_null(strstr(why, "trailing data"));
		free(out.data);
		free(twice.data);
	}

	/* and the untouched frame still decodes */
	assert_int_equal(lz4_decompress(&frame, whole, 1, 65536, &out, why, sizeof(why)),
					 RVX_CODEC_END);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, content, len);
	free(out.data);
	free(frame.data);
	free(content);
}

/*
 * One codec, many objects (the archiver keeps its writer): a reset after a
 * stream abandoned half way, or after an error, starts a clean frame.
 */
static void
test_lz4_reset(void **state)
{
	size_t		len = 3 * 1024 * 1024;
	uint8_t    *content = make_content(len, 6);
	RvxCodec   *c = rvx_codec_new(RVX_COMPRESS_LZ4, true, 1);
	RvxCodec   *d = rvx_codec_new(RVX_COMPRESS_LZ4, false, 0);
	Buf			ref,
				frame = {NULL, 0},
				out = {NULL, 0};
	uint8_t		room[4096];
	size_t		used,
				produced;
	char		why[256];

	assert_non_null(c);
	assert_non_null(d);
	lz4_compress(content, len, 1, whole, 1, 65536, &ref);

	/* abandon a stream with input taken and output still held back */
	assert_int_equal(rvx_codec_run(c, content, len, &used, room, 10, &produced, false),
					 RVX_CODEC_MORE);
	assert_int_equal(rvx_codec_reset(c), 0);
	assert_int_equal(codec_drive(c, content, len, whole, 1, 65536, &frame, why, sizeof(why)),
					 RVX_CODEC_END);
	assert_int_equal(frame.len, ref.len);
	assert_memory_equal(frame.data, ref.data, ref.len);

	/* a decoder that failed decodes the next stream */
	assert_int_equal(rvx_codec_run(d, "garbage!", 8, &used, room, sizeof(room), &produced, false),
					 RVX_CODEC_ERROR);
	assert_int_equal(rvx_codec_reset(d), 0);
	assert_int_equal(codec_drive(d, ref.data, ref.len / 2, whole, 1, 65536, &out, why,
								 sizeof(why)), RVX_CODEC_ERROR);
	free(out.data);
	memset(&out, 0, sizeof(out));
	assert_int_equal(rvx_codec_reset(d), 0);
	assert_int_equal(codec_drive(d, ref.data, ref.len, whole, 1, 65536, &out, why, sizeof(why)),
					 RVX_CODEC_END);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, content, len);

	rvx_codec_free(c);
	rvx_codec_free(d);
	free(ref.data);
	free(frame.data);
	free(out.data);
	free(content);
}

/* The payload of an lz4 object is one plain frame, readable by `lz4 -d`. */
static void
test_lz4_object_payload(void **state)
{
	size_t		len = 2 * 1024 * 1024 + 3;
	uint8_t    *content = make_content(len, 7);
	Buf			obj = {NULL, 0},
				frame,
				out;
	RvxObjectHeader hdr;
	const char *why;
	char		msg[256];

	write_object(RVX_COMPRESS_LZ4, content, len, &obj);
	assert_int_equal(rvx_object_header_decode(obj.data, &hdr, &why), 0);
	assert_int_equal(hdr.compression, RVX_COMPRESS_LZ4);
	assert_lz4_frame(obj.data + RVX_OBJECT_HEADER_LEN, obj.len - RVX_OBJECT_HEADER_LEN);

	/* the same bytes as the codec makes when fed in one go */
	lz4_compress(content, len, rvx_compression_default_level(RVX_COMPRESS_LZ4), whole, 1,
				 65536, &frame);
	assert_int_equal(frame.len, obj.len - RVX_OBJECT_HEADER_LEN);
	assert_memory_equal(frame.data, obj.data + RVX_OBJECT_HEADER_LEN, frame.len);

	memset(&out, 0, sizeof(out));
	assert_int_equal(read_object(&obj, 7, &out, msg, sizeof(msg)), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, content, len);
	free(out.data);
	free(frame.data);
	free(obj.data);
	free(content);
}

/*
 * The payload of a zstd object is one zstd frame without a content
 * checksum (the header's SHA-256 and CRC-32 cover it), and an object
 * written before, whose frame has one, is read all the same.
 */
static void
test_zstd_object_payload(void **state)
{
	static const uint8_t magic[] = {0x28, 0xB5, 0x2F, 0xFD};
	size_t		len = 2 * 1024 * 1024 + 3;
	uint8_t    *content = make_content(len, 11);
	Buf			obj = {NULL, 0},
				old,
				out;
	RvxObjectHeader hdr;
	const char *why;
	char		msg[256];
	ZSTD_CCtx  *zc = ZSTD_createCCtx();
	size_t		cap = ZSTD_compressBound(len);
	uint8_t    *frame = malloc(cap);
	size_t		flen;

	write_object(RVX_COMPRESS_ZSTD, content, len, &obj);
	assert_int_equal(rvx_object_header_decode(obj.data, &hdr, &why), 0);
	assert_int_equal(hdr.compression, RVX_COMPRESS_ZSTD);
	assert_memory_equal(obj.data + RVX_OBJECT_HEADER_LEN, magic, sizeof(magic));
	/* Frame_Header_Descriptor: Content_Checksum_flag (bit 2) clear */
	assert_int_equal(obj.data[RVX_OBJECT_HEADER_LEN + 4] & 0x04, 0);

	/* the same content as an object of before: a frame with the checksum */
	assert_non_null(zc);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, 3)));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_checksumFlag, 1)));
	flen = ZSTD_compress2(zc, frame, cap, content, len);
	assert_false(ZSTD_isError(flen));
	assert_int_equal(frame[4] & 0x04, 0x04);
	hdr.payload_size = flen;
	hdr.payload_crc = (uint32_t) crc32(crc32(0L, Z_NULL, 0), frame, (uInt) flen);
	old.len = RVX_OBJECT_HEADER_LEN + flen;
	old.data = malloc(old.len);
	rvx_object_header_encode(&hdr, old.data);
	memcpy(old.data + RVX_OBJECT_HEADER_LEN, frame, flen);

	memset(&out, 0, sizeof(out));
	assert_int_equal(read_object(&old, 4096, &out, msg, sizeof(msg)), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, content, len);
	free(out.data);

	/* and damage to it is still caught (the frame's own checksum or the SHA-256) */
	old.data[old.len - 5] ^= 0x01;
	hdr.payload_crc = (uint32_t) crc32(crc32(0L, Z_NULL, 0), old.data + RVX_OBJECT_HEADER_LEN,
									   (uInt) flen);
	rvx_object_header_encode(&hdr, old.data);
	memset(&out, 0, sizeof(out));
	assert_int_equal(read_object(&old, 4096, &out, msg, sizeof(msg)), -1);
	free(out.data);

	ZSTD_freeCCtx(zc);
	free(frame);
	free(old.data);
	free(obj.data);
	free(content);
}

static long
buf_read_at(void *arg, void *dst, size_t len, uint64_t offset)
{
	const Buf  *b = arg;

	if (offset >= b->len)
		return 0;
	if (len > b->len - offset)
		len = b->len - offset;
	memcpy(dst, b->data + offset, len);
	return (long) len;
}

static void
make_key(uint8_t seed, RvxKey *key)
{
	uint8_t		master[RVX_KEY_LEN];

	memset(master, seed, sizeof(master));
	assert_int_equal(rvx_key_derive(master, key), 0);
}

/* plain -> encrypted object, header written over the sink's placeholder */
static void
encrypt_object(const RvxKey *key, const Buf *plain, Buf *out)
{
	RvxObjectHeader ph, eh;
	const char *why = NULL;

	assert_int_equal(rvx_object_header_decode(plain->data, &ph, &why), 0);
	memset(out, 0, sizeof(*out));
	assert_int_equal(rvx_object_encrypt(key, &ph, buf_read_at, (void *) plain, buf_sink, out,
										&eh, &why), 0);
	assert_int_equal(out->len, RVX_OBJECT_HEADER_LEN + ph.payload_size + RVX_GCM_OVERHEAD);
	assert_int_equal(eh.payload_size, ph.payload_size + RVX_GCM_OVERHEAD);
	rvx_object_header_encode(&eh, out->data);
}

/*
 * Encryption: the round trip gives the content back for every chunk size;
 * the stored bytes do not contain it; the header does not reveal its
 * digest; no key, a wrong key, any flipped byte (header, nonce,
 * ciphertext, tag; CRCs recomputed so that only the cipher can notice)
 * are refused.
 */
static void
test_encryption(void **state)
{
	size_t		len = 300 * 1024 + 5;
	uint8_t    *content = make_content(len, 3);
	Buf			plain = {NULL, 0},
				enc = {NULL, 0},
				enc2 = {NULL, 0};
	RvxKey		key,
				other;
	RvxObjectHeader ph, eh;
	const char *why;
	char		msg[256];
	size_t		chunks[] = {1, 7, 65536, 1 << 20};

	make_key(0x42, &key);
	make_key(0x43, &other);
	write_object(RVX_COMPRESS_NONE, content, len, &plain);
	encrypt_object(&key, &plain, &enc);
	assert_int_equal(rvx_object_header_decode(plain.data, &ph, &why), 0);
	assert_int_equal(rvx_object_header_decode(enc.data, &eh, &why), 0);
	assert_int_equal(eh.encryption, RVX_ENCRYPT_AES256GCM);
	assert_memory_not_equal(eh.sha256, ph.sha256, RVX_SHA256_LEN);
	assert_true(rvx_object_digest_matches(&eh, &key, ph.sha256));
	assert_false(rvx_object_digest_matches(&eh, &other, ph.sha256));
	assert_false(rvx_object_digest_matches(&eh, NULL, ph.sha256));
	/* no 64-byte run of the (uncompressed) content survives */
	for (size_t off = 0; off + 64 <= len; off += 4096)
		assert_null(memmem(enc.data, enc.len, content + off, 64));
	/* a fresh nonce every time */
	encrypt_object(&key, &plain, &enc2);
	assert_memory_not_equal(enc.data + RVX_OBJECT_HEADER_LEN, enc2.data + RVX_OBJECT_HEADER_LEN,
							RVX_GCM_NONCE_LEN);

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
	{
		Buf			out = {NULL, 0};

		if (chunks[i] == 1 && i > 0)
			continue;
		assert_int_equal(read_object_key(&enc, chunks[i], &key, &out, msg, sizeof(msg)), 0);
		assert_int_equal(out.len, len);
		assert_memory_equal(out.data, content, len);
		free(out.data);
	}

	{
		Buf			out = {NULL, 0};

		assert_int_equal(read_object_key(&enc, 4096, NULL, &out, msg, sizeof(msg)), -1);
		assert_non_null(strstr(msg, "REVRX_ENCRYPTION_KEY_FILE"));
		free(out.data);
		out.data = NULL;
		out.len = 0;
		assert_int_equal(read_object_key(&enc, 4096, &other, &out, msg, sizeof(msg)), -1);
		assert_non_null(strstr(msg, "key"));
		free(out.data);
	}

	/* flip one byte anywhere; recompute the CRCs so that only GCM can tell */
	{
		size_t		spots[] = {20, 40, RVX_OBJECT_HEADER_LEN + 3, RVX_OBJECT_HEADER_LEN + 100,
		enc.len / 2, enc.len - 5};

		for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++)
		{
			Buf			bad = {malloc(enc.len), enc.len};
			Buf			out = {NULL, 0};
			RvxObjectHeader bh;

			memcpy(bad.data, enc.data, enc.len);
			bad.data[spots[i]] ^= 0x01;
			memcpy(&bh, &eh, sizeof(bh));
			if (spots[i] < 64 && rvx_object_header_decode(bad.data, &bh, &why) != 0)
			{
				/* make the header valid again except for the change */
				uint8_t		hb[RVX_OBJECT_HEADER_LEN];

				memcpy(hb, bad.data, sizeof(hb));
				bh = eh;
				if (spots[i] == 20)
					bh.raw_size ^= ((uint64_t) 1) << 24;
				else
					bh.sha256[8] ^= 0x01;
				rvx_object_header_encode(&bh, bad.data);
			}
			bh.payload_crc = (uint32_t) crc32(crc32(0L, Z_NULL, 0), bad.data + RVX_OBJECT_HEADER_LEN,
											  (uInt) (bad.len - RVX_OBJECT_HEADER_LEN));
			if (spots[i] >= 64)
			{
				assert_int_equal(rvx_object_header_decode(bad.data, &bh, &why), 0);
				bh.payload_crc = (uint32_t) crc32(crc32(0L, Z_NULL, 0), bad.data + RVX_OBJECT_HEADER_LEN,
												  (uInt) (bad.len - RVX_OBJECT_HEADER_LEN));
			}
			rvx_object_header_encode(&bh, bad.data);
			assert_int_equal(read_object_key(&bad, 65536, &key, &out, msg, sizeof(msg)), -1);
			free(out.data);
			free(bad.data);
		}
	}

	free(plain.data);
	free(enc.data);
	free(enc2.data);
	free(content);
}

static void
test_key_parse(void **state)
{
	uint8_t		m[RVX_KEY_LEN];
	uint8_t		expect[RVX_KEY_LEN];
	const char *why;
	const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	const char *b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

	for (int i = 0; i < RVX_KEY_LEN; i++)
		expect[i] = (uint8_t) i;
	assert_int_equal(rvx_key_parse((const uint8_t *) hex, strlen(hex), m, &why), 0);
	assert_memory_equal(m, expect, RVX_KEY_LEN);
	assert_int_equal(rvx_key_parse((const uint8_t *) b64, strlen(b64), m, &why), 0);
	assert_memory_equal(m, expect, RVX_KEY_LEN);
	assert_int_equal(rvx_key_parse(expect, RVX_KEY_LEN, m, &why), 0);
	assert_memory_equal(m, expect, RVX_KEY_LEN);
	assert_int_equal(rvx_key_parse((const uint8_t *) "short", 5, m, &why), -1);
	assert_int_equal(rvx_key_parse((const uint8_t *) hex, 63, m, &why), -1);
	assert_int_equal(rvx_key_parse((const uint8_t *) "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 64, m, &why), -1);
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
test_walname_segno(void **state)
{
	const uint64_t mb = 1024 * 1024;
	char		name[RVX_WALNAME_SEGLEN + 1];
	uint32_t	tli;
	uint64_t	segno;

	(void) state;
	assert_true(rvx_walname_segno("0000000A00000001000000FF", 16 * mb, &tli, &segno));
	assert_int_equal(tli, 10);
	assert_int_equal(segno, 256 + 255);
	rvx_walname_segment(tli, segno + 1, 16 * mb, name);
	assert_string_equal(name, "0000000A0000000200000000");
	/* 1 GB segments: four to the middle field */
	assert_true(rvx_walname_segno("000000010000000300000002.partial", 1024 * mb, &tli, &segno));
	assert_int_equal(segno, 3 * 4 + 2);
	rvx_walname_segment(1, 15, 1024 * mb, name);
	assert_string_equal(name, "000000010000000300000003");
	assert_false(rvx_walname_segno("00000001000000000000000", 16 * mb, &tli, &segno));
	assert_false(rvx_walname_segno("0000000100000000000000a1", 16 * mb, &tli, &segno));
	assert_false(rvx_walname_segno("000000010000000000000001", 0, &tli, &segno));
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
		cmocka_unit_test(test_zstd_threads),
		cmocka_unit_test(test_roundtrip_gzip),
		cmocka_unit_test(test_roundtrip_lz4),
		cmocka_unit_test(test_roundtrip_none),
		cmocka_unit_test(test_empty_content),
		cmocka_unit_test(test_skip_digest),
		cmocka_unit_test(test_damage_zstd),
		cmocka_unit_test(test_damage_gzip),
		cmocka_unit_test(test_damage_lz4),
		cmocka_unit_test(test_damage_none),
		cmocka_unit_test(test_lz4_names_levels),
		cmocka_unit_test(test_lz4_small),
		cmocka_unit_test(test_lz4_tiny_buffers),
		cmocka_unit_test(test_lz4_refused),
		cmocka_unit_test(test_lz4_reset),
		cmocka_unit_test(test_lz4_object_payload),
		cmocka_unit_test(test_zstd_object_payload),
		cmocka_unit_test(test_encryption),
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_walname),
		cmocka_unit_test(test_walname_segno),
		cmocka_unit_test(test_spool_notes),
		cmocka_unit_test(test_sha256_vectors),
	};

	return cmocka_run_group_tests_name("object", tests, NULL, NULL);
}
