/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Storing an object in the repository, verified (see store.h).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "info/fetch.h"
#include "info/store.h"

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

int
rvx_store_check_existing(RvxRepo *repo, const char *name, const RvxObjectHeader *ours,
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
				 const RvxObjectHeader *hdr, const char *tmp_dir, RvxStoreResult *res,
				 RvxError *err)
{
	return rvx_store_object_flags(repo, key, fd, size, hdr, tmp_dir, 0, res, err);
}

int
rvx_store_object_flags(RvxRepo *repo, const char *key, int fd, uint64_t size,
					   const RvxObjectHeader *hdr, const char *tmp_dir, int put_flags_in,
					   RvxStoreResult *res, RvxError *err)
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
	RvxStoreResult res = {0};
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
