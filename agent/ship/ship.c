/*-------------------------------------------------------------------------
 *
 * ship.c
 *	  Shipping one spooled WAL object (see ship.h and common/spool.h).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file_utils.h"
#include "base/log.h"
#include "info/fetch.h"
#include "info/store.h"
#include "info/wal_partial.h"
#include "ship/ship.h"
#include "spool.h"
#include "walname.h"

void
rvx_ship_record_error(const char *spool_dir, const char *name, const RvxError *error)
{
	char		path[PATH_MAX];
	char		text[RVX_SPOOL_NOTE_MAX];
	RvxError	werr;

	snprintf(path, sizeof(path), "%s/%s/%s%s", spool_dir, RVX_SPOOL_WAL_DIR, name,
			 RVX_SPOOL_ERROR_SUFFIX);
	rvx_spool_error_format(text, sizeof(text), !rvx_error_transient(error),
						   (long long) time(NULL), error->msg);
	if (rvx_write_file_durable(path, text, strlen(text), false, &werr) != 0)
		rvx_warn("could not record error for \"%s\": %s", name, werr.msg);
}

int
rvx_spool_object_open(const char *path, const RvxClusterInfo *cluster, int *fdp,
					  RvxObjectHeader *hdr, uint64_t *size, RvxError *err)
{
	uint8_t		hbytes[RVX_OBJECT_HEADER_LEN];
	const char *why;
	struct stat st;
	int			fd;

	*fdp = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return rvx_error(err, RVX_E_NOTFOUND, "spool file \"%s\" disappeared", path);
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0 || pread(fd, hbytes, sizeof(hbytes), 0) != (ssize_t) sizeof(hbytes))
	{
		close(fd);
		return rvx_error(err, RVX_E_CORRUPT, "spool file \"%s\" is too short to be a revrx object", path);
	}
	if (rvx_object_header_decode(hbytes, hdr, &why) != 0)
	{
		close(fd);
		return rvx_error(err, RVX_E_CORRUPT, "spool file \"%s\" is not a valid object: %s", path, why);
	}
	if ((uint64_t) st.st_size != RVX_OBJECT_HEADER_LEN + hdr->payload_size)
	{
		close(fd);
		return rvx_error(err, RVX_E_CORRUPT,
						 "spool file \"%s\" has %lld bytes, its header says %" PRIu64,
						 path, (long long) st.st_size, RVX_OBJECT_HEADER_LEN + hdr->payload_size);
	}
	if (hdr->system_id != cluster->system_id)
	{
		close(fd);
		return rvx_error(err, RVX_E_CLUSTER,
						 "spool file \"%s\" was written by cluster %" PRIu64
						 ", but the spool belongs to cluster %" PRIu64,
						 path, hdr->system_id, cluster->system_id);
	}
	*fdp = fd;
	*size = (uint64_t) st.st_size;
	return 0;
}

/*
 * Ships a streamed partial (wal_partial.h): no NAME.ok (nobody waits for
 * one: the exporter does not ask), and nothing stored when the complete
 * segment already is: as the caller knows (flags, ship.h), acknowledged
 * in the spool (the exporter removes such partials from the spool too, if
 * it sees them first), or, unless the caller says it does not know, in
 * the repository under the compression of the partial (a codec change in
 * between leaves, at worst, a partial beside its complete segment, which
 * readers never use and expire removes).  A
 * complete segment still waiting in the spool does not stop it: it is
 * 16 MB to upload, and the partial, often the segment's last few bytes,
 * lets the recovery point pass the segment before it is stored.  A
 * partial's name says which WAL it holds (segment, generation, range), so
 * whatever is under its key is that WAL: it is stored without asking
 * first, and then confirmed like every object.  Once it is, the spooled
 * file goes; and when it starts at the segment's start, the stored
 * partials it supersedes.
 */
static int
ship_partial(RvxRepo *repo, const char *waldir, const char *path, const char *name,
			 int fd, uint64_t size, const RvxObjectHeader *hdr, uint64_t segsize, int flags,
			 RvxStoreResult *res, RvxError *err)
{
	RvxStreamedName r;
	char		key[256];
	char		spooled[PATH_MAX];
	RvxObjectInfo info;
	int			removed;
	RvxError	rerr;
	int			rc = 0;

	if (rvx_walname_streamed_parse(name, &r) != 0)
		return rvx_error(err, RVX_E_INTERNAL, "\"%s\" is not a partial", name);
	if (segsize != 0 && r.end > segsize)
		return rvx_error(err, RVX_E_CORRUPT,
						 "spool file \"%s\" claims WAL up to offset %u, past the end of a segment",
						 path, (unsigned int) r.end);
	/* a range's content is its identity (walname.h), then its WAL */
	if (hdr->raw_size != (uint64_t) (r.end - r.start) + (r.has_range_header ? RVX_RANGE_HEADER_LEN : 0))
		return rvx_error(err, RVX_E_CORRUPT,
						 "spool file \"%s\" holds %" PRIu64 " bytes, its name says %u of WAL%s",
						 path, hdr->raw_size, (unsigned int) (r.end - r.start),
						 r.has_range_header ? " after its range's identity" : "");

	snprintf(spooled, sizeof(spooled), "%s/%s%s", waldir, r.segment, RVX_SPOOL_OK_SUFFIX);
	if ((flags & RVX_SHIP_SEGMENT_STORED) || access(spooled, F_OK) == 0)
		rc = 1;
	else if (flags & RVX_SHIP_SEGMENT_NOT_KNOWN)
		rc = 0;
	else if (rvx_wal_object_key(r.segment, (RvxCompression) hdr->compression, key, sizeof(key)) != 0)
		return rvx_error(err, RVX_E_INTERNAL, "no repository key for \"%s\"", r.segment);
	else if ((rc = rvx_repo_head(repo, key, &info, err)) < 0)
		return -1;
	if (rc == 1)
	{
		/* superseded by the complete segment: nothing to add */
		res->already_stored = true;
		rvx_debug("\"%s\" is stored complete; dropping partial \"%s\"", r.segment, name);
	}
	else
	{
		if (rvx_wal_object_key(name, (RvxCompression) hdr->compression, key, sizeof(key)) != 0)
			return rvx_error(err, RVX_E_INTERNAL, "no repository key for \"%s\"", name);
		if (rvx_store_object_flags(repo, key, fd, size, hdr, waldir, RVX_STORE_SAME_NAME_SAME_DATA,
								   res, err) != 0)
			return -1;
	}

	/* the exporter may have removed it already, superseded */
	if (unlink(path) != 0 && errno != ENOENT)
		return rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
	if (rc == 0 && r.start == 0 &&
		rvx_partial_remove_superseded(repo, r.segment, &r, &removed, &rerr) != 0)
		rvx_warn("could not remove the partials of \"%s\" that \"%s\" supersedes: %s",
				 r.segment, name, rerr.msg);
	return 0;
}

int
rvx_ship_wal(RvxRepo *repo, const char *spool_dir, const char *name,
			 const RvxClusterInfo *cluster, RvxStoreResult *res, RvxError *err)
{
	return rvx_ship_wal_flags(repo, spool_dir, name, cluster, 0, res, err);
}

int
rvx_ship_wal_flags(RvxRepo *repo, const char *spool_dir, const char *name,
				   const RvxClusterInfo *cluster, int flags, RvxStoreResult *res, RvxError *err)
{
	char		path[PATH_MAX];
	char		okpath[PATH_MAX];
	char		errpath[PATH_MAX];
	char		waldir[PATH_MAX];
	char		key[256];
	char		note[RVX_SPOOL_NOTE_MAX];
	RvxObjectHeader hdr;
	uint64_t	size;
	int			fd;
	int			rc;

	memset(res, 0, sizeof(*res));
	snprintf(waldir, sizeof(waldir), "%s/%s", spool_dir, RVX_SPOOL_WAL_DIR);
	snprintf(path, sizeof(path), "%s/%s%s", waldir, name, RVX_SPOOL_READY_SUFFIX);
	snprintf(okpath, sizeof(okpath), "%s/%s%s", waldir, name, RVX_SPOOL_OK_SUFFIX);
	snprintf(errpath, sizeof(errpath), "%s/%s%s", waldir, name, RVX_SPOOL_ERROR_SUFFIX);

	if (rvx_walname_kind(name) == RVX_WAL_INVALID)
		return rvx_error(err, RVX_E_CORRUPT, "spool file \"%s\" is not named after a WAL file", path);
	if (rvx_spool_object_open(path, cluster, &fd, &hdr, &size, err) != 0)
		return -1;

	if (rvx_walname_kind(name) == RVX_WAL_STREAMED)
	{
		rc = ship_partial(repo, waldir, path, name, fd, size, &hdr,
						  cluster->wal_segment_size, flags, res, err);
		/* no fsync of the directory: a removal an OS crash undoes only ships it again */
		if (rc == 0)
			(void) unlink(errpath);
		goto out;
	}

	/* the key may carry another suffix; the .ok names the one we checked */
	rc = rvx_store_check_existing(repo, name, &hdr, key, sizeof(key), err);
	if (rc < 0)
		goto out;
	if (rc == 1)
	{
		res->already_stored = true;
		rvx_info("\"%s\" is already in %s with the same content", name, repo->display);
	}
	else if (rvx_wal_object_key(name, (RvxCompression) hdr.compression, key, sizeof(key)) != 0)
	{
		rc = rvx_error(err, RVX_E_INTERNAL, "no repository key for \"%s\"", name);
		goto out;
	}
	else if (rvx_store_object(repo, key, fd, size, &hdr, waldir, res, err) != 0)
	{
		rc = -1;
		goto out;
	}

	/* acknowledge durably, and only then let go of the spooled copy */
	if (rvx_spool_ok_format(note, sizeof(note), hdr.sha256, key) != 0 ||
		rvx_write_file_durable(okpath, note, strlen(note), true, err) != 0)
	{
		rc = -1;
		goto out;
	}
	if (unlink(path) != 0 && errno != ENOENT)
	{
		rc = rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
		goto out;
	}
	(void) unlink(errpath);
	rc = rvx_fsync_dir(waldir, err);

	/* the complete segment is confirmed: its partials are superseded */
	if (rc == 0 && rvx_walname_kind(name) == RVX_WAL_SEGMENT)
	{
		RvxError	rerr;
		int			removed;

		if (rvx_partial_remove_superseded(repo, name, NULL, &removed, &rerr) != 0)
			rvx_warn("could not remove the partials of \"%s\": %s", name, rerr.msg);
		else if (removed > 0)
			rvx_debug("removed %d partial(s) of \"%s\"", removed, name);
	}

out:
	close(fd);
	return rc;
}

