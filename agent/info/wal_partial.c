/*-------------------------------------------------------------------------
 *
 * wal_partial.c
 *	  Streamed WAL partials in the repository (see wal_partial.h).
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "info/fetch.h"
#include "info/wal_partial.h"

/* The ranges of generation gen from offset 0 on, without a gap. */
static size_t
chain_of(const RvxStreamedName *r, size_t n, uint64_t gen, size_t *links, uint32_t *end)
{
	size_t		nlinks = 0;
	uint32_t	pos = 0;

	for (;;)
	{
		size_t		best = n;

		for (size_t i = 0; i < n; i++)
			if (r[i].generation == gen && r[i].start <= pos && r[i].end > pos &&
				(best == n || r[i].end > r[best].end))
				best = i;
		if (best == n)
			break;
		links[nlinks++] = best;
		pos = r[best].end;		/* grows each turn: the loop ends */
	}
	*end = pos;
	return nlinks;
}

void
rvx_partial_chain(const RvxStreamedName *ranges, size_t n, size_t *links,
				  RvxPartialChain *chain)
{
	bool		have_bound = false;
	uint64_t	bound = 0;		/* generations below it are still to try */

	memset(chain, 0, sizeof(*chain));
	for (;;)
	{
		bool		any = false;
		uint64_t	gen = 0;

		/* the newest generation not tried yet */
		for (size_t i = 0; i < n; i++)
			if ((!have_bound || ranges[i].generation < bound) &&
				(!any || ranges[i].generation > gen))
			{
				gen = ranges[i].generation;
				any = true;
			}
		if (!any)
			return;
		chain->nlinks = chain_of(ranges, n, gen, links, &chain->end);
		if (chain->nlinks > 0)
			break;
		have_bound = true;
		bound = gen;
	}
	chain->found = true;
	chain->generation = ranges[links[0]].generation;
	for (size_t i = 0; i < n; i++)
		if (ranges[i].generation > chain->generation ||
			(ranges[i].generation == chain->generation && ranges[i].end > chain->end))
			chain->gap_after = true;
}

bool
rvx_partial_key_parse(const char *segment, const char *key, RvxStreamedName *range)
{
	char		name[RVX_WALNAME_MAXLEN + 1];

	if (strncmp(key, "wal/", 4) != 0 ||
		rvx_wal_key_name(key, name, NULL) != 0 ||
		rvx_walname_streamed_parse(name, range) != 0 ||
		strcmp(range->segment, segment) != 0)
		return false;
	/* wal/<timeline>/ must be the segment's own timeline */
	return strlen(key) >= 13 && strncmp(key + 4, segment, 8) == 0 && key[12] == '/';
}

/* "wal/<timeline>/<segment>.": every partial of segment, nothing else. */
static int
partial_stem(const char *segment, char *out, size_t cap, RvxError *err)
{
	if (rvx_walname_kind(segment) != RVX_WAL_SEGMENT ||
		rvx_wal_object_key(segment, RVX_COMPRESS_NONE, out, cap - 1) != 0)
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL segment", segment);
	strcat(out, ".");
	return 0;
}

void
rvx_partial_set_free(RvxPartialSet *set)
{
	free(set->ranges);
	rvx_strvec_free(&set->keys);
	memset(set, 0, sizeof(*set));
}

int
rvx_partial_list(RvxRepo *repo, const char *segment, RvxPartialSet *set, RvxError *err)
{
	char		stem[256];
	RvxStrVec	keys = {0};
	int			rc = 0;

	memset(set, 0, sizeof(*set));
	if (partial_stem(segment, stem, sizeof(stem), err) != 0)
		return -1;
	/* list first, parse after: the listing's callback only keeps keys */
	if (rvx_repo_list(repo, stem, rvx_strvec_collect_key, &keys, err) != 0)
	{
		rvx_strvec_free(&keys);
		return -1;
	}
	for (size_t i = 0; i < keys.n && rc == 0; i++)
	{
		RvxStreamedName r;

		if (!rvx_partial_key_parse(segment, keys.s[i], &r))
			continue;
		if (set->keys.n == set->cap)
		{
			size_t		cap = set->cap ? set->cap * 2 : 16;
			RvxStreamedName *n = realloc(set->ranges, cap * sizeof(RvxStreamedName));

			if (n == NULL)
			{
				rc = rvx_error(err, RVX_E_INTERNAL, "out of memory");
				break;
			}
			set->ranges = n;
			set->cap = cap;
		}
		if (rvx_strvec_add(&set->keys, keys.s[i]) != 0)
		{
			rc = rvx_error(err, RVX_E_INTERNAL, "out of memory");
			break;
		}
		set->ranges[set->keys.n - 1] = r;
	}
	rvx_strvec_free(&keys);
	if (rc != 0)
		rvx_partial_set_free(set);
	return rc;
}

int
rvx_partial_remove_superseded(RvxRepo *repo, const char *segment, const RvxStreamedName *stored,
							  int *removed, RvxError *err)
{
	RvxPartialSet set;
	int			rc = 0;

	if (removed)
		*removed = 0;
	if (rvx_partial_list(repo, segment, &set, err) != 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < set.keys.n; i++)
	{
		if (stored != NULL && !rvx_streamed_supersedes(stored, &set.ranges[i]))
			continue;
		if (rvx_repo_remove(repo, set.keys.s[i], err) != 0)
			rc = -1;
		else if (removed)
			(*removed)++;
	}
	rvx_partial_set_free(&set);
	return rc;
}

bool
rvx_partial_key_is_later(const char *segment, uint64_t generation, const char *key)
{
	char		name[RVX_WALNAME_MAXLEN + 1];
	RvxStreamedName r;
	RvxWalKind	kind;

	if (strncmp(key, "wal/", 4) != 0 || rvx_wal_key_name(key, name, NULL) != 0)
		return false;
	/* the same timeline, under its own prefix */
	if (strlen(key) < 13 || strncmp(key + 4, segment, 8) != 0 || key[12] != '/' ||
		strncmp(name, segment, 8) != 0)
		return false;
	/* fixed-width upper-case hex: the names sort as the segments do */
	if (strncmp(name, segment, RVX_WALNAME_SEGLEN) <= 0)
		return false;
	kind = rvx_walname_kind(name);
	if (kind == RVX_WAL_SEGMENT || kind == RVX_WAL_PARTIAL)
		return true;
	if (kind == RVX_WAL_STREAMED && rvx_walname_streamed_parse(name, &r) == 0)
		return r.generation >= generation;
	return false;
}

typedef struct Later
{
	const char *segment;
	uint64_t	generation;
	char	   *found;
	size_t		cap;
	bool		any;
} Later;

static int
later_cb(void *arg, const char *key, uint64_t size)
{
	Later	   *l = arg;

	if (!rvx_partial_key_is_later(l->segment, l->generation, key))
		return 0;
	l->any = true;
	snprintf(l->found, l->cap, "%s", key);
	return 1;					/* one is enough */
}

int
rvx_partial_later_wal(RvxRepo *repo, const char *segment, uint64_t generation,
					  char *found, size_t cap, RvxError *err)
{
	char		prefix[32];
	char		after[64];
	Later		l = {segment, generation, found, cap, false};

	if (rvx_walname_kind(segment) != RVX_WAL_SEGMENT)
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL segment", segment);
	snprintf(prefix, sizeof(prefix), "wal/%.8s/", segment);
	snprintf(after, sizeof(after), "wal/%.8s/%s", segment, segment);
	/* what sorts before the segment cannot be later: skip it unread */
	if (rvx_repo_list_after(repo, prefix, after, later_cb, &l, err) != 0 && !l.any)
		return -1;
	return l.any ? 1 : 0;
}

void
rvx_wal_page_check_begin(RvxWalPageCheck *c, uint64_t segment_size, uint32_t tli,
						 uint64_t segno, uint32_t start)
{
	memset(c, 0, sizeof(*c));
	c->segment_lsn = segno * segment_size;
	c->tli = tli;
	c->pos = start;
	/* a range starting inside a header has only its later bytes */
	c->hdr_lo = c->hdr_hi = start % RVX_WAL_PAGE_SIZE < sizeof(c->hdr) ?
		start % RVX_WAL_PAGE_SIZE : 0;
}

/* Compares the header bytes read so far with what the name says. */
static int
check_header_bytes(const RvxWalPageCheck *c, uint64_t page, char *why, size_t cap)
{
	uint64_t	want = c->segment_lsn + page;

	/* xlp_tli: only whole (a "not above" check needs every byte) */
	if (c->hdr_lo <= 4 && c->hdr_hi >= 8)
	{
		uint32_t	tli = (uint32_t) c->hdr[4] | (uint32_t) c->hdr[5] << 8 |
			(uint32_t) c->hdr[6] << 16 | (uint32_t) c->hdr[7] << 24;

		if (tli == 0 || tli > c->tli)
		{
			snprintf(why, cap, "the WAL page at offset %" PRIX64 " was written by timeline %u, "
					 "not by timeline %u or one of its parents as its name says",
					 page, (unsigned int) tli, (unsigned int) c->tli);
			return -1;
		}
	}
	/* xlp_pageaddr: byte by byte, as far as it is there */
	for (uint32_t i = c->hdr_lo > 8 ? c->hdr_lo : 8; i < c->hdr_hi; i++)
		if (c->hdr[i] != (uint8_t) (want >> (8 * (i - 8))))
		{
			uint64_t	have = 0;

			for (uint32_t j = 8; j < 16; j++)
				have |= (uint64_t) c->hdr[j] << (8 * (j - 8));
			snprintf(why, cap, "the WAL page at offset %" PRIX64 " has address %X/%X%s, "
					 "where its name says %X/%X",
					 page, (unsigned int) (have >> 32), (unsigned int) have,
					 c->hdr_lo > 8 || c->hdr_hi < 16 ? " (in part)" : "",
					 (unsigned int) (want >> 32), (unsigned int) want);
			return -1;
		}
	return 0;
}

int
rvx_wal_page_check_feed(RvxWalPageCheck *c, const void *data, size_t len, char *why, size_t cap)
{
	const uint8_t *p = data;

	while (len > 0)
	{
		uint64_t	in_page = c->pos % RVX_WAL_PAGE_SIZE;
		size_t		n;

		if (in_page < sizeof(c->hdr))
		{
			/* header bytes: collect them, and check what is there */
			n = sizeof(c->hdr) - (size_t) in_page;
			if (n > len)
				n = len;
			if (in_page == 0)
				c->hdr_lo = c->hdr_hi = 0;
			memcpy(c->hdr + in_page, p, n);
			c->hdr_hi = (uint32_t) (in_page + n);
			if (check_header_bytes(c, c->pos - in_page, why, cap) != 0)
				return -1;
		}
		else
		{
			/* the rest of the page */
			n = RVX_WAL_PAGE_SIZE - (size_t) in_page;
			if (n > len)
				n = len;
		}
		c->pos += n;
		p += n;
		len -= n;
	}
	return 0;
}

bool
rvx_history_branch_in(const char *text, uint32_t tli, uint64_t from, uint64_t to, uint64_t *lsn)
{
	bool		found = false;

	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
	{
		unsigned int parent,
					hi,
					lo;
		uint64_t	at;

		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || sscanf(line, "%u %X/%X", &parent, &hi, &lo) != 3 || parent != tli)
			continue;
		at = (uint64_t) hi << 32 | lo;
		if (at >= from && at < to && (!found || at < *lsn))
		{
			*lsn = at;
			found = true;
		}
	}
	return found;
}

/* History files are small: PostgreSQL's own are a line per timeline. */
#define HISTORY_MAX_BYTES	(1024 * 1024)
/* A bound on the probe, far above any real number of timelines after one. */
#define HISTORY_MAX_PROBE	10000

int
rvx_partial_branch_point(RvxRepo *repo, uint64_t system_id, const char *segment,
						 uint64_t segment_size, uint64_t *lsn, char *history, size_t cap,
						 RvxError *err)
{
	uint32_t	tli;
	uint64_t	from;
	int			found = 0;

	if (rvx_walname_kind(segment) != RVX_WAL_SEGMENT ||
		!rvx_walname_segno(segment, segment_size, &tli, &from))
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL segment", segment);
	from *= segment_size;
	for (uint64_t t = (uint64_t) tli + 1; t <= UINT32_MAX && t <= (uint64_t) tli + HISTORY_MAX_PROBE; t++)
	{
		char		name[32];
		char		key[256];
		RvxObjectInfo info;
		char	   *text = NULL;
		uint64_t	at;
		int			rc;

		snprintf(name, sizeof(name), "%08X.history", (unsigned int) t);
		rc = rvx_wal_find(repo, name, RVX_COMPRESS_ZSTD, key, sizeof(key), &info, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		if (rvx_fetch_to_buffer(repo, key, system_id, HISTORY_MAX_BYTES, &text, NULL, NULL, err) != 0)
			return -1;
		if (rvx_history_branch_in(text, tli, from, from + segment_size, &at) &&
			(!found || at < *lsn))
		{
			*lsn = at;
			snprintf(history, cap, "%s", name);
			found = 1;
		}
		free(text);
	}
	return found;
}

size_t
rvx_partial_chain_parts(const RvxPartialSet *set, const size_t *links, size_t nlinks,
						uint32_t tli, uint64_t segno, uint64_t segment_size, uint32_t limit,
						RvxFetchPart *parts, RvxWalPageCheck *pages,
						uint8_t (*heads)[RVX_RANGE_HEADER_LEN])
{
	uint32_t	pos = 0;
	size_t		n = 0;

	for (size_t i = 0; i < nlinks && pos < limit; i++)
	{
		const RvxStreamedName *r = &set->ranges[links[i]];

		memset(&parts[i], 0, sizeof(parts[i]));
		parts[i].key = set->keys.s[links[i]];
		parts[i].expect_size = (int64_t) (r->end - r->start);
		parts[i].skip = pos - r->start;
		if (r->has_range_header)
		{
			/* the range says itself which WAL it holds; it must be what its name says */
			rvx_range_header_encode(tli, segno * segment_size + r->start,
									segno * segment_size + r->end, heads[i]);
			parts[i].head = heads[i];
			parts[i].head_len = RVX_RANGE_HEADER_LEN;
			parts[i].expect_size += RVX_RANGE_HEADER_LEN;
		}
		if (pages != NULL)
		{
			rvx_wal_page_check_begin(&pages[i], segment_size, tli, segno, r->start);
			parts[i].wal_pages = &pages[i];
		}
		pos = r->end;
		n++;
	}
	return n;
}
