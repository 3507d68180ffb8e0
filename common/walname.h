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
 * and revrx's WAL exporter (extension/wal_export.c) adds a fifth:
 *	 000000010000000000000001.0000000001A2B3C8.00A3F000.partial
 *					 streamed partial: the segment's first 0x00A3F000
 *					 bytes, written before the segment was complete, by the
 *					 server generation 0x1A2B3C8
 * A streamed partial's name differs from PostgreSQL's own ".partial" (the
 * one archived at promotion), so the two can never collide in the
 * repository, and neither is ever taken for the complete segment: the
 * segment's key is "<segment><compression suffix>", nothing between.
 * The name carries everything a reader needs to trust it for the right
 * WAL: the timeline and segment (its first 24 characters), the
 * generation and the end offset, which must equal the object's raw size.
 * The generation grows with each start of the server (the exporter uses
 * the redo LSN it sees once recovery is over, which is past every byte
 * written before a crash): after crash recovery the WAL past the end of
 * recovery is written anew, so an older generation's partial, however
 * long, may hold bytes that are no longer the server's WAL.  Partials of a
 * segment therefore rank by (generation, end offset), and the fixed-width
 * hex makes that the names' sort order too.
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
	RVX_WAL_STREAMED,
} RvxWalKind;

/* Longest valid name ("<24 hex>.<16 hex>.<8 hex>.partial"), without the NUL. */
#define RVX_WALNAME_MAXLEN	58
/* Length of a segment's name ("<8 hex timeline><16 hex segment>"). */
#define RVX_WALNAME_SEGLEN	24

extern RvxWalKind rvx_walname_kind(const char *name);
/* The timeline the file belongs to; 0 for an invalid name. */
extern uint32_t rvx_walname_timeline(const char *name);

/*
 * Repository key of an archived file, relative to the repository prefix:
 * "wal/<timeline>/<name><suffix>".  -1 if the name is invalid or the key
 * does not fit in cap bytes.
 */
extern int	rvx_wal_object_key(const char *name, RvxCompression alg, char *out, size_t cap);

/*
 * Streamed partials.  rvx_walname_streamed() names the first end_offset
 * bytes of segment (a segment name) as written by server generation
 * generation; -1 if segment is not one or end_offset is 0.
 * rvx_walname_streamed_parse() is its inverse: 0 and the segment name
 * (RVX_WALNAME_SEGLEN + 1 bytes), generation (if not NULL) and offset for
 * a streamed partial's name, -1 for any other name (also the generation-
 * less "<segment>.<offset>.partial" of early builds, which is ignored).
 */
extern int	rvx_walname_streamed(const char *segment, uint64_t generation,
								 uint32_t end_offset, char *out, size_t cap);
extern int	rvx_walname_streamed_parse(const char *name, char *segment,
									   uint64_t *generation, uint32_t *end_offset);

/*
 * The archived file name of a WAL key "wal/<timeline>/<name><suffix>" (or
 * any key whose last part is that): 0 and name (RVX_WALNAME_MAXLEN + 1
 * bytes) and, if alg is not NULL, the compression, or -1 when the key
 * names no archived file.  For readers of repository listings.
 */
extern int	rvx_wal_key_name(const char *key, char *name, RvxCompression *alg);

#endif							/* RVX_WALNAME_H */
