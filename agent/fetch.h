/*-------------------------------------------------------------------------
 *
 * fetch.h
 *	  Finding archived WAL in a repository and reading objects back.
 *
 * Everything that reads objects (wal-fetch now; restore and verify later)
 * goes through here, so every reader checks the same things in the same
 * order: the object's header, its cluster, its stored size, and the
 * SHA-256 of its content, all before the result becomes visible under its
 * final name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_FETCH_H
#define RVX_AGENT_FETCH_H

#include "object.h"
#include "repo.h"

/*
 * Which key holds archived file NAME.  The writer's compression may have
 * changed over time, so every suffix is tried, preferred first.  Returns 1
 * and fills key when found, 0 when not, -1 on error.
 */
extern int	rvx_wal_find(RvxRepo *repo, const char *name, RvxCompression preferred,
						 char *key, size_t keycap, RvxObjectInfo *info, RvxError *err);

/* Reads and decodes the header of the object at key. */
extern int	rvx_object_read_header(RvxRepo *repo, const char *key, RvxObjectHeader *hdr,
								   RvxError *err);

/*
 * Streams the object at key into dest: written as a temporary file beside
 * dest, verified (header, cluster, size, SHA-256), fsynced, then renamed.
 * On failure dest is untouched and the message names the object.
 */
extern int	rvx_fetch_to_file(RvxRepo *repo, const char *key, uint64_t expect_system_id,
							  const char *dest, RvxError *err);

#endif							/* RVX_AGENT_FETCH_H */
