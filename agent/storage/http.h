/*-------------------------------------------------------------------------
 *
 * http.h
 *	  One HTTP request at a time over a kept-alive libcurl handle.
 *
 * A thin layer: it sends exactly the method, URL and headers it is given
 * (it knows nothing of S3 or signing), streams a request body from an
 * RvxPutSource range or a buffer, and hands the response body either to a
 * sink (for 2xx answers, so object data never piles up in memory) or to a
 * bounded buffer (error documents, listings).  It reports the status line,
 * the few response headers the S3 driver needs, and transport failures with
 * curl's own explanation.  It never retries: the caller decides what is
 * transient, using rvx_http_curl_error() and rvx_http_backoff_ms().
 *
 * Promises:
 *	- Nothing is printed, ever: libcurl's default of writing bodies to
 *	  stdout is replaced, its verbose mode stays off, and no header (so no
 *	  Authorization value or session token) is logged or copied anywhere.
 *	- A request that makes no progress for timeout_ms fails (connect timeout,
 *	  and a low-speed limit of 1 byte/s over that window); there is no
 *	  overall cap, since a large object may legitimately take long.
 *	- TLS peers are verified (against ca_file if given) unless verify_tls is
 *	  false, which the creator must have been told explicitly.
 *	- Safe in threaded programs (CURLOPT_NOSIGNAL); curl_global_init() must
 *	  have been called once by the program before the first rvx_http_new().
 *	  A handle is used by one thread at a time; it keeps its connection
 *	  open between requests.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_HTTP_H
#define RVX_AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "storage/repo.h"

typedef struct RvxHttpOptions
{
	int			timeout_ms;		/* no progress for this long fails; <= 0: 60 s */
	const char *ca_file;		/* NULL = the system's CAs */
	bool		verify_tls;
} RvxHttpOptions;

typedef struct RvxHttp RvxHttp;

typedef struct RvxHttpRequest
{
	const char *method;			/* GET, HEAD, PUT, POST, DELETE */
	const char *url;			/* already encoded */
	const char *const *headers; /* "Name: value" lines, sent as given */
	int			nheaders;

	/* body: bytes [src_offset, src_offset + body_len) of src, or buf, or none */
	const RvxPutSource *src;
	uint64_t	src_offset;
	uint64_t	body_len;
	const char *buf;			/* used when src is NULL; body_len bytes */

	/* Range header value after "bytes=", e.g. "0-9" or "100-"; NULL = none */
	const char *range;

	/* where a 2xx body goes; NULL = into the response buffer */
	RvxGetSink	sink;
	void	   *sink_arg;
	size_t		max_buffer;		/* cap on the buffered body; 0 = 1 MiB */
	int			timeout_ms;		/* > 0: the whole exchange must end within this; 0 = no cap */
} RvxHttpRequest;

typedef struct RvxHttpResponse
{
	long		status;			/* final status; 0 if none was received */

	/* response headers, from the final (non-1xx) response */
	char		etag[256];		/* as sent, quotes included; "" if none */
	bool		has_length;
	uint64_t	content_length;
	bool		has_range;		/* Content-Range: bytes START-END/TOTAL */
	uint64_t	range_start;
	uint64_t	range_end;
	uint64_t	range_total;	/* UINT64_MAX if "*" */
	char		request_id[128];	/* x-amz-request-id, for support cases */
	int64_t		last_modified;	/* Last-Modified as seconds since the epoch; 0 if none */

	/* body not given to a sink; NUL-terminated; body_len excludes the NUL */
	char	   *body;
	size_t		body_len;
	bool		body_truncated; /* more than max_buffer arrived (rest dropped) */
	uint64_t	delivered;		/* bytes the sink accepted */

	/* why rvx_http_perform returned -1 */
	int			curl_code;		/* CURLcode; 0 = none */
	char		curl_error[256];
	bool		sink_failed;	/* the sink returned -1 */
	bool		source_failed;	/* src->pread failed or ended early */
	int			source_errno;	/* errno of the failed pread; 0 if it ended early */
} RvxHttpResponse;

/* NULL (err set) if libcurl cannot make a handle. */
extern RvxHttp *rvx_http_new(const RvxHttpOptions *opts, RvxError *err);
extern void rvx_http_free(RvxHttp *http);

/*
 * Performs req.  Returns 0 when a whole response was received, whatever its
 * status (the caller judges resp->status), and -1 when the exchange failed
 * on the way: transport error, timeout, sink or source failure (see the
 * fields).  resp is reset first; free its body with rvx_http_response_free.
 */
extern int	rvx_http_perform(RvxHttp *http, const RvxHttpRequest *req,
							 RvxHttpResponse *resp);
extern void rvx_http_response_free(RvxHttpResponse *resp);

/*
 * Classifies a transport failure: returns the RvxErrorCode it amounts to
 * (RVX_E_NETWORK, RVX_E_CONFIG for certificate/URL problems, ...) and sets
 * *transient when trying again may help.
 */
extern RvxErrorCode rvx_http_curl_error(int curl_code, bool *transient);

/*
 * Retry timing: exponential backoff with full jitter.  Returns a delay in
 * [0, min(cap, base * 2^attempt)] ms for retry number attempt (0 = first
 * retry), drawing from the caller's *rng state (any non-zero seed).
 */
extern int	rvx_http_backoff_ms(int attempt, uint64_t *rng);

/* The same with a base and a cap of the caller's (the credentials provider's 1 s to 60 s). */
extern int	rvx_backoff_ms(int attempt, int base_ms, int cap_ms, uint64_t *rng);

/*
 * Sets base and cap of the backoff for the whole process (defaults 100 ms
 * and 5 s).  For tests, which need retries without the waiting; call it
 * before any thread starts.
 */
extern void rvx_http_set_backoff(int base_ms, int cap_ms);

#endif							/* RVX_AGENT_HTTP_H */
