/*-------------------------------------------------------------------------
 *
 * wal_partial.c
 *	  Streamed WAL partials in the repository (see wal_partial.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strvec.h"
#include "wal_partial.h"

void
rvx_partial_pick_init(RvxPartialPick *pick, const char *segment)
{
	memset(pick, 0, sizeof(*pick));
	snprintf(pick->segment, sizeof(pick->segment), "%s", segment);
}

bool
rvx_partial_older(uint64_t a, uint64_t a_off, uint64_t b, uint64_t b_off)
{
	return a < b || (a == b && a_off < b_off);
}

bool
rvx_partial_pick_key(RvxPartialPick *pick, const char *key)
{
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		segment[RVX_WALNAME_SEGLEN + 1];
	uint64_t	gen;
	uint32_t	off;

	if (strncmp(key, "wal/", 4) != 0 ||
		rvx_wal_key_name(key, name, NULL) != 0 ||
		rvx_walname_streamed_parse(name, segment, &gen, &off) != 0 ||
		strcmp(segment, pick->segment) != 0)
		return false;
	/* wal/<timeline>/ must be the segment's own timeline */
	if (strlen(key) < 13 || strncmp(key + 4, segment, 8) != 0 || key[12] != '/')
		return false;
	if (pick->found && !rvx_partial_older(pick->generation, pick->end_offset, gen, off))
		return false;
	if (strlen(key) >= sizeof(pick->key))
		return false;
	pick->found = true;
	pick->generation = gen;
	pick->end_offset = off;
	snprintf(pick->key, sizeof(pick->key), "%s", key);
	return true;
}

static int
pick_cb(void *arg, const char *key, uint64_t size)
{
	(void) rvx_partial_pick_key((RvxPartialPick *) arg, key);
	return 0;
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

int
rvx_partial_find_newest(RvxRepo *repo, const char *segment, RvxPartialPick *pick,
						RvxError *err)
{
	char		stem[256];

	rvx_partial_pick_init(pick, segment);
	if (partial_stem(segment, stem, sizeof(stem), err) != 0)
		return -1;
	if (rvx_repo_list(repo, stem, pick_cb, pick, err) != 0)
		return -1;
	return pick->found ? 1 : 0;
}

typedef struct Doomed
{
	const char *segment;
	uint64_t	below_gen;
	uint64_t	below;
	RvxStrVec	keys;
} Doomed;

static int
doomed_cb(void *arg, const char *key, uint64_t size)
{
	Doomed	   *d = arg;
	RvxPartialPick one;

	rvx_partial_pick_init(&one, d->segment);
	if (!rvx_partial_pick_key(&one, key) ||
		!rvx_partial_older(one.generation, one.end_offset, d->below_gen, d->below))
		return 0;
	return rvx_strvec_add(&d->keys, key);
}

int
rvx_partial_remove_older(RvxRepo *repo, const char *segment, uint64_t generation,
						 uint64_t end_offset, int *removed, RvxError *err)
{
	char		stem[256];
	Doomed		d = {0};
	int			rc = 0;

	if (removed)
		*removed = 0;
	if (partial_stem(segment, stem, sizeof(stem), err) != 0)
		return -1;
	d.segment = segment;
	d.below_gen = generation;
	d.below = end_offset;
	/* list first, remove after: a listing is not changed under its feet */
	if (rvx_repo_list(repo, stem, doomed_cb, &d, err) != 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < d.keys.n; i++)
	{
		if (rvx_repo_remove(repo, d.keys.s[i], err) != 0)
			rc = -1;
		else if (removed)
			(*removed)++;
	}
	rvx_strvec_free(&d.keys);
	return rc;
}

bool
rvx_partial_key_is_later(const char *segment, uint64_t generation, const char *key)
{
	char		name[RVX_WALNAME_MAXLEN + 1];
	char		seg[RVX_WALNAME_SEGLEN + 1];
	uint64_t	gen;
	uint32_t	off;
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
	if (kind == RVX_WAL_STREAMED &&
		rvx_walname_streamed_parse(name, seg, &gen, &off) == 0)
		return gen >= generation;
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
	Later		l = {segment, generation, found, cap, false};

	if (rvx_walname_kind(segment) != RVX_WAL_SEGMENT)
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL segment", segment);
	snprintf(prefix, sizeof(prefix), "wal/%.8s/", segment);
	if (rvx_repo_list(repo, prefix, later_cb, &l, err) != 0 && !l.any)
		return -1;
	return l.any ? 1 : 0;
}

bool
rvx_wal_pending_blocks(const char *pending, const char *stored)
{
	RvxWalKind	pk = rvx_walname_kind(pending);
	RvxWalKind	sk = rvx_walname_kind(stored);

	if ((pk != RVX_WAL_SEGMENT && pk != RVX_WAL_PARTIAL) ||
		(sk != RVX_WAL_SEGMENT && sk != RVX_WAL_PARTIAL && sk != RVX_WAL_STREAMED))
		return false;
	/* the same timeline; then fixed-width hex sorts as the segments do */
	return strncmp(pending, stored, 8) == 0 &&
		strncmp(pending, stored, RVX_WALNAME_SEGLEN) < 0;
}
