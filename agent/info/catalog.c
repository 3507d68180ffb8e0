/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Listing backups, reading their records, and the published catalog
 *	  (see catalog.h).
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file_utils.h"
#include "base/log.h"
#include "info/catalog.h"
#include "info/fetch.h"
#include "chunk_digest.h"
#include "sha256.h"
#include "walname.h"

/* ---------------------------------------------------------------- names */

bool
rvx_backup_id_valid(const char *id)
{
	size_t		len = strlen(id);

	/* YYYYMMDDTHHMMSSZ first, so that ids sort by time */
	if (len < 16 || len > RVX_BACKUP_ID_MAXLEN)
		return false;
	for (int i = 0; i < 16; i++)
	{
		char		c = id[i];

		if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : !isdigit((unsigned char) c))
			return false;
	}
	for (size_t i = 16; i < len; i++)
		if (!isalnum((unsigned char) id[i]) && id[i] != '-' && id[i] != '_')
			return false;
	return true;
}

/* The N of a "-N" suffix; 1 without one (the first backup of that second). */
static long
id_sequence(const char *id, const char **rest)
{
	const char *p = id + 16;
	long		n = 1;

	if (*p == '-' && isdigit((unsigned char) p[1]))
	{
		n = strtol(p + 1, (char **) &p, 10);
	}
	*rest = p;
	return n;
}

int
rvx_backup_id_cmp(const char *a, const char *b)
{
	const char *ra,
			   *rb;
	long		na,
				nb;
	int			c;

	if (strlen(a) < 16 || strlen(b) < 16)
		return strcmp(a, b);
	c = strncmp(a, b, 16);
	if (c != 0)
		return c;
	na = id_sequence(a, &ra);
	nb = id_sequence(b, &rb);
	if (na != nb)
		return na < nb ? -1 : 1;
	return strcmp(ra, rb);
}

bool
rvx_backup_relpath_valid(const char *path)
{
	const char *p = path;
	size_t		len = strlen(path);

	if (len == 0 || len > RVX_BACKUP_PATH_MAX || path[0] == '/')
		return false;
	for (const char *c = path; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f || *c == '\\')
			return false;
	while (*p)
	{
		const char *slash = strchr(p, '/');
		size_t		n = slash ? (size_t) (slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (slash == NULL)
			break;
		p = slash + 1;
		if (*p == '\0')
			return false;		/* trailing slash */
	}
	return true;
}

bool
rvx_backup_key_is(const char *rest, const char *base)
{
	size_t		blen = strlen(base);

	if (strncmp(rest, base, blen) != 0)
		return false;
	for (int alg = 0; alg <= RVX_COMPRESS_MAX; alg++)
		if (strcmp(rest + blen, rvx_compression_suffix((RvxCompression) alg)) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------- listing */

typedef struct ListState
{
	RvxBackupList *list;
	RvxError   *err;
} ListState;

static RvxBackupRef *
list_entry_for(RvxBackupList *list, const char *id)
{
	/* keys arrive grouped by backup: the last entry is almost always it */
	for (size_t i = list->n; i > 0; i--)
		if (strcmp(list->items[i - 1].id, id) == 0)
			return &list->items[i - 1];
	if (list->n == list->cap)
	{
		size_t		cap = list->cap ? list->cap * 2 : 16;
		RvxBackupRef *n = realloc(list->items, cap * sizeof(RvxBackupRef));

		if (n == NULL)
			return NULL;
		list->items = n;
		list->cap = cap;
	}
	memset(&list->items[list->n], 0, sizeof(RvxBackupRef));
	snprintf(list->items[list->n].id, sizeof(list->items[0].id), "%s", id);
	return &list->items[list->n++];
}

/*
 * A drill report's key.  Not an object of the backup: it is left out of
 * the backup's counts, so listing a drilled backup shows what restore
 * reads.
 */
static int
list_verify_key(RvxBackupList *list, const char *key)
{
	if (list->n_verify == list->cap_verify)
	{
		size_t		cap = list->cap_verify ? list->cap_verify * 2 : 16;
		char	  **n = realloc(list->verify_keys, cap * sizeof(char *));

		if (n == NULL)
			return -1;
		list->verify_keys = n;
		list->cap_verify = cap;
	}
	list->verify_keys[list->n_verify] = strdup(key);
	if (list->verify_keys[list->n_verify] == NULL)
		return -1;
	list->n_verify++;
	return 0;
}

/* The file name of a key: reports are named by their drill's start time. */
static const char *
key_basename(const char *key)
{
	const char *slash = strrchr(key, '/');

	return slash ? slash + 1 : key;
}

/* Newest first: by the report's name (its start time), then by key. */
static int
cmp_verify_key(const void *a, const void *b)
{
	const char *ka = *(const char *const *) a;
	const char *kb = *(const char *const *) b;
	int			c = strcmp(key_basename(kb), key_basename(ka));

	return c != 0 ? c : strcmp(kb, ka);
}

static int
list_key(void *arg, const char *key, uint64_t size)
{
	ListState  *ls = arg;
	const char *idstart = key + strlen(RVX_BACKUP_KEY_PREFIX);
	const char *slash = strchr(idstart, '/');
	char		id[RVX_BACKUP_ID_MAXLEN + 1];
	RvxBackupRef *ref;

	if (strncmp(key, RVX_BACKUP_KEY_PREFIX, strlen(RVX_BACKUP_KEY_PREFIX)) != 0 ||
		slash == NULL || (size_t) (slash - idstart) > RVX_BACKUP_ID_MAXLEN)
		return 0;				/* not ours: leave it alone */
	memcpy(id, idstart, (size_t) (slash - idstart));
	id[slash - idstart] = '\0';
	if (!rvx_backup_id_valid(id))
		return 0;
	if (strncmp(slash + 1, RVX_BACKUP_VERIFY_DIR, strlen(RVX_BACKUP_VERIFY_DIR)) == 0)
		return list_verify_key(ls->list, key) == 0 ? 0 :
			rvx_error(ls->err, RVX_E_INTERNAL, "out of memory");
	ref = list_entry_for(ls->list, id);
	if (ref == NULL)
		return rvx_error(ls->err, RVX_E_INTERNAL, "out of memory");
	ref->objects++;
	ref->bytes += size;
	if (rvx_backup_key_is(slash + 1, RVX_BACKUP_RECORD))
	{
		snprintf(ref->record_key, sizeof(ref->record_key), "%s", key);
		ref->record_size = size;
	}
	else if (rvx_backup_key_is(slash + 1, RVX_BACKUP_MANIFEST))
		snprintf(ref->manifest_key, sizeof(ref->manifest_key), "%s", key);
	else if (strcmp(slash + 1, RVX_PIN_NAME) == 0)
		ref->pinned = true;
	return 0;
}

static int
cmp_ref(const void *a, const void *b)
{
	return rvx_backup_id_cmp(((const RvxBackupRef *) a)->id, ((const RvxBackupRef *) b)->id);
}

int
rvx_backup_list(RvxRepo *repo, RvxBackupList *list, RvxError *err)
{
	ListState	ls = {list, err};

	memset(list, 0, sizeof(*list));
	if (rvx_repo_list(repo, RVX_BACKUP_KEY_PREFIX, list_key, &ls, err) != 0)
	{
		rvx_backup_list_free(list);
		return -1;
	}
	if (list->n > 1)
		qsort(list->items, list->n, sizeof(RvxBackupRef), cmp_ref);
	if (list->n_verify > 1)
		qsort(list->verify_keys, list->n_verify, sizeof(char *), cmp_verify_key);
	return 0;
}

const RvxBackupRef *
rvx_backup_list_find(const RvxBackupList *list, const char *id)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->items[i].id, id) == 0)
			return &list->items[i];
	return NULL;
}

const RvxBackupRef *
rvx_backup_list_latest(const RvxBackupList *list)
{
	for (size_t i = list->n; i > 0; i--)
		if (list->items[i - 1].record_key[0])
			return &list->items[i - 1];
	return NULL;
}

void
rvx_backup_list_free(RvxBackupList *list)
{
	for (size_t i = 0; i < list->n_verify; i++)
		free(list->verify_keys[i]);
	free(list->verify_keys);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

/* ---------------------------------------------------------------- records */

static int
bad_record(RvxError *err, const char *what, const char *fmt,...)
	__attribute__((format(printf, 3, 4)));

static int
bad_record(RvxError *err, const char *what, const char *fmt,...)
{
	char		detail[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return rvx_error(err, RVX_E_CORRUPT, "backup record %s is invalid: %s", what, detail);
}

/* s is hexlen hex digits (of at most RVX_SHA256_LEN bytes) */
static bool
is_hex_of(const char *s, size_t hexlen)
{
	uint8_t		bin[RVX_SHA256_LEN];

	return s && hexlen / 2 <= sizeof(bin) && strlen(s) == hexlen &&
		rvx_hex_decode(s, bin, hexlen / 2) == 0;
}

static bool
is_sha256_hex(const char *s)
{
	return is_hex_of(s, RVX_SHA256_HEXLEN);
}

static bool
is_segment(const json_t *v)
{
	return json_is_string(v) && rvx_walname_kind(json_string_value(v)) == RVX_WAL_SEGMENT;
}

int
rvx_backup_record_parse(const char *text, size_t len, const char *what,
						const char *expect_id, uint64_t expect_system_id,
						json_t **out, RvxError *err)
{
	json_error_t jerr;
	json_t	   *root;
	json_t	   *v;
	const char *id;
	char		keyprefix[RVX_BACKUP_ID_MAXLEN + 16];
	size_t		i;
	json_t	   *f;

	*out = NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return bad_record(err, what, "not JSON: %s (line %d)", jerr.text, jerr.line);
	if (!json_is_object(root))
	{
		bad_record(err, what, "not a JSON object");
		goto fail;
	}
	v = json_object_get(root, "format");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		json_integer_value(v) > RVX_BACKUP_FORMAT)
	{
		bad_record(err, what, "format %s, this agent understands formats 1 to %d%s",
				   json_is_integer(v) ? "unknown" : "missing", RVX_BACKUP_FORMAT,
				   json_is_integer(v) ? " (a newer revrx-agent is needed)" : "");
		goto fail;
	}
	v = json_object_get(root, "id");
	id = json_string_value(v);
	if (id == NULL || !rvx_backup_id_valid(id))
	{
		bad_record(err, what, "no valid \"id\"");
		goto fail;
	}
	if (expect_id && strcmp(id, expect_id) != 0)
	{
		bad_record(err, what, "it describes backup %s", id);
		goto fail;
	}
	v = json_object_get(root, "system_identifier");
	{
		const char *s = json_string_value(v);
		char	   *end;
		uint64_t	sysid;

		errno = 0;
		sysid = s ? strtoull(s, &end, 10) : 0;
		if (s == NULL || errno != 0 || *end != '\0' || sysid == 0)
		{
			bad_record(err, what, "no valid \"system_identifier\"");
			goto fail;
		}
		if (expect_system_id != 0 && sysid != expect_system_id)
		{
			rvx_error(err, RVX_E_CLUSTER,
					  "backup record %s belongs to the cluster with system identifier %" PRIu64
					  ", not to %" PRIu64, what, sysid, expect_system_id);
			goto fail;
		}
	}
	if (!is_segment(json_object_get(root, "start_wal")) ||
		!is_segment(json_object_get(root, "stop_wal")) ||
		strcmp(json_string_value(json_object_get(root, "start_wal")),
			   json_string_value(json_object_get(root, "stop_wal"))) > 0)
	{
		bad_record(err, what, "no valid \"start_wal\" and \"stop_wal\"");
		goto fail;
	}

	snprintf(keyprefix, sizeof(keyprefix), "%s%s/", RVX_BACKUP_KEY_PREFIX, id);
	v = json_object_get(root, "files");
	if (!json_is_array(v))
	{
		bad_record(err, what, "no \"files\" array");
		goto fail;
	}
	json_array_foreach(v, i, f)
	{
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *key = json_string_value(json_object_get(f, "key"));
		json_t	   *size = json_object_get(f, "size");

		if (path == NULL || !rvx_backup_relpath_valid(path))
		{
			bad_record(err, what, "files[%zu] has no valid \"path\"", i);
			goto fail;
		}
		if (!json_is_integer(size) || json_integer_value(size) < 0)
		{
			bad_record(err, what, "file \"%s\" has no valid \"size\"", path);
			goto fail;
		}
		/*
		 * A sparse delta's file has no digest until it is rebuilt
		 * (restore.c), and then the delta's own digest must be recorded.
		 */
		if (json_is_true(json_object_get(f, "sparse")))
		{
			if (!json_is_true(json_object_get(f, "delta")) ||
				json_object_get(f, "sha256") != NULL ||
				!is_sha256_hex(json_string_value(json_object_get(f, "object_sha256"))))
			{
				bad_record(err, what, "sparse file \"%s\" must be a delta with an "
						   "\"object_sha256\" and no \"sha256\"", path);
				goto fail;
			}
		}
		else if (!is_sha256_hex(json_string_value(json_object_get(f, "sha256"))))
		{
			bad_record(err, what, "file \"%s\" has no valid \"sha256\"", path);
			goto fail;
		}
		if (json_object_get(f, "object_sha256") != NULL &&
			!is_sha256_hex(json_string_value(json_object_get(f, "object_sha256"))))
		{
			bad_record(err, what, "file \"%s\" has no valid \"object_sha256\"", path);
			goto fail;
		}
		if (json_object_get(f, "chunk_digest") != NULL &&
			(!is_hex_of(json_string_value(json_object_get(f, "chunk_digest")),
						RVX_CHUNK_DIGEST_HEXLEN) ||
			 json_integer_value(size) <= RVX_CHUNK_DIGEST_MIN))
		{
			bad_record(err, what, "file \"%s\" has no valid \"chunk_digest\"", path);
			goto fail;
		}
		if (key == NULL || strncmp(key, keyprefix, strlen(keyprefix)) != 0 ||
			strstr(key, "/../") != NULL || strlen(key) > RVX_BACKUP_PATH_MAX + 128)
		{
			bad_record(err, what, "file \"%s\" has no valid \"key\" below %s", path, keyprefix);
			goto fail;
		}
	}
	v = json_object_get(root, "directories");
	if (v != NULL)
	{
		if (!json_is_array(v))
		{
			bad_record(err, what, "\"directories\" is not an array");
			goto fail;
		}
		json_array_foreach(v, i, f)
		{
			if (!json_is_string(f) || !rvx_backup_relpath_valid(json_string_value(f)))
			{
				bad_record(err, what, "directories[%zu] is not a valid path", i);
				goto fail;
			}
		}
	}
	v = json_object_get(root, "tablespaces");
	if (v != NULL)
	{
		if (!json_is_array(v))
		{
			bad_record(err, what, "\"tablespaces\" is not an array");
			goto fail;
		}
		json_array_foreach(v, i, f)
		{
			json_t	   *oid = json_object_get(f, "oid");
			const char *loc = json_string_value(json_object_get(f, "location"));

			if (!json_is_integer(oid) || json_integer_value(oid) <= 0 ||
				json_integer_value(oid) > UINT32_MAX || loc == NULL || loc[0] != '/' ||
				strlen(loc) >= PATH_MAX - 256)
			{
				bad_record(err, what, "tablespaces[%zu] needs an \"oid\" and an absolute \"location\"", i);
				goto fail;
			}
		}
	}
	*out = root;
	return 0;

fail:
	json_decref(root);
	return -1;
}

int
rvx_backup_record_load(RvxRepo *repo, const char *key, const char *expect_id,
					   uint64_t expect_system_id, json_t **out, RvxError *err)
{
	char	   *text;
	size_t		len;
	char		what[512];
	int			rc;

	*out = NULL;
	if (rvx_fetch_to_buffer(repo, key, expect_system_id, RVX_BACKUP_RECORD_MAX, &text, &len,
							NULL, err) != 0)
		return -1;
	snprintf(what, sizeof(what), "\"%s\" in %s", key, repo->display);
	rc = rvx_backup_record_parse(text, len, what, expect_id, expect_system_id, out, err);
	free(text);
	return rc;
}

int
rvx_backup_record_major(const json_t *record)
{
	const json_t *major = json_object_get(record, "pg_major");

	if (json_is_integer(major))
		return (int) json_integer_value(major);
	return (int) (json_integer_value(json_object_get(record, "pg_version_num")) / 10000);
}

json_t *
rvx_backup_summary(const json_t *record)
{
	json_t	   *sum = json_object();
	const char *name;
	json_t	   *value;

	if (sum == NULL)
		return NULL;
	/* copies, not shared references: summaries outlive records, across threads */
	json_object_foreach((json_t *) record, name, value)
	{
		if (strcmp(name, "files") == 0 || strcmp(name, "directories") == 0)
			continue;
		if (json_object_set_new(sum, name, json_deep_copy(value)) != 0)
		{
			json_decref(sum);
			return NULL;
		}
	}
	return sum;
}

/* ---------------------------------------------------------------- catalog */

struct RvxCatalog
{
	pthread_mutex_t lock;		/* held across a whole refresh, so adds wait for it */
	char	   *path;			/* status/backups.json in the spool */
	uint64_t	system_id;
	/* id -> {"key": record key, "size": its size, "summary": {...}} */
	json_t	   *known;
	char	   *vpath;			/* status/verifications.json in the spool */
	json_t	   *drills;			/* report key -> its summary (reports never change) */
	json_t	   *drill_order;	/* the published report keys, newest first */
};

RvxCatalog *
rvx_catalog_new(const char *spool_dir, uint64_t system_id)
{
	RvxCatalog *cat = calloc(1, sizeof(RvxCatalog));
	size_t		len = strlen(spool_dir) + strlen(RVX_SPOOL_BACKUPS_FILE) + 2;

	if (cat == NULL)
		return NULL;
	cat->path = malloc(len);
	cat->vpath = malloc(strlen(spool_dir) + strlen(RVX_SPOOL_VERIFICATIONS_FILE) + 2);
	cat->known = json_object();
	cat->drills = json_object();
	cat->drill_order = json_array();
	if (cat->path == NULL || cat->vpath == NULL || cat->known == NULL || cat->drills == NULL ||
		cat->drill_order == NULL)
	{
		rvx_catalog_free(cat);
		return NULL;
	}
	snprintf(cat->path, len, "%s/%s", spool_dir, RVX_SPOOL_BACKUPS_FILE);
	snprintf(cat->vpath, strlen(spool_dir) + strlen(RVX_SPOOL_VERIFICATIONS_FILE) + 2, "%s/%s",
			 spool_dir, RVX_SPOOL_VERIFICATIONS_FILE);
	cat->system_id = system_id;
	pthread_mutex_init(&cat->lock, NULL);
	return cat;
}

void
rvx_catalog_free(RvxCatalog *cat)
{
	if (cat == NULL)
		return;
	json_decref(cat->known);
	json_decref(cat->drills);
	json_decref(cat->drill_order);
	free(cat->path);
	free(cat->vpath);
	pthread_mutex_destroy(&cat->lock);
	free(cat);
}

/* Caller holds the lock. */
static int
remember(RvxCatalog *cat, const char *id, const char *key, uint64_t size, const json_t *record)
{
	json_t	   *summary = rvx_backup_summary(record);
	json_t	   *entry;

	if (summary == NULL)
		return -1;
	/* a new backup is not pinned; refreshes follow the pins (rvx_catalog_refresh) */
	if (json_object_get(summary, "pinned") == NULL)
		json_object_set_new(summary, "pinned", json_false());
	entry = json_pack("{s:s, s:I, s:o}", "key", key, "size", (json_int_t) size,
					  "summary", summary);
	if (entry == NULL)
		return -1;
	return json_object_set_new(cat->known, id, entry);
}

static int
cmp_id_ptr(const void *a, const void *b)
{
	return rvx_backup_id_cmp(*(const char *const *) a, *(const char *const *) b);
}

/* Caller holds the lock. */
static int
publish_locked(RvxCatalog *cat, RvxError *err)
{
	size_t		n = json_object_size(cat->known);
	const char **ids = calloc(n ? n : 1, sizeof(char *));
	json_t	   *backups = json_array();
	json_t	   *doc;
	const char *id;
	json_t	   *entry;
	char	   *text;
	size_t		i = 0;
	int			rc;

	if (ids == NULL || backups == NULL)
	{
		free(ids);
		json_decref(backups);
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	json_object_foreach(cat->known, id, entry)
		ids[i++] = id;
	qsort(ids, n, sizeof(char *), cmp_id_ptr);
	for (i = 0; i < n; i++)
		json_array_append(backups, json_object_get(json_object_get(cat->known, ids[i]), "summary"));
	free(ids);
	doc = json_pack("{s:i, s:I, s:o}", "format", 1, "updated_at", (json_int_t) time(NULL),
					"backups", backups);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	rc = rvx_write_file_durable(cat->path, text, strlen(text), true, err);
	free(text);
	return rc;
}

/* ---------------------------------------------------------------- drills */

/* The published summary of a drill report (verify.c writes the report). */
static json_t *
drill_summary(const json_t *report, const char *key)
{
	json_t	   *failed = json_object_get(report, "failed_checks");

	if (!json_is_string(json_object_get(report, "backup_id")) ||
		!json_is_boolean(json_object_get(report, "passed")))
		return NULL;
	failed = json_is_array(failed) ? json_incref(failed) : json_array();
	return json_pack("{s:O, s:O*, s:O*, s:O, s:O*, s:O*, s:o, s:s}",
				  "backup_id", json_object_get(report, "backup_id"),
				  "started_at", json_object_get(report, "started_at"),
				  "finished_at", json_object_get(report, "finished_at"),
				  "passed", json_object_get(report, "passed"),
				  "recovery_seconds", json_object_get(report, "recovery_seconds"),
				  "total_seconds", json_object_get(report, "total_seconds"),
				  "failed_checks", failed,
				  "report_key", key);
}

/*
 * Reads the reports among the newest RVX_VERIFICATIONS_MAX of keys (sorted
 * newest first) not read yet, and forgets the others.  A report that cannot be read is left out (and
 * tried again next time): one bad object must not hide the rest.  Caller
 * holds the lock.
 */
static void
refresh_drills(RvxCatalog *cat, RvxRepo *repo, char *const *keys, size_t nkeys)
{
	json_t	   *order = json_array();
	json_t	   *keep = json_object();
	size_t		n = nkeys < RVX_VERIFICATIONS_MAX ? nkeys : RVX_VERIFICATIONS_MAX;

	if (order == NULL || keep == NULL)
	{
		json_decref(order);
		json_decref(keep);
		return;
	}
	for (size_t i = 0; i < n; i++)
	{
		const char *key = keys[i];
		json_t	   *summary = json_object_get(cat->drills, key);

		if (summary)
			json_incref(summary);
		else
		{
			char	   *text;
			size_t		len;
			json_t	   *report;
			json_error_t jerr;
			RvxError	lerr;

			if (rvx_fetch_to_buffer(repo, key, cat->system_id, RVX_VERIFY_REPORT_MAX, &text, &len,
									NULL, &lerr) != 0)
			{
				rvx_warn("drill report \"%s\" is left out of %s: %s", key,
						 RVX_SPOOL_VERIFICATIONS_FILE, lerr.msg);
				continue;
			}
			report = json_loadb(text, len, 0, &jerr);
			free(text);
			summary = report ? drill_summary(report, key) : NULL;
			json_decref(report);
			if (summary == NULL)
			{
				rvx_warn("drill report \"%s\" is left out of %s: not a drill report", key,
						 RVX_SPOOL_VERIFICATIONS_FILE);
				continue;
			}
		}
		json_object_set_new(keep, key, summary);
		json_array_append_new(order, json_string(key));
	}
	json_decref(cat->drills);
	json_decref(cat->drill_order);
	cat->drills = keep;
	cat->drill_order = order;
}

/* Writes status/verifications.json atomically.  Caller holds the lock. */
static int
publish_drills_locked(RvxCatalog *cat, RvxError *err)
{
	json_t	   *list = json_array();
	json_t	   *doc;
	size_t		i;
	json_t	   *key;
	char	   *text;
	int			rc;

	if (list == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	json_array_foreach(cat->drill_order, i, key)
		json_array_append(list, json_object_get(cat->drills, json_string_value(key)));
	doc = json_pack("{s:i, s:I, s:o}", "format", 1, "updated_at", (json_int_t) time(NULL),
					"verifications", list);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	rc = rvx_write_file_durable(cat->vpath, text, strlen(text), true, err);
	free(text);
	return rc;
}

int
rvx_catalog_publish(RvxCatalog *cat, RvxError *err)
{
	int			rc;

	pthread_mutex_lock(&cat->lock);
	rc = publish_locked(cat, err);
	pthread_mutex_unlock(&cat->lock);
	return rc;
}

int
rvx_catalog_add(RvxCatalog *cat, const char *id, const char *record_key,
				uint64_t record_size, const json_t *record, RvxError *err)
{
	int			rc;

	pthread_mutex_lock(&cat->lock);
	if (remember(cat, id, record_key, record_size, record) != 0)
		rc = rvx_error(err, RVX_E_INTERNAL, "out of memory");
	else
		rc = publish_locked(cat, err);
	pthread_mutex_unlock(&cat->lock);
	return rc;
}

int
rvx_catalog_refresh(RvxCatalog *cat, RvxRepo *repo, RvxError *err)
{
	RvxBackupList list;
	const char *id;
	json_t	   *entry;
	void	   *tmp;
	int			rc;

	pthread_mutex_lock(&cat->lock);
	if (rvx_backup_list(repo, &list, err) != 0)
	{
		pthread_mutex_unlock(&cat->lock);
		return -1;
	}
	/* forget what is gone (expired, or no longer complete) */
	json_object_foreach_safe(cat->known, tmp, id, entry)
	{
		const RvxBackupRef *ref = rvx_backup_list_find(&list, id);

		if (ref == NULL || ref->record_key[0] == '\0')
			json_object_del(cat->known, id);
	}
	for (size_t i = 0; i < list.n; i++)
	{
		const RvxBackupRef *ref = &list.items[i];
		json_t	   *record;
		RvxError	lerr;

		if (ref->record_key[0] == '\0')
			continue;
		entry = json_object_get(cat->known, ref->id);
		if (!entry || strcmp(json_string_value(json_object_get(entry, "key")), ref->record_key) != 0 ||
			(uint64_t) json_integer_value(json_object_get(entry, "size")) != ref->record_size)
		{
			if (rvx_backup_record_load(repo, ref->record_key, ref->id, cat->system_id, &record,
									   &lerr) != 0)
			{
				/* one bad record must not hide the others; it is simply not listed */
				rvx_warn("backup %s is left out of the catalog: %s", ref->id, lerr.msg);
				json_object_del(cat->known, ref->id);
				continue;
			}
			rc = remember(cat, ref->id, ref->record_key, ref->record_size, record);
			json_decref(record);
			if (rc != 0)
			{
				rvx_backup_list_free(&list);
				pthread_mutex_unlock(&cat->lock);
				return rvx_error(err, RVX_E_INTERNAL, "out of memory");
			}
			entry = json_object_get(cat->known, ref->id);
		}
		/* a pin comes and goes without the record changing */
		json_object_set_new(json_object_get(entry, "summary"), "pinned",
							json_boolean(ref->pinned));
	}
	refresh_drills(cat, repo, list.verify_keys, list.n_verify);
	rvx_backup_list_free(&list);
	rc = publish_locked(cat, err);
	if (rc == 0)
		rc = publish_drills_locked(cat, err);
	pthread_mutex_unlock(&cat->lock);
	return rc;
}

/* Collects the keys below a backup's verify/ prefix. */
static int
collect_drill_key(void *arg, const char *key, uint64_t size)
{
	return list_verify_key((RvxBackupList *) arg, key);
}

int
rvx_catalog_refresh_drills(RvxCatalog *cat, RvxRepo *repo, int newest_backups, RvxError *err)
{
	RvxBackupList keys;
	size_t		n;
	const char **ids;
	const char *id;
	json_t	   *entry;
	json_t	   *before;
	size_t		i = 0;
	size_t		j;
	json_t	   *k;
	int			rc = 0;

	memset(&keys, 0, sizeof(keys));
	pthread_mutex_lock(&cat->lock);
	n = json_object_size(cat->known);	/* under the lock: adds come from other threads */
	ids = calloc(n ? n : 1, sizeof(char *));
	if (ids == NULL)
	{
		pthread_mutex_unlock(&cat->lock);
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	json_object_foreach(cat->known, id, entry)
		ids[i++] = id;
	qsort(ids, n, sizeof(char *), cmp_id_ptr);
	/* the newest backups, whose drills are the ones that run now */
	for (i = n; i > 0 && (int) (n - i) < newest_backups && rc == 0; i--)
	{
		char		prefix[RVX_BACKUP_ID_MAXLEN + 32];

		snprintf(prefix, sizeof(prefix), "%s%s/%s", RVX_BACKUP_KEY_PREFIX, ids[i - 1],
				 RVX_BACKUP_VERIFY_DIR);
		rc = rvx_repo_list(repo, prefix, collect_drill_key, &keys, err);
	}
	free(ids);
	/* ...plus what is already published for older ones */
	json_array_foreach(cat->drill_order, j, k)
	{
		bool		dup = false;

		for (size_t m = 0; m < keys.n_verify && !dup; m++)
			dup = strcmp(keys.verify_keys[m], json_string_value(k)) == 0;
		if (!dup && rc == 0 && list_verify_key(&keys, json_string_value(k)) != 0)
			rc = rvx_error(err, RVX_E_INTERNAL, "out of memory");
	}
	if (rc == 0)
	{
		if (keys.n_verify > 1)
			qsort(keys.verify_keys, keys.n_verify, sizeof(char *), cmp_verify_key);
		before = json_incref(cat->drill_order);
		refresh_drills(cat, repo, keys.verify_keys, keys.n_verify);
		if (!json_equal(before, cat->drill_order))
			rc = publish_drills_locked(cat, err);
		json_decref(before);
	}
	pthread_mutex_unlock(&cat->lock);
	rvx_backup_list_free(&keys);
	return rc;
}
