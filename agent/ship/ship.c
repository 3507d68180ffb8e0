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

#include "info/fetch.h"
#include "base/log.h"
#include "ship/ship.h"
#include "spool.h"
#include "walname.h"
#include "info/wal_partial.h"

int
rvx_fsync_dir(const char *dir, RvxError *err)
{
	int			fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return rvx_error(err, RVX_E_IO, "could not open directory \"%s\": %s",
						 dir, strerror(errno));
	if (fsync(fd) != 0)
	{
		int			save = errno;

		close(fd);
		return rvx_error(err, RVX_E_IO, "could not fsync directory \"%s\": %s",
						 dir, strerror(save));
	}
	close(fd);
	return 0;
}

int
rvx_write_file_durable(const char *path, const void *data, size_t len, bool sync,
					   RvxError *err)
{
	static int	counter;
	char		tmp[PATH_MAX];
	char		dir[PATH_MAX];
	char	   *slash;
	int			fd;

	/* unique per call: several threads may write the same file at once */
	snprintf(tmp, sizeof(tmp), "%s%s.%d.%d", path, RVX_SPOOL_TMP_SUFFIX, (int) getpid(),
			 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		return rvx_error(err, RVX_E_IO, "could not create \"%s\": %s", tmp, strerror(errno));
	if (write(fd, data, len) != (ssize_t) len)
	{
		int			save = errno ? errno : ENOSPC;

		close(fd);
		unlink(tmp);
		return rvx_error(err, RVX_E_IO, "could not write \"%s\": %s", tmp, strerror(save));
	}
	if (sync && fsync(fd) != 0)
	{
		int			save = errno;

		close(fd);
		unlink(tmp);
		return rvx_error(err, RVX_E_IO, "could not fsync \"%s\": %s", tmp, strerror(save));
	}
	close(fd);
	if (rename(tmp, path) != 0)
	{
		int			save = errno;

		unlink(tmp);
		return rvx_error(err, RVX_E_IO, "could not rename \"%s\" to \"%s\": %s",
						 tmp, path, strerror(save));
	}
	if (!sync)
		return 0;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return rvx_fsync_dir(dir, err);
}

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

/*
 * What the repository holds under a key, compared with a spooled object.
 *
 * A stored copy can be incomplete without anybody having overwritten
 * anything: a store that does not check Content-Length (some S3-compatible
 * servers) keeps what it received when the agent is killed mid-upload.  The
 * header of such a copy is intact and names our content, so comparing
 * headers alone would take it for a good copy and let the spooled original
 * go.  The length settles it: a copy whose header is ours but whose length
 * is not what that header says, or a copy shorter than a header whose
 * bytes are a prefix of ours, is a broken copy of this very content and is
 * replaced.  Anything else under the name is somebody else's data and is
 * never touched.
 */
typedef enum StoredState
{
	STORED_SAME,				/* a complete copy of our content */
	STORED_BROKEN,				/* an incomplete copy of our content */
} StoredState;

typedef struct PrefixBuf
{
	uint8_t		bytes[RVX_OBJECT_HEADER_LEN];
	size_t		len;
} PrefixBuf;

static int
prefix_sink(void *arg, const void *data, size_t len)
{
	PrefixBuf  *p = arg;

	if (len > sizeof(p->bytes) - p->len)
		len = sizeof(p->bytes) - p->len;
	memcpy(p->bytes + p->len, data, len);
	p->len += len;
	return 0;
}

/*
 * The header bytes the repository holds, or would hold, for a spooled
 * object with header ours: the same bytes when the repository is plain;
 * for an encrypted one the first 64 (everything up to the CRCs, which
 * depend on the random nonce) are known without encrypting, since they
 * only depend on the content and the key.  Returns how many bytes are
 * known.
 */
static size_t
stored_header_prefix(RvxRepo *repo, const RvxObjectHeader *ours,
					 uint8_t out[RVX_OBJECT_HEADER_LEN])
{
	RvxObjectHeader h = *ours;

	if (repo->key == NULL)
	{
		rvx_object_header_encode(&h, out);
		return RVX_OBJECT_HEADER_LEN;
	}
	h.encryption = RVX_ENCRYPT_AES256GCM;
	h.payload_size += RVX_GCM_OVERHEAD;
	h.payload_crc = 0;
	if (rvx_key_tag_digest(repo->key, ours->sha256, h.sha256) != 0)
		return 0;
	rvx_object_header_encode(&h, out);
	return 64;
}

/*
 * Classifies the object at key (stored_size bytes, from a HEAD) against the
 * spooled object with (plain) header ours.  Returns 0 and sets *state, or
 * -1 with RVX_E_CONFLICT when the key holds something else, including our
 * content stored plain in an encrypted repository or the reverse.
 */
static int
compare_stored(RvxRepo *repo, const char *key, uint64_t stored_size,
			   const RvxObjectHeader *ours, StoredState *state, RvxError *err)
{
	uint8_t		mine[RVX_OBJECT_HEADER_LEN];
	size_t		known = stored_header_prefix(repo, ours, mine);
	PrefixBuf	theirs_bytes = {{0}, 0};
	RvxObjectHeader theirs;
	const char *why;
	char		h2[RVX_SHA256_HEXLEN + 1];
	uint64_t	want = stored_size < RVX_OBJECT_HEADER_LEN ? stored_size : RVX_OBJECT_HEADER_LEN;

	if (want > 0 &&
		rvx_repo_get(repo, key, 0, want, prefix_sink, &theirs_bytes, err) != 0)
		return -1;

	if (theirs_bytes.len < RVX_OBJECT_HEADER_LEN)
	{
		size_t		cmp = theirs_bytes.len < known ? theirs_bytes.len : known;

		if (theirs_bytes.len == stored_size && known > 0 &&
			memcmp(theirs_bytes.bytes, mine, cmp) == 0)
		{
			*state = STORED_BROKEN;
			return 0;
		}
		return rvx_error(err, RVX_E_CONFLICT,
						 "repository %s holds a %" PRIu64 "-byte object under \"%s\" that is "
						 "not a revrx object; refusing to overwrite it",
						 repo->display, stored_size, key);
	}
	if (rvx_object_header_decode(theirs_bytes.bytes, &theirs, &why) != 0)
		return rvx_error(err, RVX_E_CONFLICT,
						 "repository %s holds an object under \"%s\" that is not a valid "
						 "revrx object (%s); refusing to overwrite it", repo->display, key, why);
	if ((theirs.encryption != RVX_ENCRYPT_NONE) != (repo->key != NULL))
		return rvx_error(err, RVX_E_CONFLICT,
						 "repository %s holds \"%s\" %s, but the repository is %s; "
						 "refusing to overwrite it", repo->display, key,
						 theirs.encryption ? "encrypted" : "unencrypted",
						 repo->key ? "encrypted" : "not encrypted");
	if (theirs.system_id != ours->system_id || theirs.raw_size != ours->raw_size ||
		!rvx_object_digest_matches(&theirs, repo->key, ours->sha256))
	{
		rvx_hex_encode(ours->sha256, RVX_SHA256_LEN, h2);
		return rvx_error(err, RVX_E_CONFLICT,
						 "repository %s already holds different content under \"%s\" "
						 "(this one has SHA-256 %s); refusing to overwrite it",
						 repo->display, key, h2);
	}
	*state = stored_size == RVX_OBJECT_HEADER_LEN + theirs.payload_size ?
		STORED_SAME : STORED_BROKEN;
	return 0;
}

/*
 * Is the repository already holding a complete copy of NAME?  1 = yes, with
 * the same content (*key names it); 0 = no complete copy under any suffix;
 * -1 = error, including RVX_E_CONFLICT when it holds different content.
 */
static int
check_existing(RvxRepo *repo, const char *name, const RvxObjectHeader *ours,
			   char *key, size_t keycap, RvxError *err)
{
	RvxObjectInfo info;
	StoredState state;
	int			rc;

	rc = rvx_wal_find(repo, name, (RvxCompression) ours->compression, key, keycap,
					  &info, err);
	if (rc <= 0)
		return rc;
	if (compare_stored(repo, key, info.size, ours, &state, err) != 0)
		return -1;
	if (state == STORED_SAME)
		return 1;
	/* rvx_store_object finds it again and replaces it */
	rvx_warn("object \"%s\" in %s is an incomplete copy of \"%s\" (%" PRIu64 " bytes); storing it again",
			 key, repo->display, name, info.size);
	return 0;
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

typedef struct FdSink
{
	int			fd;
	int			save_errno;
} FdSink;

static int
fd_sink(void *arg, const void *data, size_t len)
{
	FdSink	   *fs = arg;
	const char *p = data;

	while (len > 0)
	{
		ssize_t		n = write(fs->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			fs->save_errno = n < 0 ? errno : ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

static long
fd_read_at(void *arg, void *buf, size_t len, uint64_t offset)
{
	return (long) pread(*(int *) arg, buf, len, (off_t) offset);
}

/*
 * The encrypted form of the spooled object on fd, in an unnamed temporary
 * file of tmp_dir (the spool: a volume sized for objects, unlike /tmp).
 * Returns its descriptor, and its header and size.
 */
static int
encrypt_to_temp(RvxRepo *repo, int fd, const RvxObjectHeader *plain, const char *tmp_dir,
				RvxObjectHeader *enc, uint64_t *size, RvxError *err)
{
	uint8_t		hbytes[RVX_OBJECT_HEADER_LEN];
	FdSink		fs = {-1, 0};
	const char *why;

	fs.fd = open(tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fs.fd < 0)
	{
		char		path[PATH_MAX];

		/* a file system without O_TMPFILE */
		snprintf(path, sizeof(path), "%s/.revrx-encrypt-XXXXXX", tmp_dir);
		fs.fd = mkostemp(path, O_CLOEXEC);
		if (fs.fd < 0)
			return rvx_error(err, RVX_E_IO, "could not create a temporary file in \"%s\": %s",
							 tmp_dir, strerror(errno));
		unlink(path);
	}
	if (rvx_object_encrypt(repo->key, plain, fd_read_at, &fd, fd_sink, &fs, enc, &why) != 0)
	{
		int			save = fs.save_errno;

		close(fs.fd);
		if (save)
			return rvx_error(err, RVX_E_IO, "could not write a temporary file in \"%s\": %s",
							 tmp_dir, strerror(save));
		return rvx_error(err, RVX_E_CORRUPT, "could not encrypt: %s", why);
	}
	rvx_object_header_encode(enc, hbytes);
	if (pwrite(fs.fd, hbytes, sizeof(hbytes), 0) != (ssize_t) sizeof(hbytes))
	{
		close(fs.fd);
		return rvx_error(err, RVX_E_IO, "could not write a temporary file in \"%s\"", tmp_dir);
	}
	*size = RVX_OBJECT_HEADER_LEN + enc->payload_size;
	return fs.fd;
}

int
rvx_store_object(RvxRepo *repo, const char *key, int fd, uint64_t size,
				 const RvxObjectHeader *hdr, const char *tmp_dir, RvxShipResult *res,
				 RvxError *err)
{
	return rvx_store_object_flags(repo, key, fd, size, hdr, tmp_dir, 0, res, err);
}

int
rvx_store_object_flags(RvxRepo *repo, const char *key, int fd, uint64_t size,
					   const RvxObjectHeader *hdr, const char *tmp_dir, int put_flags_in,
					   RvxShipResult *res, RvxError *err)
{
	int			put_flags = put_flags_in & ~RVX_STORE_SAME_NAME_SAME_DATA;
	/* the first put never replaces, unless the name fixes the content */
	int			first_flags = (put_flags_in & RVX_STORE_SAME_NAME_SAME_DATA) ?
		put_flags : put_flags | RVX_PUT_NO_OVERWRITE;
	RvxObjectHeader stored;
	RvxObjectHeader enc;
	RvxObjectInfo info;
	RvxPutSource src;
	int			upfd = fd;
	int			rc = -1;

	if (repo->key != NULL &&
		(upfd = encrypt_to_temp(repo, fd, hdr, tmp_dir, &enc, &size, err)) < 0)
		return -1;
	src = rvx_put_source_fd(upfd, size);

	if (rvx_repo_put(repo, key, &src, first_flags, err) != 0)
	{
		StoredState state;
		int			found;

		if (err == NULL || err->code != RVX_E_CONFLICT)
			goto out;
		/* already there (an earlier run, or a race): fine if it is ours */
		found = rvx_repo_head(repo, key, &info, err);
		if (found < 0)
			goto out;
		if (found == 0)
		{
			rvx_error(err, RVX_E_PROTOCOL,
					  "%s refused to store \"%s\" as existing, but does not have it",
					  repo->display, key);
			goto out;
		}
		if (compare_stored(repo, key, info.size, hdr, &state, err) != 0)
			goto out;
		if (state == STORED_SAME)
		{
			res->already_stored = true;
			rc = 0;
			goto out;
		}

		/* a broken copy of this very content: nothing is lost by replacing it */
		rvx_warn("replacing incomplete object \"%s\" in %s (%" PRIu64 " of %" PRIu64 " bytes)",
				 key, repo->display, info.size, size);
		src = rvx_put_source_fd(upfd, size);
		if (rvx_repo_put(repo, key, &src, put_flags, err) != 0)
			goto out;
	}
	res->stored_bytes += size;

	/* confirm: the object is there, complete, and is ours */
	if (rvx_repo_head(repo, key, &info, err) != 1)
	{
		rvx_error(err, RVX_E_PROTOCOL, "object \"%s\" is not in %s right after it was stored",
				  key, repo->display);
		goto out;
	}
	if (info.size != size)
	{
		rvx_error(err, RVX_E_CORRUPT,
				  "object \"%s\" in %s has %" PRIu64 " bytes right after storing %" PRIu64,
				  key, repo->display, info.size, size);
		goto out;
	}
	if (rvx_object_read_header(repo, key, &stored, err) != 0)
		goto out;
	if (!rvx_object_digest_matches(&stored, repo->key, hdr->sha256))
	{
		rvx_error(err, RVX_E_CONFLICT, "object \"%s\" in %s does not hold the content just stored",
				  key, repo->display);
		goto out;
	}
	rc = 0;
out:
	if (upfd != fd)
		close(upfd);
	return rc;
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
			 RvxShipResult *res, RvxError *err)
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
			 const RvxClusterInfo *cluster, RvxShipResult *res, RvxError *err)
{
	return rvx_ship_wal_flags(repo, spool_dir, name, cluster, 0, res, err);
}

int
rvx_ship_wal_flags(RvxRepo *repo, const char *spool_dir, const char *name,
				   const RvxClusterInfo *cluster, int flags, RvxShipResult *res, RvxError *err)
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
	rc = check_existing(repo, name, &hdr, key, sizeof(key), err);
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

/*
 * The object is made in an unnamed temporary file of tmp_dir, because
 * rvx_store_object (which also encrypts, for an encrypted repository)
 * reads a descriptor.
 */
int
rvx_store_text_object(RvxRepo *repo, const char *key, uint64_t system_id, const char *text,
					  const char *tmp_dir, int put_flags, RvxError *err)
{
	RvxObjectWriter *w;
	RvxObjectHeader hdr;
	RvxShipResult res = {0};
	uint8_t		hbytes[RVX_OBJECT_HEADER_LEN];
	char		path[PATH_MAX];
	FdSink		fs = {-1, 0};
	int			fd;
	int			rc = -1;

	if (tmp_dir == NULL)
	{
		tmp_dir = getenv("TMPDIR");
		if (tmp_dir == NULL || tmp_dir[0] == '\0')
			tmp_dir = "/tmp";
	}
	w = rvx_object_writer_new(RVX_COMPRESS_NONE, 0);
	if (w == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	fd = open(tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		/* a file system without O_TMPFILE */
		snprintf(path, sizeof(path), "%s/.revrx-object-XXXXXX", tmp_dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
		{
			rvx_object_writer_free(w);
			return rvx_error(err, RVX_E_IO, "could not create a temporary file in \"%s\": %s",
							 tmp_dir, strerror(errno));
		}
		unlink(path);
	}
	fs.fd = fd;
	/* room for the header, the payload, then the header over the room */
	memset(hbytes, 0, sizeof(hbytes));
	if (fd_sink(&fs, hbytes, sizeof(hbytes)) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not write a temporary file in \"%s\": %s",
				  tmp_dir, strerror(errno));
		goto out;
	}
	if (rvx_object_writer_begin(w, system_id, fd_sink, &fs) != 0 ||
		rvx_object_writer_write(w, text, strlen(text)) != 0 ||
		rvx_object_writer_finish(w, &hdr) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not make object \"%s\": %s", key,
				  rvx_object_writer_error(w));
		goto out;
	}
	rvx_object_header_encode(&hdr, hbytes);
	if (pwrite(fd, hbytes, sizeof(hbytes), 0) != (ssize_t) sizeof(hbytes))
	{
		rvx_error(err, RVX_E_IO, "could not write a temporary file in \"%s\": %s",
				  tmp_dir, strerror(errno));
		goto out;
	}
	rc = rvx_store_object_flags(repo, key, fd, RVX_OBJECT_HEADER_LEN + hdr.payload_size, &hdr,
								tmp_dir, put_flags, &res, err);
out:
	rvx_object_writer_free(w);
	close(fd);
	return rc;
}
