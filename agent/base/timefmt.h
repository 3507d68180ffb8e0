/*-------------------------------------------------------------------------
 *
 * timefmt.h
 *	  Times as text: parsing an ISO 8601 / PostgreSQL timestamptz into
 *	  microseconds since 1970-01-01 00:00 UTC, and formatting one back.
 *	  Used for recovery targets (restore/target.c), the times of backup
 *	  records (retention/expire.c) and the commands' time options.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_TIMEFMT_H
#define RVX_AGENT_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/*
 * "YYYY-MM-DD{ |T}HH:MM[:SS[.f]]" then, maybe after a space, "Z", "UTC",
 * "GMT" or "+HH", "+HH:MM", "+HHMM".  Returns 0, or -1 with *why saying
 * what is wrong (a static string).
 */
extern int	rvx_time_parse(const char *text, int64_t *us, const char **why);

/*
 * rvx_time_parse for a time given on the command line: on failure fills err
 * (RVX_E_USAGE) with "invalid <what> \"<text>\": <why> (expected e.g. ...)",
 * what naming the option, e.g. "recovery target time" or "--since time".
 */
extern int	rvx_time_parse_arg(const char *what, const char *text, int64_t *us, RvxError *err);

/* "2026-11-26 10:00:00.000000+00" (cap >= 32) */
extern void rvx_time_format(int64_t us, char *out, size_t cap);
/* The same for messages: "2026-11-26 10:00:00+00" when there is no fraction. */
extern void rvx_time_format_short(int64_t us, char *out, size_t cap);

#endif							/* RVX_AGENT_TIMEFMT_H */
