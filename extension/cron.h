/*-------------------------------------------------------------------------
 *
 * cron.h
 *	  Cron schedules for revrx.backup_schedule: parsing, matching, and the
 *	  next time a schedule fires.
 *
 * The syntax is the five fields of crontab(5):
 *
 *		minute hour day-of-month month day-of-week
 *
 * each a comma-separated list of "*", "N", "N-M", "*\/S", "N-M/S" or "N/S"
 * (N to the field's maximum, every S), with month names (jan..dec) and
 * day names (sun..sat) accepted, and 0 or 7 meaning Sunday.  The macros
 * @yearly (@annually), @monthly, @weekly, @daily (@midnight) and @hourly
 * stand for their usual expansions.  As in Vixie cron, when both the
 * day-of-month and the day-of-week field are restricted (neither starts
 * with "*"), a day matches if either matches.
 *
 * Schedules are evaluated in local time of a given time zone (the server's
 * "timezone" setting); a local minute that occurs twice when clocks go back
 * fires once, one that does not exist when they go forward does not fire.
 *
 * Pure functions, no I/O and no allocation; parse errors come back as text
 * for the caller to report, so the check hook of the setting can use them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_CRON_H
#define REVRX_CRON_H

#include "pgtime.h"

typedef struct RevrxCron
{
	uint64		minutes;		/* bit m: minute m (0-59) */
	uint32		hours;			/* bit h: hour h (0-23) */
	uint32		days;			/* bit d: day of month d (1-31) */
	uint32		months;			/* bit m: month m (1-12) */
	uint32		weekdays;		/* bit w: day of week w (0 = Sunday .. 6) */
	bool		days_star;		/* day-of-month field started with "*" */
	bool		weekdays_star;	/* day-of-week field started with "*" */
} RevrxCron;

/*
 * Parses text into *cron.  Returns false with a one-sentence explanation
 * (no trailing newline) in errbuf if it is not a valid schedule, including
 * one that can never fire (e.g. "0 0 31 2 *").
 */
extern bool revrx_cron_parse(const char *text, RevrxCron *cron,
							 char *errbuf, size_t errlen);

/* Whether the local time tm (minute resolution) is a time to fire. */
extern bool revrx_cron_matches(const RevrxCron *cron, const struct pg_tm *tm);

/*
 * The first minute after "after" (strictly later in both absolute and
 * local time) at which the schedule fires, in time zone tz.  False if
 * there is none within the next eight years.
 */
extern bool revrx_cron_next(const RevrxCron *cron, pg_time_t after,
							const pg_tz *tz, pg_time_t *next);

#endif							/* REVRX_CRON_H */
