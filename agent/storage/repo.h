/*-------------------------------------------------------------------------
 *
 * repo.h
 *	  The repository driver interface: where revrx objects are kept.
 *
 * A repository is a flat namespace of keys ("repo.json", "wal/00000001/
 * 000000010000000000000001.zst", ...) below a prefix, held either in a
 * local directory (repo_posix.c, "file:///path") or in an S3 bucket
 * (repo_s3.c, "s3://bucket/prefix").  Drivers implement the operations
 * below with the same meaning, so no caller knows which one it talks to.
 *
 * The promises every driver keeps:
 *	- put is atomic and durable: when it returns 0 the whole object is
 *	  readable under its key and will survive a crash (posix: temporary
 *	  file, fsync, rename, fsync of the directory; S3: a successful PUT or
 *	  CompleteMultipartUpload).  A failed put leaves no object under key.
 *	- put never silently replaces: with RVX_PUT_NO_OVERWRITE a key that
 *	  already exists fails with RVX_E_CONFLICT.  (S3 cannot promise this
 *	  atomically; callers check with head first and compare content, see
 *	  info/store.c.)
 *	- get streams the object, or a byte range of it, to a sink and fails
 *	  with RVX_E_NOTFOUND when the key does not exist.
 *	- head answers found/missing without reading the object.
 *	- list visits every key below a prefix in lexical order (or only those
 *	  after a start_after key: rvx_repo_list_after).
 *	- Transient failures (network, 5xx, 408, 429) are retried inside the
 *	  driver with backoff and jitter; what reaches the caller has already
 *	  been retried (see RvxRepoConfig.retries).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_REPO_H
#define RVX_AGENT_REPO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto.h"
#include "base/error.h"

/* Where the bytes of a put come from; the driver may read them twice. */
typedef struct RvxPutSource
{
	uint64_t	size;
	/* read len bytes at offset into buf; returns bytes read or -1 (errno) */
	ssize_t		(*pread) (void *arg, void *buf, size_t len, uint64_t offset);
	void	   *arg;
} RvxPutSource;

/* Receives the bytes of a get, in order; returns 0 or -1 to abort. */
typedef int (*RvxGetSink) (void *arg, const void *data, size_t len);

/*
 * Called for each key of a list; returns 0 to go on, 1 to stop, -1 when it
 * could not keep the key (out of memory: rvx_repo_list says so).
 */
typedef int (*RvxListFn) (void *arg, const char *key, uint64_t size);

typedef struct RvxObjectInfo
{
	uint64_t	size;
	/*
	 * When the object was stored, in seconds since the epoch (posix:
	 * st_mtime; S3: Last-Modified, whole seconds); 0 when unknown.  Used as
	 * an upper bound of what an archived WAL segment can contain (target.c).
	 */
	int64_t		mtime;
} RvxObjectInfo;

#define RVX_PUT_NO_OVERWRITE	0x01
/*
 * Ask the store to keep the object unchangeable for the repository's
 * object-lock period (RvxRepoConfig.s3_object_lock_days): S3 Object Lock
 * headers on the PUT.  Used for audit records only (audit.h).  A driver or
 * configuration without object lock ignores the flag: it is a request for
 * extra protection, not part of put's promises.
 */
#define RVX_PUT_OBJECT_LOCK		0x02

/* Settings a driver may need; filled from the environment by config.c. */
typedef struct RvxRepoConfig
{
	const char *url;			/* file:///path or s3://bucket/prefix */
	/* S3 */
	const char *s3_endpoint;	/* NULL = AWS for the region */
	const char *s3_region;
	bool		s3_path_style;
	/*
	 * Where the credentials come from (credentials.h); shared by every
	 * handle opened with this config and owned by whoever made it.  NULL:
	 * the static keys below, for this handle alone.
	 */
	struct RvxCredentials *credentials;
	const char *s3_access_key;
	const char *s3_secret_key;
	const char *s3_session_token;	/* NULL if none */
	const char *s3_sse;			/* NULL, "AES256" or "aws:kms" */
	const char *s3_kms_key_id;	/* with aws:kms */
	const char *s3_ca_file;		/* NULL = system CAs */
	bool		s3_verify_tls;
	/*
	 * S3 Object Lock for puts with RVX_PUT_OBJECT_LOCK: retain for this many
	 * days (0 = off), in mode "COMPLIANCE" or "GOVERNANCE".
	 */
	int			s3_object_lock_days;
	const char *s3_object_lock_mode;
	/* all drivers */
	const RvxKey *key;			/* REVRX_ENCRYPTION_KEY_FILE; NULL = not encrypted */
	int			retries;		/* extra attempts for transient failures */
	int			timeout_ms;		/* per request: no progress for this long fails it */
} RvxRepoConfig;

typedef struct RvxRepo RvxRepo;

typedef struct RvxRepoOps
{
	const char *name;
	/*
	 * HEAD is a local call (a stat), cheaper than listing even a narrow
	 * prefix; otherwise each request is a round trip, and one listing beats
	 * several HEADs.
	 */
	bool		head_is_local;
	int			(*head) (RvxRepo *repo, const char *key, RvxObjectInfo *info, RvxError *err);
	int			(*put) (RvxRepo *repo, const char *key, const RvxPutSource *src,
						int flags, RvxError *err);
	int			(*get) (RvxRepo *repo, const char *key, uint64_t offset, uint64_t length,
						RvxGetSink sink, void *arg, RvxError *err);
	/* start_after: visit only keys after it (NULL: every key) */
	int			(*list) (RvxRepo *repo, const char *prefix, const char *start_after,
						 RvxListFn fn, void *arg, RvxError *err);
	int			(*remove) (RvxRepo *repo, const char *key, RvxError *err);
	void		(*close) (RvxRepo *repo);
} RvxRepoOps;

struct RvxRepo
{
	const RvxRepoOps *ops;
	char	   *display;		/* URL without secrets, for messages */
	const RvxKey *key;			/* objects are encrypted with it; NULL = plain */
	void	   *priv;			/* the driver's own state */
};

/*
 * Opens the repository named by cfg->url.  A repository handle is used by
 * one thread at a time; threads open their own (rvx_repo_open is cheap).
 */
extern RvxRepo *rvx_repo_open(const RvxRepoConfig *cfg, RvxError *err);
extern void rvx_repo_close(RvxRepo *repo);

/*
 * Thin wrappers, so call sites read as sentences.  head returns 1 when the
 * key exists, 0 when it does not, -1 on error.  get with length 0 reads to
 * the end.
 */
extern int	rvx_repo_head(RvxRepo *repo, const char *key, RvxObjectInfo *info, RvxError *err);
extern int	rvx_repo_put(RvxRepo *repo, const char *key, const RvxPutSource *src,
						 int flags, RvxError *err);
extern int	rvx_repo_get(RvxRepo *repo, const char *key, uint64_t offset, uint64_t length,
						 RvxGetSink sink, void *arg, RvxError *err);
extern int	rvx_repo_list(RvxRepo *repo, const char *prefix, RvxListFn fn, void *arg,
						  RvxError *err);

/*
 * The keys below prefix that sort after start_after, in order: S3 starts
 * the listing there (StartAfter), so finding what follows one key of a
 * long prefix costs one request, not a page per thousand keys before it.
 */
extern int	rvx_repo_list_after(RvxRepo *repo, const char *prefix, const char *start_after,
								RvxListFn fn, void *arg, RvxError *err);
extern int	rvx_repo_remove(RvxRepo *repo, const char *key, RvxError *err);

/* Helpers built on the operations above. */
extern int	rvx_repo_put_buffer(RvxRepo *repo, const char *key, const void *data,
								size_t len, int flags, RvxError *err);
/* Reads a whole small object into a malloc'd NUL-terminated buffer. */
extern int	rvx_repo_get_buffer(RvxRepo *repo, const char *key, size_t max_len,
								char **out, size_t *out_len, RvxError *err);
extern RvxPutSource rvx_put_source_fd(int fd, uint64_t size);

/* A source over a buffer; mem must outlive the source. */
typedef struct RvxMemSource
{
	const char *data;
	size_t		len;
} RvxMemSource;
extern RvxPutSource rvx_put_source_mem(RvxMemSource *mem);

/* Driver constructors (used by rvx_repo_open). */
extern RvxRepo *rvx_repo_posix_open(const char *path, const RvxRepoConfig *cfg, RvxError *err);
extern RvxRepo *rvx_repo_s3_open(const char *bucket, const char *prefix,
								 const RvxRepoConfig *cfg, RvxError *err);

#endif							/* RVX_AGENT_REPO_H */
