/*-------------------------------------------------------------------------
 *
 * ship.h
 *	  Shipping one spooled WAL object to the repository (the per-item work
 *	  of `revrx-agent run`; daemon/ decides what to ship and when).
 *
 * rvx_ship_wal() is idempotent and safe to interrupt at any point: it
 * stores NAME (unless the repository already holds identical content),
 * confirms the stored object, writes NAME.ok durably and only then removes
 * NAME.rvx.  A repository that holds different content under the name is
 * never overwritten (RVX_E_CONFLICT).  A streamed partial
 * (SEG.GEN.START-END.partial, wal_partial.h) gets no NAME.ok and is not
 * stored when SEG already is complete; once one from SEG's start is
 * confirmed, the partials of SEG it supersedes are removed from the
 * repository, and once a complete SEG is confirmed, all of them.
 *
 * The two steps every spooled object goes through, WAL or backup
 * (ship_backup.c), are written once: checking a spooled object
 * (rvx_spool_object_open, here) and storing it without ever replacing
 * anything, confirmed (rvx_store_object, info/store.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_SHIP_H
#define RVX_AGENT_SHIP_H

#include "base/file_utils.h"
#include "info/repo_meta.h"
#include "info/store.h"
#include "object.h"
#include "storage/repo.h"

extern int	rvx_ship_wal(RvxRepo *repo, const char *spool_dir, const char *name,
						 const RvxClusterInfo *cluster, RvxStoreResult *res, RvxError *err);

/*
 * The same, with what the caller knows of a streamed partial's segment
 * (`run` remembers the complete segments it stored): with
 * RVX_SHIP_SEGMENT_STORED the partial is dropped without a request; with
 * RVX_SHIP_SEGMENT_NOT_KNOWN it is stored without asking the repository
 * for the complete segment first (one request less per partial; a partial
 * that lands beside its complete segment after all is never read, and the
 * daemon removes it: daemon/worker.c, run_wal).  0: rvx_ship_wal.
 */
#define RVX_SHIP_SEGMENT_STORED		0x01
#define RVX_SHIP_SEGMENT_NOT_KNOWN	0x02

extern int	rvx_ship_wal_flags(RvxRepo *repo, const char *spool_dir, const char *name,
							   const RvxClusterInfo *cluster, int flags, RvxStoreResult *res,
							   RvxError *err);

/* Records a failure for NAME in the spool (NAME.error), for the server to read. */
extern void rvx_ship_record_error(const char *spool_dir, const char *name,
								  const RvxError *error);

/*
 * Opens the spooled object at path and checks that it is one: a valid
 * header, exactly as long as the header says, from the spool's cluster.
 * On success *fd is open (the caller closes it) and *size is the whole
 * object's length.  A missing file is RVX_E_NOTFOUND.
 */
extern int	rvx_spool_object_open(const char *path, const RvxClusterInfo *cluster, int *fd,
								  RvxObjectHeader *hdr, uint64_t *size, RvxError *err);

#endif							/* RVX_AGENT_SHIP_H */
