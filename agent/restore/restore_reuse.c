/*-------------------------------------------------------------------------
 *
 * restore_reuse.c
 *	  What of an existing data directory `restore --delta` keeps (see
 *	  restore_reuse.h).
 *
 * The walk is one pass over the data directory and the tablespace
 * locations; the hashing is the cost, so it runs on every core: the
 * candidates (files of the backup found with their recorded size) are cut
 * into tasks, taken largest first by `threads` threads.  A file whose
 * record has a chunk digest gives one task per 8 MiB piece, so every
 * thread can read a part of the same 1 GB relation segment; the thread
 * that hashes a file's last piece combines the pieces' digests and
 * compares.  Any other file is one task, its SHA-256, read in 1 MiB reads:
 * one SHA-256 cannot be split, so a large file without a chunk digest (a
 * backup from before them) takes one core for its whole length.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file_utils.h"
#include "base/log.h"
#include "restore/restore_reuse.h"

#define HASH_CHUNK		(1024 * 1024)

/* Files every restore writes itself, never from the backup's list. */
static const char *const own_files[] = {
	"global/pg_control",		/* last, after everything else */
	"backup_manifest",
	"recovery.signal",
	RVX_REUSE_MARKER,
	NULL
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool
sorted_has(const char *const *list, size_t n, const char *s)
{
	return n > 0 && bsearch(&s, list, n, sizeof(char *), cmp_str) != NULL;
}

/* "pg_tblspc/<oid>/<name>" with pg_tblspc/<oid> a tablespace of the backup */
static bool
tablespace_top(const RvxReuseSets *sets, const char *relpath)
{
	const char *slash;
	char		link[64];

	if (strncmp(relpath, "pg_tblspc/", 10) != 0)
		return false;
	slash = strchr(relpath + 10, '/');
	if (slash == NULL || strchr(slash + 1, '/') != NULL ||
		(size_t) (slash - relpath) >= sizeof(link))
		return false;
	memcpy(link, relpath, (size_t) (slash - relpath));
	link[slash - relpath] = '\0';
	return sorted_has(sets->tablespaces, sets->ntablespaces, link);
}

RvxReuseAction
rvx_reuse_classify(const RvxReuseSets *sets, const char *relpath, RvxReuseType type)
{
	if (sorted_has(sets->leave, sets->nleave, relpath))
		return RVX_REUSE_LEAVE;
	for (int i = 0; own_files[i]; i++)
		if (strcmp(relpath, own_files[i]) == 0)
			return type == RVX_REUSE_T_FILE ? RVX_REUSE_OWN : RVX_REUSE_REMOVE;
	if (sorted_has(sets->tablespaces, sets->ntablespaces, relpath))
		return type == RVX_REUSE_T_LINK ? RVX_REUSE_TABLESPACE : RVX_REUSE_REMOVE;
	if (sorted_has(sets->files, sets->nfiles, relpath))
		return type == RVX_REUSE_T_FILE ? RVX_REUSE_CHECK : RVX_REUSE_REMOVE;
	if (sorted_has(sets->dirs, sets->ndirs, relpath))
	{
		/* a WAL volume linked in stays linked; its contents are the restore's */
		if (type == RVX_REUSE_T_DIR || (type == RVX_REUSE_T_LINK && strcmp(relpath, "pg_wal") == 0))
			return RVX_REUSE_DESCEND;
		return RVX_REUSE_REMOVE;
	}
	if (tablespace_top(sets, relpath))
		return RVX_REUSE_LEAVE;
	return RVX_REUSE_REMOVE;
}

/* ---------------------------------------------------------------- the walk */

/* A file to read back: where the walk found it (a tablespace's: in its location). */
typedef struct Candidate
{
	RvxReuseFile *file;
	char	   *path;

	/* the file the walk found: every piece must be read from it */
	dev_t		dev;
	ino_t		ino;

	/* compared by its chunk digest: each piece's, filled in by any thread */
	uint8_t		(*pieces)[RVX_CHUNK_DIGEST_LEN];
	uint64_t	npieces;
	uint64_t	left;			/* atomic: pieces not hashed yet */
	bool		unreadable;		/* atomic: a piece could not be read */
} Candidate;

#define WHOLE_FILE		UINT64_MAX

/* What one thread does at a time: a file's SHA-256, or a piece of its chunk digest. */
typedef struct Task
{
	Candidate  *c;
	uint64_t	piece;			/* WHOLE_FILE: the SHA-256 */
	uint64_t	len;
} Task;

typedef struct Scan
{
	const RvxReuseInput *in;
	RvxReuseSets sets;
	RvxReuseFile **byname;		/* in->files sorted by path */
	Candidate  *candidates;		/* to hash, largest first */
	size_t		ncandidates;
	Task	   *tasks;			/* largest first */
	size_t		ntasks;
	RvxReusePlan *plan;

	/* the hashing threads */
	size_t		next;			/* atomic */
	pthread_mutex_t lock;
	bool		failed;
	RvxError	error;
} Scan;

static int
cmp_file_path(const void *a, const void *b)
{
	return strcmp((*(RvxReuseFile *const *) a)->path, (*(RvxReuseFile *const *) b)->path);
}

static int
cmp_candidate_size_desc(const void *a, const void *b)
{
	const RvxReuseFile *x = ((const Candidate *) a)->file,
			   *y = ((const Candidate *) b)->file;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(x->path, y->path);
}

static RvxReuseFile *
find_file(Scan *s, const char *relpath)
{
	RvxReuseFile key = {.path = relpath};
	RvxReuseFile *k = &key;
	RvxReuseFile **hit = bsearch(&k, s->byname, s->in->nfiles, sizeof(RvxReuseFile *),
								 cmp_file_path);

	return hit ? *hit : NULL;
}

/* Appends a copy of path to a growing list of paths. */
static int
strvec_push_path(char ***list, size_t *n, size_t *cap, const char *path, RvxError *err)
{
	if (*n == *cap)
	{
		size_t		c = *cap ? *cap * 2 : 64;
		char	  **r = realloc(*list, c * sizeof(char *));

		if (r == NULL)
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		*list = r;
		*cap = c;
	}
	if (((*list)[*n] = strdup(path)) == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	(*n)++;
	return 0;
}

static int
plan_add(RvxReusePlan *p, const char *path, RvxError *err)
{
	return strvec_push_path(&p->remove, &p->nremove, &p->remove_cap, path, err);
}

/* nftw has no argument: the counts of the directory being measured */
static __thread uint64_t count_entries;
static __thread uint64_t count_bytes;

static int
count_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	count_entries++;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		count_bytes += (uint64_t) st->st_size;
	return 0;
}

/* Lists path for removal, counting what goes with it. */
static int
mark_remove(Scan *s, const char *path, const struct stat *st, RvxError *err)
{
	if (S_ISDIR(st->st_mode))
	{
		count_entries = count_bytes = 0;
		if (nftw(path, count_entry, 32, FTW_PHYS) != 0)
			return rvx_error(err, RVX_E_IO, "could not read directory \"%s\": %s", path,
							 strerror(errno));
		s->plan->removed_entries += count_entries;
		s->plan->removed_bytes += count_bytes;
	}
	else
	{
		s->plan->removed_entries++;
		if (S_ISREG(st->st_mode))
			s->plan->removed_bytes += (uint64_t) st->st_size;
	}
	rvx_debug("delta: \"%s\" is not the backup's: it will be removed", path);
	return plan_add(s->plan, path, err);
}

static RvxReuseType
type_of(const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return RVX_REUSE_T_FILE;
	if (S_ISDIR(st->st_mode))
		return RVX_REUSE_T_DIR;
	if (S_ISLNK(st->st_mode))
		return RVX_REUSE_T_LINK;
	return RVX_REUSE_T_OTHER;
}

bool
rvx_reuse_links_to(const char *link, const char *location)
{
	char		target[PATH_MAX];
	ssize_t		n = readlink(link, target, sizeof(target) - 1);

	if (n <= 0)
		return false;
	target[n] = '\0';
	return strcmp(target, location) == 0;
}

/* path, with symbolic links resolved if it exists, without a trailing slash */
static void
canonical_path(const char *path, char *out, size_t cap)
{
	char		real[PATH_MAX];
	size_t		len;

	snprintf(out, cap, "%s", realpath(path, real) != NULL ? real : path);
	len = strlen(out);
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';
}

/* whether path is dir or lies inside it (both canonical) */
static bool
path_within(const char *path, const char *dir)
{
	size_t		len = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

int
rvx_reuse_check_locations(const char *pgdata, const RvxReuseTablespace *ts, size_t n,
						  RvxError *err)
{
	char		data[PATH_MAX];
	char		a[PATH_MAX];
	char		b[PATH_MAX];

	canonical_path(pgdata, data, sizeof(data));
	for (size_t i = 0; i < n; i++)
	{
		if (ts[i].location == NULL || ts[i].location[0] != '/')
			return rvx_error(err, RVX_E_USAGE, "tablespace %u: location \"%s\" is not an absolute path",
							 ts[i].oid, ts[i].location ? ts[i].location : "");
		canonical_path(ts[i].location, a, sizeof(a));
		if (path_within(a, data) || path_within(data, a))
			return rvx_error(err, RVX_E_USAGE,
							 "tablespace %u: location \"%s\" %s the data directory \"%s\"; restore "
							 "it elsewhere with --tablespace-map %u=DIR",
							 ts[i].oid, ts[i].location,
							 path_within(a, data) ? "is inside" : "contains", pgdata, ts[i].oid);
		for (size_t j = 0; j < i; j++)
		{
			canonical_path(ts[j].location, b, sizeof(b));
			if (strcmp(a, b) == 0)
				return rvx_error(err, RVX_E_USAGE,
								 "tablespaces %u and %u would be restored to the same place (\"%s\", "
								 "\"%s\"); give one another location with --tablespace-map OID=DIR",
								 ts[j].oid, ts[i].oid, ts[j].location, ts[i].location);
		}
	}
	return 0;
}

static const char *
tablespace_location(Scan *s, const char *relpath)
{
	for (size_t i = 0; i < s->in->ntablespaces; i++)
	{
		char		name[32];

		snprintf(name, sizeof(name), "pg_tblspc/%u", s->in->tablespaces[i].oid);
		if (strcmp(name, relpath) == 0)
			return s->in->tablespaces[i].location;
	}
	return NULL;
}

static int
walk(Scan *s, const char *dir, const char *rel, RvxError *err)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			rc = 0;

	if (d == NULL)
		return rvx_error(err, RVX_E_IO, "could not open directory \"%s\": %s", dir, strerror(errno));
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL)
	{
		char		path[PATH_MAX];
		char		relpath[PATH_MAX];
		struct stat st;
		RvxReuseFile *f;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int) sizeof(path) ||
			snprintf(relpath, sizeof(relpath), "%s%s%s", rel, rel[0] ? "/" : "",
					 de->d_name) >= (int) sizeof(relpath))
		{
			rc = rvx_error(err, RVX_E_IO, "path \"%s/%s\" is too long", dir, de->d_name);
			break;
		}
		if (lstat(path, &st) != 0)
		{
			if (errno == ENOENT)
				continue;
			rc = rvx_error(err, RVX_E_IO, "could not stat \"%s\": %s", path, strerror(errno));
			break;
		}
		switch (rvx_reuse_classify(&s->sets, relpath, type_of(&st)))
		{
			case RVX_REUSE_CHECK:
				f = find_file(s, relpath);
				if (f != NULL && f->sha256 != NULL && st.st_size == f->size &&
					s->ncandidates < s->in->nfiles)
				{
					Candidate  *c = &s->candidates[s->ncandidates];

					if ((c->path = strdup(path)) == NULL)
					{
						rc = rvx_error(err, RVX_E_INTERNAL, "out of memory");
						break;
					}
					c->file = f;
					c->dev = st.st_dev;
					c->ino = st.st_ino;
					s->ncandidates++;
				}
				else if (f != NULL && f->sha256 == NULL)
					rvx_debug("delta: \"%s\" is sparse in the backup, with no digest to "
							  "compare: it will be rewritten", relpath);
				else
					rvx_debug("delta: \"%s\" is %lld bytes, the backup's %lld: it will be rewritten",
							  relpath, (long long) st.st_size, f ? (long long) f->size : -1LL);
				break;
			case RVX_REUSE_DESCEND:
				rc = walk(s, path, relpath, err);
				break;
			case RVX_REUSE_TABLESPACE:
				/* its location is walked on its own; a link elsewhere is remade */
				if (!rvx_reuse_links_to(path, tablespace_location(s, relpath)))
					rc = mark_remove(s, path, &st, err);
				break;
			case RVX_REUSE_OWN:
			case RVX_REUSE_LEAVE:
				break;
			case RVX_REUSE_REMOVE:
				rc = mark_remove(s, path, &st, err);
				break;
		}
	}
	if (rc == 0 && errno != 0)
		rc = rvx_error(err, RVX_E_IO, "could not read directory \"%s\": %s", dir, strerror(errno));
	closedir(d);
	return rc;
}

/* ---------------------------------------------------------------- hashing */

static void
scan_failed(Scan *s, const RvxError *err)
{
	pthread_mutex_lock(&s->lock);
	if (!s->failed)
	{
		s->failed = true;
		s->error = *err;
	}
	pthread_mutex_unlock(&s->lock);
}

static int
open_candidate(const char *path)
{
	int			fd;

	/* without an access time to write back, the later fdatasync has nothing to do for a clean file */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
	{
		if (errno != ENOENT)
			rvx_warn("delta: could not open \"%s\" (%s): it will be rewritten", path,
					 strerror(errno));
		return -1;
	}
	(void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return fd;
}

static bool
interrupted(Scan *s, RvxError *err)
{
	if ((s->in->cancel && *s->in->cancel) || rvx_interrupt_pending() ||
		__atomic_load_n(&s->failed, __ATOMIC_RELAXED))
	{
		rvx_error(err, RVX_E_INTERNAL, "the restore was interrupted");
		return true;
	}
	return false;
}

/*
 * Reads f and sets f->keep when it is, byte for byte, the backup's file.
 * A file that vanished, or that cannot be opened or read (EIO on a bad
 * block, EACCES), is simply not kept: the restore rewrites it, which is
 * the repair --delta is for.  Nothing is changed here (not even the
 * owner, nor an fsync): rvx_reuse_settle() does that once the restore
 * has decided to change the directory.
 */
static int
check_file(Scan *s, const Candidate *c, RvxSha256 *sha, uint8_t *buf, RvxError *err)
{
	RvxReuseFile *f = c->file;
	const char *path = c->path;
	uint8_t		digest[RVX_SHA256_LEN];
	uint64_t	done = 0;
	int			fd;
	int			rc = -1;

	if ((fd = open_candidate(path)) < 0)
		return 0;
	if (rvx_sha256_init(sha) != 0)
	{
		rvx_error(err, RVX_E_INTERNAL, "could not compute SHA-256");
		goto out;
	}
	for (;;)
	{
		ssize_t		n;

		if (interrupted(s, err))
			goto out;
		n = read(fd, buf, HASH_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			rvx_warn("delta: could not read \"%s\" (%s): it will be rewritten", path,
					 strerror(errno));
			rc = 0;
			goto out;
		}
		if (n == 0)
			break;
		if (rvx_sha256_update(sha, buf, (size_t) n) != 0)
		{
			rvx_error(err, RVX_E_INTERNAL, "could not compute SHA-256");
			goto out;
		}
		done += (uint64_t) n;
	}
	if (rvx_sha256_final(sha, digest) != 0)
	{
		rvx_error(err, RVX_E_INTERNAL, "could not compute SHA-256");
		goto out;
	}
	if (done != (uint64_t) f->size || memcmp(digest, f->sha256, RVX_SHA256_LEN) != 0)
	{
		rvx_debug("delta: \"%s\" differs from the backup's: it will be rewritten", f->path);
		rc = 0;
		goto out;
	}
	f->keep = true;
	rc = 0;
out:
	close(fd);
	return rc;
}

/*
 * The last piece of c is hashed (by whichever thread): c->file is kept if
 * every piece could be read and the pieces' digests combine into the
 * record's chunk digest.
 */
static void
finish_chunked(Candidate *c)
{
	uint8_t		digest[RVX_CHUNK_DIGEST_LEN];

	if (__atomic_load_n(&c->unreadable, __ATOMIC_RELAXED))
	{
		rvx_debug("delta: \"%s\" could not be read whole as the walk found it: it will be "
				  "rewritten", c->file->path);
		return;
	}
	rvx_chunk_digest_combine((const uint8_t (*)[RVX_CHUNK_DIGEST_LEN]) c->pieces, c->npieces,
							 digest);
	if (memcmp(digest, c->file->chunk_digest, RVX_CHUNK_DIGEST_LEN) != 0)
	{
		rvx_debug("delta: \"%s\" differs from the backup's: it will be rewritten",
				  c->file->path);
		return;
	}
	c->file->keep = true;
}

/*
 * Whether fd is still the file the walk found, of the recorded size: the
 * pieces are read through separate opens, so each must check that it
 * reads the same file, and a file that grew (bytes past the recorded size
 * are not in any piece) is not kept.
 */
static bool
same_file(const Candidate *c, int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino &&
		st.st_size == c->file->size;
}

/*
 * Hashes one piece of a file compared by its chunk digest.  Like
 * check_file, a piece that cannot be read, is shorter than the record
 * says, or comes from another file than the walk found (replaced, grown
 * or shrunk since) only means the file is not kept; once one piece
 * failed, the others are not read.
 */
static int
check_piece(Scan *s, const Task *t, RvxChunkDigest *cd, uint8_t *buf, RvxError *err)
{
	Candidate  *c = t->c;
	uint64_t	offset = t->piece * RVX_CHUNK_PIECE;
	uint64_t	done = 0;
	bool		ok = false;
	int			fd = -1;

	if (!__atomic_load_n(&c->unreadable, __ATOMIC_RELAXED) &&
		(fd = open_candidate(c->path)) >= 0 && same_file(c, fd))
	{
		rvx_chunk_digest_piece_begin(cd);
		ok = true;
		while (done < t->len)
		{
			size_t		want = t->len - done < HASH_CHUNK ? (size_t) (t->len - done) : HASH_CHUNK;
			ssize_t		n;

			if (interrupted(s, err))
			{
				close(fd);
				return -1;
			}
			n = pread(fd, buf, want, (off_t) (offset + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
			{
				/* one warning a file: the first piece to fail says it */
				if (n < 0 && !__atomic_exchange_n(&c->unreadable, true, __ATOMIC_RELAXED))
					rvx_warn("delta: could not read \"%s\" (%s): it will be rewritten",
							 c->path, strerror(errno));
				ok = false;
				break;
			}
			rvx_chunk_digest_piece_add(cd, buf, (size_t) n);
			done += (uint64_t) n;
		}
		/* and it is still that file, of that size, once read */
		if (ok && !same_file(c, fd))
			ok = false;
		if (ok)
			rvx_chunk_digest_piece_end(cd, c->pieces[t->piece]);
	}
	if (fd >= 0)
		close(fd);
	if (!ok)
		__atomic_store_n(&c->unreadable, true, __ATOMIC_RELAXED);
	/* the last one sees every other thread's piece */
	if (__atomic_sub_fetch(&c->left, 1, __ATOMIC_ACQ_REL) == 0)
		finish_chunked(c);
	return 0;
}

static void *
hash_thread(void *arg)
{
	Scan	   *s = arg;
	RvxSha256  *sha = rvx_sha256_new();
	RvxChunkDigest *cd = rvx_chunk_digest_new();
	uint8_t    *buf = malloc(HASH_CHUNK);
	RvxError	err;

	if (sha == NULL || cd == NULL || buf == NULL)
	{
		rvx_error(&err, RVX_E_INTERNAL, "out of memory");
		scan_failed(s, &err);
	}
	while (sha && cd && buf && !__atomic_load_n(&s->failed, __ATOMIC_RELAXED))
	{
		size_t		i = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
		const Task *t;

		if (i >= s->ntasks)
			break;
		t = &s->tasks[i];
		if ((t->piece == WHOLE_FILE ? check_file(s, t->c, sha, buf, &err) :
			 check_piece(s, t, cd, buf, &err)) != 0)
		{
			scan_failed(s, &err);
			break;
		}
	}
	rvx_sha256_free(sha);
	rvx_chunk_digest_free(cd);
	free(buf);
	return NULL;
}

static int
cmp_task(const void *a, const void *b)
{
	const Task *x = a,
			   *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	if (x->c != y->c)
		return x->c < y->c ? -1 : 1;
	return x->piece < y->piece ? -1 : x->piece > y->piece;
}

/* The candidates (sorted, so that ties go largest file first) cut into tasks. */
static int
make_tasks(Scan *s, RvxError *err)
{
	size_t		n = 0;

	qsort(s->candidates, s->ncandidates, sizeof(Candidate), cmp_candidate_size_desc);
	for (size_t i = 0; i < s->ncandidates; i++)
	{
		Candidate  *c = &s->candidates[i];
		uint64_t	size = (uint64_t) c->file->size;

		if (c->file->chunk_digest != NULL && size > RVX_CHUNK_DIGEST_MIN)
		{
			c->npieces = rvx_chunk_digest_pieces(size);
			c->left = c->npieces;
			if ((c->pieces = calloc(c->npieces, RVX_CHUNK_DIGEST_LEN)) == NULL)
				return rvx_error(err, RVX_E_INTERNAL, "out of memory");
			s->plan->chunked_files++;
		}
		n += c->npieces > 0 ? c->npieces : 1;
	}
	if ((s->tasks = calloc(n + 1, sizeof(Task))) == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < s->ncandidates; i++)
	{
		Candidate  *c = &s->candidates[i];
		uint64_t	size = (uint64_t) c->file->size;

		if (c->npieces == 0)
			s->tasks[s->ntasks++] = (Task) {.c = c, .piece = WHOLE_FILE, .len = size};
		for (uint64_t p = 0; p < c->npieces; p++)
			s->tasks[s->ntasks++] = (Task) {
				.c = c, .piece = p,
				.len = p + 1 < c->npieces ? RVX_CHUNK_PIECE : size - p * RVX_CHUNK_PIECE};
	}
	qsort(s->tasks, s->ntasks, sizeof(Task), cmp_task);
	return 0;
}

static int
hash_candidates(Scan *s, RvxError *err)
{
	int			n = s->in->threads > 0 ? s->in->threads : 1;
	pthread_t	threads[64];
	int			started = 0;

	if (make_tasks(s, err) != 0)
		return -1;
	if (n > 64)
		n = 64;
	if ((size_t) n > s->ntasks)
		n = (int) s->ntasks;
	for (int i = 0; i < n; i++)
	{
		int			prc = pthread_create(&threads[i], NULL, hash_thread, s);

		if (prc != 0)
		{
			RvxError	terr;

			/* pthread_create returns its error; errno is not set */
			rvx_error(&terr, RVX_E_INTERNAL, "could not start a thread: %s", strerror(prc));
			scan_failed(s, &terr);
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (s->failed)
	{
		*err = s->error;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- entry points */

int
rvx_reuse_scan(const RvxReuseInput *in, RvxReusePlan *plan, RvxError *err)
{
	Scan		s;
	const char **files = NULL;
	const char **ts = NULL;
	int			rc = -1;

	memset(&s, 0, sizeof(s));
	memset(plan, 0, sizeof(*plan));
	s.in = in;
	s.plan = plan;
	pthread_mutex_init(&s.lock, NULL);
	s.byname = calloc(in->nfiles + 1, sizeof(RvxReuseFile *));
	s.candidates = calloc(in->nfiles + 1, sizeof(Candidate));
	files = calloc(in->nfiles + 1, sizeof(char *));
	ts = calloc(in->ntablespaces + 1, sizeof(char *));
	if (s.byname == NULL || s.candidates == NULL || files == NULL || ts == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < in->nfiles; i++)
	{
		in->files[i].keep = false;
		s.byname[i] = &in->files[i];
		files[i] = in->files[i].path;
	}
	qsort(s.byname, in->nfiles, sizeof(RvxReuseFile *), cmp_file_path);
	qsort(files, in->nfiles, sizeof(char *), cmp_str);
	for (size_t i = 0; i < in->ntablespaces; i++)
	{
		char		name[32];

		snprintf(name, sizeof(name), "pg_tblspc/%u", in->tablespaces[i].oid);
		if ((ts[i] = strdup(name)) == NULL)
		{
			rvx_error(err, RVX_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	qsort(ts, in->ntablespaces, sizeof(char *), cmp_str);
	s.sets = (RvxReuseSets) {
		.files = files, .nfiles = in->nfiles,
		.dirs = in->dirs, .ndirs = in->ndirs,
		.tablespaces = ts, .ntablespaces = in->ntablespaces,
		.leave = in->leave, .nleave = in->nleave,
	};

	if (walk(&s, in->pgdata, "", err) != 0)
		goto out;
	for (size_t i = 0; i < in->ntablespaces; i++)
	{
		struct stat st;
		char		rel[32];
		char		link[PATH_MAX];

		if (stat(in->tablespaces[i].location, &st) != 0)
		{
			if (errno == ENOENT)
				continue;
			rvx_error(err, RVX_E_IO, "could not stat \"%s\": %s", in->tablespaces[i].location,
					  strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode))
		{
			rvx_error(err, RVX_E_USAGE, "tablespace %u: location \"%s\" is not a directory",
					  in->tablespaces[i].oid, in->tablespaces[i].location);
			goto out;
		}
		snprintf(rel, sizeof(rel), "pg_tblspc/%u", in->tablespaces[i].oid);
		if (snprintf(link, sizeof(link), "%s/%s", in->pgdata, rel) >= (int) sizeof(link))
		{
			rvx_error(err, RVX_E_USAGE, "path \"%s/%s\" is too long", in->pgdata, rel);
			goto out;
		}
		/*
		 * Only a location this data directory links to already is its own:
		 * anything else may be another cluster's tablespace, so nothing in
		 * it is compared, kept or removed (the caller refused it unless it
		 * is empty).
		 */
		if (!rvx_reuse_links_to(link, in->tablespaces[i].location))
		{
			rvx_debug("delta: \"%s\" does not link to \"%s\": that location is not read",
					  link, in->tablespaces[i].location);
			continue;
		}
		if (walk(&s, in->tablespaces[i].location, rel, err) != 0)
			goto out;
	}
	if (hash_candidates(&s, err) != 0)
		goto out;
	for (size_t i = 0; i < s.ncandidates; i++)
		if (s.candidates[i].file->keep)
		{
			plan->kept_files++;
			plan->kept_bytes += (uint64_t) s.candidates[i].file->size;
			/* the path as walked (a tablespace's: in its location), for rvx_reuse_settle */
			if (strvec_push_path(&plan->kept, &plan->nkept, &plan->kept_cap,
								 s.candidates[i].path, err) != 0)
				goto out;
		}
	rc = 0;
out:
	if (ts)
		for (size_t i = 0; i < in->ntablespaces; i++)
			free((char *) ts[i]);
	free(ts);
	free(files);
	free(s.byname);
	for (size_t i = 0; s.candidates && i < s.ncandidates; i++)
	{
		free(s.candidates[i].path);
		free(s.candidates[i].pieces);
	}
	free(s.candidates);
	free(s.tasks);
	pthread_mutex_destroy(&s.lock);
	if (rc != 0)
		rvx_reuse_plan_free(plan);
	return rc;
}

int
rvx_reuse_remove(const RvxReusePlan *plan, RvxError *err)
{
	for (size_t i = 0; i < plan->nremove; i++)
	{
		const char *path = plan->remove[i];
		struct stat st;

		if (lstat(path, &st) != 0)
		{
			if (errno == ENOENT)
				continue;
			return rvx_error(err, RVX_E_IO, "could not stat \"%s\": %s", path, strerror(errno));
		}
		if (S_ISDIR(st.st_mode))
		{
			if (rvx_remove_tree(path, false, err) != 0)
				return -1;
		}
		else if (unlink(path) != 0 && errno != ENOENT)
			return rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
	}
	return 0;
}

int
rvx_reuse_settle(const RvxReusePlan *plan, uid_t owner, gid_t group, RvxError *err)
{
	for (size_t i = 0; i < plan->nkept; i++)
	{
		const char *path = plan->kept[i];
		struct stat st;
		int			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0)
			return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
		if (fdatasync(fd) != 0 ||
			(owner != (uid_t) -1 && fstat(fd, &st) == 0 &&
			 (st.st_uid != owner || st.st_gid != group) && fchown(fd, owner, group) != 0))
		{
			int			save = errno;

			close(fd);
			return rvx_error(err, RVX_E_IO, "could not fsync or change the owner of \"%s\": %s",
							 path, strerror(save));
		}
		close(fd);
	}
	return 0;
}

void
rvx_reuse_plan_free(RvxReusePlan *plan)
{
	for (size_t i = 0; i < plan->nremove; i++)
		free(plan->remove[i]);
	free(plan->remove);
	plan->remove = NULL;
	plan->nremove = plan->remove_cap = 0;
	for (size_t i = 0; i < plan->nkept; i++)
		free(plan->kept[i]);
	free(plan->kept);
	plan->kept = NULL;
	plan->nkept = plan->kept_cap = 0;
}

/* ---------------------------------------------------------------- identity */

int
rvx_reuse_system_id(const char *pgdata, uint64_t *sysid, const char **from, RvxError *err)
{
	char		path[PATH_MAX];
	uint8_t		buf[8];
	FILE	   *f;

	/* ControlFileData opens with the system identifier, in the machine's byte order */
	snprintf(path, sizeof(path), "%s/global/pg_control", pgdata);
	f = fopen(path, "rb");
	if (f != NULL)
	{
		size_t		n = fread(buf, 1, sizeof(buf), f);

		fclose(f);
		if (n != sizeof(buf))
			return rvx_error(err, RVX_E_CORRUPT, "\"%s\" is too short to be a pg_control file", path);
		memcpy(sysid, buf, sizeof(*sysid));
		*from = "global/pg_control";
		return 1;
	}
	if (errno != ENOENT)
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));

	snprintf(path, sizeof(path), "%s/%s", pgdata, RVX_REUSE_MARKER);
	f = fopen(path, "r");
	if (f != NULL)
	{
		char		line[256];
		unsigned long long v = 0;
		bool		found = false;

		while (!found && fgets(line, sizeof(line), f) != NULL)
			found = sscanf(line, "system_identifier = %llu", &v) == 1;
		fclose(f);
		if (!found)
			return rvx_error(err, RVX_E_CORRUPT, "\"%s\" names no system identifier", path);
		*sysid = (uint64_t) v;
		*from = RVX_REUSE_MARKER;
		return 1;
	}
	if (errno != ENOENT)
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
	return 0;
}

bool
rvx_reuse_parse_pidfile(const char *text, RvxPidFile *out)
{
	const char *line = text;
	char	   *end;

	memset(out, 0, sizeof(*out));
	errno = 0;
	out->pid = strtol(text, &end, 10);
	if (errno != 0 || end == text || out->pid <= 0 || (*end != '\n' && *end != '\0'))
		return false;
	/* line 7: "<key> <id>", each right-aligned in 9 columns */
	for (int n = 1; n < 7 && line != NULL; n++)
		if ((line = strchr(line, '\n')) != NULL)
			line++;
	if (line != NULL &&
		sscanf(line, "%lu %lu", &out->shmem_key, &out->shmem_id) == 2)
		out->has_shmem = true;
	return true;
}

int
rvx_reuse_write_marker(const char *pgdata, uint64_t sysid, const char *backup_id, uid_t owner,
					   gid_t group, RvxError *err)
{
	char		path[PATH_MAX];
	char		text[512];
	int			len;

	snprintf(path, sizeof(path), "%s/%s", pgdata, RVX_REUSE_MARKER);
	len = snprintf(text, sizeof(text),
				   "# revrx-agent restore --delta of backup %s is under way here, or was interrupted:\n"
				   "# PostgreSQL will not start on this directory (it has no global/pg_control).\n"
				   "# Run the restore again; it removes this file when it is done.\n"
				   "system_identifier = %" PRIu64 "\n", backup_id, sysid);
	return rvx_write_file_owned(path, text, (size_t) len, false, owner, group, err);
}
