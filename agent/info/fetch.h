/*-------------------------------------------------------------------------
 *
 * fetch.h
 *	  Finding archived WAL in a repository and reading objects back.
 *
 * Everything that reads objects (wal-fetch, restore, list, and the commit
 * of a backup) goes through here, so every reader checks the same things
 * in the same order: the object's header, its cluster, its stored size,
 * and the SHA-256 of its content, all before the result becomes visible
 * under its final name or is handed to the caller.  The one exception is
 * asked for by name (digest_by_filter): a chain restore's whole copy and
 * deltas, whose pages are checked as part of the file rebuilt from them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_FETCH_H
#define RVX_AGENT_FETCH_H

#include <sys/types.h>

#include "object.h"
#include "storage/repo.h"

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
 * What a fetch must find besides a sound object, and how to write it.
 * Zeroed options (RVX_FETCH_OPTIONS_INIT) check only the object itself.
 */
typedef struct RvxFetchOptions
{
	uint64_t	expect_system_id;	/* 0: any cluster */
	const uint8_t *expect_sha256;	/* NULL: any; else the header must carry it */
	int64_t		expect_size;	/* -1: any; else the content must be this long */
	mode_t		mode;			/* of the new file; 0 means 0600 */
	uid_t		owner;			/* (uid_t) -1: leave as created */
	gid_t		group;
	bool		no_fsync;		/* the caller makes it durable itself */
	RvxObjectReader *reader;	/* reused between calls (a thread's own); NULL: a fresh one */
	const volatile int *cancel; /* gives up (RVX_E_INTERNAL) once this is non-zero */
	uint64_t   *bytes_written;	/* atomically increased as content is written */

	/*
	 * Called with each piece of verified-so-far content, at its offset, before
	 * it is written; may point *out at other bytes of the same length to write
	 * instead (restore_delta.c puts an incremental backup's pages in).
	 * Returns 0, or -1 to fail the fetch.  NULL: write the content as it is.
	 */
	int			(*filter) (void *arg, uint64_t offset, const void *data, size_t len,
						   const void **out);
	void	   *filter_arg;

	/*
	 * With a filter (or rvx_fetch_to_fn's fn) only: its owner checks what
	 * was built from the content by a digest of its own, so the content's
	 * SHA-256 is not computed here (rvx_object_reader_skip_digest); the
	 * header must still carry expect_sha256, and the stored bytes are
	 * still checked by their CRC-32 (or AES-GCM).  A chain restore rebuilds a file from its whole copy
	 * and later pages and compares the result with the file's record: a
	 * damaged byte of the whole copy that survives into the file fails
	 * that comparison, one that a later page replaces cannot harm it.
	 */
	bool		digest_by_filter;

	/*
	 * NULL: the content's SHA-256 is computed on the fetching thread.  Else
	 * on this aside's thread (base/hash_aside.h; the caller's, reused from
	 * one fetch to the next), with the same check: for large files, whose
	 * decompression, hashing and writing are otherwise one thread's work.
	 */
	struct RvxHashAside *hash_aside;

	/*
	 * 0: the file is the content.  Else the content is extended with zeros
	 * to this length (a streamed partial becomes a segment; PostgreSQL's
	 * replay stops at the end of the valid WAL in it).
	 */
	uint64_t	pad_to;

	/*
	 * 0: keep all the content.  Else the file is cut to this length before
	 * pad_to extends it (the parts are still verified whole): the WAL of a
	 * timeline after a later timeline branched off is not served.
	 */
	uint64_t	cut_at;
} RvxFetchOptions;

#define RVX_FETCH_OPTIONS_INIT {0, NULL, -1, 0, (uid_t) -1, (gid_t) -1, false, NULL, NULL, NULL, NULL, NULL, false, NULL, 0, 0}

/*
 * Streams the object at key into dest: written as a temporary file beside
 * dest ("<dest>.revrx.tmp"), verified (header, cluster, size, SHA-256 but
 * with digest_by_filter, and whatever opts asks for), fsynced, then renamed.  On failure dest is
 * untouched, the temporary file is gone, and the message names the object.
 * A fresh, unchanged repository object that fails a check is
 * RVX_E_CORRUPT; a missing one RVX_E_NOTFOUND.
 */
extern int	rvx_fetch_to_file_opts(RvxRepo *repo, const char *key, const RvxFetchOptions *opts,
								   const char *dest, RvxError *err);

/*
 * The same for a file made of several objects, one after the other: part
 * i's content (after its head, when it has one), without its first skip
 * bytes (which the parts before already
 * wrote, and which must be the same bytes: a part that disagrees fails the
 * fetch, RVX_E_CORRUPT), is appended; each object is checked whole (header,
 * cluster, expect_size when >= 0, SHA-256 of all its content, and its WAL
 * pages when wal_pages is set) before the next is read, and dest appears
 * only when every part was.  opts->expect_size is not used; pad_to applies
 * to the whole file; with opts->filter the overlapping bytes are not
 * compared (what was written is the filter's).  Streamed WAL partials are
 * read this way (cmd_wal_fetch.c).
 */
struct RvxWalPageCheck;

typedef struct RvxFetchPart
{
	const char *key;
	int64_t		expect_size;	/* content length of the object; -1: any */
	uint64_t	skip;			/* leading content bytes not written */
	/*
	 * NULL, or the content is WAL whose page headers must match its name
	 * (wal_partial.h, rvx_wal_page_check_begin): a copy is fed every byte.
	 */
	const struct RvxWalPageCheck *wal_pages;
	/*
	 * NULL, or the content opens with these head_len bytes, which are not
	 * part of the file: a streamed range's identity (walname.h).  Anything
	 * else is RVX_E_CORRUPT.
	 * expect_size and skip count them; wal_pages does not see them.
	 */
	const uint8_t *head;
	size_t		head_len;
} RvxFetchPart;

extern int	rvx_fetch_parts_to_file(RvxRepo *repo, const RvxFetchPart *parts, size_t nparts,
									const RvxFetchOptions *opts, const char *dest,
									RvxError *err);
extern int	rvx_fetch_to_file(RvxRepo *repo, const char *key, uint64_t expect_system_id,
							  const char *dest, RvxError *err);

/*
 * Hands the content of the object at key to fn, piece by piece and in
 * order, checked as rvx_fetch_to_file_opts checks it, but the stored
 * bytes' CRC-32 (or AES-GCM tag) and the content's digest are only known
 * good at the end: fn must not act on the bytes irreversibly before a
 * return of 0 says the whole object was sound.  hdr is the object's (its raw_size is the content's length),
 * offset that of data in the content.  Of opts: expect_system_id,
 * expect_sha256, expect_size, reader, cancel, and digest_by_filter, which
 * here means that fn checks what it builds from the content by a digest
 * of its own.  fn returns 0, or -1 to stop (keeping its own reason; the
 * error then only names the object).  A chain restore streams the pages
 * of its deltas this way (restore_delta.c).
 */
typedef int (*RvxContentFn) (void *arg, const RvxObjectHeader *hdr, uint64_t offset,
							 const void *data, size_t len);

extern int	rvx_fetch_to_fn(RvxRepo *repo, const char *key, const RvxFetchOptions *opts,
							RvxContentFn fn, void *arg, RvxError *err);

/*
 * Reads the content of a small object (a backup record, a manifest) into a
 * malloc'd, NUL-terminated buffer, verified as above.  Larger than max_len
 * is RVX_E_CORRUPT.  hdr (if not NULL) receives the object's header.
 */
extern int	rvx_fetch_to_buffer(RvxRepo *repo, const char *key, uint64_t expect_system_id,
								size_t max_len, char **out, size_t *out_len,
								RvxObjectHeader *hdr, RvxError *err);

/* The same for an object in a local file (a spooled one). */
extern int	rvx_object_load_file(const char *path, uint64_t expect_system_id, size_t max_len,
								 char **out, size_t *out_len, RvxObjectHeader *hdr,
								 RvxError *err);

#endif							/* RVX_AGENT_FETCH_H */
