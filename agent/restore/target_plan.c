/*-------------------------------------------------------------------------
 *
 * target_plan.c
 *	  rvx_target_plan(): the part of recovery targets that reads the
 *	  repository (see target.h).
 *
 * What it reads, and why no more: the list of backups (keys only), the
 * records of the oldest complete backup (the start of the reachable range)
 * and of the backups it considers, newest first, until one ends before the
 * target (for a time target, backups whose id says they started after it
 * are passed over unread); one listing of wal/ and a HEAD of the last
 * object of each timeline (the end of the range: the end of the newest
 * complete segment, or of the chain of streamed partials after it, which
 * wal-fetch would serve (wal_partial.h): the ranges are in the names, and
 * a chain that fills a segment continues into the next); and for a restore
 * point its record, restore_points/<name>.json[.zst|.gz|.lz4].
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "info/fetch.h"
#include "info/wal_partial.h"
#include "restore/target.h"
#include "walname.h"

#define USECS_PER_SEC	INT64_C(1000000)
#define RESTORE_POINT_MAX_BYTES (64 * 1024)

/* A streamed partial seen in the listing. */
typedef struct WalRange
{
	uint64_t	segno;
	RvxStreamedName r;
	char		key[256];
} WalRange;

/* The last WAL stored for one timeline: segment (or .partial), and the streamed partials. */
typedef struct WalTimeline
{
	uint32_t	tli;
	bool		has_complete;
	uint64_t	complete_segno; /* the newest complete segment (or .partial) */
	char		key[256];		/* its key */
	WalRange   *ranges;
	size_t		nranges;
	size_t		cap;
} WalTimeline;

typedef struct WalScan
{
	uint64_t	segsize;
	uint32_t	max_tli;		/* 0: every timeline */
	WalTimeline *tl;
	size_t		ntl;
	size_t		cap;
	RvxError   *err;
} WalScan;

static int
wal_key(void *arg, const char *key, uint64_t size)
{
	WalScan    *ws = arg;
	char		name[RVX_WALNAME_MAXLEN + 1];
	RvxWalKind	kind;
	uint32_t	tli;
	uint64_t	segno;
	RvxStreamedName r;
	WalTimeline *t = NULL;

	if (rvx_wal_key_name(key, name, NULL) != 0)
		return 0;
	kind = rvx_walname_kind(name);
	if (kind != RVX_WAL_SEGMENT && kind != RVX_WAL_PARTIAL && kind != RVX_WAL_STREAMED)
		return 0;
	if (!rvx_walname_segno(name, ws->segsize, &tli, &segno))
		return 0;
	if (ws->max_tli != 0 && tli > ws->max_tli)
		return 0;
	if (kind == RVX_WAL_STREAMED &&
		(rvx_walname_streamed_parse(name, &r) != 0 || r.end > ws->segsize ||
		 !rvx_partial_key_parse(r.segment, key, &r)))
		return 0;
	for (size_t i = 0; i < ws->ntl; i++)
		if (ws->tl[i].tli == tli)
			t = &ws->tl[i];
	if (t == NULL)
	{
		if (ws->ntl == ws->cap)
		{
			size_t		ncap = ws->cap ? ws->cap * 2 : 8;
			WalTimeline *n = realloc(ws->tl, ncap * sizeof(WalTimeline));

			if (n == NULL)
				return rvx_error(ws->err, RVX_E_INTERNAL, "out of memory");
			ws->tl = n;
			ws->cap = ncap;
		}
		t = &ws->tl[ws->ntl++];
		memset(t, 0, sizeof(*t));
		t->tli = tli;
	}
	if (kind != RVX_WAL_STREAMED)
	{
		if (!t->has_complete || segno >= t->complete_segno)
		{
			t->has_complete = true;
			t->complete_segno = segno;
			snprintf(t->key, sizeof(t->key), "%s", key);
		}
		return 0;
	}
	if (t->nranges == t->cap)
	{
		size_t		ncap = t->cap ? t->cap * 2 : 16;
		WalRange   *n = realloc(t->ranges, ncap * sizeof(WalRange));

		if (n == NULL)
			return rvx_error(ws->err, RVX_E_INTERNAL, "out of memory");
		t->ranges = n;
		t->cap = ncap;
	}
	t->ranges[t->nranges].segno = segno;
	t->ranges[t->nranges].r = r;
	snprintf(t->ranges[t->nranges].key, sizeof(t->ranges[t->nranges].key), "%s", key);
	t->nranges++;
	return 0;
}

/*
 * Where the WAL of timeline t that recovery can replay ends, and the key
 * of the object that holds its last byte: after the newest complete
 * segment, the chains of streamed partials (rvx_partial_chain) as long as
 * each fills its segment.  1 when found, 0 when t holds none of either,
 * -1 when out of memory (a timeline left out would put the end of the
 * archive too early).
 */
static int
timeline_end(const WalTimeline *t, uint64_t segsize, uint64_t *end, char *key, size_t cap,
			 RvxError *err)
{
	uint64_t	segno;
	bool		found = false;
	RvxStreamedName *rs = malloc((t->nranges ? t->nranges : 1) * sizeof(RvxStreamedName));
	size_t	   *links = malloc((t->nranges ? t->nranges : 1) * sizeof(size_t));
	size_t	   *idx = malloc((t->nranges ? t->nranges : 1) * sizeof(size_t));

	if (rs == NULL || links == NULL || idx == NULL)
	{
		free(rs);
		free(links);
		free(idx);
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	if (t->has_complete)
	{
		found = true;
		segno = t->complete_segno + 1;
		*end = segno * segsize;
		snprintf(key, cap, "%s", t->key);
	}
	else
	{
		/* no complete segment: from the first segment with partials */
		segno = UINT64_MAX;
		for (size_t i = 0; i < t->nranges; i++)
			if (t->ranges[i].segno < segno)
				segno = t->ranges[i].segno;
	}
	for (;;)
	{
		size_t		n = 0;
		RvxPartialChain chain;

		for (size_t i = 0; i < t->nranges; i++)
			if (t->ranges[i].segno == segno)
			{
				idx[n] = i;
				rs[n++] = t->ranges[i].r;
			}
		rvx_partial_chain(rs, n, links, &chain);
		if (!chain.found)
			break;
		found = true;
		*end = segno * segsize + chain.end;
		snprintf(key, cap, "%s", t->ranges[idx[links[chain.nlinks - 1]]].key);
		if (chain.end < segsize)
			break;
		segno++;
	}
	free(rs);
	free(links);
	free(idx);
	return found ? 1 : 0;
}

/*
 * The end of the archive: the end of the last segment stored (over the
 * timelines recovery may follow), and the newest of their store times.
 */
static int
scan_wal(RvxRepo *repo, const RvxClusterInfo *ci, uint32_t max_tli, RvxReach *r, RvxError *err)
{
	WalScan		ws = {0};
	int			rc = -1;

	if (ci->wal_segment_size == 0 || (ci->wal_segment_size & (ci->wal_segment_size - 1)) != 0)
		return rvx_error(err, RVX_E_CORRUPT, "repo.json of %s has an invalid WAL segment size",
						 repo->display);
	ws.segsize = ci->wal_segment_size;
	ws.max_tli = max_tli;
	ws.err = err;
	if (rvx_repo_list(repo, "wal/", wal_key, &ws, err) != 0)
		goto out;
	for (size_t i = 0; i < ws.ntl; i++)
	{
		RvxObjectInfo info = {0};
		uint64_t	end = 0;
		char		key[256];
		int			found;

		found = timeline_end(&ws.tl[i], ws.segsize, &end, key, sizeof(key), err);
		if (found < 0)
			goto out;
		if (found == 0)
			continue;
		found = rvx_repo_head(repo, key, &info, err);
		if (found < 0)
			goto out;
		if (!r->has_wal || end > r->last_lsn)
			r->last_lsn = end;
		r->has_wal = true;
		if (found == 1 && info.mtime > 0 &&
			(info.mtime + 1) * USECS_PER_SEC > r->last_time_us)
			r->last_time_us = (info.mtime + 1) * USECS_PER_SEC;
	}
	rc = 0;
out:
	for (size_t i = 0; i < ws.ntl; i++)
		free(ws.tl[i].ranges);
	free(ws.tl);
	return rc;
}

/* Loads the record of ref and where it ends. */
static int
load_end(RvxRepo *repo, const RvxClusterInfo *ci, const RvxBackupRef *ref, RvxBackupEnd *end,
		 RvxError *err)
{
	json_t	   *record = NULL;
	int			rc;

	if (rvx_backup_record_load(repo, ref->record_key, ref->id, ci->system_id, &record, err) != 0)
		return -1;
	rc = rvx_backup_end_from_record(record, end, err);
	json_decref(record);
	return rc;
}

/* Names that can be part of a key: anything else cannot have been stored. */
static bool
name_is_key_safe(const char *name)
{
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (const char *c = name; *c; c++)
		if (*c == '/' || *c == '\\' || (unsigned char) *c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/*
 * Looks up restore_points/<name>.json[.zst|.gz|.lz4]: {"format":1,"name":...,
 * "lsn":"X/Y","time":...,"timeline":N,"wal":...}.  1 found, 0 not.
 */
static int
find_restore_point(RvxRepo *repo, const RvxClusterInfo *ci, const char *name,
				   RvxTargetPlan *plan, RvxError *err)
{
	char		key[256];
	int			found = 0;
	char	   *text = NULL;
	size_t		len;
	json_t	   *doc = NULL;
	json_error_t jerr;
	const char *lsn;
	const char *time;
	RvxError	local;

	if (!name_is_key_safe(name))
		return 0;
	for (int alg = RVX_COMPRESS_MAX; alg >= 0 && found == 0; alg--)
	{
		RvxObjectInfo info;

		snprintf(key, sizeof(key), "%s%s.json%s", RVX_RESTORE_POINT_PREFIX, name,
				 rvx_compression_suffix((RvxCompression) alg));
		found = rvx_repo_head(repo, key, &info, err);
		if (found < 0)
			return -1;
	}
	if (found == 0)
		return 0;
	if (rvx_fetch_to_buffer(repo, key, ci->system_id, RESTORE_POINT_MAX_BYTES, &text, &len, NULL,
							err) != 0)
		return -1;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	lsn = json_string_value(json_object_get(doc, "lsn"));
	time = json_string_value(json_object_get(doc, "time"));
	if (doc == NULL || json_integer_value(json_object_get(doc, "format")) != 1 ||
		!json_is_string(json_object_get(doc, "name")) ||
		strcmp(json_string_value(json_object_get(doc, "name")), name) != 0 ||
		lsn == NULL || rvx_target_parse_lsn(lsn, &plan->point_lsn, &local) != 0)
	{
		json_decref(doc);
		return rvx_error(err, RVX_E_CORRUPT,
						 "restore point record \"%s\" in %s is invalid (format 1 with its name and "
						 "an \"lsn\" expected)", key, repo->display);
	}
	snprintf(plan->point_time, sizeof(plan->point_time), "%s", time ? time : "?");
	plan->point_found = true;
	json_decref(doc);
	return 1;
}

static int
refuse_backup(const RvxRecoveryTarget *t, const RvxTargetPlan *plan, const RvxBackupEnd *b,
			  RvxError *err)
{
	char		what[128];
	char		when[64];
	char		lsn[32];

	rvx_target_describe(t, what, sizeof(what));
	rvx_time_format_short(b->stop_time_us, when, sizeof(when));
	rvx_target_format_lsn(b->stop_lsn, lsn, sizeof(lsn));
	if (t->kind == RVX_TARGET_XID)
		return rvx_error(err, RVX_E_USAGE,
						 "backup %s ends at %s (next xid %" PRIu64 "), after the target %s: "
						 "recovery from it cannot stop there; choose an older backup, or leave out "
						 "--backup to let the agent choose", b->id, when, b->next_xid, what);
	if (t->kind == RVX_TARGET_NAME)
	{
		char		plsn[32];

		rvx_target_format_lsn(plan->point_lsn, plsn, sizeof(plsn));
		return rvx_error(err, RVX_E_USAGE,
						 "backup %s ends at %s (LSN %s), after the target %s (LSN %s): recovery "
						 "from it cannot stop there; choose an older backup, or leave out --backup "
						 "to let the agent choose", b->id, when, lsn, what, plsn);
	}
	return rvx_error(err, RVX_E_USAGE,
					 "backup %s ends at %s (LSN %s), after the target %s: recovery from it cannot "
					 "stop there; choose an older backup, or leave out --backup to let the agent "
					 "choose", b->id, when, lsn, what);
}

/* The start time a backup id carries ("YYYYMMDDTHHMMSSZ..."); -1 if none. */
static int64_t
id_start_us(const char *id)
{
	char		iso[32];
	int64_t		us;
	RvxError	local;

	if (strlen(id) < 16 || id[8] != 'T' || id[15] != 'Z')
		return -1;
	snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2s %.2s:%.2s:%.2sZ", id, id + 4, id + 6, id + 9,
			 id + 11, id + 13);
	return rvx_target_parse_time(iso, &us, &local) == 0 ? us : -1;
}

int
rvx_target_plan(RvxRepo *repo, const RvxClusterInfo *ci, const RvxRecoveryTarget *t,
				const char *want, RvxTargetPlan *plan, RvxError *err)
{
	RvxBackupList list;
	const RvxBackupRef *oldest = NULL;
	RvxBackupEnd end;
	uint32_t	max_tli = 0;
	char		what[128];
	int			rc = -1;

	memset(plan, 0, sizeof(*plan));
	if (t->kind == RVX_TARGET_NONE || t->kind == RVX_TARGET_IMMEDIATE)
		return 0;
	if (want != NULL && strcmp(want, "latest") == 0)
		want = NULL;			/* "the newest that can reach the target" */
	if (t->timeline && t->timeline[0] >= '1' && t->timeline[0] <= '9')
		max_tli = (uint32_t) strtoul(t->timeline, NULL, 10);
	rvx_target_describe(t, what, sizeof(what));

	if (rvx_backup_list(repo, &list, err) != 0)
		return -1;
	for (size_t i = 0; i < list.n && oldest == NULL; i++)
		if (list.items[i].record_key[0])
			oldest = &list.items[i];
	if (oldest == NULL)
	{
		rvx_error(err, RVX_E_NOTFOUND, "repository %s holds no complete backup", repo->display);
		goto out;
	}

	if (t->kind == RVX_TARGET_NAME)
	{
		int			found = find_restore_point(repo, ci, t->value, plan, err);

		if (found < 0)
			goto out;
		if (found == 0 && want == NULL)
		{
			rvx_error(err, RVX_E_NOTFOUND,
					  "restore point \"%s\" is not recorded in %s, so no backup can be chosen for it; "
					  "give --backup ID of a backup taken before it to restore anyway",
					  t->value, repo->display);
			goto out;
		}
		if (found == 0)
			rvx_warn("restore point \"%s\" is not recorded in %s; recovery from backup %s stops "
					 "there if the archived WAL holds it", t->value, repo->display, want);
	}

	/* the reachable range */
	if (load_end(repo, ci, oldest, &end, err) != 0)
		goto out;
	plan->reach.has_backup = true;
	plan->reach.first_lsn = end.stop_lsn;
	plan->reach.first_time_us = end.stop_time_us;
	if (scan_wal(repo, ci, max_tli, &plan->reach, err) != 0)
		goto out;
	if (rvx_target_check_reach(t, plan->point_lsn, &plan->reach, err) != 0)
		goto out;

	if (want != NULL)
	{
		const RvxBackupRef *ref = rvx_backup_list_find(&list, want);
		int			ok;

		if (ref == NULL || ref->record_key[0] == '\0')
		{
			/* restore.c names the problem (missing or incomplete) */
			snprintf(plan->backup_id, sizeof(plan->backup_id), "%s", want);
			rc = 0;
			goto out;
		}
		if (load_end(repo, ci, ref, &end, err) != 0)
			goto out;
		ok = rvx_target_reachable_from(t, plan->point_lsn, &end);
		if (ok == 0)
		{
			refuse_backup(t, plan, &end, err);
			goto out;
		}
		if (ok < 0)
			rvx_warn("backup %s does not record its next xid (taken by an older revrx); it cannot be "
					 "checked against the target %s", ref->id, what);
		snprintf(plan->backup_id, sizeof(plan->backup_id), "%s", ref->id);
		rc = 0;
		goto out;
	}

	/* newest first: the least WAL to replay */
	for (size_t i = list.n; i > 0; i--)
	{
		const RvxBackupRef *ref = &list.items[i - 1];

		if (ref->record_key[0] == '\0')
			continue;
		/* started after a time target: ends after it too, no need to read it */
		if (t->kind == RVX_TARGET_TIME && id_start_us(ref->id) > t->time_us)
			continue;
		if (load_end(repo, ci, ref, &end, err) != 0)
			goto out;
		if (max_tli != 0 && end.timeline > max_tli)
			continue;
		if (rvx_target_reachable_from(t, plan->point_lsn, &end) == 1)
		{
			snprintf(plan->backup_id, sizeof(plan->backup_id), "%s", ref->id);
			rc = 0;
			goto out;
		}
	}
	if (t->kind == RVX_TARGET_XID)
		rvx_error(err, RVX_E_USAGE,
				  "transaction %" PRIu64 " is older than the end of every backup in %s that records "
				  "its next xid: it began before the newest such backup ended, so recovery from "
				  "it cannot stop at its commit; give --backup ID of an older backup to use it "
				  "anyway", t->xid, repo->display);
	else
		rvx_error(err, RVX_E_USAGE,
				  "no backup in %s ends at or before the target %s%s", repo->display, what,
				  max_tli ? " on the timelines up to --target-timeline" : "");
out:
	rvx_backup_list_free(&list);
	return rc;
}
