/*-------------------------------------------------------------------------
 *
 * fuzz_object.c
 *	  libFuzzer target: the object format (common/object.c).
 *
 * Objects come back from the repository and from the spool; the reader
 * must refuse anything damaged before it hands on a byte it has not
 * checked, and never crash on the way.  The first input byte picks how
 * the rest is used:
 *	0: the rest is a stored object, fed to the reader in chunks whose sizes
 *	   also come from the input (the header decoder sees it first);
 *	1: byte 1 picks a compression (and, with its top bit, encryption) and
 *	   the rest is a payload behind a header that is made valid (CRCs
 *	   recomputed), so the decompressors, the decryption and the size and
 *	   digest checks get arbitrary data, not only CRC failures;
 *	2: the rest is content: written as an object and read back, it must
 *	   come back identical (the reader accepts exactly what the writer made).
 * The reader always has a key, so encrypted objects (header byte 7) take
 * the decryption path.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "object.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Collects what a reader hands on, up to a bound. */
typedef struct Collected
{
	uint8_t    *buf;
	size_t		len;
	size_t		cap;
	bool		overflow;
} Collected;

static int
collect(void *arg, const void *data, size_t len)
{
	Collected  *c = arg;

	if (c->len + len > c->cap)
	{
		c->overflow = true;
		return -1;
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	return 0;
}

/* A fixed key: fuzzing is about parsing, not about guessing keys. */
static const RvxKey *
fuzz_key(void)
{
	static RvxKey key;
	static bool ready = false;

	if (!ready)
	{
		uint8_t		master[RVX_KEY_LEN];

		memset(master, 0x5a, sizeof(master));
		if (rvx_key_derive(master, &key) != 0)
			abort();
		ready = true;
	}
	return &key;
}

/* Reads a stored object in chunks; returns the reader's verdict. */
static int
read_object(const uint8_t *obj, size_t len, const uint8_t *chunks, size_t nchunks,
			Collected *out)
{
	RvxObjectReader *r = rvx_object_reader_new();
	size_t		off = 0;
	size_t		ci = 0;
	int			rc = -1;

	if (r == NULL || rvx_object_reader_begin(r, collect, out) != 0)
		goto done;
	rvx_object_reader_set_key(r, fuzz_key());
	while (off < len)
	{
		size_t		n = nchunks ? (size_t) chunks[ci++ % nchunks] * 16 + 1 : len;

		if (n > len - off)
			n = len - off;
		if (rvx_object_reader_feed(r, obj + off, n) != 0)
			goto done;
		off += n;
	}
	rc = rvx_object_reader_finish(r);
done:
	rvx_object_reader_free(r);
	return rc;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sinkbuf[1 << 20];
	Collected	out = {sinkbuf, 0, sizeof(sinkbuf), false};

	if (size < 1)
		return 0;
	switch (data[0] % 3)
	{
		case 0:
			{
				/* up to 8 chunk sizes after the mode byte, then the object */
				size_t		nchunks = size > 1 ? data[1] % 9 : 0;

				if (size < 2 + nchunks)
					return 0;
				(void) read_object(data + 2 + nchunks, size - 2 - nchunks, data + 2, nchunks, &out);
				break;
			}
		case 1:
			{
				RvxObjectHeader hdr;
				uint8_t    *obj;
				size_t		plen;

				if (size < 2 + 8)
					return 0;
				memset(&hdr, 0, sizeof(hdr));
				hdr.version = RVX_OBJECT_VERSION;
				hdr.compression = (data[1] & 0x7f) % (RVX_COMPRESS_MAX + 2);	/* one invalid */
				hdr.encryption = (data[1] & 0x80) ? RVX_ENCRYPT_AES256GCM : RVX_ENCRYPT_NONE;
				memcpy(&hdr.raw_size, data + 2, 8);
				hdr.raw_size %= sizeof(sinkbuf) * 2;
				plen = size - 10;
				hdr.payload_size = plen;
				hdr.payload_crc = (uint32_t) crc32(0L, data + 10, (uInt) plen);
				obj = malloc(RVX_OBJECT_HEADER_LEN + plen);
				if (obj == NULL)
					return 0;
				rvx_object_header_encode(&hdr, obj);
				memcpy(obj + RVX_OBJECT_HEADER_LEN, data + 10, plen);
				(void) read_object(obj, RVX_OBJECT_HEADER_LEN + plen, NULL, 0, &out);
				free(obj);
				break;
			}
		case 2:
			{
				RvxCompression alg = (RvxCompression) ((size > 1 ? data[1] : 0) % (RVX_COMPRESS_MAX + 1));
				RvxObjectWriter *w = rvx_object_writer_new(alg, 1);
				static uint8_t stored[RVX_OBJECT_HEADER_LEN + (1 << 20) + 4096];
				Collected	st = {stored + RVX_OBJECT_HEADER_LEN, 0,
				sizeof(stored) - RVX_OBJECT_HEADER_LEN, false};
				RvxObjectHeader hdr;
				const uint8_t *content = data + 2;
				size_t		clen = size >= 2 ? size - 2 : 0;

				if (w == NULL)
					return 0;
				if (rvx_object_writer_begin(w, 7312345678901234567ULL, collect, &st) != 0 ||
					rvx_object_writer_write(w, content, clen) != 0 ||
					rvx_object_writer_finish(w, &hdr) != 0)
				{
					if (st.overflow)
					{
						rvx_object_writer_free(w);
						return 0;	/* incompressible beyond our buffer: not a bug */
					}
					fprintf(stderr, "writer failed: %s\n", rvx_object_writer_error(w));
					abort();
				}
				rvx_object_writer_free(w);
				rvx_object_header_encode(&hdr, stored);
				if (read_object(stored, RVX_OBJECT_HEADER_LEN + st.len, data, size < 4 ? size : 4,
								&out) != 0 ||
					out.len != clen || memcmp(out.buf, content, clen) != 0)
				{
					fprintf(stderr, "object written with compression %d did not read back identical\n",
							(int) alg);
					abort();
				}
				break;
			}
	}
	return 0;
}
