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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash_aside.h"
#include "info/fetch.h"
#include "info/wal_partial.h"
#include "walname.h"

/* What a listing of a WAL file's key stem found, per codec. */
typedef struct StemMatches
{
	const char *stem;
	size_t		stem_len;
	bool		found[RVX_COMPRESS_MAX + 1];
	uint64_t	size[RVX_COMPRESS_MAX + 1];
} StemMatches;

static int
stem_match(void *arg, const char *key, uint64_t size)
{
	StemMatches *m = arg;

	if (strncmp(key, m->stem, m->stem_len) != 0)
		return 0;
	for (int alg = 0; alg <= RVX_COMPRESS_MAX; alg++)
		if (strcmp(key + m->stem_len, rvx_compression_suffix((RvxCompression) alg)) == 0)
		{
			m->found[alg] = true;
			m->size[alg] = size;
		}
	return 0;
}

/*
 * The preferred codec is asked for first (it is what the repository
 * normally holds, so one request usually settles it).  For the others, a
 * store whose HEAD is a request over the network (S3) is asked with one
 * listing of the name's key stem, instead of one HEAD per codec: a segment
 * that is not there yet, the common case when shipping and at the end of
 * every recovery, then costs two round trips instead of four, and one
 * stored with another codec two instead of up to four.  What the listing
 * found is taken as it is (key and size; info->mtime is 0: no caller of
 * this needs it).  On AWS a LIST costs about twelve HEADs, about $5 per
 * million segments shipped: latency was judged to matter more.
 */
int
rvx_wal_find(RvxRepo *repo, const char *name, RvxCompression preferred,
			 char *key, size_t keycap, RvxObjectInfo *info, RvxError *err)
{
	RvxCompression order[RVX_COMPRESS_MAX + 1];
	StemMatches m;
	char		stem[256];
	int			n = 0;
	int			rc;

	order[n++] = preferred;
	for (int alg = RVX_COMPRESS_MAX; alg >= 0; alg--)
		if ((RvxCompression) alg != preferred)
			order[n++] = (RvxCompression) alg;

	if (rvx_wal_object_key(name, preferred, key, keycap) != 0 ||
		rvx_wal_object_key(name, RVX_COMPRESS_NONE, stem, sizeof(stem)) != 0)
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL file", name);
	rc = rvx_repo_head(repo, key, info, err);
	if (rc != 0)
		return rc;

	if (repo->ops->head_is_local)
	{
		for (int i = 1; i < n; i++)
		{
			if (rvx_wal_object_key(name, order[i], key, keycap) != 0)
				return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL file", name);
			rc = rvx_repo_head(repo, key, info, err);
			if (rc != 0)
				return rc;
		}
		return 0;
	}

	memset(&m, 0, sizeof(m));
	m.stem = stem;
	m.stem_len = strlen(stem);
	if (rvx_repo_list(repo, stem, stem_match, &m, err) != 0)
		return -1;
	/* from the preferred codec again: it may have been stored since the HEAD */
	for (int i = 0; i < n; i++)
	{
		if (!m.found[order[i]])
			continue;
		if (rvx_wal_object_key(name, order[i], key, keycap) != 0)
			return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL file", name);
		memset(info, 0, sizeof(*info));
		info->size = m.size[order[i]];
		return 1;
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
	const RvxKey *key;			/* the repository's: objects may be encrypted */
	const RvxFetchOptions *opts;
	int64_t		expect_size;	/* of the object being read: -1 any */
	uint64_t	skip;			/* content bytes of it still to leave out */
	uint64_t	skip_at;		/* file offset those bytes must already hold */
	uint64_t	offset;			/* of the next content byte */
	bool		check_pages;	/* the part is WAL checked against its name */
	RvxWalPageCheck pages;
	const uint8_t *head;		/* the part's content must open with it */
	size_t		head_len;
	size_t		head_seen;		/* of it, compared so far */
	bool		filter_failed;	/* the filter said so (it keeps the reason) */
	RvxHashAside *aside;		/* hashes the content instead of the reader */
	RvxContentFn fn;			/* handed the content instead of writing it (rvx_fetch_to_fn) */
	void	   *fn_arg;
	bool		fn_failed;		/* fn said so (it keeps the reason) */
	int			fd;				/* the temporary file, or -1 when collecting in memory */
	/* in memory */
	char	   *buf;
	size_t		len;
	size_t		max_len;
	bool		too_big;
	/* what went wrong */
	bool		checked;		/* the header was compared with opts */
	RvxErrorCode fail_code;		/* set by a check of ours, not by the reader */
	char		fail_msg[512];
	int			write_errno;
	bool		cancelled;
	uint64_t	written;		/* bytes written to fd */
	uint64_t	flushed;		/* of which writeback was started */
} FetchState;

/*
 * Writeback of a large file is started every this many bytes, as
 * PostgreSQL does with its *_flush_after settings, so that the fsync at the
 * end finds little left to write and the disk is busy all along.
 */
#define WRITEBACK_AFTER		(16 * 1024 * 1024)

/*
 * Compares the header with what the caller expects.  Runs before the
 * first byte of content is written (or, for empty content, at the end).
 */
static int
check_header(FetchState *st)
{
	const RvxObjectHeader *hdr = rvx_object_reader_header(st->reader);
	const RvxFetchOptions *o = st->opts;

	st->checked = true;
	if (hdr == NULL)
		return 0;				/* the reader reports the missing header itself */
	if (o->expect_system_id != 0 && hdr->system_id != o->expect_system_id)
	{
		st->fail_code = RVX_E_CLUSTER;
		snprintf(st->fail_msg, sizeof(st->fail_msg),
				 "was written by cluster %" PRIu64 ", expected %" PRIu64,
				 hdr->system_id, o->expect_system_id);
		return -1;
	}
	if (st->expect_size >= 0 && hdr->raw_size != (uint64_t) st->expect_size)
	{
		st->fail_code = RVX_E_CORRUPT;
		snprintf(st->fail_msg, sizeof(st->fail_msg),
				 "holds %" PRIu64 " bytes of content where %" PRId64 " were expected",
				 hdr->raw_size, st->expect_size);
		return -1;
	}
	if (o->expect_sha256 && !rvx_object_digest_matches(hdr, st->key, o->expect_sha256))
	{
		char		have[RVX_SHA256_HEXLEN + 1];
		char		want[RVX_SHA256_HEXLEN + 1];

		rvx_hex_encode(hdr->sha256, RVX_SHA256_LEN, have);
		rvx_hex_encode(o->expect_sha256, RVX_SHA256_LEN, want);
		st->fail_code = RVX_E_CORRUPT;
		if (hdr->encryption != RVX_ENCRYPT_NONE)
			snprintf(st->fail_msg, sizeof(st->fail_msg),
					 "does not hold the content with SHA-256 %s that was expected", want);
		else
			snprintf(st->fail_msg, sizeof(st->fail_msg),
					 "holds content with SHA-256 %s where %s was expected", have, want);
		return -1;
	}
	return 0;
}

/*
 * Bytes of a part that an earlier part already wrote (two ranges of a WAL
 * chain overlap) must be the same WAL: compares them with the file's.
 */
static int
same_as_written(FetchState *st, const char *data, size_t len)
{
	char		buf[16 * 1024];

	while (len > 0)
	{
		size_t		n = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t		got = pread(st->fd, buf, n, (off_t) st->skip_at);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
		{
			st->write_errno = errno;
			return -1;
		}
		if ((size_t) got != n || memcmp(buf, data, n) != 0)
		{
			size_t		at = 0;

			while (at < (size_t) got && buf[at] == data[at])
				at++;
			st->fail_code = RVX_E_CORRUPT;
			snprintf(st->fail_msg, sizeof(st->fail_msg),
					 "holds other bytes at offset %" PRIu64 " than the part before it, "
					 "which it overlaps", st->skip_at + at);
			return -1;
		}
		st->skip_at += n;
		data += n;
		len -= n;
	}
	return 0;
}

/* Receives verified-so-far content from the reader and writes it. */
static int
content_sink(void *arg, const void *data, size_t len)
{
	FetchState *st = arg;
	const char *p = data;

	if (!st->checked && check_header(st) != 0)
		return -1;
	if (st->opts->cancel && *st->opts->cancel)
	{
		st->cancelled = true;
		return -1;
	}
	if (st->aside)
		(void) rvx_hash_aside_update(st->aside, data, len);	/* every byte, as the reader would */
	if (st->head_seen < st->head_len)
	{
		/* the part's identity, not the file's: compared, never written */
		size_t		n = st->head_len - st->head_seen < len ? st->head_len - st->head_seen : len;

		if (memcmp(p, st->head + st->head_seen, n) != 0)
		{
			st->fail_code = RVX_E_CORRUPT;
			snprintf(st->fail_msg, sizeof(st->fail_msg),
					 "does not carry the range its name says (timeline and LSNs in its first %zu bytes)",
					 st->head_len);
			return -1;
		}
		st->head_seen += n;
		p += n;
		len -= n;
		data = p;
		if (len == 0)
			return 0;
	}
	if (st->check_pages)
	{
		char		why[200];

		if (rvx_wal_page_check_feed(&st->pages, data, len, why, sizeof(why)) != 0)
		{
			st->fail_code = RVX_E_CORRUPT;
			snprintf(st->fail_msg, sizeof(st->fail_msg), "is not the WAL its name says: %s", why);
			return -1;
		}
	}
	if (st->skip > 0)
	{
		/* bytes an earlier part of the file already held (still hashed) */
		size_t		n = st->skip < len ? (size_t) st->skip : len;

		if (st->fd >= 0 && !st->opts->filter && same_as_written(st, p, n) != 0)
			return -1;
		st->skip -= n;
		p += n;
		len -= n;
		data = p;
		if (len == 0)
			return 0;
	}
	if (st->fn)
	{
		if (st->fn(st->fn_arg, rvx_object_reader_header(st->reader), st->offset, data, len) != 0)
		{
			st->fn_failed = true;
			return -1;
		}
		st->offset += len;
		return 0;
	}
	if (st->fd < 0)
	{
		char	   *n;

		if (st->len + len > st->max_len)
		{
			st->too_big = true;
			return -1;
		}
		n = realloc(st->buf, st->len + len + 1);
		if (n == NULL)
		{
			st->write_errno = ENOMEM;
			return -1;
		}
		st->buf = n;
		memcpy(st->buf + st->len, data, len);
		st->len += len;
		st->buf[st->len] = '\0';
		return 0;
	}
	if (st->opts->filter)
	{
		const void *out = data;

		if (st->opts->filter(st->opts->filter_arg, st->offset, data, len, &out) != 0)
		{
			st->filter_failed = true;
			return -1;
		}
		p = out;
	}
	st->offset += len;
	if (st->opts->bytes_written)
		__atomic_add_fetch(st->opts->bytes_written, (uint64_t) len, __ATOMIC_RELAXED);
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
		st->written += (uint64_t) n;
	}
	if (!st->opts->no_fsync && st->written - st->flushed >= WRITEBACK_AFTER)
	{
		/* only a hint: the fsync at the end is what makes it durable */
		(void) sync_file_range(st->fd, (off_t) st->flushed, (off_t) (st->written - st->flushed),
							   SYNC_FILE_RANGE_WRITE);
		st->flushed = st->written;
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

static bool
reader_failed(FetchState *st)
{
	const char *why = rvx_object_reader_error(st->reader);

	return why[0] && strcmp(why, "no error") != 0;
}

/*
 * Turns what went wrong while streaming into one error naming the object.
 * what_write names the file being written, for local write errors.
 */
static int
stream_error(FetchState *st, const char *key, const char *where, const char *what_write,
			 const RvxError *gerr, RvxError *err)
{
	if (st->fail_code != RVX_OK)
		return rvx_error(err, st->fail_code, "object \"%s\" in %s %s", key, where, st->fail_msg);
	if (st->cancelled)
		return rvx_error(err, RVX_E_INTERNAL, "reading object \"%s\" was cancelled", key);
	if (st->filter_failed)
		return rvx_error(err, RVX_E_IO, "could not rebuild \"%s\" from object \"%s\"", what_write,
						 key);
	if (st->fn_failed)
		return rvx_error(err, RVX_E_INTERNAL, "could not use the content of object \"%s\" in %s",
						 key, where);
	if (st->too_big)
		return rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s holds more than %zu bytes",
						 key, where, st->max_len);
	if (st->write_errno)
		return rvx_error(err, st->write_errno == ENOMEM ? RVX_E_INTERNAL : RVX_E_IO,
						 "could not write \"%s\": %s", what_write, strerror(st->write_errno));
	if (reader_failed(st))
		return rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is corrupt: %s",
						 key, where, rvx_object_reader_error(st->reader));
	if (gerr && err)
		*err = *gerr;
	return -1;
}

/* After the last byte: the object is whole, and is what the caller expects. */
static int
stream_finish(FetchState *st, const char *key, const char *where, RvxError *err)
{
	if (rvx_object_reader_finish(st->reader) != 0)
		return rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is corrupt: %s",
						 key, where, rvx_object_reader_error(st->reader));
	if (!st->checked && check_header(st) != 0)
		return rvx_error(err, st->fail_code, "object \"%s\" in %s %s", key, where, st->fail_msg);
	return 0;
}

/* The content's digest, when an aside computed it: the reader's own check. */
static int
aside_finish(FetchState *st, const char *key, const char *where, RvxError *err)
{
	uint8_t		digest[RVX_SHA256_LEN];

	if (st->aside == NULL)
		return 0;
	if (rvx_hash_aside_final(st->aside, digest) != 0)
		return rvx_error(err, RVX_E_INTERNAL, "could not compute SHA-256 of object \"%s\"", key);
	if (!rvx_object_digest_matches(rvx_object_reader_header(st->reader), st->key, digest))
		return rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is corrupt: %s", key, where,
						 "SHA-256 of the content does not match the object header");
	return 0;
}

static RvxObjectReader *
reader_for(const RvxFetchOptions *opts, bool *owned)
{
	*owned = opts->reader == NULL;
	return opts->reader ? opts->reader : rvx_object_reader_new();
}

int
rvx_fetch_to_file_opts(RvxRepo *repo, const char *key, const RvxFetchOptions *opts,
					   const char *dest, RvxError *err)
{
	RvxFetchPart part = {key, opts->expect_size, 0, NULL, NULL, 0};

	return rvx_fetch_parts_to_file(repo, &part, 1, opts, dest, err);
}

int
rvx_fetch_parts_to_file(RvxRepo *repo, const RvxFetchPart *parts, size_t nparts,
						const RvxFetchOptions *opts, const char *dest, RvxError *err)
{
	char		tmp[PATH_MAX];
	FetchState	st = {0};
	bool		owned;
	int			rc = -1;
	RvxError	gerr;

	if (snprintf(tmp, sizeof(tmp), "%s.revrx.tmp", dest) >= (int) sizeof(tmp))
		return rvx_error(err, RVX_E_USAGE, "destination path \"%s\" is too long", dest);
	if (opts->digest_by_filter && opts->filter == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "content left unchecked: no filter checks it");
	st.opts = opts;
	st.reader = reader_for(opts, &owned);
	if (st.reader == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	/* read too: the bytes where parts overlap are compared (same_as_written) */
	st.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, opts->mode ? opts->mode : 0600);
	if (st.fd < 0)
	{
		if (owned)
			rvx_object_reader_free(st.reader);
		return rvx_error(err, RVX_E_IO, "could not create \"%s\": %s", tmp, strerror(errno));
	}
	st.key = repo->key;

	for (size_t i = 0; i < nparts; i++)
	{
		/* each part is a whole object, checked as one */
		rvx_object_reader_begin(st.reader, content_sink, &st);
		rvx_object_reader_set_key(st.reader, repo->key);
		st.aside = NULL;
		if (opts->digest_by_filter)
			rvx_object_reader_skip_digest(st.reader);
		else if (opts->hash_aside)
		{
			rvx_object_reader_skip_digest(st.reader);
			st.aside = opts->hash_aside;
			if (rvx_hash_aside_begin(st.aside) != 0)
			{
				rvx_error(err, RVX_E_INTERNAL, "could not start SHA-256 of object \"%s\"",
						  parts[i].key);
				goto out;
			}
		}
		st.checked = false;
		st.expect_size = parts[i].expect_size;
		st.skip = parts[i].skip;
		if (st.offset < parts[i].skip)
		{
			rvx_error(err, RVX_E_INTERNAL, "part \"%s\" overlaps more than was written before it",
					  parts[i].key);
			goto out;
		}
		st.skip_at = st.offset - parts[i].skip;
		st.head = parts[i].head;
		st.head_len = parts[i].head ? parts[i].head_len : 0;
		st.head_seen = 0;
		st.check_pages = parts[i].wal_pages != NULL;
		if (st.check_pages)
			st.pages = *parts[i].wal_pages;
		if (rvx_repo_get(repo, parts[i].key, 0, 0, stored_sink, &st, &gerr) != 0)
		{
			stream_error(&st, parts[i].key, repo->display, tmp, &gerr, err);
			goto out;
		}
		if (stream_finish(&st, parts[i].key, repo->display, err) != 0 ||
			aside_finish(&st, parts[i].key, repo->display, err) != 0)
			goto out;
		if (st.skip > 0)
		{
			rvx_error(err, RVX_E_CORRUPT, "object \"%s\" in %s is shorter than the part of it expected",
					  parts[i].key, repo->display);
			goto out;
		}
	}
	if (opts->cut_at > 0 && opts->cut_at < st.offset && ftruncate(st.fd, (off_t) opts->cut_at) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not cut \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	if (opts->pad_to > 0 && ftruncate(st.fd, (off_t) opts->pad_to) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not extend \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	if (opts->owner != (uid_t) -1 && fchown(st.fd, opts->owner, opts->group) != 0)
	{
		rvx_error(err, RVX_E_IO, "could not change the owner of \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	if (!opts->no_fsync && fsync(st.fd) != 0)
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
	if (owned)
		rvx_object_reader_free(st.reader);
	return rc;
}

int
rvx_fetch_to_file(RvxRepo *repo, const char *key, uint64_t expect_system_id,
				  const char *dest, RvxError *err)
{
	RvxFetchOptions opts = RVX_FETCH_OPTIONS_INIT;

	opts.expect_system_id = expect_system_id;
	return rvx_fetch_to_file_opts(repo, key, &opts, dest, err);
}

/*
 * The start of a load into memory (rvx_fetch_to_buffer,
 * rvx_object_load_file): st reads into its buffer, checked against opts'
 * system id.  -1 (nothing to free) if out of memory.
 */
static int
load_begin(FetchState *st, RvxFetchOptions *opts, uint64_t expect_system_id, size_t max_len)
{
	opts->expect_system_id = expect_system_id;
	st->opts = opts;
	st->expect_size = -1;
	st->fd = -1;
	st->max_len = max_len;
	st->reader = rvx_object_reader_new();
	if (st->reader == NULL)
		return -1;
	rvx_object_reader_begin(st->reader, content_sink, st);
	return 0;
}

/* The end of a good load: the buffer ("" when empty) handed to the caller. */
static int
load_hand_over(FetchState *st, char **out, size_t *out_len, RvxObjectHeader *hdr, RvxError *err)
{
	if (st->buf == NULL && (st->buf = calloc(1, 1)) == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	if (hdr)
		*hdr = *rvx_object_reader_header(st->reader);
	*out = st->buf;
	st->buf = NULL;
	if (out_len)
		*out_len = st->len;
	return 0;
}

int
rvx_fetch_to_buffer(RvxRepo *repo, const char *key, uint64_t expect_system_id,
					size_t max_len, char **out, size_t *out_len, RvxObjectHeader *hdr,
					RvxError *err)
{
	RvxFetchOptions opts = RVX_FETCH_OPTIONS_INIT;
	FetchState	st = {0};
	RvxError	gerr;
	int			rc = -1;

	*out = NULL;
	if (load_begin(&st, &opts, expect_system_id, max_len) != 0)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	rvx_object_reader_set_key(st.reader, repo->key);
	st.key = repo->key;
	if (rvx_repo_get(repo, key, 0, 0, stored_sink, &st, &gerr) != 0)
		stream_error(&st, key, repo->display, "memory", &gerr, err);
	else if (stream_finish(&st, key, repo->display, err) == 0)
		rc = load_hand_over(&st, out, out_len, hdr, err);
	free(st.buf);
	rvx_object_reader_free(st.reader);
	return rc;
}

int
rvx_fetch_to_fn(RvxRepo *repo, const char *key, const RvxFetchOptions *opts,
				RvxContentFn fn, void *arg, RvxError *err)
{
	FetchState	st = {0};
	bool		owned;
	RvxError	gerr;
	int			rc = -1;

	st.opts = opts;
	st.expect_size = opts->expect_size;
	st.fd = -1;
	st.fn = fn;
	st.fn_arg = arg;
	st.reader = reader_for(opts, &owned);
	if (st.reader == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	rvx_object_reader_begin(st.reader, content_sink, &st);
	rvx_object_reader_set_key(st.reader, repo->key);
	if (opts->digest_by_filter)
		rvx_object_reader_skip_digest(st.reader);
	st.key = repo->key;
	if (rvx_repo_get(repo, key, 0, 0, stored_sink, &st, &gerr) != 0)
		stream_error(&st, key, repo->display, "memory", &gerr, err);
	else
		rc = stream_finish(&st, key, repo->display, err);
	if (owned)
		rvx_object_reader_free(st.reader);
	return rc;
}

int
rvx_object_load_file(const char *path, uint64_t expect_system_id, size_t max_len,
					 char **out, size_t *out_len, RvxObjectHeader *hdr, RvxError *err)
{
	RvxFetchOptions opts = RVX_FETCH_OPTIONS_INIT;
	FetchState	st = {0};
	char		where[PATH_MAX + 16];
	char		chunk[64 * 1024];
	int			fd;
	int			rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rvx_error(err, errno == ENOENT ? RVX_E_NOTFOUND : RVX_E_IO,
						 "could not open \"%s\": %s", path, strerror(errno));
	if (load_begin(&st, &opts, expect_system_id, max_len) != 0)
	{
		close(fd);
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	snprintf(where, sizeof(where), "the spool");
	for (;;)
	{
		ssize_t		n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			rvx_error(err, RVX_E_IO, "could not read \"%s\": %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (rvx_object_reader_feed(st.reader, chunk, (size_t) n) != 0)
		{
			stream_error(&st, path, where, "memory", NULL, err);
			goto out;
		}
	}
	if (stream_finish(&st, path, where, err) == 0)
		rc = load_hand_over(&st, out, out_len, hdr, err);

out:
	close(fd);
	free(st.buf);
	rvx_object_reader_free(st.reader);
	return rc;
}
