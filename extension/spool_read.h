/*-------------------------------------------------------------------------
 *
 * spool_read.h
 *	  Reading the small files revrx-agent writes into the spool (spool_read.c).
 *
 * These never throw (except out of memory): a missing, torn or foreign
 * file is something to report, not a reason to fail.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_SPOOL_READ_H
#define REVRX_SPOOL_READ_H

#include "datatype/timestamp.h"

/*
 * Status files written by the agent are small; anything larger is not one
 * of ours and is treated as unreadable.
 */
#define REVRX_STATUS_FILE_MAX	(64 * 1024)

/*
 * Reads a whole small file into a NUL-terminated palloc'd buffer.  Returns
 * NULL with errno set when it cannot (EFBIG if longer than maxlen); it never
 * throws, so callers can treat a missing or unreadable file as data.
 */
extern char *revrx_read_small_file(const char *path, size_t maxlen, size_t *len);

/*
 * Parses text (modified in place) as one JSON object and returns, for each
 * of the nkeys keys, the text of its scalar value at the top level (strings
 * de-escaped, numbers and booleans as written) in values[i], or NULL when
 * the key is absent, null or not a scalar.  Returns false, never throws, if
 * the text is not a well-formed JSON object.
 */
extern bool revrx_json_read_flat(char *text, size_t len,
								 const char *const *keys, int nkeys,
								 char **values);

/*
 * The JSON checks revrx_json_read_flat() makes before parsing, for other
 * readers of agent-written JSON: false if text (of len bytes, modified in
 * place as described at its definition) must not be handed to the parser.
 */
extern bool revrx_json_precheck(char *text, size_t len);

/* Unix epoch seconds as a JSON number -> timestamptz; false if unusable. */
extern bool revrx_epoch_to_timestamptz(const char *number, TimestampTz *result);

/*
 * Makes s, in place, valid in the database encoding: if it is not, every
 * non-ASCII byte becomes '?'.  For text that comes from files or from the
 * archiver (which has no database encoding) on its way to SQL.
 */
extern void revrx_text_sanitize(char *s);

#endif							/* REVRX_SPOOL_READ_H */
