/*-------------------------------------------------------------------------
 *
 * object.c
 *	  Writing and reading revrx objects (see object.h for the format).
 *
 *-------------------------------------------------------------------------
 */
#include "rvx_port.h"

#include <stdio.h>
#include <zlib.h>

#include "object.h"

#define RVX_CODEC_CHUNK (256 * 1024)

static void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) (v >> 8);
	p[1] = (uint8_t) v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t) v;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t) v;
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t	v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

void
rvx_object_header_encode(const RvxObjectHeader *hdr, uint8_t out[RVX_OBJECT_HEADER_LEN])
{
	memset(out, 0, RVX_OBJECT_HEADER_LEN);
	memcpy(out, RVX_OBJECT_MAGIC, 4);
	put_be16(out + 4, hdr->version);
	out[6] = hdr->compression;
	out[7] = hdr->encryption;
	put_be64(out + 8, hdr->system_id);
	put_be64(out + 16, hdr->raw_size);
	put_be64(out + 24, hdr->payload_size);
	memcpy(out + 32, hdr->sha256, RVX_SHA256_LEN);
	put_be32(out + 64, hdr->payload_crc);
	put_be32(out + 68, (uint32_t) crc32(0L, out, 68));
}

int
rvx_object_header_decode(const uint8_t in[RVX_OBJECT_HEADER_LEN], RvxObjectHeader *hdr,
						 const char **why)
{
	if (memcmp(in, RVX_OBJECT_MAGIC, 4) != 0)
	{
		*why = "not a revrx object (bad magic)";
		return -1;
	}
	if ((uint32_t) get_be(in + 68, 4) != (uint32_t) crc32(0L, in, 68))
	{
		*why = "object header checksum mismatch";
		return -1;
	}
	hdr->version = (uint16_t) get_be(in + 4, 2);
	if (hdr->version != RVX_OBJECT_VERSION)
	{
		*why = "unsupported object format version";
		return -1;
	}
	hdr->compression = in[6];
	hdr->encryption = in[7];
	if (hdr->compression > RVX_COMPRESS_MAX)
	{
		*why = "unknown compression in object header";
		return -1;
	}
	if (hdr->encryption != 0)
	{
		*why = "object is encrypted, and this build does not support encryption";
		return -1;
	}
	hdr->system_id = get_be(in + 8, 8);
	hdr->raw_size = get_be(in + 16, 8);
	hdr->payload_size = get_be(in + 24, 8);
	memcpy(hdr->sha256, in + 32, RVX_SHA256_LEN);
	hdr->payload_crc = (uint32_t) get_be(in + 64, 4);
	return 0;
}

/* ---------------------------------------------------------------- writer */

struct RvxObjectWriter
{
	RvxCompression alg;
	RvxCodec   *codec;
	RvxSha256  *sha;
	uint8_t    *buf;
	RvxSinkFn	sink;
	void	   *arg;
	uint64_t	system_id;
	uint64_t	raw_size;
	uint64_t	payload_size;
	uLong		payload_crc;
	const char *error;
};

RvxObjectWriter *
rvx_object_writer_new(RvxCompression alg, int level)
{
	RvxObjectWriter *w = rvx_malloc(sizeof(RvxObjectWriter));

	if (w == NULL)
		return NULL;
	w->alg = alg;
	w->codec = rvx_codec_new(alg, true, level);
	w->sha = rvx_sha256_new();
	w->buf = rvx_malloc(RVX_CODEC_CHUNK);
	if (w->codec == NULL || w->sha == NULL || w->buf == NULL)
	{
		rvx_object_writer_free(w);
		return NULL;
	}
	w->error = "no error";
	return w;
}

void
rvx_object_writer_set_workers(RvxObjectWriter *w, int workers)
{
	rvx_codec_set_workers(w->codec, workers);
}

int
rvx_object_writer_begin(RvxObjectWriter *w, uint64_t system_id, RvxSinkFn sink, void *arg)
{
	w->sink = sink;
	w->arg = arg;
	w->system_id = system_id;
	w->raw_size = 0;
	w->payload_size = 0;
	w->payload_crc = crc32(0L, Z_NULL, 0);
	w->error = "no error";
	if (rvx_codec_reset(w->codec) != 0 || rvx_sha256_init(w->sha) != 0)
	{
		w->error = "could not reset compression or checksum state";
		return -1;
	}
	return 0;
}

static int
writer_push(RvxObjectWriter *w, const uint8_t *data, size_t len, bool finish)
{
	for (;;)
	{
		size_t		used,
					produced;
		RvxCodecStatus st;

		st = rvx_codec_run(w->codec, data, len, &used, w->buf, RVX_CODEC_CHUNK,
						   &produced, finish);
		if (st == RVX_CODEC_ERROR)
		{
			w->error = rvx_codec_error(w->codec);
			return -1;
		}
		if (produced > 0)
		{
			if (w->sink(w->arg, w->buf, produced) != 0)
			{
				w->error = "could not write object payload";
				return -1;
			}
			w->payload_size += produced;
			w->payload_crc = crc32(w->payload_crc, w->buf, (uInt) produced);
		}
		if (used > 0)			/* data is NULL when finishing: NULL + 0 is undefined */
		{
			data += used;
			len -= used;
		}
		if (st == RVX_CODEC_END)
			return 0;
		if (!finish && len == 0 && produced < RVX_CODEC_CHUNK)
			return 0;
	}
}

int
rvx_object_writer_write(RvxObjectWriter *w, const void *data, size_t len)
{
	if (rvx_sha256_update(w->sha, data, len) != 0)
	{
		w->error = "could not update checksum";
		return -1;
	}
	w->raw_size += len;
	return writer_push(w, data, len, false);
}

int
rvx_object_writer_finish(RvxObjectWriter *w, RvxObjectHeader *hdr)
{
	if (writer_push(w, NULL, 0, true) != 0)
		return -1;
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = RVX_OBJECT_VERSION;
	hdr->compression = (uint8_t) w->alg;
	hdr->encryption = 0;
	hdr->system_id = w->system_id;
	hdr->raw_size = w->raw_size;
	hdr->payload_size = w->payload_size;
	hdr->payload_crc = (uint32_t) w->payload_crc;
	if (rvx_sha256_final(w->sha, hdr->sha256) != 0)
	{
		w->error = "could not finish checksum";
		return -1;
	}
	return 0;
}

const char *
rvx_object_writer_error(const RvxObjectWriter *w)
{
	return w->error;
}

void
rvx_object_writer_free(RvxObjectWriter *w)
{
	if (w == NULL)
		return;
	rvx_codec_free(w->codec);
	rvx_sha256_free(w->sha);
	if (w->buf)
		rvx_free(w->buf);
	rvx_free(w);
}

/* ---------------------------------------------------------------- reader */

struct RvxObjectReader
{
	RvxObjectHeader hdr;
	uint8_t		hdrbuf[RVX_OBJECT_HEADER_LEN];
	size_t		hdrlen;
	bool		have_header;
	bool		ended;
	RvxCodec   *codec;
	RvxCompression codec_alg;
	RvxSha256  *sha;
	uint8_t    *buf;
	RvxSinkFn	sink;
	void	   *arg;
	uint64_t	payload_seen;
	uLong		payload_crc;
	uint64_t	raw_seen;
	char		error[256];
};

static int
reader_fail(RvxObjectReader *r, const char *msg)
{
	snprintf(r->error, sizeof(r->error), "%s", msg);
	return -1;
}

RvxObjectReader *
rvx_object_reader_new(void)
{
	RvxObjectReader *r = rvx_malloc(sizeof(RvxObjectReader));

	if (r == NULL)
		return NULL;
	r->sha = rvx_sha256_new();
	r->buf = rvx_malloc(RVX_CODEC_CHUNK);
	if (r->sha == NULL || r->buf == NULL)
	{
		rvx_object_reader_free(r);
		return NULL;
	}
	return r;
}

int
rvx_object_reader_begin(RvxObjectReader *r, RvxSinkFn sink, void *arg)
{
	r->sink = sink;
	r->arg = arg;
	r->hdrlen = 0;
	r->have_header = false;
	r->ended = false;
	r->payload_seen = 0;
	r->payload_crc = crc32(0L, Z_NULL, 0);
	r->raw_seen = 0;
	r->error[0] = '\0';
	if (rvx_sha256_init(r->sha) != 0)
		return reader_fail(r, "could not reset checksum state");
	return 0;
}

static int
reader_start_payload(RvxObjectReader *r)
{
	const char *why;

	if (rvx_object_header_decode(r->hdrbuf, &r->hdr, &why) != 0)
		return reader_fail(r, why);
	if (r->codec == NULL || r->codec_alg != r->hdr.compression)
	{
		rvx_codec_free(r->codec);
		r->codec = rvx_codec_new((RvxCompression) r->hdr.compression, false, 0);
		r->codec_alg = (RvxCompression) r->hdr.compression;
		if (r->codec == NULL)
			return reader_fail(r, "out of memory");
	}
	else if (rvx_codec_reset(r->codec) != 0)
		return reader_fail(r, "could not reset decompression state");
	r->have_header = true;
	return 0;
}

static int
reader_push(RvxObjectReader *r, const uint8_t *data, size_t len, bool finish)
{
	for (;;)
	{
		size_t		used,
					produced;
		RvxCodecStatus st;

		if (r->ended)
		{
			if (len > 0)
				return reader_fail(r, "data after the end of the compressed stream");
			return 0;
		}
		st = rvx_codec_run(r->codec, data, len, &used, r->buf, RVX_CODEC_CHUNK,
						   &produced, finish);
		if (st == RVX_CODEC_ERROR)
		{
			char		msg[200];

			snprintf(msg, sizeof(msg), "payload does not decompress: %s",
					 rvx_codec_error(r->codec));
			return reader_fail(r, msg);
		}
		if (produced > 0)
		{
			r->raw_seen += produced;
			if (r->raw_seen > r->hdr.raw_size)
				return reader_fail(r, "content is longer than its header says");
			if (rvx_sha256_update(r->sha, r->buf, produced) != 0)
				return reader_fail(r, "could not update checksum");
			if (r->sink(r->arg, r->buf, produced) != 0)
				return reader_fail(r, "could not write content");
		}
		if (used > 0)			/* data is NULL when finishing: NULL + 0 is undefined */
		{
			data += used;
			len -= used;
		}
		if (st == RVX_CODEC_END)
			r->ended = true;
		if (len == 0 && produced < RVX_CODEC_CHUNK && (!finish || r->ended))
			return 0;
	}
}

int
rvx_object_reader_feed(RvxObjectReader *r, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!r->have_header)
	{
		size_t		need = RVX_OBJECT_HEADER_LEN - r->hdrlen;
		size_t		n = len < need ? len : need;

		memcpy(r->hdrbuf + r->hdrlen, p, n);
		r->hdrlen += n;
		p += n;
		len -= n;
		if (r->hdrlen < RVX_OBJECT_HEADER_LEN)
			return 0;
		if (reader_start_payload(r) != 0)
			return -1;
	}
	if (len == 0)
		return 0;
	r->payload_seen += len;
	if (r->payload_seen > r->hdr.payload_size)
		return reader_fail(r, "object is longer than its header says");
	r->payload_crc = crc32(r->payload_crc, p, (uInt) len);
	return reader_push(r, p, len, false);
}

int
rvx_object_reader_finish(RvxObjectReader *r)
{
	uint8_t		digest[RVX_SHA256_LEN];
	char		msg[200];

	if (!r->have_header)
		return reader_fail(r, "object is truncated: incomplete header");
	if (r->payload_seen < r->hdr.payload_size)
	{
		snprintf(msg, sizeof(msg), "object is truncated: %llu of %llu payload bytes",
				 (unsigned long long) r->payload_seen,
				 (unsigned long long) r->hdr.payload_size);
		return reader_fail(r, msg);
	}
	if ((uint32_t) r->payload_crc != r->hdr.payload_crc)
		return reader_fail(r, "stored bytes do not match their CRC-32 (damaged in storage or transit)");
	if (reader_push(r, NULL, 0, true) != 0)
		return -1;
	if (!r->ended)
		return reader_fail(r, "compressed stream is truncated");
	if (r->raw_seen != r->hdr.raw_size)
	{
		snprintf(msg, sizeof(msg), "content is %llu bytes, header says %llu",
				 (unsigned long long) r->raw_seen, (unsigned long long) r->hdr.raw_size);
		return reader_fail(r, msg);
	}
	if (rvx_sha256_final(r->sha, digest) != 0)
		return reader_fail(r, "could not finish checksum");
	if (memcmp(digest, r->hdr.sha256, RVX_SHA256_LEN) != 0)
		return reader_fail(r, "SHA-256 of the content does not match the object header");
	return 0;
}

const RvxObjectHeader *
rvx_object_reader_header(const RvxObjectReader *r)
{
	return r->have_header ? &r->hdr : NULL;
}

const char *
rvx_object_reader_error(const RvxObjectReader *r)
{
	return r->error[0] ? r->error : "no error";
}

void
rvx_object_reader_free(RvxObjectReader *r)
{
	if (r == NULL)
		return;
	rvx_codec_free(r->codec);
	rvx_sha256_free(r->sha);
	if (r->buf)
		rvx_free(r->buf);
	rvx_free(r);
}
