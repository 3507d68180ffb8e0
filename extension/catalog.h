/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The agent's catalog of the repository, as the module reads it
 *	  (catalog.c): status/backups.json and status/verifications.json.
 *
 * The readers never throw (except out of memory); a missing or malformed
 * file reads as no entries.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_CATALOG_H
#define REVRX_CATALOG_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

/* One backup of the repository, as the agent's catalog summarizes it. */
typedef struct RevrxCatalogEntry
{
	char	   *id;
	char	   *label;			/* NULL if none */
	char	   *kind;			/* NULL if absent */
	bool		has_scheduled;
	bool		scheduled;
	bool		has_start_lsn;
	XLogRecPtr	start_lsn;
	bool		has_stop_lsn;
	XLogRecPtr	stop_lsn;
	bool		has_start_time;
	TimestampTz start_time;
	bool		has_stop_time;
	TimestampTz stop_time;
	bool		has_original_bytes;
	int64		original_bytes;
	bool		has_stored_bytes;
	int64		stored_bytes;
	bool		has_file_count;
	int64		file_count;
	char	   *problems;		/* JSON array text, NULL if absent/unusable */
	char	   *not_included;	/* JSON array text, NULL if absent/unusable */
	TimeLineID	timeline;		/* 0 if absent */
	char	   *parent;			/* an incremental's parent; NULL for a full backup */
	bool		has_pinned;		/* false from an agent that does not say */
	bool		pinned;			/* revrx-agent pin: expire keeps it */
	int			pg_major;		/* PostgreSQL major of the backup; 0 if not said */
} RevrxCatalogEntry;

/*
 * Reads <spool>/status/backups.json (catalog.c).  Returns the number of
 * usable entries (palloc'd array in *entries); 0 if the file is missing,
 * unreadable or malformed, or spool_dir is "".  Never throws, except out
 * of memory.
 */
extern int	revrx_catalog_read(const char *spool_dir, RevrxCatalogEntry **entries);

/* One restore drill, as status/verifications.json summarizes it. */
typedef struct RevrxVerification
{
	char	   *backup_id;
	bool		passed;
	bool		has_started_at;
	TimestampTz started_at;
	bool		has_finished_at;
	TimestampTz finished_at;
	bool		has_recovery_seconds;
	double		recovery_seconds;
	bool		has_total_seconds;
	double		total_seconds;
	char	   *failed_checks;	/* JSON array text, NULL if absent/unusable */
	char	   *report_key;		/* NULL if absent */
} RevrxVerification;

/*
 * Reads <spool>/status/verifications.json (catalog.c), newest first as the
 * agent writes it; same contract as revrx_catalog_read().
 */
extern int	revrx_verifications_read(const char *spool_dir, RevrxVerification **entries);

#endif							/* REVRX_CATALOG_H */
