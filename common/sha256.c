/*-------------------------------------------------------------------------
 *
 * sha256.c
 *	  Streaming SHA-256 (OpenSSL EVP) and hex helpers, for both builds.
 *
 *-------------------------------------------------------------------------
 */
#include "rvx_port.h"

#include <openssl/evp.h>

#include "sha256.h"

struct RvxSha256
{
	EVP_MD_CTX *md;
};

RvxSha256 *
rvx_sha256_new(void)
{
	RvxSha256  *ctx = rvx_malloc(sizeof(RvxSha256));

	if (ctx == NULL)
		return NULL;
	ctx->md = EVP_MD_CTX_new();
	if (ctx->md == NULL || rvx_sha256_init(ctx) != 0)
	{
		rvx_sha256_free(ctx);
		return NULL;
	}
	return ctx;
}

int
rvx_sha256_init(RvxSha256 *ctx)
{
	return EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

int
rvx_sha256_update(RvxSha256 *ctx, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	return EVP_DigestUpdate(ctx->md, data, len) == 1 ? 0 : -1;
}

int
rvx_sha256_final(RvxSha256 *ctx, uint8_t out[RVX_SHA256_LEN])
{
	unsigned int outlen = 0;

	if (EVP_DigestFinal_ex(ctx->md, out, &outlen) != 1 || outlen != RVX_SHA256_LEN)
		return -1;
	return 0;
}

void
rvx_sha256_free(RvxSha256 *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->md)
		EVP_MD_CTX_free(ctx->md);
	rvx_free(ctx);
}

int
rvx_sha256_buf(const void *data, size_t len, uint8_t out[RVX_SHA256_LEN])
{
	unsigned int outlen = 0;

	if (EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL) != 1)
		return -1;
	return outlen == RVX_SHA256_LEN ? 0 : -1;
}

void
rvx_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
rvx_hex_decode(const char *in, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		int			hi = hexval(in[2 * i]);
		int			lo = hi < 0 ? -1 : hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t) ((hi << 4) | lo);
	}
	return in[2 * len] == '\0' || in[2 * len] == '\n' ? 0 : -1;
}
