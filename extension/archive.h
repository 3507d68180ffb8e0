/*-------------------------------------------------------------------------
 *
 * archive.h
 *	  What the archive module (archive.c) offers the look-ahead workers:
 *	  spooling one WAL segment, and the size of the spool's WAL.
 *
 * The archive module itself is reached by the server through
 * _PG_archive_module_init (archive_compat.h), not through this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_ARCHIVE_H
#define REVRX_ARCHIVE_H

#include <sys/stat.h>

#include "sha256.h"

/* What revrx_spool_segment() spooled. */
typedef struct RevrxSpooled
{
	uint8		sha[RVX_SHA256_LEN];	/* of the source file's content */
	int64		written;		/* bytes of the object */
	bool		settled;		/* the source did not change around the read */
	struct stat source;			/* the source file, after the read */
} RevrxSpooled;

/*
 * Writes the WAL file at path (relative to the data directory) into the
 * spool as file's object (archive.c), durably and atomically.  With elevel
 * ERROR any failure throws; with a lower elevel failures are reported at
 * that level, cleaned up, and false is returned (a source file that has
 * disappeared is not worth a report).  If expected_sha is given, the
 * content must have that digest; ahead says the segment is spooled ahead
 * of the archiver, and is then published only if it is still .ready after
 * the read; fastest compresses at the codec's fastest level instead of
 * revrx.compression_level (a backlog: revrx.archive_fast_backlog).
 * result, if given, receives what was spooled.  The caller holds file's
 * claim (revrx_ahead_claim).
 */
extern bool revrx_spool_segment(const char *file, const char *path,
								const uint8 *expected_sha, bool ahead, bool fastest,
								int elevel, RevrxSpooled *result);
/* Frees this process's object writer. */
extern void revrx_spool_segment_cleanup(void);
/* Bytes the objects (*.rvx) in the spool's wal/ directory take. */
extern int64 revrx_spool_wal_bytes(const char *wal_dir);

#endif							/* REVRX_ARCHIVE_H */
