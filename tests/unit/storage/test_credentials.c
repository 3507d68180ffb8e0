/*-------------------------------------------------------------------------
 *
 * test_credentials.c
 *	  The S3 credentials provider (agent/storage/credentials.c): parsing the STS,
 *	  container and instance metadata answers, refresh timing, the endpoint
 *	  rules, and each source against a scripted server that asserts the
 *	  requests (scripted_server.h), down to the S3 request signed with what
 *	  the provider fetched.
 *
 * The few timing tests use credentials that live 4 or 5 seconds and wait
 * for the provider's own deadlines (never a fixed sleep), so the file runs
 * in some 10 seconds.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "storage/credentials.h"
#include "base/error.h"
#include "storage/http.h"
#include "base/log.h"
#include "base/metrics.h"
#include "storage/repo.h"
#include "scripted_server.h"

#define AKID		"ASIAEXAMPLEKEY1"
#define SECRET		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET1"
#define STOKEN		"IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN1"
#define ROLE		"arn:aws:iam::123456789012:role/revrx-test"

/* ------------------------------------------------------------- answers */

/* An AssumeRoleWithWebIdentity answer; a NULL field is left out. */
static char *
sts_body(const char *akid, const char *secret, const char *token, const char *expiration)
{
	char	   *out;

	if (asprintf(&out,
				 "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
				 "<AssumeRoleWithWebIdentityResult><Credentials>"
				 "%s%s%s" "%s%s%s" "%s%s%s" "%s%s%s"
				 "</Credentials><AssumedRoleUser><Arn>x</Arn></AssumedRoleUser>"
				 "</AssumeRoleWithWebIdentityResult>"
				 "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
				 "</AssumeRoleWithWebIdentityResponse>\n",
				 token ? "<SessionToken>" : "", token ? token : "", token ? "</SessionToken>" : "",
				 secret ? "<SecretAccessKey>" : "", secret ? secret : "", secret ? "</SecretAccessKey>" : "",
				 expiration ? "<Expiration>" : "", expiration ? expiration : "", expiration ? "</Expiration>" : "",
				 akid ? "<AccessKeyId>" : "", akid ? akid : "", akid ? "</AccessKeyId>" : "") < 0)
		abort();
	return out;
}

static char *
json_body(const char *akid, const char *token, const char *expiration)
{
	char	   *out;

	if (asprintf(&out, "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"%s\","
				 "\"SecretAccessKey\":\"%s\",\"Token\":\"%s\",\"Expiration\":\"%s\"}",
				 akid, SECRET, token, expiration) < 0)
		abort();
	return out;
}

static char *
in_seconds(int s, char *buf, size_t cap)
{
	rvx_iso_time(time(NULL) + s, buf, cap);
	return buf;
}

/* ------------------------------------------------------------- parsing */

static void
test_parse_sts(void **state)
{
	char		exp[32];
	char	   *body = sts_body(AKID, SECRET, STOKEN, in_seconds(3600, exp, sizeof(exp)));
	RvxError	err;
	RvxCreds   *c = rvx_credentials_parse_sts(body, strlen(body), time(NULL), "sts", &err);

	assert_non_null(c);
	assert_string_equal(c->access_key, AKID);
	assert_string_equal(c->secret_key, SECRET);
	assert_string_equal(c->session_token, STOKEN);
	assert_int_equal(c->expiration, rvx_credentials_parse_time(exp));
	rvx_creds_release(c);
	free(body);
}

static void
test_parse_sts_bad(void **state)
{
	char		exp[32];
	char		past[32];
	const struct
	{
		char	   *body;
		RvxErrorCode code;
		const char *says;
	}			cases[] = {
		{sts_body(AKID, SECRET, NULL, in_seconds(3600, exp, sizeof(exp))), RVX_E_PROTOCOL, "no SessionToken"},
		{sts_body(NULL, SECRET, STOKEN, exp), RVX_E_PROTOCOL, "no AccessKeyId"},
		{sts_body(AKID, NULL, STOKEN, exp), RVX_E_PROTOCOL, "no SecretAccessKey"},
		{sts_body(AKID, SECRET, STOKEN, NULL), RVX_E_PROTOCOL, "no Expiration"},
		{sts_body(AKID, SECRET, STOKEN, "tomorrow"), RVX_E_PROTOCOL, "not an ISO 8601 time"},
		{sts_body(AKID, SECRET, STOKEN, in_seconds(-60, past, sizeof(past))), RVX_E_AUTH, "expired"},
		{strdup("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"), RVX_E_PROTOCOL, "not an AssumeRoleWithWebIdentityResponse"},
		{strdup("<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>"), RVX_E_PROTOCOL, "not an AssumeRoleWithWebIdentityResponse"},
		{strdup("{\"AccessKeyId\":\"x\"}"), RVX_E_PROTOCOL, "not an AssumeRoleWithWebIdentityResponse"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		RvxError	err;
		RvxCreds   *c;

		rvx_error_clear(&err);
		c = rvx_credentials_parse_sts(cases[i].body, strlen(cases[i].body), time(NULL), "sts", &err);
		if (c != NULL || err.code != cases[i].code || strstr(err.msg, cases[i].says) == NULL)
			fail_msg("case %zu: got \"%s\" (code %d), expected \"%s\"", i, c ? "credentials" : err.msg,
					 err.code, cases[i].says);
		/* nothing from the answer is repeated in the message */
		assert_null(strstr(err.msg, SECRET));
		assert_null(strstr(err.msg, STOKEN));
		free(cases[i].body);
	}
}

static void
test_parse_json(void **state)
{
	char		exp[32];
	char	   *body = json_body(AKID, STOKEN, in_seconds(900, exp, sizeof(exp)));
	RvxError	err;
	RvxCreds   *c = rvx_credentials_parse_json(body, strlen(body), time(NULL), "container", &err);

	assert_non_null(c);
	assert_string_equal(c->access_key, AKID);
	assert_string_equal(c->secret_key, SECRET);
	assert_string_equal(c->session_token, STOKEN);
	rvx_creds_release(c);
	free(body);

	/* the container endpoint's answer has no Code: fine */
	body = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2099-01-01T00:00:00Z\"}";
	c = rvx_credentials_parse_json(body, strlen(body), time(NULL), "container", &err);
	assert_non_null(c);
	assert_int_equal(c->expiration, 4070908800);
	rvx_creds_release(c);
}

static void
test_parse_json_bad(void **state)
{
	const struct
	{
		const char *body;
		RvxErrorCode code;
		const char *says;
	}			cases[] = {
		{"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"2099-01-01T00:00:00Z\"}", RVX_E_PROTOCOL, "no Token"},
		{"{\"AccessKeyId\":\"A\",\"Token\":\"T\",\"Expiration\":\"2099-01-01T00:00:00Z\"}", RVX_E_PROTOCOL, "no SecretAccessKey"},
		{"{\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2099-01-01T00:00:00Z\"}", RVX_E_PROTOCOL, "no AccessKeyId"},
		{"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}", RVX_E_PROTOCOL, "no Expiration"},
		{"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2001-01-01T00:00:00Z\"}", RVX_E_AUTH, "expired at 2001-01-01T00:00:00Z"},
		{"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2099-13-01\"}", RVX_E_PROTOCOL, "not an ISO 8601 time"},
		{"{\"AccessKeyId\":7,\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2099-01-01T00:00:00Z\"}", RVX_E_PROTOCOL, "no AccessKeyId"},
		{"{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no role\"}", RVX_E_AUTH, "Code \"AssumeRoleUnauthorizedAccess\": no role"},
		{"[1,2]", RVX_E_PROTOCOL, "not a JSON object"},
		{"{\"AccessKeyId\":", RVX_E_PROTOCOL, "not a JSON object"},
		{"", RVX_E_PROTOCOL, "not a JSON object"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		RvxError	err;
		RvxCreds   *c;

		rvx_error_clear(&err);
		c = rvx_credentials_parse_json(cases[i].body, strlen(cases[i].body), time(NULL), "imds", &err);
		if (c != NULL || err.code != cases[i].code || strstr(err.msg, cases[i].says) == NULL)
			fail_msg("case %zu: got \"%s\" (code %d), expected \"%s\"", i, c ? "credentials" : err.msg,
					 err.code, cases[i].says);
	}
}

static void
test_parse_time(void **state)
{
	assert_int_equal(rvx_credentials_parse_time("2026-12-06T21:00:00Z"), 1796590800);
	assert_int_equal(rvx_credentials_parse_time("2026-12-06T21:00:00.123Z"), 1796590800);
	/* RFC 3339 with nanoseconds, as a Go or Java endpoint writes it */
	assert_int_equal(rvx_credentials_parse_time("2026-12-06T21:00:00.123456789Z"), 1796590800);
	assert_int_equal(rvx_credentials_parse_time("2026-12-06T22:30:00+01:30"), 1796590800);
	assert_int_equal(rvx_credentials_parse_time("2026-12-06T19:00:00-02:00"), 1796590800);
	/* the form STS, the container endpoint and IMDS send */
	assert_int_equal(rvx_credentials_parse_time("2026-12-07T05:00:00Z"), 1796619600);
	assert_int_equal(rvx_credentials_parse_time("2026-12-06T21:00:00"), -1);
	assert_int_equal(rvx_credentials_parse_time("2026-12-06T21:00:00Zjunk"), -1);
	assert_int_equal(rvx_credentials_parse_time("2026-12-06T21:00:00.Z"), -1);
	assert_int_equal(rvx_credentials_parse_time("2026-12-06"), -1);
	assert_int_equal(rvx_credentials_parse_time(""), -1);
	assert_int_equal(rvx_credentials_parse_time(NULL), -1);
}

/* The agent's one ISO time formatter (log.h), read back by the parser. */
static void
test_iso_time(void **state)
{
	char		buf[RVX_ISO_TIME_SIZE];

	assert_string_equal(rvx_iso_time(1796590800, buf, sizeof(buf)), "2026-12-06T21:00:00Z");
	assert_int_equal(rvx_credentials_parse_time(rvx_iso_time(0, buf, sizeof(buf))), 0);
	assert_string_equal(rvx_iso_time(1796590800, buf, 5), "");	/* too small: empty, not garbage */
}

/* The provider's retry delays: http.c's backoff on its own 1 s to 60 s scale. */
static void
test_backoff_scale(void **state)
{
	uint64_t	rng = 42;

	for (int attempt = 0; attempt < 12; attempt++)
		for (int i = 0; i < 200; i++)
		{
			int			d = rvx_backoff_ms(attempt, 1000, 60000, &rng);
			long		ceiling = attempt < 6 ? 1000L << attempt : 60000L;

			if (d < 0 || d > ceiling)
				fail_msg("attempt %d: %d ms, expected 0 to %ld", attempt, d, ceiling);
		}
}

/* 5 minutes ahead; half-way for short lives; never for static keys */
static void
test_refresh_timing(void **state)
{
	assert_int_equal(rvx_credentials_refresh_at(1000, 1000 + 3600), 1000 + 3600 - 300);
	assert_int_equal(rvx_credentials_refresh_at(1000, 1000 + 900), 1000 + 900 - 300);
	assert_int_equal(rvx_credentials_refresh_at(1000, 1000 + 600), 1000 + 300);
	assert_int_equal(rvx_credentials_refresh_at(1000, 1000 + 20), 1000 + 10);
	assert_int_equal(rvx_credentials_refresh_at(1000, 0), 0);
}

/* ----------------------------------------------------------- endpoints */

static void
test_check_url(void **state)
{
	static const char *const linklocal[] = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23", NULL};
	const struct
	{
		const char *url;
		const char *const *allowed;
		bool		ok;
	}			cases[] = {
		{"https://sts.eu-west-1.amazonaws.com/", NULL, true},
		{"https://10.1.2.3:8443/", NULL, true},
		{"http://127.0.0.1:8080", NULL, true},
		{"http://127.9.9.9/x", NULL, true},
		{"http://localhost:1/", NULL, true},
		{"http://[::1]:9000/", NULL, true},
		{"http://169.254.170.23/v1/credentials", linklocal, true},
		{"http://[fd00:ec2::23]/v1/credentials", linklocal, true},
		{"http://169.254.170.2/creds", linklocal, true},
		/* refused */
		{"http://169.254.170.23/v1/credentials", NULL, false},
		{"http://169.254.169.254/", linklocal, false},
		{"http://10.0.0.1:8080/", NULL, false},
		{"http://sts.amazonaws.com/", NULL, false},
		{"http://localhost.attacker.example/", NULL, false},
		{"http://127.0.0.1@10.0.0.1/", NULL, false},
		/* userinfo after a port or an IPv6 address: curl connects to the host after the @ */
		{"http://127.0.0.1:80@10.0.0.1/", NULL, false},
		{"http://localhost:1@10.0.0.1/x", NULL, false},
		{"http://[::1]@10.0.0.1/", NULL, false},
		{"http://169.254.170.2:80@10.0.0.1/", linklocal, false},
		/* a password would reach the log through the description */
		{"https://u:p@host/", NULL, false},
		{"https://user@sts.amazonaws.com/", NULL, false},
		{"ftp://127.0.0.1/", NULL, false},
		{"127.0.0.1:80", NULL, false},
		{"http://[::1/", NULL, false},
		{"http:///path", NULL, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		RvxError	err;
		int			rc;

		rvx_error_clear(&err);
		rc = rvx_credentials_check_url("AWS_SETTING", cases[i].url, cases[i].allowed, &err);
		if ((rc == 0) != cases[i].ok)
			fail_msg("case %zu (%s): %s", i, cases[i].url, rc == 0 ? "accepted" : err.msg);
		if (rc != 0)
		{
			assert_int_equal(err.code, RVX_E_CONFIG);
			assert_non_null(strstr(err.msg, "AWS_SETTING"));
			/* no password in the message */
			assert_null(strstr(err.msg, "u:p@"));
		}
	}
}

/* The choice of source, and the settings refused before any I/O. */
static void
test_choose_source(void **state)
{
	RvxError	err;
	RvxCredentials *p;
	const struct
	{
		RvxCredConfig cfg;
		const char *says;
	}			bad[] = {
		{{.access_key = "AK"}, "AWS_SECRET_ACCESS_KEY is not"},
		{{.role_arn = ROLE}, "AWS_WEB_IDENTITY_TOKEN_FILE is not"},
		{{.token_file = "/t"}, "AWS_ROLE_ARN is not"},
		{{.role_arn = ROLE, .token_file = "/t", .sts_endpoint = "http://sts.example.com"}, "AWS_ENDPOINT_URL_STS"},
		{{.role_arn = ROLE, .token_file = "/t", .sts_regional = "global"}, "AWS_STS_REGIONAL_ENDPOINTS"},
		{{.container_full_uri = "http://192.168.1.1/creds"}, "AWS_CONTAINER_CREDENTIALS_FULL_URI"},
		{{.container_relative_uri = "creds"}, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"},
		{{.imds_endpoint = "http://10.0.0.1"}, "AWS_EC2_METADATA_SERVICE_ENDPOINT"},
		{{.imds_disabled = true}, "no S3 credentials"},
		/* AWS: 2-64 characters of [\w+=,.@-]; never truncated silently */
		{{.role_arn = ROLE, .token_file = "/t",
			.session_name = "a-session-name-that-is-longer-than-the-sixty-four-characters-aws1"}, "AWS_ROLE_SESSION_NAME"},
		{{.role_arn = ROLE, .token_file = "/t", .session_name = "two words"}, "AWS_ROLE_SESSION_NAME"},
		{{.role_arn = ROLE, .token_file = "/t", .session_name = "a/b"}, "AWS_ROLE_SESSION_NAME"},
		{{.role_arn = ROLE, .token_file = "/t", .session_name = "x"}, "AWS_ROLE_SESSION_NAME"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		rvx_error_clear(&err);
		p = rvx_credentials_new(&bad[i].cfg, &err);
		if (p != NULL || err.code != RVX_E_CONFIG || strstr(err.msg, bad[i].says) == NULL)
			fail_msg("case %zu: %s", i, p ? "accepted" : err.msg);
	}

	/* static keys first, whatever else is set; the secret is nowhere in the description */
	p = rvx_credentials_new(&(RvxCredConfig) {.access_key = "AKIDSTATIC9876", .secret_key = SECRET,
		.role_arn = ROLE, .token_file = "/t"}, &err);
	assert_non_null(p);
	assert_int_equal(rvx_credentials_source(p), RVX_CRED_STATIC);
	assert_null(strstr(rvx_credentials_describe(p), SECRET));
	rvx_credentials_free(p);

	p = rvx_credentials_new(&(RvxCredConfig) {.role_arn = ROLE, .token_file = "/t",
		.container_full_uri = "https://c.example/"}, &err);
	assert_non_null(p);
	assert_int_equal(rvx_credentials_source(p), RVX_CRED_WEB_IDENTITY);
	/* regional by default */
	assert_non_null(strstr(rvx_credentials_describe(p), "https://sts.us-east-1.amazonaws.com/"));
	assert_non_null(strstr(rvx_credentials_describe(p), ROLE));
	rvx_credentials_free(p);

	p = rvx_credentials_new(&(RvxCredConfig) {.role_arn = ROLE, .token_file = "/t", .region = "eu-west-1",
		.sts_regional = "legacy"}, &err);
	assert_non_null(p);
	assert_non_null(strstr(rvx_credentials_describe(p), "https://sts.amazonaws.com/"));
	rvx_credentials_free(p);

	p = rvx_credentials_new(&(RvxCredConfig) {.role_arn = ROLE, .token_file = "/t",
		.session_name = "a-session-name-of-exactly-64-chars.with+=,@_all.allowed-01234567"}, &err);
	if (p == NULL)
		fail_msg("%s", err.msg);
	rvx_credentials_free(p);

	p = rvx_credentials_new(&(RvxCredConfig) {.container_relative_uri = "/v2/creds/abc"}, &err);
	assert_non_null(p);
	assert_int_equal(rvx_credentials_source(p), RVX_CRED_CONTAINER);
	assert_non_null(strstr(rvx_credentials_describe(p), "http://169.254.170.2/v2/creds/abc"));
	rvx_credentials_free(p);

	p = rvx_credentials_new(&(RvxCredConfig) {0}, &err);
	assert_non_null(p);
	assert_int_equal(rvx_credentials_source(p), RVX_CRED_IMDS);
	rvx_credentials_free(p);
}

/* --------------------------------------------- against a scripted server */

static char token_path[64];

static void
write_token(const char *token)
{
	FILE	   *f = fopen(token_path, "w");

	assert_non_null(f);
	fprintf(f, "%s\n", token);
	fclose(f);
}

static RvxCredentials *
web_identity_provider(const Server *srv)
{
	char		url[64];
	RvxError	err;
	RvxCredentials *p;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv->port);
	p = rvx_credentials_new(&(RvxCredConfig) {.role_arn = ROLE, .token_file = token_path,
		.session_name = "unit-test", .sts_endpoint = url, .timeout_ms = 5000}, &err);
	if (p == NULL)
		fail_msg("%s", err.msg);
	return p;
}

/* Sleeps until time(NULL) reaches t. */
static void
wait_until(time_t t)
{
	while (time(NULL) < t)
		usleep(50 * 1000);
}

/*
 * STS is asked with the token from the file; the set is kept until half
 * its (5 s) life, then fetched again with the token the file holds then.
 * Second boundaries: the life is at least 4 s however the seconds fall
 * (the expiry is written before the set is received), so the refresh is
 * due 2 s or more after it and the immediate second get is never due.
 */
static void
test_web_identity_refresh(void **state)
{
	char		exp[32];
	char	   *b1 = sts_body(AKID, SECRET, STOKEN, in_seconds(5, exp, sizeof(exp)));
	char	   *b2 = sts_body("ASIAEXAMPLEKEY2", SECRET, "TOKEN-TWO", in_seconds(3600, exp, sizeof(exp)));
	Step		steps[] = {
		{{"POST / HTTP/1.1", "application/x-www-form-urlencoded"},
			"Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Frevrx-test"
			"&RoleSessionName=unit-test&Version=2011-06-15&WebIdentityToken=jwt-one",
		reply(200, "Content-Type: text/xml\r\n", b1), false},
		{{"POST / HTTP/1.1"}, "WebIdentityToken=jwt-two", reply(200, "Content-Type: text/xml\r\n", b2), false},
	};
	Server		srv;
	RvxCredentials *p;
	RvxCreds   *c1;
	RvxCreds   *c2;
	RvxCreds   *c3;
	RvxError	err;

	write_token("jwt-one");
	srv = server_start(steps, 2);
	p = web_identity_provider(&srv);
	c1 = rvx_credentials_get(p, &err);
	assert_non_null(c1);
	assert_string_equal(c1->access_key, AKID);
	assert_string_equal(c1->session_token, STOKEN);
	/* not due yet: the same set, no request */
	c2 = rvx_credentials_get(p, &err);
	assert_ptr_equal(c1, c2);
	rvx_creds_release(c2);

	/* the kubelet rotates the token; half the life later it is used */
	write_token("jwt-two");
	wait_until(rvx_credentials_refresh_at(c1->obtained, c1->expiration));
	c3 = rvx_credentials_get(p, &err);
	assert_non_null(c3);
	assert_string_equal(c3->access_key, "ASIAEXAMPLEKEY2");
	assert_true(c3->generation > c1->generation);
	/* the old set stays intact for whoever still signs with it */
	assert_string_equal(c1->access_key, AKID);
	rvx_creds_release(c1);
	rvx_creds_release(c3);
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
	free(b1);
	free(b2);
}

/* A role STS refuses: a clear error, no retry before the backoff, /readyz and /metrics see it. */
static void
test_web_identity_refused(void **state)
{
	Step		steps[] = {
		{{"POST / HTTP/1.1"}, "WebIdentityToken=jwt-secret-value",
			reply(403, "Content-Type: text/xml\r\n",
				  "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
				  "<Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>"
				  "</Error><RequestId>x</RequestId></ErrorResponse>"), false},
	};
	Server		srv;
	RvxCredentials *p;
	RvxError	err;
	RvxHealth	h;
	size_t		len;
	char	   *text;

	rvx_metrics_reset();
	write_token("jwt-secret-value");
	srv = server_start(steps, 1);
	p = web_identity_provider(&srv);
	assert_null(rvx_credentials_get(p, &err));
	assert_int_equal(err.code, RVX_E_AUTH);
	assert_non_null(strstr(err.msg, "HTTP 403 AccessDenied: Not authorized"));
	assert_non_null(strstr(err.msg, ROLE));
	assert_null(strstr(err.msg, "jwt-secret-value"));
	/* asked again at once: the same answer, without a request (the script has one step) */
	rvx_error_clear(&err);
	assert_null(rvx_credentials_get(p, &err));
	assert_non_null(strstr(err.msg, "AccessDenied"));

	rvx_metrics_health(&h);
	assert_false(h.creds_ok);
	assert_non_null(strstr(h.creds_reason, "AccessDenied"));
	text = rvx_metrics_render(NULL, (double) time(NULL), &len);
	assert_non_null(strstr(text, "revrx_credentials_refresh_failures_total{source=\"web identity\"} 1"));
	assert_null(strstr(text, "jwt-secret-value"));
	free(text);
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
}

/*
 * A failed refresh-ahead while the set is still valid: counted and shown
 * by revrx_credentials_refresh_failing, but /readyz stays ready; once the
 * set is no longer usable (expired here), not ready.
 */
static void
test_refresh_ahead_failure_stays_ready(void **state)
{
	char		exp[32];
	char	   *b1 = sts_body(AKID, SECRET, STOKEN, in_seconds(4, exp, sizeof(exp)));
	Step		steps[] = {
		{{"POST / HTTP/1.1"}, "WebIdentityToken=jwt-one", reply(200, "Content-Type: text/xml\r\n", b1), false},
		{{"POST / HTTP/1.1"}, "WebIdentityToken=jwt-one", reply(503, NULL, ""), false},
	};
	Server		srv;
	RvxCredentials *p;
	RvxCreds   *c1;
	RvxCreds   *c2;
	RvxError	err;
	RvxHealth	h;
	size_t		len;
	char	   *text;

	rvx_metrics_reset();
	write_token("jwt-one");
	srv = server_start(steps, 2);
	p = web_identity_provider(&srv);
	c1 = rvx_credentials_get(p, &err);
	if (c1 == NULL)
		fail_msg("%s", err.msg);
	rvx_metrics_health(&h);
	assert_true(h.creds_ok);

	/* due: the early refresh fails, the current set is handed out still */
	wait_until(rvx_credentials_refresh_at(c1->obtained, c1->expiration));
	c2 = rvx_credentials_get(p, &err);
	assert_ptr_equal(c1, c2);
	rvx_creds_release(c2);
	if (time(NULL) < c1->expiration)
	{
		rvx_metrics_health(&h);
		assert_true(h.creds_ok);
	}
	text = rvx_metrics_render(NULL, (double) time(NULL), &len);
	assert_non_null(strstr(text, "revrx_credentials_refresh_failures_total{source=\"web identity\"} 1"));
	assert_non_null(strstr(text, "revrx_credentials_refresh_failing{source=\"web identity\"} 1"));
	free(text);

	/* no usable set any more: not ready, with the reason */
	wait_until(c1->expiration);
	rvx_metrics_health(&h);
	assert_false(h.creds_ok);
	assert_non_null(strstr(h.creds_reason, "HTTP 503"));
	rvx_creds_release(c1);
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
	free(b1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A refresh-ahead to an STS that never answers: the worker holding a
 * usable set gets it back after the short refresh-ahead timeout (a quarter
 * of the request timeout, at most 5 s), not after the request timeout.
 */
static void
test_refresh_ahead_short_timeout(void **state)
{
	char		exp[32];
	char		url[64];
	char	   *b1 = sts_body(AKID, SECRET, STOKEN, in_seconds(5, exp, sizeof(exp)));
	Step		steps[] = {
		{{"POST / HTTP/1.1"}, "WebIdentityToken=jwt-one", reply(200, "Content-Type: text/xml\r\n", b1), false},
		{{"POST / HTTP/1.1"}, NULL, hang(), false},
	};
	Server		srv;
	RvxCredentials *p;
	RvxCreds   *c1;
	RvxCreds   *c2;
	RvxError	err;
	double		t0;

	write_token("jwt-one");
	srv = server_start(steps, 2);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
	p = rvx_credentials_new(&(RvxCredConfig) {.role_arn = ROLE, .token_file = token_path,
		.sts_endpoint = url, .timeout_ms = 8000}, &err);
	assert_non_null(p);
	c1 = rvx_credentials_get(p, &err);
	if (c1 == NULL)
		fail_msg("%s", err.msg);
	wait_until(rvx_credentials_refresh_at(c1->obtained, c1->expiration));
	t0 = now_s();
	c2 = rvx_credentials_get(p, &err);
	assert_ptr_equal(c1, c2);
	if (now_s() - t0 > 5.0)
		fail_msg("the refresh-ahead held the caller for %.1f s", now_s() - t0);
	rvx_creds_release(c2);
	rvx_creds_release(c1);
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
	free(b1);
}

#define NTHREADS 8

typedef struct GetArg
{
	RvxCredentials *p;
	pthread_barrier_t *start;
	RvxCreds   *got;
	RvxError	err;
} GetArg;

static void *
get_thread(void *arg)
{
	GetArg	   *a = arg;

	pthread_barrier_wait(a->start);
	a->got = rvx_credentials_get(a->p, &a->err);
	return NULL;
}

/*
 * Threads that ask at once while there is no set yet, during one slow
 * fetch: exactly one request (the script has one step: a second one fails
 * it), and every thread gets the set.
 */
static void
test_concurrent_first_get(void **state)
{
	char		exp[32];
	char	   *b1 = sts_body(AKID, SECRET, STOKEN, in_seconds(3600, exp, sizeof(exp)));
	Step		steps[] = {
		{{"POST / HTTP/1.1"}, "WebIdentityToken=jwt-one",
		delayed(700, reply(200, "Content-Type: text/xml\r\n", b1)), false},
	};
	Server		srv;
	RvxCredentials *p;
	pthread_barrier_t start;
	pthread_t	th[NTHREADS];
	GetArg		args[NTHREADS];

	write_token("jwt-one");
	srv = server_start(steps, 1);
	p = web_identity_provider(&srv);
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++)
	{
		args[i] = (GetArg) {.p = p, .start = &start};
		assert_int_equal(pthread_create(&th[i], NULL, get_thread, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NTHREADS; i++)
	{
		if (args[i].got == NULL)
			fail_msg("thread %d: %s", i, args[i].err.msg);
		assert_ptr_equal(args[i].got, args[0].got);
	}
	assert_string_equal(args[0].got->access_key, AKID);
	for (int i = 0; i < NTHREADS; i++)
		rvx_creds_release(args[i].got);
	pthread_barrier_destroy(&start);
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
	free(b1);
}

/* STS down, or throttling (a 400 with Code Throttling): a network error the caller may retry. */
static void
test_web_identity_unavailable(void **state)
{
	const char *answers[][2] = {
		{"503", ""},
		{"400", "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
		"<Message>Rate exceeded</Message></Error></ErrorResponse>"},
	};

	for (int i = 0; i < 2; i++)
	{
		Step		steps[] = {
			{{"POST / HTTP/1.1"}, NULL, reply(atoi(answers[i][0]), NULL, answers[i][1]), false},
		};
		Server		srv;
		RvxCredentials *p;
		RvxError	err;

		write_token("jwt-one");
		srv = server_start(steps, 1);
		p = web_identity_provider(&srv);
		assert_null(rvx_credentials_get(p, &err));
		assert_int_equal(err.code, RVX_E_NETWORK);
		assert_true(rvx_error_transient(&err));
		assert_non_null(strstr(err.msg, i == 0 ? "HTTP 503" : "HTTP 400 Throttling: Rate exceeded"));
		rvx_credentials_free(p);
		assert_int_equal(server_finish(&srv), SCRIPT_OK);
	}
}

/*
 * Container credentials with the token file, then an S3 request signed
 * with them: the Credential is the fetched key and x-amz-security-token
 * the fetched token.
 */
static void
test_container_then_s3(void **state)
{
	char		exp[32];
	char	   *body = json_body("ASIACONTAINER1", "CONTAINER-SESSION-TOKEN", in_seconds(3600, exp, sizeof(exp)));
	Step		steps[] = {
		{{"GET /v1/credentials HTTP/1.1", "Authorization: pod-identity-auth-1"}, NULL,
			reply(200, "Content-Type: application/json\r\nConnection: close\r\n", body), true},
		{{"HEAD /bkt/pfx/repo.json", "Credential=ASIACONTAINER1/", "x-amz-security-token: CONTAINER-SESSION-TOKEN"},
		NULL, reply(404, NULL, ""), false},
	};
	Server		srv;
	char		url[96];
	char		endpoint[64];
	RvxError	err;
	RvxCredentials *p;
	RvxRepoConfig cfg = {0};
	RvxRepo    *repo;

	write_token("pod-identity-auth-1");
	srv = server_start(steps, 2);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/credentials", srv.port);
	p = rvx_credentials_new(&(RvxCredConfig) {.container_full_uri = url, .container_token_file = token_path,
		.container_token = "not-this-one", .timeout_ms = 5000}, &err);
	assert_non_null(p);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", srv.port);
	cfg = (RvxRepoConfig) {.url = "s3://bkt/pfx", .s3_endpoint = endpoint, .s3_region = "us-east-1",
		.s3_path_style = true, .credentials = p, .s3_verify_tls = true, .timeout_ms = 5000};
	repo = rvx_repo_s3_open("bkt", "pfx", &cfg, &err);
	assert_non_null(repo);
	assert_int_equal(rvx_repo_head(repo, "repo.json", NULL, &err), 0);
	rvx_repo_close(repo);
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
	free(body);
}

/*
 * A container-credentials provider asking srv's /creds, and an S3 handle
 * on srv (bucket bkt) that signs with it; 2 retries.
 */
static RvxRepo *
container_repo(const Server *srv, RvxCredentials **p)
{
	char		url[96];
	char		endpoint[64];
	RvxError	err;
	RvxRepoConfig cfg;
	RvxRepo    *repo;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", srv->port);
	*p = rvx_credentials_new(&(RvxCredConfig) {.container_full_uri = url, .timeout_ms = 5000}, &err);
	if (*p == NULL)
		fail_msg("%s", err.msg);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", srv->port);
	cfg = (RvxRepoConfig) {.url = "s3://bkt", .s3_endpoint = endpoint, .s3_region = "us-east-1",
		.s3_path_style = true, .credentials = *p, .s3_verify_tls = true, .retries = 2, .timeout_ms = 5000};
	repo = rvx_repo_s3_open("bkt", "", &cfg, &err);
	if (repo == NULL)
		fail_msg("%s", err.msg);
	return repo;
}

/*
 * S3 calls the set expired (a clock off, a process frozen past the
 * expiry): the attempt is retried with a new set, fetched at once.
 */
static void
test_s3_expired_token_refetches(void **state)
{
	char		exp[32];
	char	   *b1 = json_body("ASIAOLDKEY", "OLD-TOKEN", in_seconds(3600, exp, sizeof(exp)));
	char	   *b2 = json_body("ASIANEWKEY", "NEW-TOKEN", in_seconds(3600, exp, sizeof(exp)));
	char	   *expired;
	Step		steps[4];
	Server		srv;
	RvxError	err;
	RvxCredentials *p;
	RvxRepo    *repo;
	char	   *body = NULL;
	size_t		len = 0;

	if (asprintf(&expired, "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>") < 0)
		abort();
	steps[0] = (Step) {{"GET /creds"}, NULL, reply(200, "Connection: close\r\n", b1), true};
	steps[1] = (Step) {{"GET /bkt/repo.json", "Credential=ASIAOLDKEY/"}, NULL,
	reply(400, "Connection: close\r\nContent-Type: application/xml\r\n", expired), true};
	steps[2] = (Step) {{"GET /creds"}, NULL, reply(200, "Connection: close\r\n", b2), true};
	steps[3] = (Step) {{"GET /bkt/repo.json", "Credential=ASIANEWKEY/", "x-amz-security-token: NEW-TOKEN"},
	NULL, reply(404, NULL, ""), false};
	srv = server_start(steps, 4);
	repo = container_repo(&srv, &p);
	/* (a GET: the answer to a HEAD has no body to name the error) */
	assert_int_equal(rvx_repo_get_buffer(repo, "repo.json", 4096, &body, &len, &err), -1);
	if (err.code != RVX_E_NOTFOUND)
		fail_msg("%s", err.msg);
	rvx_repo_close(repo);
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
	free(b1);
	free(b2);
	free(expired);
}

/*
 * The same on a HEAD, whose answer has no body to name ExpiredToken: a
 * body-less 403 retires the set and the HEAD is tried once more with a
 * new one.  A second refusal soon after is taken as what it says: no new
 * fetch, no retry (a real 403 is not looped on).
 */
static void
test_s3_head_expired_refetches_once(void **state)
{
	char		exp[32];
	char	   *b1 = json_body("ASIAOLDKEY", "OLD-TOKEN", in_seconds(3600, exp, sizeof(exp)));
	char	   *b2 = json_body("ASIANEWKEY", "NEW-TOKEN", in_seconds(3600, exp, sizeof(exp)));
	Step		steps[5];
	Server		srv;
	RvxError	err;
	RvxCredentials *p;
	RvxRepo    *repo;

	steps[0] = (Step) {{"GET /creds"}, NULL, reply(200, "Connection: close\r\n", b1), true};
	steps[1] = (Step) {{"HEAD /bkt/repo.json", "Credential=ASIAOLDKEY/"}, NULL,
	reply(403, "Connection: close\r\n", ""), true};
	steps[2] = (Step) {{"GET /creds"}, NULL, reply(200, "Connection: close\r\n", b2), true};
	steps[3] = (Step) {{"HEAD /bkt/repo.json", "Credential=ASIANEWKEY/", "x-amz-security-token: NEW-TOKEN"},
	NULL, reply(404, "Connection: close\r\n", ""), true};
	steps[4] = (Step) {{"HEAD /bkt/other.json", "Credential=ASIANEWKEY/"}, NULL,
	reply(403, "Connection: close\r\n", ""), true};
	srv = server_start(steps, 5);
	repo = container_repo(&srv, &p);
	if (rvx_repo_head(repo, "repo.json", NULL, &err) != 0)
		fail_msg("%s", err.msg);
	/* a real refusal: one request, the error as S3 gave it */
	assert_int_equal(rvx_repo_head(repo, "other.json", NULL, &err), -1);
	assert_int_equal(err.code, RVX_E_AUTH);
	assert_non_null(strstr(err.msg, "HTTP 403"));
	rvx_repo_close(repo);
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
	free(b1);
	free(b2);
}

/*
 * A repository handle opened with static keys and no provider makes its
 * own: opening handles is not fetching credentials, so /metrics does not
 * count it (the process's provider, made by config.c, is counted once).
 */
static void
test_static_handle_unreported(void **state)
{
	RvxRepoConfig cfg = {.url = "s3://bkt", .s3_endpoint = "http://127.0.0.1:9", .s3_region = "us-east-1",
		.s3_path_style = true, .s3_access_key = "AKIDSTATIC", .s3_secret_key = SECRET,
	.s3_verify_tls = true, .timeout_ms = 1000};
	RvxError	err;
	RvxCredentials *p;
	size_t		len;
	char	   *text;

	rvx_metrics_reset();
	for (int i = 0; i < 3; i++)
	{
		RvxRepo    *repo = rvx_repo_s3_open("bkt", "", &cfg, &err);

		if (repo == NULL)
			fail_msg("%s", err.msg);
		rvx_repo_close(repo);
	}
	text = rvx_metrics_render(NULL, (double) time(NULL), &len);
	assert_null(strstr(text, "revrx_credentials_fetches_total"));
	free(text);

	p = rvx_credentials_new(&(RvxCredConfig) {.access_key = "AKIDSTATIC", .secret_key = SECRET}, &err);
	assert_non_null(p);
	text = rvx_metrics_render(NULL, (double) time(NULL), &len);
	assert_non_null(strstr(text, "revrx_credentials_fetches_total{source=\"static keys\"} 1"));
	free(text);
	rvx_credentials_free(p);
}

/* stderr (the log) into a file while a test looks at warnings */
static int	saved_stderr = -1;
static char capture_path[64];

static void
capture_start(void)
{
	int			fd;

	snprintf(capture_path, sizeof(capture_path), "/tmp/rvx-test-log.XXXXXX");
	fd = mkstemp(capture_path);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
	rvx_log_init("test", RVX_LOG_WARNING, false);
}

/* The log written since capture_start, malloc'd. */
static char *
capture_end(void)
{
	FILE	   *f;
	char	   *out = calloc(1, 65536);

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	rvx_log_init("test", getenv("TEST_LOG") ? RVX_LOG_DEBUG : RVX_LOG_ERROR, false);
	f = fopen(capture_path, "r");
	assert_non_null(f);
	if (fread(out, 1, 65535, f) == 0)
		out[0] = '\0';
	fclose(f);
	unlink(capture_path);
	return out;
}

/*
 * IMDSv2: token, role name, credentials; the token on both GETs.  Taken
 * only because nothing else is configured: a warning names the role
 * (usually the node's, in a container); not when IMDS was asked for.
 */
static void
test_imds(void **state)
{
	char		exp[32];
	char	   *body = json_body("ASIAINSTANCE1", "IMDS-SESSION-TOKEN", in_seconds(21600, exp, sizeof(exp)));
	Step		steps[] = {
		{{"PUT /latest/api/token HTTP/1.1", "X-aws-ec2-metadata-token-ttl-seconds: 21600"}, NULL,
		reply(200, NULL, "imds-session-abc"), false},
		{{"GET /latest/meta-data/iam/security-credentials/ HTTP/1.1", "X-aws-ec2-metadata-token: imds-session-abc"},
		NULL, reply(200, NULL, "revrx-node-role\n"), false},
		{{"GET /latest/meta-data/iam/security-credentials/revrx-node-role HTTP/1.1",
		"X-aws-ec2-metadata-token: imds-session-abc"}, NULL, reply(200, NULL, body), false},
	};
	Server		srv;
	char		url[64];
	RvxError	err;
	RvxCredentials *p;
	RvxCreds   *c;

	char	   *log;

	for (int chosen = 0; chosen < 2; chosen++)
	{
		Step		run[3];

		for (int i = 0; i < 3; i++)
		{
			run[i] = steps[i];
			run[i].reply = strdup(steps[i].reply);
		}
		srv = server_start(run, 3);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
		p = rvx_credentials_new(&(RvxCredConfig) {.imds_endpoint = url, .imds_chosen = chosen,
			.timeout_ms = 5000}, &err);
		assert_non_null(p);
		capture_start();
		c = rvx_credentials_get(p, &err);
		log = capture_end();
		if (c == NULL)
			fail_msg("%s", err.msg);
		assert_string_equal(c->access_key, "ASIAINSTANCE1");
		assert_string_equal(c->session_token, "IMDS-SESSION-TOKEN");
		if (chosen)
			assert_null(strstr(log, "warning"));
		else if (strstr(log, "warning: S3 credentials from instance metadata for role revrx-node-role, "
						"only because no other source is configured") == NULL)
			fail_msg("no warning naming the role in: %s", log);
		assert_null(strstr(log, "IMDS-SESSION-TOKEN"));
		free(log);
		rvx_creds_release(c);
		rvx_credentials_free(p);
		assert_int_equal(server_finish(&srv), SCRIPT_OK);
	}
	for (int i = 0; i < 3; i++)
		free(steps[i].reply);
	free(body);
}

/*
 * IMDS answers the role list with status and body: the provider must fail
 * there, without a third request; its error in *err.
 */
static void
imds_role_list_fails(int status, const char *body, RvxError *err)
{
	Step		steps[] = {
		{{"PUT /latest/api/token HTTP/1.1"}, NULL, reply(200, NULL, "tok"), false},
		{{"GET /latest/meta-data/iam/security-credentials/ HTTP/1.1"}, NULL, reply(status, NULL, body), false},
	};
	Server		srv = server_start(steps, 2);
	char		url[64];
	RvxCredentials *p;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
	p = rvx_credentials_new(&(RvxCredConfig) {.imds_endpoint = url, .timeout_ms = 5000}, err);
	assert_non_null(p);
	assert_null(rvx_credentials_get(p, err));
	rvx_credentials_free(p);
	assert_int_equal(server_finish(&srv), SCRIPT_OK);
}

/* An instance without a role: the role list is empty (404 in real life). */
static void
test_imds_no_role(void **state)
{
	RvxError	err;

	imds_role_list_fails(404, "", &err);
	assert_int_equal(err.code, RVX_E_AUTH);
	assert_non_null(strstr(err.msg, "HTTP 404"));
	/* IMDS as the last resort: the message says how to require another source */
	assert_non_null(strstr(err.msg, "no other credentials source is configured; set AWS_EC2_METADATA_DISABLED=true"));
}

/* A role name that is not one never reaches a URL or the log. */
static void
test_imds_bad_role_name(void **state)
{
	const char *names[] = {"../../latest/user-data", "role?x=1", "bad role", "r\x1b[31m"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	{
		RvxError	err;

		imds_role_list_fails(200, names[i], &err);
		if (strstr(err.msg, "does not start with an IAM role name") == NULL || strstr(err.msg, names[i]))
			fail_msg("case %zu: %s", i, err.msg);
	}
}

static int
setup_all(void **state)
{
	int			fd;

	curl_global_init(CURL_GLOBAL_ALL);
	rvx_log_init("test", getenv("TEST_LOG") ? RVX_LOG_DEBUG : RVX_LOG_ERROR, false);
	rvx_http_set_backoff(1, 5);
	snprintf(token_path, sizeof(token_path), "/tmp/rvx-test-token.XXXXXX");
	fd = mkstemp(token_path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int
teardown_all(void **state)
{
	unlink(token_path);
	curl_global_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sts),
		cmocka_unit_test(test_parse_sts_bad),
		cmocka_unit_test(test_parse_json),
		cmocka_unit_test(test_parse_json_bad),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_iso_time),
		cmocka_unit_test(test_backoff_scale),
		cmocka_unit_test(test_refresh_timing),
		cmocka_unit_test(test_check_url),
		cmocka_unit_test(test_choose_source),
		cmocka_unit_test(test_web_identity_refresh),
		cmocka_unit_test(test_concurrent_first_get),
		cmocka_unit_test(test_web_identity_refused),
		cmocka_unit_test(test_web_identity_unavailable),
		cmocka_unit_test(test_refresh_ahead_failure_stays_ready),
		cmocka_unit_test(test_refresh_ahead_short_timeout),
		cmocka_unit_test(test_container_then_s3),
		cmocka_unit_test(test_s3_expired_token_refetches),
		cmocka_unit_test(test_s3_head_expired_refetches_once),
		cmocka_unit_test(test_static_handle_unreported),
		cmocka_unit_test(test_imds),
		cmocka_unit_test(test_imds_no_role),
		cmocka_unit_test(test_imds_bad_role_name),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
