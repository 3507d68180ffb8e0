/*-------------------------------------------------------------------------
 *
 * strbuf.h
 *	  A growable NUL-terminated string, for text built piece by piece:
 *	  SigV4's canonical request (storage/sigv4.c) and S3 request documents
 *	  (storage/repo_s3.c).
 *
 * Appending never fails loudly: on an allocation failure the buffer turns
 * "broken" for good and further appends do nothing, so a builder appends
 * everything and checks once, at rvx_strbuf_finish (or .broken).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_STRBUF_H
#define RVX_AGENT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* Start with {0}; data is NULL or a NUL-terminated string of len bytes. */
typedef struct RvxStrBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		broken;			/* an allocation failed: the content is lost */
} RvxStrBuf;

extern void rvx_strbuf_putn(RvxStrBuf *b, const char *s, size_t n);
extern void rvx_strbuf_puts(RvxStrBuf *b, const char *s);
extern void rvx_strbuf_putc(RvxStrBuf *b, char c);

/*
 * The finished string for the caller to free ("" if nothing was appended),
 * or NULL (and nothing to free) if anything failed.
 */
extern char *rvx_strbuf_finish(RvxStrBuf *b);

#endif							/* RVX_AGENT_STRBUF_H */
