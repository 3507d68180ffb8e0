/*-------------------------------------------------------------------------
 *
 * compress.c
 *	  Streaming codecs over libzstd and zlib, for both builds.
 *
 * gzip here means the gzip container (RFC 1952) produced by zlib with
 * windowBits 15 + 16, so an object's payload can be inspected with the
 * standard tools once its revrx header is stripped.
 *
 *-------------------------------------------------------------------------
 */
#include "rvx_port.h"

#include <zlib.h>
#include <zstd.h>

#include "compress.h"

struct RvxCodec
{
	RvxCompression alg;
	bool		compress;
	int			level;
	int			workers;
	bool		ended;
	const char *error;
	ZSTD_CCtx  *zc;
	ZSTD_DCtx  *zd;
	z_stream	gz;
	bool		gz_ready;
};

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
				if (ZSTD_isError(ZSTD_CCtx_reset(codec->zc, ZSTD_reset_session_and_parameters)) ||
					ZSTD_isError(ZSTD_CCtx_setParameter(codec->zc, ZSTD_c_compressionLevel, codec->level)) ||
					ZSTD_isError(ZSTD_CCtx_setParameter(codec->zc, ZSTD_c_checksumFlag, 1)))
					return -1;
				if (codec->workers > 0 &&
					ZSTD_isError(ZSTD_CCtx_setParameter(codec->zc, ZSTD_c_nbWorkers, codec->workers)))
					codec->workers = 0;	/* no thread support: compress inline */
			}
			else if (ZSTD_isError(ZSTD_DCtx_reset(codec->zd, ZSTD_reset_session_only)))
				return -1;
			return 0;
		case RVX_COMPRESS_GZIP:
			gz_end(codec);
			return gz_begin(codec);
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

void
rvx_codec_set_workers(RvxCodec *codec, int workers)
{
	codec->workers = workers;
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
		case RVX_COMPRESS_NONE:
			return true;
	}
	return false;
}
