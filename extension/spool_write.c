/*-------------------------------------------------------------------------
 *
 * spool_write.c
 *	  Writing into the spool: the object writer cache, objects written
 *	  durably and atomically, small files replaced durably, and the claim
 *	  that the spool is this cluster's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/xlog.h"
#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"

#include "compress.h"
#include "fileutil.h"
#include "object.h"
#include "settings.h"
#include "sha256.h"
#include "spool.h"
#include "spool_read.h"
#include "spool_write.h"

/* ------------------------------------------------------ shared helpers */

RvxObjectWriter *
revrx_object_writer(RevrxWriterCache *cache, int workers, int elevel)
{
	RvxCompression alg = (RvxCompression) revrx_compression;
	int			level = revrx_compression_level;

	if (cache->fastest)
		level = alg == RVX_COMPRESS_NONE ? 0 : 1;	/* zstd 1, gzip 1, lz4 fast mode */
	else if (level == 0 || alg == RVX_COMPRESS_NONE)
		level = rvx_compression_default_level(alg);
	else if (!rvx_compression_level_valid(alg, level))
	{
		if (cache->warned_alg != (int) alg || cache->warned_level != level)
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("revrx.compression_level %d is not valid for %s, using its default level %d",
							level, rvx_compression_name(alg),
							rvx_compression_default_level(alg))));
			cache->warned_alg = (int) alg;
			cache->warned_level = level;
		}
		level = rvx_compression_default_level(alg);
	}

	if (cache->writer != NULL && (cache->alg != (int) alg || cache->level != level))
	{
		rvx_object_writer_free(cache->writer);
		cache->writer = NULL;
	}
	if (cache->writer == NULL)
	{
		cache->writer = rvx_object_writer_new(alg, level);
		if (cache->writer == NULL)
		{
			ereport(elevel,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not create a %s compression context.",
							   rvx_compression_name(alg))));
			return NULL;
		}
		rvx_object_writer_set_workers(cache->writer, workers);
		cache->alg = (int) alg;
		cache->level = level;
	}
	return cache->writer;
}

/* Sink of the object writer: appends to the temporary file. */
typedef struct SpoolSink
{
	int			fd;
	int			save_errno;		/* why the last write failed */
} SpoolSink;

static int
spool_sink_write(void *arg, const void *data, size_t len)
{
	SpoolSink  *sink = (SpoolSink *) arg;
	int			err = revrx_write_all(sink->fd, data, len);

	if (err != 0)
	{
		sink->save_errno = err;
		return -1;
	}
	return 0;
}

/*
 * revrx_spool_write_object
 *
 * See spool_write.h.  Header placeholder, then the payload streamed through the
 * object writer, then the real header at offset 0, then durable_rename()
 * from the temporary name.  With elevel ERROR any failure throws; below,
 * failures are reported at that level, cleaned up, and false is returned.
 */
bool
revrx_spool_write_object(const RevrxSpoolWrite *sw, RvxObjectHeader *hdr)
{
	uint8		hdrbuf[RVX_OBJECT_HEADER_LEN];
	SpoolSink	sink;
	uint64		left = sw->limit;

	sink.fd = OpenTransientFilePerm(sw->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
									pg_file_create_mode);
	sink.save_errno = 0;
	if (sink.fd < 0)
	{
		ereport(sw->elevel,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", sw->tmp_path)));
		return false;
	}

	/* Room for the header, which is known only at the end. */
	memset(hdrbuf, 0, sizeof(hdrbuf));
	if (spool_sink_write(&sink, hdrbuf, sizeof(hdrbuf)) != 0 ||
		rvx_object_writer_begin(sw->writer, GetSystemIdentifier(),
								spool_sink_write, &sink) != 0 ||
		(sw->prefix_len > 0 &&
		 rvx_object_writer_write(sw->writer, sw->prefix, sw->prefix_len) != 0))
		goto write_failed;

	for (;;)
	{
		size_t		want = sw->bufsize;
		ssize_t		n;

		if (sw->limit > 0)
		{
			if (left == 0)
				break;
			want = Min(want, left);
		}
		n = read(sw->src, sw->buf, want);
		if (n < 0)
		{
			ereport(sw->elevel,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", sw->src_path)));
			goto fail;
		}
		if (n == 0)
		{
			if (sw->limit > 0)
			{
				ereport(sw->elevel,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("file \"%s\" is shorter than %llu bytes",
								sw->src_path, (unsigned long long) sw->limit)));
				goto fail;
			}
			break;
		}
		if (rvx_object_writer_write(sw->writer, sw->buf, n) != 0)
			goto write_failed;
		left -= Min(left, (uint64) n);
	}
	if (rvx_object_writer_finish(sw->writer, hdr) != 0)
		goto write_failed;

	if (sw->expected_sha != NULL &&
		memcmp(hdr->sha256, sw->expected_sha, RVX_SHA256_LEN) != 0)
	{
		ereport(sw->elevel,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("file \"%s\" changed while revrx was archiving it", sw->src_path)));
		goto fail;
	}
	if (sw->still_valid != NULL && !sw->still_valid(sw->arg))
		goto fail;				/* the caller reported why */

	rvx_object_header_encode(hdr, hdrbuf);
	errno = 0;
	if (pg_pwrite(sink.fd, hdrbuf, sizeof(hdrbuf), 0) != sizeof(hdrbuf))
	{
		sink.save_errno = errno ? errno : ENOSPC;
		goto write_failed;
	}
	if (sw->mtime != 0)
	{
		/* TimestampTz counts from 2000-01-01, the file system from 1970 */
		int64		usecs = sw->mtime +
			(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
		struct timespec times[2];

		times[0].tv_sec = times[1].tv_sec = (time_t) (usecs / USECS_PER_SEC);
		times[0].tv_nsec = times[1].tv_nsec = (long) (usecs % USECS_PER_SEC) * 1000;
		if (futimens(sink.fd, times) != 0)
		{
			ereport(sw->elevel,
					(errcode_for_file_access(),
					 errmsg("could not set the times of file \"%s\": %m", sw->tmp_path)));
			goto fail;
		}
	}
	if (CloseTransientFile(sink.fd) != 0)
	{
		sink.fd = -1;
		ereport(sw->elevel,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", sw->tmp_path)));
		goto fail;
	}
	sink.fd = -1;

	/* fsyncs the file, renames it, fsyncs the directory */
	if (!sw->rename_not_durable)
	{
		if (durable_rename(sw->tmp_path, sw->final_path, sw->elevel) != 0)
			goto fail;
		return true;
	}
	if (fsync_fname_ext(sw->tmp_path, false, false, sw->elevel) != 0)
		goto fail;
	if (rename(sw->tmp_path, sw->final_path) != 0)
	{
		ereport(sw->elevel,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m",
						sw->tmp_path, sw->final_path)));
		goto fail;
	}
	return true;

write_failed:
	if (sink.save_errno != 0)
	{
		errno = sink.save_errno;
		ereport(sw->elevel,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", sw->tmp_path)));
	}
	else
		ereport(sw->elevel,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compress file \"%s\": %s",
						sw->src_path, rvx_object_writer_error(sw->writer))));

fail:
	/* Only reached below ERROR; with ERROR the boundary cleans up. */
	if (sink.fd >= 0)
		CloseTransientFile(sink.fd);
	if (unlink(sw->tmp_path) != 0 && errno != ENOENT)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", sw->tmp_path)));
	return false;
}

void
revrx_write_file_durably(const char *path, const void *data, size_t len)
{
	char		tmp[MAXPGPATH];
	int			fd;

	snprintf(tmp, MAXPGPATH, "%s%s", path, RVX_SPOOL_TMP_SUFFIX);
	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
							   pg_file_create_mode);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));

	errno = 0;
	if (write(fd, data, len) != (ssize_t) len)
	{
		/* if write didn't set errno, assume problem is no disk space */
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", tmp)));

	/* fsyncs the file, renames it and fsyncs the directory */
	(void) durable_rename(tmp, path, ERROR);
}

void
revrx_spool_claim(void)
{
	char		path[MAXPGPATH];
	char		sysid[32];
	char	   *expected;
	char	   *text;
	size_t		len;

	snprintf(path, MAXPGPATH, "%s/%s", revrx_spool_dir, RVX_SPOOL_CLUSTER_FILE);
	snprintf(sysid, sizeof(sysid), UINT64_FORMAT, GetSystemIdentifier());
	expected = psprintf("{\"system_identifier\": \"%s\", \"pg_version_num\": %d, \"wal_segment_size\": %d}\n",
						sysid, PG_VERSION_NUM, wal_segment_size);

	text = revrx_read_small_file(path, REVRX_STATUS_FILE_MAX, &len);
	if (text == NULL && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));

	if (text != NULL && strcmp(text, expected) != 0)
	{
		static const char *const keys[] = {"system_identifier"};
		char	   *values[1];

		if (revrx_json_read_flat(text, len, keys, 1, values) &&
			values[0] != NULL && strcmp(values[0], sysid) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("revrx spool \"%s\" belongs to another cluster",
							revrx_spool_dir),
					 errdetail("Its %s names database system identifier %s; this cluster's is %s.",
							   RVX_SPOOL_CLUSTER_FILE, values[0], sysid),
					 errhint("Give each cluster a spool of its own.  If that cluster no longer exists and nothing in the spool is needed any more, remove \"%s\".",
							 path)));

		/* Ours, from another server version, or unreadable: rewrite it. */
		text = NULL;
	}

	if (text == NULL)
		revrx_write_file_durably(path, expected, strlen(expected));
	pfree(expected);
}
