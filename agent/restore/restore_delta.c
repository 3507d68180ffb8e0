/*-------------------------------------------------------------------------
 *
 * restore_delta.c
 *	  Rebuilding incremental backups' files in one pass (restore_delta.h).
 *
 * The deltas stay in their temporary files: one of a large, busy relation
 * segment can hold most of its gigabyte.  What is kept in memory is, per
 * block of the rebuilt file, which delta holds its newest version (4 bytes
 * a block: 512 kB for a 1 GB segment).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delta.h"
#include "restore/restore_delta.h"

#define MAX_DELTAS		64		/* restore.c's longest chain */
#define INDEX_CHUNK		4096	/* block numbers read at a time */

typedef struct Delta
{
	char	   *path;
	int			fd;
	uint32_t	nblocks;
} Delta;

struct RvxDeltaMerge
{
	Delta		deltas[MAX_DELTAS];
	int			ndeltas;
	uint32_t	block_size;
	uint64_t	file_size;		/* the newest delta's */
	/* per block: 1 + the delta holding it, and the page's index in it; 0 = the whole copy's */
	uint16_t   *which;
	uint32_t   *page;
	uint64_t	nmap;
	RvxSha256  *sha;
	RvxHashAside *aside;		/* if set, hashes instead of sha */
	bool		aside_begun;	/* at the first byte of the rebuilt file */
	uint64_t	hashed;			/* bytes of the rebuilt file hashed so far */
	uint8_t    *buf;			/* the filter's output */
	size_t		bufcap;
	RvxError	error;			/* of the filter */
	bool		failed;
};

static int
read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = pread(fd, (char *) buf + done, len - done, (off_t) (off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t) n;
	}
	return 0;
}

RvxDeltaMerge *
rvx_delta_merge_new(RvxHashAside *aside)
{
	RvxDeltaMerge *m = calloc(1, sizeof(RvxDeltaMerge));

	if (m == NULL)
		return NULL;
	/* an aside is begun only when the rebuilt file's first bytes come: the deltas are fetched first */
	m->aside = aside;
	if (aside == NULL && (m->sha = rvx_sha256_new()) == NULL)
	{
		free(m);
		return NULL;
	}
	return m;
}

int
rvx_delta_merge_add(RvxDeltaMerge *m, const char *delta_path, const char *what, RvxError *err)
{
	uint8_t		trailer[RVX_DELTA_TRAILER_LEN];
	uint8_t		index[INDEX_CHUNK * 4];
	RvxDeltaTrailer t;
	struct stat st;
	Delta	   *d;
	uint64_t	nmap;
	uint32_t	prev = 0;

	if (m->ndeltas == MAX_DELTAS)
		return rvx_error(err, RVX_E_CORRUPT, "%s: too many deltas", what);
	d = &m->deltas[m->ndeltas];
	d->fd = open(delta_path, O_RDONLY | O_CLOEXEC);
	if (d->fd < 0)
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", delta_path, strerror(errno));
	d->path = strdup(delta_path);
	m->ndeltas++;
	if (d->path == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	if (fstat(d->fd, &st) != 0 || st.st_size < RVX_DELTA_TRAILER_LEN ||
		read_at(d->fd, trailer, sizeof(trailer), (uint64_t) st.st_size - RVX_DELTA_TRAILER_LEN) != 0 ||
		rvx_delta_trailer_decode(trailer, (uint64_t) st.st_size, &t) != 0)
		return rvx_error(err, RVX_E_CORRUPT, "the delta of %s is not a page delta", what);
	if (t.file_size % t.block_size != 0 || t.file_size / t.block_size > UINT32_MAX ||
		(m->block_size != 0 && t.block_size != m->block_size))
		return rvx_error(err, RVX_E_CORRUPT, "the delta of %s gives an impossible file or page size",
						 what);
	m->block_size = t.block_size;
	m->file_size = t.file_size;
	d->nblocks = t.nblocks;

	/* the map grows to the largest size any delta of the chain had */
	nmap = t.file_size / t.block_size;
	if (nmap > m->nmap)
	{
		uint16_t   *w = realloc(m->which, nmap * sizeof(uint16_t));
		uint32_t   *p = w ? realloc(m->page, nmap * sizeof(uint32_t)) : NULL;

		if (w)
			m->which = w;
		if (p == NULL)
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		m->page = p;
		memset(m->which + m->nmap, 0, (nmap - m->nmap) * sizeof(uint16_t));
		m->nmap = nmap;
	}

	for (uint32_t first = 0; first < t.nblocks; first += INDEX_CHUNK)
	{
		uint32_t	n = t.nblocks - first < INDEX_CHUNK ? t.nblocks - first : INDEX_CHUNK;

		if (read_at(d->fd, index, (size_t) n * 4,
					(uint64_t) t.nblocks * t.block_size + (uint64_t) first * 4) != 0)
			return rvx_error(err, RVX_E_IO, "could not read \"%s\"", delta_path);
		for (uint32_t i = 0; i < n; i++)
		{
			uint32_t	blkno = rvx_delta_get_be32(index + 4 * i);

			if ((uint64_t) blkno >= nmap || (first + i > 0 && blkno <= prev))
				return rvx_error(err, RVX_E_CORRUPT, "the delta of %s lists block %u out of place",
								 what, blkno);
			prev = blkno;
			m->which[blkno] = (uint16_t) m->ndeltas;
			m->page[blkno] = first + i;
		}
	}
	return 0;
}

/* Fills out[0..len) with the rebuilt file's bytes at offset, from the deltas where they have them. */
static int
overlay(RvxDeltaMerge *m, uint64_t offset, uint8_t *out, size_t len)
{
	uint64_t	bs = m->block_size;

	for (uint64_t pos = offset; pos < offset + len;)
	{
		uint64_t	blk = pos / bs;
		uint64_t	in = pos % bs;
		uint64_t	n = bs - in;

		if (n > offset + len - pos)
			n = offset + len - pos;
		if (blk < m->nmap && m->which[blk] != 0)
		{
			const Delta *d = &m->deltas[m->which[blk] - 1];

			if (read_at(d->fd, out + (pos - offset), (size_t) n,
						(uint64_t) m->page[blk] * bs + in) != 0)
			{
				m->failed = true;
				rvx_error(&m->error, RVX_E_IO, "could not read \"%s\"", d->path);
				return -1;
			}
		}
		pos += n;
	}
	return 0;
}

/* Starts the aside's digest, once; -1 (with m->error) if it cannot be. */
static int
aside_start(RvxDeltaMerge *m)
{
	if (m->aside == NULL || m->aside_begun)
		return 0;
	if (rvx_hash_aside_begin(m->aside) != 0)
	{
		m->failed = true;
		rvx_error(&m->error, RVX_E_INTERNAL, "could not start SHA-256");
		return -1;
	}
	m->aside_begun = true;
	return 0;
}

static int
hash_upto(RvxDeltaMerge *m, uint64_t offset, const uint8_t *data, size_t len)
{
	/* only the rebuilt file's bytes: a whole copy longer than it is cut later */
	if (offset >= m->file_size)
		return 0;
	if (offset + len > m->file_size)
		len = (size_t) (m->file_size - offset);
	if (aside_start(m) != 0)
		return -1;
	if (m->aside ? rvx_hash_aside_update(m->aside, data, len) != 0 :
		rvx_sha256_update(m->sha, data, len) != 0)
	{
		m->failed = true;
		rvx_error(&m->error, RVX_E_INTERNAL, "could not compute SHA-256");
		return -1;
	}
	m->hashed = offset + len;
	return 0;
}

int
rvx_delta_merge_filter(void *arg, uint64_t offset, const void *data, size_t len,
					   const void **out)
{
	RvxDeltaMerge *m = arg;

	if (len > m->bufcap)
	{
		uint8_t    *b = realloc(m->buf, len);

		if (b == NULL)
		{
			m->failed = true;
			rvx_error(&m->error, RVX_E_INTERNAL, "out of memory");
			return -1;
		}
		m->buf = b;
		m->bufcap = len;
	}
	memcpy(m->buf, data, len);
	if (overlay(m, offset, m->buf, len) != 0 || hash_upto(m, offset, m->buf, len) != 0)
		return -1;
	*out = m->buf;
	return 0;
}

int
rvx_delta_merge_finish(RvxDeltaMerge *m, const char *dest, uint64_t base_size,
					   uint8_t out[RVX_SHA256_LEN], uint64_t *size, RvxError *err)
{
	int			fd;
	uint8_t    *page = NULL;
	int			rc = -1;

	if (m->failed)
	{
		if (err)
			*err = m->error;
		return -1;
	}
	fd = open(dest, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", dest, strerror(errno));
	if (ftruncate(fd, (off_t) m->file_size) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not resize \"%s\": %s", dest, strerror(errno));
		goto out;
	}
	/* pages past the whole copy's end: from the deltas (zeros if none has them) */
	if (m->file_size > base_size)
	{
		page = calloc(1, m->block_size);
		if (page == NULL)
		{
			rvx_error(err, RVX_E_INTERNAL, "out of memory");
			goto out;
		}
		for (uint64_t pos = base_size; pos < m->file_size;)
		{
			size_t		n = (size_t) (m->block_size - pos % m->block_size);

			memset(page, 0, m->block_size);
			if (overlay(m, pos, page, n) != 0 || hash_upto(m, pos, page, n) != 0)
			{
				*err = m->error;
				goto out;
			}
			if (pwrite(fd, page, n, (off_t) pos) != (ssize_t) n)
			{
				rvx_error(err, RVX_E_IO, "could not write \"%s\": %s", dest, strerror(errno));
				goto out;
			}
			pos += n;
		}
	}
	if (m->hashed != m->file_size)
	{
		rvx_error(err, RVX_E_INTERNAL, "rebuilding \"%s\": %llu of %llu bytes seen", dest,
				  (unsigned long long) m->hashed, (unsigned long long) m->file_size);
		goto out;
	}
	if (fsync(fd) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not fsync \"%s\": %s", dest, strerror(errno));
		goto out;
	}
	if (aside_start(m) != 0)	/* an empty file: nothing was hashed */
	{
		*err = m->error;
		goto out;
	}
	if (m->aside ? rvx_hash_aside_final(m->aside, out) != 0 : rvx_sha256_final(m->sha, out) != 0)
	{
		rvx_error(err, RVX_E_INTERNAL, "could not compute SHA-256");
		goto out;
	}
	*size = m->file_size;
	rc = 0;
out:
	free(page);
	if (close(fd) != 0 && rc == 0)
		rc = rvx_error(err, RVX_E_IO, "could not close \"%s\": %s", dest, strerror(errno));
	return rc;
}

void
rvx_delta_merge_free(RvxDeltaMerge *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->ndeltas; i++)
	{
		if (m->deltas[i].fd >= 0)
			close(m->deltas[i].fd);
		if (m->deltas[i].path)
		{
			unlink(m->deltas[i].path);
			free(m->deltas[i].path);
		}
	}
	free(m->which);
	free(m->page);
	free(m->buf);
	rvx_sha256_free(m->sha);
	free(m);
}
