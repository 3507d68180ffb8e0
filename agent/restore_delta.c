/*-------------------------------------------------------------------------
 *
 * restore_delta.c
 *	  Applying incremental backups' page deltas (see restore_delta.h).
 *
 * A delta is read back from a file rather than kept in memory: one of a
 * large, busy relation segment can hold most of its gigabyte.  Pages are
 * written in place with pwrite(), in the order of the index (ascending),
 * and the result is only trusted once restore.c has compared its SHA-256
 * with the one the incremental backup recorded for the whole file.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delta.h"
#include "restore_delta.h"

#define INDEX_CHUNK		4096	/* block numbers read at a time */

static int
read_at(int fd, void *buf, size_t len, off_t off)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = pread(fd, (char *) buf + done, len - done, off + (off_t) done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t) n;
	}
	return 0;
}

static int
write_at(int fd, const void *buf, size_t len, off_t off)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = pwrite(fd, (const char *) buf + done, len - done, off + (off_t) done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t) n;
	}
	return 0;
}

int
rvx_delta_apply(const char *delta_path, const char *target, const char *what, RvxError *err)
{
	uint8_t		trailer[RVX_DELTA_TRAILER_LEN];
	uint8_t		index[INDEX_CHUNK * 4];
	RvxDeltaTrailer t;
	struct stat st;
	char	   *page = NULL;
	int			dfd,
				tfd = -1;
	int			rc = -1;
	uint32_t	prev = 0;

	dfd = open(delta_path, O_RDONLY | O_CLOEXEC);
	if (dfd < 0)
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", delta_path, strerror(errno));
	if (fstat(dfd, &st) != 0 || st.st_size < RVX_DELTA_TRAILER_LEN ||
		read_at(dfd, trailer, sizeof(trailer), st.st_size - RVX_DELTA_TRAILER_LEN) != 0 ||
		rvx_delta_trailer_decode(trailer, (uint64_t) st.st_size, &t) != 0)
	{
		rvx_error(err, RVX_E_CORRUPT, "the delta of %s is not a page delta", what);
		goto out;
	}
	if (t.file_size % t.block_size != 0 || t.file_size / t.block_size > UINT32_MAX)
	{
		rvx_error(err, RVX_E_CORRUPT, "the delta of %s gives an impossible file size", what);
		goto out;
	}
	tfd = open(target, O_WRONLY | O_CLOEXEC);
	if (tfd < 0)
	{
		rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", target, strerror(errno));
		goto out;
	}
	/* the file as this backup saw it: shorter or longer than the parent's */
	if (ftruncate(tfd, (off_t) t.file_size) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not resize \"%s\": %s", target, strerror(errno));
		goto out;
	}
	page = malloc(t.block_size);
	if (page == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t first = 0; first < t.nblocks; first += INDEX_CHUNK)
	{
		uint32_t	n = t.nblocks - first < INDEX_CHUNK ? t.nblocks - first : INDEX_CHUNK;
		off_t		index_off = (off_t) t.nblocks * t.block_size + (off_t) first * 4;

		if (read_at(dfd, index, (size_t) n * 4, index_off) != 0)
		{
			rvx_error(err, RVX_E_IO, "could not read \"%s\"", delta_path);
			goto out;
		}
		for (uint32_t i = 0; i < n; i++)
		{
			uint32_t	blkno = rvx_delta_get_be32(index + 4 * i);

			if ((uint64_t) blkno * t.block_size >= t.file_size || (first + i > 0 && blkno <= prev))
			{
				rvx_error(err, RVX_E_CORRUPT, "the delta of %s lists block %u out of place",
						  what, blkno);
				goto out;
			}
			prev = blkno;
			if (read_at(dfd, page, t.block_size, (off_t) (first + i) * t.block_size) != 0 ||
				write_at(tfd, page, t.block_size, (off_t) blkno * t.block_size) != 0)
			{
				rvx_error(err, RVX_E_IO, "could not apply the delta of %s to \"%s\": %s",
						  what, target, strerror(errno ? errno : EIO));
				goto out;
			}
		}
	}
	if (fsync(tfd) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not fsync \"%s\": %s", target, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(page);
	if (tfd >= 0 && close(tfd) != 0 && rc == 0)
		rc = rvx_error(err, RVX_E_IO, "could not close \"%s\": %s", target, strerror(errno));
	close(dfd);
	return rc;
}

int
rvx_file_sha256(const char *path, uint8_t out[RVX_SHA256_LEN], uint64_t *size, RvxError *err)
{
	RvxSha256  *sha = rvx_sha256_new();
	char	   *buf = malloc(1 << 20);
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	int			rc = -1;

	*size = 0;
	if (sha == NULL || buf == NULL)
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
	else if (fd < 0)
		rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
	else
	{
		for (;;)
		{
			ssize_t		n = read(fd, buf, 1 << 20);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
			{
				rvx_error(err, RVX_E_IO, "could not read \"%s\": %s", path, strerror(errno));
				break;
			}
			if (n == 0)
			{
				rc = rvx_sha256_final(sha, out) == 0 ? 0 :
					rvx_error(err, RVX_E_INTERNAL, "could not compute SHA-256");
				break;
			}
			*size += (uint64_t) n;
			if (rvx_sha256_update(sha, buf, (size_t) n) != 0)
			{
				rvx_error(err, RVX_E_INTERNAL, "could not compute SHA-256");
				break;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	rvx_sha256_free(sha);
	return rc;
}
