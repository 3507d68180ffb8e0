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
	if (hdr->encryption != RVX_ENCRYPT_NONE && hdr->encryption != RVX_ENCRYPT_AES256GCM)
	{
		*why = "unknown encryption in object header";
		return -1;
	}
	hdr->system_id = get_be(in + 8, 8);
	hdr->raw_size = get_be(in + 16, 8);
	hdr->payload_size = get_be(in + 24, 8);
	memcpy(hdr->sha256, in + 32, RVX_SHA256_LEN);
	hdr->payload_crc = (uint32_t) get_be(in + 64, 4);
	if (hdr->encryption != RVX_ENCRYPT_NONE && hdr->payload_size < RVX_GCM_OVERHEAD)
	{
		*why = "encrypted payload is too short";
		return -1;
	}
	return 0;
}

bool
rvx_object_digest_matches(const RvxObjectHeader *hdr, const RvxKey *key,
						  const uint8_t plain[RVX_SHA256_LEN])
{
	uint8_t		tag[RVX_SHA256_LEN];

	if (hdr->encryption == RVX_ENCRYPT_NONE)
		return memcmp(hdr->sha256, plain, RVX_SHA256_LEN) == 0;
	if (key == NULL || rvx_key_tag_digest(key, plain, tag) != 0)
		return false;
	return memcmp(hdr->sha256, tag, RVX_SHA256_LEN) == 0;
}

int
rvx_object_encrypt(const RvxKey *key, const RvxObjectHeader *plain,
				   RvxReadAtFn readfn, void *rarg, RvxSinkFn sink, void *sarg,
				   RvxObjectHeader *out, const char **why)
{
	uint8_t		aad[RVX_OBJECT_HEADER_LEN];
	uint8_t		nonce[RVX_GCM_NONCE_LEN];
	uint8_t		tag[RVX_GCM_TAG_LEN];
	uint8_t    *in = NULL,
			   *enc = NULL;
	uLong		crc = crc32(0L, Z_NULL, 0);
	uLong		plain_crc = crc32(0L, Z_NULL, 0);
	uint64_t	done = 0;
	RvxGcm	   *gcm = NULL;
	int			rc = -1;

	*why = "out of memory";
	if (plain->encryption != RVX_ENCRYPT_NONE)
	{
		*why = "object is already encrypted";
		return -1;
	}
	*out = *plain;
	out->encryption = RVX_ENCRYPT_AES256GCM;
	out->payload_size = plain->payload_size + RVX_GCM_OVERHEAD;
	out->payload_crc = 0;
	if (rvx_key_tag_digest(key, plain->sha256, out->sha256) != 0)
	{
		*why = "could not compute the content tag";
		return -1;
	}
	rvx_object_header_encode(out, aad);

	in = rvx_malloc(RVX_CODEC_CHUNK);
	enc = rvx_malloc(RVX_CODEC_CHUNK);
	if (in == NULL || enc == NULL)
		goto out;
	gcm = rvx_gcm_new(key, true, nonce, aad, 64);
	if (gcm == NULL)
	{
		*why = "could not start AES-256-GCM";
		goto out;
	}
	memset(aad + 64, 0, RVX_OBJECT_HEADER_LEN - 64);
	memset(in, 0, RVX_OBJECT_HEADER_LEN);
	*why = "could not write the encrypted object";
	if (sink(sarg, in, RVX_OBJECT_HEADER_LEN) != 0 || sink(sarg, nonce, sizeof(nonce)) != 0)
		goto out;
	crc = crc32(crc, nonce, sizeof(nonce));
	while (done < plain->payload_size)
	{
		uint64_t	left = plain->payload_size - done;
		size_t		want = left < RVX_CODEC_CHUNK ? (size_t) left : RVX_CODEC_CHUNK;
		long		n = readfn(rarg, in, want, RVX_OBJECT_HEADER_LEN + done);

		if (n <= 0)
		{
			*why = "could not read the object to encrypt";
			goto out;
		}
		plain_crc = crc32(plain_crc, in, (uInt) n);
		if (rvx_gcm_update(gcm, in, (size_t) n, enc) != 0)
		{
			*why = "AES-256-GCM failed";
			goto out;
		}
		crc = crc32(crc, enc, (uInt) n);
		if (sink(sarg, enc, (size_t) n) != 0)
		{
			*why = "could not write the encrypted object";
			goto out;
		}
		done += (uint64_t) n;
	}
	if ((uint32_t) plain_crc != plain->payload_crc)
	{
		*why = "the object to encrypt does not match its CRC-32 (damaged)";
		goto out;
	}
	if (rvx_gcm_final(gcm, tag) != 0)
	{
		*why = "AES-256-GCM failed";
		goto out;
	}
	crc = crc32(crc, tag, sizeof(tag));
	if (sink(sarg, tag, sizeof(tag)) != 0)
	{
		*why = "could not write the encrypted object";
		goto out;
	}
	out->payload_crc = (uint32_t) crc;
	rc = 0;
out:
	rvx_gcm_free(gcm);
	if (in)
		rvx_free(in);
	if (enc)
		rvx_free(enc);
	return rc;
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
rvx_object_writer_workers(const RvxObjectWriter *w)
{
	return rvx_codec_workers(w->codec);
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
	bool		skip_digest;	/* the caller checks the content itself */
	uint8_t    *buf;
	RvxSinkFn	sink;
	void	   *arg;
	uint64_t	payload_seen;
	uLong		payload_crc;
	uint64_t	raw_seen;
	/* encrypted objects */
	const RvxKey *key;
	RvxGcm	   *gcm;
	uint8_t		nonce[RVX_GCM_NONCE_LEN];
	uint8_t		tag[RVX_GCM_TAG_LEN];
	uint8_t    *dbuf;			/* decrypted payload, on its way to the codec */
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
	r->dbuf = rvx_malloc(RVX_CODEC_CHUNK);
	if (r->sha == NULL || r->buf == NULL || r->dbuf == NULL)
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
	r->skip_digest = false;
	r->error[0] = '\0';
	rvx_gcm_free(r->gcm);
	r->gcm = NULL;
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
	if (r->hdr.encryption != RVX_ENCRYPT_NONE && r->key == NULL)
		return reader_fail(r, "object is encrypted, and no key is configured (REVRX_ENCRYPTION_KEY_FILE)");
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
			if (!r->skip_digest && rvx_sha256_update(r->sha, r->buf, produced) != 0)
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

/*
 * The payload bytes of an encrypted object from offset off: the nonce
 * (which starts the cipher), the ciphertext (decrypted into the codec),
 * the tag (kept for finish).
 */
static int
reader_decrypt(RvxObjectReader *r, const uint8_t *p, size_t len, uint64_t off)
{
	uint64_t	ct_end = r->hdr.payload_size - RVX_GCM_TAG_LEN;

	while (len > 0)
	{
		size_t		n;

		if (off < RVX_GCM_NONCE_LEN)
		{
			n = RVX_GCM_NONCE_LEN - (size_t) off;
			if (n > len)
				n = len;
			memcpy(r->nonce + off, p, n);
			if (off + n == RVX_GCM_NONCE_LEN)
			{
				r->gcm = rvx_gcm_new(r->key, false, r->nonce, r->hdrbuf, 64);
				if (r->gcm == NULL)
					return reader_fail(r, "could not start AES-256-GCM");
			}
		}
		else if (off < ct_end)
		{
			n = (size_t) (ct_end - off);
			if (n > len)
				n = len;
			if (n > RVX_CODEC_CHUNK)
				n = RVX_CODEC_CHUNK;
			if (rvx_gcm_update(r->gcm, p, n, r->dbuf) != 0)
				return reader_fail(r, "AES-256-GCM failed");
			if (reader_push(r, r->dbuf, n, false) != 0)
				return -1;
		}
		else
		{
			n = len;			/* the feed already refused anything past the end */
			memcpy(r->tag + (off - ct_end), p, n);
		}
		p += n;
		len -= n;
		off += n;
	}
	return 0;
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
	if (r->hdr.encryption != RVX_ENCRYPT_NONE)
		return reader_decrypt(r, p, len, r->payload_seen - len);
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
	if (r->hdr.encryption != RVX_ENCRYPT_NONE &&
		(r->gcm == NULL || rvx_gcm_final(r->gcm, r->tag) != 0))
		return reader_fail(r, "decryption failed: the object was altered, or the key is not the one it was encrypted with");
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
	if (r->skip_digest)
		return 0;
	if (rvx_sha256_final(r->sha, digest) != 0)
		return reader_fail(r, "could not finish checksum");
	if (!rvx_object_digest_matches(&r->hdr, r->key, digest))
		return reader_fail(r, "SHA-256 of the content does not match the object header");
	return 0;
}

void
rvx_object_reader_set_key(RvxObjectReader *r, const RvxKey *key)
{
	r->key = key;
}

void
rvx_object_reader_skip_digest(RvxObjectReader *r)
{
	r->skip_digest = true;
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
	rvx_gcm_free(r->gcm);
	if (r->buf)
		rvx_free(r->buf);
	if (r->dbuf)
		rvx_free(r->dbuf);
	rvx_free(r);
}
