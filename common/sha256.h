/*-------------------------------------------------------------------------
 *
 * sha256.h
 *	  Streaming SHA-256 for both builds, on OpenSSL's EVP interface.
 *
 * OpenSSL is what PostgreSQL itself uses for SHA-256 on Debian, and the
 * agent links it anyway for TLS; wrapping it here keeps the one detail that
 * differs between callers (how an allocation failure is reported) out of
 * every call site.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_SHA256_H
#define RVX_SHA256_H

#include "rvx_port.h"

#define RVX_SHA256_LEN		32
#define RVX_SHA256_HEXLEN	(RVX_SHA256_LEN * 2)

typedef struct RvxSha256 RvxSha256;

/* NULL when out of memory. */
extern RvxSha256 *rvx_sha256_new(void);
/* Start over (a context may be reused for many inputs).  -1 on failure. */
extern int	rvx_sha256_init(RvxSha256 *ctx);
extern int	rvx_sha256_update(RvxSha256 *ctx, const void *data, size_t len);
extern int	rvx_sha256_final(RvxSha256 *ctx, uint8_t out[RVX_SHA256_LEN]);
extern void rvx_sha256_free(RvxSha256 *ctx);

/* One-shot digest of a buffer; -1 on failure. */
extern int	rvx_sha256_buf(const void *data, size_t len, uint8_t out[RVX_SHA256_LEN]);

/* Lower-case hex; out must hold 2 * len + 1 bytes. */
extern void rvx_hex_encode(const uint8_t *in, size_t len, char *out);
/* Parses exactly 2 * len hex digits; -1 on anything else. */
extern int	rvx_hex_decode(const char *in, uint8_t *out, size_t len);

#endif							/* RVX_SHA256_H */
