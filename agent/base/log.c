/*-------------------------------------------------------------------------
 *
 * log.c
 *	  Line-oriented logging for revrx-agent (see log.h).
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *log_command = "agent";
static RvxLogLevel log_min = RVX_LOG_INFO;
static bool log_json = false;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

void
rvx_log_init(const char *command, RvxLogLevel min_level, bool json)
{
	log_command = command;
	log_min = min_level;
	log_json = json;
}

/* Whether s starts with the (lower-case) word w, ignoring case. */
static bool
starts_with_ci(const char *s, const char *w)
{
	for (; *w; s++, w++)
		if (tolower((unsigned char) *s) != *w)
			return false;
	return true;
}

/* Appends n bytes of s to out (at *len, cap bytes), truncating. */
static void
redact_put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
}

void
rvx_log_redact(const char *in, char *out, size_t cap)
{
	static const char *const to_eol[] = {"authorization:", "x-amz-security-token:", NULL};
	static const char *const params[] = {
		"x-amz-signature=", "x-amz-credential=", "x-amz-security-token=", NULL
	};
	static const char mark[] = "[REDACTED]";
	size_t		len = 0;
	const char *p = in;

	if (cap == 0)
		return;
	while (*p && len < cap - 1)
	{
		const char *skip = NULL;
		size_t		keep = 0;

		for (int i = 0; to_eol[i] && !skip; i++)
			if (starts_with_ci(p, to_eol[i]))
			{
				keep = strlen(to_eol[i]);
				skip = p + keep;
				while (*skip == ' ' || *skip == '\t')
					skip++;
				keep = skip - p;
				skip += strcspn(skip, "\r\n");
			}
		for (int i = 0; params[i] && !skip; i++)
			if (starts_with_ci(p, params[i]))
			{
				keep = strlen(params[i]);
				skip = p + keep + strcspn(p + keep, "&\"' \t\r\n");
			}
		if (!skip && strncmp(p, "://", 3) == 0)
		{
			/* scheme://user:password@host: the userinfo goes */
			size_t		span = strcspn(p + 3, "/@ \t\r\n\"'");

			if (p[3 + span] == '@' && memchr(p + 3, ':', span) != NULL)
			{
				keep = 3;
				skip = p + 3 + span;
			}
		}
		if (skip)
		{
			redact_put(out, cap, &len, p, keep);
			redact_put(out, cap, &len, mark, sizeof(mark) - 1);
			p = skip;
		}
		else
			redact_put(out, cap, &len, p++, 1);
	}
	out[len] = '\0';
}

void
rvx_log(RvxLogLevel level, const char *fmt,...)
{
	char		msg[2048];
	char		stamp[64];
	struct timeval tv;
	struct tm	tm;
	va_list		ap;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (tv.tv_usec / 1000));

	pthread_mutex_lock(&log_lock);
	if (log_json)
	{
		json_t	   *o = json_pack("{s:s, s:s, s:s, s:i, s:s}",
								  "time", stamp, "level", level_names[level],
								  "command", log_command, "pid", (int) getpid(),
								  "message", msg);
		char	   *line = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (line)
		{
			fprintf(stderr, "%s\n", line);
			free(line);
		}
		json_decref(o);
	}
	else
		fprintf(stderr, "%s revrx-agent %s[%d] %s: %s\n", stamp, log_command,
				(int) getpid(), level_names[level], msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

char *
rvx_iso_time(time_t t, char *out, size_t cap)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
	{
		if (cap > 0)
			out[0] = '\0';
	}
	return out;
}

double
rvx_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
