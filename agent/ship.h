/*-------------------------------------------------------------------------
 *
 * ship.h
 *	  Shipping one spooled WAL object to the repository (the per-item work
 *	  of `revrx-agent run`; cmd_run.c decides what to ship and when).
 *
 * rvx_ship_wal() is idempotent and safe to interrupt at any point: it
 * stores NAME (unless the repository already holds identical content),
 * confirms the stored object, writes NAME.ok durably and only then removes
 * NAME.rvx.  A repository that holds different content under the name is
 * never overwritten (RVX_E_CONFLICT).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_SHIP_H
#define RVX_AGENT_SHIP_H

#include "repo.h"
#include "repo_meta.h"

typedef struct RvxShipResult
{
	uint64_t	stored_bytes;	/* bytes sent (0 if it was already there) */
	bool		already_stored;
} RvxShipResult;

extern int	rvx_ship_wal(RvxRepo *repo, const char *spool_dir, const char *name,
						 const RvxClusterInfo *cluster, RvxShipResult *res, RvxError *err);

/* Records a failure for NAME in the spool (NAME.error), for the server to read. */
extern void rvx_ship_record_error(const char *spool_dir, const char *name,
								  const RvxError *error);

/*
 * Writes a small file durably: temporary name, fsync, rename, fsync of the
 * directory.  Shared by every writer of spool status files.
 */
extern int	rvx_write_file_durable(const char *path, const void *data, size_t len,
								   bool sync, RvxError *err);

#endif							/* RVX_AGENT_SHIP_H */
