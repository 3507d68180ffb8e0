/*-------------------------------------------------------------------------
 *
 * ship_meta.c
 *	  Shipping the spool's meta/ documents (see ship_meta.h).
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file_utils.h"
#include "base/log.h"
#include "info/catalog.h"
#include "info/store.h"
#include "ship/ship.h"
#include "ship/ship_meta.h"
#include "spool.h"

/* Deep enough for restore_points/<name> and backup/<id>/<name>. */
#define META_MAX_DEPTH	4

typedef struct MetaWalk
{
	RvxRepo    *repo;			/* NULL: only look for pending documents */
	const char *spool_dir;
	const RvxClusterInfo *cluster;
	int			stored;
	bool		found;
	RvxError   *err;
} MetaWalk;

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t		a = strlen(s),
				b = strlen(suffix);

	return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Ships meta/<rel>.rvx; 0 done (stored or refused for good), -1 transient. */
static int
ship_one(MetaWalk *mw, const char *rel)
{
	char		path[PATH_MAX];
	char		errpath[PATH_MAX];
	char		key[PATH_MAX];
	char		tmpdir[PATH_MAX];
	RvxObjectHeader hdr;
	RvxStoreResult res = {0};
	RvxError	err;
	uint64_t	size;
	int			fd;
	int			rc;

	snprintf(path, sizeof(path), "%s/%s/%s%s", mw->spool_dir, RVX_SPOOL_META_DIR, rel,
			 RVX_SPOOL_READY_SUFFIX);
	snprintf(errpath, sizeof(errpath), "%s/%s/%s%s", mw->spool_dir, RVX_SPOOL_META_DIR, rel,
			 RVX_SPOOL_ERROR_SUFFIX);

	rvx_error_clear(&err);
	if (!rvx_backup_relpath_valid(rel))
		rc = rvx_error(&err, RVX_E_CORRUPT, "\"%s\" is not a valid repository key", rel);
	else if ((rc = rvx_spool_object_open(path, mw->cluster, &fd, &hdr, &size, &err)) == 0)
	{
		snprintf(key, sizeof(key), "%s%s", rel,
				 rvx_compression_suffix((RvxCompression) hdr.compression));
		snprintf(tmpdir, sizeof(tmpdir), "%s/%s", mw->spool_dir, RVX_SPOOL_META_DIR);
		rc = rvx_store_object(mw->repo, key, fd, size, &hdr, tmpdir, &res, &err);
		close(fd);
		if (rc == 0)
		{
			rvx_info("stored \"%s\" in %s", key, mw->repo->display);
			mw->stored++;
			if (unlink(path) != 0 && errno != ENOENT)
				rvx_warn("could not remove \"%s\": %s", path, strerror(errno));
			/* a backup's directory has one document, once: do not let them pile up */
			if (strncmp(rel, RVX_BACKUP_KEY_PREFIX, strlen(RVX_BACKUP_KEY_PREFIX)) == 0)
			{
				*strrchr(path, '/') = '\0';
				(void) rmdir(path);
			}
			return 0;
		}
	}
	if (err.code == RVX_E_NOTFOUND)
		return 0;				/* gone meanwhile */
	if (rvx_error_transient(&err))
	{
		*mw->err = err;
		return -1;
	}

	/* never storable: say so once, beside it, and leave it */
	{
		char		text[RVX_SPOOL_NOTE_MAX];
		RvxError	werr;

		rvx_warn("\"%s\" will not be stored: %s", rel, err.msg);
		rvx_spool_error_format(text, sizeof(text), true, (long long) time(NULL), err.msg);
		if (rvx_write_file_durable(errpath, text, strlen(text), true, &werr) != 0)
			rvx_warn("could not record the error: %s", werr.msg);
	}
	return 0;
}

static int
walk(MetaWalk *mw, const char *rel, int depth)
{
	char		dir[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	int			rc = 0;

	snprintf(dir, sizeof(dir), "%s/%s%s%s", mw->spool_dir, RVX_SPOOL_META_DIR,
			 rel[0] ? "/" : "", rel);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while (rc == 0 && (de = readdir(d)) != NULL)
	{
		char		child[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
		{
			if (depth < META_MAX_DEPTH)
				rc = walk(mw, child, depth + 1);
		}
		else if (S_ISREG(st.st_mode) && has_suffix(de->d_name, RVX_SPOOL_READY_SUFFIX))
		{
			char		errpath[PATH_MAX];

			child[strlen(child) - strlen(RVX_SPOOL_READY_SUFFIX)] = '\0';
			snprintf(errpath, sizeof(errpath), "%s/%s/%s%s", mw->spool_dir,
					 RVX_SPOOL_META_DIR, child, RVX_SPOOL_ERROR_SUFFIX);
			if (access(errpath, F_OK) == 0)
				continue;		/* refused before: the operator's to look at */
			mw->found = true;
			if (mw->repo == NULL)
				break;
			rc = ship_one(mw, child);
		}
	}
	closedir(d);
	return rc;
}

bool
rvx_meta_pending(const char *spool_dir)
{
	MetaWalk	mw = {0};

	mw.spool_dir = spool_dir;
	walk(&mw, "", 0);
	return mw.found;
}

int
rvx_ship_meta(RvxRepo *repo, const char *spool_dir, const RvxClusterInfo *cluster,
			  int *stored, RvxError *err)
{
	MetaWalk	mw = {0};
	int			rc;

	mw.repo = repo;
	mw.spool_dir = spool_dir;
	mw.cluster = cluster;
	mw.err = err;
	rc = walk(&mw, "", 0);
	*stored = mw.stored;
	return rc;
}
