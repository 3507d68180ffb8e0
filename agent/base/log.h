/*-------------------------------------------------------------------------
 *
 * log.h
 *	  The agent's log: one line per event on stderr, as text or JSON lines.
 *
 * Safe to call from several threads (a line is never interleaved).  Nothing
 * here knows secrets, so callers must never pass one: the S3 driver logs
 * requests by method and key only, never headers or signed URLs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_LOG_H
#define RVX_AGENT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef enum RvxLogLevel
{
	RVX_LOG_DEBUG = 0,
	RVX_LOG_INFO,
	RVX_LOG_WARNING,
	RVX_LOG_ERROR,
} RvxLogLevel;

extern void rvx_log_init(const char *command, RvxLogLevel min_level, bool json);

/* The wall clock in seconds since the epoch, for durations and timestamps. */
extern double rvx_now_s(void);
/*
 * t (seconds since the epoch) as ISO 8601 UTC, "2026-12-06T21:00:00Z", in
 * out (RVX_ISO_TIME_SIZE bytes are enough); returns out.  The one format
 * of every time the agent writes: log lines, records, reports.
 */
#define RVX_ISO_TIME_SIZE	32
extern char *rvx_iso_time(time_t t, char *out, size_t cap);

/*
 * in with what could be a credential replaced by "[REDACTED]", into out
 * (cap bytes, always terminated): the value of an Authorization or
 * X-Amz-Security-Token header (to the end of its line), of the query
 * parameters X-Amz-Signature, X-Amz-Credential and X-Amz-Security-Token,
 * and the user:password of a URL.  For text that comes from elsewhere (an
 * error another process wrote) before it is logged or stored.
 */
extern void rvx_log_redact(const char *in, char *out, size_t cap);

extern void rvx_log(RvxLogLevel level, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

#define rvx_debug(...)	rvx_log(RVX_LOG_DEBUG, __VA_ARGS__)
#define rvx_info(...)	rvx_log(RVX_LOG_INFO, __VA_ARGS__)
#define rvx_warn(...)	rvx_log(RVX_LOG_WARNING, __VA_ARGS__)
#define rvx_err(...)	rvx_log(RVX_LOG_ERROR, __VA_ARGS__)

#endif							/* RVX_AGENT_LOG_H */
