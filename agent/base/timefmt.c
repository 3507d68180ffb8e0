/*-------------------------------------------------------------------------
 *
 * timefmt.c
 *	  Parsing and formatting times (see timefmt.h).
 *
 * Times are kept as microseconds since the epoch in UTC, like
 * PostgreSQL's TimestampTz but from 1970, so parsing needs no time zone
 * database: every accepted text carries its own offset (a time without one
 * would mean the server's TimeZone, which the agent cannot know on a fresh
 * machine, so it is refused rather than guessed).
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/timefmt.h"

#define USECS_PER_SEC	INT64_C(1000000)

/* ---------------------------------------------------------------- parsing */

static int
digits(const char **p, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t		era;
	int			yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (int) (y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

static int
bad_time(const char *reason, const char **why)
{
	*why = reason;
	return -1;
}

/*
 * ISO 8601 / PostgreSQL timestamptz output: "YYYY-MM-DD{ |T}HH:MM[:SS[.f]]"
 * then, maybe after a space, "Z", "UTC", "GMT" or "+HH", "+HH:MM", "+HHMM".
 */
int
rvx_time_parse(const char *text, int64_t *us, const char **why)
{
	const char *p = text;
	int			y,
				mo,
				d,
				h,
				mi,
				s = 0,
				oh = 0,
				om = 0;
	int64_t		frac = 0;
	int			sign = 0;

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
		digits(&p, 2, &d))
		return bad_time("no date YYYY-MM-DD", why);
	if (*p != ' ' && *p != 'T' && *p != 't')
		return bad_time("no time of day", why);
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
		return bad_time("no time of day HH:MM[:SS]", why);
	if (*p == ':')
	{
		p++;
		if (digits(&p, 2, &s))
			return bad_time("bad seconds", why);
		if (*p == '.')
		{
			int			n = 0;

			p++;
			while (*p >= '0' && *p <= '9')
			{
				/*
				 * Microseconds, rounded as PostgreSQL rounds its input: a
				 * Go or Java writer may send nanoseconds (RFC 3339).
				 */
				if (++n <= 6)
					frac = frac * 10 + (*p - '0');
				else if (n == 7 && *p >= '5')
					frac++;
				p++;
			}
			if (n == 0)
				return bad_time("no digits after the decimal point", why);
			for (; n < 6; n++)
				frac *= 10;
		}
	}
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
		return bad_time("a field is out of range", why);
	if (y < 1970)
		return bad_time("before 1970", why);
	while (*p == ' ')
		p++;
	if (strcmp(p, "Z") == 0 || strcmp(p, "z") == 0 || strcmp(p, "UTC") == 0 ||
		strcmp(p, "GMT") == 0)
		p += strlen(p);
	else if (*p == '+' || *p == '-')
	{
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh))
			return bad_time("bad time zone offset", why);
		if (*p == ':')
			p++;
		if (*p != '\0' && digits(&p, 2, &om))
			return bad_time("bad time zone offset", why);
		if (oh > 15 || om > 59)
			return bad_time("time zone offset out of range", why);
	}
	else if (*p == '\0')
		return bad_time("no time zone (add +00, Z or the offset meant)", why);
	if (*p != '\0')
		return bad_time("unexpected text after the time", why);

	*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) -
		   (int64_t) sign * (oh * 3600 + om * 60)) * USECS_PER_SEC + frac;
	return 0;
}

int
rvx_time_parse_arg(const char *what, const char *text, int64_t *us, RvxError *err)
{
	const char *why;

	if (rvx_time_parse(text, us, &why) != 0)
		return rvx_error(err, RVX_E_USAGE,
						 "invalid %s \"%s\": %s (expected e.g. \"2026-11-26 10:00:00+00\" "
						 "or \"2026-11-26T10:00:00.5Z\")", what, text, why);
	return 0;
}

/* ---------------------------------------------------------------- formatting */

void
rvx_time_format(int64_t us, char *out, size_t cap)
{
	int64_t		secs = us >= 0 ? us / USECS_PER_SEC : (us - USECS_PER_SEC + 1) / USECS_PER_SEC;
	int64_t		frac = us - secs * USECS_PER_SEC;
	time_t		tt = (time_t) secs;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d.%06" PRId64 "+00",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 frac);
}

void
rvx_time_format_short(int64_t us, char *out, size_t cap)
{
	rvx_time_format(us, out, cap);
	if (us % USECS_PER_SEC == 0)
	{
		char	   *dot = strchr(out, '.');

		if (dot)
			memmove(dot, dot + 7, strlen(dot + 7) + 1);
	}
}
