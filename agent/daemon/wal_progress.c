/*-------------------------------------------------------------------------
 *
 * wal_progress.c
 *	  The recovery point of `revrx-agent run` (see wal_progress.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "info/wal_partial.h"
#include "daemon/wal_progress.h"

/* What is known of one segment of one timeline. */
typedef struct Seg
{
	bool		used;
	uint32_t	tli;
	uint64_t	segno;
	bool		complete;		/* stored complete (or PostgreSQL's .partial) */
	double		complete_at;
	char		complete_name[RVX_WALNAME_MAXLEN + 1];
	bool		base;			/* every byte before the segment is stored */
	bool		base_asked;		/* rvx_wal_progress_needs_base said so once */
	RvxStreamedName *ranges;	/* streamed partials stored */
	double	   *range_at;
	size_t		nranges;
	size_t		cap;
} Seg;

struct RvxWalProgress
{
	uint64_t	segsize;
	Seg			segs[RVX_WAL_PROGRESS_SEGMENTS];
	bool		has_point;
	/*
	 * A segment beyond the recovery point was forgotten (evicted for a newer
	 * one): the point may be stuck where it was, so the anchor question may
	 * be asked again (rvx_wal_progress_needs_base).
	 */
	bool		lost;
	uint64_t	end;
	double		written_at;
	char		name[RVX_WALNAME_MAXLEN + 1];
};

RvxWalProgress *
rvx_wal_progress_new(uint64_t segment_size)
{
	RvxWalProgress *p;

	if (segment_size == 0)
		return NULL;
	p = calloc(1, sizeof(RvxWalProgress));
	if (p)
		p->segsize = segment_size;
	return p;
}

static void
seg_clear(Seg *s)
{
	free(s->ranges);
	free(s->range_at);
	memset(s, 0, sizeof(*s));
}

void
rvx_wal_progress_free(RvxWalProgress *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < RVX_WAL_PROGRESS_SEGMENTS; i++)
		seg_clear(&p->segs[i]);
	free(p);
}

/* The timeline and segment number of a WAL file name; false for other names. */
static bool
name_segno(const RvxWalProgress *p, const char *name, uint32_t *tli, uint64_t *segno)
{
	return rvx_walname_segno(name, p->segsize, tli, segno);
}

static Seg *
find_seg(RvxWalProgress *p, uint32_t tli, uint64_t segno, bool create)
{
	Seg		   *victim = NULL;

	for (int i = 0; i < RVX_WAL_PROGRESS_SEGMENTS; i++)
	{
		Seg		   *s = &p->segs[i];

		if (s->used && s->tli == tli && s->segno == segno)
			return s;
		/* a free slot, else the oldest segment */
		if (victim == NULL || (victim->used && (!s->used || s->segno < victim->segno)))
			victim = s;
	}
	if (!create)
		return NULL;
	if (victim->used && !(p->has_point && p->end >= (victim->segno + 1) * p->segsize))
		p->lost = true;
	seg_clear(victim);
	victim->used = true;
	victim->tli = tli;
	victim->segno = segno;
	return victim;
}

/* Moves the recovery point to end, if that is further. */
static bool
advance(RvxWalProgress *p, uint64_t end, double written_at, const char *name)
{
	if (p->has_point && end <= p->end)
		return false;
	p->has_point = true;
	p->end = end;
	p->written_at = written_at;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return true;
}

/* How far segment s takes the recovery point, once its start is reached. */
static bool
seg_reach(const RvxWalProgress *p, const Seg *s, uint64_t *end, double *at, char *name,
		  size_t cap)
{
	uint64_t	start = s->segno * p->segsize;
	RvxPartialChain chain;
	size_t	   *links;
	const RvxStreamedName *last;

	if (s->complete)
	{
		*end = start + p->segsize;
		*at = s->complete_at;
		snprintf(name, cap, "%s", s->complete_name);
		return true;
	}
	if (s->nranges == 0 || (links = malloc(s->nranges * sizeof(size_t))) == NULL)
		return false;
	rvx_partial_chain(s->ranges, s->nranges, links, &chain);
	if (!chain.found)
	{
		free(links);
		return false;
	}
	last = &s->ranges[links[chain.nlinks - 1]];
	*end = start + chain.end;
	*at = s->range_at[links[chain.nlinks - 1]];
	if (rvx_walname_streamed(last->segment, last->generation, last->start, last->end,
							 name, cap) != 0)
		name[0] = '\0';
	free(links);
	return true;
}

/* Moves the recovery point through every segment it reaches. */
static bool
settle(RvxWalProgress *p)
{
	bool		moved = false;
	bool		again = true;

	while (again)
	{
		again = false;
		for (int i = 0; i < RVX_WAL_PROGRESS_SEGMENTS; i++)
		{
			Seg		   *s = &p->segs[i];
			uint64_t	start = s->segno * p->segsize;
			uint64_t	end;
			double		at;
			char		name[RVX_WALNAME_MAXLEN + 1];

			if (!s->used || !(s->base || (p->has_point && p->end >= start)))
				continue;
			if (seg_reach(p, s, &end, &at, name, sizeof(name)) && advance(p, end, at, name))
				moved = again = true;
		}
	}
	return moved;
}

bool
rvx_wal_progress_stored(RvxWalProgress *p, const char *name, double written_at)
{
	RvxWalKind	kind = rvx_walname_kind(name);
	uint32_t	tli;
	uint64_t	segno;
	Seg		   *s;

	if ((kind != RVX_WAL_SEGMENT && kind != RVX_WAL_PARTIAL && kind != RVX_WAL_STREAMED) ||
		!name_segno(p, name, &tli, &segno) || (s = find_seg(p, tli, segno, true)) == NULL)
		return false;
	if (kind == RVX_WAL_STREAMED)
	{
		RvxStreamedName r;

		if (rvx_walname_streamed_parse(name, &r) != 0 || r.end > p->segsize)
			return false;
		if (s->nranges == s->cap)
		{
			size_t		cap = s->cap ? s->cap * 2 : 8;
			RvxStreamedName *nr = realloc(s->ranges, cap * sizeof(RvxStreamedName));
			double	   *na;

			if (nr == NULL)
				return false;
			s->ranges = nr;
			na = realloc(s->range_at, cap * sizeof(double));
			if (na == NULL)
				return false;
			s->range_at = na;
			s->cap = cap;
		}
		s->ranges[s->nranges] = r;
		s->range_at[s->nranges] = written_at;
		s->nranges++;
	}
	else
	{
		s->complete = true;
		s->complete_at = written_at;
		snprintf(s->complete_name, sizeof(s->complete_name), "%s", name);

		/*
		 * Not a base for anything by itself: the segments before it may still
		 * be on their way (stored in parallel, or spooled ahead of the
		 * archiver's by the look-ahead workers).
		 */
	}
	/* the first segment of the first timeline: no WAL before it */
	if (tli == 1 && segno == 1)
		s->base = true;
	return settle(p);
}

bool
rvx_wal_progress_blocks(const RvxWalProgress *p, const char *pending, const char *stored)
{
	RvxWalKind	pk = rvx_walname_kind(pending);
	RvxWalKind	sk = rvx_walname_kind(stored);

	if ((pk != RVX_WAL_SEGMENT && pk != RVX_WAL_PARTIAL) ||
		(sk != RVX_WAL_SEGMENT && sk != RVX_WAL_PARTIAL && sk != RVX_WAL_STREAMED))
		return false;
	/* the same timeline; then fixed-width hex sorts as the segments do */
	if (strncmp(pending, stored, 8) != 0 || strncmp(pending, stored, RVX_WALNAME_SEGLEN) >= 0)
		return false;
	/* already behind the recovery point (its partials got there first) */
	return !rvx_wal_progress_covers(p, pending);
}

bool
rvx_wal_progress_needs_base(RvxWalProgress *p, const char *stored, char *prev, size_t cap)
{
	uint32_t	tli;
	uint64_t	segno;
	Seg		   *s;
	RvxWalKind	kind = rvx_walname_kind(stored);

	if ((kind != RVX_WAL_STREAMED && kind != RVX_WAL_SEGMENT && kind != RVX_WAL_PARTIAL) ||
		!name_segno(p, stored, &tli, &segno) || segno == 0 ||
		(s = find_seg(p, tli, segno, false)) == NULL)
		return false;
	/* only for the anchor: once there is a point, the WAL after it counts in order */
	if (p->has_point && !p->lost)
		return false;
	if (s->base || s->base_asked || (p->has_point && p->end >= segno * p->segsize))
		return false;
	s->base_asked = true;
	p->lost = false;
	if (cap <= RVX_WALNAME_SEGLEN)
		return false;
	rvx_walname_segment(tli, segno - 1, p->segsize, prev);
	return true;
}

bool
rvx_wal_progress_base(RvxWalProgress *p, const char *segment, bool complete)
{
	uint32_t	tli;
	uint64_t	segno;
	Seg		   *s;

	if (!complete || !name_segno(p, segment, &tli, &segno) ||
		(s = find_seg(p, tli, segno, false)) == NULL)
		return false;
	s->base = true;
	return settle(p);
}

bool
rvx_wal_progress_point(const RvxWalProgress *p, char *name, size_t cap, uint64_t *end,
					   double *written_at)
{
	if (!p->has_point)
		return false;
	if (name)
		snprintf(name, cap, "%s", p->name);
	if (end)
		*end = p->end;
	if (written_at)
		*written_at = p->written_at;
	return true;
}

bool
rvx_wal_progress_covers(const RvxWalProgress *p, const char *segment)
{
	uint32_t	tli;
	uint64_t	segno;

	return p->has_point && name_segno(p, segment, &tli, &segno) &&
		p->end >= (segno + 1) * p->segsize;
}

/* What is remembered of the segment of a WAL file name, or NULL. */
static Seg *
remembered(RvxWalProgress *p, const char *name)
{
	uint32_t	tli;
	uint64_t	segno;

	return name_segno(p, name, &tli, &segno) ? find_seg(p, tli, segno, false) : NULL;
}

bool
rvx_wal_progress_stored_complete(RvxWalProgress *p, const char *segment)
{
	Seg		   *s = remembered(p, segment);

	return s != NULL && s->complete;
}

bool
rvx_wal_progress_segment_stored(RvxWalProgress *p, const char *segment)
{
	Seg		   *s = remembered(p, segment);

	return s != NULL && s->complete && rvx_walname_kind(s->complete_name) == RVX_WAL_SEGMENT;
}

size_t
rvx_wal_progress_partials_stored(RvxWalProgress *p, const char *segment)
{
	Seg		   *s = remembered(p, segment);

	return s != NULL ? s->nranges : 0;
}
