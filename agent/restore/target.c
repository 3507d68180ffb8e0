/*-------------------------------------------------------------------------
 *
 * target.c
 *	  Recovery targets: parsing, formatting, and comparing them with where
 *	  backups end and with the reachable range (see target.h).  No I/O;
 *	  target_plan.c reads the repository.
 *
 * Times are kept as microseconds since the epoch in UTC, parsed and
 * formatted by base/timefmt.c.
 *
 * Backup records carry stop_time in whole seconds, written just after the
 * backup stopped, so the real end lies within that second: a record's end
 * is taken as the next whole second.  A backup whose end is that close to
 * the target is passed over for an older one, which is slower to replay but
 * never wrong.  Likewise the end of the archive in time is the store time
 * of its newest segment rounded up: a segment is stored after every commit
 * in it was made.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/options.h"
#include "restore/target.h"

#define USECS_PER_SEC	INT64_C(1000000)
#define FIRST_NORMAL_XID 3		/* PostgreSQL's FirstNormalTransactionId */

/* ---------------------------------------------------------------- parsing */

int
rvx_target_parse_time(const char *text, int64_t *us, RvxError *err)
{
	return rvx_time_parse_arg("recovery target time", text, us, err);
}

int
rvx_target_parse_lsn(const char *text, uint64_t *lsn, RvxError *err)
{
	const char *slash = strchr(text, '/');
	uint64_t	hi = 0,
				lo = 0;
	size_t		nhi = slash ? (size_t) (slash - text) : 0;
	size_t		nlo = slash ? strlen(slash + 1) : 0;

	if (slash == NULL || nhi < 1 || nhi > 8 || nlo < 1 || nlo > 8 ||
		strspn(text, "0123456789abcdefABCDEF") != nhi ||
		strspn(slash + 1, "0123456789abcdefABCDEF") != nlo)
		return rvx_error(err, RVX_E_USAGE,
						 "invalid recovery target LSN \"%s\" (expected X/Y in hexadecimal, as "
						 "pg_current_wal_lsn() shows, e.g. \"0/3000028\")", text);
	hi = strtoull(text, NULL, 16);
	lo = strtoull(slash + 1, NULL, 16);
	*lsn = (hi << 32) | lo;
	return 0;
}

int
rvx_target_parse_xid(const char *text, uint64_t *xid, RvxError *err)
{
	char	   *end;
	uint64_t	v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0)
		return rvx_error(err, RVX_E_USAGE,
						 "invalid recovery target xid \"%s\" (expected a transaction id in decimal, "
						 "as pg_current_xact_id() or txid_current() shows)", text);
	if ((v & 0xFFFFFFFF) < FIRST_NORMAL_XID)
		return rvx_error(err, RVX_E_USAGE,
						 "invalid recovery target xid \"%s\": not the id of a normal transaction", text);
	*xid = v;
	return 0;
}

/* ---------------------------------------------------------------- options */

static const char *
kind_option(RvxTargetKind kind)
{
	switch (kind)
	{
		case RVX_TARGET_IMMEDIATE:
			return "--target";
		case RVX_TARGET_TIME:
			return "--target-time";
		case RVX_TARGET_LSN:
			return "--target-lsn";
		case RVX_TARGET_XID:
			return "--target-xid";
		case RVX_TARGET_NAME:
			return "--target-name";
		case RVX_TARGET_NONE:
			break;
	}
	return "no target";
}

int
rvx_target_set(RvxRecoveryTarget *t, RvxTargetKind kind, const char *value, RvxError *err)
{
	if (t->kind != RVX_TARGET_NONE)
		return rvx_error(err, RVX_E_USAGE,
						 "only one recovery target may be given, not both %s and %s",
						 kind_option(t->kind), kind_option(kind));
	switch (kind)
	{
		case RVX_TARGET_IMMEDIATE:
			if (strcmp(value, "immediate") != 0)
				return rvx_error(err, RVX_E_USAGE,
								 "invalid --target \"%s\" (the only value is \"immediate\")", value);
			break;
		case RVX_TARGET_TIME:
			if (rvx_target_parse_time(value, &t->time_us, err) != 0)
				return -1;
			break;
		case RVX_TARGET_LSN:
			if (rvx_target_parse_lsn(value, &t->lsn, err) != 0)
				return -1;
			break;
		case RVX_TARGET_XID:
			if (rvx_target_parse_xid(value, &t->xid, err) != 0)
				return -1;
			break;
		case RVX_TARGET_NAME:
			if (value[0] == '\0' || strlen(value) > RVX_RESTORE_POINT_NAME_MAX)
				return rvx_error(err, RVX_E_USAGE,
								 "invalid recovery target name \"%s\" (1 to %d bytes)", value,
								 RVX_RESTORE_POINT_NAME_MAX);
			for (const char *c = value; *c; c++)
				if ((unsigned char) *c < 0x20 || *c == 0x7f)
					return rvx_error(err, RVX_E_USAGE,
									 "invalid recovery target name: it contains a control character");
			break;
		case RVX_TARGET_NONE:
			return rvx_error(err, RVX_E_INTERNAL, "no target kind");
	}
	t->kind = kind;
	t->value = value;
	return 0;
}

int
rvx_target_set_action(RvxRecoveryTarget *t, const char *value, RvxError *err)
{
	if (strcmp(value, "promote") == 0)
		t->action = RVX_TARGET_ACTION_PROMOTE;
	else if (strcmp(value, "pause") == 0)
		t->action = RVX_TARGET_ACTION_PAUSE;
	else if (strcmp(value, "shutdown") == 0)
		t->action = RVX_TARGET_ACTION_SHUTDOWN;
	else
		return rvx_error(err, RVX_E_USAGE,
						 "invalid --target-action \"%s\" (promote, pause or shutdown)", value);
	return 0;
}

int
rvx_target_set_timeline(RvxRecoveryTarget *t, const char *value, RvxError *err)
{
	if (strcmp(value, "latest") != 0 && strcmp(value, "current") != 0)
	{
		char	   *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(value, &end, 10);
		if (value[0] < '1' || value[0] > '9' || *end != '\0' || errno != 0 || n > UINT32_MAX)
			return rvx_error(err, RVX_E_USAGE,
							 "invalid --target-timeline \"%s\" (latest, current or a timeline number)",
							 value);
	}
	t->timeline = value;
	return 0;
}

int
rvx_target_check(const RvxRecoveryTarget *t, RvxError *err)
{
	if (t->exclusive && t->kind != RVX_TARGET_TIME && t->kind != RVX_TARGET_LSN &&
		t->kind != RVX_TARGET_XID)
		return rvx_error(err, RVX_E_USAGE,
						 "--target-exclusive goes with --target-time, --target-lsn or --target-xid");
	if (t->action != RVX_TARGET_ACTION_PROMOTE && t->kind == RVX_TARGET_NONE)
		return rvx_error(err, RVX_E_USAGE,
						 "--target-action needs a recovery target (without one, recovery replays "
						 "all the archived WAL and the server is promoted)");
	return 0;
}

int
rvx_target_check_backup(const char *backup_id, const RvxRecoveryTarget *t, RvxError *err)
{
	if (backup_id && strcmp(backup_id, "latest") != 0 && !rvx_backup_id_valid(backup_id))
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not a backup id (see revrx-agent list)",
						 backup_id);
	return rvx_target_check(t, err);
}

/* ---------------------------------------------------------------- formatting */

void
rvx_target_format_lsn(uint64_t lsn, char *out, size_t cap)
{
	snprintf(out, cap, "%X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
}

void
rvx_target_describe(const RvxRecoveryTarget *t, char *out, size_t cap)
{
	char		buf[64];

	switch (t->kind)
	{
		case RVX_TARGET_TIME:
			rvx_time_format_short(t->time_us, buf, sizeof(buf));
			snprintf(out, cap, "time %s", buf);
			break;
		case RVX_TARGET_LSN:
			rvx_target_format_lsn(t->lsn, buf, sizeof(buf));
			snprintf(out, cap, "LSN %s", buf);
			break;
		case RVX_TARGET_XID:
			snprintf(out, cap, "xid %" PRIu64, t->xid);
			break;
		case RVX_TARGET_NAME:
			snprintf(out, cap, "restore point \"%s\"", t->value);
			break;
		case RVX_TARGET_IMMEDIATE:
			snprintf(out, cap, "immediate (the end of the backup)");
			break;
		case RVX_TARGET_NONE:
			snprintf(out, cap, "the end of the archived WAL");
			break;
	}
}

/* Appends a postgresql.conf string literal: quotes doubled, backslashes escaped. */
static void
conf_quote(char *out, size_t cap, const char *value)
{
	size_t		n = strlen(out);

	if (n + 1 < cap)
		out[n++] = '\'';
	for (const char *c = value; *c && n + 3 < cap; c++)
	{
		if (*c == '\'' || *c == '\\')
			out[n++] = *c;
		out[n++] = *c;
	}
	if (n + 1 < cap)
		out[n++] = '\'';
	out[n] = '\0';
}

int
rvx_target_conf(const RvxRecoveryTarget *t, char *out, size_t cap)
{
	static const char *const names[] = {
		NULL, "recovery_target", "recovery_target_time", "recovery_target_lsn",
		"recovery_target_xid", "recovery_target_name"
	};
	static const char *const actions[] = {"promote", "pause", "shutdown"};
	char		value[64];
	size_t		n;

	if (cap < 1024)
		return -1;
	out[0] = '\0';

	/*
	 * Every kind is set, the unused ones to '' and first: the restored
	 * configuration may name a target of its own, and PostgreSQL refuses
	 * two kinds.  Only the last setting of a parameter counts, and the
	 * assign hooks (PG 15) also refuse clearing a kind while another is
	 * set, so the clearing lines must all come before the target's.
	 */
	for (int i = 0; i < 5; i++)
	{
		/* the kinds in order, the target's own moved to the end */
		int			k = RVX_TARGET_IMMEDIATE + i;
		const char *v = "";

		if (t->kind != RVX_TARGET_NONE && k >= (int) t->kind)
			k = i == 4 ? (int) t->kind : k + 1;
		if (k == (int) t->kind)
		{
			switch (t->kind)
			{
				case RVX_TARGET_TIME:
					rvx_time_format(t->time_us, value, sizeof(value));
					break;
				case RVX_TARGET_LSN:
					rvx_target_format_lsn(t->lsn, value, sizeof(value));
					break;
				case RVX_TARGET_XID:
					snprintf(value, sizeof(value), "%" PRIu64, t->xid);
					break;
				case RVX_TARGET_IMMEDIATE:
					snprintf(value, sizeof(value), "immediate");
					break;
				default:
					value[0] = '\0';
			}
			v = t->kind == RVX_TARGET_NAME ? t->value : value;
		}
		n = strlen(out);
		snprintf(out + n, cap - n, "%s = ", names[k]);
		conf_quote(out, cap - 1, v);
		n = strlen(out);
		snprintf(out + n, cap - n, "\n");
	}
	n = strlen(out);
	if (t->kind == RVX_TARGET_TIME || t->kind == RVX_TARGET_LSN || t->kind == RVX_TARGET_XID)
		n += snprintf(out + n, cap - n, "recovery_target_inclusive = %s\n",
					  t->exclusive ? "false" : "true");
	if (t->kind != RVX_TARGET_NONE)
		n += snprintf(out + n, cap - n, "recovery_target_action = '%s'\n", actions[t->action]);
	n += snprintf(out + n, cap - n, "recovery_target_timeline = '%s'\n",
				  t->timeline ? t->timeline : "latest");
	return n < cap ? 0 : -1;
}

/* ---------------------------------------------------------------- backups */

int
rvx_backup_end_from_record(const json_t *record, RvxBackupEnd *out, RvxError *err)
{
	const char *id = json_string_value(json_object_get(record, "id"));
	const char *lsn = json_string_value(json_object_get(record, "stop_lsn"));
	const char *time = json_string_value(json_object_get(record, "stop_time"));
	const json_t *tli = json_object_get(record, "timeline");
	const char *nx = json_string_value(json_object_get(record, "next_xid"));
	RvxError	local;

	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id ? id : "?");
	if (lsn == NULL || rvx_target_parse_lsn(lsn, &out->stop_lsn, &local) != 0)
		return rvx_error(err, RVX_E_CORRUPT, "backup record %s has no valid \"stop_lsn\"", out->id);
	if (time == NULL || rvx_target_parse_time(time, &out->stop_time_us, &local) != 0)
		return rvx_error(err, RVX_E_CORRUPT, "backup record %s has no valid \"stop_time\"", out->id);
	/* whole seconds: written just after the end, truncated; the end is before the next second */
	if (strchr(time, '.') == NULL)
		out->stop_time_us += USECS_PER_SEC;
	if (!json_is_integer(tli) || json_integer_value(tli) < 1 ||
		json_integer_value(tli) > UINT32_MAX)
		return rvx_error(err, RVX_E_CORRUPT, "backup record %s has no valid \"timeline\"", out->id);
	out->timeline = (uint32_t) json_integer_value(tli);
	if (nx != NULL)
	{
		char	   *end;

		errno = 0;
		out->next_xid = strtoull(nx, &end, 10);
		if (nx[0] < '0' || nx[0] > '9' || *end != '\0' || errno != 0)
			return rvx_error(err, RVX_E_CORRUPT, "backup record %s has an invalid \"next_xid\"",
							 out->id);
		out->has_next_xid = true;
	}
	return 0;
}

int
rvx_target_reachable_from(const RvxRecoveryTarget *t, uint64_t point_lsn, const RvxBackupEnd *b)
{
	switch (t->kind)
	{
		case RVX_TARGET_TIME:
			return b->stop_time_us <= t->time_us;
		case RVX_TARGET_LSN:
			return b->stop_lsn <= t->lsn;
		case RVX_TARGET_NAME:
			return point_lsn == 0 || b->stop_lsn <= point_lsn;
		case RVX_TARGET_XID:
			if (!b->has_next_xid)
				return -1;

			/*
			 * The transaction began after the backup ended, so its commit
			 * comes after the consistency point.  A plain 32-bit xid is
			 * compared within the epoch (docs/pitr.md: give the 64-bit
			 * value near a wraparound).
			 */
			if ((t->xid >> 32) == 0)
				return (uint32_t) b->next_xid <= (uint32_t) t->xid;
			return b->next_xid <= t->xid;
		case RVX_TARGET_IMMEDIATE:
		case RVX_TARGET_NONE:
			return 1;
	}
	return 1;
}

static void
format_range(const RvxRecoveryTarget *t, const RvxReach *r, char *out, size_t cap)
{
	char		a[64] = "?",
				b[64] = "?";

	if (t->kind == RVX_TARGET_TIME)
	{
		if (r->has_backup)
			rvx_time_format_short(r->first_time_us, a, sizeof(a));
		if (r->has_wal && r->last_time_us != 0)
			rvx_time_format_short(r->last_time_us, b, sizeof(b));
	}
	else
	{
		if (r->has_backup)
			rvx_target_format_lsn(r->first_lsn, a, sizeof(a));
		if (r->has_wal)
			rvx_target_format_lsn(r->last_lsn, b, sizeof(b));
	}
	snprintf(out, cap, "reachable: %s .. %s", a, b);
}

int
rvx_target_check_reach(const RvxRecoveryTarget *t, uint64_t point_lsn, const RvxReach *r,
					   RvxError *err)
{
	char		what[128];
	char		range[160];
	bool		before = false,
				after = false;

	if (t->kind == RVX_TARGET_TIME)
	{
		before = r->has_backup && t->time_us < r->first_time_us;
		after = r->has_wal && r->last_time_us != 0 && t->time_us > r->last_time_us;
	}
	else if (t->kind == RVX_TARGET_LSN || (t->kind == RVX_TARGET_NAME && point_lsn != 0))
	{
		uint64_t	lsn = t->kind == RVX_TARGET_LSN ? t->lsn : point_lsn;

		before = r->has_backup && lsn < r->first_lsn;
		after = !r->has_wal || lsn > r->last_lsn;
	}
	else
		return 0;
	if (!before && !after)
		return 0;
	rvx_target_describe(t, what, sizeof(what));
	format_range(t, r, range, sizeof(range));
	if (before)
		return rvx_error(err, RVX_E_USAGE,
						 "recovery target %s is before the end of the oldest backup: no backup "
						 "can be recovered to it (%s)", what, range);
	return rvx_error(err, RVX_E_USAGE,
					 "recovery target %s is after the last archived WAL (%s)", what, range);
}

int
rvx_target_option(RvxRecoveryTarget *t, int argc, char **argv, int *i, RvxError *err)
{
	static const struct
	{
		const char *name;
		RvxTargetKind kind;
	}			kinds[] = {
		{"--target-time", RVX_TARGET_TIME},
		{"--target-lsn", RVX_TARGET_LSN},
		{"--target-name", RVX_TARGET_NAME},
		{"--target-xid", RVX_TARGET_XID},
		{"--target", RVX_TARGET_IMMEDIATE},
	};
	const char *arg = argv[*i];
	bool		missing = false;
	const char *v;

	if (strcmp(arg, "--target-exclusive") == 0)
	{
		t->exclusive = true;
		return 1;
	}
	if ((v = rvx_option_value(argc, argv, i, "--target-action", NULL, &missing)) != NULL)
		return rvx_target_set_action(t, v, err) == 0 ? 1 : -1;
	if ((v = rvx_option_value(argc, argv, i, "--target-timeline", NULL, &missing)) != NULL)
		return rvx_target_set_timeline(t, v, err) == 0 ? 1 : -1;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && !missing; k++)
	{
		if ((v = rvx_option_value(argc, argv, i, kinds[k].name, NULL, &missing)) != NULL)
			return rvx_target_set(t, kinds[k].kind, v, err) == 0 ? 1 : -1;
	}
	if (missing)
		return rvx_error(err, RVX_E_USAGE, "option \"%s\" needs a value", arg);
	return 0;
}
