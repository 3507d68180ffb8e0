/*-------------------------------------------------------------------------
 *
 * test_manifest_fix.c
 *	  Unit tests for adding rebuilt files' digests to backup_manifest
 *	  (agent/restore/manifest_fix.c): the lines without a checksum of the
 *	  files named get exactly PostgreSQL's two keys, every other byte is
 *	  kept, and the Manifest-Checksum is that of the new text; a manifest
 *	  that does not match its own checksum, or that has no such line for a
 *	  file, is refused with nothing returned.
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "restore/manifest_fix.h"
#include "sha256.h"

#define HEAD \
	"{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n"
#define LINE_A \
	"{ \"Path\": \"base/5/16384\", \"Size\": 8192, \"Last-Modified\": \"2026-12-07 10:00:00 GMT\", " \
	"\"Checksum-Algorithm\": \"SHA256\", \"Checksum\": " \
	"\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\" }"
#define LINE_B \
	"{ \"Path\": \"base/5/16390\", \"Size\": 16384, \"Last-Modified\": \"2026-12-07 10:00:01 GMT\" }"
#define LINE_C \
	"{ \"Path\": \"base/5/16390.1\", \"Size\": 24576, \"Last-Modified\": \"2026-12-07 10:00:02 GMT\" }"
#define TAIL \
	"\n],\n\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/2000100\" }\n],\n"

/* body with its Manifest-Checksum line, as extension/manifest.c writes it */
static char *
with_checksum(const char *body)
{
	uint8_t		d[RVX_SHA256_LEN];
	char		hex[RVX_SHA256_HEXLEN + 1];
	char	   *out = malloc(strlen(body) + 128);

	assert_int_equal(rvx_sha256_buf(body, strlen(body), d), 0);
	rvx_hex_encode(d, RVX_SHA256_LEN, hex);
	sprintf(out, "%s\"Manifest-Checksum\": \"%s\"}\n", body, hex);
	return out;
}

static const uint8_t digest_b[RVX_SHA256_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t digest_c[RVX_SHA256_LEN] = {0xfe, 0xed};

static char *
with_keys(const char *line, const uint8_t *digest)
{
	char		hex[RVX_SHA256_HEXLEN + 1];
	char	   *out = malloc(strlen(line) + 200);
	size_t		keep = strlen(line) - 2;	/* up to " }" */

	rvx_hex_encode(digest, RVX_SHA256_LEN, hex);
	sprintf(out, "%.*s, \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"%s\" }", (int) keep,
			line, hex);
	return out;
}

static void
test_adds_digests(void **state)
{
	char	   *in = with_checksum(HEAD LINE_A ",\n" LINE_B ",\n" LINE_C TAIL);
	RvxManifestDigest d[] = {{"base/5/16390.1", digest_c}, {"base/5/16390", digest_b}};
	char	   *b = with_keys(LINE_B, digest_b);
	char	   *c = with_keys(LINE_C, digest_c);
	char		body[4096];
	char	   *want;
	char	   *out;
	size_t		len;
	RvxError	err = {0};

	assert_int_equal(rvx_manifest_add_digests(in, strlen(in), d, 2, &out, &len, &err), 0);
	snprintf(body, sizeof(body), "%s%s,\n%s,\n%s%s", HEAD, LINE_A, b, c, TAIL);
	want = with_checksum(body);
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
	free(out);

	/* nothing to add: the same bytes */
	assert_int_equal(rvx_manifest_add_digests(in, strlen(in), d, 0, &out, &len, &err), 0);
	assert_string_equal(out, in);
	free(out);
	free(want);
	free(b);
	free(c);
	free(in);
}

static void
test_refuses(void **state)
{
	char	   *in = with_checksum(HEAD LINE_A ",\n" LINE_B TAIL);
	RvxManifestDigest missing[] = {{"base/5/16390", digest_b}, {"base/5/99999", digest_c}};
	RvxManifestDigest has_one[] = {{"base/5/16384", digest_b}};
	char	   *out = (char *) 1;
	size_t		len = 1;
	RvxError	err = {0};
	char	   *bad;

	/* a file with no line */
	assert_int_equal(rvx_manifest_add_digests(in, strlen(in), missing, 2, &out, &len, &err), -1);
	assert_int_equal(err.code, RVX_E_CORRUPT);
	assert_non_null(strstr(err.msg, "base/5/99999"));
	assert_null(out);
	assert_int_equal(len, 0);

	/* a file whose line has a checksum already */
	assert_int_equal(rvx_manifest_add_digests(in, strlen(in), has_one, 1, &out, &len, &err), -1);
	assert_non_null(strstr(err.msg, "base/5/16384"));

	/* one byte changed: the manifest's own checksum no longer matches */
	bad = strdup(in);
	bad[strlen(HEAD) + 20] ^= 1;
	assert_int_equal(rvx_manifest_add_digests(bad, strlen(bad), missing, 1, &out, &len, &err), -1);
	assert_non_null(strstr(err.msg, "does not match its own checksum"));

	/* no checksum line at all */
	assert_int_equal(rvx_manifest_add_digests(HEAD LINE_B TAIL, strlen(HEAD LINE_B TAIL), missing,
											  1, &out, &len, &err), -1);
	assert_non_null(strstr(err.msg, "Manifest-Checksum"));
	free(bad);
	free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adds_digests),
		cmocka_unit_test(test_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
