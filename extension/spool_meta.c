/*-------------------------------------------------------------------------
 *
 * spool_meta.c
 *	  Small documents the server hands to the agent for the repository:
 *	  restore points, table fingerprints (common/spool.h, "meta/").
 *
 * A document is built in memory (they are a few kilobytes), written as a
 * complete object under a temporary name, fsynced and renamed durably, so
 * the agent sees it whole or not at all.  The agent stores it under its
 * key and removes it; it never replaces different content already stored
 * under the key, and says so in meta/<key>.error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "common/file_perm.h"
#include "lib/stringinfo.h"
#include "storage/fd.h"

#include "revrx.h"
#include "spool.h"

static RevrxWriterCache meta_writer = REVRX_WRITER_CACHE_INIT;

static int
buffer_sink(void *arg, const void *data, size_t len)
{
	appendBinaryStringInfo((StringInfo) arg, data, (int) len);
	return 0;
}

/* mkdir -p of the directories of path below the spool (which exists). */
static void
make_parents(const char *path)
{
	char		dir[MAXPGPATH];
	size_t		base = strlen(revrx_spool_dir);

	strlcpy(dir, path, MAXPGPATH);
	for (char *p = dir + base + 1; (p = strchr(p, '/')) != NULL; p++)
	{
		*p = '\0';
		if (MakePGDirectory(dir) != 0 && errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", dir)));
		*p = '/';
	}
}

static void
meta_path(const char *key, const char *suffix, char *path)
{
	if (revrx_spool_dir == NULL || revrx_spool_dir[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revrx.spool_dir is not set"),
				 errhint("Set revrx.spool_dir to the directory shared with revrx-agent and reload the configuration.")));
	if (snprintf(path, MAXPGPATH, "%s/%s/%s%s", revrx_spool_dir, RVX_SPOOL_META_DIR,
				 key, suffix) >= MAXPGPATH)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("spool path for \"%s\" is too long", key)));
}

bool
revrx_meta_exists(const char *key)
{
	char		path[MAXPGPATH];

	meta_path(key, RVX_SPOOL_READY_SUFFIX, path);
	if (revrx_file_exists(path))
		return true;
	meta_path(key, RVX_SPOOL_ERROR_SUFFIX, path);
	return revrx_file_exists(path);
}

void
revrx_meta_write(const char *key, const char *text, size_t len)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	StringInfoData buf;
	RvxObjectWriter *w;
	RvxObjectHeader hdr;
	uint8		head[RVX_OBJECT_HEADER_LEN];
	int			fd;

	meta_path(key, RVX_SPOOL_READY_SUFFIX, path);
	snprintf(tmp, MAXPGPATH, "%s%s", path, RVX_SPOOL_TMP_SUFFIX);

	initStringInfo(&buf);
	memset(head, 0, sizeof(head));
	appendBinaryStringInfo(&buf, (const char *) head, sizeof(head));
	w = revrx_object_writer(&meta_writer, 0, ERROR);
	if (rvx_object_writer_begin(w, GetSystemIdentifier(), buffer_sink, &buf) != 0 ||
		rvx_object_writer_write(w, text, len) != 0 ||
		rvx_object_writer_finish(w, &hdr) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compress \"%s\": %s", key, rvx_object_writer_error(w))));
	rvx_object_header_encode(&hdr, (uint8_t *) buf.data);

	make_parents(path);
	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
							   pg_file_create_mode);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
	errno = 0;
	if (write(fd, buf.data, buf.len) != buf.len)
	{
		int			save = errno ? errno : ENOSPC;

		CloseTransientFile(fd);
		unlink(tmp);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", tmp)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", tmp)));
	(void) durable_rename(tmp, path, ERROR);
	pfree(buf.data);
}
