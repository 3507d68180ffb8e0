/*-------------------------------------------------------------------------
 *
 * http.c
 *	  libcurl wrapper for the S3 driver (see http.h for the contract).
 *
 * Every request starts from curl_easy_reset(): options never leak from one
 * request into the next (a HEAD's NOBODY into a GET, a Range into a PUT),
 * while the handle keeps what makes reuse worthwhile: open connections,
 * the DNS cache and TLS sessions.
 *
 * Request bodies are read from the caller's source on demand, and a seek
 * callback lets libcurl rewind when it must resend (a kept-alive
 * connection found dead under a request), so no body is ever held in
 * memory.  "Expect: 100-continue" is kept only for bodies of 1 MiB and
 * more: there it lets the server refuse (bad signature, no such bucket)
 * before megabytes are sent; for small bodies it would only cost a round
 * trip.
 *
 * Response headers are parsed as they arrive; a new status line (after a
 * "100 Continue") starts them over, so only the final response's headers
 * are reported.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "storage/http.h"

#define HTTP_DEFAULT_TIMEOUT_MS		60000
#define HTTP_DEFAULT_MAX_BUFFER		(1024 * 1024)
#define HTTP_EXPECT_THRESHOLD		(1024 * 1024)
#define HTTP_IO_BUFFER				(256 * 1024)

struct RvxHttp
{
	CURL	   *curl;
	int			timeout_ms;
	char	   *ca_file;
	bool		verify_tls;
	char		errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer, shared by the callbacks. */
typedef struct Transfer
{
	const RvxHttpRequest *req;
	RvxHttpResponse *resp;
	uint64_t	sent;			/* body bytes handed to curl */
	size_t		buf_cap;
	size_t		max_buffer;
} Transfer;

static int	backoff_base_ms = 100;
static int	backoff_cap_ms = 5000;

RvxHttp *
rvx_http_new(const RvxHttpOptions *opts, RvxError *err)
{
	RvxHttp    *http = calloc(1, sizeof(RvxHttp));

	if (http == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		return NULL;
	}
	http->curl = curl_easy_init();
	if (http->curl == NULL)
	{
		free(http);
		rvx_error(err, RVX_E_INTERNAL, "could not create an HTTP handle (curl_easy_init failed)");
		return NULL;
	}
	http->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	http->verify_tls = opts->verify_tls;
	if (opts->ca_file && opts->ca_file[0])
	{
		http->ca_file = strdup(opts->ca_file);
		if (http->ca_file == NULL)
		{
			rvx_http_free(http);
			rvx_error(err, RVX_E_INTERNAL, "out of memory");
			return NULL;
		}
	}
	return http;
}

void
rvx_http_free(RvxHttp *http)
{
	if (http == NULL)
		return;
	if (http->curl)
		curl_easy_cleanup(http->curl);
	free(http->ca_file);
	free(http);
}

void
rvx_http_response_free(RvxHttpResponse *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

/* Copies value (not NUL-terminated, len bytes) trimmed into dst. */
static void
copy_trimmed(char *dst, size_t dstlen, const char *value, size_t len)
{
	while (len > 0 && (*value == ' ' || *value == '\t'))
	{
		value++;
		len--;
	}
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' ||
					   value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, value, len);
	dst[len] = '\0';
}

/* Parses "bytes START-END/TOTAL" (TOTAL may be "*"). */
static bool
parse_content_range(const char *v, RvxHttpResponse *resp)
{
	unsigned long long start,
				end,
				total;
	int			used = 0;

	if (sscanf(v, "bytes %llu-%llu/%llu%n", &start, &end, &total, &used) == 3 &&
		v[used] == '\0')
		resp->range_total = total;
	else if (sscanf(v, "bytes %llu-%llu/*%n", &start, &end, &used) == 2 &&
			 used > 0 && v[used] == '\0')
		resp->range_total = UINT64_MAX;
	else
		return false;
	resp->range_start = start;
	resp->range_end = end;
	return true;
}

static size_t
header_cb(char *data, size_t size, size_t nitems, void *arg)
{
	Transfer   *t = arg;
	RvxHttpResponse *resp = t->resp;
	size_t		len = size * nitems;
	const char *colon;
	char		value[128];
	size_t		namelen;
	size_t		vlen;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
	{
		/* a status line: what came before was an interim response */
		const char *sp = memchr(data, ' ', len);

		resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		resp->etag[0] = '\0';
		resp->has_length = false;
		resp->has_range = false;
		resp->request_id[0] = '\0';
		resp->last_modified = 0;
		return len;
	}
	colon = memchr(data, ':', len);
	if (colon == NULL)
		return len;
	namelen = colon - data;
	vlen = len - namelen - 1;

	if (namelen == 4 && strncasecmp(data, "ETag", 4) == 0)
		copy_trimmed(resp->etag, sizeof(resp->etag), colon + 1, vlen);
	else if (namelen == 14 && strncasecmp(data, "Content-Length", 14) == 0)
	{
		char	   *end;

		copy_trimmed(value, sizeof(value), colon + 1, vlen);
		errno = 0;
		resp->content_length = strtoull(value, &end, 10);
		resp->has_length = errno == 0 && end != value && *end == '\0' && value[0] != '-';
	}
	else if (namelen == 13 && strncasecmp(data, "Content-Range", 13) == 0)
	{
		copy_trimmed(value, sizeof(value), colon + 1, vlen);
		resp->has_range = parse_content_range(value, resp);
	}
	else if (namelen == 16 && strncasecmp(data, "x-amz-request-id", 16) == 0)
		copy_trimmed(resp->request_id, sizeof(resp->request_id), colon + 1, vlen);
	else if (namelen == 13 && strncasecmp(data, "Last-Modified", 13) == 0)
	{
		time_t		t;

		/* an HTTP date (RFC 7231); curl_getdate parses every form servers send */
		copy_trimmed(value, sizeof(value), colon + 1, vlen);
		t = curl_getdate(value, NULL);
		resp->last_modified = t > 0 ? (int64_t) t : 0;
	}
	return len;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	Transfer   *t = arg;
	RvxHttpResponse *resp = t->resp;
	size_t		len = size * nmemb;

	if (t->req->sink != NULL && resp->status >= 200 && resp->status < 300)
	{
		if (t->req->sink(t->req->sink_arg, data, len) != 0)
		{
			resp->sink_failed = true;
			return 0;			/* makes curl fail with CURLE_WRITE_ERROR */
		}
		resp->delivered += len;
		return len;
	}

	/* buffered: error documents and small results */
	if (resp->body_len + len > t->max_buffer)
	{
		resp->body_truncated = true;
		len = resp->body_len < t->max_buffer ? t->max_buffer - resp->body_len : 0;
	}
	if (len > 0)
	{
		if (resp->body_len + len + 1 > t->buf_cap)
		{
			size_t		cap = t->buf_cap ? t->buf_cap : 4096;
			char	   *p;

			while (cap < resp->body_len + len + 1)
				cap *= 2;
			p = realloc(resp->body, cap);
			if (p == NULL)
				return 0;
			resp->body = p;
			t->buf_cap = cap;
		}
		memcpy(resp->body + resp->body_len, data, len);
		resp->body_len += len;
		resp->body[resp->body_len] = '\0';
	}
	return size * nmemb;
}

static size_t
read_cb(char *buffer, size_t size, size_t nitems, void *arg)
{
	Transfer   *t = arg;
	const RvxHttpRequest *req = t->req;
	uint64_t	left = req->body_len - t->sent;
	size_t		want = size * nitems;
	ssize_t		got;

	if (left == 0)
		return 0;
	if (want > left)
		want = (size_t) left;
	if (req->src == NULL)
	{
		memcpy(buffer, req->buf + t->sent, want);
		t->sent += want;
		return want;
	}
	got = req->src->pread(req->src->arg, buffer, want, req->src_offset + t->sent);
	if (got <= 0)
	{
		/* an error, or the source is shorter than it claimed */
		t->resp->source_failed = true;
		t->resp->source_errno = got < 0 ? errno : 0;
		return CURL_READFUNC_ABORT;
	}
	t->sent += (uint64_t) got;
	return (size_t) got;
}

static int
seek_cb(void *arg, curl_off_t offset, int origin)
{
	Transfer   *t = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t) offset > t->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	t->sent = (uint64_t) offset;
	return CURL_SEEKFUNC_OK;
}

/* Called by libcurl about once a second, also while nothing arrives. */
static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			curl_off_t ulnow)
{
	return rvx_interrupt_pending() ? 1 : 0;	/* CURLE_ABORTED_BY_CALLBACK */
}

/* Sets the options of one request on a freshly reset handle. */
static CURLcode
setup(RvxHttp *http, const RvxHttpRequest *req, Transfer *t, struct curl_slist *headers)
{
	CURL	   *c = http->curl;
	long		low_speed_time = (http->timeout_ms + 999) / 1000;
	int			connect_ms = req->timeout_ms > 0 && req->timeout_ms < http->timeout_ms ?
		req->timeout_ms : http->timeout_ms;
	CURLcode	rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
	SET(CURLOPT_VERBOSE, 0L);
	SET(CURLOPT_ERRORBUFFER, http->errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long) connect_ms);
	SET(CURLOPT_TIMEOUT_MS, (long) (req->timeout_ms > 0 ? req->timeout_ms : 0));
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, low_speed_time > 0 ? low_speed_time : 1L);
	SET(CURLOPT_BUFFERSIZE, (long) HTTP_IO_BUFFER);
	SET(CURLOPT_UPLOAD_BUFFERSIZE, (long) HTTP_IO_BUFFER);
	SET(CURLOPT_SSL_VERIFYPEER, http->verify_tls ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, http->verify_tls ? 2L : 0L);
	if (http->ca_file)
		SET(CURLOPT_CAINFO, http->ca_file);
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, t);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, t);
	if (req->range)
		SET(CURLOPT_RANGE, req->range);

	if (strcmp(req->method, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") == 0)
		SET(CURLOPT_HTTPGET, 1L);
	else if (strcmp(req->method, "PUT") == 0)
	{
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
	}
	else if (strcmp(req->method, "POST") == 0)
	{
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
		if (req->body_len == 0)
			SET(CURLOPT_POSTFIELDS, "");
	}
	else
		SET(CURLOPT_CUSTOMREQUEST, req->method);

	/* always ours: libcurl's default read function would read stdin */
	{
		SET(CURLOPT_READFUNCTION, read_cb);
		SET(CURLOPT_READDATA, t);
		SET(CURLOPT_SEEKFUNCTION, seek_cb);
		SET(CURLOPT_SEEKDATA, t);
	}
#undef SET
	return rc;
}

int
rvx_http_perform(RvxHttp *http, const RvxHttpRequest *req, RvxHttpResponse *resp)
{
	Transfer	t = {0};
	struct curl_slist *headers = NULL;
	CURLcode	rc;
	bool		oom = false;

	memset(resp, 0, sizeof(*resp));
	t.req = req;
	t.resp = resp;
	t.max_buffer = req->max_buffer ? req->max_buffer : HTTP_DEFAULT_MAX_BUFFER;

	for (int i = 0; i < req->nheaders && !oom; i++)
	{
		struct curl_slist *n = curl_slist_append(headers, req->headers[i]);

		if (n == NULL)
			oom = true;
		else
			headers = n;
	}
	if (!oom && req->body_len > 0 && req->body_len < HTTP_EXPECT_THRESHOLD)
	{
		struct curl_slist *n = curl_slist_append(headers, "Expect:");

		if (n == NULL)
			oom = true;
		else
			headers = n;
	}
	if (oom)
	{
		curl_slist_free_all(headers);
		resp->curl_code = CURLE_OUT_OF_MEMORY;
		snprintf(resp->curl_error, sizeof(resp->curl_error), "out of memory");
		return -1;
	}

	curl_easy_reset(http->curl);
	http->errbuf[0] = '\0';
	rc = setup(http, req, &t, headers);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(http->curl);
	/* the handle must not point at our stack or list once we return */
	curl_easy_setopt(http->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(http->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);

	if (rc != CURLE_OK)
	{
		resp->curl_code = (int) rc;
		if (rc == CURLE_ABORTED_BY_CALLBACK)	/* progress_cb */
			snprintf(resp->curl_error, sizeof(resp->curl_error), "interrupted");
		else
			snprintf(resp->curl_error, sizeof(resp->curl_error), "%s",
					 http->errbuf[0] ? http->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	if (resp->status == 0)
	{
		long		code = 0;

		curl_easy_getinfo(http->curl, CURLINFO_RESPONSE_CODE, &code);
		resp->status = code;
	}
	return 0;
}

RvxErrorCode
rvx_http_curl_error(int curl_code, bool *transient)
{
	*transient = false;
	switch ((CURLcode) curl_code)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_AGAIN:
			*transient = true;
			return RVX_E_NETWORK;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_CRL_BADFILE:
			return RVX_E_CONFIG;
		case CURLE_OUT_OF_MEMORY:
			return RVX_E_INTERNAL;
		case CURLE_READ_ERROR:
		case CURLE_WRITE_ERROR:
		case CURLE_ABORTED_BY_CALLBACK:
			return RVX_E_IO;
		default:
			return RVX_E_NETWORK;
	}
}

int
rvx_http_backoff_ms(int attempt, uint64_t *rng)
{
	return rvx_backoff_ms(attempt, backoff_base_ms, backoff_cap_ms, rng);
}

int
rvx_backoff_ms(int attempt, int base_ms, int cap_ms, uint64_t *rng)
{
	uint64_t	ceiling = (uint64_t) (base_ms > 0 ? base_ms : 1);
	uint64_t	x = *rng ? *rng : 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < attempt && ceiling < (uint64_t) cap_ms; i++)
		ceiling *= 2;
	if (ceiling > (uint64_t) cap_ms)
		ceiling = (uint64_t) cap_ms;

	/* xorshift64: plenty for spreading retries, and per caller, so lock-free */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*rng = x;
	return (int) (x % (ceiling + 1));
}

void
rvx_http_set_backoff(int base_ms, int cap_ms)
{
	backoff_base_ms = base_ms > 0 ? base_ms : 1;
	backoff_cap_ms = cap_ms >= backoff_base_ms ? cap_ms : backoff_base_ms;
}
