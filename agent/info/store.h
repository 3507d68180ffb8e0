/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Storing an object in the repository, verified: the counterpart of
 *	  fetch.h (reading one back).
 *
 * Every writer of objects (the shipping of WAL and backups, the audit
 * records, leases and pins, expire's records) goes through here, so every
 * object is stored the same way: never replacing other content under its
 * key (RVX_E_CONFLICT), replacing only an incomplete copy of the same
 * content, encrypted in an encrypted repository, and confirmed (there,
 * complete, ours) before the caller is told it is stored.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_STORE_H
#define RVX_AGENT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "object.h"
#include "storage/repo.h"

typedef struct RvxStoreResult
{
	uint64_t	stored_bytes;	/* bytes sent (0 if it was already there) */
	bool		already_stored;
} RvxStoreResult;

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
							 RvxStoreResult *res, RvxError *err);

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
								   int put_flags, RvxStoreResult *res, RvxError *err);

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


/*
 * Is the repository already holding a complete copy of archived file NAME
 * (under any compression suffix) with the content of the spooled object
 * with header ours?  1 = yes (key names it); 0 = no complete copy; -1 =
 * error, including RVX_E_CONFLICT when it holds different content.
 */
extern int	rvx_store_check_existing(RvxRepo *repo, const char *name,
									 const RvxObjectHeader *ours, char *key, size_t keycap,
									 RvxError *err);

#endif							/* RVX_AGENT_STORE_H */
