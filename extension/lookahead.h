/*-------------------------------------------------------------------------
 *
 * lookahead.h
 *	  Spooling ahead of the archiver (lookahead.c): the look-ahead workers,
 *	  the claims on segments being spooled and the digests of segments
 *	  spooled ahead.
 *
 * The shared state behind these functions follows the lock rules in
 * shmem.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_LOOKAHEAD_H
#define REVRX_LOOKAHEAD_H

#include <sys/stat.h>
#include <time.h>

#include "archive.h"
#include "sha256.h"

/* Shared memory (from shmem.c's hooks) and the workers (from _PG_init). */
extern void revrx_ahead_shmem_request(void);
extern void revrx_ahead_shmem_init(void);
extern void revrx_ahead_register(void);
extern PGDLLEXPORT void revrx_ahead_main(Datum main_arg);

/* The archiver starts an attempt for file / is still in it. */
extern void revrx_ahead_archiving(const char *file);
extern void revrx_ahead_keepalive(void);

/*
 * Claims: a process spools a segment only while it holds the segment's
 * claim.  revrx_ahead_claim() is false when another process holds it.
 * Claims are released by the process that holds them, and at its exit
 * once revrx_ahead_on_exit_register() was called.
 */
extern bool revrx_ahead_claim(const char *name);
extern void revrx_ahead_release(const char *name);
extern void revrx_ahead_release_all(void);
extern void revrx_ahead_on_exit_register(void);

/*
 * Digests of segments spooled ahead, for the archiver (see "Digests" in
 * lookahead.c): whether a read may be remembered, remembering, recalling.
 */
extern bool revrx_ahead_settled(const struct stat *before, const struct stat *after,
								time_t read_started);
extern void revrx_ahead_remember(const char *name, const RevrxSpooled *spooled);
extern bool revrx_ahead_recall(const char *name, const char *path,
							   uint8 sha[RVX_SHA256_LEN]);

/* The segments to spool ahead of a file (revrx_ahead_collect). */
typedef struct RevrxAheadList
{
	char		wal_dir[MAXPGPATH];
	char	  **names;
	int			n;
	int			next;			/* the next one to look at */
	int64		spool_bytes;	/* the spool's objects, as last known */
	int			backlog;		/* all the ready segments after the file */
	bool		fastest;		/* a backlog: compress at the fastest level */
} RevrxAheadList;

extern void revrx_ahead_collect(RevrxAheadList *list, const char *after);
/* Spools the next one nobody has spooled or is spooling: 1, 0 (none), -1 (failed). */
extern int	revrx_ahead_step(RevrxAheadList *list, int elevel);

#endif							/* REVRX_LOOKAHEAD_H */
