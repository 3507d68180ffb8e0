/*-------------------------------------------------------------------------
 *
 * ship.h
 *	  Shipping one spooled WAL object to the repository (the per-item work
 *	  of `revrx-agent run`; cmd_run.c decides what to ship and when).
 *
 * rvx_ship_wal() is idempotent and safe to interrupt at any point: it
 * stores NAME (unless the repository already holds identical content),
 * confirms the stored object, writes NAME.ok durably and only then removes
 * NAME.rvx.  A repository that holds different content under the name is
 * never overwritten (RVX_E_CONFLICT).  A streamed partial
 * (SEG.GEN.START-END.partial, wal_partial.h) gets no NAME.ok and is not
 * stored when SEG already is complete; once one from SEG's start is
 * confirmed, the partials of SEG it supersedes are removed from the
 * repository, and once a complete SEG is confirmed, all of them.
 *
 * The two steps every spooled object goes through, WAL or backup
 * (ship_backup.c), are exported so that they are written once: checking a
 * spooled object (rvx_spool_object_open) and storing it without ever
 * replacing anything, confirmed (rvx_store_object).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_SHIP_H
#define RVX_AGENT_SHIP_H

#include "object.h"
#include "storage/repo.h"
#include "info/repo_meta.h"

typedef struct RvxShipResult
{
	uint64_t	stored_bytes;	/* bytes sent (0 if it was already there) */
	bool		already_stored;
} RvxShipResult;

extern int	rvx_ship_wal(RvxRepo *repo, const char *spool_dir, const char *name,
						 const RvxClusterInfo *cluster, RvxShipResult *res, RvxError *err);

/*
 * The same, with what the caller knows of a streamed partial's segment
 * (`run` remembers the complete segments it stored): with
 * RVX_SHIP_SEGMENT_STORED the partial is dropped without a request; with
 * RVX_SHIP_SEGMENT_NOT_KNOWN it is stored without asking the repository
 * for the complete segment first (one request less per partial; a partial
 * that lands beside its complete segment after all is never read, and
 * expire removes it with its segment).  0: rvx_ship_wal.
 */
#define RVX_SHIP_SEGMENT_STORED		0x01
#define RVX_SHIP_SEGMENT_NOT_KNOWN	0x02

extern int	rvx_ship_wal_flags(RvxRepo *repo, const char *spool_dir, const char *name,
							   const RvxClusterInfo *cluster, int flags, RvxShipResult *res,
							   RvxError *err);

/* Records a failure for NAME in the spool (NAME.error), for the server to read. */
extern void rvx_ship_record_error(const char *spool_dir, const char *name,
								  const RvxError *error);

/*
 * Opens the spooled object at path and checks that it is one: a valid
 * header, exactly as long as the header says, from the spool's cluster.
 * On success *fd is open (the caller closes it) and *size is the whole
 * object's length.  A missing file is RVX_E_NOTFOUND.
 */
extern int	rvx_spool_object_open(const char *path, const RvxClusterInfo *cluster, int *fd,
								  RvxObjectHeader *hdr, uint64_t *size, RvxError *err);

/*
 * Stores the spooled object read from fd (size bytes, plain header hdr)
 * under key, never replacing anything: if key exists with the same content
 * that is success (res->already_stored), with different content
 * RVX_E_CONFLICT; an incomplete copy of the same content is replaced.  In
 * an encrypted repository (repo->key) the object is encrypted first, into
 * an unnamed temporary file in tmp_dir.  A new object is confirmed before
 * this returns: it exists, has the size sent and its header stands for
 * hdr's SHA-256.  Adds what it sent to res.
 */
extern int	rvx_store_object(RvxRepo *repo, const char *key, int fd, uint64_t size,
							 const RvxObjectHeader *hdr, const char *tmp_dir,
							 RvxShipResult *res, RvxError *err);

/*
 * The same, with more flags for the put (RVX_PUT_OBJECT_LOCK), and
 * RVX_STORE_SAME_NAME_SAME_DATA: for keys whose name fixes their content
 * (a streamed WAL partial: segment, generation and range), the object is
 * put without looking for an existing one first (one request less); what
 * it replaces can only be the same data.  It is confirmed all the same.
 */
#define RVX_STORE_SAME_NAME_SAME_DATA	0x100

extern int	rvx_store_object_flags(RvxRepo *repo, const char *key, int fd, uint64_t size,
								   const RvxObjectHeader *hdr, const char *tmp_dir,
								   int put_flags, RvxShipResult *res, RvxError *err);

/*
 * Stores a small text (a JSON document: a lease, a pin, an audit record)
 * as an uncompressed object of cluster system_id under key, the same way:
 * never replacing other content (RVX_E_CONFLICT), encrypted in an
 * encrypted repository.  tmp_dir: where the object is made; NULL = TMPDIR
 * or /tmp.
 */
extern int	rvx_store_text_object(RvxRepo *repo, const char *key, uint64_t system_id,
								  const char *text, const char *tmp_dir, int put_flags,
								  RvxError *err);

/* fsync(2) of a directory. */
extern int	rvx_fsync_dir(const char *dir, RvxError *err);

/*
 * Writes a small file durably: temporary name, fsync, rename, fsync of the
 * directory.  Shared by every writer of spool status files.
 */
extern int	rvx_write_file_durable(const char *path, const void *data, size_t len,
								   bool sync, RvxError *err);

#endif							/* RVX_AGENT_SHIP_H */
