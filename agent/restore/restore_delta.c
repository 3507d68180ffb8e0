/*-------------------------------------------------------------------------
 *
 * restore_delta.c
 *	  Rebuilding incremental backups' files in one pass (restore_delta.h).
 *
 * A delta (common/delta.h) holds its pages first and their block numbers
 * at its end.  The first read (rvx_delta_merge_add) keeps only that end,
 * the index and the trailer: 4 bytes a page.  The second read runs on a
 * thread of the delta's own and hands its pages over, in block order,
 * through a ring of RING_BYTES to the thread that streams the whole copy.
 * That thread takes, for each block, the page of the newest delta that
 * has one and passes over the older deltas' pages of it.  So a delta of
 * most of a 1 GB segment costs 512 kB of index and one ring of memory (and
 * the thread's repository handle and decompressor), is decompressed twice
 * and never written to disk.  A delta no larger than a ring, as most are,
 * is kept whole from its first read and becomes its own full ring: no
 * second read, no thread.  (Before, each delta was written to a scratch
 * file and read back from it: for a busy table, as many bytes again as the
 * rebuilt file.)
 *
 * The second read must end with the same index and trailer as the first
 * (they are compared), so the pages streamed are the ones the index
 * names.  Neither read computes the SHA-256 of the delta's content unless
 * asked to (RvxDeltaSource.check_digest): the rebuilt file's own digest,
 * compared with the record's by the caller, checks every page that
 * matters, and the first read is on the critical path of the restore (the
 * whole copy cannot start before the index is known).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delta.h"
#include "info/fetch.h"
#include "restore/restore_delta.h"

#define MAX_DELTAS		64		/* restore.c's longest chain */
#define MIN_BLOCK_SIZE	1024	/* PostgreSQL's smallest BLCKSZ */
#define RING_BYTES		(512 * 1024)

typedef struct Delta
{
	/* what the first read found */
	char	   *what;			/* names the delta in messages */
	char	   *key;
	uint8_t		object_sha[RVX_SHA256_LEN];
	bool		has_sha;
	RvxDeltaSource src;
	uint64_t	content_len;
	uint32_t	block_size;
	uint32_t	nblocks;
	uint8_t    *tail;			/* the index, then the trailer */
	size_t		tail_len;

	/* the consumer's: of the pages, the next to take */
	uint32_t	next;

	/* the second read, on its thread; what follows is under lock */
	pthread_t	thread;
	bool		started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t    *ring;
	size_t		ring_head;		/* where its oldest byte is */
	size_t		ring_count;
	bool		done;			/* the thread's read has returned */
	bool		failed;
	bool		differs;		/* its end was not the first read's */
	RvxError	error;
	int			stop;			/* the thread is to give up (its fetch's cancel) */
} Delta;

struct RvxDeltaMerge
{
	Delta	   *deltas[MAX_DELTAS];	/* oldest first */
	int			ndeltas;
	uint32_t	block_size;
	uint64_t	file_size;		/* the newest delta's */
	/* the block whose page was looked up last, and that page if a delta had it */
	bool		cur_set;
	uint64_t	cur_blk;
	bool		cur_found;
	uint8_t    *cur_page;
	RvxSha256  *sha;
	RvxHashAside *aside;		/* if set, hashes instead of sha */
	bool		aside_begun;	/* at the first byte of the rebuilt file */
	uint64_t	hashed;			/* bytes of the rebuilt file hashed so far */
	uint8_t    *buf;			/* the filter's output */
	size_t		bufcap;
	RvxError	error;			/* of the filter */
	bool		failed;
};

static inline uint32_t
block_of(const Delta *d, uint32_t i)
{
	return rvx_delta_get_be32(d->tail + 4 * (size_t) i);
}

static void
delta_free(Delta *d)
{
	if (d == NULL)
		return;
	if (d->started)
	{
		pthread_mutex_lock(&d->lock);
		__atomic_store_n(&d->stop, 1, __ATOMIC_RELAXED);	/* also read unlocked, by the fetch */
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d->ring);
	free(d->tail);
	free(d->key);
	free(d->what);
	free(d);
}

RvxDeltaMerge *
rvx_delta_merge_new(RvxHashAside *aside)
{
	RvxDeltaMerge *m = calloc(1, sizeof(RvxDeltaMerge));

	if (m == NULL)
		return NULL;
	/* an aside is begun only when the rebuilt file's first bytes come: the deltas are read first */
	m->aside = aside;
	if (aside == NULL && (m->sha = rvx_sha256_new()) == NULL)
	{
		free(m);
		return NULL;
	}
	return m;
}

/* ---------------------------------------------------------------- first read */

/*
 * Keeps the end of a delta's content: as much as its index and trailer can
 * be, at most, for a content of that length (pages of MIN_BLOCK_SIZE); or
 * all of it, when it fits in a ring.
 */
typedef struct TailCapture
{
	uint8_t    *buf;
	uint64_t	content_len;
	uint64_t	from;			/* content offset of buf[0] */
	bool		no_memory;
	bool		overrun;		/* more content than the header says */
} TailCapture;

static int
capture_tail(void *arg, const RvxObjectHeader *hdr, uint64_t offset, const void *data, size_t len)
{
	TailCapture *c = arg;

	if (c->buf == NULL)
	{
		uint64_t	n = hdr->raw_size;
		uint64_t	cap = n <= RING_BYTES ? n :
			RVX_DELTA_TRAILER_LEN + (n - RVX_DELTA_TRAILER_LEN) / (MIN_BLOCK_SIZE + 4) * 4;

		c->content_len = n;
		c->from = n - cap;
		if ((c->buf = malloc(cap ? cap : 1)) == NULL)
		{
			c->no_memory = true;
			return -1;
		}
	}
	if (offset + len > c->content_len)
	{
		c->overrun = true;
		return -1;
	}
	if (offset + len > c->from)
	{
		uint64_t	start = offset > c->from ? offset : c->from;

		memcpy(c->buf + (start - c->from), (const uint8_t *) data + (start - offset),
			   (size_t) (offset + len - start));
	}
	return 0;
}

int
rvx_delta_merge_add(RvxDeltaMerge *m, RvxRepo *repo, RvxObjectReader *reader,
					const RvxDeltaSource *src, const char *what, RvxError *err)
{
	RvxFetchOptions o = RVX_FETCH_OPTIONS_INIT;
	TailCapture c = {0};
	RvxDeltaTrailer t;
	Delta	   *d;
	uint64_t	cap;
	uint64_t	nmap;

	if (m->ndeltas == MAX_DELTAS)
		return rvx_error(err, RVX_E_CORRUPT, "%s: too many deltas", what);
	if ((d = calloc(1, sizeof(Delta))) == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	m->deltas[m->ndeltas++] = d;
	d->what = strdup(what);
	d->key = strdup(src->key);
	if (d->what == NULL || d->key == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	d->src = *src;
	d->src.key = d->key;
	d->src.object_sha = NULL;	/* the caller's: d->object_sha is the copy kept */
	if (src->object_sha)
	{
		memcpy(d->object_sha, src->object_sha, RVX_SHA256_LEN);
		d->has_sha = true;
	}

	o.expect_system_id = src->system_id;
	o.expect_sha256 = src->object_sha;
	o.reader = reader;
	o.cancel = src->cancel;
	o.digest_by_filter = !src->check_digest;
	if (rvx_fetch_to_fn(repo, src->key, &o, capture_tail, &c, err) != 0)
	{
		free(c.buf);
		if (c.no_memory)
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		if (c.overrun)
			return rvx_error(err, RVX_E_CORRUPT, "the delta of %s holds more than its header says",
							 what);
		return -1;
	}
	cap = c.content_len - c.from;
	if (c.content_len < RVX_DELTA_TRAILER_LEN ||
		rvx_delta_trailer_decode(c.buf + cap - RVX_DELTA_TRAILER_LEN, c.content_len, &t) != 0 ||
		t.block_size < MIN_BLOCK_SIZE)
	{
		free(c.buf);
		return rvx_error(err, RVX_E_CORRUPT, "the delta of %s is not a page delta", what);
	}
	if (t.file_size % t.block_size != 0 || t.file_size / t.block_size > UINT32_MAX ||
		(m->block_size != 0 && t.block_size != m->block_size))
	{
		free(c.buf);
		return rvx_error(err, RVX_E_CORRUPT, "the delta of %s gives an impossible file or page size",
						 what);
	}

	/* keep the index and trailer (which a page size of at least MIN_BLOCK_SIZE fits in cap) */
	d->tail_len = (size_t) t.nblocks * 4 + RVX_DELTA_TRAILER_LEN;
	d->content_len = c.content_len;
	d->block_size = t.block_size;
	d->nblocks = t.nblocks;
	if (c.from == 0 && c.content_len <= RING_BYTES)
	{
		/* all of it: its pages become a full ring, read once */
		if ((d->tail = malloc(d->tail_len)) == NULL)
		{
			free(c.buf);
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		}
		memcpy(d->tail, c.buf + cap - d->tail_len, d->tail_len);
		d->ring = c.buf;
		d->ring_count = (size_t) t.nblocks * t.block_size;
		d->done = true;
	}
	else
	{
		memmove(c.buf, c.buf + cap - d->tail_len, d->tail_len);
		d->tail = realloc(c.buf, d->tail_len);
		if (d->tail == NULL)
			d->tail = c.buf;
	}
	nmap = t.file_size / t.block_size;
	for (uint32_t i = 0; i < t.nblocks; i++)
	{
		uint32_t	blkno = block_of(d, i);

		if ((uint64_t) blkno >= nmap || (i > 0 && blkno <= block_of(d, i - 1)))
			return rvx_error(err, RVX_E_CORRUPT, "the delta of %s lists block %u out of place",
							 what, blkno);
	}
	m->block_size = t.block_size;
	m->file_size = t.file_size;
	return 0;
}

/* ---------------------------------------------------------------- second read */

/* The second read's content: pages into the ring, then the end compared with the first read's. */
static int
give_pages(void *arg, const RvxObjectHeader *hdr, uint64_t offset, const void *data, size_t len)
{
	Delta	   *d = arg;
	uint64_t	pages_len = (uint64_t) d->nblocks * d->block_size;
	const uint8_t *p = data;

	if (hdr->raw_size != d->content_len || offset + len > d->content_len)
	{
		d->differs = true;
		return -1;
	}
	if (d->src.cancel && *d->src.cancel)
		return -1;
	while (len > 0 && offset < pages_len)
	{
		size_t		n = pages_len - offset < len ? (size_t) (pages_len - offset) : len;
		size_t		at;
		size_t		first;

		pthread_mutex_lock(&d->lock);
		while (d->ring_count == RING_BYTES && !d->stop)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stop)
		{
			pthread_mutex_unlock(&d->lock);
			return -1;
		}
		if (n > RING_BYTES - d->ring_count)
			n = RING_BYTES - d->ring_count;
		at = (d->ring_head + d->ring_count) % RING_BYTES;
		first = n < RING_BYTES - at ? n : RING_BYTES - at;
		memcpy(d->ring + at, p, first);
		memcpy(d->ring, p + first, n - first);
		d->ring_count += n;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		p += n;
		len -= n;
		offset += n;
	}
	if (len > 0 && memcmp(d->tail + (offset - pages_len), p, len) != 0)
	{
		d->differs = true;
		return -1;
	}
	return 0;
}

static void *
stream_pages(void *arg)
{
	Delta	   *d = arg;
	RvxFetchOptions o = RVX_FETCH_OPTIONS_INIT;
	RvxError	err = {0};
	RvxRepo    *repo = rvx_repo_open(d->src.repo, &err);
	int			rc = -1;

	if (repo != NULL)
	{
		o.expect_system_id = d->src.system_id;
		o.expect_sha256 = d->has_sha ? d->object_sha : NULL;
		o.expect_size = (int64_t) d->content_len;
		o.cancel = (const volatile int *) &d->stop;
		o.digest_by_filter = !d->src.check_digest;
		rc = rvx_fetch_to_fn(repo, d->key, &o, give_pages, d, &err);
		rvx_repo_close(repo);
	}
	if (rc != 0 && d->differs)
		rvx_error(&err, RVX_E_CORRUPT, "the delta of %s was not the same when read again", d->what);
	pthread_mutex_lock(&d->lock);
	d->done = true;
	d->failed = rc != 0;
	d->error = err;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int
rvx_delta_merge_start(RvxDeltaMerge *m, RvxError *err)
{
	if (m->ndeltas == 0)
		return rvx_error(err, RVX_E_INTERNAL, "rebuilding a file without a delta");
	if ((m->cur_page = malloc(m->block_size)) == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	for (int i = 0; i < m->ndeltas; i++)
	{
		Delta	   *d = m->deltas[i];
		int			rc;

		if (d->nblocks == 0 || d->done)
			continue;			/* no page to stream, or all of them kept */
		if ((d->ring = malloc(RING_BYTES)) == NULL)
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		if ((rc = pthread_create(&d->thread, NULL, stream_pages, d)) != 0)
			return rvx_error(err, RVX_E_INTERNAL, "could not start a thread: %s", strerror(rc));
		d->started = true;
	}
	return 0;
}

/* ---------------------------------------------------------------- merging */

/* Takes d's next page into page, or passes over it (page NULL). */
static int
take_page(RvxDeltaMerge *m, Delta *d, uint8_t *page)
{
	size_t		got = 0;

	if (d->src.cancel && *d->src.cancel)
	{
		m->failed = true;
		rvx_error(&m->error, RVX_E_INTERNAL, "rebuilding from the delta of %s was cancelled",
				  d->what);
		return -1;
	}
	pthread_mutex_lock(&d->lock);
	while (got < m->block_size)
	{
		size_t		n = m->block_size - got;

		while (d->ring_count == 0 && !d->done)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->ring_count == 0)
		{
			m->failed = true;
			if (d->failed)
				m->error = d->error;
			else
				rvx_error(&m->error, RVX_E_CORRUPT, "the delta of %s ended before its pages",
						  d->what);
			pthread_mutex_unlock(&d->lock);
			return -1;
		}
		if (n > d->ring_count)
			n = d->ring_count;
		if (n > RING_BYTES - d->ring_head)
			n = RING_BYTES - d->ring_head;
		if (page)
			memcpy(page + got, d->ring + d->ring_head, n);
		d->ring_head = (d->ring_head + n) % RING_BYTES;
		d->ring_count -= n;
		got += n;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
	d->next++;
	return 0;
}

/*
 * The page of block blk from the newest delta that has one, or NULL: the
 * whole copy's stands.  Blocks are asked for in ascending order, so each
 * delta's pages before blk, which a newer delta's replaced, are passed
 * over on the way.
 */
static int
page_at(RvxDeltaMerge *m, uint64_t blk, const uint8_t **page)
{
	bool		found = false;

	if (m->cur_set && blk == m->cur_blk)
	{
		*page = m->cur_found ? m->cur_page : NULL;
		return 0;
	}
	if (m->cur_set && blk < m->cur_blk)
	{
		m->failed = true;
		rvx_error(&m->error, RVX_E_INTERNAL, "rebuilding: block %llu asked for after block %llu",
				  (unsigned long long) blk, (unsigned long long) m->cur_blk);
		return -1;
	}
	for (int i = m->ndeltas; i-- > 0;)
	{
		Delta	   *d = m->deltas[i];

		while (d->next < d->nblocks && block_of(d, d->next) <= blk)
		{
			bool		mine = !found && block_of(d, d->next) == blk;

			if (take_page(m, d, mine ? m->cur_page : NULL) != 0)
				return -1;
			found = found || mine;
		}
	}
	m->cur_set = true;
	m->cur_blk = blk;
	m->cur_found = found;
	*page = found ? m->cur_page : NULL;
	return 0;
}

/* Puts into out[0..len), the rebuilt file's bytes at offset, the deltas' pages where they have them. */
static int
overlay(RvxDeltaMerge *m, uint64_t offset, uint8_t *out, size_t len)
{
	uint64_t	bs = m->block_size;

	for (uint64_t pos = offset; pos < offset + len;)
	{
		uint64_t	in = pos % bs;
		uint64_t	n = bs - in;
		const uint8_t *page;

		if (n > offset + len - pos)
			n = offset + len - pos;
		if (page_at(m, pos / bs, &page) != 0)
			return -1;
		if (page)
			memcpy(out + (pos - offset), page + in, (size_t) n);
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

	if (m->failed)
		return -1;
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

/*
 * Every delta read to its end (pages the rebuilt file does not reach are
 * passed over) and its thread's verdict: -1 with m->error if any failed.
 */
static int
deltas_finish(RvxDeltaMerge *m)
{
	for (int i = 0; i < m->ndeltas; i++)
	{
		Delta	   *d = m->deltas[i];

		while (d->next < d->nblocks)
			if (take_page(m, d, NULL) != 0)
				return -1;
		if (!d->started)
			continue;
		pthread_mutex_lock(&d->lock);
		while (!d->done)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->failed)
		{
			m->failed = true;
			m->error = d->error;
		}
		pthread_mutex_unlock(&d->lock);
		if (m->failed)
			return -1;
	}
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
		rvx_delta_merge_reason(m, err);
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
				rvx_delta_merge_reason(m, err);
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
	if (deltas_finish(m) != 0)
	{
		rvx_delta_merge_reason(m, err);
		goto out;
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
		rvx_delta_merge_reason(m, err);
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
rvx_delta_merge_reason(const RvxDeltaMerge *m, RvxError *err)
{
	if (m->failed && err)
		*err = m->error;
}

void
rvx_delta_merge_free(RvxDeltaMerge *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->ndeltas; i++)
		delta_free(m->deltas[i]);
	free(m->cur_page);
	free(m->buf);
	rvx_sha256_free(m->sha);
	free(m);
}
