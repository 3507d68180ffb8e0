/*-------------------------------------------------------------------------
 *
 * test_sigv4.c
 *	  Unit tests of agent/storage/sigv4.c against AWS's published vectors.
 *
 * Two sources, both public and fixed:
 *	- the "aws-sig-v4-test-suite" (service "service", region us-east-1,
 *	  AKIDEXAMPLE, 20150830T123600Z): get-vanilla, get-vanilla-query-order-
 *	  key-case and post-vanilla;
 *	- the worked examples of the S3 API reference, "Signature Calculations
 *	  for the Authorization Header: Transferring Payload in a Single Chunk"
 *	  (examplebucket, AKIAIOSFODNN7EXAMPLE, 20130524T000000Z): GET object
 *	  with a Range, PUT object, GET ?lifecycle and GET ?max-keys=2&prefix=J.
 * Where the documents print the canonical request or the string to sign, we
 * compare those too, so a failure points at the step that went wrong.
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"
#include "storage/sigv4.h"

#define SUITE_KEY		"AKIDEXAMPLE"
#define SUITE_SECRET	"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE		"20150830T123600Z"
#define SUITE_CRED		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

#define S3_KEY			"AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE			"20130524T000000Z"
#define S3_HOST			"examplebucket.s3.amazonaws.com"

/* Checks string and frees it. */
static void
assert_str_free(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* The signature part of an Authorization value. */
static const char *
signature_of(const char *auth)
{
	const char *p = strstr(auth, "Signature=");

	assert_non_null(p);
	return p + strlen("Signature=");
}

static void
test_suite_get_vanilla(void **state)
{
	RvxSigV4   *s = rvx_sigv4_new(SUITE_KEY, SUITE_SECRET, "us-east-1", "service");
	RvxSigV4Header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE}};
	RvxSigV4Request req = {
		.method = "GET", .path = "/", .headers = h, .nheaders = 2,
		.payload_hash = RVX_SIGV4_EMPTY_SHA256, .amz_date = SUITE_DATE,
	};

	assert_non_null(s);
	assert_str_free(rvx_sigv4_canonical_request(&req),
					"GET\n/\n\n"
					"host:example.amazonaws.com\n"
					"x-amz-date:20150830T123600Z\n\n"
					"host;x-amz-date\n"
					RVX_SIGV4_EMPTY_SHA256);
	assert_str_free(rvx_sigv4_string_to_sign(s, &req),
					"AWS4-HMAC-SHA256\n20150830T123600Z\n"
					"20150830/us-east-1/service/aws4_request\n"
					"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
	assert_str_free(rvx_sigv4_authorization(s, &req),
					SUITE_CRED "SignedHeaders=host;x-amz-date, "
					"Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	rvx_sigv4_free(s);
}

static void
test_suite_get_vanilla_query_order_key_case(void **state)
{
	RvxSigV4   *s = rvx_sigv4_new(SUITE_KEY, SUITE_SECRET, "us-east-1", "service");
	RvxSigV4Header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE}};
	/* given out of order: the canonical query sorts them */
	RvxSigV4Param q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
	RvxSigV4Request req = {
		.method = "GET", .path = "/", .query = q, .nquery = 2,
		.headers = h, .nheaders = 2,
		.payload_hash = RVX_SIGV4_EMPTY_SHA256, .amz_date = SUITE_DATE,
	};
	char	   *cr = rvx_sigv4_canonical_request(&req);

	assert_non_null(cr);
	assert_non_null(strstr(cr, "\nParam1=value1&Param2=value2\n"));
	free(cr);
	assert_str_free(rvx_sigv4_authorization(s, &req),
					SUITE_CRED "SignedHeaders=host;x-amz-date, "
					"Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
	rvx_sigv4_free(s);
}

static void
test_suite_post_vanilla(void **state)
{
	RvxSigV4   *s = rvx_sigv4_new(SUITE_KEY, SUITE_SECRET, "us-east-1", "service");
	RvxSigV4Header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE}};
	RvxSigV4Request req = {
		.method = "POST", .path = "/", .headers = h, .nheaders = 2,
		.payload_hash = RVX_SIGV4_EMPTY_SHA256, .amz_date = SUITE_DATE,
	};

	assert_str_free(rvx_sigv4_string_to_sign(s, &req),
					"AWS4-HMAC-SHA256\n20150830T123600Z\n"
					"20150830/us-east-1/service/aws4_request\n"
					"553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87");
	assert_str_free(rvx_sigv4_authorization(s, &req),
					SUITE_CRED "SignedHeaders=host;x-amz-date, "
					"Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
	rvx_sigv4_free(s);
}

static void
test_s3_get_object_range(void **state)
{
	RvxSigV4   *s = rvx_sigv4_new(S3_KEY, S3_SECRET, "us-east-1", "s3");
	RvxSigV4Header h[] = {
		{"Host", S3_HOST},
		{"Range", "bytes=0-9"},
		{"x-amz-content-sha256", RVX_SIGV4_EMPTY_SHA256},
		{"x-amz-date", S3_DATE},
	};
	RvxSigV4Request req = {
		.method = "GET", .path = "/test.txt", .headers = h, .nheaders = 4,
		.payload_hash = RVX_SIGV4_EMPTY_SHA256, .amz_date = S3_DATE,
	};
	char	   *auth;

	assert_str_free(rvx_sigv4_canonical_request(&req),
					"GET\n/test.txt\n\n"
					"host:examplebucket.s3.amazonaws.com\n"
					"range:bytes=0-9\n"
					"x-amz-content-sha256:" RVX_SIGV4_EMPTY_SHA256 "\n"
					"x-amz-date:20130524T000000Z\n\n"
					"host;range;x-amz-content-sha256;x-amz-date\n"
					RVX_SIGV4_EMPTY_SHA256);
	assert_str_free(rvx_sigv4_string_to_sign(s, &req),
					"AWS4-HMAC-SHA256\n20130524T000000Z\n"
					"20130524/us-east-1/s3/aws4_request\n"
					"7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	auth = rvx_sigv4_authorization(s, &req);
	assert_non_null(auth);
	assert_string_equal(auth,
						"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
						"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
						"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	/* the secret never shows */
	assert_null(strstr(auth, S3_SECRET));
	free(auth);
	rvx_sigv4_free(s);
}

static void
test_s3_put_object(void **state)
{
	const char *body = "Welcome to Amazon S3.";
	uint8_t		digest[RVX_SHA256_LEN];
	char		hash[RVX_SHA256_HEXLEN + 1];
	RvxSigV4   *s = rvx_sigv4_new(S3_KEY, S3_SECRET, "us-east-1", "s3");

	assert_int_equal(rvx_sha256_buf(body, strlen(body), digest), 0);
	rvx_hex_encode(digest, sizeof(digest), hash);
	assert_string_equal(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");

	{
		RvxSigV4Header h[] = {
			{"Host", S3_HOST},
			{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
			{"x-amz-date", S3_DATE},
			{"x-amz-storage-class", "REDUCED_REDUNDANCY"},
			{"x-amz-content-sha256", hash},
		};
		/* the key is "test$file.text": '$' is encoded in the canonical URI */
		RvxSigV4Request req = {
			.method = "PUT", .path = "/test$file.text", .headers = h, .nheaders = 5,
			.payload_hash = hash, .amz_date = S3_DATE,
		};
		char	   *auth;

		assert_str_free(rvx_sigv4_canonical_request(&req),
						"PUT\n/test%24file.text\n\n"
						"date:Fri, 24 May 2013 00:00:00 GMT\n"
						"host:examplebucket.s3.amazonaws.com\n"
						"x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
						"x-amz-date:20130524T000000Z\n"
						"x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
						"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
						"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
		assert_str_free(rvx_sigv4_string_to_sign(s, &req),
						"AWS4-HMAC-SHA256\n20130524T000000Z\n"
						"20130524/us-east-1/s3/aws4_request\n"
						"9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
		auth = rvx_sigv4_authorization(s, &req);
		assert_non_null(auth);
		assert_non_null(strstr(auth, "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "));
		assert_string_equal(signature_of(auth),
							"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
		free(auth);
	}
	rvx_sigv4_free(s);
}

static void
test_s3_get_lifecycle(void **state)
{
	RvxSigV4   *s = rvx_sigv4_new(S3_KEY, S3_SECRET, "us-east-1", "s3");
	RvxSigV4Header h[] = {
		{"Host", S3_HOST},
		{"x-amz-content-sha256", RVX_SIGV4_EMPTY_SHA256},
		{"x-amz-date", S3_DATE},
	};
	RvxSigV4Param q[] = {{"lifecycle", ""}};
	RvxSigV4Request req = {
		.method = "GET", .path = "/", .query = q, .nquery = 1,
		.headers = h, .nheaders = 3,
		.payload_hash = RVX_SIGV4_EMPTY_SHA256, .amz_date = S3_DATE,
	};
	char	   *auth;

	assert_str_free(rvx_sigv4_string_to_sign(s, &req),
					"AWS4-HMAC-SHA256\n20130524T000000Z\n"
					"20130524/us-east-1/s3/aws4_request\n"
					"9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
	auth = rvx_sigv4_authorization(s, &req);
	assert_non_null(auth);
	assert_string_equal(signature_of(auth),
						"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	free(auth);
	/* in the URL the bare name is kept, in the canonical form it gets '=' */
	assert_str_free(rvx_sigv4_query_string(q, 1, false), "lifecycle");
	assert_str_free(rvx_sigv4_query_string(q, 1, true), "lifecycle=");
	rvx_sigv4_free(s);
}

static void
test_s3_list_objects(void **state)
{
	RvxSigV4   *s = rvx_sigv4_new(S3_KEY, S3_SECRET, "us-east-1", "s3");
	RvxSigV4Header h[] = {
		{"Host", S3_HOST},
		{"x-amz-content-sha256", RVX_SIGV4_EMPTY_SHA256},
		{"x-amz-date", S3_DATE},
	};
	RvxSigV4Param q[] = {{"prefix", "J"}, {"max-keys", "2"}};
	RvxSigV4Request req = {
		.method = "GET", .path = "/", .query = q, .nquery = 2,
		.headers = h, .nheaders = 3,
		.payload_hash = RVX_SIGV4_EMPTY_SHA256, .amz_date = S3_DATE,
	};
	char	   *auth = rvx_sigv4_authorization(s, &req);

	assert_non_null(auth);
	assert_string_equal(signature_of(auth),
						"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	free(auth);
	rvx_sigv4_free(s);
}

/*
 * The signing key is cached per date: a signer that signed another day
 * first must still agree with a fresh one, and signing twice is stable.
 */
static void
test_key_cache_per_date(void **state)
{
	RvxSigV4   *used = rvx_sigv4_new(S3_KEY, S3_SECRET, "us-east-1", "s3");
	RvxSigV4Header h[] = {{"Host", S3_HOST}, {"x-amz-date", "20130523T235959Z"}};
	RvxSigV4Request other_day = {
		.method = "GET", .path = "/", .headers = h, .nheaders = 2,
		.amz_date = "20130523T235959Z",
	};
	RvxSigV4Header h2[] = {
		{"Host", S3_HOST},
		{"x-amz-content-sha256", RVX_SIGV4_EMPTY_SHA256},
		{"x-amz-date", S3_DATE},
	};
	RvxSigV4Param q[] = {{"prefix", "J"}, {"max-keys", "2"}};
	RvxSigV4Request list = {
		.method = "GET", .path = "/", .query = q, .nquery = 2,
		.headers = h2, .nheaders = 3,
		.payload_hash = RVX_SIGV4_EMPTY_SHA256, .amz_date = S3_DATE,
	};
	char	   *a;

	free(rvx_sigv4_authorization(used, &other_day));
	for (int i = 0; i < 2; i++)
	{
		a = rvx_sigv4_authorization(used, &list);
		assert_non_null(a);
		assert_string_equal(signature_of(a),
							"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
		free(a);
	}
	rvx_sigv4_free(used);
}

static void
test_encoding(void **state)
{
	assert_str_free(rvx_sigv4_uri_encode("A-z_0.9~", false), "A-z_0.9~");
	assert_str_free(rvx_sigv4_uri_encode("a b+c=d&e", false), "a%20b%2Bc%3Dd%26e");
	assert_str_free(rvx_sigv4_uri_encode("wal/0001/x y", true), "wal/0001/x%20y");
	assert_str_free(rvx_sigv4_uri_encode("wal/0001", false), "wal%2F0001");
	assert_str_free(rvx_sigv4_uri_encode("!'()*%", false), "%21%27%28%29%2A%25");
	assert_str_free(rvx_sigv4_uri_encode("\xc3\xa9", false), "%C3%A9");
	assert_str_free(rvx_sigv4_uri_encode("", true), "");

	{
		RvxSigV4Param q[] = {
			{"prefix", "pg/wal/"}, {"list-type", "2"}, {"continuation-token", "a+b/c="},
		};

		assert_str_free(rvx_sigv4_query_string(q, 3, true),
						"continuation-token=a%2Bb%2Fc%3D&list-type=2&prefix=pg%2Fwal%2F");
		assert_str_free(rvx_sigv4_query_string(NULL, 0, true), "");
	}
	{
		RvxSigV4Param q[] = {{"uploadId", "x/y"}, {"partNumber", "10"}, {"uploads", ""}};

		assert_str_free(rvx_sigv4_query_string(q, 3, false),
						"partNumber=10&uploadId=x%2Fy&uploads");
	}
}

/* Header names are lower-cased and sorted, values trimmed and squeezed. */
static void
test_header_canonical_form(void **state)
{
	RvxSigV4Header h[] = {
		{"X-Amz-Date", S3_DATE},
		{"Host", "h"},
		{"x-amz-meta-note", "  two   words  "},
		{"X-Amz-Meta-Note", "again"},
	};
	RvxSigV4Request req = {
		.method = "PUT", .path = "/b/k", .headers = h, .nheaders = 4,
		.payload_hash = "UNSIGNED-PAYLOAD", .amz_date = S3_DATE,
	};

	assert_str_free(rvx_sigv4_canonical_request(&req),
					"PUT\n/b/k\n\n"
					"host:h\n"
					"x-amz-date:20130524T000000Z\n"
					"x-amz-meta-note:two words,again\n\n"
					"host;x-amz-date;x-amz-meta-note\n"
					"UNSIGNED-PAYLOAD");
}

static void
test_date(void **state)
{
	char		d[RVX_SIGV4_DATE_LEN];
	RvxSigV4   *s = rvx_sigv4_new(S3_KEY, S3_SECRET, "us-east-1", "s3");
	RvxSigV4Header h[] = {{"Host", S3_HOST}};
	RvxSigV4Request req = {
		.method = "GET", .path = "/", .headers = h, .nheaders = 1,
		.amz_date = "2013-05-24T00:00:00Z",
	};

	rvx_sigv4_format_date((time_t) 1369353600, d);
	assert_string_equal(d, "20130524T000000Z");
	rvx_sigv4_format_date((time_t) 951782400, d);
	assert_string_equal(d, "20000229T000000Z");

	/* a malformed date is refused rather than signed */
	assert_null(rvx_sigv4_authorization(s, &req));
	req.amz_date = NULL;
	assert_null(rvx_sigv4_authorization(s, &req));
	rvx_sigv4_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suite_get_vanilla),
		cmocka_unit_test(test_suite_get_vanilla_query_order_key_case),
		cmocka_unit_test(test_suite_post_vanilla),
		cmocka_unit_test(test_s3_get_object_range),
		cmocka_unit_test(test_s3_put_object),
		cmocka_unit_test(test_s3_get_lifecycle),
		cmocka_unit_test(test_s3_list_objects),
		cmocka_unit_test(test_key_cache_per_date),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_header_canonical_form),
		cmocka_unit_test(test_date),
	};

	return cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);
}
