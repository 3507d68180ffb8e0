/*-------------------------------------------------------------------------
 *
 * ship_meta.h
 *	  Shipping the small documents the server leaves in the spool's meta/
 *	  directory (restore points, table fingerprints; common/spool.h).
 *
 * meta/<key>.rvx is stored under <key> plus its compression suffix, with
 * the same checks and the same never-replace rule as every other object
 * (rvx_store_object), then removed.  A document that can never be stored
 * (different content already under the key, another cluster's object, a
 * name that is not a safe key) gets meta/<key>.error, the spool's usual
 * failure note, and is left alone from then on so an operator can see
 * it; transient failures are returned for the caller to retry later.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_SHIP_META_H
#define RVX_AGENT_SHIP_META_H

#include <stdbool.h>

#include "storage/repo.h"
#include "info/repo_meta.h"

/* Is any document waiting in the spool (and not refused)? */
extern bool rvx_meta_pending(const char *spool_dir);

/*
 * Ships every waiting document.  Returns 0 when none is left but refused
 * ones, -1 with err for the first transient failure (the rest wait).
 * *stored counts what was stored.
 */
extern int	rvx_ship_meta(RvxRepo *repo, const char *spool_dir, const RvxClusterInfo *cluster,
						  int *stored, RvxError *err);

#endif							/* RVX_AGENT_SHIP_META_H */
