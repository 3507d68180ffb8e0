/*-------------------------------------------------------------------------
 *
 * sigv4.h
 *	  AWS Signature Version 4, as a pure function of its inputs.
 *
 * Computes the Authorization header of a request from its method, path,
 * query parameters, headers and payload hash, following "Signature Version
 * 4 signing process" with S3's rules for the canonical URI: every path
 * segment is URI-encoded once (RFC 3986 unreserved characters kept, '/'
 * kept between segments), never normalized or encoded twice.
 *
 * Nothing here does I/O or reads the clock: the request time comes in as
 * the x-amz-date string, so fixed vectors (tests/unit/storage/test_sigv4.c) test
 * the whole computation.  The signing key depends only on the secret, the
 * date, the region and the service; a signer caches it for the last date
 * it saw, so a long-lived repository handle derives it once a day instead
 * of four HMACs per request.  A signer is used by one thread at a time.
 *
 * The encoders are exported so the caller builds the URL it sends from the
 * very strings that were signed; a URL encoded one way and signed another
 * is the classic cause of SignatureDoesNotMatch.
 *
 * Memory: functions returning char * return malloc'd strings (NULL when out
 * of memory) that the caller frees.  The secret is copied into the signer
 * and wiped when it is freed; it never appears in any output.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_SIGV4_H
#define RVX_AGENT_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* SHA-256 of the empty string: the payload hash of a bodiless request. */
#define RVX_SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* "YYYYMMDDTHHMMSSZ" plus NUL */
#define RVX_SIGV4_DATE_LEN	17

/* A query parameter, not encoded; value "" for a bare name ("?uploads"). */
typedef struct RvxSigV4Param
{
	const char *name;
	const char *value;
} RvxSigV4Param;

/* A header to sign; name in any case, value as sent. */
typedef struct RvxSigV4Header
{
	const char *name;
	const char *value;
} RvxSigV4Header;

typedef struct RvxSigV4Request
{
	const char *method;			/* "GET", "PUT", ... */
	const char *path;			/* not encoded, starts with '/' */
	const RvxSigV4Param *query;
	int			nquery;
	/* every header to sign, including host and x-amz-date */
	const RvxSigV4Header *headers;
	int			nheaders;
	const char *payload_hash;	/* lower-case hex, or "UNSIGNED-PAYLOAD" */
	const char *amz_date;		/* the x-amz-date value, YYYYMMDDTHHMMSSZ */
} RvxSigV4Request;

typedef struct RvxSigV4 RvxSigV4;

/* A signer for one set of credentials, region and service ("s3"). */
extern RvxSigV4 *rvx_sigv4_new(const char *access_key, const char *secret_key,
							   const char *region, const char *service);
extern void rvx_sigv4_free(RvxSigV4 *signer);

/*
 * The value of the Authorization header for req:
 *	"AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
 *	 SignedHeaders=<names>, Signature=<hex>"
 * NULL when out of memory or when req is malformed (no amz_date).
 */
extern char *rvx_sigv4_authorization(RvxSigV4 *signer, const RvxSigV4Request *req);

/* The intermediate strings, for tests and for debugging a refusal. */
extern char *rvx_sigv4_canonical_request(const RvxSigV4Request *req);
extern char *rvx_sigv4_string_to_sign(const RvxSigV4 *signer, const RvxSigV4Request *req);

/* Formats t (UTC) as an x-amz-date value into out. */
extern void rvx_sigv4_format_date(time_t t, char out[RVX_SIGV4_DATE_LEN]);

/*
 * URI-encodes in: bytes other than A-Z a-z 0-9 - . _ ~ become %XX (upper
 * case hex); '/' is kept when keep_slash.  Paths use keep_slash = true,
 * query names and values false.
 */
extern char *rvx_sigv4_uri_encode(const char *in, bool keep_slash);

/*
 * The query parameters encoded and sorted as the canonical request wants
 * them ("a=1&uploads=").  With canonical = false a parameter whose value
 * is "" is written as a bare name ("uploads"), which is what S3's own
 * clients put in URLs; both forms sign the same.  "" when nquery is 0.
 */
extern char *rvx_sigv4_query_string(const RvxSigV4Param *query, int nquery,
									bool canonical);

#endif							/* RVX_AGENT_SIGV4_H */
