/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  The retention policy (see retention.h).
 *
 * Quadratic in the number of backups on purpose: a repository holds tens
 * or hundreds of backups, and plain loops are easier to check than an
 * index.  Ages are whole seconds; a backup exactly N days old is still
 * within N days.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "retention/retention.h"
#include "walname.h"

int
rvx_retention_days(const RvxRetentionPolicy *policy, const RvxRetainBackup *b)
{
	/* a scheduled backup is never "manual", even if it carries a label */
	if (!b->scheduled && b->labelled)
		return policy->labelled_days;
	return policy->scheduled_days;
}

static bool
within_age(const RvxRetentionPolicy *policy, int64_t now, const RvxRetainBackup *b)
{
	return now - b->stop_time <= (int64_t) rvx_retention_days(policy, b) * RVX_SECONDS_PER_DAY;
}

/* Is a newer than b?  By stop_time, then id (ids of one second differ by "-N"). */
static bool
newer(const RvxRetainBackup *a, const RvxRetainBackup *b)
{
	if (a->stop_time != b->stop_time)
		return a->stop_time > b->stop_time;
	return strcmp(a->id, b->id) > 0;
}

size_t
rvx_retention_apply(const RvxRetentionPolicy *policy, int64_t now, RvxRetainBackup *b,
					size_t n)
{
	size_t		kept = 0;
	bool		changed;

	for (size_t i = 0; i < n; i++)
	{
		b[i].needed_by = NULL;
		if (b[i].pinned)
			b[i].reason = RVX_RETAIN_PINNED;
		else if (b[i].has_stop_time && within_age(policy, now, &b[i]))
			b[i].reason = RVX_RETAIN_AGE;
		else
			b[i].reason = RVX_RETAIN_NONE;
	}

	/* the min_full newest full backups: rank each by the full ones newer than it */
	for (size_t i = 0; i < n; i++)
	{
		int			rank = 0;

		if (!b[i].full || !b[i].has_stop_time || b[i].reason != RVX_RETAIN_NONE)
			continue;
		for (size_t j = 0; j < n; j++)
			if (j != i && b[j].full && b[j].has_stop_time && newer(&b[j], &b[i]))
				rank++;
		if (rank < policy->min_full)
			b[i].reason = RVX_RETAIN_MIN_FULL;
	}

	for (size_t i = 0; i < n; i++)
		if (!b[i].has_stop_time && b[i].reason == RVX_RETAIN_NONE)
			b[i].reason = RVX_RETAIN_UNKNOWN_AGE;

	/* parents of retained backups, until nothing changes (chains of any length) */
	do
	{
		changed = false;
		for (size_t i = 0; i < n; i++)
		{
			if (b[i].reason == RVX_RETAIN_NONE || b[i].parent == NULL)
				continue;
			for (size_t j = 0; j < n; j++)
				if (b[j].reason == RVX_RETAIN_NONE && strcmp(b[j].id, b[i].parent) == 0)
				{
					b[j].reason = RVX_RETAIN_PARENT;
					b[j].needed_by = b[i].id;
					changed = true;
				}
		}
	} while (changed);

	for (size_t i = 0; i < n; i++)
		if (b[i].reason != RVX_RETAIN_NONE)
			kept++;
	return kept;
}

bool
rvx_retention_wal_bound(const RvxRetainBackup *b, size_t n, const uint64_t *floors,
						size_t nfloors, uint64_t *bound, const RvxRetainBackup **oldest)
{
	const RvxRetainBackup *o = NULL;

	for (size_t i = 0; i < n; i++)
		if (b[i].reason != RVX_RETAIN_NONE && (o == NULL || b[i].start_segno < o->start_segno))
			o = &b[i];
	if (oldest)
		*oldest = o;
	if (o == NULL)
		return false;
	*bound = o->start_segno;
	for (size_t i = 0; i < nfloors; i++)
		if (floors[i] < *bound)
		{
			*bound = floors[i];
			if (oldest)
				*oldest = NULL;
		}
	return true;
}

void
rvx_retention_explain(const RvxRetentionPolicy *policy, int64_t now, const RvxRetainBackup *b,
					  char *out, size_t cap)
{
	const char *what = b->scheduled ? "scheduled backup" :
		b->labelled ? "labelled manual backup" : "unlabelled manual backup";
	const char *setting = (!b->scheduled && b->labelled) ?
		"REVRX_RETAIN_LABELLED_DAYS" : "REVRX_RETAIN_SCHEDULED_DAYS";
	int			days = rvx_retention_days(policy, b);
	double		age = b->has_stop_time ? (double) (now - b->stop_time) / RVX_SECONDS_PER_DAY : 0;

	switch (b->reason)
	{
		case RVX_RETAIN_PINNED:
			snprintf(out, cap, "pinned");
			break;
		case RVX_RETAIN_AGE:
			snprintf(out, cap, "%s, %.1f days old, within %d days (%s)", what, age, days, setting);
			break;
		case RVX_RETAIN_MIN_FULL:
			snprintf(out, cap, "%s, %.1f days old, but one of the %d newest full backups "
					 "(REVRX_RETAIN_MIN_FULL)", what, age, policy->min_full);
			break;
		case RVX_RETAIN_UNKNOWN_AGE:
			snprintf(out, cap, "%s without a valid stop_time: its age is unknown", what);
			break;
		case RVX_RETAIN_PARENT:
			snprintf(out, cap, "%s, parent of retained backup %s", what,
					 b->needed_by ? b->needed_by : "?");
			break;
		case RVX_RETAIN_NONE:
			snprintf(out, cap, "%s, %.1f days old, older than %d days (%s), "
					 "not one of the %d newest full backups", what, age, days, setting,
					 policy->min_full);
			break;
	}
}

bool
rvx_retention_segno(const char *name, uint64_t seg_size, uint64_t *segno)
{
	RvxWalKind	kind = rvx_walname_kind(name);
	uint32_t	tli;

	if (kind != RVX_WAL_SEGMENT && kind != RVX_WAL_PARTIAL && kind != RVX_WAL_STREAMED &&
		kind != RVX_WAL_BACKUP_HISTORY)
		return false;
	return rvx_walname_segno(name, seg_size, &tli, segno);
}
