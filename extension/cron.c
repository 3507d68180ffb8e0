/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Cron schedules: parsing, matching and the next firing time.
 *
 * See cron.h for the accepted syntax.  A schedule is kept as one bit mask
 * per field, so matching a minute is five bit tests and the next firing
 * time is found by walking forward with large steps (a day while the day
 * does not match, an hour while the hour does not) rather than minute by
 * minute.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "cron.h"

/* The longest a schedule may stay silent before revrx_cron_next gives up. */
#define CRON_HORIZON_SECS	((pg_time_t) 8 * 366 * 24 * 60 * 60)

typedef struct CronField
{
	const char *name;			/* for messages */
	int			min;
	int			max;
	const char *const *names;	/* NULL, or names for min, min + 1, ... */
} CronField;

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};

static const char *const weekday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

/* 7 is accepted for Sunday, as in crontab(5); it is folded onto 0. */
static const CronField fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day-of-month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day-of-week", 0, 7, weekday_names},
};

static const struct
{
	const char *name;
	const char *expansion;
}			macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

static const int days_in_month[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/*
 * Reads one value (a number or, where the field has them, a name) at *p.
 * Returns false with a message if there is none or it is out of range.
 */
static bool
parse_value(const CronField *f, const char **p, int *value,
			char *errbuf, size_t errlen)
{
	const char *s = *p;

	if (isdigit((unsigned char) *s))
	{
		long		v = 0;

		while (isdigit((unsigned char) *s))
		{
			v = v * 10 + (*s - '0');
			if (v > 1000)
				break;
			s++;
		}
		if (v < f->min || v > f->max)
		{
			snprintf(errbuf, errlen,
					 "The %s field value \"%.*s\" is out of range (%d-%d).",
					 f->name, (int) (strspn(*p, "0123456789")), *p,
					 f->min, f->max);
			return false;
		}
		*value = (int) v;
		*p = s;
		return true;
	}

	if (f->names != NULL && isalpha((unsigned char) *s))
	{
		size_t		len = 0;

		while (isalpha((unsigned char) s[len]))
			len++;
		for (int i = 0; f->names[i] != NULL; i++)
		{
			if (len == 3 && pg_strncasecmp(s, f->names[i], 3) == 0)
			{
				*value = f->min + i;
				*p = s + len;
				return true;
			}
		}
		snprintf(errbuf, errlen, "The %s field has an unknown name \"%.*s\".",
				 f->name, (int) len, s);
		return false;
	}

	if (*s == '\0' || *s == ',')
		snprintf(errbuf, errlen, "The %s field has an empty list element.",
				 f->name);
	else
		snprintf(errbuf, errlen, "The %s field has an unexpected \"%c\".",
				 f->name, *s);
	return false;
}

/*
 * Parses one field (text without blanks) into a bit mask.
 */
static bool
parse_field(const CronField *f, const char *text, uint64 *mask,
			char *errbuf, size_t errlen)
{
	const char *p = text;

	*mask = 0;
	for (;;)
	{
		int			lo,
					hi,
					step = 1;
		bool		ranged = false;
		const char *item = p;

		if (*p == '*')
		{
			lo = f->min;
			hi = f->max;
			p++;
		}
		else
		{
			if (!parse_value(f, &p, &lo, errbuf, errlen))
				return false;
			hi = lo;
			if (*p == '-')
			{
				ranged = true;
				p++;
				if (!parse_value(f, &p, &hi, errbuf, errlen))
					return false;
				if (lo > hi)
				{
					snprintf(errbuf, errlen,
							 "The %s field range \"%.*s\" runs backwards.",
							 f->name, (int) (p - item), item);
					return false;
				}
			}
		}

		if (*p == '/')
		{
			long		s = 0;

			p++;
			if (!isdigit((unsigned char) *p))
			{
				snprintf(errbuf, errlen,
						 "The %s field has a \"/\" without a step after it.",
						 f->name);
				return false;
			}
			while (isdigit((unsigned char) *p))
			{
				s = s * 10 + (*p - '0');
				if (s > 1000)
					break;
				p++;
			}
			if (s < 1 || s > f->max)
			{
				snprintf(errbuf, errlen,
						 "The %s field step must be between 1 and %d.",
						 f->name, f->max);
				return false;
			}
			step = (int) s;
			/* "N/S" means from N to the end of the field's range */
			if (item[0] != '*' && !ranged)
				hi = f->max;
		}

		for (int v = lo; v <= hi; v += step)
			*mask |= UINT64CONST(1) << v;

		if (*p == '\0')
			return true;
		if (*p != ',')
		{
			snprintf(errbuf, errlen, "The %s field has an unexpected \"%c\".",
					 f->name, *p);
			return false;
		}
		p++;
	}
}

bool
revrx_cron_parse(const char *text, RevrxCron *cron, char *errbuf, size_t errlen)
{
	char		buf[256];
	char	   *field[6];
	int			nfields = 0;
	char	   *p;
	uint64		masks[5];
	bool		fires;

	memset(cron, 0, sizeof(RevrxCron));

	while (isspace((unsigned char) *text))
		text++;
	if (text[0] == '@')
	{
		size_t		len = strcspn(text, " \t\r\n");
		const char *rest = text + len;

		while (isspace((unsigned char) *rest))
			rest++;
		for (int i = 0; i < lengthof(macros); i++)
		{
			if (strlen(macros[i].name) == len &&
				pg_strncasecmp(text, macros[i].name, len) == 0 && *rest == '\0')
				return revrx_cron_parse(macros[i].expansion, cron, errbuf, errlen);
		}
		snprintf(errbuf, errlen, "\"%.*s\" is not a known schedule macro "
				 "(@yearly, @monthly, @weekly, @daily, @hourly).",
				 (int) Min(len, 32), text);
		return false;
	}

	if (strlen(text) >= sizeof(buf))
	{
		snprintf(errbuf, errlen, "The schedule is longer than %d characters.",
				 (int) sizeof(buf) - 1);
		return false;
	}
	strlcpy(buf, text, sizeof(buf));

	p = buf;
	for (;;)
	{
		while (isspace((unsigned char) *p))
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (nfields == lengthof(field))
			break;
		field[nfields++] = p;
		while (*p != '\0' && !isspace((unsigned char) *p))
			p++;
	}
	if (nfields != 5)
	{
		snprintf(errbuf, errlen,
				 "A schedule has 5 fields (minute hour day-of-month month day-of-week), not %s%d.",
				 nfields > 5 ? "more than " : "", Min(nfields, 5));
		return false;
	}

	for (int i = 0; i < 5; i++)
	{
		if (!parse_field(&fields[i], field[i], &masks[i], errbuf, errlen))
			return false;
	}

	cron->minutes = masks[0];
	cron->hours = (uint32) masks[1];
	cron->days = (uint32) masks[2];
	cron->months = (uint32) masks[3];
	cron->weekdays = (uint32) (masks[4] & 0x7f);
	if (masks[4] & (UINT64CONST(1) << 7))
		cron->weekdays |= 1;	/* 7 is Sunday too */
	cron->days_star = (field[2][0] == '*');
	cron->weekdays_star = (field[4][0] == '*');

	/*
	 * A schedule that can never fire is refused rather than accepted and
	 * silently never run.  Only the day of month can make that happen (e.g.
	 * the 30th of February), and only when it alone decides the day.
	 */
	fires = true;
	if (!cron->days_star && cron->weekdays_star)
	{
		fires = false;
		for (int m = 1; m <= 12 && !fires; m++)
		{
			if (!(cron->months & (1U << m)))
				continue;
			for (int d = 1; d <= days_in_month[m - 1]; d++)
			{
				if (cron->days & (1U << d))
				{
					fires = true;
					break;
				}
			}
		}
	}
	if (!fires)
	{
		snprintf(errbuf, errlen,
				 "No selected month has the selected day of the month, so the schedule never fires.");
		return false;
	}
	return true;
}

bool
revrx_cron_matches(const RevrxCron *cron, const struct pg_tm *tm)
{
	bool		dom_ok = (cron->days & (1U << tm->tm_mday)) != 0;
	bool		dow_ok = (cron->weekdays & (1U << tm->tm_wday)) != 0;
	bool		day_ok;

	if (cron->days_star || cron->weekdays_star)
		day_ok = dom_ok && dow_ok;
	else
		day_ok = dom_ok || dow_ok;

	/* pg_localtime() counts months from 0 */
	return day_ok &&
		(cron->months & (1U << (tm->tm_mon + 1))) != 0 &&
		(cron->hours & (1U << tm->tm_hour)) != 0 &&
		(cron->minutes & (UINT64CONST(1) << tm->tm_min)) != 0;
}

/* A number that orders local times to the minute. */
static int64
local_key(const struct pg_tm *tm)
{
	return ((((int64) tm->tm_year * 13 + tm->tm_mon) * 32 + tm->tm_mday) * 24 +
			tm->tm_hour) * 60 + tm->tm_min;
}

bool
revrx_cron_next(const RevrxCron *cron, pg_time_t after, const pg_tz *tz,
				pg_time_t *next)
{
	struct pg_tm *tmp;
	int64		after_key;
	pg_time_t	t;
	pg_time_t	limit = after + CRON_HORIZON_SECS;

	tmp = pg_localtime(&after, tz);
	if (tmp == NULL)
		return false;
	after_key = local_key(tmp);

	/* the start of the next minute */
	t = after - (((after % 60) + 60) % 60) + 60;

	while (t <= limit)
	{
		struct pg_tm tm;
		bool		day_ok;

		tmp = pg_localtime(&t, tz);
		if (tmp == NULL)
			return false;
		tm = *tmp;

		if (cron->days_star || cron->weekdays_star)
			day_ok = (cron->days & (1U << tm.tm_mday)) &&
				(cron->weekdays & (1U << tm.tm_wday));
		else
			day_ok = (cron->days & (1U << tm.tm_mday)) ||
				(cron->weekdays & (1U << tm.tm_wday));

		if (!day_ok || !(cron->months & (1U << (tm.tm_mon + 1))))
		{
			/*
			 * On to the end of this local day, less an hour, so that a day
			 * shortened by a DST change cannot make us skip the next
			 * day's first hour; the remaining hour is walked by the hour
			 * step below.
			 */
			int			left = (23 - tm.tm_hour) * 60 + (60 - tm.tm_min);

			t += (pg_time_t) Max(left - 60, 60 - tm.tm_min) * 60;
			continue;
		}
		if (!(cron->hours & (1U << tm.tm_hour)))
		{
			t += (pg_time_t) (60 - tm.tm_min) * 60;
			continue;
		}
		if (!(cron->minutes & (UINT64CONST(1) << tm.tm_min)) ||
			local_key(&tm) <= after_key)
		{
			t += 60;
			continue;
		}
		*next = t;
		return true;
	}
	return false;
}
