/*-------------------------------------------------------------------------
 *
 * restore.h
 *	  Restoring a base backup from the repository into a data directory
 *	  (the engine of `revrx-agent restore`; cmd_restore.c is its command
 *	  line).  The contract is the "Restore" section of
 *	  docs/backup-format.md.
 *
 * What a caller can rely on:
 *	- Nothing is changed before every check that can be made up front has
 *	  passed: the repository belongs to one cluster (repo.json), the
 *	  recovery target is reachable and the backup ends before it (target.h),
 *	  the backup is complete and its record is sound, the target directory
 *	  and the tablespace locations are empty (or --force), no server runs
 *	  in the target directory.
 *	- Every file is verified while it is written (fetch.h): the object's
 *	  own checks, plus the size and SHA-256 the backup record lists for
 *	  that file.  It appears under its name only afterwards.
 *	- global/pg_control is written last, after every other file, the
 *	  recovery settings and an fsync of every file and directory.  Without
 *	  it PostgreSQL refuses to start, so a restore that failed or was
 *	  interrupted can never be mistaken for a data directory.  A failure
 *	  names the file and the object, and leaves the directory incomplete
 *	  (run again with --force).
 *	- The work is spread over opts->parallel threads, each with its own
 *	  repository connection, largest files first; each file is fsynced
 *	  once, by the thread that wrote it, when it is complete.
 *	- Memory is the backup record (one entry per file) plus a fixed buffer
 *	  per thread; no file is ever held in memory.
 *	- delta (restore --delta) into a directory that is not empty: it must
 *	  be a data directory of the repository's cluster (its pg_control's
 *	  system identifier) with no server running.  A file the backup has
 *	  that is already there with the recorded size and SHA-256 (read back
 *	  from disk: restore_reuse.h) is kept, every other one is downloaded
 *	  as above, and whatever is neither the backup's nor written by the
 *	  restore itself is removed.  pg_control goes first (and is written
 *	  last, as always), so the same holds: a delta restore that stopped
 *	  half way leaves a directory PostgreSQL refuses, and running it again
 *	  finishes the work.  The result is the directory a normal restore
 *	  would have made.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_RESTORE_H
#define RVX_AGENT_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "info/catalog.h"
#include "config/config.h"
#include "restore/target.h"

/* Restore tablespace oid into path instead of its original location. */
typedef struct RvxTablespaceMapping
{
	unsigned int oid;
	const char *path;
} RvxTablespaceMapping;

typedef struct RvxRestoreOptions
{
	const char *pgdata;			/* the data directory to create */
	const char *backup_id;		/* NULL or "latest": the newest complete backup */
	bool		force;			/* empty pgdata and the tablespace locations first */
	bool		delta;			/* keep what of a non-empty pgdata is the backup's already */
	bool		discard_unarchived_wal; /* delta: remove WAL its server had not
										 * archived yet (else refused) */
	int			hash_threads;	/* delta: threads reading files back (0: one per CPU) */
	int			parallel;		/* transfers at once (>= 1) */
	const RvxTablespaceMapping *tablespace_map;
	int			n_tablespace_map;
	const char *agent_path;		/* revrx-agent for restore_command; NULL: this program */
	bool		progress;		/* show progress on stderr (a terminal) */

	/*
	 * Where recovery stops (zeroed: the end of the archived WAL).  With a
	 * target and no backup_id, the newest backup ending at or before it is
	 * restored; an explicit backup_id ending after it, or a target outside
	 * what the repository reaches, is refused before anything is written
	 * (target.h).
	 */
	RvxRecoveryTarget target;

	/*
	 * false (the default): the restored cluster is a copy and must not
	 * archive into the repository it came from, nor take scheduled backups
	 * there: archive_mode = 'off' and revrx.backup_schedule = '' are added
	 * to postgresql.auto.conf.  true: the operator makes it the new primary
	 * and it keeps its restored archiving settings.
	 */
	bool		archive;

	/*
	 * Called (from any thread) when a file is in place, with its path
	 * relative to pgdata; the last call is for global/pg_control.
	 */
	void		(*on_file) (void *arg, const char *path);
	void	   *on_file_arg;
} RvxRestoreOptions;

typedef struct RvxRestoreResult
{
	char		backup_id[RVX_BACKUP_ID_MAXLEN + 1];
	uint64_t	files;			/* files written */
	uint64_t	bytes;			/* their size */
	bool		delta;			/* an existing directory was reused (--delta) */
	uint64_t	kept_files;		/* delta: files left in place, each verified */
	uint64_t	kept_bytes;
	uint64_t	removed;		/* delta: files, links and directories removed */
	uint64_t	removed_bytes;	/* the size of the files among them */
	double		seconds;		/* from the first check to the last fsync */
	bool		incomplete;		/* failed after changing pgdata (it has no pg_control) */
	uint32_t	timeline;		/* the backup's timeline */
} RvxRestoreResult;

extern int	rvx_restore(const RvxConfig *cfg, const RvxRestoreOptions *opts,
						RvxRestoreResult *res, RvxError *err);

/*
 * The restore_command written into postgresql.auto.conf, already quoted
 * for postgresql.conf: "'env REVRX_REPO=''...'' ... /path/revrx-agent
 * wal-fetch %f %p'".  Only the repository URL and non-secret S3 settings
 * are passed; credentials must come from the server's environment.
 */
extern int	rvx_restore_command(const RvxRepoConfig *repo, const char *agent_path,
								char *out, size_t cap, RvxError *err);

#endif							/* RVX_AGENT_RESTORE_H */
