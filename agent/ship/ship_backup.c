/*-------------------------------------------------------------------------
 *
 * ship_backup.c
 *	  Shipping a base backup from the spool (see ship_backup.h).
 *
 * Deleting a shipped object from the spool is not followed by an fsync of
 * its directory: if a crash brings the file back, it is shipped again,
 * which finds identical content and does nothing.  Everything that tells
 * the server something (.ok, .error) is written durably.
 *
 * Audit (audit.h): a backup is acknowledged to the server (.ok) only after
 * its audit record is stored, and an aborted one is cleaned up only after
 * its failure is recorded.  If the record cannot be written the job fails
 * and is repeated (the backup itself stays stored and restorable), so
 * every backup is recorded at least once; a crash between the record and
 * the .ok can record a backup twice, with the same id.
 *
 * Once backup.json is stored the backup is restorable, so nothing after it
 * may fail the backup on the server: every later error is reported as
 * transient (retried with backoff).  The audit record is waited for only
 * so long (rvx_ship_backup_set_audit_bound(), REVRX_AUDIT_PENDING_AFTER_S,
 * counted from the first failure this process saw): then the backup is
 * acknowledged anyway, its record is queued in the spool
 * (status/audit-pending/<id>.json) and `run` keeps trying to store it
 * (rvx_ship_backup_audit_retry()).  An abort of a backup whose record is
 * stored does the same: records it as complete and drops its lease.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file_utils.h"
#include "base/log.h"
#include "base/strvec.h"
#include "info/audit.h"
#include "info/fetch.h"
#include "info/store.h"
#include "retention/expire.h"
#include "ship/ship_backup.h"
#include "spool.h"

#define RECORD_SPOOL_NAME	RVX_BACKUP_RECORD RVX_SPOOL_READY_SUFFIX

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		a = strlen(s),
				b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int
backup_dir(char *out, size_t cap, const char *spool_dir, const char *id, RvxError *err)
{
	if (!rvx_backup_id_valid(id))
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not a backup id", id);
	if (snprintf(out, cap, "%s/%s/%s", spool_dir, RVX_SPOOL_BACKUP_DIR, id) >= (int) cap)
		return rvx_error(err, RVX_E_IO, "spool path too long for backup %s", id);
	return 0;
}

/* ---------------------------------------------------------------- scan */

typedef struct ScanState
{
	RvxBackupObjectFn fn;
	void	   *arg;
	bool		stop_reporting;
	RvxBackupScan *scan;
	RvxError   *err;
} ScanState;

static int
scan_dir(ScanState *ss, const char *root, const char *rel)
{
	char		path[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	int			rc = 0;

	snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(path);
	if (d == NULL)
	{
		if (errno == ENOENT)
			return 0;			/* removed while we looked */
		return rvx_error(ss->err, RVX_E_IO, "could not open directory \"%s\": %s",
						 path, strerror(errno));
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
	{
		char		relpath[PATH_MAX];
		unsigned char type = de->d_type;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(relpath, sizeof(relpath), "%s%s%s", rel, *rel ? "/" : "",
					 de->d_name) >= (int) sizeof(relpath))
			continue;
		/* no stat per file: a spool may hold very many small ones */
		if (type == DT_UNKNOWN)
		{
			struct stat st;

			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
				continue;		/* shipped or renamed meanwhile */
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (type == DT_DIR)
		{
			rc = scan_dir(ss, root, relpath);
			continue;
		}
		if (type != DT_REG)
			continue;
		if (ends_with(de->d_name, RVX_SPOOL_TMP_SUFFIX))
			ss->scan->temporary++;
		else if (strcmp(relpath, RECORD_SPOOL_NAME) == 0)
			ss->scan->has_record = true;
		else if (ends_with(de->d_name, RVX_SPOOL_READY_SUFFIX))
		{
			ss->scan->objects++;
			if (ss->fn && !ss->stop_reporting)
			{
				int			r;

				relpath[strlen(relpath) - strlen(RVX_SPOOL_READY_SUFFIX)] = '\0';
				r = ss->fn(ss->arg, relpath);
				if (r < 0)
					rc = -1;
				else if (r > 0)
					ss->stop_reporting = true;
			}
		}
	}
	closedir(d);
	return rc;
}

int
rvx_backup_spool_scan(const char *spool_dir, const char *id, RvxBackupObjectFn fn,
					  void *arg, RvxBackupScan *scan, RvxError *err)
{
	char		dir[PATH_MAX];
	struct stat st;
	ScanState	ss = {fn, arg, false, scan, err};

	memset(scan, 0, sizeof(*scan));
	if (backup_dir(dir, sizeof(dir), spool_dir, id, err) != 0)
		return -1;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	scan->exists = true;
	return scan_dir(&ss, dir, "");
}

/* ---------------------------------------------------------------- helpers */

/* Deletes the empty directories of a committed backup, bottom up. */
static void
remove_empty_dirs(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		char		sub[PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		remove_empty_dirs(sub);
	}
	closedir(d);
	if (rmdir(dir) != 0 && errno != ENOENT && errno != ENOTDIR)
		rvx_warn("could not remove \"%s\": %s", dir, strerror(errno));
}


static int
ack_path(char *out, size_t cap, const char *spool_dir, const char *id, const char *suffix)
{
	return snprintf(out, cap, "%s/%s/%s%s", spool_dir, RVX_SPOOL_BACKUP_DIR, id, suffix) >=
		(int) cap ? -1 : 0;
}

void
rvx_backup_spool_tidy(const char *spool_dir, const char *id)
{
	char		dir[PATH_MAX];
	char		okpath[PATH_MAX];
	RvxBackupScan scan;
	RvxError	err;

	if (backup_dir(dir, sizeof(dir), spool_dir, id, &err) != 0 ||
		ack_path(okpath, sizeof(okpath), spool_dir, id, RVX_SPOOL_OK_SUFFIX) != 0 ||
		access(okpath, F_OK) != 0)
		return;
	if (rvx_backup_spool_scan(spool_dir, id, NULL, NULL, &scan, &err) == 0 &&
		scan.objects == 0 && scan.temporary == 0 && !scan.has_record)
		remove_empty_dirs(dir);
}

void
rvx_ship_backup_record_error(const char *spool_dir, const char *id, const RvxError *error)
{
	char		path[PATH_MAX];
	char		text[RVX_SPOOL_NOTE_MAX];
	RvxError	werr;

	if (ack_path(path, sizeof(path), spool_dir, id, RVX_SPOOL_ERROR_SUFFIX) != 0)
		return;
	rvx_spool_error_format(text, sizeof(text), !rvx_error_transient(error),
						   (long long) time(NULL), error->msg);
	if (rvx_write_file_durable(path, text, strlen(text), true, &werr) != 0)
		rvx_warn("could not record error for backup %s: %s", id, werr.msg);
}

/* ---------------------------------------------------------------- leases */

/*
 * The lease (expire.h) of a backup is stored before its first object, so
 * that an expire anywhere keeps the backup's objects and the WAL it needs.
 * Which leases this process stored is remembered (per repository), so the
 * repository is asked once per backup, not once per object; the lock also
 * makes the workers shipping one backup's first objects wait for one
 * lease instead of racing to store several.  A restarted agent finds its
 * earlier lease in the repository and keeps it.
 */
#define LEASE_CACHE		8

static pthread_mutex_t lease_lock = PTHREAD_MUTEX_INITIALIZER;
static char lease_cache[LEASE_CACHE][RVX_BACKUP_ID_MAXLEN + 512];
static int	lease_next = 0;

static void
lease_cache_name(char *out, size_t cap, const RvxRepo *repo, const char *id)
{
	snprintf(out, cap, "%s|%s", repo->display, id);
}

static int
ensure_lease(RvxRepo *repo, const char *id, const RvxClusterInfo *cluster, const char *dir,
			 RvxError *err)
{
	char		name[sizeof(lease_cache[0])];
	int			rc = 0;

	lease_cache_name(name, sizeof(name), repo, id);
	pthread_mutex_lock(&lease_lock);
	for (int i = 0; i < LEASE_CACHE; i++)
		if (strcmp(lease_cache[i], name) == 0)
		{
			pthread_mutex_unlock(&lease_lock);
			return 0;
		}
	rc = rvx_lease_acquire(repo, id, cluster->system_id, dir, err);
	if (rc == 0)
	{
		snprintf(lease_cache[lease_next], sizeof(lease_cache[0]), "%s", name);
		lease_next = (lease_next + 1) % LEASE_CACHE;
	}
	pthread_mutex_unlock(&lease_lock);
	return rc;
}

static int
drop_lease(RvxRepo *repo, const char *id, RvxError *err)
{
	char		name[sizeof(lease_cache[0])];

	lease_cache_name(name, sizeof(name), repo, id);
	pthread_mutex_lock(&lease_lock);
	for (int i = 0; i < LEASE_CACHE; i++)
		if (strcmp(lease_cache[i], name) == 0)
			lease_cache[i][0] = '\0';
	pthread_mutex_unlock(&lease_lock);
	return rvx_lease_release(repo, id, err);
}

/* ---------------------------------------------------------------- objects */

int
rvx_ship_backup_object(RvxRepo *repo, const char *spool_dir, const char *id,
					   const char *relpath, const RvxClusterInfo *cluster,
					   RvxStoreResult *res, RvxError *err)
{
	char		dir[PATH_MAX];
	char		path[PATH_MAX];
	char		key[PATH_MAX];
	RvxObjectHeader hdr;
	uint64_t	size;
	int			fd;
	int			rc;

	memset(res, 0, sizeof(*res));
	if (backup_dir(dir, sizeof(dir), spool_dir, id, err) != 0)
		return -1;
	if (!rvx_backup_relpath_valid(relpath) || strcmp(relpath, RVX_BACKUP_RECORD) == 0)
		return rvx_error(err, RVX_E_INTERNAL, "\"%s\" is not an object of backup %s", relpath, id);
	if (snprintf(path, sizeof(path), "%s/%s%s", dir, relpath, RVX_SPOOL_READY_SUFFIX) >=
		(int) sizeof(path))
		return rvx_error(err, RVX_E_IO, "spool path too long for \"%s\"", relpath);
	if (rvx_spool_object_open(path, cluster, &fd, &hdr, &size, err) != 0)
		return -1;
	snprintf(key, sizeof(key), "%s%s/%s%s", RVX_BACKUP_KEY_PREFIX, id, relpath,
			 rvx_compression_suffix((RvxCompression) hdr.compression));

	if (ensure_lease(repo, id, cluster, dir, err) != 0)
	{
		close(fd);
		return -1;
	}
	rc = rvx_store_object(repo, key, fd, size, &hdr, dir, res, err);
	close(fd);
	if (rc != 0)
		return -1;
	if (res->already_stored)
		rvx_debug("\"%s\" was already in %s with the same content", key, repo->display);
	if (unlink(path) != 0 && errno != ENOENT)
		return rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
	return 0;
}

/* ---------------------------------------------------------------- commit */

/*
 * Is a complete copy of WAL segment name stored?  1 yes, 0 no (missing, or
 * an incomplete copy the WAL shipper has yet to replace), -1 error.
 */
static int
wal_stored(RvxRepo *repo, const char *name, RvxCompression preferred, RvxError *err)
{
	char		key[256];
	RvxObjectInfo info;
	RvxObjectHeader hdr;
	int			rc = rvx_wal_find(repo, name, preferred, key, sizeof(key), &info, err);

	if (rc <= 0)
		return rc;
	if (info.size < RVX_OBJECT_HEADER_LEN)
		return 0;
	if (rvx_object_read_header(repo, key, &hdr, err) != 0)
		return -1;
	return info.size == RVX_OBJECT_HEADER_LEN + hdr.payload_size;
}

/* Is every segment from start_wal to stop_wal stored?  Fills missing if not. */
static int
check_wal(RvxRepo *repo, const json_t *record, const RvxClusterInfo *cluster,
		  RvxCompression preferred, char *missing, size_t cap, RvxError *err)
{
	const char *start = json_string_value(json_object_get(record, "start_wal"));
	const char *stop = json_string_value(json_object_get(record, "stop_wal"));
	uint64_t	segsize = cluster->wal_segment_size ? cluster->wal_segment_size :
		UINT64_C(16) * 1024 * 1024;
	uint32_t	tli;
	uint64_t	first,
				last;

	*missing = '\0';
	/* a backup taken across a timeline switch: check the range on the last one */
	if (start == NULL || !rvx_walname_segno(start, segsize, &tli, &first))
		return rvx_error(err, RVX_E_CORRUPT, "invalid start_wal \"%s\"", start ? start : "");
	if (stop == NULL || !rvx_walname_segno(stop, segsize, &tli, &last))
		return rvx_error(err, RVX_E_CORRUPT, "invalid stop_wal \"%s\"", stop ? stop : "");
	if (strncmp(start, stop, 8) != 0)
	{
		int			rc = wal_stored(repo, start, preferred, err);

		if (rc <= 0)
		{
			if (rc == 0)
				snprintf(missing, cap, "WAL segment %s", start);
			return rc;
		}
	}
	if (first > last)
		first = last;
	for (uint64_t seg = first; seg <= last; seg++)
	{
		char		name[RVX_WALNAME_SEGLEN + 1];
		int			rc;

		rvx_walname_segment(tli, seg, segsize, name);
		rc = wal_stored(repo, name, preferred, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
		{
			snprintf(missing, cap, "WAL segment %s", name);
			return 0;
		}
	}
	return 0;
}

typedef struct MergeState
{
	const char **keys;			/* the record's keys, sorted */
	const json_t **files;		/* the file of each key */
	size_t		n;
	size_t		next;			/* first key not yet seen in the listing */
	const char *missing_key;	/* first key the listing skipped */
	size_t		missing_index;
	bool		manifest;		/* backup_manifest is stored */
	const char *prefix;			/* "backup/<id>/" */
} MergeState;

static int
merge_key(void *arg, const char *key, uint64_t size)
{
	MergeState *ms = arg;

	if (strncmp(key, ms->prefix, strlen(ms->prefix)) == 0 &&
		rvx_backup_key_is(key + strlen(ms->prefix), RVX_BACKUP_MANIFEST))
		ms->manifest = true;
	/* both sides are in byte order: walk them together */
	while (ms->next < ms->n && strcmp(ms->keys[ms->next], key) < 0)
	{
		if (ms->missing_key == NULL)
		{
			ms->missing_key = ms->keys[ms->next];
			ms->missing_index = ms->next;
		}
		ms->next++;
	}
	if (ms->next < ms->n && strcmp(ms->keys[ms->next], key) == 0)
	{
		json_t	   *stored = json_object_get(ms->files[ms->next], "stored");

		if (json_is_integer(stored) && (uint64_t) json_integer_value(stored) != size)
			rvx_warn("object \"%s\" has %" PRIu64 " bytes, the backup record says %" PRId64,
					 key, size, (int64_t) json_integer_value(stored));
		ms->next++;
	}
	return 0;
}

typedef struct KeyFile
{
	const char *key;
	const json_t *file;
} KeyFile;

static int
cmp_keyfile(const void *a, const void *b)
{
	return strcmp(((const KeyFile *) a)->key, ((const KeyFile *) b)->key);
}

/*
 * Is every file the record lists stored under its key, and the manifest?
 * One listing of the backup's prefix answers it, however many files.
 */
static int
check_objects(RvxRepo *repo, const char *id, const json_t *record, RvxError *err)
{
	const json_t *files = json_object_get(record, "files");
	size_t		n = json_array_size(files);
	KeyFile    *kf = calloc(n ? n : 1, sizeof(KeyFile));
	MergeState	ms = {0};
	char		prefix[RVX_BACKUP_ID_MAXLEN + 16];
	int			rc = -1;

	ms.keys = calloc(n ? n : 1, sizeof(char *));
	ms.files = calloc(n ? n : 1, sizeof(json_t *));
	if (kf == NULL || ms.keys == NULL || ms.files == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
	{
		kf[i].file = json_array_get(files, i);
		kf[i].key = json_string_value(json_object_get(kf[i].file, "key"));
	}
	qsort(kf, n, sizeof(KeyFile), cmp_keyfile);
	for (size_t i = 0; i < n; i++)
	{
		ms.keys[i] = kf[i].key;
		ms.files[i] = kf[i].file;
	}
	ms.n = n;
	snprintf(prefix, sizeof(prefix), "%s%s/", RVX_BACKUP_KEY_PREFIX, id);
	ms.prefix = prefix;
	if (rvx_repo_list(repo, prefix, merge_key, &ms, err) != 0)
		goto out;
	if (ms.missing_key == NULL && ms.next < ms.n)
	{
		ms.missing_key = ms.keys[ms.next];
		ms.missing_index = ms.next;
	}
	if (ms.missing_key)
	{
		rvx_error(err, RVX_E_CORRUPT,
				  "backup %s cannot be completed: object \"%s\" of file \"%s\" is not in %s, "
				  "and nothing is left to ship",
				  id, ms.missing_key,
				  json_string_value(json_object_get(ms.files[ms.missing_index], "path")),
				  repo->display);
		goto out;
	}
	if (!ms.manifest)
	{
		rvx_error(err, RVX_E_CORRUPT,
				  "backup %s cannot be completed: its %s is not in %s, and nothing is left to ship",
				  id, RVX_BACKUP_MANIFEST, repo->display);
		goto out;
	}
	rc = 0;

out:
	free(kf);
	free(ms.keys);
	free(ms.files);
	return rc;
}

/* ------------------------------------------------------- audit of a commit */

static pthread_mutex_t audit_lock = PTHREAD_MUTEX_INITIALIZER;
static int	audit_bound_s = 600;

/* Since when (epoch seconds) the audit record of a stored backup fails, per id. */
#define AUDIT_CLOCKS 16
static struct
{
	char		id[RVX_BACKUP_ID_MAXLEN + 1];
	double		since;
}			audit_clock[AUDIT_CLOCKS];

void
rvx_ship_backup_set_audit_bound(int seconds)
{
	pthread_mutex_lock(&audit_lock);
	audit_bound_s = seconds;
	pthread_mutex_unlock(&audit_lock);
}

/*
 * Whether the audit record of backup id has failed for longer than the
 * bound (this call counts as a failure); forget: the record is done with.
 */
static bool
audit_overdue(const char *id, bool forget)
{
	double		now = rvx_now_s();
	int			slot = -1,
				oldest = 0;
	bool		overdue = false;

	pthread_mutex_lock(&audit_lock);
	for (int i = 0; i < AUDIT_CLOCKS; i++)
	{
		if (strcmp(audit_clock[i].id, id) == 0)
			slot = i;
		if (audit_clock[i].since < audit_clock[oldest].since)
			oldest = i;
	}
	if (forget)
	{
		if (slot >= 0)
			audit_clock[slot].id[0] = '\0';
	}
	else if (slot < 0)
	{
		/* a new clock (the oldest one goes: its backup was long acknowledged) */
		snprintf(audit_clock[oldest].id, sizeof(audit_clock[oldest].id), "%s", id);
		audit_clock[oldest].since = now;
		overdue = audit_bound_s <= 0;
	}
	else
		overdue = now - audit_clock[slot].since >= audit_bound_s;
	pthread_mutex_unlock(&audit_lock);
	return overdue;
}

/*
 * An error after backup.json is stored: the backup is restorable, so the
 * server must not fail it; the step is repeated instead.
 */
static void
after_commit_point(RvxError *err)
{
	if (!rvx_error_transient(err))
		err->code = RVX_E_IO;
}

/* What the audit record of a stored backup says about it. */
static json_t *
commit_details(json_t *record)
{
	static const char *const fields[] = {
		"label", "kind", "parent", "scheduled", "start_time", "stop_time", "start_wal",
		"stop_wal", "original_bytes", "stored_bytes", "file_count", NULL
	};
	json_t	   *details = json_object();

	for (int i = 0; details && fields[i]; i++)
		if (json_object_get(record, fields[i]))
			json_object_set(details, fields[i], json_object_get(record, fields[i]));
	return details;
}

static int
pending_path(char *out, size_t cap, const char *spool_dir, const char *id)
{
	if (snprintf(out, cap, "%s/%s/%s.json", spool_dir, RVX_AUDIT_PENDING_DIR, id) >= (int) cap)
		return -1;
	return 0;
}

/* Queues the audit record of stored backup id for `run` to store later, durably. */
static int
audit_pending_save(const char *spool_dir, const char *id, json_t *record, RvxError *err)
{
	char		path[PATH_MAX];
	char		dir[PATH_MAX];
	json_t	   *o;
	char	   *text;
	int			rc;

	snprintf(dir, sizeof(dir), "%s/%s", spool_dir, RVX_AUDIT_PENDING_DIR);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return rvx_error(err, RVX_E_IO, "could not create \"%s\": %s", dir, strerror(errno));
	if (pending_path(path, sizeof(path), spool_dir, id) != 0)
		return rvx_error(err, RVX_E_IO, "spool path too long for backup %s", id);
	o = json_pack("{s:s, s:o, s:I}", "backup_id", id, "details", commit_details(record),
				  "since", (json_int_t) time(NULL));
	if (o && json_object_get(record, "requested_by"))
		json_object_set(o, "db_role", json_object_get(record, "requested_by"));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	rc = rvx_write_file_durable(path, text, strlen(text), true, err);
	free(text);
	return rc;
}

/* The queue's directory (its path in dir), or NULL (errno says why). */
static DIR *
pending_open(const char *spool_dir, char *dir, size_t cap)
{
	snprintf(dir, cap, "%s/%s", spool_dir, RVX_AUDIT_PENDING_DIR);
	return opendir(dir);
}

/* The next queued record's file name, or NULL at the end. */
static const char *
pending_next(DIR *d)
{
	struct dirent *de;

	while ((de = readdir(d)) != NULL)
		if (ends_with(de->d_name, ".json") && de->d_name[0] != '.')
			return de->d_name;
	return NULL;
}

int
rvx_ship_backup_audit_retry(RvxRepo *repo, const char *spool_dir, const RvxClusterInfo *cluster,
							int *left, RvxError *err)
{
	char		dir[PATH_MAX];
	DIR		   *d;
	const char *name;
	int			rc = 0;

	*left = 0;
	if ((d = pending_open(spool_dir, dir, sizeof(dir))) == NULL)
		return errno == ENOENT ? 0 :
			rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", dir, strerror(errno));
	while ((name = pending_next(d)) != NULL)
	{
		char		path[PATH_MAX];
		json_t	   *o;
		json_error_t jerr;
		RvxAuditEvent ev;
		const char *id;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		o = json_load_file(path, 0, &jerr);
		id = o ? json_string_value(json_object_get(o, "backup_id")) : NULL;
		if (id == NULL || !rvx_backup_id_valid(id))
		{
			rvx_warn("ignoring \"%s\": not a pending audit record", path);
			json_decref(o);
			continue;
		}
		ev = (RvxAuditEvent) {
			.action = "backup",
			.backup_id = id,
			.ok = true,
			.db_role = json_string_value(json_object_get(o, "db_role")),
			.details = json_object_get(o, "details"),
		};
		if (rc == 0 && rvx_audit_write(repo, cluster->system_id, &ev, err) == 0)
		{
			if (unlink(path) != 0 && errno != ENOENT)
				rvx_warn("could not remove \"%s\": %s", path, strerror(errno));
			else
				rvx_info("the pending audit record of backup %s is stored", id);
		}
		else
		{
			/* one failure is enough to know: the others wait for the next try */
			if (rc == 0)
				rvx_error_prefix(err, "the audit record of backup %s is still pending", id);
			rc = -1;
			(*left)++;
		}
		json_decref(o);
	}
	closedir(d);
	return rc;
}

int
rvx_ship_backup_audit_pending(const char *spool_dir)
{
	char		dir[PATH_MAX];
	DIR		   *d = pending_open(spool_dir, dir, sizeof(dir));
	int			n = 0;

	if (d == NULL)
		return 0;
	while (pending_next(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/*
 * The audit record of a stored backup: who asked (backup.json's
 * requested_by), what it is.  Past the bound, queues it instead
 * (*pending) and succeeds; an error is always transient.
 */
static int
audit_commit(RvxRepo *repo, const char *spool_dir, const char *id,
			 const RvxClusterInfo *cluster, json_t *record, bool *pending, RvxError *err)
{
	json_t	   *details = commit_details(record);
	char		path[PATH_MAX];
	RvxAuditEvent ev;
	RvxError	perr;
	int			rc;

	*pending = false;
	ev = (RvxAuditEvent) {
		.action = "backup",
		.backup_id = id,
		.ok = true,
		.db_role = json_string_value(json_object_get(record, "requested_by")),
		.details = details,
	};
	rc = rvx_audit_write(repo, cluster->system_id, &ev, err);
	json_decref(details);
	if (rc == 0)
	{
		(void) audit_overdue(id, true);
		return 0;
	}
	after_commit_point(err);
	/* queued already (an earlier try got past the bound): nothing more to wait for */
	if (pending_path(path, sizeof(path), spool_dir, id) == 0 && access(path, F_OK) == 0)
	{
		*pending = true;
		return 0;
	}
	if (!audit_overdue(id, false))
		return rvx_error_prefix(err, "backup %s is stored, but its audit record could not be written (the commit is repeated)",
								id);
	if (audit_pending_save(spool_dir, id, record, &perr) != 0)
	{
		after_commit_point(&perr);
		*err = perr;
		return rvx_error_prefix(err, "backup %s is stored, but neither its audit record nor a note of it could be written",
								id);
	}
	(void) audit_overdue(id, true);
	rvx_err("AUDIT FAILURE: backup %s is acknowledged as complete without its audit record "
			"(still failing after REVRX_AUDIT_PENDING_AFTER_S=%d): `revrx-agent run` keeps retrying it: %s",
			id, audit_bound_s, err->msg);
	*pending = true;
	return 0;
}

/* The audit record of a failed or aborted backup, with the server's reason. */
static int
audit_abort(RvxRepo *repo, const char *id, uint64_t system_id, const char *marker,
			RvxError *err)
{
	char		why[1024] = "";
	char		clean[1024];
	FILE	   *f = fopen(marker, "r");
	size_t		n = 0;
	RvxAuditEvent ev;

	/* no marker: an earlier cleanup finished, and recorded it */
	if (f == NULL)
		return 0;
	n = fread(why, 1, sizeof(why) - 1, f);
	fclose(f);
	while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == '\r' || why[n - 1] == ' '))
		n--;
	why[n] = '\0';
	/* the reason is text some process wrote: no credential goes into a record */
	rvx_log_redact(why, clean, sizeof(clean));
	ev = (RvxAuditEvent) {
		.action = "backup",
		.backup_id = id,
		.ok = false,
		.error = clean[0] ? clean : "aborted by the server",
	};
	if (rvx_audit_write(repo, system_id, &ev, err) != 0)
		return rvx_error_prefix(err, "backup %s was aborted, but its audit record could not be written (the cleanup is repeated)",
								id);
	return 0;
}

int
rvx_ship_backup_commit(RvxRepo *repo, const char *spool_dir, const char *id,
					   const RvxClusterInfo *cluster, RvxCatalog *catalog,
					   RvxBackupCommit *res, RvxError *err)
{
	char		dir[PATH_MAX];
	char		path[PATH_MAX];
	char		okpath[PATH_MAX];
	char		errpath[PATH_MAX];
	char		what[PATH_MAX + 32];
	char		key[RVX_BACKUP_ID_MAXLEN + 64];
	char		hex[RVX_SHA256_HEXLEN + 2];
	RvxBackupScan scan;
	RvxObjectHeader hdr;
	RvxStoreResult sres = {0};
	RvxError	cerr;
	json_t	   *record = NULL;
	char	   *text = NULL;
	size_t		len;
	uint64_t	size;
	int			fd = -1;
	int			rc = -1;

	memset(res, 0, sizeof(*res));
	if (backup_dir(dir, sizeof(dir), spool_dir, id, err) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, RECORD_SPOOL_NAME);
	if (ack_path(okpath, sizeof(okpath), spool_dir, id, RVX_SPOOL_OK_SUFFIX) != 0 ||
		ack_path(errpath, sizeof(errpath), spool_dir, id, RVX_SPOOL_ERROR_SUFFIX) != 0)
		return rvx_error(err, RVX_E_IO, "spool path too long for backup %s", id);

	/* the record is the commit point: nothing of the backup may still be on its way */
	if (rvx_backup_spool_scan(spool_dir, id, NULL, NULL, &scan, err) != 0)
		return -1;
	if (!scan.has_record || scan.objects > 0 || scan.temporary > 0)
	{
		snprintf(res->waiting_for, sizeof(res->waiting_for),
				 scan.has_record ? "%" PRIu64 " more files in the spool" : "its backup.json",
				 scan.objects + scan.temporary);
		return 0;
	}

	if (rvx_spool_object_open(path, cluster, &fd, &hdr, &size, err) != 0)
		return -1;
	if (rvx_object_load_file(path, cluster->system_id, RVX_BACKUP_RECORD_MAX, &text, &len,
							 NULL, err) != 0)
		goto out;
	snprintf(what, sizeof(what), "\"%s\"", path);
	if (rvx_backup_record_parse(text, len, what, id, cluster->system_id, &record, err) != 0)
		goto out;

	if (check_wal(repo, record, cluster, (RvxCompression) hdr.compression,
				  res->waiting_for, sizeof(res->waiting_for), err) != 0)
		goto out;
	if (res->waiting_for[0])
	{
		rc = 0;
		goto out;
	}
	if (check_objects(repo, id, record, err) != 0)
		goto out;

	snprintf(key, sizeof(key), "%s%s/%s%s", RVX_BACKUP_KEY_PREFIX, id, RVX_BACKUP_RECORD,
			 rvx_compression_suffix((RvxCompression) hdr.compression));
	if (rvx_store_object(repo, key, fd, size, &hdr, dir, &sres, err) != 0)
		goto out;
	res->stored_bytes = sres.stored_bytes;
	/* from here on the backup is restorable: no error may fail it (after_commit_point) */
	if (audit_commit(repo, spool_dir, id, cluster, record, &res->audit_pending, err) != 0)
		goto out;

	/*
	 * The backup is complete: its lease has done its job.  Before the .ok,
	 * so that a crash here repeats the commit, which removes it then.
	 */
	if (drop_lease(repo, id, err) != 0)
	{
		after_commit_point(err);
		goto out;
	}

	/* the catalog first, so that whoever sees the .ok finds the backup listed */
	if (catalog && rvx_catalog_add(catalog, id, key, size, record, &cerr) != 0)
		rvx_warn("could not publish the catalog: %s", cerr.msg);

	rvx_hex_encode(hdr.sha256, RVX_SHA256_LEN, hex);
	strcat(hex, "\n");
	if (rvx_write_file_durable(okpath, hex, strlen(hex), true, err) != 0)
	{
		after_commit_point(err);
		goto out;
	}
	close(fd);
	fd = -1;
	if (unlink(path) != 0 && errno != ENOENT)
	{
		rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
		goto out;
	}
	remove_empty_dirs(dir);
	(void) unlink(errpath);
	snprintf(path, sizeof(path), "%s/%s", spool_dir, RVX_SPOOL_BACKUP_DIR);
	if (rvx_fsync_dir(path, err) != 0)
		goto out;
	res->committed = true;
	rc = 0;

out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(record);
	return rc;
}

/* ---------------------------------------------------------------- abort */

/*
 * An aborted backup whose backup.json is stored: it is complete, so it is
 * recorded as such (if its commit had not recorded it: its spool record
 * is still there) and its lease goes, as its commit would have done.
 */
static int
abort_complete(RvxRepo *repo, const char *spool_dir, const char *id, const char *dir,
			   const RvxClusterInfo *cluster, RvxError *err)
{
	char		path[PATH_MAX];
	char		what[PATH_MAX + 32];
	char	   *text = NULL;
	size_t		len;
	json_t	   *record = NULL;
	bool		pending;
	int			rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, RECORD_SPOOL_NAME);
	if (access(path, F_OK) == 0)
	{
		snprintf(what, sizeof(what), "\"%s\"", path);
		if (rvx_object_load_file(path, cluster->system_id, RVX_BACKUP_RECORD_MAX, &text, &len,
								 NULL, err) != 0 ||
			rvx_backup_record_parse(text, len, what, id, cluster->system_id, &record, err) != 0)
		{
			/* unreadable: the record still says what is known, the id */
			rvx_warn("%s", err->msg);
			record = json_object();
		}
		rc = audit_commit(repo, spool_dir, id, cluster, record, &pending, err);
	}
	if (rc == 0 && drop_lease(repo, id, err) != 0)
		rc = -1;
	free(text);
	json_decref(record);
	return rc;
}

int
rvx_ship_backup_abort(RvxRepo *repo, const char *spool_dir, const char *id,
					  const RvxClusterInfo *cluster, RvxError *err)
{
	char		dir[PATH_MAX];
	char		marker[PATH_MAX];
	char		errpath[PATH_MAX];
	char		prefix[RVX_BACKUP_ID_MAXLEN + 16];
	RvxStrVec	kv = {0};
	bool		complete = false;
	int			rc = 0;

	if (backup_dir(dir, sizeof(dir), spool_dir, id, err) != 0)
		return -1;
	ack_path(marker, sizeof(marker), spool_dir, id, RVX_SPOOL_ABORTED_SUFFIX);
	ack_path(errpath, sizeof(errpath), spool_dir, id, RVX_SPOOL_ERROR_SUFFIX);

	/*
	 * A backup whose record is stored is complete, whatever the server
	 * concluded meanwhile: never delete a restorable backup.
	 */
	snprintf(prefix, sizeof(prefix), "%s%s/", RVX_BACKUP_KEY_PREFIX, id);
	if (rvx_repo_list(repo, prefix, rvx_strvec_collect_key, &kv, err) != 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < kv.n; i++)
		if (rvx_backup_key_is(kv.s[i] + strlen(prefix), RVX_BACKUP_RECORD))
			complete = true;
	if (rc == 0 && complete)
	{
		rvx_warn("backup %s was aborted by the server, but it is complete in %s; it is kept",
				 id, repo->display);
		rc = abort_complete(repo, spool_dir, id, dir, cluster, err);
	}
	else
	{
		for (size_t i = 0; rc == 0 && i < kv.n; i++)
			rc = rvx_repo_remove(repo, kv.s[i], err);
		if (rc == 0 && kv.n > 0)
			rvx_info("removed %zu objects of aborted backup %s from %s", kv.n, id, repo->display);
	}
	rvx_strvec_free(&kv);
	if (rc != 0)
		return -1;
	/* nothing of it is left in the repository: the lease goes (abort_complete dropped a complete one's) */
	if (!complete && drop_lease(repo, id, err) != 0)
		return -1;
	/* before the marker goes: a failure to record it repeats this cleanup */
	if (!complete && audit_abort(repo, id, cluster->system_id, marker, err) != 0)
		return -1;

	/* nothing in a spool directory is worth keeping once done */
	if (rvx_remove_tree(dir, false, err) != 0)
		return -1;
	(void) unlink(errpath);
	if (unlink(marker) != 0 && errno != ENOENT)
		return rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", marker, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/%s", spool_dir, RVX_SPOOL_BACKUP_DIR);
	return rvx_fsync_dir(dir, err);
}
