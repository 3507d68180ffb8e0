/*-------------------------------------------------------------------------
 *
 * compress.c
 *	  Streaming codecs over libzstd, zlib and liblz4, for both builds.
 *
 * gzip here means the gzip container (RFC 1952) produced by zlib with
 * windowBits 15 + 16, and lz4 the LZ4 frame format (lz4frame.h, what the
 * lz4 tool writes), so an object's payload can be inspected with the
 * standard tools once its revrx header is stripped.
 *
 *-------------------------------------------------------------------------
 */
#include "rvx_port.h"

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"

struct RvxCodec
{
	RvxCompression alg;
	bool		compress;
	int			level;
	int			workers;		/* asked for */
	int			workers_used;	/* in the stream begun by the last reset */
	bool		ended;
	const char *error;
	ZSTD_CCtx  *zc;
	ZSTD_DCtx  *zd;
	z_stream	gz;
	bool		gz_ready;
	LZ4F_cctx  *lc;
	LZ4F_dctx  *ld;
	uint8_t    *lz_buf;			/* compressed bytes not yet handed out */
	size_t		lz_cap;
	size_t		lz_pos;
	size_t		lz_len;
	bool		lz_closed;		/* the frame's end mark is in lz_buf */
};

/*
 * Content handed to LZ4F_compressUpdate() at a time.  Its output may be up
 * to LZ4F_compressBound() of it, which covers a whole block (the frame
 * buffers up to a block of input before it compresses), whatever the
 * caller's output room: so the codec compresses into lz_buf and copies out
 * of it across calls.  Any size up to the block size needs the same bound,
 * one block.
 */
#define LZ4_IN_CHUNK	(256 * 1024)

/*
 * 1 MB blocks, linked (a block may refer to the 64 kB before it, like
 * `lz4 -BD`, so block boundaries cost no ratio), and no content checksum:
 * the object header already carries the content's SHA-256 and the
 * payload's CRC-32.  The lz4 tool's 4 MB blocks would compress no better
 * (the window is 64 kB either way) and make lz_buf and the library's
 * buffers four times larger.
 */
static void
lz4_prefs(const RvxCodec *codec, LZ4F_preferences_t *prefs)
{
	memset(prefs, 0, sizeof(*prefs));
	prefs->frameInfo.blockSizeID = LZ4F_max1MB;
	prefs->frameInfo.blockMode = LZ4F_blockLinked;
	prefs->frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
	prefs->compressionLevel = codec->level;
}

static int
gz_begin(RvxCodec *codec)
{
	int			rc;

	memset(&codec->gz, 0, sizeof(codec->gz));
	if (codec->compress)
		rc = deflateInit2(&codec->gz, codec->level, Z_DEFLATED, 15 + 16, 8,
						  Z_DEFAULT_STRATEGY);
	else
		rc = inflateInit2(&codec->gz, 15 + 16);
	codec->gz_ready = (rc == Z_OK);
	return rc == Z_OK ? 0 : -1;
}

static void
gz_end(RvxCodec *codec)
{
	if (!codec->gz_ready)
		return;
	if (codec->compress)
		deflateEnd(&codec->gz);
	else
		inflateEnd(&codec->gz);
	codec->gz_ready = false;
}

RvxCodec *
rvx_codec_new(RvxCompression alg, bool compress, int level)
{
	RvxCodec   *codec;

	if (alg > RVX_COMPRESS_MAX)
		return NULL;
	codec = rvx_malloc(sizeof(RvxCodec));
	if (codec == NULL)
		return NULL;
	codec->alg = alg;
	codec->compress = compress;
	codec->level = level;
	codec->error = "no error";

	switch (alg)
	{
		case RVX_COMPRESS_ZSTD:
			if (compress)
				codec->zc = ZSTD_createCCtx();
			else
				codec->zd = ZSTD_createDCtx();
			if (codec->zc == NULL && codec->zd == NULL)
			{
				rvx_codec_free(codec);
				return NULL;
			}
			break;
		case RVX_COMPRESS_LZ4:
			if (compress)
			{
				LZ4F_preferences_t prefs;
				size_t		bound;

				lz4_prefs(codec, &prefs);
				bound = LZ4F_compressBound(LZ4_IN_CHUNK, &prefs);
				if (bound < LZ4F_compressBound(0, &prefs))
					bound = LZ4F_compressBound(0, &prefs);
				if (bound < LZ4F_HEADER_SIZE_MAX)
					bound = LZ4F_HEADER_SIZE_MAX;
				codec->lz_cap = bound;
				codec->lz_buf = rvx_malloc(bound);
				if (LZ4F_isError(LZ4F_createCompressionContext(&codec->lc, LZ4F_VERSION)))
					codec->lc = NULL;
			}
			else if (LZ4F_isError(LZ4F_createDecompressionContext(&codec->ld, LZ4F_VERSION)))
				codec->ld = NULL;
			if (compress ? (codec->lc == NULL || codec->lz_buf == NULL) : codec->ld == NULL)
			{
				rvx_codec_free(codec);
				return NULL;
			}
			break;
		case RVX_COMPRESS_GZIP:
		case RVX_COMPRESS_NONE:
			break;
	}
	if (rvx_codec_reset(codec) != 0)
	{
		rvx_codec_free(codec);
		return NULL;
	}
	return codec;
}

int
rvx_codec_reset(RvxCodec *codec)
{
	codec->ended = false;
	codec->error = "no error";
	switch (codec->alg)
	{
		case RVX_COMPRESS_ZSTD:
			if (codec->compress)
			{
				/*
				 * No content checksum (XXH64), as for lz4: the object header
				 * already carries the content's SHA-256 and the payload's
				 * CRC-32, and it cost about 5% of the CPU of compressing.
				 * Frames written with one, before, are read all the same.
				 */
				if (ZSTD_isError(ZSTD_CCtx_reset(codec->zc, ZSTD_reset_session_and_parameters)) ||
					ZSTD_isError(ZSTD_CCtx_setParameter(codec->zc, ZSTD_c_compressionLevel, codec->level)) ||
					ZSTD_isError(ZSTD_CCtx_setParameter(codec->zc, ZSTD_c_checksumFlag, 0)))
					return -1;
				/* without thread support the library refuses: compress inline */
				codec->workers_used = 0;
				if (codec->workers > 0 &&
					!ZSTD_isError(ZSTD_CCtx_setParameter(codec->zc, ZSTD_c_nbWorkers, codec->workers)))
					codec->workers_used = codec->workers;
			}
			else if (ZSTD_isError(ZSTD_DCtx_reset(codec->zd, ZSTD_reset_session_only)))
				return -1;
			return 0;
		case RVX_COMPRESS_GZIP:
			gz_end(codec);
			return gz_begin(codec);
		case RVX_COMPRESS_LZ4:
			if (codec->compress)
			{
				LZ4F_preferences_t prefs;
				size_t		rc;

				/*
				 * The frame header is known now: queue it as the first
				 * output.  compressBegin also clears whatever a failed
				 * stream left in the context.
				 */
				lz4_prefs(codec, &prefs);
				rc = LZ4F_compressBegin(codec->lc, codec->lz_buf, codec->lz_cap, &prefs);
				if (LZ4F_isError(rc))
					return -1;
				codec->lz_pos = 0;
				codec->lz_len = rc;
				codec->lz_closed = false;
			}
			else
				LZ4F_resetDecompressionContext(codec->ld);
			return 0;
		case RVX_COMPRESS_NONE:
			return 0;
	}
	return -1;
}

static RvxCodecStatus
run_zstd(RvxCodec *codec, const void *in, size_t in_len, size_t *in_used,
		 void *out, size_t out_cap, size_t *out_len, bool finish)
{
	ZSTD_inBuffer ib = {in, in_len, 0};
	ZSTD_outBuffer ob = {out, out_cap, 0};
	size_t		rc;

	if (codec->compress)
	{
		rc = ZSTD_compressStream2(codec->zc, &ob, &ib,
								  finish ? ZSTD_e_end : ZSTD_e_continue);
		*in_used = ib.pos;
		*out_len = ob.pos;
		if (ZSTD_isError(rc))
		{
			codec->error = ZSTD_getErrorName(rc);
			return RVX_CODEC_ERROR;
		}
		return (finish && rc == 0 && ib.pos == in_len) ? RVX_CODEC_END : RVX_CODEC_MORE;
	}

	rc = ZSTD_decompressStream(codec->zd, &ob, &ib);
	*in_used = ib.pos;
	*out_len = ob.pos;
	if (ZSTD_isError(rc))
	{
		codec->error = ZSTD_getErrorName(rc);
		return RVX_CODEC_ERROR;
	}
	if (rc == 0)
	{
		/* A frame ended; anything after it is not ours. */
		if (ib.pos < in_len)
		{
			codec->error = "trailing data after the compressed stream";
			return RVX_CODEC_ERROR;
		}
		return RVX_CODEC_END;
	}
	if (finish && ib.pos == in_len && ob.pos < out_cap)
	{
		codec->error = "compressed stream is truncated";
		return RVX_CODEC_ERROR;
	}
	return RVX_CODEC_MORE;
}

static RvxCodecStatus
run_gzip(RvxCodec *codec, const void *in, size_t in_len, size_t *in_used,
		 void *out, size_t out_cap, size_t *out_len, bool finish)
{
	z_stream   *zs = &codec->gz;
	int			rc;

	zs->next_in = (Bytef *) in;
	zs->avail_in = (uInt) in_len;
	zs->next_out = (Bytef *) out;
	zs->avail_out = (uInt) out_cap;

	if (codec->compress)
		rc = deflate(zs, finish ? Z_FINISH : Z_NO_FLUSH);
	else
		rc = inflate(zs, Z_NO_FLUSH);

	*in_used = in_len - zs->avail_in;
	*out_len = out_cap - zs->avail_out;

	if (rc == Z_STREAM_END)
	{
		if (!codec->compress && zs->avail_in > 0)
		{
			codec->error = "trailing data after the compressed stream";
			return RVX_CODEC_ERROR;
		}
		return RVX_CODEC_END;
	}
	if (rc == Z_BUF_ERROR)
	{
		/* No progress possible: fine unless we were told this is all. */
		if (!codec->compress && finish && zs->avail_in == 0 && zs->avail_out > 0)
		{
			codec->error = "compressed stream is truncated";
			return RVX_CODEC_ERROR;
		}
		return RVX_CODEC_MORE;
	}
	if (rc != Z_OK)
	{
		codec->error = zs->msg ? zs->msg : "zlib stream error";
		return RVX_CODEC_ERROR;
	}
	if (!codec->compress && finish && zs->avail_in == 0 && zs->avail_out > 0)
	{
		codec->error = "compressed stream is truncated";
		return RVX_CODEC_ERROR;
	}
	return RVX_CODEC_MORE;
}

static RvxCodecStatus
run_lz4(RvxCodec *codec, const void *in, size_t in_len, size_t *in_used,
		void *out, size_t out_cap, size_t *out_len, bool finish)
{
	size_t		rc;

	if (codec->compress)
	{
		const uint8_t *ip = in;
		uint8_t    *op = out;
		size_t		used = 0,
					produced = 0;

		for (;;)
		{
			size_t		n = codec->lz_len - codec->lz_pos;

			/* what the library produced earlier goes out first, in order */
			if (n > out_cap - produced)
				n = out_cap - produced;
			if (n > 0)
			{
				memcpy(op + produced, codec->lz_buf + codec->lz_pos, n);
				codec->lz_pos += n;
				produced += n;
			}
			if (codec->lz_pos < codec->lz_len)
				break;			/* no room left: the caller comes back */

			/* lz_buf is empty: it can take the output of one more call */
			if (used < in_len)
			{
				size_t		chunk = in_len - used;

				if (chunk > LZ4_IN_CHUNK)
					chunk = LZ4_IN_CHUNK;
				rc = LZ4F_compressUpdate(codec->lc, codec->lz_buf, codec->lz_cap,
										 ip + used, chunk, NULL);
				if (LZ4F_isError(rc))
				{
					codec->error = LZ4F_getErrorName(rc);
					*in_used = used;
					*out_len = produced;
					return RVX_CODEC_ERROR;
				}
				used += chunk;
			}
			else if (finish && !codec->lz_closed)
			{
				/* the last block and the end mark */
				rc = LZ4F_compressEnd(codec->lc, codec->lz_buf, codec->lz_cap, NULL);
				if (LZ4F_isError(rc))
				{
					codec->error = LZ4F_getErrorName(rc);
					*in_used = used;
					*out_len = produced;
					return RVX_CODEC_ERROR;
				}
				codec->lz_closed = true;
			}
			else
				break;
			codec->lz_pos = 0;
			codec->lz_len = rc;
		}
		*in_used = used;
		*out_len = produced;
		return (finish && codec->lz_closed && codec->lz_pos == codec->lz_len) ?
			RVX_CODEC_END : RVX_CODEC_MORE;
	}
	else
	{
		size_t		src = in_len;
		size_t		dst = out_cap;

		/* never hand the library NULL + 0 (finishing passes no input) */
		rc = LZ4F_decompress(codec->ld, out, &dst, in ? in : (const void *) "", &src, NULL);
		*in_used = src;
		*out_len = dst;
		if (LZ4F_isError(rc))
		{
			codec->error = LZ4F_getErrorName(rc);
			return RVX_CODEC_ERROR;
		}
		if (rc == 0)
		{
			/* The frame ended; anything after it is not ours. */
			if (src < in_len)
			{
				codec->error = "trailing data after the compressed stream";
				return RVX_CODEC_ERROR;
			}
			return RVX_CODEC_END;
		}

		/*
		 * rc is the input the frame still wants.  Having it all, with room
		 * left over, the library has flushed everything it could decode.
		 */
		if (finish && src == in_len && dst < out_cap)
		{
			codec->error = "compressed stream is truncated";
			return RVX_CODEC_ERROR;
		}
		return RVX_CODEC_MORE;
	}
}

void
rvx_codec_set_workers(RvxCodec *codec, int workers)
{
	codec->workers = workers;
}

int
rvx_codec_workers(const RvxCodec *codec)
{
	return codec->workers_used;
}

int
rvx_zstd_max_workers(void)
{
	ZSTD_bounds b = ZSTD_cParam_getBounds(ZSTD_c_nbWorkers);

	return ZSTD_isError(b.error) ? 0 : b.upperBound;
}

RvxCodecStatus
rvx_codec_run(RvxCodec *codec, const void *in, size_t in_len, size_t *in_used,
			  void *out, size_t out_cap, size_t *out_len, bool finish)
{
	RvxCodecStatus st = RVX_CODEC_ERROR;

	*in_used = 0;
	*out_len = 0;
	if (codec->ended)
	{
		if (in_len > 0)
		{
			codec->error = "trailing data after the compressed stream";
			return RVX_CODEC_ERROR;
		}
		return RVX_CODEC_END;
	}

	switch (codec->alg)
	{
		case RVX_COMPRESS_ZSTD:
			st = run_zstd(codec, in, in_len, in_used, out, out_cap, out_len, finish);
			break;
		case RVX_COMPRESS_GZIP:
			st = run_gzip(codec, in, in_len, in_used, out, out_cap, out_len, finish);
			break;
		case RVX_COMPRESS_LZ4:
			st = run_lz4(codec, in, in_len, in_used, out, out_cap, out_len, finish);
			break;
		case RVX_COMPRESS_NONE:
			{
				size_t		n = in_len < out_cap ? in_len : out_cap;

				if (n > 0)
					memcpy(out, in, n);
				*in_used = n;
				*out_len = n;
				st = (finish && n == in_len) ? RVX_CODEC_END : RVX_CODEC_MORE;
				break;
			}
	}
	if (st == RVX_CODEC_END)
		codec->ended = true;
	return st;
}

const char *
rvx_codec_error(const RvxCodec *codec)
{
	return codec->error;
}

void
rvx_codec_free(RvxCodec *codec)
{
	if (codec == NULL)
		return;
	if (codec->zc)
		ZSTD_freeCCtx(codec->zc);
	if (codec->zd)
		ZSTD_freeDCtx(codec->zd);
	gz_end(codec);
	if (codec->lc)
		LZ4F_freeCompressionContext(codec->lc);
	if (codec->ld)
		LZ4F_freeDecompressionContext(codec->ld);
	if (codec->lz_buf)
		rvx_free(codec->lz_buf);
	rvx_free(codec);
}

const char *
rvx_compression_name(RvxCompression alg)
{
	switch (alg)
	{
		case RVX_COMPRESS_NONE:
			return "none";
		case RVX_COMPRESS_GZIP:
			return "gzip";
		case RVX_COMPRESS_ZSTD:
			return "zstd";
		case RVX_COMPRESS_LZ4:
			return "lz4";
	}
	return NULL;
}

int
rvx_compression_from_name(const char *name)
{
	for (int alg = 0; alg <= RVX_COMPRESS_MAX; alg++)
		if (strcmp(name, rvx_compression_name((RvxCompression) alg)) == 0)
			return alg;
	return -1;
}

const char *
rvx_compression_suffix(RvxCompression alg)
{
	switch (alg)
	{
		case RVX_COMPRESS_NONE:
			return "";
		case RVX_COMPRESS_GZIP:
			return ".gz";
		case RVX_COMPRESS_ZSTD:
			return ".zst";
		case RVX_COMPRESS_LZ4:
			return ".lz4";
	}
	return "";
}

int
rvx_compression_default_level(RvxCompression alg)
{
	switch (alg)
	{
		case RVX_COMPRESS_ZSTD:
			return 3;
		case RVX_COMPRESS_GZIP:
			return 6;
		case RVX_COMPRESS_LZ4:
			return 1;			/* the fast mode, as `lz4 -1` */
		case RVX_COMPRESS_NONE:
			return 0;
	}
	return 0;
}

bool
rvx_compression_level_valid(RvxCompression alg, int level)
{
	switch (alg)
	{
		case RVX_COMPRESS_ZSTD:
			return level >= 1 && level <= 19;
		case RVX_COMPRESS_GZIP:
			return level >= 1 && level <= 9;
		case RVX_COMPRESS_LZ4:
			/* 1 and 2 are the fast mode, 3 and up the HC compressor */
			return level >= 1 && level <= 12;
		case RVX_COMPRESS_NONE:
			return true;
	}
	return false;
}
