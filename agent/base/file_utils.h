/*-------------------------------------------------------------------------
 *
 * file_utils.h
 *	  Writing small local files durably (spool status files, the catalog's
 *	  cache): what survives a crash is the old file or the new one, whole.
 *	  And removing a directory tree.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_FILE_UTILS_H
#define RVX_AGENT_FILE_UTILS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* fsync(2) of a directory. */
extern int	rvx_fsync_dir(const char *dir, RvxError *err);

/*
 * Writes a small file durably: temporary name, fsync, rename, fsync of the
 * directory.  Shared by every writer of spool status files.
 */
extern int	rvx_write_file_durable(const char *path, const void *data, size_t len,
								   bool sync, RvxError *err);

/*
 * Writes a small file in place (truncated first, or appended to), hands it
 * to owner:group unless owner is (uid_t) -1, and fsyncs it.  Not atomic:
 * for the files a restore leaves in the data directory it writes, whose
 * directory is fsynced once at the end and which a rerun writes again.
 */
extern int	rvx_write_file_owned(const char *path, const void *data, size_t len,
								 bool append, uid_t owner, gid_t group, RvxError *err);

/*
 * rm -rf path, or only what is inside it with keep_top; symbolic links are
 * removed, never followed (a data directory's pg_tblspc links lead to
 * tablespaces that are not to be touched through them).  Goes on past a
 * failure, as rm does, and reports the first; a path that does not exist
 * is no error.  Safe to call from several threads at once.
 */
extern int	rvx_remove_tree(const char *path, bool keep_top, RvxError *err);

#endif							/* RVX_AGENT_FILE_UTILS_H */
