/*-------------------------------------------------------------------------
 *
 * spool_meta.c
 *	  Small documents the server hands to the agent for the repository:
 *	  restore points, table fingerprints (common/spool.h, "meta/").
 *
 * A document is built in memory (they are a few kilobytes), written as a
 * complete object under a temporary name, fsynced and renamed durably, so
 * the agent sees it whole or not at all.  The spool is claimed first
 * (cluster.json), so an agent waiting for a new cluster's first WAL can
 * bind the repository and store it.  The agent stores it under its
 * key and removes it; it never replaces different content already stored
 * under the key, and says so in meta/<key>.error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xlog.h"
#include "lib/stringinfo.h"
#include "storage/fd.h"

#include "fileutil.h"
#include "object.h"
#include "settings.h"
#include "spool.h"
#include "spool_meta.h"
#include "spool_write.h"

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
	StringInfoData buf;
	RvxObjectWriter *w;
	RvxObjectHeader hdr;
	uint8		head[RVX_OBJECT_HEADER_LEN];

	meta_path(key, RVX_SPOOL_READY_SUFFIX, path);

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

	revrx_spool_claim();
	make_parents(path);
	revrx_write_file_durably(path, buf.data, buf.len);
	pfree(buf.data);
}
