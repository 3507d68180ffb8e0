/*-------------------------------------------------------------------------
 *
 * restore_reuse.h
 *	  `restore --delta`: what of an existing data directory a restore can
 *	  keep.  restore.c decides which backup and which files; this module
 *	  looks at what is already on disk and says, for each file the restore
 *	  would write, whether the one in place is that file already (same
 *	  size, same digest, read back from disk now), and which entries are
 *	  not the backup's at all and must go.
 *
 * The contract:
 *	- rvx_reuse_scan() only reads.  It walks the data directory and each
 *	  tablespace location without following links (but pg_wal, which may
 *	  be a link to a WAL volume, and the tablespace locations, which are
 *	  walked at their own path, but only when <pgdata>/pg_tblspc/<oid>
 *	  already links to them: a location it does not link to may be
 *	  another cluster's and is not read; the caller must have checked
 *	  that it is empty or missing), classifies every entry with
 *	  rvx_reuse_classify(), and hashes every candidate file with
 *	  `threads` threads, largest first.  A file is kept only when its
 *	  digest equals the record's: its chunk digest when the record has
 *	  one (common/chunk_digest.h: its pieces are hashed by every thread),
 *	  else its SHA-256.  There is no shortcut by size or mtime; a file
 *	  that cannot be read (EIO, EACCES) is logged and not kept.
 *	- rvx_reuse_remove() then deletes what the scan listed, deepest first
 *	  within each entry, never following a link, and rvx_reuse_settle()
 *	  fsyncs the kept files and gives them the restore's owner.
 *	- Nothing here writes a file of the backup; restore.c downloads the
 *	  files that were not kept, exactly as a normal restore does.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_RESTORE_REUSE_H
#define RVX_AGENT_RESTORE_REUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "chunk_digest.h"
#include "sha256.h"

/*
 * A file of the existing data directory that is in the way of a restore
 * until it is deleted; written only by restore --delta, before it changes
 * anything, and removed after global/pg_control: it says which cluster a
 * directory whose pg_control is already gone belongs to, so an
 * interrupted delta restore can be run again.
 */
#define RVX_REUSE_MARKER	"revrx_restore_in_progress"

/* What an entry is on disk (lstat, links not followed). */
typedef enum RvxReuseType
{
	RVX_REUSE_T_FILE,
	RVX_REUSE_T_DIR,
	RVX_REUSE_T_LINK,
	RVX_REUSE_T_OTHER,			/* socket, fifo, device */
} RvxReuseType;

/* What restore --delta does with an entry of the existing data directory. */
typedef enum RvxReuseAction
{
	RVX_REUSE_CHECK,			/* a file of the backup: kept if its size and
								 * SHA-256 match the record, else rewritten */
	RVX_REUSE_DESCEND,			/* a directory of the backup: its entries are
								 * classified in turn */
	RVX_REUSE_TABLESPACE,		/* pg_tblspc/<oid> of a tablespace of the
								 * backup: kept if it links to its location */
	RVX_REUSE_OWN,				/* written anew by every restore (pg_control,
								 * backup_manifest, recovery.signal, the marker) */
	RVX_REUSE_LEAVE,			/* not the backup's to manage: left alone */
	RVX_REUSE_REMOVE,			/* not in the backup, or of another type than
								 * there: removed, with everything in it */
} RvxReuseAction;

/*
 * The backup, as classify sees it: each list sorted with strcmp, paths
 * relative to the data directory (a tablespace's files under
 * "pg_tblspc/<oid>/").
 */
typedef struct RvxReuseSets
{
	const char *const *files;	/* every file the restore downloads */
	size_t		nfiles;
	const char *const *dirs;	/* every directory of the backup */
	size_t		ndirs;
	const char *const *tablespaces; /* "pg_tblspc/<oid>" of each tablespace */
	size_t		ntablespaces;
	const char *const *leave;	/* what the backup left out on purpose (its
								 * not_included "skipped_file" paths: the
								 * spool, sockets, other links) */
	size_t		nleave;
} RvxReuseSets;

/*
 * The decision for one entry (pure).  Besides the sets: pg_wal found as a
 * link (to a WAL volume) is descended into, so the link stays; directly
 * inside a tablespace location, what is not the backup's directory (the
 * PG_<major>_<catversion> of another server sharing the location) is
 * left alone.
 */
extern RvxReuseAction rvx_reuse_classify(const RvxReuseSets *sets, const char *relpath,
										 RvxReuseType type);

/* A file the restore would write, and whether the one on disk is it. */
typedef struct RvxReuseFile
{
	const char *path;			/* relative to the data directory */
	int64_t		size;
	const uint8_t *sha256;		/* RVX_SHA256_LEN bytes; NULL: not known
								 * before it is rebuilt (a sparse delta's),
								 * so always rewritten */
	const uint8_t *chunk_digest;	/* RVX_CHUNK_DIGEST_LEN bytes, compared
									 * instead of sha256; NULL: none */
	bool		keep;			/* out: found, this size, this digest */
} RvxReuseFile;

typedef struct RvxReuseTablespace
{
	unsigned int oid;
	const char *location;		/* where its files are restored */
} RvxReuseTablespace;

typedef struct RvxReuseInput
{
	const char *pgdata;
	RvxReuseFile *files;		/* every file to download but pg_control */
	size_t		nfiles;
	const char *const *dirs;	/* the backup's directories */
	size_t		ndirs;
	const RvxReuseTablespace *tablespaces;
	size_t		ntablespaces;
	const char *const *leave;
	size_t		nleave;
	int			threads;		/* hashing threads (>= 1) */
	const volatile int *cancel; /* non-zero: stop (an interrupt) */
} RvxReuseInput;

typedef struct RvxReusePlan
{
	char	  **remove;			/* absolute paths, in walk order */
	size_t		nremove;
	size_t		remove_cap;
	uint64_t	kept_files;
	uint64_t	kept_bytes;
	uint64_t	chunked_files;	/* of the files read back, those compared by
								 * their chunk digests */
	uint64_t	removed_entries;	/* files, links and directories, those
									 * inside a removed directory included */
	uint64_t	removed_bytes;	/* of the regular files among them */
	char	  **kept;			/* absolute paths of the kept files */
	size_t		nkept;
	size_t		kept_cap;
} RvxReusePlan;

/* Fills plan and sets files[].keep; changes nothing on disk. */
extern int	rvx_reuse_scan(const RvxReuseInput *in, RvxReusePlan *plan, RvxError *err);
/* Deletes plan->remove. */
extern int	rvx_reuse_remove(const RvxReusePlan *plan, RvxError *err);
/*
 * Makes the kept files as durable and as owned (owner (uid_t) -1: left
 * as is) as a file the restore wrote: only once the restore changes the
 * directory anyway, never by a restore that is refused after its scan.
 */
extern int	rvx_reuse_settle(const RvxReusePlan *plan, uid_t owner, gid_t group, RvxError *err);
extern void rvx_reuse_plan_free(RvxReusePlan *plan);

/*
 * The system identifier of the cluster whose data directory pgdata is:
 * from global/pg_control (its first field, in every version), or, once a
 * delta restore has removed that, from RVX_REUSE_MARKER.  Returns 1 and
 * sets *sysid, 0 when the directory has neither, -1 on error.
 */
extern int	rvx_reuse_system_id(const char *pgdata, uint64_t *sysid, const char **from,
								RvxError *err);

/* Whether the symbolic link link points to exactly location. */
extern bool rvx_reuse_links_to(const char *link, const char *location);

/*
 * Whether the tablespace locations a restore (any restore, not only
 * --delta) would write are sound: each an absolute path, no two the same,
 * none inside pgdata and pgdata inside none (symbolic links resolved where
 * the paths exist).  Checked before anything is changed; RVX_E_USAGE.
 */
extern int	rvx_reuse_check_locations(const char *pgdata, const RvxReuseTablespace *ts,
									  size_t n, RvxError *err);

/*
 * What postmaster.pid says, as PostgreSQL reads it when it starts: the
 * postmaster's pid (line 1) and, from line 7, the key and id of the
 * System V shared memory segment every backend stays attached to.  The
 * segment is what tells a running server from another PID namespace (a
 * sidecar), where the pid means nothing but the IPC namespace is shared.
 */
typedef struct RvxPidFile
{
	long		pid;
	bool		has_shmem;		/* line 7 present and well formed */
	unsigned long shmem_key;
	unsigned long shmem_id;
} RvxPidFile;

/* Returns true when text is a postmaster.pid (pid > 0), false if empty or garbled. */
extern bool rvx_reuse_parse_pidfile(const char *text, RvxPidFile *out);

/* Writes RVX_REUSE_MARKER durably (owner: as the other files). */
extern int	rvx_reuse_write_marker(const char *pgdata, uint64_t sysid, const char *backup_id,
								   uid_t owner, gid_t group, RvxError *err);

#endif							/* RVX_AGENT_RESTORE_REUSE_H */
