/*-------------------------------------------------------------------------
 *
 * repo.c
 *	  Opening a repository by URL, and helpers common to all drivers.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/metrics.h"
#include "storage/repo.h"

static RvxRepo *open_driver(const RvxRepoConfig *cfg, RvxError *err);

RvxRepo *
rvx_repo_open(const RvxRepoConfig *cfg, RvxError *err)
{
	RvxRepo    *repo = open_driver(cfg, err);

	if (repo)
		repo->key = cfg->key;
	return repo;
}

static RvxRepo *
open_driver(const RvxRepoConfig *cfg, RvxError *err)
{
	const char *url = cfg->url;

	if (url == NULL)
	{
		rvx_error(err, RVX_E_CONFIG, "no repository configured (REVRX_REPO)");
		return NULL;
	}
	if (strncmp(url, "file://", 7) == 0)
	{
		if (url[7] != '/')
		{
			rvx_error(err, RVX_E_CONFIG,
					  "invalid repository URL \"%s\": expected file:///absolute/path", url);
			return NULL;
		}
		return rvx_repo_posix_open(url + 7, cfg, err);
	}
	if (strncmp(url, "s3://", 5) == 0)
	{
		const char *b = url + 5;
		const char *slash = strchr(b, '/');
		char		bucket[256];
		size_t		blen = slash ? (size_t) (slash - b) : strlen(b);
		const char *prefix = slash ? slash + 1 : "";

		if (blen == 0 || blen >= sizeof(bucket))
		{
			rvx_error(err, RVX_E_CONFIG,
					  "invalid repository URL \"%s\": expected s3://bucket/prefix", url);
			return NULL;
		}
		memcpy(bucket, b, blen);
		bucket[blen] = '\0';
		return rvx_repo_s3_open(bucket, prefix, cfg, err);
	}
	rvx_error(err, RVX_E_CONFIG,
			  "invalid repository URL \"%s\": expected file:///path or s3://bucket/prefix", url);
	return NULL;
}

void
rvx_repo_close(RvxRepo *repo)
{
	if (repo == NULL)
		return;
	repo->ops->close(repo);
}

/*
 * Every operation goes through here, so this is where the metrics learn
 * whether the repository answers (for /readyz) and how many bytes moved.
 */
int
rvx_repo_head(RvxRepo *repo, const char *key, RvxObjectInfo *info, RvxError *err)
{
	RvxObjectInfo dummy;
	int			rc = repo->ops->head(repo, key, info ? info : &dummy, err);

	rvx_metrics_repo_result(rc, err);
	return rc;
}

int
rvx_repo_put(RvxRepo *repo, const char *key, const RvxPutSource *src, int flags, RvxError *err)
{
	int			rc = repo->ops->put(repo, key, src, flags, err);

	rvx_metrics_repo_write_result(rc, err);
	if (rc == 0)
		rvx_metrics_count_upload(src->size);
	return rc;
}

typedef struct CountingSink
{
	RvxGetSink	sink;
	void	   *arg;
} CountingSink;

static int
counting_sink(void *arg, const void *data, size_t len)
{
	CountingSink *cs = arg;

	rvx_metrics_count_download(len);
	return cs->sink(cs->arg, data, len);
}

int
rvx_repo_get(RvxRepo *repo, const char *key, uint64_t offset, uint64_t length,
			 RvxGetSink sink, void *arg, RvxError *err)
{
	CountingSink cs = {sink, arg};
	int			rc = repo->ops->get(repo, key, offset, length, counting_sink, &cs, err);

	rvx_metrics_repo_result(rc, err);
	return rc;
}

/*
 * A list callback has no RvxError: its -1 means it could not keep a key
 * (out of memory), and the drivers stop there without a message of their
 * own.  The message is given here, once for every driver and callback.
 */
typedef struct ListGuard
{
	RvxListFn	fn;
	void	   *arg;
	bool		failed;
} ListGuard;

static int
list_guard(void *arg, const char *key, uint64_t size)
{
	ListGuard  *g = arg;
	int			rc = g->fn(g->arg, key, size);

	if (rc < 0)
		g->failed = true;
	return rc;
}

int
rvx_repo_list(RvxRepo *repo, const char *prefix, RvxListFn fn, void *arg, RvxError *err)
{
	return rvx_repo_list_after(repo, prefix, NULL, fn, arg, err);
}

int
rvx_repo_list_after(RvxRepo *repo, const char *prefix, const char *start_after,
					RvxListFn fn, void *arg, RvxError *err)
{
	ListGuard	g = {fn, arg, false};
	int			rc = repo->ops->list(repo, prefix, start_after, list_guard, &g, err);

	if (rc != 0 && g.failed)
		rvx_error(err, RVX_E_INTERNAL, "out of memory while listing \"%s\" in %s", prefix,
				  repo->display);
	rvx_metrics_repo_result(rc, err);
	return rc;
}

int
rvx_repo_remove(RvxRepo *repo, const char *key, RvxError *err)
{
	int			rc = repo->ops->remove(repo, key, err);

	rvx_metrics_repo_write_result(rc, err);
	return rc;
}

/* ---------------------------------------------------------------- sources */

static ssize_t
mem_pread(void *arg, void *buf, size_t len, uint64_t offset)
{
	RvxMemSource *m = arg;

	if (offset >= m->len)
		return 0;
	if (len > m->len - offset)
		len = m->len - offset;
	memcpy(buf, m->data + offset, len);
	return (ssize_t) len;
}

static ssize_t
fd_pread(void *arg, void *buf, size_t len, uint64_t offset)
{
	int			fd = (int) (intptr_t) arg;

	return pread(fd, buf, len, (off_t) offset);
}

RvxPutSource
rvx_put_source_mem(RvxMemSource *mem)
{
	RvxPutSource src = {mem->len, mem_pread, mem};

	return src;
}

RvxPutSource
rvx_put_source_fd(int fd, uint64_t size)
{
	RvxPutSource src = {size, fd_pread, (void *) (intptr_t) fd};

	return src;
}

int
rvx_repo_put_buffer(RvxRepo *repo, const char *key, const void *data, size_t len,
					int flags, RvxError *err)
{
	RvxMemSource m = {data, len};
	RvxPutSource src = rvx_put_source_mem(&m);

	return rvx_repo_put(repo, key, &src, flags, err);
}

typedef struct GrowBuf
{
	char	   *data;
	size_t		len;
	size_t		max;
	bool		too_big;
} GrowBuf;

static int
grow_sink(void *arg, const void *data, size_t len)
{
	GrowBuf    *g = arg;
	char	   *n;

	if (g->len + len > g->max)
	{
		g->too_big = true;
		return -1;
	}
	n = realloc(g->data, g->len + len + 1);
	if (n == NULL)
		return -1;
	g->data = n;
	memcpy(g->data + g->len, data, len);
	g->len += len;
	g->data[g->len] = '\0';
	return 0;
}

int
rvx_repo_get_buffer(RvxRepo *repo, const char *key, size_t max_len, char **out,
					size_t *out_len, RvxError *err)
{
	GrowBuf		g = {NULL, 0, max_len, false};

	*out = NULL;
	if (rvx_repo_get(repo, key, 0, 0, grow_sink, &g, err) != 0)
	{
		if (g.too_big)
			rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is larger than %zu bytes",
					  key, repo->display, max_len);
		free(g.data);
		return -1;
	}
	if (g.data == NULL)
		g.data = calloc(1, 1);
	*out = g.data;
	if (out_len)
		*out_len = g.len;
	return 0;
}
