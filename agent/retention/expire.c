/*-------------------------------------------------------------------------
 *
 * expire.c
 *	  The deletion engine behind `revrx-agent expire`, leases and pins
 *	  (see expire.h; the policy itself is retention.c), and the thread that
 *	  runs it every REVRX_EXPIRE_INTERVAL_S in `revrx-agent run`.
 *
 * A run reads, in this order: repo.json, the leases, the backups, the WAL.
 * Leases are listed before backups on purpose.  A lease is stored before
 * the first object of its backup and removed only after the backup's
 * record is stored, so an id whose objects this run sees without a record
 * either had its lease listed already, or got it after the lease listing
 * (then all its objects are newer than that, and its id is far younger
 * than the grace period), or is committed (then the backup listing, which
 * comes later, saw its record).  The reverse order could see an
 * uncommitted backup, then miss the lease removed by its commit.
 *
 * Anything that cannot be read safely stops the run before it deletes
 * anything: an unreadable backup record (it might be the child that needs
 * an older backup), an unreadable WAL listing.  An unreadable lease is
 * honoured as the most conservative one: its id is kept, and all WAL.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/log.h"
#include "base/strvec.h"
#include "base/timefmt.h"
#include "info/audit.h"
#include "info/catalog.h"
#include "info/fetch.h"
#include "info/repo_meta.h"
#include "info/store.h"
#include "retention/expire.h"
#include "walname.h"

#define LEASE_MAX_LEN	65536

/* ---------------------------------------------------------------- helpers */

static void
report(const RvxExpireOptions *opts, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static void
report(const RvxExpireOptions *opts, const char *fmt,...)
{
	char		line[2048];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (opts->out)
	{
		fprintf(opts->out, "%s\n", line);
		fflush(opts->out);
	}
	else
		rvx_info("expire: %s", line);
}

static bool
cancelled(const RvxExpireOptions *opts)
{
	return opts->cancel && *opts->cancel;
}

/* Seconds since the epoch of an ISO time of a record; false if it has none. */
static bool
record_time(const json_t *o, const char *field, int64_t *out)
{
	const char *s = json_string_value(json_object_get(o, field));
	int64_t		us;
	const char *ignore;

	if (s == NULL || rvx_time_parse(s, &us, &ignore) != 0)
		return false;
	*out = us / 1000000;
	return true;
}

/* The start time a backup id names (YYYYMMDDTHHMMSSZ...), in epoch seconds. */
static bool
id_time(const char *id, int64_t *out)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (!rvx_backup_id_valid(id) ||
		sscanf(id, "%4d%2d%2dT%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t) timegm(&tm);
	return true;
}

/* ---------------------------------------------------------------- leases */

static void
lease_key(char *out, size_t cap, const char *id)
{
	snprintf(out, cap, "%s%s.json", RVX_LEASE_PREFIX, id);
}

/* The start_wal of the newest complete backup: a floor for one starting now. */
static int
newest_start_wal(RvxRepo *repo, uint64_t system_id, char *out, size_t cap, RvxError *err)
{
	RvxBackupList list;
	const RvxBackupRef *ref;
	json_t	   *record;
	int			rc = 0;

	*out = '\0';
	if (rvx_backup_list(repo, &list, err) != 0)
		return -1;
	ref = rvx_backup_list_latest(&list);
	if (ref)
	{
		if (rvx_backup_record_load(repo, ref->record_key, ref->id, system_id, &record, err) != 0)
			rc = -1;
		else
		{
			snprintf(out, cap, "%s", json_string_value(json_object_get(record, "start_wal")));
			json_decref(record);
		}
	}
	rvx_backup_list_free(&list);
	return rc;
}

int
rvx_lease_acquire(RvxRepo *repo, const char *id, uint64_t system_id, const char *tmpdir,
				  RvxError *err)
{
	char		key[RVX_BACKUP_ID_MAXLEN + 64];
	char		floor[RVX_WALNAME_MAXLEN + 1];
	char		host[256] = "";
	char		now[32];
	json_t	   *doc;
	char	   *text;
	int			rc;
	RvxObjectInfo info;

	lease_key(key, sizeof(key), id);
	rc = rvx_repo_head(repo, key, &info, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	/*
	 * With no complete backup, the floor is unknown (null): expire then
	 * keeps all WAL while this lease exists.
	 */
	if (newest_start_wal(repo, system_id, floor, sizeof(floor), err) != 0)
		return -1;
	gethostname(host, sizeof(host) - 1);
	rvx_iso_time(time(NULL), now, sizeof(now));
	doc = json_pack("{s:i, s:s, s:o, s:s, s:s, s:I}", "format", 1, "id", id,
					"start_wal", floor[0] ? json_string(floor) : json_null(),
					"started_at", now, "host", host, "pid", (json_int_t) getpid());
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	rc = rvx_store_text_object(repo, key, system_id, text, tmpdir, 0, err);
	free(text);
	if (rc != 0 && err && err->code == RVX_E_CONFLICT)
		return 0;				/* another worker's lease won the race: it is as good */
	if (rc == 0)
		rvx_info("backup %s: lease %s stored (WAL from %s on is kept)", id, key,
				 floor[0] ? floor : "the beginning");
	return rc;
}

int
rvx_lease_release(RvxRepo *repo, const char *id, RvxError *err)
{
	char		key[RVX_BACKUP_ID_MAXLEN + 64];

	lease_key(key, sizeof(key), id);
	return rvx_repo_remove(repo, key, err);
}

/* ---------------------------------------------------------------- pins */

static void
pin_key(char *out, size_t cap, const char *id)
{
	snprintf(out, cap, "%s%s/%s", RVX_BACKUP_KEY_PREFIX, id, RVX_PIN_NAME);
}

int
rvx_backup_is_pinned(RvxRepo *repo, const char *id, RvxError *err)
{
	char		key[RVX_BACKUP_ID_MAXLEN + 64];
	RvxObjectInfo info;

	pin_key(key, sizeof(key), id);
	return rvx_repo_head(repo, key, &info, err);
}

int
rvx_backup_pin(RvxRepo *repo, const char *id, bool pinned, RvxError *err)
{
	char		key[RVX_BACKUP_ID_MAXLEN + 64];
	char		text[256];
	RvxClusterInfo ci;
	RvxBackupList list;
	const RvxBackupRef *ref;
	bool		complete;

	if (!rvx_backup_id_valid(id))
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not a backup id", id);
	pin_key(key, sizeof(key), id);
	if (!pinned)
	{
		/*
		 * Unpinning what is not pinned changes nothing, but a mistyped id
		 * must not look like success: the backup the user meant would
		 * stay pinned.
		 */
		int			found = rvx_backup_is_pinned(repo, id, err);

		if (found < 0)
			return -1;
		if (found == 0)
			return rvx_error(err, RVX_E_NOTFOUND, "backup %s is not pinned in %s",
							 id, repo->display);
		return rvx_repo_remove(repo, key, err);
	}
	if (rvx_repo_meta_load(repo, &ci, err) != 0)
		return -1;
	if (rvx_backup_list(repo, &list, err) != 0)
		return -1;
	ref = rvx_backup_list_find(&list, id);
	complete = ref && ref->record_key[0];
	rvx_backup_list_free(&list);
	if (!complete)
		return rvx_error(err, RVX_E_NOTFOUND, "no complete backup %s in %s", id, repo->display);
	/* the same content every time, so pinning twice is a no-op */
	snprintf(text, sizeof(text), "{\"format\":1,\"id\":\"%s\",\"pinned\":true}", id);
	return rvx_store_text_object(repo, key, ci.system_id, text, NULL, 0, err);
}

/* ---------------------------------------------------------------- a run */

typedef struct Lease
{
	char		id[RVX_BACKUP_ID_MAXLEN + 1];
	bool		has_floor;		/* false: keep all WAL */
	uint64_t	floor;
	int64_t		started_at;		/* 0 if unknown */
} Lease;

typedef struct Item
{
	RvxRetainBackup rb;
	const RvxBackupRef *ref;
	char		parent[RVX_BACKUP_ID_MAXLEN + 1];
	bool		leased;
} Item;

typedef struct RunCtx
{
	RvxRepo    *repo;
	const RvxExpireOptions *opts;
	RvxExpireResult *res;
	RvxClusterInfo ci;
	Lease	   *leases;
	size_t		nleases;
	RvxBackupList list;
	Item	   *items;
	size_t		nitems;
} RunCtx;

static const Lease *
find_lease(const RunCtx *c, const char *id)
{
	for (size_t i = 0; i < c->nleases; i++)
		if (strcmp(c->leases[i].id, id) == 0)
			return &c->leases[i];
	return NULL;
}

/* Reads every lease; an unreadable one keeps its id and all WAL. */
static int
read_leases(RunCtx *c, RvxError *err)
{
	RvxStrVec		keys = {0};
	size_t		plen = strlen(RVX_LEASE_PREFIX);
	int			rc = 0;

	if (rvx_repo_list(c->repo, RVX_LEASE_PREFIX, rvx_strvec_collect_key, &keys, err) != 0)
		return -1;
	c->leases = calloc(keys.n ? keys.n : 1, sizeof(Lease));
	if (c->leases == NULL)
	{
		rvx_strvec_free(&keys);
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < keys.n; i++)
	{
		const char *key = keys.s[i];
		const char *dot = strstr(key + plen, ".json");
		Lease	   *l = &c->leases[c->nleases];
		char	   *text = NULL;
		size_t		len;
		json_t	   *doc = NULL;
		RvxError	lerr;
		char		when[32] = "an unknown time";

		if (dot == NULL || (size_t) (dot - key - plen) > RVX_BACKUP_ID_MAXLEN)
			continue;
		memcpy(l->id, key + plen, (size_t) (dot - key - plen));
		l->id[dot - key - plen] = '\0';
		if (!rvx_backup_id_valid(l->id))
			continue;
		c->nleases++;
		if (rvx_fetch_to_buffer(c->repo, key, c->ci.system_id, LEASE_MAX_LEN, &text, &len,
								NULL, &lerr) == 0)
			doc = json_loadb(text, len, 0, NULL);
		free(text);
		if (doc == NULL)
		{
			report(c->opts, "lease %s cannot be read: backup %s and all WAL are kept", key, l->id);
			continue;
		}
		{
			const char *floor = json_string_value(json_object_get(doc, "start_wal"));

			if (floor && rvx_retention_segno(floor, c->ci.wal_segment_size, &l->floor))
				l->has_floor = true;
		}
		if (record_time(doc, "started_at", &l->started_at))
			rvx_iso_time((time_t) l->started_at, when, sizeof(when));
		report(c->opts, "lease %s: backup %s is being shipped (since %s, host %s, pid %" PRId64
			   "); its objects and WAL from %s on are kept",
			   key, l->id, when,
			   json_string_value(json_object_get(doc, "host")) ?
			   json_string_value(json_object_get(doc, "host")) : "?",
			   (int64_t) json_integer_value(json_object_get(doc, "pid")),
			   l->has_floor ? json_string_value(json_object_get(doc, "start_wal")) : "the beginning");
		if (l->started_at == 0 || c->opts->now - l->started_at > RVX_LEASE_STALE_S)
		{
			c->res->stale_leases++;
			report(c->opts, "warning: lease %s is stale (older than %" PRId64 " days): it is "
				   "still honoured; if no agent ships backup %s any more, delete the object "
				   "%s from the repository", key, (int64_t) (RVX_LEASE_STALE_S / RVX_SECONDS_PER_DAY),
				   l->id, key);
		}
		json_decref(doc);
	}
	c->res->leases = c->nleases;
	rvx_strvec_free(&keys);
	return rc;
}

/* Reads the record of every complete backup into items. */
static int
read_backups(RunCtx *c, RvxError *err)
{
	if (rvx_backup_list(c->repo, &c->list, err) != 0)
		return -1;
	c->items = calloc(c->list.n ? c->list.n : 1, sizeof(Item));
	if (c->items == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < c->list.n; i++)
	{
		const RvxBackupRef *ref = &c->list.items[i];
		Item	   *it;
		json_t	   *record;
		const char *kind;
		const char *parent;
		const char *label;

		if (ref->record_key[0] == '\0')
			continue;
		if (rvx_backup_record_load(c->repo, ref->record_key, ref->id, c->ci.system_id, &record,
								   err) != 0)
			return rvx_error_prefix(err, "nothing is deleted while a backup record cannot be read (it may be needed to know what other backups depend on)");
		it = &c->items[c->nitems++];
		it->ref = ref;
		it->rb.id = ref->id;
		kind = json_string_value(json_object_get(record, "kind"));
		it->rb.full = kind == NULL || strcmp(kind, "full") == 0;
		parent = json_string_value(json_object_get(record, "parent"));
		if (parent)
		{
			snprintf(it->parent, sizeof(it->parent), "%s", parent);
			it->rb.parent = it->parent;
		}
		it->rb.scheduled = json_is_true(json_object_get(record, "scheduled"));
		label = json_string_value(json_object_get(record, "label"));
		it->rb.labelled = label != NULL && label[0] != '\0';
		it->rb.has_stop_time = record_time(record, "stop_time", &it->rb.stop_time);
		/* the record parser checked start_wal */
		rvx_retention_segno(json_string_value(json_object_get(record, "start_wal")),
							c->ci.wal_segment_size, &it->rb.start_segno);
		json_decref(record);
		/* from the same listing as the record: one request for all pins */
		it->rb.pinned = ref->pinned;
		it->leased = find_lease(c, ref->id) != NULL;
	}
	return 0;
}

/* Deletes every key below backup/<id>/, the record first. */
static int
delete_backup(RunCtx *c, const char *id, const char *record_key, RvxError *err)
{
	char		prefix[RVX_BACKUP_ID_MAXLEN + 16];
	RvxStrVec		keys = {0};
	int			rc = 0;

	if (record_key && record_key[0] && rvx_repo_remove(c->repo, record_key, err) != 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "%s%s/", RVX_BACKUP_KEY_PREFIX, id);
	if (rvx_repo_list(c->repo, prefix, rvx_strvec_collect_key, &keys, err) != 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < keys.n; i++)
	{
		if (cancelled(c->opts))
			break;
		rc = rvx_repo_remove(c->repo, keys.s[i], err);
		if (rc == 0)
			c->res->objects_deleted++;
	}
	rvx_strvec_free(&keys);
	return rc;
}

typedef struct WalScan
{
	uint64_t	seg_size;
	uint64_t	bound;
	RvxStrVec		doomed;
	uint64_t	kept;
	char		first[RVX_WALNAME_MAXLEN + 1];
	uint64_t	first_segno;
	char		last[RVX_WALNAME_MAXLEN + 1];
	uint64_t	last_segno;
} WalScan;

/* The WAL file name of a key "wal/<tli>/<name><suffix>", or false. */
static bool
wal_key_name(const char *key, char *name)
{
	return strncmp(key, "wal/", 4) == 0 && strchr(key + 4, '/') != NULL &&
		rvx_wal_key_name(key, name, NULL) == 0;
}

static int
scan_wal_key(void *arg, const char *key, uint64_t size)
{
	WalScan    *ws = arg;
	char		name[RVX_WALNAME_MAXLEN + 1];
	uint64_t	segno;

	/* history files, and anything we do not recognise, are kept */
	if (!wal_key_name(key, name) ||
		!rvx_retention_segno(name, ws->seg_size, &segno) || segno >= ws->bound)
	{
		ws->kept++;
		return 0;
	}
	if (ws->doomed.n == 0 || segno < ws->first_segno)
	{
		ws->first_segno = segno;
		snprintf(ws->first, sizeof(ws->first), "%s", name);
	}
	if (ws->doomed.n == 0 || segno >= ws->last_segno)
	{
		ws->last_segno = segno;
		snprintf(ws->last, sizeof(ws->last), "%s", name);
	}
	return rvx_strvec_add(&ws->doomed, key);
}

static void
segno_name(uint64_t segno, uint64_t seg_size, char *out, size_t cap)
{
	uint64_t	per_id = UINT64_C(0x100000000) / seg_size;

	/* the timeline does not matter for a position: shown as "*" */
	snprintf(out, cap, "*%08X%08X", (unsigned) (segno / per_id), (unsigned) (segno % per_id));
}

/* The audit record of a run that deleted (or tried to). */
static void
audit_run(RunCtx *c, const RvxStrVec *expired_ids, const RvxStrVec *leftovers, int days, int rc,
		  const RvxError *err)
{
	const RvxExpireOptions *opts = c->opts;
	RvxExpireResult *res = c->res;
	json_t	   *backups = json_array();
	json_t	   *left = json_array();
	json_t	   *details;
	char		asof[32];
	RvxAuditEvent ev;

	for (size_t i = 0; i < res->backups_deleted && i < expired_ids->n; i++)
		json_array_append_new(backups, json_string(expired_ids->s[i]));
	for (size_t i = 0; i < res->leftovers_deleted && i < leftovers->n; i++)
		json_array_append_new(left, json_string(leftovers->s[i]));
	rvx_iso_time((time_t) opts->now, asof, sizeof(asof));
	details = json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:{s:i, s:i, s:i, s:i}}",
						"as_of", asof,
						"backups_deleted", backups,
						"incomplete_deleted", left,
						"objects_deleted", (json_int_t) res->objects_deleted,
						"wal_deleted", (json_int_t) res->wal_deleted,
						"audit_records_deleted", (json_int_t) res->audit_deleted,
						"retention",
						"scheduled_days", opts->policy.scheduled_days,
						"labelled_days", opts->policy.labelled_days,
						"min_full", opts->policy.min_full,
						"audit_days", days);
	ev = (RvxAuditEvent) {
		.action = "expire",
		.ok = rc == 0,
		.error = rc == 0 ? NULL : err->msg,
		.details = details,
	};
	res->audit_failed = rvx_audit_write(c->repo, c->ci.system_id, &ev, NULL) != 0;
	json_decref(details);
}

void
rvx_expire_options_from_config(const RvxConfig *cfg, RvxExpireOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->policy.scheduled_days = cfg->retain_scheduled_days;
	opts->policy.labelled_days = cfg->retain_labelled_days;
	opts->policy.min_full = cfg->retain_min_full;
	opts->audit_retention_days = cfg->audit_retention_days;
	opts->now = (int64_t) time(NULL);
}

/*
 * The periodic expire: first run one interval after start (a restarting
 * agent must not delete right away), then every interval after the end of
 * the previous run.  It has its own repository connection.  A thread's
 * start routine; arg is an RvxExpireLoop.
 */
void *
rvx_expire_loop(void *arg)
{
	const RvxExpireLoop *loop = arg;
	double		next = rvx_now_s() + loop->cfg->expire_interval_s;

	while (!*loop->stop)
	{
		RvxExpireOptions opts;
		RvxExpireResult res;
		RvxError	err;
		RvxRepo    *repo;

		if (rvx_now_s() < next)
		{
			/* a signal cuts the nap short, and the loop looks at stop again */
			struct timespec ts = {0, 200 * 1000000L};

			nanosleep(&ts, NULL);
			continue;
		}
		rvx_expire_options_from_config(loop->cfg, &opts);
		opts.cancel = loop->stop;
		rvx_error_clear(&err);
		repo = rvx_repo_open(&loop->cfg->repo, &err);
		if (repo == NULL || rvx_expire_run(repo, &opts, &res, &err) != 0 ||
			rvx_catalog_refresh(loop->catalog, repo, &err) != 0)
			rvx_warn("expire: %s", err.msg);
		rvx_repo_close(repo);
		next = rvx_now_s() + loop->cfg->expire_interval_s;
	}
	return NULL;
}

int
rvx_expire_run(RvxRepo *repo, const RvxExpireOptions *opts, RvxExpireResult *res,
			   RvxError *err)
{
	RunCtx		c;
	WalScan		ws;
	uint64_t   *floors = NULL;
	size_t		nfloors = 0;
	bool		keep_all_wal = false;
	bool		has_bound;
	uint64_t	bound = 0;
	const RvxRetainBackup *oldest = NULL;
	RvxRetainBackup *rbs = NULL;
	RvxStrVec		leftovers = {0};
	RvxStrVec		expired_ids = {0};
	RvxStrVec		expired_keys = {0};
	RvxStrVec	audit_keys = {0};
	RvxStrVec	audit_doomed = {0};
	uint64_t	audit_kept = 0;
	int			audit_days = RVX_AUDIT_RETENTION_DEFAULT;
	bool		audited = false;
	char		why[512];
	char		bname[64];
	int			rc = -1;

	memset(&c, 0, sizeof(c));
	memset(&ws, 0, sizeof(ws));
	memset(res, 0, sizeof(*res));
	c.repo = repo;
	c.opts = opts;
	c.res = res;
	if (rvx_repo_meta_load(repo, &c.ci, err) != 0)
	{
		if (err->code != RVX_E_NOTFOUND)
			return -1;
		report(opts, "%s is empty: nothing to expire", repo->display);
		return 0;
	}
	if (opts->dry_run)
		report(opts, "dry run: nothing is deleted");

	/* leases before backups: see the banner */
	if (read_leases(&c, err) != 0 || read_backups(&c, err) != 0)
		goto out;

	/* the policy */
	rbs = calloc(c.nitems ? c.nitems : 1, sizeof(RvxRetainBackup));
	floors = calloc(c.nleases ? c.nleases : 1, sizeof(uint64_t));
	if (rbs == NULL || floors == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.nitems; i++)
		rbs[i] = c.items[i].rb;
	rvx_retention_apply(&opts->policy, opts->now, rbs, c.nitems);
	for (size_t i = 0; i < c.nleases; i++)
	{
		if (c.leases[i].has_floor)
			floors[nfloors++] = c.leases[i].floor;
		else
			keep_all_wal = true;
	}

	for (size_t i = 0; i < c.nitems; i++)
	{
		RvxRetainBackup *b = &rbs[i];

		rvx_retention_explain(&opts->policy, opts->now, b, why, sizeof(why));
		if (b->reason == RVX_RETAIN_NONE && c.items[i].leased)
		{
			/* expired, but shipping is not finished with it: keep it, and its WAL */
			report(opts, "keep backup %s: leased (%s)", b->id, why);
			b->reason = RVX_RETAIN_PINNED;
			res->backups_kept++;
		}
		else if (b->reason == RVX_RETAIN_NONE)
		{
			report(opts, "delete backup %s: %s", b->id, why);
			if (rvx_strvec_add(&expired_ids, b->id) != 0 ||
				rvx_strvec_add(&expired_keys, c.items[i].ref->record_key) != 0)
			{
				rvx_error(err, RVX_E_INTERNAL, "out of memory");
				goto out;
			}
		}
		else
		{
			report(opts, "keep backup %s: %s", b->id, why);
			res->backups_kept++;
		}
	}

	/* incomplete backups: leased ones are being shipped; old unleased ones are leftovers */
	for (size_t i = 0; i < c.list.n; i++)
	{
		const RvxBackupRef *ref = &c.list.items[i];
		int64_t		started;

		if (ref->record_key[0])
			continue;
		if (find_lease(&c, ref->id))
			report(opts, "keep incomplete backup %s: leased, being shipped (%" PRIu64 " objects)",
				   ref->id, ref->objects);
		else if (!id_time(ref->id, &started) || opts->now - started <= RVX_EXPIRE_GRACE_S)
			report(opts, "keep incomplete backup %s: no lease, but younger than %" PRId64
				   " hours (may still be shipped by an older agent)",
				   ref->id, (int64_t) (RVX_EXPIRE_GRACE_S / 3600));
		else
		{
			report(opts, "delete incomplete backup %s: no record, no lease, %" PRIu64
				   " objects left by an expired or aborted backup", ref->id, ref->objects);
			if (rvx_strvec_add(&leftovers, ref->id) != 0)
			{
				rvx_error(err, RVX_E_INTERNAL, "out of memory");
				goto out;
			}
		}
	}

	/* WAL */
	has_bound = rvx_retention_wal_bound(rbs, c.nitems, floors, nfloors, &bound, &oldest);
	if (keep_all_wal || !has_bound)
		report(opts, "keep all WAL: %s", keep_all_wal ?
			   "a lease does not say from where its backup needs WAL" :
			   "no backup is retained, so nothing anchors the recovery window");
	else
	{
		ws.seg_size = c.ci.wal_segment_size;
		ws.bound = bound;
		if (rvx_repo_list(repo, "wal/", scan_wal_key, &ws, err) != 0)
			goto out;
		segno_name(bound, ws.seg_size, bname, sizeof(bname));
		if (ws.doomed.n == 0)
			report(opts, "keep all WAL: nothing is older than segment %s (%s)", bname,
				   oldest ? "the start of the oldest retained backup" : "the floor of a lease");
		else
			report(opts, "delete WAL %s .. %s: %zu files before segment %s, %s%s", ws.first,
				   ws.last, ws.doomed.n, bname,
				   oldest ? "the start of the oldest retained backup " :
				   "the floor of a lease",
				   oldest ? oldest->id : "");
	}

	/* audit records: their own retention, whatever happened to the backups */
	audit_days = opts->audit_retention_days > 0 ? opts->audit_retention_days :
		RVX_AUDIT_RETENTION_DEFAULT;
	if (rvx_audit_list_keys(repo, INT64_MIN, &audit_keys, err) != 0)
		goto out;
	for (size_t i = 0; i < audit_keys.n; i++)
	{
		int64_t		when = 0;

		(void) rvx_audit_key_time(audit_keys.s[i], &when);	/* listed: it names a time */
		if (rvx_audit_retained(when, opts->now, audit_days))
			audit_kept++;
		else if (rvx_strvec_add(&audit_doomed, audit_keys.s[i]) != 0)
		{
			rvx_error(err, RVX_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	if (audit_kept > 0)
		report(opts, "keep %" PRIu64 " audit records: younger than %d days (REVRX_AUDIT_RETENTION_DAYS)",
			   audit_kept, audit_days);
	for (size_t i = 0; i < audit_doomed.n; i++)
		report(opts, "delete audit record %s: older than %d days (REVRX_AUDIT_RETENTION_DAYS)",
			   audit_doomed.s[i], audit_days);

	if (opts->dry_run)
	{
		res->backups_deleted = expired_ids.n;
		res->leftovers_deleted = leftovers.n;
		res->wal_deleted = ws.doomed.n;
		res->audit_deleted = audit_doomed.n;
		rc = 0;
		goto out;
	}
	/* from here on the run changes the repository: it is audited, done or failed */
	audited = true;

	/* the deletions: backups (record first), leftovers, WAL last */
	for (size_t i = 0; i < expired_ids.n && !cancelled(opts); i++)
	{
		if (delete_backup(&c, expired_ids.s[i], expired_keys.s[i], err) != 0)
			goto out;
		res->backups_deleted++;
	}
	for (size_t i = 0; i < leftovers.n && !cancelled(opts); i++)
	{
		if (delete_backup(&c, leftovers.s[i], NULL, err) != 0)
			goto out;
		res->leftovers_deleted++;
	}
	for (size_t i = 0; i < ws.doomed.n && !cancelled(opts); i++)
	{
		if (rvx_repo_remove(repo, ws.doomed.s[i], err) != 0)
			goto out;
		res->wal_deleted++;
	}
	for (size_t i = 0; i < audit_doomed.n && !cancelled(opts); i++)
	{
		if (rvx_repo_remove(repo, audit_doomed.s[i], err) != 0)
			goto out;
		res->audit_deleted++;
	}
	rc = 0;

out:
	/* a run that changed nothing leaves no record: the daemon runs hourly */
	if (audited && (rc != 0 || res->backups_deleted > 0 || res->leftovers_deleted > 0 ||
					res->objects_deleted > 0 || res->wal_deleted > 0 || res->audit_deleted > 0))
		audit_run(&c, &expired_ids, &leftovers, audit_days, rc, err);
	if (rc == 0)
		rvx_info("expire%s: %zu backups kept, %zu expired and %zu leftovers %s "
				 "(%" PRIu64 " objects), %" PRIu64 " WAL files %s, %zu leases (%zu stale)",
				 opts->dry_run ? " (dry run)" : "", res->backups_kept,
				 opts->dry_run ? expired_ids.n : res->backups_deleted,
				 opts->dry_run ? leftovers.n : res->leftovers_deleted,
				 opts->dry_run ? "would be deleted" : "deleted", res->objects_deleted,
				 opts->dry_run ? (uint64_t) ws.doomed.n : res->wal_deleted,
				 opts->dry_run ? "would be deleted" : "deleted", res->leases, res->stale_leases);
	rvx_strvec_free(&ws.doomed);
	rvx_strvec_free(&audit_keys);
	rvx_strvec_free(&audit_doomed);
	rvx_strvec_free(&leftovers);
	rvx_strvec_free(&expired_ids);
	rvx_strvec_free(&expired_keys);
	free(rbs);
	free(floors);
	free(c.items);
	free(c.leases);
	rvx_backup_list_free(&c.list);
	return rc;
}
