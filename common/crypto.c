/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  Keys and streaming AES-256-GCM on OpenSSL EVP (see crypto.h).
 *
 *-------------------------------------------------------------------------
 */
#include "rvx_port.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "sha256.h"

struct RvxGcm
{
	EVP_CIPHER_CTX *ctx;
	bool		encrypt;
};

static int
hkdf(const uint8_t master[RVX_KEY_LEN], const char *info, uint8_t out[RVX_KEY_LEN])
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t		outlen = RVX_KEY_LEN;
	int			ok;

	if (pctx == NULL)
		return -1;
	ok = EVP_PKEY_derive_init(pctx) == 1 &&
		EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) == 1 &&
		EVP_PKEY_CTX_set1_hkdf_salt(pctx, (const unsigned char *) "revrx", 5) == 1 &&
		EVP_PKEY_CTX_set1_hkdf_key(pctx, master, RVX_KEY_LEN) == 1 &&
		EVP_PKEY_CTX_add1_hkdf_info(pctx, (const unsigned char *) info, (int) strlen(info)) == 1 &&
		EVP_PKEY_derive(pctx, out, &outlen) == 1 && outlen == RVX_KEY_LEN;
	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : -1;
}

int
rvx_key_derive(const uint8_t master[RVX_KEY_LEN], RvxKey *key)
{
	if (hkdf(master, "revrx object encryption v1", key->enc) != 0 ||
		hkdf(master, "revrx content tag v1", key->mac) != 0 ||
		hkdf(master, "revrx key check v1", key->check) != 0)
		return -1;
	return 0;
}

int
rvx_key_parse(const uint8_t *text, size_t len, uint8_t master[RVX_KEY_LEN], const char **why)
{
	size_t		trimmed = len;

	if (len == RVX_KEY_LEN)
	{
		memcpy(master, text, RVX_KEY_LEN);
		return 0;
	}
	while (trimmed > 0 && (text[trimmed - 1] == '\n' || text[trimmed - 1] == '\r'))
		trimmed--;
	if (trimmed == 2 * RVX_KEY_LEN)
	{
		char		hex[2 * RVX_KEY_LEN + 1];

		memcpy(hex, text, trimmed);
		hex[trimmed] = '\0';
		if (rvx_hex_decode(hex, master, RVX_KEY_LEN) == 0)
			return 0;
	}
	if (trimmed == 44)
	{
		unsigned char decoded[48];
		int			n = EVP_DecodeBlock(decoded, text, 44);

		/* EVP_DecodeBlock counts the padding; 32 bytes encode to 44 with one '=' */
		if (n == 33 && text[43] == '=' && text[42] != '=')
		{
			memcpy(master, decoded, RVX_KEY_LEN);
			return 0;
		}
	}
	*why = "a key must be 32 bytes: raw, as 64 hex digits, or base64";
	return -1;
}

static int
hmac(const uint8_t key[RVX_KEY_LEN], const void *data, size_t len, uint8_t out[32])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, RVX_KEY_LEN, data, len, out, &outlen) == NULL || outlen != 32)
		return -1;
	return 0;
}

int
rvx_key_tag_digest(const RvxKey *key, const uint8_t digest[32], uint8_t out[32])
{
	return hmac(key->mac, digest, 32, out);
}

int
rvx_key_check_hex(const RvxKey *key, char out[65])
{
	static const char text[] = "revrx repository key check";
	uint8_t		mac[32];

	if (hmac(key->check, text, sizeof(text) - 1, mac) != 0)
		return -1;
	rvx_hex_encode(mac, sizeof(mac), out);
	return 0;
}

RvxGcm *
rvx_gcm_new(const RvxKey *key, bool encrypt, uint8_t nonce[RVX_GCM_NONCE_LEN],
			const uint8_t *aad, size_t aadlen)
{
	RvxGcm	   *g = rvx_malloc(sizeof(RvxGcm));
	int			outl;

	if (g == NULL)
		return NULL;
	g->encrypt = encrypt;
	g->ctx = EVP_CIPHER_CTX_new();
	if (g->ctx == NULL ||
		(encrypt && RAND_bytes(nonce, RVX_GCM_NONCE_LEN) != 1) ||
		EVP_CipherInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt ? 1 : 0) != 1 ||
		EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_IVLEN, RVX_GCM_NONCE_LEN, NULL) != 1 ||
		EVP_CipherInit_ex(g->ctx, NULL, NULL, key->enc, nonce, encrypt ? 1 : 0) != 1 ||
		(aadlen > 0 && EVP_CipherUpdate(g->ctx, NULL, &outl, aad, (int) aadlen) != 1))
	{
		rvx_gcm_free(g);
		return NULL;
	}
	return g;
}

int
rvx_gcm_update(RvxGcm *g, const uint8_t *in, size_t len, uint8_t *out)
{
	while (len > 0)
	{
		int			chunk = len > (1 << 30) ? (1 << 30) : (int) len;
		int			outl = 0;

		if (EVP_CipherUpdate(g->ctx, out, &outl, in, chunk) != 1 || outl != chunk)
			return -1;
		in += chunk;
		out += chunk;
		len -= chunk;
	}
	return 0;
}

int
rvx_gcm_final(RvxGcm *g, uint8_t tag[RVX_GCM_TAG_LEN])
{
	uint8_t		dummy[16];
	int			outl = 0;

	if (g->encrypt)
		return EVP_CipherFinal_ex(g->ctx, dummy, &outl) == 1 &&
			EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, RVX_GCM_TAG_LEN, tag) == 1 ? 0 : -1;
	if (EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_TAG, RVX_GCM_TAG_LEN, tag) != 1)
		return -1;
	return EVP_CipherFinal_ex(g->ctx, dummy, &outl) == 1 ? 0 : -1;
}

void
rvx_gcm_free(RvxGcm *g)
{
	if (g == NULL)
		return;
	EVP_CIPHER_CTX_free(g->ctx);
	rvx_free(g);
}
