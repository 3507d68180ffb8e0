/*-------------------------------------------------------------------------
 *
 * s3_xml.h
 *	  Reading the XML documents S3 answers with.
 *
 * Four shapes matter to the driver: <Error> (any failed request, and also
 * the body of an HTTP 200 from CompleteMultipartUpload that failed after
 * the status line was sent), <ListBucketResult> (ListObjectsV2),
 * <InitiateMultipartUploadResult> and <CompleteMultipartUploadResult>.
 *
 * Elements are matched by local name, whatever their namespace (AWS puts
 * the 2006-03-01 namespace on results but not on errors, and compatible
 * servers differ).  Entities are not expanded and nothing is fetched from
 * the network, so a hostile server cannot make the parser read files or
 * grow without bound; libxml2 itself is kept silent (no messages on
 * stderr).  Anything that is not the expected document is a clean
 * RVX_E_PROTOCOL error naming what was expected, never a crash or a guess.
 *
 * Thread safety: the functions may be called from several threads at once;
 * libxml2 is initialized once, on first use.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_S3_XML_H
#define RVX_AGENT_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Code and message of an <Error> document, truncated to fit. */
typedef struct RvxS3Error
{
	char		code[128];
	char		message[512];
} RvxS3Error;

/*
 * If body is an <Error> document, fills out and returns true.  Otherwise
 * (empty, not XML, another document) returns false and clears out.
 */
extern bool rvx_s3_xml_error(const char *body, size_t len, RvxS3Error *out);

/* The Credentials of an STS answer; each field malloc'd, NULL if absent. */
typedef struct RvxS3XmlCredentials
{
	char	   *access_key;
	char	   *secret_key;
	char	   *session_token;
	char	   *expiration;
} RvxS3XmlCredentials;

/*
 * Reads <actionResponse><actionResult><Credentials> of an STS query API
 * answer (action "AssumeRoleWithWebIdentity").  Returns 0 when the
 * document has that shape (fields may still be missing: the caller checks
 * them and frees them, wiping the secrets), -1 when it does not.  The
 * secrets are wiped from libxml2's tree before it is freed.
 */
extern int	rvx_s3_xml_sts_credentials(const char *body, size_t len, const char *action,
									   RvxS3XmlCredentials *out);

/* One object of a listing; key as S3 sent it (already XML-decoded). */
typedef int (*RvxS3ListEntryFn) (void *arg, const char *key, uint64_t size);

typedef struct RvxS3ListPage
{
	bool		truncated;
	char	   *next_token;		/* malloc'd, NULL if none; caller frees */
	int			nkeys;			/* entries passed to fn */
} RvxS3ListPage;

/*
 * Parses a ListObjectsV2 result, calling fn for each <Contents> in document
 * order.  Returns 0 when the page was read to the end, 1 when fn asked to
 * stop, -1 on error (err filled; a -1 from fn is passed on as is, with
 * err left to fn).  page->next_token is set only on 0.
 */
extern int	rvx_s3_xml_list(const char *body, size_t len, RvxS3ListEntryFn fn,
							void *arg, RvxS3ListPage *page, RvxError *err);

/* The <UploadId> of an InitiateMultipartUploadResult (malloc'd); NULL on error. */
extern char *rvx_s3_xml_upload_id(const char *body, size_t len, RvxError *err);

/*
 * Reads the answer to CompleteMultipartUpload: 0 for a
 * <CompleteMultipartUploadResult>, 1 for an <Error> (s3err filled), -1 for
 * anything else (err filled).
 */
extern int	rvx_s3_xml_complete(const char *body, size_t len, RvxS3Error *s3err,
								RvxError *err);

/*
 * Writes text into out (outlen bytes) with &, <, >, " and ' escaped, for
 * building request documents.  Returns the length written, or -1 if it
 * does not fit.
 */
extern int	rvx_s3_xml_escape(const char *text, char *out, size_t outlen);

#endif							/* RVX_AGENT_S3_XML_H */
