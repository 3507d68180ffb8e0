/*-------------------------------------------------------------------------
 *
 * walname.h
 *	  Names of the files the archiver hands us, and where they live in a
 *	  repository.  Pure functions; no I/O.
 *
 * The archiver archives four kinds of file, all of which must survive:
 *	 000000010000000000000001			 WAL segment
 *	 000000010000000000000001.partial	 last segment of an old timeline
 *	 00000002.history					 timeline history
 *	 000000010000000000000001.00000028.backup	 backup history
 * A name that is none of these is refused rather than stored, because a
 * name is used as part of a repository key and a path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_WALNAME_H
#define RVX_WALNAME_H

#include "rvx_port.h"

#include "compress.h"

typedef enum RvxWalKind
{
	RVX_WAL_INVALID = 0,
	RVX_WAL_SEGMENT,
	RVX_WAL_PARTIAL,
	RVX_WAL_HISTORY,
	RVX_WAL_BACKUP_HISTORY,
} RvxWalKind;

/* Longest valid name ("<24 hex>.<8 hex>.backup"), without the NUL. */
#define RVX_WALNAME_MAXLEN	40

extern RvxWalKind rvx_walname_kind(const char *name);
/* The timeline the file belongs to; 0 for an invalid name. */
extern uint32_t rvx_walname_timeline(const char *name);

/*
 * Repository key of an archived file, relative to the repository prefix:
 * "wal/<timeline>/<name><suffix>".  -1 if the name is invalid or the key
 * does not fit in cap bytes.
 */
extern int	rvx_wal_object_key(const char *name, RvxCompression alg, char *out, size_t cap);

#endif							/* RVX_WALNAME_H */
