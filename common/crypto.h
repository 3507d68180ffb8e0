/*-------------------------------------------------------------------------
 *
 * crypto.h
 *	  Client-side encryption of stored objects: keys and AES-256-GCM
 *	  (OpenSSL EVP), for both builds.
 *
 * One 32-byte master key (REVRX_ENCRYPTION_KEY_FILE) is expanded with
 * HKDF-SHA256 into independent keys for the three jobs it has, so that no
 * key is used for two purposes:
 *
 *	 enc	AES-256-GCM of every object's payload (common/object.h)
 *	 mac	HMAC-SHA256 that replaces the content's SHA-256 in an encrypted
 *			object's header: equal content still compares equal (what
 *			idempotent shipping needs), but the repository does not reveal
 *			a plain digest of the data
 *	 check	HMAC-SHA256 of a fixed text, recorded in repo.json, so a wrong
 *			key is recognised before anything is read or written
 *
 * Every object gets a fresh random 96-bit nonce (RAND_bytes), so a key can
 * encrypt far more objects than a repository will ever hold (the GCM
 * bound for random nonces is 2^32 messages per key).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_CRYPTO_H
#define RVX_CRYPTO_H

#include "rvx_port.h"

#define RVX_KEY_LEN			32
#define RVX_GCM_NONCE_LEN	12
#define RVX_GCM_TAG_LEN		16
/* What encryption adds to a payload: nonce in front, tag behind. */
#define RVX_GCM_OVERHEAD	(RVX_GCM_NONCE_LEN + RVX_GCM_TAG_LEN)

/* Values of the header's encryption byte. */
#define RVX_ENCRYPT_NONE		0
#define RVX_ENCRYPT_AES256GCM	1

typedef struct RvxKey
{
	uint8_t		enc[RVX_KEY_LEN];
	uint8_t		mac[RVX_KEY_LEN];
	uint8_t		check[RVX_KEY_LEN];
} RvxKey;

/* Derives the three keys from a master key; -1 on failure. */
extern int	rvx_key_derive(const uint8_t master[RVX_KEY_LEN], RvxKey *key);

/*
 * Parses a key file's content: 32 raw bytes, or 64 hex digits, or the
 * base64 of 32 bytes (each optionally followed by a newline).  -1 with
 * *why set otherwise.
 */
extern int	rvx_key_parse(const uint8_t *text, size_t len, uint8_t master[RVX_KEY_LEN],
						  const char **why);

/* HMAC-SHA256(key->mac, digest): what an encrypted header holds. */
extern int	rvx_key_tag_digest(const RvxKey *key, const uint8_t digest[32], uint8_t out[32]);

/* The key check recorded in repo.json, as 64 hex digits + NUL. */
extern int	rvx_key_check_hex(const RvxKey *key, char out[65]);

/* Streaming AES-256-GCM. */
typedef struct RvxGcm RvxGcm;

/* encrypt: nonce is filled with fresh random bytes; decrypt: it is read. */
extern RvxGcm *rvx_gcm_new(const RvxKey *key, bool encrypt, uint8_t nonce[RVX_GCM_NONCE_LEN],
						   const uint8_t *aad, size_t aadlen);
/* out must hold len bytes. */
extern int	rvx_gcm_update(RvxGcm *g, const uint8_t *in, size_t len, uint8_t *out);
/* encrypt: writes the tag; decrypt: checks it (-1 if it does not match). */
extern int	rvx_gcm_final(RvxGcm *g, uint8_t tag[RVX_GCM_TAG_LEN]);
extern void rvx_gcm_free(RvxGcm *g);

#endif							/* RVX_CRYPTO_H */
