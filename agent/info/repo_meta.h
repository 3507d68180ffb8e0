/*-------------------------------------------------------------------------
 *
 * repo_meta.h
 *	  Which cluster a repository and a spool belong to.
 *
 * The server writes <spool>/cluster.json; the repository holds repo.json,
 * written on first use with the identity of the cluster that first shipped
 * to it.  From then on every command compares the two before it writes
 * anything, so a second cluster pointed at the same repository is refused
 * with an error naming both system identifiers, and no object of it ever
 * lands there (invariant 5 of DESIGN.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_REPO_META_H
#define RVX_AGENT_REPO_META_H

#include <stdint.h>

#include "storage/repo.h"

#define RVX_REPO_FORMAT		1
#define RVX_REPO_META_KEY	"repo.json"

typedef struct RvxClusterInfo
{
	uint64_t	system_id;
	int			pg_version_num;
	uint64_t	wal_segment_size;
} RvxClusterInfo;

/* Reads <spool>/cluster.json; RVX_E_NOTFOUND while the server has not written it. */
extern int	rvx_cluster_info_read_spool(const char *spool_dir, RvxClusterInfo *ci,
										RvxError *err);

/* Reads repo.json; RVX_E_NOTFOUND for an empty repository. */
extern int	rvx_repo_meta_load(RvxRepo *repo, RvxClusterInfo *ci, RvxError *err);

/*
 * Makes sure the repository belongs to cluster ci: creates repo.json when
 * there is none, and fails with RVX_E_CLUSTER when it names another cluster.
 */
extern int	rvx_repo_meta_bind(RvxRepo *repo, const RvxClusterInfo *ci, RvxError *err);

#endif							/* RVX_AGENT_REPO_META_H */
