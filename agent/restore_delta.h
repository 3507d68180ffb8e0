/*-------------------------------------------------------------------------
 *
 * restore_delta.h
 *	  Rebuilding a file of an incremental backup: the parent's version with
 *	  the changed pages of each later backup written over it (the format
 *	  is common/delta.h; restore.c finds the chain and fetches the objects).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_RESTORE_DELTA_H
#define RVX_AGENT_RESTORE_DELTA_H

#include <stdint.h>

#include "error.h"
#include "sha256.h"

/*
 * Applies the delta held in the file delta_path (fetched and verified as
 * an object) to the file target: cut or extend it to the delta's file
 * size, then write each page at its place.  A delta that is not
 * well formed is RVX_E_CORRUPT, naming what.
 */
extern int	rvx_delta_apply(const char *delta_path, const char *target, const char *what,
							RvxError *err);

/* SHA-256 of a whole file, and its size. */
extern int	rvx_file_sha256(const char *path, uint8_t out[RVX_SHA256_LEN], uint64_t *size,
							RvxError *err);

#endif							/* RVX_AGENT_RESTORE_DELTA_H */
