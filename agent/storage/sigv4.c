/*-------------------------------------------------------------------------
 *
 * sigv4.c
 *	  AWS Signature Version 4 (see sigv4.h for the contract).
 *
 * The four steps of the specification, each a function:
 *	1. canonical request: method, canonical URI, canonical query, canonical
 *	   headers, signed header names, payload hash, joined by newlines;
 *	2. string to sign: algorithm, timestamp, credential scope and the
 *	   SHA-256 of (1);
 *	3. signing key: HMAC chain "AWS4"+secret -> date -> region -> service ->
 *	   "aws4_request" (cached per date in the signer);
 *	4. signature: HMAC(key, (2)) in hex, put into the Authorization value.
 *
 * Canonical URI: this is the S3 flavour.  The path is encoded exactly once
 * and "." / ".." / "//" are left alone (S3 keys may contain them; the
 * generic AWS rules would normalize them away and sign another resource).
 *
 * Strings are built with a small growable buffer; every allocation failure
 * ends in a NULL result, never in a partial signature.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/strbuf.h"
#include "sha256.h"
#include "storage/sigv4.h"

#define SIGV4_ALGORITHM		"AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR	"aws4_request"

struct RvxSigV4
{
	char	   *access_key;
	char	   *secret_key;
	char	   *region;
	char	   *service;
	/* signing key derived for key_date ("" = none yet) */
	char		key_date[9];
	uint8_t		key[RVX_SHA256_LEN];
};

static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static void
buf_put_encoded(RvxStrBuf *b, const char *in, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) in; *p; p++)
	{
		if (is_unreserved(*p) || (keep_slash && *p == '/'))
			rvx_strbuf_putc(b, (char) *p);
		else
		{
			char		esc[3] = {'%', hex[*p >> 4], hex[*p & 0x0f]};

			rvx_strbuf_putn(b, esc, 3);
		}
	}
}

char *
rvx_sigv4_uri_encode(const char *in, bool keep_slash)
{
	RvxStrBuf	b = {0};

	buf_put_encoded(&b, in, keep_slash);
	return rvx_strbuf_finish(&b);
}

/* One query parameter, encoded, for sorting. */
typedef struct EncParam
{
	char	   *name;
	char	   *value;
} EncParam;

static int
encparam_cmp(const void *a, const void *b)
{
	const EncParam *pa = a;
	const EncParam *pb = b;
	int			c = strcmp(pa->name, pb->name);

	return c != 0 ? c : strcmp(pa->value, pb->value);
}

char *
rvx_sigv4_query_string(const RvxSigV4Param *query, int nquery, bool canonical)
{
	EncParam   *enc;
	RvxStrBuf	b = {0};
	bool		failed = false;

	if (nquery <= 0)
		return strdup("");
	enc = calloc(nquery, sizeof(EncParam));
	if (enc == NULL)
		return NULL;
	for (int i = 0; i < nquery; i++)
	{
		enc[i].name = rvx_sigv4_uri_encode(query[i].name, false);
		enc[i].value = rvx_sigv4_uri_encode(query[i].value ? query[i].value : "", false);
		if (enc[i].name == NULL || enc[i].value == NULL)
			failed = true;
	}
	if (!failed)
	{
		qsort(enc, nquery, sizeof(EncParam), encparam_cmp);
		for (int i = 0; i < nquery; i++)
		{
			if (i > 0)
				rvx_strbuf_putc(&b, '&');
			rvx_strbuf_puts(&b, enc[i].name);
			if (canonical || enc[i].value[0] != '\0')
			{
				rvx_strbuf_putc(&b, '=');
				rvx_strbuf_puts(&b, enc[i].value);
			}
		}
	}
	for (int i = 0; i < nquery; i++)
	{
		free(enc[i].name);
		free(enc[i].value);
	}
	free(enc);
	if (failed)
	{
		free(b.data);
		return NULL;
	}
	return rvx_strbuf_finish(&b);
}

/* A header in canonical form: lower-case name, trimmed value. */
typedef struct CanonHeader
{
	char	   *name;
	char	   *value;
	int			order;			/* position in the request, keeps duplicates in order */
} CanonHeader;

static int
canonheader_cmp(const void *a, const void *b)
{
	const CanonHeader *ha = a;
	const CanonHeader *hb = b;
	int			c = strcmp(ha->name, hb->name);

	return c != 0 ? c : ha->order - hb->order;
}

/* Lower-case copy of name. */
static char *
lower_dup(const char *s)
{
	char	   *out = strdup(s);

	if (out == NULL)
		return NULL;
	for (char *p = out; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	return out;
}

/* Value with leading/trailing blanks removed and inner runs of blanks squeezed. */
static char *
trim_dup(const char *s)
{
	char	   *out = malloc(strlen(s) + 1);
	char	   *o = out;
	bool		pending_space = false;

	if (out == NULL)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s; s++)
	{
		if (*s == ' ' || *s == '\t')
			pending_space = true;
		else
		{
			if (pending_space)
				*o++ = ' ';
			pending_space = false;
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

/*
 * Canonical headers block and signed header names of req, sorted by name;
 * a name given twice is signed once with its values joined by commas.
 */
static int
canonical_headers(const RvxSigV4Request *req, RvxStrBuf *block, RvxStrBuf *names)
{
	CanonHeader *h;
	int			n = req->nheaders;
	int			rc = 0;

	if (n <= 0)
		return 0;
	h = calloc(n, sizeof(CanonHeader));
	if (h == NULL)
		return -1;
	for (int i = 0; i < n; i++)
	{
		h[i].name = lower_dup(req->headers[i].name);
		h[i].value = trim_dup(req->headers[i].value ? req->headers[i].value : "");
		h[i].order = i;
		if (h[i].name == NULL || h[i].value == NULL)
			rc = -1;
	}
	if (rc == 0)
	{
		qsort(h, n, sizeof(CanonHeader), canonheader_cmp);
		for (int i = 0; i < n; i++)
		{
			bool		same_as_prev = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;

			if (same_as_prev)
			{
				rvx_strbuf_putc(block, ',');
				rvx_strbuf_puts(block, h[i].value);
				continue;
			}
			if (i > 0)
			{
				rvx_strbuf_putc(block, '\n');
				rvx_strbuf_putc(names, ';');
			}
			rvx_strbuf_puts(block, h[i].name);
			rvx_strbuf_putc(block, ':');
			rvx_strbuf_puts(block, h[i].value);
			rvx_strbuf_puts(names, h[i].name);
		}
		rvx_strbuf_putc(block, '\n');
	}
	for (int i = 0; i < n; i++)
	{
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	return rc;
}

/* Canonical request, and optionally the signed header names. */
static char *
build_canonical_request(const RvxSigV4Request *req, char **signed_names)
{
	RvxStrBuf	cr = {0};
	RvxStrBuf	block = {0};
	RvxStrBuf	names = {0};
	char	   *query;

	if (signed_names)
		*signed_names = NULL;
	query = rvx_sigv4_query_string(req->query, req->nquery, true);
	if (query == NULL || canonical_headers(req, &block, &names) != 0)
	{
		free(query);
		free(block.data);
		free(names.data);
		return NULL;
	}

	rvx_strbuf_puts(&cr, req->method);
	rvx_strbuf_putc(&cr, '\n');
	buf_put_encoded(&cr, req->path && req->path[0] ? req->path : "/", true);
	rvx_strbuf_putc(&cr, '\n');
	rvx_strbuf_puts(&cr, query);
	rvx_strbuf_putc(&cr, '\n');
	if (block.data)
		rvx_strbuf_puts(&cr, block.data);
	rvx_strbuf_putc(&cr, '\n');
	if (names.data)
		rvx_strbuf_puts(&cr, names.data);
	rvx_strbuf_putc(&cr, '\n');
	rvx_strbuf_puts(&cr, req->payload_hash ? req->payload_hash : RVX_SIGV4_EMPTY_SHA256);

	free(query);
	free(block.data);
	if (signed_names && !names.broken && !cr.broken)
		*signed_names = rvx_strbuf_finish(&names);
	else
		free(names.data);
	return rvx_strbuf_finish(&cr);
}

char *
rvx_sigv4_canonical_request(const RvxSigV4Request *req)
{
	return build_canonical_request(req, NULL);
}

static bool
valid_amz_date(const char *d)
{
	if (d == NULL || strlen(d) != RVX_SIGV4_DATE_LEN - 1 || d[8] != 'T' || d[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char) d[i]))
			return false;
	return true;
}

static char *
build_string_to_sign(const RvxSigV4 *signer, const RvxSigV4Request *req,
					 const char *canonical)
{
	uint8_t		digest[RVX_SHA256_LEN];
	char		hex[RVX_SHA256_HEXLEN + 1];
	RvxStrBuf	b = {0};

	if (rvx_sha256_buf(canonical, strlen(canonical), digest) != 0)
		return NULL;
	rvx_hex_encode(digest, sizeof(digest), hex);

	rvx_strbuf_puts(&b, SIGV4_ALGORITHM "\n");
	rvx_strbuf_puts(&b, req->amz_date);
	rvx_strbuf_putc(&b, '\n');
	rvx_strbuf_putn(&b, req->amz_date, 8);
	rvx_strbuf_putc(&b, '/');
	rvx_strbuf_puts(&b, signer->region);
	rvx_strbuf_putc(&b, '/');
	rvx_strbuf_puts(&b, signer->service);
	rvx_strbuf_puts(&b, "/" SIGV4_TERMINATOR "\n");
	rvx_strbuf_puts(&b, hex);
	return rvx_strbuf_finish(&b);
}

char *
rvx_sigv4_string_to_sign(const RvxSigV4 *signer, const RvxSigV4Request *req)
{
	char	   *canonical;
	char	   *sts;

	if (!valid_amz_date(req->amz_date))
		return NULL;
	canonical = rvx_sigv4_canonical_request(req);
	if (canonical == NULL)
		return NULL;
	sts = build_string_to_sign(signer, req, canonical);
	free(canonical);
	return sts;
}

static int
hmac_sha256(const void *key, size_t keylen, const char *msg, size_t msglen,
			uint8_t out[RVX_SHA256_LEN])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg, msglen,
			 out, &outlen) == NULL || outlen != RVX_SHA256_LEN)
		return -1;
	return 0;
}

/* Derives (or reuses) the signing key for date (YYYYMMDD). */
static int
signing_key(RvxSigV4 *signer, const char *date)
{
	size_t		seclen = strlen(signer->secret_key);
	char	   *k0;
	uint8_t		kdate[RVX_SHA256_LEN];
	uint8_t		kregion[RVX_SHA256_LEN];
	uint8_t		kservice[RVX_SHA256_LEN];
	int			rc;

	if (strncmp(signer->key_date, date, 8) == 0)
		return 0;
	signer->key_date[0] = '\0';

	k0 = malloc(seclen + 5);
	if (k0 == NULL)
		return -1;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, signer->secret_key, seclen + 1);
	rc = hmac_sha256(k0, seclen + 4, date, 8, kdate);
	OPENSSL_cleanse(k0, seclen + 5);
	free(k0);
	if (rc == 0)
		rc = hmac_sha256(kdate, sizeof(kdate), signer->region,
						 strlen(signer->region), kregion);
	if (rc == 0)
		rc = hmac_sha256(kregion, sizeof(kregion), signer->service,
						 strlen(signer->service), kservice);
	if (rc == 0)
		rc = hmac_sha256(kservice, sizeof(kservice), SIGV4_TERMINATOR,
						 strlen(SIGV4_TERMINATOR), signer->key);
	OPENSSL_cleanse(kdate, sizeof(kdate));
	OPENSSL_cleanse(kregion, sizeof(kregion));
	OPENSSL_cleanse(kservice, sizeof(kservice));
	if (rc != 0)
		return -1;
	memcpy(signer->key_date, date, 8);
	signer->key_date[8] = '\0';
	return 0;
}

char *
rvx_sigv4_authorization(RvxSigV4 *signer, const RvxSigV4Request *req)
{
	char	   *names = NULL;
	char	   *canonical;
	char	   *sts = NULL;
	uint8_t		sig[RVX_SHA256_LEN];
	char		sighex[RVX_SHA256_HEXLEN + 1];
	RvxStrBuf	b = {0};

	if (!valid_amz_date(req->amz_date))
		return NULL;
	canonical = build_canonical_request(req, &names);
	if (canonical != NULL && names != NULL)
		sts = build_string_to_sign(signer, req, canonical);
	free(canonical);
	if (sts == NULL || signing_key(signer, req->amz_date) != 0 ||
		hmac_sha256(signer->key, sizeof(signer->key), sts, strlen(sts), sig) != 0)
	{
		free(sts);
		free(names);
		return NULL;
	}
	free(sts);
	rvx_hex_encode(sig, sizeof(sig), sighex);

	rvx_strbuf_puts(&b, SIGV4_ALGORITHM " Credential=");
	rvx_strbuf_puts(&b, signer->access_key);
	rvx_strbuf_putc(&b, '/');
	rvx_strbuf_putn(&b, req->amz_date, 8);
	rvx_strbuf_putc(&b, '/');
	rvx_strbuf_puts(&b, signer->region);
	rvx_strbuf_putc(&b, '/');
	rvx_strbuf_puts(&b, signer->service);
	rvx_strbuf_puts(&b, "/" SIGV4_TERMINATOR ", SignedHeaders=");
	rvx_strbuf_puts(&b, names);
	rvx_strbuf_puts(&b, ", Signature=");
	rvx_strbuf_puts(&b, sighex);
	free(names);
	return rvx_strbuf_finish(&b);
}

void
rvx_sigv4_format_date(time_t t, char out[RVX_SIGV4_DATE_LEN])
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, RVX_SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm);
}

RvxSigV4 *
rvx_sigv4_new(const char *access_key, const char *secret_key,
			  const char *region, const char *service)
{
	RvxSigV4   *s = calloc(1, sizeof(RvxSigV4));

	if (s == NULL)
		return NULL;
	s->access_key = strdup(access_key ? access_key : "");
	s->secret_key = strdup(secret_key ? secret_key : "");
	s->region = strdup(region ? region : "");
	s->service = strdup(service ? service : "");
	if (!s->access_key || !s->secret_key || !s->region || !s->service)
	{
		rvx_sigv4_free(s);
		return NULL;
	}
	return s;
}

void
rvx_sigv4_free(RvxSigV4 *signer)
{
	if (signer == NULL)
		return;
	if (signer->secret_key)
		OPENSSL_cleanse(signer->secret_key, strlen(signer->secret_key));
	OPENSSL_cleanse(signer->key, sizeof(signer->key));
	free(signer->access_key);
	free(signer->secret_key);
	free(signer->region);
	free(signer->service);
	free(signer);
}
