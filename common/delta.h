/*-------------------------------------------------------------------------
 *
 * delta.h
 *	  The content of an incremental backup's object for a relation file:
 *	  the pages that changed since the parent backup, written by the
 *	  exporter (extension/backup.c) and applied by restore
 *	  (agent/restore/restore_delta.c).
 *
 *	 page images	nblocks * block_size bytes, in block order
 *	 block numbers	nblocks * 4 bytes (big-endian), ascending, in the file
 *	 trailer		RVX_DELTA_TRAILER_LEN bytes:
 *					  file size (8), nblocks (4), block size (4), magic "RVXD"
 *
 * The index and the sizes come last because the exporter streams pages
 * into the object as it reads the file and only knows them at the end; a
 * reader reads the object once for them, then streams its pages (restore
 * does both, and writes no delta to disk).  Applying
 * a delta to the file as the parent had it: cut or extend it to file size,
 * then write each page at block number * block size.  The result is
 * checked against the SHA-256 the backup records for the whole file.
 *
 * A file with more than RVX_DELTA_WHOLE_NUM / RVX_DELTA_WHOLE_DEN of its
 * pages changed is not stored as a delta but whole
 * (rvx_delta_store_whole): its restore then needs no parent and downloads
 * and writes the file once.
 *
 * Which pages, and why that is safe: docs/incremental.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_DELTA_H
#define RVX_DELTA_H

#include "rvx_port.h"

#define RVX_DELTA_MAGIC			"RVXD"
#define RVX_DELTA_TRAILER_LEN	20

typedef struct RvxDeltaTrailer
{
	uint64_t	file_size;
	uint32_t	nblocks;
	uint32_t	block_size;
} RvxDeltaTrailer;

static inline void
rvx_delta_trailer_encode(const RvxDeltaTrailer *t, uint8_t out[RVX_DELTA_TRAILER_LEN])
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t) (t->file_size >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
	{
		out[8 + i] = (uint8_t) (t->nblocks >> (24 - 8 * i));
		out[12 + i] = (uint8_t) (t->block_size >> (24 - 8 * i));
	}
	memcpy(out + 16, RVX_DELTA_MAGIC, 4);
}

/*
 * Decodes the trailer of a delta of total length len; -1 unless it is one
 * whose page images and index exactly fill the rest.
 */
static inline int
rvx_delta_trailer_decode(const uint8_t in[RVX_DELTA_TRAILER_LEN], uint64_t len,
						 RvxDeltaTrailer *t)
{
	t->file_size = 0;
	t->nblocks = 0;
	t->block_size = 0;
	if (memcmp(in + 16, RVX_DELTA_MAGIC, 4) != 0)
		return -1;
	for (int i = 0; i < 8; i++)
		t->file_size = (t->file_size << 8) | in[i];
	for (int i = 0; i < 4; i++)
	{
		t->nblocks = (t->nblocks << 8) | in[8 + i];
		t->block_size = (t->block_size << 8) | in[12 + i];
	}
	if (t->block_size == 0 || t->block_size > 32768 || (t->block_size & (t->block_size - 1)) != 0)
		return -1;
	if ((uint64_t) t->nblocks * (t->block_size + 4) + RVX_DELTA_TRAILER_LEN != len)
		return -1;
	return 0;
}

/*
 * The fraction of a file's pages above which it is stored whole: one half.
 * Restoring a delta of c of n pages reads the parent's copy (n pages) and
 * the delta (c pages, twice: agent/restore/restore_delta.c) and writes n
 * pages; restoring the file stored whole reads and writes n pages and
 * needs no parent.  Past one half, the whole copy costs at most twice the
 * delta's storage (docs/incremental.md, "Files stored whole").
 */
#define RVX_DELTA_WHOLE_NUM		1
#define RVX_DELTA_WHOLE_DEN		2

/*
 * Whether a relation file of file_pages pages, of which changed_pages go
 * into its delta (pages past the parent's end count as changed), is
 * stored whole instead: strictly more than the threshold fraction.  An
 * empty file never is.  Monotone in changed_pages, so the exporter, which
 * counts the pages as it reads them, knows the answer as soon as the
 * count so far makes it true.
 */
static inline bool
rvx_delta_store_whole(uint64_t changed_pages, uint64_t file_pages)
{
	return changed_pages * RVX_DELTA_WHOLE_DEN > file_pages * RVX_DELTA_WHOLE_NUM;
}

static inline uint32_t
rvx_delta_get_be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

#endif							/* RVX_DELTA_H */
