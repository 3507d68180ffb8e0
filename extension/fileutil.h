/*-------------------------------------------------------------------------
 *
 * fileutil.h
 *	  Small file-name and file helpers (fileutil.c).
 *
 * The file helpers throw at ERROR on anything but a missing file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_FILEUTIL_H
#define REVRX_FILEUTIL_H

/* Whether name ends with suffix (and is longer than it). */
extern bool revrx_has_suffix(const char *name, const char *suffix);

/* Whether path exists; ERROR for anything but ENOENT. */
extern bool revrx_file_exists(const char *path);
/* unlink(2) that is fine with a missing file; ERROR otherwise. */
extern void revrx_unlink_if_exists(const char *path);

#endif							/* REVRX_FILEUTIL_H */
