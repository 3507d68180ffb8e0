/*-------------------------------------------------------------------------
 *
 * object.h
 *	  The revrx object format: a fixed header followed by the payload.
 *
 * Every file revrx stores (a WAL segment today; backup files and manifests
 * later) is one object: the same bytes sit in the spool and then in the
 * repository, so the agent ships what the server wrote without touching it.
 *
 *	 offset	size  field
 *	 0		4	  magic "RVXO"
 *	 4		2	  format version (1), big-endian like every integer here
 *	 6		1	  compression (RvxCompression)
 *	 7		1	  encryption (0 = none, 1 = AES-256-GCM; common/crypto.h)
 *	 8		8	  system identifier of the cluster that produced it
 *	 16		8	  raw (uncompressed) size
 *	 24		8	  payload (stored) size, header excluded
 *	 32		32	  SHA-256 of the raw content (encrypted: its HMAC, see below)
 *	 64		4	  CRC-32 of the payload
 *	 68		4	  CRC-32 of bytes 0..67
 *
 * The header carries what a reader must check before it trusts a byte:
 * the stored size (truncation), a CRC of the stored bytes (any damage to
 * them, even one that still decompresses to the same content, so storage
 * can be checked without decompressing), the raw digest (the content is
 * exactly what was archived) and the cluster (a segment from another
 * system must never be mixed in).  The reader below verifies
 * all three while it streams, so nothing is handed on that was not checked
 * except the last chunk, and the caller learns of a mismatch before it
 * makes its output visible (see rvx_object_reader_finish).
 *
 * Encrypted objects (made by the agent from the spool's plain ones, just
 * before they are stored: rvx_object_encrypt) have the same header with
 * encryption 1, and a payload of nonce (12 bytes), the AES-256-GCM
 * encryption of the plain object's payload (the compressed content), and
 * the GCM tag (16 bytes).  Bytes 0..63 of the header are the cipher's
 * additional authenticated data, so no field can be changed unnoticed;
 * payload size and CRC describe the stored (encrypted) bytes, so storage
 * can still be checked without the key; the digest field holds
 * HMAC-SHA256 of the content's SHA-256 under the key's mac key instead of
 * the digest itself.  Decompression, sizes and the digest are then
 * checked as for any object.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_OBJECT_H
#define RVX_OBJECT_H

#include "rvx_port.h"

#include "compress.h"
#include "crypto.h"
#include "sha256.h"

#define RVX_OBJECT_MAGIC		"RVXO"
#define RVX_OBJECT_VERSION		1
#define RVX_OBJECT_HEADER_LEN	72

typedef struct RvxObjectHeader
{
	uint16_t	version;
	uint8_t		compression;
	uint8_t		encryption;
	uint64_t	system_id;
	uint64_t	raw_size;
	uint64_t	payload_size;
	uint8_t		sha256[RVX_SHA256_LEN];
	uint32_t	payload_crc;
} RvxObjectHeader;

extern void rvx_object_header_encode(const RvxObjectHeader *hdr,
									 uint8_t out[RVX_OBJECT_HEADER_LEN]);
/* 0 if valid, else -1 with *why set to a static explanation. */
extern int	rvx_object_header_decode(const uint8_t in[RVX_OBJECT_HEADER_LEN],
									 RvxObjectHeader *hdr, const char **why);

/*
 * Sink for produced bytes: returns 0, or -1 to abort (the sink keeps its
 * own record of why).
 */
typedef int (*RvxSinkFn) (void *arg, const void *data, size_t len);

/*
 * Writer: hashes and compresses raw content, handing the payload to a sink.
 * The header can only be known at the end, so the caller reserves
 * RVX_OBJECT_HEADER_LEN bytes in front of the payload and fills them from
 * rvx_object_writer_finish().
 */
typedef struct RvxObjectWriter RvxObjectWriter;

extern RvxObjectWriter *rvx_object_writer_new(RvxCompression alg, int level);
/* Helper threads for compression (see rvx_codec_set_workers). */
extern void rvx_object_writer_set_workers(RvxObjectWriter *w, int workers);
/* Helper threads of the object begun last (see rvx_codec_workers). */
extern int	rvx_object_writer_workers(const RvxObjectWriter *w);
extern int	rvx_object_writer_begin(RvxObjectWriter *w, uint64_t system_id,
									RvxSinkFn sink, void *arg);
extern int	rvx_object_writer_write(RvxObjectWriter *w, const void *data, size_t len);
extern int	rvx_object_writer_finish(RvxObjectWriter *w, RvxObjectHeader *hdr);
extern const char *rvx_object_writer_error(const RvxObjectWriter *w);
extern void rvx_object_writer_free(RvxObjectWriter *w);

/*
 * Reader: fed the stored bytes (header first) in chunks of any size; hands
 * the verified raw content to a sink.  rvx_object_reader_finish() says
 * whether the whole object was present and its digest matched.
 */
typedef struct RvxObjectReader RvxObjectReader;

extern RvxObjectReader *rvx_object_reader_new(void);
extern int	rvx_object_reader_begin(RvxObjectReader *r, RvxSinkFn sink, void *arg);
extern int	rvx_object_reader_feed(RvxObjectReader *r, const void *data, size_t len);
extern int	rvx_object_reader_finish(RvxObjectReader *r);
/* Valid once the first RVX_OBJECT_HEADER_LEN bytes were fed. */
extern const RvxObjectHeader *rvx_object_reader_header(const RvxObjectReader *r);
/*
 * The key for encrypted objects (NULL: none; an encrypted object then
 * fails).  Set before the first feed; the key must outlive the reader.
 */
extern void rvx_object_reader_set_key(RvxObjectReader *r, const RvxKey *key);

/*
 * For this object (until the next begin): the content's SHA-256 is neither
 * computed nor compared with the header's, because the caller checks what
 * it makes of the content by a digest of its own (a file rebuilt from this
 * content and other objects, against the digest a backup recorded for it).
 * The stored bytes' CRC-32, decryption and the sizes are still checked.
 */
extern void rvx_object_reader_skip_digest(RvxObjectReader *r);

/*
 * Whether hdr's digest field stands for the content digest plain: equal,
 * or for an encrypted object equal to its HMAC under key (false without a
 * key).
 */
extern bool rvx_object_digest_matches(const RvxObjectHeader *hdr, const RvxKey *key,
									  const uint8_t plain[RVX_SHA256_LEN]);

/*
 * Encrypts a plain object: its header is plain, its payload is read with
 * readfn at offsets RVX_OBJECT_HEADER_LEN and on.  The sink receives
 * RVX_OBJECT_HEADER_LEN zero bytes, then the encrypted payload; *out is
 * the header to write over those zeros.  The plain payload's CRC is
 * checked on the way.  -1 with *why on failure.
 */
typedef long (*RvxReadAtFn) (void *arg, void *buf, size_t len, uint64_t offset);

extern int	rvx_object_encrypt(const RvxKey *key, const RvxObjectHeader *plain,
							   RvxReadAtFn readfn, void *rarg, RvxSinkFn sink, void *sarg,
							   RvxObjectHeader *out, const char **why);
extern const char *rvx_object_reader_error(const RvxObjectReader *r);
extern void rvx_object_reader_free(RvxObjectReader *r);

#endif							/* RVX_OBJECT_H */
