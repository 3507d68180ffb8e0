/*-------------------------------------------------------------------------
 *
 * compress.h
 *	  Streaming compression and decompression (zstd, gzip, lz4, none).
 *
 * One interface over the streaming APIs of libzstd, zlib and liblz4, so
 * the archive module, the agent's restore path and later the backup
 * pipeline push bytes through the same stage.  A codec is created once and
 * reset per object: the archive module keeps its codec for the life of the
 * archiver, so an error in the middle of a segment cannot leak the
 * library's context.
 *
 * Contract of rvx_codec_run(): consumes some of [in, in + in_len), writes
 * some output to [out, out + out_cap), and says how much of each it used.
 * With finish = true (and all input given) call it until it returns
 * RVX_CODEC_END; each call may need a fresh output buffer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_COMPRESS_H
#define RVX_COMPRESS_H

#include "rvx_port.h"

/* Stored in object headers: never renumber. */
typedef enum RvxCompression
{
	RVX_COMPRESS_NONE = 0,
	RVX_COMPRESS_GZIP = 1,
	RVX_COMPRESS_ZSTD = 2,
	RVX_COMPRESS_LZ4 = 3,
} RvxCompression;

#define RVX_COMPRESS_MAX RVX_COMPRESS_LZ4

typedef enum RvxCodecStatus
{
	RVX_CODEC_ERROR = -1,
	RVX_CODEC_MORE = 0,			/* call again (more input, or more output room) */
	RVX_CODEC_END = 1,			/* the stream is complete */
} RvxCodecStatus;

typedef struct RvxCodec RvxCodec;

/* NULL when out of memory or the algorithm is unknown. */
extern RvxCodec *rvx_codec_new(RvxCompression alg, bool compress, int level);
/*
 * Compress with this many helper threads (zstd only, ignored by the other
 * codecs; 0 = in the calling thread).  The threads only compress and never call back into the
 * caller, which is what makes them acceptable inside a PostgreSQL backend
 * (PG15's server-side zstd base backup does the same).  Takes effect at
 * the next reset; falls back to 0 where libzstd has no thread support.
 */
extern void rvx_codec_set_workers(RvxCodec *codec, int workers);
/*
 * The helper threads compressing the stream begun by the last reset: the
 * number set, or 0 (not zstd, none set, or the library refused them).
 */
extern int	rvx_codec_workers(const RvxCodec *codec);
/* The most helper threads this libzstd takes; 0 when it has no threads. */
extern int	rvx_zstd_max_workers(void);
/* Start a new stream with the same settings; -1 on failure. */
extern int	rvx_codec_reset(RvxCodec *codec);
extern RvxCodecStatus rvx_codec_run(RvxCodec *codec,
									const void *in, size_t in_len, size_t *in_used,
									void *out, size_t out_cap, size_t *out_len,
									bool finish);
/* Why the last call failed (static text, never NULL). */
extern const char *rvx_codec_error(const RvxCodec *codec);
extern void rvx_codec_free(RvxCodec *codec);

/* "zstd", "gzip", "lz4", "none"; NULL for an unknown value. */
extern const char *rvx_compression_name(RvxCompression alg);
/* -1 for an unknown name. */
extern int	rvx_compression_from_name(const char *name);
/* Object-name suffix: ".zst", ".gz", ".lz4" or "" */
extern const char *rvx_compression_suffix(RvxCompression alg);
/* Default and valid levels, for settings' check hooks. */
extern int	rvx_compression_default_level(RvxCompression alg);
extern bool rvx_compression_level_valid(RvxCompression alg, int level);

#endif							/* RVX_COMPRESS_H */
