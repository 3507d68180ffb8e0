/*-------------------------------------------------------------------------
 *
 * restore_point.c
 *	  revrx_restore_point(name): a named restore point that
 *	  `revrx-agent restore --target-name` can find.
 *
 * PostgreSQL's own pg_create_restore_point() writes the point into WAL,
 * but nothing outside the WAL knows where it is, so a restore cannot tell
 * which backup to start from (one that ends before the point) or whether
 * the point is reachable at all.  This function writes the same WAL
 * record and records {name, lsn, time, timeline} in the repository under
 * restore_points/<name>.json (through the spool, spool_meta.c).
 *
 * Names are limited to what is safe as a file and key name.  A name may be
 * used once: PostgreSQL stops at the first point of a name it replays, so
 * a reused name would make the target ambiguous; the agent never replaces
 * the stored record, and a name still waiting in the spool is refused
 * here.  Names starting with "revrx-" are reserved for revrx's own points
 * (table fingerprints).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/json.h"

#include "manifest.h"
#include "restore_point.h"
#include "spool.h"
#include "spool_meta.h"

PG_FUNCTION_INFO_V1(revrx_restore_point);

/* Restore point names end up in xl_restore_point.rp_name[MAXFNAMELEN]. */
#define RESTORE_POINT_NAME_MAX	(MAXFNAMELEN - 1)

static void
check_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > RESTORE_POINT_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("restore point name must have 1 to %d characters", RESTORE_POINT_NAME_MAX)));
	for (const char *c = name; *c; c++)
	{
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			  (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("restore point name \"%s\" contains an invalid character", name),
					 errdetail("Use letters, digits, \"-\", \"_\" and \".\".")));
	}
	if (name[0] == '.' || pg_strncasecmp(name, "revrx-", 6) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("restore point name \"%s\" is reserved", name),
				 errdetail("Names may not start with \".\" or \"revrx-\".")));
}

/*
 * Writes the restore point and its record; shared with the fingerprints,
 * which take theirs under a reserved name.  Returns the point's LSN.
 */
XLogRecPtr
revrx_restore_point_create(const char *name, bool record)
{
	char		key[MAXPGPATH];
	char		wal[MAXFNAMELEN];
	char		when[64];
	XLogRecPtr	lsn;
	XLogSegNo	segno;
	TimeLineID	tli;
	StringInfoData doc;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recovery is in progress"),
				 errhint("Restore points can only be created on the primary.")));
	if (!XLogIsNeeded())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("WAL level not sufficient for creating a restore point"),
				 errhint("wal_level must be set to \"replica\" or \"logical\" at server start.")));

	snprintf(key, sizeof(key), "%s%s.json", RVX_RESTORE_POINT_PREFIX, name);
	if (record && revrx_meta_exists(key))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("restore point \"%s\" already exists", name),
				 errdetail("It is still waiting in the spool, or revrx-agent refused it.")));

	lsn = XLogRestorePoint(name);
	tli = GetWALInsertionTimeLine();
	XLByteToPrevSeg(lsn, segno, wal_segment_size);
	XLogFileName(wal, tli, segno, wal_segment_size);
	revrx_format_utc((pg_time_t) time(NULL), when, sizeof(when));

	if (record)
	{
		initStringInfo(&doc);
		appendStringInfoString(&doc, "{\"format\": 1, \"name\": ");
		escape_json(&doc, name);
		appendStringInfo(&doc, ", \"lsn\": \"%X/%X\", \"time\": \"%s\", \"timeline\": %u, "
						 "\"wal\": \"%s\", \"system_identifier\": \"" UINT64_FORMAT "\"}\n",
						 LSN_FORMAT_ARGS(lsn), when, tli, wal, GetSystemIdentifier());
		revrx_meta_write(key, doc.data, doc.len);
		pfree(doc.data);
	}
	return lsn;
}

/*
 * revrx_restore_point
 *
 * SQL: revrx_restore_point(name text) RETURNS pg_lsn.
 */
Datum
revrx_restore_point(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	check_name(name);
	PG_RETURN_LSN(revrx_restore_point_create(name, true));
}
