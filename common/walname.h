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
 *	 000000010000000000000001.0000000001A2B3C8.00A3F000-00A51000.partial
 *					 streamed partial: bytes [0x00A3F000, 0x00A51000) of the
 *					 segment, written before the segment was complete, by
 *					 the server generation 0x1A2B3C8
 * A streamed partial's name differs from PostgreSQL's own ".partial" (the
 * one archived at promotion), so the two can never collide in the
 * repository, and neither is ever taken for the complete segment: the
 * segment's key is "<segment><compression suffix>", nothing between.
 * The name carries everything a reader needs to trust it for the right
 * WAL: the timeline and segment (its first 24 characters), the
 * generation, and the range of the segment it holds, whose length must
 * equal the object's raw size.  The generation grows with each start of
 * the server (the exporter uses the redo LSN it sees once recovery is
 * over, which is past every byte written before a crash): after crash
 * recovery the WAL past the end of recovery is written anew, so an older
 * generation's partials may hold bytes that are no longer the server's
 * WAL, and a reader never mixes generations (agent/info/wal_partial.h).  The
 * fixed-width hex makes the names sort by segment, generation and start.
 * Names of the previous build, "<segment>.<generation>.<end>.partial",
 * are read as the range [0, end).
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

/*
 * The directory in pg_wal where revrx-agent wal-fetch keeps the segments
 * it fetched ahead of recovery (agent/restore/wal_prefetch.h).
 */
#define RVX_PREFETCH_DIR	"revrx_prefetch"

/* Longest valid name ("<24 hex>.<16 hex>.<8 hex>-<8 hex>.partial"), without the NUL. */
#define RVX_WALNAME_MAXLEN	67
/* Length of a segment's name ("<8 hex timeline><16 hex segment>"). */
#define RVX_WALNAME_SEGLEN	24

extern RvxWalKind rvx_walname_kind(const char *name);
/* The timeline the file belongs to; 0 for an invalid name. */
extern uint32_t rvx_walname_timeline(const char *name);

/*
 * The timeline and segment number (the segment's first byte / segsize) that
 * the first 24 characters of a WAL file's name give, for segments of
 * segsize bytes; false when those characters are not upper-case hex or
 * segsize is 0.
 */
extern bool rvx_walname_segno(const char *name, uint64_t segsize, uint32_t *tli,
							  uint64_t *segno);

/* The name of segment segno of timeline tli: RVX_WALNAME_SEGLEN + 1 bytes. */
extern void rvx_walname_segment(uint32_t tli, uint64_t segno, uint64_t segsize,
								char out[RVX_WALNAME_SEGLEN + 1]);

/*
 * Repository key of an archived file, relative to the repository prefix:
 * "wal/<timeline>/<name><suffix>".  -1 if the name is invalid or the key
 * does not fit in cap bytes.
 */
extern int	rvx_wal_object_key(const char *name, RvxCompression alg, char *out, size_t cap);

/* A streamed partial's name, taken apart. */
typedef struct RvxStreamedName
{
	char		segment[RVX_WALNAME_SEGLEN + 1];	/* the segment's name */
	uint64_t	generation;
	uint32_t	start;			/* first byte held, from the segment's start */
	uint32_t	end;			/* one past the last; end > start */
	bool		has_range_header;	/* "START-END" names: the content opens
									 * with RVX_RANGE_HEADER_LEN bytes */
} RvxStreamedName;

/*
 * Streamed partials.  rvx_walname_streamed() names bytes [start, end) of
 * segment (a segment name) as written by server generation generation;
 * -1 if segment is not one, end <= start, or the name does not fit.
 * rvx_walname_streamed_parse() is its inverse: 0 and *out filled for a
 * streamed partial's name (also the previous build's "<segment>.
 * <generation>.<end>.partial", start 0), -1 for any other name (also the
 * generation-less "<segment>.<offset>.partial" of early builds, which is
 * ignored).
 */
extern int	rvx_walname_streamed(const char *segment, uint64_t generation, uint32_t start,
								 uint32_t end, char *out, size_t cap);
extern int	rvx_walname_streamed_parse(const char *name, RvxStreamedName *out);

/*
 * A range's identity: the first RVX_RANGE_HEADER_LEN bytes of its content,
 * before the WAL, so that the object says itself which WAL it holds (under
 * its SHA-256 and, encrypted, its MAC), not only its name does.
 *
 *	 offset	size  field (big-endian, as in common/object.h)
 *	 0		4	  magic "RVXR"
 *	 4		4	  timeline
 *	 8		8	  LSN of the range's first byte
 *	 16		8	  LSN one past its last byte
 *
 * The exporter writes it; wal-fetch refuses a range that does not carry
 * the one its name says.  The previous build's "<segment>.<generation>.
 * <end>.partial" objects have none (has_range_header false).
 */
#define RVX_RANGE_MAGIC			"RVXR"
#define RVX_RANGE_HEADER_LEN	24

extern void rvx_range_header_encode(uint32_t timeline, uint64_t start_lsn, uint64_t end_lsn,
									uint8_t out[RVX_RANGE_HEADER_LEN]);
/* 0 and the fields, or -1 when in does not start with the magic. */
extern int	rvx_range_header_decode(const uint8_t in[RVX_RANGE_HEADER_LEN], uint32_t *timeline,
									uint64_t *start_lsn, uint64_t *end_lsn);

/*
 * Whether streamed partial a makes b redundant for every reader: both of
 * the same segment, and a either starts at the segment's start and is of
 * a newer generation (whose WAL then decides: readers never use an older
 * generation beside it), or is of the same generation and holds every
 * byte of b.  False for the same range.  Both the exporter (for the spool)
 * and the agent (for the repository) remove a partial only for this.
 */
extern bool rvx_streamed_supersedes(const RvxStreamedName *a, const RvxStreamedName *b);

/*
 * The archived file name of a WAL key "wal/<timeline>/<name><suffix>" (or
 * any key whose last part is that): 0 and name (RVX_WALNAME_MAXLEN + 1
 * bytes) and, if alg is not NULL, the compression, or -1 when the key
 * names no archived file.  For readers of repository listings.
 */
extern int	rvx_wal_key_name(const char *key, char *name, RvxCompression *alg);

#endif							/* RVX_WALNAME_H */
