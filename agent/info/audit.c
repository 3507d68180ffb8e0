/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  Writing, reading and ageing the audit trail (see audit.h).
 *
 * The pure parts (record, key, the time in a key, the retention rule) are
 * separate from the I/O so that the unit tests pin them down
 * (tests/unit/info/test_audit.c).  Records are small JSON texts stored with
 * rvx_store_text_object(), the path of leases and pins, so they get the
 * object header, encryption and the "never replace" rule of every object.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/log.h"
#include "base/strvec.h"
#include "info/audit.h"
#include "info/fetch.h"
#include "info/repo_meta.h"
#include "info/store.h"
#include "rvx_port.h"

#define US_PER_S	INT64_C(1000000)

void
rvx_audit_who(RvxAuditWho *who)
{
	struct passwd pw;
	struct passwd *found = NULL;
	char		buf[4096];

	memset(who, 0, sizeof(*who));
	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &found) == 0 && found)
		snprintf(who->os_user, sizeof(who->os_user), "%s", found->pw_name);
	else
		snprintf(who->os_user, sizeof(who->os_user), "uid %u", (unsigned) geteuid());
	if (gethostname(who->host, sizeof(who->host) - 1) != 0 || who->host[0] == '\0')
		snprintf(who->host, sizeof(who->host), "unknown");
	who->pid = (long) getpid();
}

/* "2026-12-06T19:57:16.123456Z" */
static void
iso_time_us(int64_t when_us, char *out, size_t cap)
{
	time_t		t = (time_t) (when_us / US_PER_S);
	struct tm	tm;
	char		base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%s.%06dZ", base, (int) (when_us % US_PER_S));
}

/*
 * A JSON string of s, or null for NULL or "".  Text from outside (an error
 * message quoting a file name, a host name) need not be UTF-8, which JSON
 * requires: then every byte outside ASCII becomes '?', so the record is
 * still written rather than lost.
 */
static json_t *
text_or_null(const char *s)
{
	json_t	   *j;
	char	   *copy;

	if (s == NULL || s[0] == '\0')
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char) *p >= 0x80 || (unsigned char) *p < 0x20)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *
rvx_audit_record_build(const RvxAuditEvent *ev, int64_t when_us, uint64_t system_id,
					   const RvxAuditWho *who)
{
	char		when[40];
	char		sysid[24];
	json_t	   *rec;

	iso_time_us(when_us, when, sizeof(when));
	snprintf(sysid, sizeof(sysid), "%" PRIu64, system_id);
	rec = json_pack("{s:i, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:I, s:o, s:s, s:o}",
					"format", RVX_AUDIT_FORMAT,
					"time", when,
					"action", ev->action,
					"system_identifier", system_id ? json_string(sysid) : json_null(),
					"backup_id", text_or_null(ev->backup_id),
					"result", ev->ok ? "ok" : "failed",
					"error", text_or_null(ev->ok ? NULL : ev->error),
					"os_user", text_or_null(who->os_user),
					"host", text_or_null(who->host),
					"pid", (json_int_t) who->pid,
					"db_role", text_or_null(ev->db_role),
					"agent_version", RVX_VERSION,
					"details", ev->details ? json_incref(ev->details) : json_object());
	return rec;
}

void
rvx_audit_key(char *out, size_t cap, int64_t when_us, const RvxAuditWho *who, uint32_t rnd)
{
	time_t		t = (time_t) (when_us / US_PER_S);
	struct tm	tm;
	char		day[16];
	char		stamp[24];
	char		host[64];
	size_t		n = 0;

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y/%m/%d", &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	/* a key segment: only characters every store and shell takes as they are */
	for (const char *p = who->host; *p && n < sizeof(host) - 1; p++)
		host[n++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					 (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-') ? *p : '_';
	host[n] = '\0';
	snprintf(out, cap, "%s%s/%s.%06dZ-%s-%ld-%08x.json", RVX_AUDIT_PREFIX, day, stamp,
			 (int) (when_us % US_PER_S), host[0] ? host : "unknown", who->pid, rnd);
}

bool
rvx_audit_key_time(const char *key, int64_t *when_us)
{
	const char *base;
	struct tm	tm;
	int			us = 0;
	int			used = 0;
	char		day[16];

	if (strncmp(key, RVX_AUDIT_PREFIX, strlen(RVX_AUDIT_PREFIX)) != 0 ||
		(base = strrchr(key, '/')) == NULL)
		return false;
	base++;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(base, "%4d%2d%2dT%2d%2d%2d.%6dZ-%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us, &used) != 7 || used != 24 ||
		tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || us < 0)
		return false;
	/* the day folders must agree with the name: a record moved by hand is not ours */
	snprintf(day, sizeof(day), "%04d/%02d/%02d/", tm.tm_year, tm.tm_mon, tm.tm_mday);
	if ((size_t) (base - key) != strlen(RVX_AUDIT_PREFIX) + strlen(day) ||
		strncmp(key + strlen(RVX_AUDIT_PREFIX), day, strlen(day)) != 0)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*when_us = (int64_t) timegm(&tm) * US_PER_S + us;
	return true;
}

bool
rvx_audit_retained(int64_t when_us, int64_t now_s, int days)
{
	int64_t		age_us = now_s * US_PER_S - when_us;

	return age_us <= (int64_t) days * 86400 * US_PER_S;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static void
audit_failure(const RvxAuditEvent *ev, const char *where, const char *why)
{
	rvx_err("AUDIT FAILURE: the %s%s%s (%s) was not recorded in the audit trail of %s: %s",
			ev->action, ev->backup_id && ev->backup_id[0] ? " of backup " : "",
			ev->backup_id ? ev->backup_id : "", ev->ok ? "succeeded" : "failed", where, why);
}

int
rvx_audit_write(RvxRepo *repo, uint64_t system_id, const RvxAuditEvent *ev, RvxError *err)
{
	RvxError	local;
	RvxAuditWho who;
	RvxClusterInfo ci;
	char		key[RVX_AUDIT_KEY_MAXLEN];
	int64_t		when = now_us();
	uint32_t	rnd = 0;
	json_t	   *rec;
	char	   *text;
	int			rc;

	if (err == NULL)
		err = &local;
	if (system_id == 0)
	{
		if (rvx_repo_meta_load(repo, &ci, err) == 0)
			system_id = ci.system_id;
		else if (err->code != RVX_E_NOTFOUND)
		{
			audit_failure(ev, repo->display, err->msg);
			return -1;
		}
	}
	rvx_audit_who(&who);
	if (RAND_bytes((unsigned char *) &rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t) (when ^ (who.pid << 16));
	rvx_audit_key(key, sizeof(key), when, &who, rnd);
	rec = rvx_audit_record_build(ev, when, system_id, &who);
	text = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(rec);
	if (text == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		audit_failure(ev, repo->display, err->msg);
		return -1;
	}
	rc = rvx_store_text_object(repo, key, system_id, text, NULL,
							   RVX_PUT_OBJECT_LOCK, err);
	free(text);
	if (rc != 0)
	{
		audit_failure(ev, repo->display, err->msg);
		return -1;
	}
	rvx_debug("audit record %s stored", key);
	return 0;
}

int
rvx_audit_write_cfg(const RvxRepoConfig *cfg, const RvxAuditEvent *ev)
{
	RvxError	err;
	RvxRepo    *repo = rvx_repo_open(cfg, &err);
	int			rc;

	if (repo == NULL)
	{
		audit_failure(ev, cfg->url ? cfg->url : "the repository", err.msg);
		return -1;
	}
	rc = rvx_audit_write(repo, 0, ev, &err);
	rvx_repo_close(repo);
	return rc;
}

int
rvx_audit_exit_code(int action_rc, int audit_rc)
{
	if (action_rc != 0)
		return action_rc;
	return audit_rc != 0 ? RVX_E_AUDIT : 0;
}

/* ---------------------------------------------------------------- reading */

/* Keeps the keys of records made at or after since_us (arg: KeyFilter). */
typedef struct KeyFilter
{
	RvxStrVec  *keys;
	int64_t		since_us;
} KeyFilter;

static int
collect_record_key(void *arg, const char *key, uint64_t size)
{
	KeyFilter  *kf = arg;
	int64_t		when;

	/* not a record's name (a stray upload): not part of the trail */
	if (!rvx_audit_key_time(key, &when) || when < kf->since_us)
		return 0;
	return rvx_strvec_add(kf->keys, key);
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int
rvx_audit_list_keys(RvxRepo *repo, int64_t since_us, RvxStrVec *keys, RvxError *err)
{
	KeyFilter	kf = {keys, since_us};

	if (rvx_repo_list(repo, RVX_AUDIT_PREFIX, collect_record_key, &kf, err) != 0)
	{
		rvx_strvec_free(keys);
		return -1;
	}
	/* the listing is in key order already; sorted again so the promise does not rest on it */
	qsort(keys->s, keys->n, sizeof(char *), cmp_key);
	return 0;
}

int
rvx_audit_list(RvxRepo *repo, int64_t since_us, RvxAuditFn fn, void *arg, RvxError *err)
{
	RvxStrVec	keys = {0};
	RvxStrVec  *kl = &keys;
	int			rc;

	rc = rvx_audit_list_keys(repo, since_us, kl, err);
	for (size_t i = 0; rc == 0 && i < kl->n; i++)
	{
		char	   *text = NULL;
		size_t		len;
		json_t	   *rec;
		json_error_t jerr;

		if (rvx_fetch_to_buffer(repo, kl->s[i], 0, RVX_AUDIT_RECORD_MAX, &text, &len,
								NULL, err) != 0)
		{
			rc = -1;
			break;
		}
		rec = json_loadb(text, len, 0, &jerr);
		free(text);
		if (!json_is_object(rec))
		{
			json_decref(rec);
			rc = rvx_error(err, RVX_E_CORRUPT, "audit record \"%s\" in %s is not a JSON object",
						   kl->s[i], repo->display);
			break;
		}
		rc = fn(arg, kl->s[i], rec);
		json_decref(rec);
	}
	rvx_strvec_free(kl);
	return rc;
}
