/*-------------------------------------------------------------------------
 *
 * backup.h
 *	  The base backup exporter (backup.c), which the backup worker
 *	  (worker.c) runs.
 *
 * The worker owns the exporter: revrx_backup_export() runs only in the
 * worker process, one backup at a time, and throws on any failure after
 * having released the server's backup state.  The caller then marks the
 * backup failed and tells the agent with revrx_backup_write_marker().
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_BACKUP_H
#define REVRX_BACKUP_H

#include "datatype/timestamp.h"

#include "backup_state.h"

/* One backup for the exporter to take. */
typedef struct RevrxBackupJob
{
	int			slot;			/* its entry in the shared table */
	char		id[REVRX_BACKUP_ID_LEN];
	const char *label;			/* UTF-8, NULL if none */
	bool		scheduled;
	const char *requested_by;	/* session user of revrx_backup_now(); NULL if scheduled */
	bool		incremental;	/* asked for: to the newest complete backup, if it can be */
	TimestampTz start_time;		/* the time in its id */
	bool		dir_created;	/* set by the exporter once it made
								 * <spool>/backup/<id>/ */
} RevrxBackupJob;

/*
 * Takes the backup and leaves it in the spool for the agent: every file
 * of the data directory and the tablespaces as an object, then
 * backup_manifest.rvx, then backup.json.rvx.  On return the shared entry
 * is "shipping".  Throws on failure (the server's backup state is released
 * first); the spool then holds a partial backup without backup.json.
 */
extern void revrx_backup_export(RevrxBackupJob *job);

/*
 * Writes <spool>/backup/<id><suffix> (e.g. ".aborted") durably with the
 * given content.  Failures are reported at elevel; returns false then (so
 * it can be used where throwing is not possible).
 */
extern bool revrx_backup_write_marker(const char *spool_dir, const char *id,
									  const char *suffix, const char *content,
									  int elevel);

#endif							/* REVRX_BACKUP_H */
