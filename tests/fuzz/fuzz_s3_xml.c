/*-------------------------------------------------------------------------
 *
 * fuzz_s3_xml.c
 *	  libFuzzer target: S3's XML answers (agent/storage/s3_xml.c).
 *
 * The same bytes are given to each reader of S3 documents (error, listing,
 * multipart initiate and complete) and to the readers of the credentials
 * answers (agent/storage/credentials.c: STS XML, container and instance metadata
 * JSON), as a misbehaving endpoint could send any of them in answer to any
 * request.  Every reader must refuse or
 * accept cleanly; keys handed to the listing callback must be
 * NUL-terminated strings.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/credentials.h"
#include "storage/s3_xml.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_entry(void *arg, const char *key, uint64_t size)
{
	size_t	   *total = arg;

	*total += strlen(key);		/* touches every byte ASan should see */
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *) data;
	RvxS3Error	s3err;
	RvxS3ListPage page;
	RvxError	err;
	size_t		total = 0;
	char	   *upload_id;
	char		escaped[256];

	(void) rvx_s3_xml_error(body, size, &s3err);

	memset(&page, 0, sizeof(page));
	if (rvx_s3_xml_list(body, size, on_entry, &total, &page, &err) == 0)
		free(page.next_token);

	upload_id = rvx_s3_xml_upload_id(body, size, &err);
	free(upload_id);

	(void) rvx_s3_xml_complete(body, size, &s3err, &err);

	rvx_creds_release(rvx_credentials_parse_sts(body, size, 1700000000, "fuzz", &err));
	rvx_creds_release(rvx_credentials_parse_json(body, size, 1700000000, "fuzz", &err));

	/* the escaper, on a NUL-terminated prefix of the input */
	{
		char		text[128];
		size_t		n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

		memcpy(text, data, n);
		text[n] = '\0';
		(void) rvx_s3_xml_escape(text, escaped, sizeof(escaped));
	}
	return 0;
}
