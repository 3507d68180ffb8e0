/*-------------------------------------------------------------------------
 *
 * manifest_fix.h
 *	  Puts into a restored backup_manifest the SHA-256 of the files that
 *	  restore rebuilt from sparse deltas (docs/incremental.md, "Reading only
 *	  the named blocks").
 *
 * The exporter writes such a file's line as PostgreSQL writes one without
 * a checksum ({ "Path": ..., "Size": ..., "Last-Modified": ... }): it read
 * only the blocks the WAL summaries named, so no digest of the whole file
 * existed.  Restore computes the rebuilt file's as it writes it; this adds
 * it to the file's line and computes the Manifest-Checksum again, so that
 * pg_verifybackup checks every file of the restored directory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_MANIFEST_FIX_H
#define RVX_MANIFEST_FIX_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct RvxManifestDigest
{
	const char *path;			/* relative to the data directory */
	const uint8_t *sha256;		/* RVX_SHA256_LEN bytes */
} RvxManifestDigest;

/*
 * Rewrites the manifest in (len bytes) into *out (malloc'd, *out_len
 * bytes): each of the n files gets its digest.  RVX_E_CORRUPT, and
 * nothing allocated, if the manifest's own checksum does not match, or a
 * file has no line without a checksum in it.
 */
extern int	rvx_manifest_add_digests(const char *in, size_t len, const RvxManifestDigest *d,
									 size_t n, char **out, size_t *out_len, RvxError *err);

#endif							/* RVX_MANIFEST_FIX_H */
