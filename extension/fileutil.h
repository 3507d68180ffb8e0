/*-------------------------------------------------------------------------
 *
 * fileutil.h
 *	  Small file-name and file helpers (fileutil.c).
 *
 * revrx_file_exists and revrx_unlink_if_exists throw at ERROR on anything
 * but a missing file; revrx_walk_files never throws for a file or
 * directory that vanishes meanwhile.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_FILEUTIL_H
#define REVRX_FILEUTIL_H

#include <sys/stat.h>

/* Whether name ends with suffix (and is longer than it). */
extern bool revrx_has_suffix(const char *name, const char *suffix);

/* Whether path exists; ERROR for anything but ENOENT. */
extern bool revrx_file_exists(const char *path);
/* unlink(2) that is fine with a missing file; ERROR otherwise. */
extern void revrx_unlink_if_exists(const char *path);

/*
 * Writes all len bytes of data to fd, retrying after EINTR and short
 * writes.  Returns 0, or the errno of the failure (ENOSPC when write()
 * set none); never throws.
 */
extern int	revrx_write_all(int fd, const void *data, size_t len);

/*
 * Called by revrx_walk_files for each file that is not a directory (st is
 * its lstat); returning false ends the walk.
 */
typedef bool (*RevrxFileVisitor) (const char *path, const char *name,
								  const struct stat *st, void *arg);

/*
 * Walks the tree under dir, depth first, without following symbolic links,
 * calling visit for each file that is not a directory.  What cannot be
 * opened or lstat'ed (it vanished meanwhile) is skipped; a failure to read
 * a directory is reported at elevel (below ERROR) and ends that
 * directory's listing.  Each directory is closed before its subdirectories
 * are walked, so the walk holds one directory open at a time.  Returns
 * false if visit ended the walk.
 */
extern bool revrx_walk_files(const char *dir, int elevel, RevrxFileVisitor visit, void *arg);

#endif							/* REVRX_FILEUTIL_H */
