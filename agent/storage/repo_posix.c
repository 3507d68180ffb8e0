/*-------------------------------------------------------------------------
 *
 * repo_posix.c
 *	  Repository driver for a local (or NFS-mounted) directory.
 *
 * A key is a relative path below the repository root.  Objects are written
 * as ".<name>.tmp.<pid>.<n>" beside their final name, fsynced, and then
 * made visible in one step: rename(2), or link(2) when overwriting is not
 * allowed (link fails with EEXIST where rename would silently replace).
 * The directory is fsynced afterwards, and so is the parent of any
 * directory created on the way, so a crash never loses an object that put
 * reported as stored.  Names starting with "." are never listed, which
 * hides temporary files left by a crash; they are harmless garbage.
 *
 * Directories are an artifact of this driver, not part of the namespace:
 * put creates them as needed, and remove deletes the directories it leaves
 * empty, up to the root, so that a prefix whose last key was removed is
 * gone, as on S3.  A put racing with such a remove in the same directory
 * recreates the directory and tries again.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/repo.h"

#define POSIX_CHUNK (1024 * 1024)

typedef struct PosixRepo
{
	char		root[PATH_MAX];
} PosixRepo;

static int
make_path(RvxRepo *repo, const char *key, char *out, RvxError *err)
{
	PosixRepo  *p = repo->priv;

	if (key[0] == '/' || strstr(key, "..") != NULL)
		return rvx_error(err, RVX_E_INTERNAL, "invalid repository key \"%s\"", key);
	if (snprintf(out, PATH_MAX, "%s/%s", p->root, key) >= PATH_MAX)
		return rvx_error(err, RVX_E_IO, "repository path too long for key \"%s\"", key);
	return 0;
}

static int
fsync_path(const char *path, bool isdir, RvxError *err)
{
	int			fd = open(path, isdir ? O_RDONLY | O_DIRECTORY : O_RDONLY);

	if (fd < 0)
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
	if (fsync(fd) != 0)
	{
		int			save = errno;

		close(fd);
		return rvx_error(err, RVX_E_IO, "could not fsync \"%s\": %s", path, strerror(save));
	}
	close(fd);
	return 0;
}

static int
fsync_parent(const char *path, RvxError *err)
{
	char		dir[PATH_MAX];
	char	   *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return 0;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return fsync_path(dir, true, err);
}

/* mkdir -p for the directory that will hold path, durably. */
static int
ensure_parent(const char *path, RvxError *err)
{
	char		dir[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++)
	{
		if (*p != '/')
			continue;
		*p = '\0';
		if (stat(dir, &st) != 0)
		{
			if (mkdir(dir, 0750) != 0 && errno != EEXIST)
				return rvx_error(err, RVX_E_IO, "could not create directory \"%s\": %s",
								 dir, strerror(errno));
			if (fsync_parent(dir, err) != 0)
				return -1;
		}
		else if (!S_ISDIR(st.st_mode))
			return rvx_error(err, RVX_E_IO, "\"%s\" is not a directory", dir);
		*p = '/';
	}
	return 0;
}

static int
posix_head(RvxRepo *repo, const char *key, RvxObjectInfo *info, RvxError *err)
{
	char		path[PATH_MAX];
	struct stat st;

	if (make_path(repo, key, path, err) != 0)
		return -1;
	if (stat(path, &st) != 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return rvx_error(err, RVX_E_IO, "could not stat \"%s\": %s", path, strerror(errno));
	}
	info->size = (uint64_t) st.st_size;
	info->mtime = (int64_t) st.st_mtime;
	return 1;
}

static int
posix_put(RvxRepo *repo, const char *key, const RvxPutSource *src, int flags, RvxError *err)
{
	static int	counter;
	char		path[PATH_MAX];
	char		tmp[PATH_MAX];
	char	   *buf;
	const char *base;
	int			fd;
	uint64_t	off = 0;

	if (make_path(repo, key, path, err) != 0 || ensure_parent(path, err) != 0)
		return -1;
	base = strrchr(path, '/') + 1;
	snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp.%d.%d", (int) (base - path), path, base,
			 (int) getpid(), __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	for (int attempt = 0; fd < 0 && errno == ENOENT && attempt < 3; attempt++)
	{
		/* a remove emptied and deleted the directory since ensure_parent */
		if (ensure_parent(path, err) != 0)
			return -1;
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	}
	if (fd < 0)
		return rvx_error(err, RVX_E_IO, "could not create \"%s\": %s", tmp, strerror(errno));
	buf = malloc(POSIX_CHUNK);
	if (buf == NULL)
	{
		close(fd);
		unlink(tmp);
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	while (off < src->size)
	{
		size_t		want = src->size - off < POSIX_CHUNK ? (size_t) (src->size - off) : POSIX_CHUNK;
		ssize_t		n = src->pread(src->arg, buf, want, off);

		if (n <= 0)
		{
			rvx_error(err, RVX_E_IO, "could not read source of \"%s\": %s", key,
					  n < 0 ? strerror(errno) : "unexpected end of data");
			goto fail;
		}
		for (ssize_t done = 0; done < n;)
		{
			ssize_t		w = write(fd, buf + done, (size_t) (n - done));

			if (w < 0)
			{
				rvx_error(err, RVX_E_IO, "could not write \"%s\": %s", tmp, strerror(errno));
				goto fail;
			}
			done += w;
		}
		off += (uint64_t) n;
	}
	if (fsync(fd) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not fsync \"%s\": %s", tmp, strerror(errno));
		goto fail;
	}
	free(buf);
	buf = NULL;
	if (close(fd) != 0)
	{
		fd = -1;
		rvx_error(err, RVX_E_IO, "could not close \"%s\": %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;

	if (flags & RVX_PUT_NO_OVERWRITE)
	{
		if (link(tmp, path) != 0)
		{
			if (errno == EEXIST)
				rvx_error(err, RVX_E_CONFLICT, "object \"%s\" already exists in %s",
						  key, repo->display);
			else
				rvx_error(err, RVX_E_IO, "could not link \"%s\" to \"%s\": %s",
						  tmp, path, strerror(errno));
			goto fail;
		}
		unlink(tmp);
	}
	else if (rename(tmp, path) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not rename \"%s\" to \"%s\": %s",
				  tmp, path, strerror(errno));
		goto fail;
	}
	return fsync_parent(path, err);

fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	unlink(tmp);
	return -1;
}

static int
posix_get(RvxRepo *repo, const char *key, uint64_t offset, uint64_t length,
		  RvxGetSink sink, void *arg, RvxError *err)
{
	char		path[PATH_MAX];
	char	   *buf;
	int			fd;
	uint64_t	left = length;

	if (make_path(repo, key, path, err) != 0)
		return -1;
	fd = open(path, O_RDONLY);
	if (fd < 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return rvx_error(err, RVX_E_NOTFOUND, "object \"%s\" not found in %s",
							 key, repo->display);
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
	}
	buf = malloc(POSIX_CHUNK);
	if (buf == NULL)
	{
		close(fd);
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	for (;;)
	{
		size_t		want = POSIX_CHUNK;
		ssize_t		n;

		if (length > 0)
		{
			if (left == 0)
				break;
			if (left < want)
				want = (size_t) left;
		}
		n = pread(fd, buf, want, (off_t) offset);
		if (n < 0)
		{
			rvx_error(err, RVX_E_IO, "could not read \"%s\": %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
		{
			if (length > 0)
			{
				rvx_error(err, RVX_E_CORRUPT,
						  "object \"%s\" in %s is shorter than the requested range",
						  key, repo->display);
				goto fail;
			}
			break;
		}
		if (sink(arg, buf, (size_t) n) != 0)
		{
			rvx_error(err, RVX_E_IO, "could not process object \"%s\"", key);
			goto fail;
		}
		offset += (uint64_t) n;
		if (length > 0)
			left -= (uint64_t) n;
	}
	free(buf);
	close(fd);
	return 0;

fail:
	free(buf);
	close(fd);
	return -1;
}

typedef struct KeyList
{
	char	  **keys;
	uint64_t   *sizes;
	size_t		n;
	size_t		cap;
} KeyList;

static int
keylist_add(KeyList *kl, const char *key, uint64_t size)
{
	if (kl->n == kl->cap)
	{
		size_t		cap = kl->cap ? kl->cap * 2 : 256;
		char	  **k = realloc(kl->keys, cap * sizeof(char *));
		uint64_t   *s;

		if (k == NULL)
			return -1;
		kl->keys = k;
		s = realloc(kl->sizes, cap * sizeof(uint64_t));
		if (s == NULL)
			return -1;
		kl->sizes = s;
		kl->cap = cap;
	}
	kl->keys[kl->n] = strdup(key);
	if (kl->keys[kl->n] == NULL)
		return -1;
	kl->sizes[kl->n++] = size;
	return 0;
}

static int
walk(const char *root, const char *rel, const char *prefix, KeyList *kl, RvxError *err)
{
	char		dirpath[PATH_MAX];
	DIR		   *d;
	struct dirent *de;

	snprintf(dirpath, sizeof(dirpath), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(dirpath);
	if (d == NULL)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return rvx_error(err, RVX_E_IO, "could not open directory \"%s\": %s",
						 dirpath, strerror(errno));
	}
	while ((de = readdir(d)) != NULL)
	{
		char		key[PATH_MAX];
		char		full[PATH_MAX];
		struct stat st;
		size_t		cmp;

		if (de->d_name[0] == '.')
			continue;
		snprintf(key, sizeof(key), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		/* prune subtrees that cannot hold a key with this prefix */
		cmp = strlen(key) < strlen(prefix) ? strlen(key) : strlen(prefix);
		if (strncmp(key, prefix, cmp) != 0)
			continue;
		snprintf(full, sizeof(full), "%s/%s", root, key);
		if (lstat(full, &st) != 0)
			continue;			/* removed while we looked */
		if (S_ISDIR(st.st_mode))
		{
			if (walk(root, key, prefix, kl, err) != 0)
			{
				closedir(d);
				return -1;
			}
		}
		else if (S_ISREG(st.st_mode) && strncmp(key, prefix, strlen(prefix)) == 0)
		{
			if (keylist_add(kl, key, (uint64_t) st.st_size) != 0)
			{
				closedir(d);
				return rvx_error(err, RVX_E_INTERNAL, "out of memory");
			}
		}
	}
	closedir(d);
	return 0;
}

static int
cmp_index(const void *a, const void *b, void *arg)
{
	char	  **keys = arg;

	return strcmp(keys[*(const size_t *) a], keys[*(const size_t *) b]);
}

static int
posix_list(RvxRepo *repo, const char *prefix, const char *start_after, RvxListFn fn,
		   void *arg, RvxError *err)
{
	PosixRepo  *p = repo->priv;
	KeyList		kl = {0};
	size_t	   *order = NULL;
	int			rc = 0;

	if (walk(p->root, "", prefix, &kl, err) != 0)
		rc = -1;
	else if (kl.n > 0)
	{
		order = malloc(kl.n * sizeof(size_t));
		if (order == NULL)
			rc = rvx_error(err, RVX_E_INTERNAL, "out of memory");
		else
		{
			for (size_t i = 0; i < kl.n; i++)
				order[i] = i;
			qsort_r(order, kl.n, sizeof(size_t), cmp_index, kl.keys);
			for (size_t i = 0; i < kl.n; i++)
			{
				int			r;

				if (start_after && strcmp(kl.keys[order[i]], start_after) <= 0)
					continue;
				r = fn(arg, kl.keys[order[i]], kl.sizes[order[i]]);

				if (r < 0)
				{
					rc = -1;
					break;
				}
				if (r > 0)
					break;
			}
		}
	}
	for (size_t i = 0; i < kl.n; i++)
		free(kl.keys[i]);
	free(kl.keys);
	free(kl.sizes);
	free(order);
	return rc;
}

static int
posix_remove(RvxRepo *repo, const char *key, RvxError *err)
{
	PosixRepo  *p = repo->priv;
	char		path[PATH_MAX];
	char		dir[PATH_MAX];
	size_t		rootlen = strlen(p->root);
	char	   *slash;

	if (make_path(repo, key, path, err) != 0)
		return -1;
	if (unlink(path) != 0)
	{
		if (errno == ENOENT)
			return 0;
		return rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
	}
	/*
	 * Delete the directories this left empty, bottom up; the first one that
	 * is not empty (or the root) stops it, and is the one whose entry list
	 * changed last, so it is the one to fsync.
	 */
	snprintf(dir, sizeof(dir), "%s", path);
	for (;;)
	{
		slash = strrchr(dir, '/');
		*slash = '\0';
		if ((size_t) (slash - dir) <= rootlen || rmdir(dir) != 0)
			break;
	}
	return fsync_path(dir, true, err);
}

static void
posix_close(RvxRepo *repo)
{
	free(repo->priv);
	free(repo->display);
	free(repo);
}

static const RvxRepoOps posix_ops = {
	.name = "posix",
	.head_is_local = true,
	.head = posix_head,
	.put = posix_put,
	.get = posix_get,
	.list = posix_list,
	.remove = posix_remove,
	.close = posix_close,
};

RvxRepo *
rvx_repo_posix_open(const char *path, const RvxRepoConfig *cfg, RvxError *err)
{
	RvxRepo    *repo;
	PosixRepo  *p;
	size_t		len = strlen(path);
	struct stat st;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len >= PATH_MAX - 256)
	{
		rvx_error(err, RVX_E_CONFIG, "repository path \"%s\" is too long", path);
		return NULL;
	}
	if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
	{
		rvx_error(err, RVX_E_CONFIG, "repository path \"%s\" is not a directory", path);
		return NULL;
	}
	repo = calloc(1, sizeof(RvxRepo));
	p = calloc(1, sizeof(PosixRepo));
	if (repo == NULL || p == NULL)
	{
		free(repo);
		free(p);
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		return NULL;
	}
	memcpy(p->root, path, len);
	p->root[len] = '\0';
	repo->ops = &posix_ops;
	repo->priv = p;
	repo->display = malloc(len + 8);
	if (repo->display)
		snprintf(repo->display, len + 8, "file://%s", p->root);
	/*
	 * A missing root is created by the first put (ensure_parent, durably),
	 * not here: commands that only read (list, restore, wal-fetch) must not
	 * create a directory because of a mistyped REVRX_REPO.
	 */
	return repo;
}
