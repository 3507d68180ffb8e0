/*-------------------------------------------------------------------------
 *
 * test_s3_xml.c
 *	  Unit tests of agent/storage/s3_xml.c: S3's answers, and what a broken or
 *	  hostile server might send instead.
 *
 * The documents are shaped like AWS's examples in the S3 API reference
 * (namespaced results, un-namespaced errors); the malformed ones must each
 * end in a clean RVX_E_PROTOCOL, with nothing printed by libxml2.
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

#include "base/error.h"
#include "storage/s3_xml.h"

#define XMLDECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

typedef struct Listed
{
	int			n;
	char		keys[8][128];
	uint64_t	sizes[8];
	int			stop_after;		/* return 1 after this many; 0 = never */
} Listed;

static int
collect(void *arg, const char *key, uint64_t size)
{
	Listed	   *l = arg;

	if (l->n >= 8)
		return -1;
	snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
	l->sizes[l->n] = size;
	l->n++;
	return (l->stop_after > 0 && l->n >= l->stop_after) ? 1 : 0;
}

static int
parse_list(const char *doc, Listed *l, RvxS3ListPage *page, RvxError *err)
{
	return rvx_s3_xml_list(doc, strlen(doc), collect, l, page, err);
}

static void
test_error_document(void **state)
{
	const char *doc = XMLDECL
		"<Error><Code>SignatureDoesNotMatch</Code>"
		"<Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>"
		"<AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>"
		"<StringToSign>AWS4-HMAC-SHA256\n20130524T000000Z</StringToSign>"
		"<RequestId>4442587FB7D0A2F9</RequestId></Error>";
	RvxS3Error e;

	assert_true(rvx_s3_xml_error(doc, strlen(doc), &e));
	assert_string_equal(e.code, "SignatureDoesNotMatch");
	assert_string_equal(e.message,
						"The request signature we calculated does not match the signature you provided. Check your key and signing method.");
}

static void
test_error_escapes_and_controls(void **state)
{
	/* entities are decoded, control characters never reach a message */
	const char *doc = "<Error><Code>NoSuchKey</Code>"
		"<Message>key &quot;a&amp;b&quot;\nis &lt;gone&gt;</Message></Error>";
	RvxS3Error e;

	assert_true(rvx_s3_xml_error(doc, strlen(doc), &e));
	assert_string_equal(e.code, "NoSuchKey");
	assert_string_equal(e.message, "key \"a&b\" is <gone>");
}

static void
test_error_not_an_error(void **state)
{
	RvxS3Error e;
	const char *other = XMLDECL "<ListBucketResult " S3NS "></ListBucketResult>";

	assert_false(rvx_s3_xml_error(other, strlen(other), &e));
	assert_string_equal(e.code, "");
	assert_false(rvx_s3_xml_error("", 0, &e));
	assert_false(rvx_s3_xml_error(NULL, 0, &e));
	assert_false(rvx_s3_xml_error("<html><body>502 Bad Gateway", 28, &e));
	assert_false(rvx_s3_xml_error("\x00\x01\x02garbage", 10, &e));
	assert_string_equal(e.message, "");
}

static void
test_list_truncated(void **state)
{
	const char *doc = XMLDECL
		"<ListBucketResult " S3NS ">"
		"<Name>bucket</Name><Prefix>pg/wal/</Prefix><KeyCount>2</KeyCount>"
		"<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
		"<Contents><Key>pg/wal/00000001/000000010000000000000001.zst</Key>"
		"<LastModified>2026-11-26T08:00:00.000Z</LastModified>"
		"<ETag>&quot;599bab3ed2c697f1d26842727561fd94&quot;</ETag>"
		"<Size>16777216</Size><StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>pg/wal/a&amp;b c</Key><Size>0</Size></Contents>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"</ListBucketResult>";
	Listed		l = {0};
	RvxS3ListPage page;
	RvxError	err = {0};

	assert_int_equal(parse_list(doc, &l, &page, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(page.nkeys, 2);
	assert_string_equal(l.keys[0], "pg/wal/00000001/000000010000000000000001.zst");
	assert_int_equal(l.sizes[0], 16777216);
	assert_string_equal(l.keys[1], "pg/wal/a&b c");
	assert_int_equal(l.sizes[1], 0);
	assert_true(page.truncated);
	assert_non_null(page.next_token);
	assert_string_equal(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	free(page.next_token);
}

static void
test_list_last_page_and_empty(void **state)
{
	const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>k</Key><Size>18446744073709551615</Size></Contents>"
		"</ListBucketResult>";
	const char *empty = XMLDECL "<ListBucketResult " S3NS "><Name>b</Name>"
		"<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>";
	Listed		l = {0};
	RvxS3ListPage page;
	RvxError	err = {0};

	assert_int_equal(parse_list(last, &l, &page, &err), 0);
	assert_int_equal(l.n, 1);
	assert_true(l.sizes[0] == UINT64_MAX);
	assert_false(page.truncated);
	assert_null(page.next_token);

	memset(&l, 0, sizeof(l));
	assert_int_equal(parse_list(empty, &l, &page, &err), 0);
	assert_int_equal(l.n, 0);
	assert_false(page.truncated);
}

static void
test_list_stop(void **state)
{
	const char *doc = "<ListBucketResult><IsTruncated>true</IsTruncated>"
		"<Contents><Key>a</Key><Size>1</Size></Contents>"
		"<Contents><Key>b</Key><Size>2</Size></Contents>"
		"<NextContinuationToken>t</NextContinuationToken></ListBucketResult>";
	Listed		l = {.stop_after = 1};
	RvxS3ListPage page;
	RvxError	err = {0};

	assert_int_equal(parse_list(doc, &l, &page, &err), 1);
	assert_int_equal(l.n, 1);
	assert_null(page.next_token);
}

static void
test_list_malformed(void **state)
{
	const char *bad[] = {
		"",
		"not xml at all",
		"<ListBucketResult><Contents><Key>a</Key>",	/* cut off */
		"<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
		"<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",	/* no Size */
		"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>12x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999999</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",	/* no Key */
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",	/* no token */
		/* a DTD is refused: it is how entity bombs come in */
		"<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>"
		"<ListBucketResult><Contents><Key>&b;</Key><Size>1</Size></Contents></ListBucketResult>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		Listed		l = {0};
		RvxS3ListPage page;
		RvxError	err = {0};

		assert_int_equal(parse_list(bad[i], &l, &page, &err), -1);
		assert_int_equal(err.code, RVX_E_PROTOCOL);
		assert_non_null(strstr(err.msg, "could not parse listing"));
		assert_null(page.next_token);
	}
}

static void
test_upload_id(void **state)
{
	const char *doc = XMLDECL
		"<InitiateMultipartUploadResult " S3NS ">"
		"<Bucket>example-bucket</Bucket><Key>example-object</Key>"
		"<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
		"</InitiateMultipartUploadResult>";
	RvxError	err = {0};
	char	   *id = rvx_s3_xml_upload_id(doc, strlen(doc), &err);
	const char *no_id = "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>";

	assert_non_null(id);
	assert_string_equal(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
	free(id);

	assert_null(rvx_s3_xml_upload_id(no_id, strlen(no_id), &err));
	assert_int_equal(err.code, RVX_E_PROTOCOL);
	assert_null(rvx_s3_xml_upload_id("", 0, &err));
	assert_null(rvx_s3_xml_upload_id("<Init", 5, &err));
	assert_int_equal(err.code, RVX_E_PROTOCOL);
}

static void
test_complete(void **state)
{
	const char *ok = XMLDECL
		"<CompleteMultipartUploadResult " S3NS ">"
		"<Location>http://Example-Bucket.s3.amazonaws.com/Example-Object</Location>"
		"<Bucket>Example-Bucket</Bucket><Key>Example-Object</Key>"
		"<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
		"</CompleteMultipartUploadResult>";
	/* a 200 whose body is an error, preceded by keep-alive whitespace */
	const char *failed = "      \n   " XMLDECL
		"<Error><Code>InternalError</Code>"
		"<Message>We encountered an internal error. Please try again.</Message>"
		"<RequestId>656c76696e6727732072657175657374</RequestId></Error>";
	RvxS3Error s3err;
	RvxError	err = {0};

	assert_int_equal(rvx_s3_xml_complete(ok, strlen(ok), &s3err, &err), 0);
	assert_int_equal(rvx_s3_xml_complete(failed, strlen(failed), &s3err, &err), 1);
	assert_string_equal(s3err.code, "InternalError");
	assert_string_equal(s3err.message, "We encountered an internal error. Please try again.");
	assert_int_equal(rvx_s3_xml_complete("", 0, &s3err, &err), -1);
	assert_int_equal(err.code, RVX_E_PROTOCOL);
	assert_int_equal(rvx_s3_xml_complete("<Other/>", 8, &s3err, &err), -1);
	assert_non_null(strstr(err.msg, "<Other>"));
}

static void
test_escape(void **state)
{
	char		out[64];

	assert_int_equal(rvx_s3_xml_escape("\"abc\"", out, sizeof(out)), 15);
	assert_string_equal(out, "&quot;abc&quot;");
	assert_int_equal(rvx_s3_xml_escape("a<b>&'", out, sizeof(out)), 21);
	assert_string_equal(out, "a&lt;b&gt;&amp;&apos;");
	assert_int_equal(rvx_s3_xml_escape("\"abc\"", out, 10), -1);
	assert_int_equal(rvx_s3_xml_escape("", out, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_document),
		cmocka_unit_test(test_error_escapes_and_controls),
		cmocka_unit_test(test_error_not_an_error),
		cmocka_unit_test(test_list_truncated),
		cmocka_unit_test(test_list_last_page_and_empty),
		cmocka_unit_test(test_list_stop),
		cmocka_unit_test(test_list_malformed),
		cmocka_unit_test(test_upload_id),
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests_name("s3_xml", tests, NULL, NULL);
}
