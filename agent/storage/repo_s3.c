/*-------------------------------------------------------------------------
 *
 * repo_s3.c
 *	  Repository driver for S3 and S3-compatible object stores.
 *
 * Implements the operations of repo.h over the S3 REST API, signed with
 * AWS Signature Version 4 (sigv4.c), sent with libcurl (http.c), answers
 * read with libxml2 (s3_xml.c).  The repository "s3://bucket/prefix" keeps
 * key K as the object "prefix/K" ("K" when the prefix is empty).
 *
 * Addressing: the endpoint is cfg->s3_endpoint (http:// or https://, with
 * an optional port) or https://s3.<region>.amazonaws.com; requests go to
 * http(s)://endpoint/bucket/key when cfg->s3_path_style, else to
 * http(s)://bucket.endpoint/key.
 *
 * How each promise of repo.h is kept:
 *	- put is atomic: S3 publishes an object only when a PutObject or a
 *	  CompleteMultipartUpload succeeds.  Up to 64 MiB one PutObject is
 *	  sent; larger objects go up in parts of 16 MiB (more when 10,000 parts
 *	  would not do), and a failed multipart upload is aborted so that no
 *	  parts are left behind (best effort: a server that refuses the abort
 *	  leaves them to the bucket's lifecycle rules).
 *	- Every body is protected end to end: its SHA-256 is signed
 *	  (x-amz-content-sha256) and its MD5 sent as Content-MD5, both computed
 *	  by reading the source once before sending it, so S3 refuses bytes that
 *	  changed in transit, or in the source between the two reads.
 *	- RVX_PUT_OBJECT_LOCK (audit records) adds S3 Object Lock retention
 *	  when cfg->s3_object_lock_days > 0: x-amz-object-lock-mode (COMPLIANCE
 *	  or GOVERNANCE) and x-amz-object-lock-retain-until-date, signed, on the
 *	  PutObject (or the CreateMultipartUpload).  S3 requires Content-MD5 on
 *	  such a PutObject, which every body carries anyway (above).  The date
 *	  is the UTC midnight after now + days: at least the days asked for,
 *	  and the same value for every record of a day.  The bucket must have
 *	  been created with Object Lock enabled, or S3 refuses the PUT
 *	  (InvalidRequest), and the record is not written.
 *	- RVX_PUT_NO_OVERWRITE is not atomic here: we HEAD the key first and
 *	  fail with RVX_E_CONFLICT if it exists, but another writer may store the
 *	  same key between our HEAD and our PUT, and the later PUT wins.
 *	  Callers that may race (info/store.c) compare content afterwards.
 *	- get checks what it receives before passing it on: the status (206 for
 *	  a range, 200 otherwise), Content-Range and Content-Length must describe
 *	  exactly the bytes asked for, and exactly that many must arrive; a
 *	  range reaching past the end of the object fails with RVX_E_CORRUPT.
 *	  A transfer cut short is resumed from the first byte not yet passed to
 *	  the sink, with If-Match on the object's ETag, so a resumed read never
 *	  splices two versions of an object together.
 *	- list uses ListObjectsV2 page by page; S3 lists in byte order, and we
 *	  check that it did (a server that repeats or reorders keys is caught).
 *	- Transient failures are retried here: transport errors and timeouts,
 *	  HTTP 408, 429 and 5xx, S3's "RequestTimeout"/"SlowDown"-style codes,
 *	  digest mismatches, and a CompleteMultipartUpload that answers 200 with
 *	  an <Error> body.  Up to cfg->retries further attempts, each re-signed,
 *	  after exponential backoff with full jitter (100 ms doubling to 5 s).
 *	  Authentication and configuration errors are never retried.
 *
 * Errors say what failed, where, and what S3 said:
 *	could not store "wal/..." in s3://bkt/prefix: HTTP 403 SignatureDoesNotMatch: <S3's message>
 * They never contain a secret: no header value, no signature, no session
 * token is ever copied into a message or a log line (requests are logged
 * by method and key only).
 *
 * Credentials come from a provider (credentials.h), asked again before
 * each request: each attempt and each part is signed with the set current
 * when it is sent, so a refresh never breaks an upload in flight, and a
 * provider that has no valid set makes the attempt fail like a network
 * error (retried) or an access error (not retried), with its reason.
 *
 * Threads: a handle belongs to one thread at a time; it owns one signer
 * (caching the signing key per day, made again when the credentials
 * change) and one libcurl handle whose connection is kept alive between
 * requests.  The provider is shared between handles and thread-safe.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "sha256.h"
#include "storage/credentials.h"
#include "storage/http.h"
#include "storage/repo.h"
#include "storage/s3_xml.h"
#include "storage/sigv4.h"

#define MiB					((uint64_t) 1024 * 1024)
#define S3_SINGLE_PUT_MAX	(64 * MiB)
#define S3_PART_SIZE		(16 * MiB)
#define S3_MAX_PARTS		10000
#define S3_MAX_KEY_LEN		1024
#define S3_DIGEST_CHUNK		(256 * 1024)
#define S3_LIST_MAX_BODY	(16 * 1024 * 1024)
#define S3_SMALL_MAX_BODY	(1024 * 1024)
#define S3_MD5_B64_LEN		25	/* base64 of 16 bytes, plus NUL */

typedef struct S3Repo
{
	char	   *bucket;
	char	   *prefix;			/* "" or "a/b": no leading or trailing '/' */
	const char *scheme;			/* "http" or "https" */
	char	   *endpoint;		/* host[:port] of the service */
	char	   *host;			/* what requests go to: endpoint or bucket.endpoint */
	bool		path_style;
	char	   *sse;			/* NULL, "AES256" or "aws:kms" */
	char	   *kms_key_id;
	int			lock_days;		/* S3 Object Lock for RVX_PUT_OBJECT_LOCK; 0 = off */
	char	   *lock_mode;		/* "COMPLIANCE" or "GOVERNANCE" */
	int			retries;
	char	   *region;
	RvxCredentials *creds;
	bool		own_creds;		/* made for this handle from static keys */
	RvxSigV4   *signer;			/* for the set of generation signer_gen */
	uint64_t	signer_gen;
	uint64_t	sent_gen;		/* the set the last s3_send signed with */
	bool		sent_head;		/* the last s3_send was a HEAD */
	bool		blind_retried;	/* this s3_call retried a body-less refusal already */
	bool		creds_failed;	/* the last s3_send had no credentials: why */
	RvxError	creds_err;
	RvxHttp    *http;
	uint64_t	rng;			/* backoff jitter state */
} S3Repo;

/* One S3 request, before signing. */
typedef struct S3Call
{
	const char *method;
	const char *object;			/* full object name (with prefix); NULL = bucket */
	RvxSigV4Param query[4];
	int			nquery;
	const char *payload_hash;	/* NULL = no body */
	const char *content_md5;
	const char *content_type;
	bool		sse;			/* send the server-side encryption headers */
	const char *lock_until;		/* object lock retain-until date; NULL = no lock */
	const char *range;			/* "a-b" or "a-" */
	const char *if_match;
	/* body, as in RvxHttpRequest */
	const RvxPutSource *src;
	uint64_t	src_offset;
	uint64_t	body_len;
	const char *buf;
	/* response body */
	RvxGetSink	sink;
	void	   *sink_arg;
	size_t		max_buffer;
} S3Call;

/*
 * Checks a 2xx response beyond its status; returns 0 if it is good, or -1
 * with err set and *transient telling whether another attempt may help.
 */
typedef int (*S3Check) (S3Repo *s3, void *arg, RvxHttpResponse *resp,
						const char *what, RvxError *err, bool *transient);

static const RvxRepoOps s3_ops;

/* whether the warning about TLS verification being off was given */
static bool tls_warned = false;

/* ------------------------------------------------------------- helpers */

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static char *
dup_or_null(const char *s)
{
	return (s && s[0]) ? strdup(s) : NULL;
}

/*
 * The object name for repository key "key", checked: keys are relative
 * names made of non-empty segments, none "." or "..", no control
 * characters (the posix driver could not store anything else, and S3 keys
 * that differ only there would be a trap).
 */
static char *
s3_object_name(S3Repo *s3, const char *key, const char *display, RvxError *err)
{
	size_t		len;
	char	   *out;
	const char *seg = key;

	if (key == NULL || key[0] == '\0')
	{
		rvx_error(err, RVX_E_INTERNAL, "empty object key for %s", display);
		return NULL;
	}
	for (const char *p = key;; p++)
	{
		if (*p == '/' || *p == '\0')
		{
			size_t		seglen = p - seg;

			if (seglen == 0 || (seglen == 1 && seg[0] == '.') ||
				(seglen == 2 && seg[0] == '.' && seg[1] == '.'))
			{
				rvx_error(err, RVX_E_INTERNAL, "invalid object key \"%s\" for %s", key, display);
				return NULL;
			}
			if (*p == '\0')
				break;
			seg = p + 1;
		}
		else if ((unsigned char) *p < 0x20 || *p == 0x7f)
		{
			rvx_error(err, RVX_E_INTERNAL, "invalid object key \"%s\" for %s", key, display);
			return NULL;
		}
	}

	len = strlen(s3->prefix) + 1 + strlen(key);
	if (len > S3_MAX_KEY_LEN)
	{
		rvx_error(err, RVX_E_INTERNAL, "object key \"%s\" is too long for %s", key, display);
		return NULL;
	}
	out = malloc(len + 1);
	if (out == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		return NULL;
	}
	out[0] = '\0';
	if (s3->prefix[0])
	{
		strcpy(out, s3->prefix);
		strcat(out, "/");
	}
	strcat(out, key);
	return out;
}

/*
 * Reads [offset, offset + len) of src once, computing the SHA-256 (hex)
 * and MD5 (base64) that will be sent with it.
 */
static int
s3_digest(const RvxPutSource *src, uint64_t offset, uint64_t len,
		  char sha_hex[RVX_SHA256_HEXLEN + 1], char md5_b64[S3_MD5_B64_LEN],
		  const char *what, RvxError *err)
{
	RvxSha256  *sha = rvx_sha256_new();
	EVP_MD_CTX *md5 = EVP_MD_CTX_new();
	char	   *buf = malloc(S3_DIGEST_CHUNK);
	uint8_t		digest[RVX_SHA256_LEN];
	unsigned char md5sum[EVP_MAX_MD_SIZE];
	unsigned int md5len = 0;
	uint64_t	done = 0;
	int			rc = -1;

	if (sha == NULL || md5 == NULL || buf == NULL ||
		EVP_DigestInit_ex(md5, EVP_md5(), NULL) != 1)
	{
		rvx_error(err, RVX_E_INTERNAL, "%s: could not set up checksums", what);
		goto done;
	}
	while (done < len)
	{
		size_t		want = len - done < S3_DIGEST_CHUNK ? (size_t) (len - done) : S3_DIGEST_CHUNK;
		ssize_t		got = src->pread(src->arg, buf, want, offset + done);

		if (got < 0)
		{
			rvx_error(err, RVX_E_IO, "%s: could not read the data: %s", what, strerror(errno));
			goto done;
		}
		if (got == 0)
		{
			rvx_error(err, RVX_E_IO,
					  "%s: the data ended after %" PRIu64 " of %" PRIu64 " bytes (did it change while being stored?)",
					  what, offset + done, offset + len);
			goto done;
		}
		if (rvx_sha256_update(sha, buf, (size_t) got) != 0 ||
			EVP_DigestUpdate(md5, buf, (size_t) got) != 1)
		{
			rvx_error(err, RVX_E_INTERNAL, "%s: checksum computation failed", what);
			goto done;
		}
		done += (uint64_t) got;
	}
	if (rvx_sha256_final(sha, digest) != 0 ||
		EVP_DigestFinal_ex(md5, md5sum, &md5len) != 1 || md5len != 16)
	{
		rvx_error(err, RVX_E_INTERNAL, "%s: checksum computation failed", what);
		goto done;
	}
	rvx_hex_encode(digest, sizeof(digest), sha_hex);
	EVP_EncodeBlock((unsigned char *) md5_b64, md5sum, 16);
	rc = 0;

done:
	rvx_sha256_free(sha);
	EVP_MD_CTX_free(md5);
	free(buf);
	return rc;
}

/* --------------------------------------------------------- one request */

/*
 * Signs and performs one request.  Returns what rvx_http_perform returns;
 * a failure to build the request (out of memory) comes back as a transport
 * failure with CURLE_OUT_OF_MEMORY, which is not retried.
 */
static int
s3_send(S3Repo *s3, const S3Call *call, RvxHttpResponse *resp)
{
	char		amz_date[RVX_SIGV4_DATE_LEN];
	char	   *path = NULL;
	char	   *enc_path = NULL;
	char	   *query = NULL;
	char	   *url = NULL;
	char	   *auth = NULL;
	char		range_value[64];
	RvxSigV4Header sh[12];
	int			nsh = 0;
	const char *lines[14];
	char	   *owned[14];
	int			nlines = 0;
	const char *payload_hash = call->payload_hash ? call->payload_hash : RVX_SIGV4_EMPTY_SHA256;
	RvxSigV4Request sreq;
	RvxHttpRequest hreq;
	size_t		len;
	int			rc = -1;
	RvxCreds   *creds;

	/* the set current now signs this attempt from start to end */
	s3->creds_failed = false;
	creds = rvx_credentials_get(s3->creds, &s3->creds_err);
	if (creds == NULL)
	{
		memset(resp, 0, sizeof(*resp));
		s3->creds_failed = true;
		return -1;
	}
	if (s3->signer == NULL || s3->signer_gen != creds->generation)
	{
		rvx_sigv4_free(s3->signer);
		s3->signer = rvx_sigv4_new(creds->access_key, creds->secret_key, s3->region, "s3");
		s3->signer_gen = creds->generation;
		if (s3->signer == NULL)
			goto oom;
	}
	s3->sent_gen = creds->generation;
	s3->sent_head = strcmp(call->method, "HEAD") == 0;

	rvx_sigv4_format_date(time(NULL), amz_date);

	/* the path as S3 sees it; encoded once, and signed as sent */
	len = strlen(s3->bucket) + (call->object ? strlen(call->object) : 0) + 3;
	path = malloc(len);
	if (path == NULL)
		goto oom;
	if (s3->path_style)
		snprintf(path, len, "/%s%s%s", s3->bucket, call->object ? "/" : "",
				 call->object ? call->object : "");
	else
		snprintf(path, len, "/%s", call->object ? call->object : "");
	enc_path = rvx_sigv4_uri_encode(path, true);
	query = rvx_sigv4_query_string(call->query, call->nquery, false);
	if (enc_path == NULL || query == NULL)
		goto oom;
	len = strlen(s3->scheme) + 3 + strlen(s3->host) + strlen(enc_path) + 1 + strlen(query) + 1;
	url = malloc(len);
	if (url == NULL)
		goto oom;
	snprintf(url, len, "%s://%s%s%s%s", s3->scheme, s3->host, enc_path,
			 query[0] ? "?" : "", query);

	/* headers to sign: everything we send but Content-Type and Expect */
	sh[nsh++] = (RvxSigV4Header) {"host", s3->host};
	sh[nsh++] = (RvxSigV4Header) {"x-amz-date", amz_date};
	sh[nsh++] = (RvxSigV4Header) {"x-amz-content-sha256", payload_hash};
	if (creds->session_token)
		sh[nsh++] = (RvxSigV4Header) {"x-amz-security-token", creds->session_token};
	if (call->content_md5)
		sh[nsh++] = (RvxSigV4Header) {"content-md5", call->content_md5};
	if (call->sse && s3->sse)
	{
		sh[nsh++] = (RvxSigV4Header) {"x-amz-server-side-encryption", s3->sse};
		if (s3->kms_key_id && strcmp(s3->sse, "aws:kms") == 0)
			sh[nsh++] = (RvxSigV4Header) {"x-amz-server-side-encryption-aws-kms-key-id", s3->kms_key_id};
	}
	if (call->lock_until)
	{
		sh[nsh++] = (RvxSigV4Header) {"x-amz-object-lock-mode", s3->lock_mode};
		sh[nsh++] = (RvxSigV4Header) {"x-amz-object-lock-retain-until-date", call->lock_until};
	}
	if (call->range)
	{
		/* http.c sends it as "Range: bytes=<range>" */
		snprintf(range_value, sizeof(range_value), "bytes=%s", call->range);
		sh[nsh++] = (RvxSigV4Header) {"range", range_value};
	}
	if (call->if_match)
		sh[nsh++] = (RvxSigV4Header) {"if-match", call->if_match};

	sreq = (RvxSigV4Request) {
		.method = call->method,
		.path = path,
		.query = call->query,
		.nquery = call->nquery,
		.headers = sh,
		.nheaders = nsh,
		.payload_hash = payload_hash,
		.amz_date = amz_date,
	};
	auth = rvx_sigv4_authorization(s3->signer, &sreq);
	if (auth == NULL)
		goto oom;

	/* the header lines: every signed one (but Range) as signed, then the rest */
	for (int i = 0; i < nsh; i++)
	{
		char	   *line;

		if (strcmp(sh[i].name, "range") == 0)
			continue;
		len = strlen(sh[i].name) + 2 + strlen(sh[i].value) + 1;
		line = malloc(len);
		if (line == NULL)
			goto oom;
		snprintf(line, len, "%s: %s", sh[i].name, sh[i].value);
		owned[nlines] = line;
		lines[nlines++] = line;
	}
	if (call->content_type)
	{
		len = strlen(call->content_type) + 15;
		owned[nlines] = malloc(len);
		if (owned[nlines] == NULL)
			goto oom;
		snprintf(owned[nlines], len, "Content-Type: %s", call->content_type);
		lines[nlines] = owned[nlines];
		nlines++;
	}
	len = strlen(auth) + 16;
	owned[nlines] = malloc(len);
	if (owned[nlines] == NULL)
		goto oom;
	snprintf(owned[nlines], len, "Authorization: %s", auth);
	lines[nlines] = owned[nlines];
	nlines++;

	hreq = (RvxHttpRequest) {
		.method = call->method,
		.url = url,
		.headers = lines,
		.nheaders = nlines,
		.src = call->src,
		.src_offset = call->src_offset,
		.body_len = call->body_len,
		.buf = call->buf,
		.range = call->range,
		.sink = call->sink,
		.sink_arg = call->sink_arg,
		.max_buffer = call->max_buffer,
	};
	rc = rvx_http_perform(s3->http, &hreq, resp);
	rvx_debug("s3 %s %s%s%s: %s%ld", call->method, call->object ? call->object : s3->bucket,
			  query[0] ? "?" : "", query, rc == 0 ? "HTTP " : "transport failure, HTTP ",
			  resp->status);
	goto done;

oom:
	memset(resp, 0, sizeof(*resp));
	resp->curl_code = CURLE_OUT_OF_MEMORY;
	snprintf(resp->curl_error, sizeof(resp->curl_error), "out of memory");
	rc = -1;
done:
	for (int i = 0; i < nlines; i++)
	{
		/* the Authorization line is a secret of sorts: wipe it */
		memset(owned[i], 0, strlen(owned[i]));
		free(owned[i]);
	}
	free(auth);
	free(url);
	free(query);
	free(enc_path);
	free(path);
	rvx_creds_release(creds);
	return rc;
}

/* ---------------------------------------------------- judging outcomes */

static bool
code_is(const char *code, const char *name)
{
	return code != NULL && strcmp(code, name) == 0;
}

/*
 * What an S3 error code means for us, if we know the code; returns false
 * for codes we have no special knowledge of.
 */
static bool
classify_code(const char *code, RvxErrorCode *out, bool *transient)
{
	static const char *const auth_codes[] = {
		"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
		"ExpiredToken", "InvalidToken", "TokenRefreshRequired",
		"RequestTimeTooSkewed", "AllAccessDisabled", "AccountProblem",
		"InvalidSecurity", "InvalidObjectState", NULL
	};
	static const char *const config_codes[] = {
		"NoSuchBucket", "PermanentRedirect", "TemporaryRedirect",
		"AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
		"InvalidBucketName", "InvalidEncryptionAlgorithmError",
		"KMS.DisabledException", "KMS.NotFoundException", NULL
	};
	static const char *const transient_codes[] = {
		"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable",
		"OperationAborted", "RequestTimeoutException", NULL
	};

	*transient = false;
	if (code == NULL || code[0] == '\0')
		return false;
	for (int i = 0; auth_codes[i]; i++)
		if (strcmp(code, auth_codes[i]) == 0)
			return (*out = RVX_E_AUTH, true);
	for (int i = 0; config_codes[i]; i++)
		if (strcmp(code, config_codes[i]) == 0)
			return (*out = RVX_E_CONFIG, true);
	for (int i = 0; transient_codes[i]; i++)
		if (strcmp(code, transient_codes[i]) == 0)
		{
			*transient = true;
			return (*out = RVX_E_NETWORK, true);
		}
	/* the body did not arrive as sent: another attempt resends it */
	if (code_is(code, "BadDigest") || code_is(code, "XAmzContentSHA256Mismatch") ||
		code_is(code, "IncompleteBody"))
	{
		*transient = true;
		return (*out = RVX_E_CORRUPT, true);
	}
	if (code_is(code, "NoSuchKey") || code_is(code, "NoSuchUpload"))
		return (*out = RVX_E_NOTFOUND, true);
	if (code_is(code, "PreconditionFailed"))
		return (*out = RVX_E_CONFLICT, true);
	if (code_is(code, "InvalidRange"))
		return (*out = RVX_E_CORRUPT, true);
	return false;
}

static RvxErrorCode
classify_status(long status, const char *code, bool *transient)
{
	RvxErrorCode rc;

	*transient = false;
	if (status == 501)
		return RVX_E_PROTOCOL;	/* NotImplemented: retrying will not help */
	if (status == 408 || status == 429 || status >= 500)
	{
		*transient = true;
		return RVX_E_NETWORK;
	}
	if (classify_code(code, &rc, transient))
		return rc;
	switch (status)
	{
		case 401:
		case 403:
			return RVX_E_AUTH;
		case 404:
			return RVX_E_NOTFOUND;
		case 301:
		case 307:
			return RVX_E_CONFIG;
		case 409:
		case 412:
			return RVX_E_CONFLICT;
		case 416:
			return RVX_E_CORRUPT;
		default:
			return RVX_E_PROTOCOL;
	}
}

static const char *
status_text(long status)
{
	switch (status)
	{
		case 400:
			return "Bad Request";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 408:
			return "Request Timeout";
		case 409:
			return "Conflict";
		case 412:
			return "Precondition Failed";
		case 416:
			return "Range Not Satisfiable";
		case 429:
			return "Too Many Requests";
		case 500:
			return "Internal Server Error";
		case 501:
			return "Not Implemented";
		case 502:
			return "Bad Gateway";
		case 503:
			return "Service Unavailable";
		case 504:
			return "Gateway Timeout";
		default:
			return "";
	}
}

/*
 * Fills err for an attempt that failed (rc -1, or a status outside 2xx)
 * and returns whether another attempt may succeed.  what is "could not
 * <verb> "<key>" in <repository>".
 */
static bool
s3_judge(S3Repo *s3, int rc, const RvxHttpResponse *resp, const char *what, RvxError *err)
{
	bool		transient = false;

	if (rc != 0)
	{
		RvxErrorCode code;

		if (s3->creds_failed)
		{
			/* the provider retries on its own schedule; a network failure may pass */
			rvx_error(err, s3->creds_err.code, "%s: %s", what, s3->creds_err.msg);
			return s3->creds_err.code == RVX_E_NETWORK;
		}
		if (resp->source_failed)
		{
			if (resp->source_errno != 0)
				rvx_error(err, RVX_E_IO, "%s: could not read the data: %s", what,
						  strerror(resp->source_errno));
			else
				rvx_error(err, RVX_E_IO,
						  "%s: the data ended early (did it change while being stored?)", what);
			return false;
		}
		if (resp->sink_failed)
		{
			rvx_error(err, RVX_E_IO, "%s: the receiver of the data gave up", what);
			return false;
		}
		code = rvx_http_curl_error(resp->curl_code, &transient);
		rvx_error(err, code, "%s: %s", what, resp->curl_error);
		return transient;
	}
	else
	{
		RvxS3Error s3err;
		bool		have = rvx_s3_xml_error(resp->body, resp->body_len, &s3err);
		RvxErrorCode code = classify_status(resp->status, have ? s3err.code : NULL, &transient);

		bool		blind = false;

		/* temporary credentials S3 calls expired: new ones may be fetched */
		if (have && (code_is(s3err.code, "ExpiredToken") || code_is(s3err.code, "TokenRefreshRequired")))
			transient = rvx_credentials_expired(s3->creds, s3->sent_gen);

		/*
		 * The answer to a HEAD has no body, so an ExpiredToken looks like
		 * any 400/403.  With temporary credentials, retire the set and try
		 * once more (once per call, so a real refusal is not retried over
		 * and over; the provider also limits how often it believes this).
		 */
		else if (!have && s3->sent_head && (resp->status == 400 || resp->status == 403) &&
				 !s3->blind_retried && rvx_credentials_source(s3->creds) != RVX_CRED_STATIC)
		{
			s3->blind_retried = true;
			blind = transient = rvx_credentials_maybe_expired(s3->creds, s3->sent_gen);
		}

		if (have && s3err.code[0])
			rvx_error(err, code, "%s: HTTP %ld %s%s%s", what, resp->status, s3err.code,
					  s3err.message[0] ? ": " : "", s3err.message);
		else
		{
			const char *text = status_text(resp->status);

			rvx_error(err, code, "%s: HTTP %ld%s%s%s", what, resp->status,
					  text[0] ? " " : "", text,
					  blind ? " (no reason given: the credentials may have expired; trying new ones)" : "");
		}
		return transient;
	}
}

/*
 * Decides whether to try again after attempt number attempt (0-based)
 * failed: if so, logs the failure, waits, and returns true.  If not, says
 * in err how many attempts were made.
 */
static bool
s3_retry_wait(S3Repo *s3, int attempt, bool transient, RvxError *err)
{
	int			delay;

	if (transient && attempt < s3->retries)
	{
		delay = rvx_http_backoff_ms(attempt, &s3->rng);
		if (err)
			rvx_warn("%s; retrying in %d ms (attempt %d of %d)", err->msg, delay,
					 attempt + 2, s3->retries + 1);
		sleep_ms(delay);
		return true;
	}
	if (transient && attempt > 0 && err)
	{
		size_t		used = strlen(err->msg);

		snprintf(err->msg + used, sizeof(err->msg) - used, " (gave up after %d attempts)",
				 attempt + 1);
	}
	return false;
}

/*
 * Performs call with retries.  Returns 0 with resp holding a 2xx response
 * that passed check, or -1 with err set; resp then holds the last response
 * (for callers to whom a 404 is an answer).  The caller frees resp.
 * *attempts (if not NULL) is set to the number of requests sent.
 */
static int
s3_call(S3Repo *s3, const S3Call *call, S3Check check, void *check_arg,
		const char *what, RvxHttpResponse *resp, int *attempts, RvxError *err)
{
	s3->blind_retried = false;
	for (int attempt = 0;; attempt++)
	{
		int			rc = s3_send(s3, call, resp);
		bool		transient;

		if (attempts)
			*attempts = attempt + 1;

		if (rc == 0 && resp->status >= 200 && resp->status < 300)
		{
			if (check == NULL || check(s3, check_arg, resp, what, err, &transient) == 0)
				return 0;
		}
		else
			transient = s3_judge(s3, rc, resp, what, err);
		if (!s3_retry_wait(s3, attempt, transient, err))
			return -1;
		rvx_http_response_free(resp);
	}
}

/*
 * The start of every operation on one key: the object's full name for
 * s3_call, or NULL with err set when the key is refused, and what failing
 * is called in its messages, "could not <doing> \"<key>\" <where>".  The
 * caller frees the name.
 */
static char *
s3_key_object(RvxRepo *repo, const char *key, const char *doing, const char *where,
			char *what, size_t what_size, RvxError *err)
{
	char	   *object = s3_object_name(repo->priv, key, repo->display, err);

	if (object)
		snprintf(what, what_size, "could not %s \"%s\" %s %s", doing, key, where, repo->display);
	return object;
}

/*
 * Runs call; an answer that the object does not exist (RVX_E_NOTFOUND) is
 * returned as 0 without touching err.  Otherwise as s3_call, with resp
 * freed.  Returns 1 for a 2xx response, 0 for "not found", -1 on failure;
 * on 1 the caller may read *resp and frees it.
 */
static int
s3_call_or_missing(S3Repo *s3, const S3Call *call, const char *what, RvxHttpResponse *resp,
				   RvxError *err)
{
	RvxError	local;

	if (s3_call(s3, call, NULL, NULL, what, resp, NULL, &local) == 0)
		return 1;
	rvx_http_response_free(resp);
	if (local.code == RVX_E_NOTFOUND)
		return 0;
	if (err)
		*err = local;
	return -1;
}

/* ---------------------------------------------------------------- head */

static int
s3_head_internal(S3Repo *s3, const char *object, const char *what,
				 RvxObjectInfo *info, RvxError *err)
{
	S3Call		call = {.method = "HEAD", .object = object};
	RvxHttpResponse resp;
	int			rc;

	rc = s3_call_or_missing(s3, &call, what, &resp, err);
	if (rc != 1)
		return rc;
	if (!resp.has_length)
		rc = rvx_error(err, RVX_E_PROTOCOL, "%s: no Content-Length in the answer", what);
	else if (info)
	{
		info->size = resp.content_length;
		info->mtime = resp.last_modified;
	}
	rvx_http_response_free(&resp);
	return rc;
}

static int
s3_head(RvxRepo *repo, const char *key, RvxObjectInfo *info, RvxError *err)
{
	char		what[768];
	char	   *object = s3_key_object(repo, key, "look up", "in", what, sizeof(what), err);
	int			rc;

	if (object == NULL)
		return -1;
	rc = s3_head_internal(repo->priv, object, what, info, err);
	free(object);
	return rc;
}

/* ----------------------------------------------------------------- put */

static int
s3_put_single(S3Repo *s3, const char *object, const RvxPutSource *src,
			  const char *lock_until, const char *what, RvxError *err)
{
	char		sha[RVX_SHA256_HEXLEN + 1];
	char		md5[S3_MD5_B64_LEN];
	S3Call		call;
	RvxHttpResponse resp;
	int			rc;

	if (s3_digest(src, 0, src->size, sha, md5, what, err) != 0)
		return -1;
	call = (S3Call) {
		.method = "PUT",
		.object = object,
		.payload_hash = sha,
		.content_md5 = md5,
		.content_type = "application/octet-stream",
		.sse = true,
		.lock_until = lock_until,
		.src = src,
		.src_offset = 0,
		.body_len = src->size,
		.max_buffer = S3_SMALL_MAX_BODY,
	};
	rc = s3_call(s3, &call, NULL, NULL, what, &resp, NULL, err);
	rvx_http_response_free(&resp);
	return rc;
}

/* check for UploadPart: the ETag names the part in the completion */
static int
check_part_etag(S3Repo *s3, void *arg, RvxHttpResponse *resp, const char *what,
				RvxError *err, bool *transient)
{
	*transient = false;
	if (resp->etag[0] == '\0')
		return rvx_error(err, RVX_E_PROTOCOL, "%s: no ETag in the answer to a part upload", what);
	return 0;
}

/*
 * check for CompleteMultipartUpload: S3 sends "200 OK" before it knows
 * whether the completion works, so failure arrives as an <Error> body.
 */
static int
check_complete(S3Repo *s3, void *arg, RvxHttpResponse *resp, const char *what,
			   RvxError *err, bool *transient)
{
	RvxS3Error s3err;
	RvxErrorCode code;
	int			rc;

	*transient = false;
	rc = rvx_s3_xml_complete(resp->body, resp->body_len, &s3err, err);
	if (rc == 0)
		return 0;
	if (rc < 0)
	{
		rvx_error_prefix(err, "%s", what);
		return -1;
	}
	if (!classify_code(s3err.code, &code, transient))
	{
		/* unknown code in a 200: S3 documents these as retryable */
		code = RVX_E_NETWORK;
		*transient = true;
	}
	return rvx_error(err, code, "%s: HTTP %ld with error %s%s%s", what, resp->status,
					 s3err.code[0] ? s3err.code : "(no code)",
					 s3err.message[0] ? ": " : "", s3err.message);
}

/* Best-effort AbortMultipartUpload: the parts cost money if left behind. */
static void
s3_abort_upload(S3Repo *s3, const char *object, const char *upload_id, const char *key,
				const char *display)
{
	S3Call		call = {
		.method = "DELETE", .object = object,
		.query = {{"uploadId", upload_id}}, .nquery = 1,
		.max_buffer = S3_SMALL_MAX_BODY,
	};
	RvxHttpResponse resp;
	RvxError	err;
	char		what[768];
	int			rc;

	snprintf(what, sizeof(what), "could not abort the multipart upload of \"%s\" in %s",
			 key, display);
	rc = s3_send(s3, &call, &resp);
	if (rc != 0 || resp.status < 200 || resp.status >= 300)
	{
		s3_judge(s3, rc, &resp, what, &err);
		rvx_warn("%s; its parts stay in the bucket until a lifecycle rule removes them",
				 err.msg);
	}
	rvx_http_response_free(&resp);
}

static int
s3_put_multipart(S3Repo *s3, const char *object, const RvxPutSource *src,
				 const char *lock_until, const char *key, const char *display,
				 const char *what, RvxError *err)
{
	uint64_t	part_size = S3_PART_SIZE;
	uint64_t	nparts;
	char	  **etags = NULL;
	char	   *upload_id = NULL;
	RvxStrBuf	doc = {0};
	RvxHttpResponse resp;
	S3Call		call;
	int			rc = -1;

	/* at most 10,000 parts: grow them (in whole MiB) for very large objects */
	nparts = (src->size + part_size - 1) / part_size;
	if (nparts > S3_MAX_PARTS)
	{
		part_size = (src->size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
		part_size = (part_size + MiB - 1) / MiB * MiB;
		nparts = (src->size + part_size - 1) / part_size;
	}
	etags = calloc(nparts, sizeof(char *));
	if (etags == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");

	/* CreateMultipartUpload */
	call = (S3Call) {
		.method = "POST", .object = object,
		.query = {{"uploads", ""}}, .nquery = 1,
		.content_type = "application/octet-stream",
		.sse = true,
		.lock_until = lock_until,
		.max_buffer = S3_SMALL_MAX_BODY,
	};
	if (s3_call(s3, &call, NULL, NULL, what, &resp, NULL, err) == 0)
	{
		upload_id = rvx_s3_xml_upload_id(resp.body, resp.body_len, err);
		if (upload_id == NULL)
			rvx_error_prefix(err, "%s", what);
	}
	rvx_http_response_free(&resp);
	if (upload_id == NULL)
		goto done;
	rvx_debug("s3 multipart upload of \"%s\": %" PRIu64 " parts of %" PRIu64 " bytes",
			  key, nparts, part_size);

	/* UploadPart, one after the other */
	for (uint64_t i = 0; i < nparts; i++)
	{
		uint64_t	off = i * part_size;
		uint64_t	len = src->size - off < part_size ? src->size - off : part_size;
		char		partno[16];
		char		sha[RVX_SHA256_HEXLEN + 1];
		char		md5[S3_MD5_B64_LEN];

		snprintf(partno, sizeof(partno), "%" PRIu64, i + 1);
		if (s3_digest(src, off, len, sha, md5, what, err) != 0)
			goto abort;
		call = (S3Call) {
			.method = "PUT", .object = object,
			.query = {{"partNumber", partno}, {"uploadId", upload_id}}, .nquery = 2,
			.payload_hash = sha,
			.content_md5 = md5,
			.src = src, .src_offset = off, .body_len = len,
			.max_buffer = S3_SMALL_MAX_BODY,
		};
		if (s3_call(s3, &call, check_part_etag, NULL, what, &resp, NULL, err) != 0)
		{
			rvx_http_response_free(&resp);
			goto abort;
		}
		etags[i] = strdup(resp.etag);
		rvx_http_response_free(&resp);
		if (etags[i] == NULL)
		{
			rvx_error(err, RVX_E_INTERNAL, "out of memory");
			goto abort;
		}
	}

	/* CompleteMultipartUpload */
	rvx_strbuf_puts(&doc, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (uint64_t i = 0; i < nparts; i++)
	{
		char		part[700];
		char		etag[600];

		if (rvx_s3_xml_escape(etags[i], etag, sizeof(etag)) < 0)
		{
			rvx_error(err, RVX_E_PROTOCOL, "%s: part ETag too long", what);
			goto abort;
		}
		snprintf(part, sizeof(part), "<Part><PartNumber>%" PRIu64 "</PartNumber><ETag>%s</ETag></Part>",
				 i + 1, etag);
		rvx_strbuf_puts(&doc, part);
	}
	rvx_strbuf_puts(&doc, "</CompleteMultipartUpload>");
	if (doc.broken)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto abort;
	}
	{
		uint8_t		digest[RVX_SHA256_LEN];
		char		sha[RVX_SHA256_HEXLEN + 1];
		int			attempts = 0;

		if (rvx_sha256_buf(doc.data, doc.len, digest) != 0)
		{
			rvx_error(err, RVX_E_INTERNAL, "%s: checksum computation failed", what);
			goto abort;
		}
		rvx_hex_encode(digest, sizeof(digest), sha);
		call = (S3Call) {
			.method = "POST", .object = object,
			.query = {{"uploadId", upload_id}}, .nquery = 1,
			.payload_hash = sha,
			.content_type = "application/xml",
			.buf = doc.data, .body_len = doc.len,
			.max_buffer = S3_SMALL_MAX_BODY,
		};
		rc = s3_call(s3, &call, check_complete, NULL, what, &resp, &attempts, err);
		rvx_http_response_free(&resp);
		if (rc != 0 && attempts > 1 && err->code == RVX_E_NOTFOUND)
		{
			/*
			 * NoSuchUpload after a failed attempt: the earlier attempt may
			 * have completed the upload and only its answer was lost.  Then
			 * the object is there, with the size we sent.
			 */
			RvxObjectInfo info;
			RvxError	herr;

			if (s3_head_internal(s3, object, what, &info, &herr) == 1 &&
				info.size == src->size)
			{
				rvx_info("multipart upload of \"%s\" to %s was completed by an earlier attempt",
						 key, display);
				rc = 0;
			}
		}
		if (rc == 0)
			goto done;
	}

abort:
	rc = -1;
	s3_abort_upload(s3, object, upload_id, key, display);

done:
	if (etags)
		for (uint64_t i = 0; i < nparts; i++)
			free(etags[i]);
	free(etags);
	free(upload_id);
	free(doc.data);
	return rc;
}

static int
s3_put(RvxRepo *repo, const char *key, const RvxPutSource *src, int flags, RvxError *err)
{
	RvxError	dummy;
	S3Repo	   *s3 = repo->priv;
	char		what[768];
	char	   *object = s3_key_object(repo, key, "store", "in", what, sizeof(what), err);
	char		lock_until[32] = "";
	int			rc;

	if (err == NULL)
		err = &dummy;
	if (object == NULL)
		return -1;

	if (flags & RVX_PUT_NO_OVERWRITE)
	{
		/* not atomic: see the file header */
		rc = s3_head_internal(s3, object, what, NULL, err);
		if (rc != 0)
		{
			free(object);
			if (rc == 1)
				return rvx_error(err, RVX_E_CONFLICT, "%s: an object with this name already exists",
								 what);
			return -1;
		}
	}

	if ((flags & RVX_PUT_OBJECT_LOCK) && s3->lock_days > 0)
	{
		/* computed once, so that a retry asks for the same date */
		time_t		until = ((time(NULL) + (time_t) s3->lock_days * 86400) / 86400 + 1) * 86400;
		struct tm	tm;

		gmtime_r(&until, &tm);
		strftime(lock_until, sizeof(lock_until), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	}
	if (src->size <= S3_SINGLE_PUT_MAX)
		rc = s3_put_single(s3, object, src, lock_until[0] ? lock_until : NULL, what, err);
	else
		rc = s3_put_multipart(s3, object, src, lock_until[0] ? lock_until : NULL, key,
							  repo->display, what, err);
	free(object);
	return rc;
}

/* ----------------------------------------------------------------- get */

/*
 * State of a get across attempts.  The sink wrapper sees the response
 * headers before the first byte is passed on, and refuses a response that
 * is not exactly the bytes asked for.
 */
typedef struct GetState
{
	RvxGetSink	sink;
	void	   *arg;
	RvxHttpResponse *resp;		/* of the current attempt */
	const char *what;
	/* this attempt */
	bool		ranged;
	uint64_t	start;			/* first byte asked for */
	uint64_t	want;			/* bytes asked for; 0 = to the end */
	bool		checked;
	uint64_t	expect;			/* bytes this response must carry */
	uint64_t	got;
	/* a refusal by the wrapper, not by the caller's sink */
	bool		refused;
	RvxErrorCode refuse_code;
	char		refuse_msg[512];
	/* across attempts */
	char		etag[256];
} GetState;

static int
get_refuse(GetState *g, RvxErrorCode code, const char *fmt,...)
	__attribute__((format(printf, 3, 4)));

static int
get_refuse(GetState *g, RvxErrorCode code, const char *fmt,...)
{
	va_list		ap;

	g->refused = true;
	g->refuse_code = code;
	va_start(ap, fmt);
	vsnprintf(g->refuse_msg, sizeof(g->refuse_msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Checks the headers of a 2xx answer against what was asked for. */
static int
get_check_headers(GetState *g)
{
	RvxHttpResponse *r = g->resp;

	g->checked = true;
	if (!r->has_length)
		return get_refuse(g, RVX_E_PROTOCOL, "no Content-Length in the answer");
	if (!g->ranged)
	{
		if (r->status != 200)
			return get_refuse(g, RVX_E_PROTOCOL, "HTTP %ld where 200 was expected", r->status);
		g->expect = r->content_length;
	}
	else
	{
		if (r->status != 206 || !r->has_range)
			return get_refuse(g, RVX_E_PROTOCOL,
							  "HTTP %ld without a Content-Range where 206 was expected",
							  r->status);
		if (r->range_start != g->start || r->range_end < r->range_start ||
			(r->range_total != UINT64_MAX && r->range_end >= r->range_total) ||
			r->content_length != r->range_end - r->range_start + 1)
			return get_refuse(g, RVX_E_PROTOCOL,
							  "the answer holds bytes %" PRIu64 "-%" PRIu64 " (%" PRIu64 " bytes) where bytes from %" PRIu64 " were asked for",
							  r->range_start, r->range_end, r->content_length, g->start);
		if (g->want > 0 && r->content_length < g->want &&
			r->range_total != UINT64_MAX && r->range_end + 1 == r->range_total)
			return get_refuse(g, RVX_E_CORRUPT,
							  "the object is shorter than expected: asked for bytes %" PRIu64 "-%" PRIu64 ", it has %" PRIu64 " bytes",
							  g->start, g->start + g->want - 1, r->range_total);
		if (g->want > 0 && r->content_length != g->want)
			return get_refuse(g, RVX_E_PROTOCOL,
							  "the answer holds bytes %" PRIu64 "-%" PRIu64 " where bytes %" PRIu64 "-%" PRIu64 " were asked for",
							  r->range_start, r->range_end, g->start, g->start + g->want - 1);
		g->expect = r->content_length;
	}
	if (g->etag[0] == '\0')
		snprintf(g->etag, sizeof(g->etag), "%s", r->etag);
	return 0;
}

static int
get_sink(void *arg, const void *data, size_t len)
{
	GetState   *g = arg;

	if (!g->checked && get_check_headers(g) != 0)
		return -1;
	if (len > g->expect - g->got)
		return get_refuse(g, RVX_E_PROTOCOL, "more data than the announced %" PRIu64 " bytes",
						  g->expect);
	if (g->sink(g->arg, data, len) != 0)
		return -1;
	g->got += len;
	return 0;
}

static int
s3_get(RvxRepo *repo, const char *key, uint64_t offset, uint64_t length,
	   RvxGetSink sink, void *arg, RvxError *err)
{
	RvxError	dummy;
	S3Repo	   *s3 = repo->priv;
	char		what[768];
	char	   *object = s3_key_object(repo, key, "read", "from", what, sizeof(what), err);
	GetState	g = {.sink = sink, .arg = arg};
	uint64_t	done = 0;		/* bytes passed to the caller's sink */
	int			rc = -1;

	if (err == NULL)
		err = &dummy;
	if (object == NULL)
		return -1;
	g.what = what;

	for (int attempt = 0;; attempt++)
	{
		char		range[64];
		S3Call		call = {
			.method = "GET", .object = object,
			.sink = get_sink, .sink_arg = &g,
			.max_buffer = S3_SMALL_MAX_BODY,
		};
		RvxHttpResponse resp;
		bool		transient;
		int			hrc;

		/* this attempt asks for what has not been passed on yet */
		g.resp = &resp;
		g.start = offset + done;
		g.want = length > 0 ? length - done : 0;
		g.ranged = g.start > 0 || g.want > 0;
		g.checked = false;
		g.expect = 0;
		g.got = 0;
		g.refused = false;
		if (g.ranged)
		{
			if (g.want > 0)
				snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, g.start, g.start + g.want - 1);
			else
				snprintf(range, sizeof(range), "%" PRIu64 "-", g.start);
			call.range = range;
		}
		/* resuming: only from the very same object */
		if (done > 0 && g.etag[0])
			call.if_match = g.etag;

		hrc = s3_send(s3, &call, &resp);
		done += g.got;

		if (hrc == 0 && resp.status >= 200 && resp.status < 300)
		{
			/* a body-less answer never went through the sink */
			if (!g.checked && get_check_headers(&g) != 0)
			{
				rvx_error(err, g.refuse_code, "%s: %s", what, g.refuse_msg);
				transient = false;
			}
			else if (g.got == g.expect)
			{
				rvx_http_response_free(&resp);
				rc = 0;
				break;
			}
			else
			{
				rvx_error(err, RVX_E_NETWORK, "%s: the answer ended after %" PRIu64 " of %" PRIu64 " bytes",
						  what, g.got, g.expect);
				transient = true;
			}
		}
		else if (hrc != 0 && (g.refused ||
							  (!g.checked && resp.status >= 200 && resp.status < 300 &&
							   get_check_headers(&g) != 0)))
		{
			/* refused by us, or cut short but wrong anyway: do not retry */
			rvx_error(err, g.refuse_code, "%s: %s", what, g.refuse_msg);
			transient = false;
		}
		else
			transient = s3_judge(s3, hrc, &resp, what, err);
		rvx_http_response_free(&resp);
		if (!s3_retry_wait(s3, attempt, transient, err))
			break;
		if (done > 0)
			rvx_info("resuming the read of \"%s\" from %s at byte %" PRIu64,
					 key, repo->display, offset + done);
	}
	free(object);
	return rc;
}

/* ---------------------------------------------------------------- list */

typedef struct ListState
{
	RvxListFn	fn;
	void	   *arg;
	const char *strip;			/* repository prefix with its '/' */
	size_t		striplen;
	const char *full;			/* the prefix asked for, with the repository's */
	size_t		fulllen;
	const char *after;			/* pass on only keys after this one (or NULL) */
	char	   *last;			/* last key passed on, for the order check */
	const char *what;
	RvxError   *err;
	bool		bad;			/* a key we refused (err set) */
	bool		fn_failed;		/* the caller's fn returned -1 */
} ListState;

static int
list_entry(void *arg, const char *name, uint64_t size)
{
	ListState  *ls = arg;
	const char *key;
	char	   *copy;
	int			rc;

	if (strncmp(name, ls->full, ls->fulllen) != 0)
	{
		ls->bad = true;
		return rvx_error(ls->err, RVX_E_PROTOCOL, "%s: the listing holds \"%s\", outside the prefix asked for",
						 ls->what, name);
	}
	key = name + ls->striplen;

	/*
	 * "Folder" markers (zero-byte keys ending in '/', made by consoles and
	 * some tools) are not objects of ours; the posix driver would not list
	 * a directory either.
	 */
	if (key[0] == '\0' || key[strlen(key) - 1] == '/')
	{
		rvx_debug("listing skips \"%s\", which is not an object name", name);
		return 0;
	}
	/* a server that ignores StartAfter still keeps the contract */
	if (ls->after && strcmp(key, ls->after) <= 0)
		return 0;
	if (ls->last && strcmp(key, ls->last) <= 0)
	{
		ls->bad = true;
		return rvx_error(ls->err, RVX_E_PROTOCOL, "%s: the listing is out of order (\"%s\" after \"%s\")",
						 ls->what, key, ls->last);
	}
	copy = strdup(key);
	if (copy == NULL)
	{
		ls->bad = true;
		return rvx_error(ls->err, RVX_E_INTERNAL, "out of memory");
	}
	free(ls->last);
	ls->last = copy;
	rc = ls->fn(ls->arg, key, size);
	if (rc < 0)
	{
		ls->fn_failed = true;
		return -1;
	}
	return rc;
}

static int
s3_list(RvxRepo *repo, const char *prefix, const char *start_after, RvxListFn fn,
		void *arg, RvxError *err)
{
	RvxError	dummy;
	S3Repo	   *s3 = repo->priv;
	char		what[768];
	char	   *full;
	char	   *after = NULL;
	char	   *token = NULL;
	char	   *strip;
	size_t		len;
	ListState	ls = {.fn = fn, .arg = arg};
	int			rc = 0;

	if (err == NULL)
		err = &dummy;
	if (prefix == NULL)
		prefix = "";
	if (prefix[0])
		snprintf(what, sizeof(what), "could not list \"%s\" in %s", prefix, repo->display);
	else
		snprintf(what, sizeof(what), "could not list %s", repo->display);
	ls.what = what;
	ls.err = err;

	len = strlen(s3->prefix) + 1 + strlen(prefix) + 1;
	full = malloc(len);
	strip = malloc(strlen(s3->prefix) + 2);
	if (start_after)
		after = malloc(strlen(s3->prefix) + 1 + strlen(start_after) + 1);
	if (full == NULL || strip == NULL || (start_after && after == NULL))
	{
		free(full);
		free(strip);
		free(after);
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	snprintf(strip, strlen(s3->prefix) + 2, "%s%s", s3->prefix, s3->prefix[0] ? "/" : "");
	snprintf(full, len, "%s%s", strip, prefix);
	if (after)
		sprintf(after, "%s%s", strip, start_after);
	ls.after = start_after;
	ls.strip = strip;
	ls.striplen = strlen(strip);
	ls.full = full;
	ls.fulllen = strlen(full);

	for (;;)
	{
		S3Call		call = {
			.method = "GET", .object = NULL,
			.query = {{"list-type", "2"}}, .nquery = 1,
			.max_buffer = S3_LIST_MAX_BODY,
		};
		RvxHttpResponse resp;
		RvxS3ListPage page;

		if (full[0])
			call.query[call.nquery++] = (RvxSigV4Param) {"prefix", full};
		if (token)
			call.query[call.nquery++] = (RvxSigV4Param) {"continuation-token", token};
		else if (after)
			call.query[call.nquery++] = (RvxSigV4Param) {"start-after", after};

		rc = s3_call(s3, &call, NULL, NULL, what, &resp, NULL, err);
		if (rc == 0 && resp.body_truncated)
			rc = rvx_error(err, RVX_E_PROTOCOL, "%s: listing page larger than %d bytes",
						   what, S3_LIST_MAX_BODY);
		if (rc == 0)
		{
			rc = rvx_s3_xml_list(resp.body, resp.body_len, list_entry, &ls, &page, err);
			if (rc < 0 && !ls.bad && !ls.fn_failed)
				rvx_error_prefix(err, "%s", what);
		}
		rvx_http_response_free(&resp);
		if (rc != 0)
			break;
		if (!page.truncated)
			break;
		if (token && strcmp(token, page.next_token) == 0)
		{
			free(page.next_token);
			rc = rvx_error(err, RVX_E_PROTOCOL, "%s: the server repeats the same page", what);
			break;
		}
		free(token);
		token = page.next_token;
	}
	free(token);
	free(ls.last);
	free(full);
	free(after);
	free(strip);
	return rc < 0 ? -1 : 0;
}

/* -------------------------------------------------------------- remove */

static int
s3_remove(RvxRepo *repo, const char *key, RvxError *err)
{
	char		what[768];
	char	   *object = s3_key_object(repo, key, "remove", "from", what, sizeof(what), err);
	S3Call		call = {.method = "DELETE", .object = object, .max_buffer = S3_SMALL_MAX_BODY};
	RvxHttpResponse resp;
	int			rc;

	if (object == NULL)
		return -1;
	/* already gone is what we wanted (S3 itself answers 204 for that) */
	rc = s3_call_or_missing(repo->priv, &call, what, &resp, err);
	if (rc == 1)
		rvx_http_response_free(&resp);
	free(object);
	return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------- open/close */

static void
s3_close(RvxRepo *repo)
{
	S3Repo	   *s3;

	if (repo == NULL)
		return;
	s3 = repo->priv;
	if (s3)
	{
		rvx_sigv4_free(s3->signer);
		if (s3->own_creds)
			rvx_credentials_free(s3->creds);
		free(s3->region);
		rvx_http_free(s3->http);
		free(s3->bucket);
		free(s3->prefix);
		free(s3->endpoint);
		free(s3->host);
		free(s3->sse);
		free(s3->kms_key_id);
		free(s3->lock_mode);
		free(s3);
	}
	free(repo->display);
	free(repo);
}

static bool
valid_bucket(const char *b)
{
	size_t		len = strlen(b);

	if (len < 3 || len > 255)
		return false;
	for (const char *p = b; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
			return false;
	return true;
}

/* Parses cfg->s3_endpoint into scheme and host[:port]. */
static int
parse_endpoint(S3Repo *s3, const RvxRepoConfig *cfg, const char *region, RvxError *err)
{
	const char *ep = cfg->s3_endpoint;
	const char *rest;
	size_t		hostlen;

	if (ep == NULL || ep[0] == '\0')
	{
		size_t		len = strlen(region) + 32;

		s3->scheme = "https";
		s3->endpoint = malloc(len);
		if (s3->endpoint == NULL)
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		snprintf(s3->endpoint, len, "s3.%s.amazonaws.com", region);
		return 0;
	}
	if (strncmp(ep, "https://", 8) == 0)
	{
		s3->scheme = "https";
		rest = ep + 8;
	}
	else if (strncmp(ep, "http://", 7) == 0)
	{
		s3->scheme = "http";
		rest = ep + 7;
	}
	else if (strstr(ep, "://") == NULL)
	{
		s3->scheme = "https";
		rest = ep;
	}
	else
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid S3 endpoint \"%s\": expected http://host[:port] or https://host[:port]",
						 ep);
	hostlen = strcspn(rest, "/?#");
	if (hostlen == 0 || (rest[hostlen] != '\0' && strcmp(rest + hostlen, "/") != 0) ||
		memchr(rest, '@', hostlen) != NULL)
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid S3 endpoint \"%s\": expected http://host[:port] or https://host[:port], without a path",
						 ep);
	s3->endpoint = strndup(rest, hostlen);
	if (s3->endpoint == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	return 0;
}

/* "a/b/" or "/a/b" -> "a/b"; NULL if it has empty, "." or ".." segments. */
static char *
normalize_prefix(const char *prefix)
{
	char	   *out;
	size_t		len;

	while (*prefix == '/')
		prefix++;
	out = strdup(prefix);
	if (out == NULL)
		return NULL;
	len = strlen(out);
	while (len > 0 && out[len - 1] == '/')
		out[--len] = '\0';
	return out;
}

static bool
valid_prefix(const char *p)
{
	const char *seg = p;

	if (p[0] == '\0')
		return true;
	for (const char *c = p;; c++)
	{
		if (*c == '/' || *c == '\0')
		{
			size_t		n = c - seg;

			if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			if (*c == '\0')
				return true;
			seg = c + 1;
		}
		else if ((unsigned char) *c < 0x20 || *c == 0x7f)
			return false;
	}
}

RvxRepo *
rvx_repo_s3_open(const char *bucket, const char *prefix, const RvxRepoConfig *cfg,
				 RvxError *err)
{
	RvxRepo    *repo = calloc(1, sizeof(RvxRepo));
	S3Repo	   *s3 = calloc(1, sizeof(S3Repo));
	const char *region = (cfg->s3_region && cfg->s3_region[0]) ? cfg->s3_region : "us-east-1";
	RvxHttpOptions hopts;
	size_t		len;

	if (repo == NULL || s3 == NULL)
	{
		free(repo);
		free(s3);
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		return NULL;
	}
	repo->ops = &s3_ops;
	repo->priv = s3;

	if (bucket == NULL || !valid_bucket(bucket))
	{
		rvx_error(err, RVX_E_CONFIG, "invalid S3 bucket name \"%s\"", bucket ? bucket : "");
		goto fail;
	}
	s3->bucket = strdup(bucket);
	s3->prefix = normalize_prefix(prefix ? prefix : "");
	if (s3->bucket == NULL || s3->prefix == NULL)
		goto oom;
	if (!valid_prefix(s3->prefix) || strlen(s3->prefix) > S3_MAX_KEY_LEN / 2)
	{
		rvx_error(err, RVX_E_CONFIG, "invalid S3 repository prefix \"%s\"", prefix);
		goto fail;
	}
	len = strlen(bucket) + strlen(s3->prefix) + 7;
	repo->display = malloc(len);
	if (repo->display == NULL)
		goto oom;
	snprintf(repo->display, len, "s3://%s%s%s", bucket, s3->prefix[0] ? "/" : "", s3->prefix);

	if (cfg->credentials == NULL &&
		(cfg->s3_access_key == NULL || cfg->s3_access_key[0] == '\0' ||
		 cfg->s3_secret_key == NULL || cfg->s3_secret_key[0] == '\0'))
	{
		rvx_error(err, RVX_E_CONFIG, "no S3 credentials for %s (an access key and a secret key are needed)",
				  repo->display);
		goto fail;
	}
	if (parse_endpoint(s3, cfg, region, err) != 0)
		goto fail;
	s3->path_style = cfg->s3_path_style;
	if (s3->path_style)
		s3->host = strdup(s3->endpoint);
	else
	{
		len = strlen(bucket) + 1 + strlen(s3->endpoint) + 1;
		s3->host = malloc(len);
		if (s3->host)
			snprintf(s3->host, len, "%s.%s", bucket, s3->endpoint);
	}
	if (s3->host == NULL)
		goto oom;

	if (cfg->s3_sse && cfg->s3_sse[0] &&
		strcmp(cfg->s3_sse, "AES256") != 0 && strcmp(cfg->s3_sse, "aws:kms") != 0)
	{
		rvx_error(err, RVX_E_CONFIG, "invalid S3 server-side encryption \"%s\": expected AES256 or aws:kms",
				  cfg->s3_sse);
		goto fail;
	}
	s3->sse = dup_or_null(cfg->s3_sse);
	s3->kms_key_id = dup_or_null(cfg->s3_kms_key_id);
	s3->region = strdup(region);
	if ((cfg->s3_sse && cfg->s3_sse[0] && s3->sse == NULL) ||
		(cfg->s3_kms_key_id && cfg->s3_kms_key_id[0] && s3->kms_key_id == NULL) ||
		s3->region == NULL)
		goto oom;

	if (cfg->s3_object_lock_days > 0)
	{
		const char *mode = cfg->s3_object_lock_mode ? cfg->s3_object_lock_mode : "COMPLIANCE";

		if (strcmp(mode, "COMPLIANCE") != 0 && strcmp(mode, "GOVERNANCE") != 0)
		{
			rvx_error(err, RVX_E_CONFIG, "invalid S3 object lock mode \"%s\": expected COMPLIANCE or GOVERNANCE",
					  mode);
			goto fail;
		}
		s3->lock_days = cfg->s3_object_lock_days;
		if ((s3->lock_mode = strdup(mode)) == NULL)
			goto oom;
	}
	s3->retries = cfg->retries > 0 ? cfg->retries : 0;
	s3->rng = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32) ^ (uint64_t) (uintptr_t) s3;
	if (s3->rng == 0)
		s3->rng = 1;

	if (cfg->credentials)
		s3->creds = cfg->credentials;
	else
	{
		RvxCredConfig cc = {
			.access_key = cfg->s3_access_key,
			.secret_key = cfg->s3_secret_key,
			.session_token = cfg->s3_session_token,
			/* one per handle open: counting it would count opens, not fetches */
			.unreported = true,
		};

		if ((s3->creds = rvx_credentials_new(&cc, err)) == NULL)
			goto fail;
		s3->own_creds = true;
	}
	hopts = (RvxHttpOptions) {
		.timeout_ms = cfg->timeout_ms,
		.ca_file = cfg->s3_ca_file,
		.verify_tls = cfg->s3_verify_tls,
	};
	s3->http = rvx_http_new(&hopts, err);
	if (s3->http == NULL)
		goto fail;
	/* once per process: every thread opens its own handle */
	if (!cfg->s3_verify_tls && strcmp(s3->scheme, "https") == 0 &&
		!__atomic_exchange_n(&tls_warned, true, __ATOMIC_RELAXED))
		rvx_warn("TLS certificate verification is turned off for %s (endpoint %s): "
				 "whoever sits between us and the endpoint can read and change backups",
				 repo->display, s3->endpoint);
	return repo;

oom:
	rvx_error(err, RVX_E_INTERNAL, "out of memory");
fail:
	s3_close(repo);
	return NULL;
}

static const RvxRepoOps s3_ops = {
	.name = "s3",
	.head = s3_head,
	.put = s3_put,
	.get = s3_get,
	.list = s3_list,
	.remove = s3_remove,
	.close = s3_close,
};
