/*-------------------------------------------------------------------------
 *
 * status.h
 *	  What status.c, the module's status report, offers the other files:
 *	  the agent's heartbeat file and the count of WAL files ready to archive.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_STATUS_H
#define REVRX_STATUS_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

/* An agent whose heartbeat is older than this is taken as not running. */
#define REVRX_AGENT_STALE_SECS	15

/* What status/agent.json says (status.c) */
typedef struct RevrxAgentStatus
{
	bool		missing;		/* the file does not exist */
	bool		valid;			/* read and parsed; the fields below apply */
	bool		has_pid;
	int32		pid;
	bool		has_updated_at;
	TimestampTz updated_at;
	char	   *last_stored_wal;	/* NULL if absent */
	bool		has_last_stored_at;
	TimestampTz last_stored_at;
	char	   *last_error;		/* NULL if absent */
	bool		has_last_error_at;
	TimestampTz last_error_at;
	/* the newest WAL stored, segment or partial: where it ends, when written */
	bool		has_newest_wal;
	XLogRecPtr	newest_wal_end;
	TimestampTz newest_wal_written_at;
} RevrxAgentStatus;

/* Never throws (except out of memory); spool_dir may be "". */
extern void revrx_agent_status_read(const char *spool_dir, RevrxAgentStatus *st);

/* The .ready files of pg_wal/archive_status: how many, and their segments' size. */
extern void revrx_wal_ready_count(int64 *count, int64 *bytes);

#endif							/* REVRX_STATUS_H */
