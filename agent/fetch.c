/*-------------------------------------------------------------------------
 *
 * fetch.c
 *	  Reading objects back from a repository, verified (see fetch.h).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fetch.h"
#include "walname.h"

int
rvx_wal_find(RvxRepo *repo, const char *name, RvxCompression preferred,
			 char *key, size_t keycap, RvxObjectInfo *info, RvxError *err)
{
	RvxCompression order[RVX_COMPRESS_MAX + 1];
	int			n = 0;

	order[n++] = preferred;
	for (int alg = RVX_COMPRESS_MAX; alg >= 0; alg--)
		if ((RvxCompression) alg != preferred)
			order[n++] = (RvxCompression) alg;

	for (int i = 0; i < n; i++)
	{
		int			rc;

		if (rvx_wal_object_key(name, order[i], key, keycap) != 0)
			return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL file", name);
		rc = rvx_repo_head(repo, key, info, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

typedef struct HeaderBuf
{
	uint8_t		bytes[RVX_OBJECT_HEADER_LEN];
	size_t		len;
} HeaderBuf;

static int
header_sink(void *arg, const void *data, size_t len)
{
	HeaderBuf  *h = arg;

	if (h->len + len > sizeof(h->bytes))
		len = sizeof(h->bytes) - h->len;
	memcpy(h->bytes + h->len, data, len);
	h->len += len;
	return 0;
}

int
rvx_object_read_header(RvxRepo *repo, const char *key, RvxObjectHeader *hdr, RvxError *err)
{
	HeaderBuf	h = {{0}, 0};
	const char *why;

	if (rvx_repo_get(repo, key, 0, RVX_OBJECT_HEADER_LEN, header_sink, &h, err) != 0)
		return -1;
	if (h.len < RVX_OBJECT_HEADER_LEN)
		return rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is truncated: no complete header",
						 key, repo->display);
	if (rvx_object_header_decode(h.bytes, hdr, &why) != 0)
		return rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is corrupt: %s",
						 key, repo->display, why);
	return 0;
}

typedef struct FetchState
{
	RvxObjectReader *reader;
	int			fd;
	const char *tmp;
	uint64_t	expect_system_id;
	bool		checked_cluster;
	bool		wrong_cluster;
	int			write_errno;
} FetchState;

/* Receives verified-so-far content from the reader and writes it. */
static int
content_sink(void *arg, const void *data, size_t len)
{
	FetchState *st = arg;
	const char *p = data;

	if (!st->checked_cluster)
	{
		const RvxObjectHeader *hdr = rvx_object_reader_header(st->reader);

		st->checked_cluster = true;
		if (st->expect_system_id != 0 && hdr->system_id != st->expect_system_id)
		{
			st->wrong_cluster = true;
			return -1;
		}
	}
	while (len > 0)
	{
		ssize_t		n = write(st->fd, p, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			st->write_errno = errno;
			return -1;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

/* Receives stored bytes from the repository and feeds the reader. */
static int
stored_sink(void *arg, const void *data, size_t len)
{
	FetchState *st = arg;

	return rvx_object_reader_feed(st->reader, data, len);
}

int
rvx_fetch_to_file(RvxRepo *repo, const char *key, uint64_t expect_system_id,
				  const char *dest, RvxError *err)
{
	char		tmp[PATH_MAX];
	FetchState	st = {0};
	int			rc = -1;
	RvxError	gerr;

	if (snprintf(tmp, sizeof(tmp), "%s.revrx.tmp", dest) >= (int) sizeof(tmp))
		return rvx_error(err, RVX_E_USAGE, "destination path \"%s\" is too long", dest);
	st.reader = rvx_object_reader_new();
	if (st.reader == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	st.tmp = tmp;
	st.expect_system_id = expect_system_id;
	st.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (st.fd < 0)
	{
		rvx_object_reader_free(st.reader);
		return rvx_error(err, RVX_E_IO, "could not create \"%s\": %s", tmp, strerror(errno));
	}
	rvx_object_reader_begin(st.reader, content_sink, &st);

	if (rvx_repo_get(repo, key, 0, 0, stored_sink, &st, &gerr) != 0)
	{
		if (st.wrong_cluster)
			rvx_error(err, RVX_E_CLUSTER,
					  "object \"%s\" in %s was written by cluster %" PRIu64 ", expected %" PRIu64,
					  key, repo->display, rvx_object_reader_header(st.reader)->system_id,
					  expect_system_id);
		else if (st.write_errno)
			rvx_error(err, RVX_E_IO, "could not write \"%s\": %s", tmp,
					  strerror(st.write_errno));
		else if (rvx_object_reader_error(st.reader)[0] && strcmp(rvx_object_reader_error(st.reader), "no error") != 0)
			rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is corrupt: %s",
					  key, repo->display, rvx_object_reader_error(st.reader));
		else if (err)
			*err = gerr;
		goto out;
	}
	if (rvx_object_reader_finish(st.reader) != 0)
	{
		rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is corrupt: %s",
				  key, repo->display, rvx_object_reader_error(st.reader));
		goto out;
	}
	if (!st.checked_cluster && expect_system_id != 0 &&
		rvx_object_reader_header(st.reader)->system_id != expect_system_id)
	{
		rvx_error(err, RVX_E_CLUSTER,
				  "object \"%s\" in %s was written by cluster %" PRIu64 ", expected %" PRIu64,
				  key, repo->display, rvx_object_reader_header(st.reader)->system_id,
				  expect_system_id);
		goto out;
	}
	if (fsync(st.fd) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not fsync \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	if (close(st.fd) != 0)
	{
		st.fd = -1;
		rvx_error(err, RVX_E_IO, "could not close \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	st.fd = -1;
	if (rename(tmp, dest) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not rename \"%s\" to \"%s\": %s",
				  tmp, dest, strerror(errno));
		goto out;
	}
	rc = 0;

out:
	if (st.fd >= 0)
		close(st.fd);
	if (rc != 0)
		unlink(tmp);
	rvx_object_reader_free(st.reader);
	return rc;
}
