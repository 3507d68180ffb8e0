/*-------------------------------------------------------------------------
 *
 * spool_write.h
 *	  Writing into the spool (spool_write.c): the object writer for the
 *	  current compression settings, objects written durably and atomically,
 *	  small files replaced durably, and the claim that the spool is ours.
 *
 * Everything here either throws at ERROR or, where an elevel is taken,
 * reports at that level and returns false; nothing leaves a partial file
 * under a final name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_SPOOL_WRITE_H
#define REVRX_SPOOL_WRITE_H

#include "datatype/timestamp.h"

#include "object.h"

/*
 * An object writer for the current revrx.compression settings, kept in
 * *cache between calls (allocated outside any per-call memory context, so
 * an error in the middle of a file cannot leak the compression library's
 * state) and replaced when the settings change.  A level that is not valid
 * for the algorithm is reported once per setting and replaced by the
 * algorithm's default.  A cache made with REVRX_WRITER_CACHE_FASTEST
 * compresses at the algorithm's fastest level whatever
 * revrx.compression_level says (the WAL exporter: its objects live until
 * their segment is stored, and it runs beside the backends).  workers:
 * zstd helper threads.  NULL (after a report at elevel) when out of memory.
 */
typedef struct RevrxWriterCache
{
	RvxObjectWriter *writer;
	int			alg;
	int			level;
	int			warned_alg;		/* -1: nothing reported yet */
	int			warned_level;
	bool		fastest;
} RevrxWriterCache;

#define REVRX_WRITER_CACHE_INIT {NULL, -1, -1, -1, -1, false}
#define REVRX_WRITER_CACHE_FASTEST {NULL, -1, -1, -1, -1, true}

extern RvxObjectWriter *revrx_object_writer(RevrxWriterCache *cache, int workers,
												   int elevel);

/*
 * Writes a spool object durably and atomically: reads src
 * (the first limit bytes, or to its end if limit is 0) through writer,
 * into tmp_path, then durable_rename() to final_path, so the agent never
 * sees a partial object.  If expected_sha is set the content must have
 * that digest; if still_valid is set it is asked, after the read and
 * before the rename, whether what was read may still be published (it
 * reports why not itself).  src is read from its current position.  With
 * mtime set, the file carries it as its modification time (the agent takes
 * a file's mtime for when the server wrote its WAL).  With
 * rename_not_durable the content is fsynced before the rename, as always,
 * but the directory is not after it: an OS crash may then lose the name
 * (for optional files, the WAL exporter's, which are then simply not
 * there), never show it with other content.  With prefix set, the
 * content opens with those bytes, then src's (a range's identity, for the
 * WAL exporter; expected_sha then covers both).  hdr receives the
 * object's header.  Used by the archive module for whole files and by the
 * WAL exporter for ranges of the current segment.
 */
typedef struct RevrxSpoolWrite
{
	RvxObjectWriter *writer;
	int			src;
	const char *src_path;
	uint64		limit;
	char	   *buf;
	size_t		bufsize;
	const char *tmp_path;
	const char *final_path;
	const uint8 *expected_sha;
	bool		(*still_valid) (void *arg);
	void	   *arg;
	int			elevel;
	TimestampTz mtime;			/* 0: now; else the published file's mtime */
	bool		rename_not_durable; /* see below */
	const uint8 *prefix;		/* prefix_len bytes of content before src's */
	size_t		prefix_len;
} RevrxSpoolWrite;

extern bool revrx_spool_write_object(const RevrxSpoolWrite *sw, RvxObjectHeader *hdr);

/*
 * Replaces path with data: a temporary file, then durable_rename() (which
 * fsyncs the file, renames it and fsyncs the directory).
 */
extern void revrx_write_file_durably(const char *path, const void *data, size_t len);

/*
 * Makes sure the spool is this cluster's: writes cluster.json (system
 * identifier, version, segment size) for the agent when it is missing or
 * outdated, and ERRORs when it names another cluster, whose objects must
 * never be mixed with ours.  Everything that writes into the spool calls it
 * first.
 */
extern void revrx_spool_claim(void);

#endif							/* REVRX_SPOOL_WRITE_H */
