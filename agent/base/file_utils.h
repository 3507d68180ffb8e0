/*-------------------------------------------------------------------------
 *
 * file_utils.h
 *	  Writing small local files durably (spool status files, the catalog's
 *	  cache): what survives a crash is the old file or the new one, whole.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_FILE_UTILS_H
#define RVX_AGENT_FILE_UTILS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* fsync(2) of a directory. */
extern int	rvx_fsync_dir(const char *dir, RvxError *err);

/*
 * Writes a small file durably: temporary name, fsync, rename, fsync of the
 * directory.  Shared by every writer of spool status files.
 */
extern int	rvx_write_file_durable(const char *path, const void *data, size_t len,
								   bool sync, RvxError *err);

#endif							/* RVX_AGENT_FILE_UTILS_H */
