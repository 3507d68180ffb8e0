/*-------------------------------------------------------------------------
 *
 * credentials.c
 *	  The S3 credentials provider (see credentials.h): static keys, web
 *	  identity (STS), container credentials and IMDSv2, kept fresh.
 *
 * One provider per process, shared by every repository handle and thread.
 * config.c makes it and hangs it in RvxRepoConfig; each S3 handle asks it
 * for the current set before each request.  One object rather than one
 * per handle because the `run` daemon opens a handle per worker thread
 * plus the probe's and the backup's: per-handle providers would each call
 * STS on their own, multiplying the load on STS and the places a failure
 * shows up, and could sign with different identities at the same time.
 *
 * Threading: a mutex guards the current set and the refresh state.  The
 * fetch itself (HTTP) runs with the mutex released and a "refreshing" flag
 * set, so only one thread fetches; the others keep signing with the
 * current set while it is still valid, and wait on a condition variable
 * only when there is none (first use, or expired).  The thread that
 * fetches is a caller of rvx_credentials_get, maybe a shipping worker:
 * when it holds a usable set (a refresh-ahead) the whole fetch is capped
 * at a quarter of the request timeout, at most 5 s, so a blackholed
 * endpoint delays its WAL by seconds; only a fetch without a usable set
 * gets the full request timeout.  A set is handed out with a reference, so
 * the refresh may replace it while an upload is still signing parts with
 * it; it is wiped (OPENSSL_cleanse) and freed when its last user releases
 * it.
 *
 * Timing: a set valid for L seconds is fetched again 5 minutes before it
 * expires, or half-way through when L is under 10 minutes
 * (rvx_credentials_refresh_at).  A failed fetch is retried with backoff
 * (1 s doubling to 60 s, jittered: rvx_backoff_ms); meanwhile requests are
 * signed with the current set until 10 s before it expires (or a tenth of
 * its lifetime, when that is shorter).  After that a request waits for a fetch (at most
 * one per request, and none while the backoff runs) and fails with the
 * reason of the last failure when there is still no valid set.  Should S3
 * still call a set expired (ExpiredToken: a clock off, a process frozen
 * past the expiry), rvx_credentials_expired retires it and the retried
 * request waits for a new one.  Each failure and each success is logged
 * and counted in metrics.h (/metrics), by source; /readyz fails only
 * while no usable set remains, not on a failed refresh-ahead.  The web
 * identity token file and the container authorization token file are read
 * again at each fetch: the kubelet rotates them.
 *
 * Secrets: the token files' contents, the STS request body, answers that
 * carry credentials and every replaced set are wiped before being freed.
 * Messages name the source, the endpoint and what was wrong with the
 * answer, never a value from it.
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/timefmt.h"
#include "storage/credentials.h"
#include "storage/http.h"
#include "storage/s3_xml.h"
#include "storage/sigv4.h"

#define TOKEN_FILE_MAX		(64 * 1024)
#define ANSWER_MAX			(64 * 1024)
#define REFRESH_AHEAD_S		300
#define BACKOFF_MAX_S		60
#define IMDS_TOKEN_TTL		"21600"
#define IMDS_TIMEOUT_MS		5000
#define AHEAD_TIMEOUT_MS	5000	/* cap on a refresh-ahead's timeout */
#define BLIND_RETIRE_S		60		/* rvx_credentials_maybe_expired at most this often */
#define SESSION_NAME_MAX	64		/* AWS's limit for RoleSessionName */
#define ROLE_NAME_MAX		64		/* AWS's limit for a role name */

static const char *const container_hosts[] = {
	"169.254.170.2", "169.254.170.23", "fd00:ec2::23", NULL
};
static const char *const imds_hosts[] = {
	"169.254.169.254", "fd00:ec2::254", NULL
};

struct RvxCredentials
{
	RvxCredSource source;
	char		describe[512];	/* fixed once made: read without the lock */
	char		detail[160];	/* what the last fetch learnt (IMDS: the role); the fetching thread's */
	/* settings, copied */
	char	   *role_arn;
	char	   *token_file;
	char	   *session_name;
	char	   *url;			/* STS endpoint, container URL, or IMDS base */
	char	   *container_token;
	char	   *container_token_file;
	char	   *ca_file;		/* NULL: the system's CAs; TLS is always verified */
	bool		imds_chosen;	/* RvxCredConfig.imds_chosen */
	int			timeout_ms;

	pthread_mutex_t lock;
	pthread_cond_t changed;
	RvxCreds   *current;		/* NULL until the first fetch */
	bool		revoked;		/* S3 said current expired: fetch before using it */
	time_t		refresh_at;
	bool		refreshing;
	int			failures;		/* in a row */
	time_t		next_attempt;
	RvxError	last_err;
	uint64_t	generation;
	uint64_t	rng;
	bool		ahead;			/* the fetch under way is a refresh-ahead */
	time_t		last_blind_retire;	/* rvx_credentials_maybe_expired's last */
	int			ahead_timeout_ms;
	RvxHttp    *http;			/* used by the refreshing thread only */
};

/* ------------------------------------------------------------- helpers */

static void
free_secret(char *s)
{
	if (s)
	{
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

RvxCreds *
rvx_creds_new(const char *access_key, const char *secret_key, const char *token,
			  time_t expiration, time_t now)
{
	RvxCreds   *c = calloc(1, sizeof(RvxCreds));

	if (c == NULL)
		return NULL;
	c->access_key = strdup(access_key);
	c->secret_key = strdup(secret_key);
	c->session_token = (token && token[0]) ? strdup(token) : NULL;
	c->expiration = expiration;
	c->obtained = now;
	c->refs = 1;
	if (c->access_key == NULL || c->secret_key == NULL ||
		(token && token[0] && c->session_token == NULL))
	{
		rvx_creds_release(c);
		return NULL;
	}
	return c;
}

void
rvx_creds_release(RvxCreds *c)
{
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free_secret(c->access_key);
	free_secret(c->secret_key);
	free_secret(c->session_token);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

time_t
rvx_credentials_refresh_at(time_t obtained, time_t expiration)
{
	time_t		life = expiration - obtained;

	if (expiration == 0)
		return 0;
	if (life < 2 * REFRESH_AHEAD_S)
		return obtained + (life > 0 ? life / 2 : 0);
	return expiration - REFRESH_AHEAD_S;
}

/* Until when a set may still sign: a margin before it expires, for clock skew and transit. */
static time_t
usable_until(const RvxCreds *c)
{
	time_t		life = c->expiration - c->obtained;
	time_t		margin = life / 10 < 10 ? life / 10 : 10;

	return c->expiration - (margin > 0 ? margin : 0);
}

time_t
rvx_credentials_parse_time(const char *s)
{
	int64_t		us;
	const char *why;

	if (s == NULL || rvx_time_parse(s, &us, &why) != 0)
		return -1;
	return (time_t) (us / 1000000);
}

/* Checks the four fields of an answer and makes the set; frees nothing. */
static RvxCreds *
make_creds(const char *akid, const char *secret, const char *token, const char *token_name,
		   const char *expiration, time_t now, const char *what, RvxError *err)
{
	const char *missing = NULL;
	time_t		exp;
	RvxCreds   *c;

	if (akid == NULL || akid[0] == '\0')
		missing = "AccessKeyId";
	else if (secret == NULL || secret[0] == '\0')
		missing = "SecretAccessKey";
	else if (token == NULL || token[0] == '\0')
		missing = token_name;
	else if (expiration == NULL || expiration[0] == '\0')
		missing = "Expiration";
	if (missing)
	{
		rvx_error(err, RVX_E_PROTOCOL, "%s: the answer has no %s", what, missing);
		return NULL;
	}
	exp = rvx_credentials_parse_time(expiration);
	if (exp < 0)
	{
		rvx_error(err, RVX_E_PROTOCOL, "%s: the answer's Expiration \"%.40s\" is not an ISO 8601 time",
				  what, expiration);
		return NULL;
	}
	if (exp <= now)
	{
		rvx_error(err, RVX_E_AUTH, "%s: the credentials in the answer expired at %.40s, %lld s ago (is the clock right?)",
				  what, expiration, (long long) (now - exp));
		return NULL;
	}
	c = rvx_creds_new(akid, secret, token, exp, now);
	if (c == NULL)
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
	return c;
}

RvxCreds *
rvx_credentials_parse_sts(const char *body, size_t len, time_t now, const char *what,
						  RvxError *err)
{
	RvxS3XmlCredentials x;
	RvxCreds   *c = NULL;

	if (rvx_s3_xml_sts_credentials(body, len, "AssumeRoleWithWebIdentity", &x) != 0)
		rvx_error(err, RVX_E_PROTOCOL,
				  "%s: the answer is not an AssumeRoleWithWebIdentityResponse with Credentials", what);
	else
		c = make_creds(x.access_key, x.secret_key, x.session_token, "SessionToken", x.expiration,
					   now, what, err);
	free_secret(x.access_key);
	free_secret(x.secret_key);
	free_secret(x.session_token);
	free(x.expiration);
	return c;
}

/* A string member of obj, or NULL. */
static const char *
json_str(json_t *obj, const char *name)
{
	json_t	   *v = json_object_get(obj, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Wipes the string values of a parsed answer before jansson frees them. */
static void
json_cleanse(json_t *obj)
{
	const char *k;
	json_t	   *v;

	json_object_foreach(obj, k, v)
	{
		if (json_is_string(v))
			OPENSSL_cleanse((void *) json_string_value(v), json_string_length(v));
	}
}

RvxCreds *
rvx_credentials_parse_json(const char *body, size_t len, time_t now, const char *what,
						   RvxError *err)
{
	json_t	   *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *code;
	RvxCreds   *c = NULL;

	if (!json_is_object(doc))
		rvx_error(err, RVX_E_PROTOCOL, "%s: the answer is not a JSON object", what);
	else if ((code = json_str(doc, "Code")) != NULL && strcmp(code, "Success") != 0)
		rvx_error(err, RVX_E_AUTH, "%s: the answer says Code \"%.64s\"%s%.200s", what, code,
				  json_str(doc, "Message") ? ": " : "",
				  json_str(doc, "Message") ? json_str(doc, "Message") : "");
	else
		c = make_creds(json_str(doc, "AccessKeyId"), json_str(doc, "SecretAccessKey"),
					   json_str(doc, "Token"), "Token", json_str(doc, "Expiration"), now, what, err);
	if (json_is_object(doc))
		json_cleanse(doc);
	json_decref(doc);
	return c;
}

/* ----------------------------------------------------------- endpoints */

static bool
is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* Whether host is one of allowed, compared as addresses (so "fd00:ec2:0::23" matches). */
static bool
is_allowed(const char *host, const char *const *allowed)
{
	unsigned char a[16];
	unsigned char b[16];

	for (int i = 0; allowed && allowed[i]; i++)
	{
		int			af = strchr(allowed[i], ':') ? AF_INET6 : AF_INET;

		if (inet_pton(af, host, a) == 1 && inet_pton(af, allowed[i], b) == 1 &&
			memcmp(a, b, af == AF_INET ? 4 : 16) == 0)
			return true;
	}
	return false;
}

/*
 * Parsed with libcurl's own URL parser, so that what is checked is what
 * the transfer will connect to: a hand-made split disagrees with curl on
 * userinfo ("http://127.0.0.1:80@evil.example/" is user "127.0.0.1",
 * password "80", host evil.example).  The URL ends up in the log and in
 * error messages, so user information is refused for every scheme.
 */
int
rvx_credentials_check_url(const char *setting, const char *url, const char *const *allowed,
						  RvxError *err)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *user = NULL;
	char	   *password = NULL;
	const char *why = NULL;
	char		bare[256];
	size_t		n;
	int			rc = 0;

	if (u == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		(strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		why = "expected an http:// or https:// URL";
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER ||
			 curl_url_get(u, CURLUPART_PASSWORD, &password, 0) != CURLUE_NO_PASSWORD)
		why = "user information is not allowed in it";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
		why = "no host";
	if (why)
	{
		/* never repeat a URL with user information: it may hold a password */
		if (user || password)
			rc = rvx_error(err, RVX_E_CONFIG, "invalid value for %s: %s", setting, why);
		else
			rc = rvx_error(err, RVX_E_CONFIG, "invalid value for %s: \"%s\" (%s)", setting, url, why);
		goto done;
	}
	if (strcmp(scheme, "https") == 0)
		goto done;
	/* an IPv6 address comes bracketed */
	n = strlen(host);
	if (host[0] == '[' && n >= 2 && host[n - 1] == ']')
		snprintf(bare, sizeof(bare), "%.*s", (int) (n - 2), host + 1);
	else
		snprintf(bare, sizeof(bare), "%s", host);
	if (!is_loopback(bare) && !is_allowed(bare, allowed))
		rc = rvx_error(err, RVX_E_CONFIG,
					   "invalid value for %s: \"%s\": plain http is allowed only to a loopback address%s; use https://",
					   setting, url, allowed && allowed[0] ? " or the documented link-local metadata address" : "");
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(u);
	return rc;
}

/* ------------------------------------------------------------ creation */

/*
 * Whether s is an IAM name: 1 to max characters of [A-Za-z0-9+=,.@_-]
 * (role session names, and role names, which also go into a URL and the log).
 */
static bool
valid_iam_name(const char *s, size_t max)
{
	size_t		n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char) s[i]) && strchr("+=,.@_-", s[i]) == NULL)
			return false;
	return true;
}

static char *
dup_opt(const char *s, bool *oom)
{
	char	   *d;

	if (s == NULL || s[0] == '\0')
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

/* The STS endpoint, from AWS_ENDPOINT_URL_STS or AWS_STS_REGIONAL_ENDPOINTS. */
static char *
sts_url(const RvxCredConfig *cfg, RvxError *err)
{
	char	   *url = NULL;
	const char *mode = cfg->sts_regional;

	if (cfg->sts_endpoint && cfg->sts_endpoint[0])
	{
		if (rvx_credentials_check_url("AWS_ENDPOINT_URL_STS", cfg->sts_endpoint, NULL, err) != 0)
			return NULL;
		if (asprintf(&url, "%s", cfg->sts_endpoint) < 0)
			url = NULL;
	}
	else if (mode == NULL || mode[0] == '\0' || strcmp(mode, "regional") == 0)
	{
		if (asprintf(&url, "https://sts.%s.amazonaws.com/",
					 cfg->region && cfg->region[0] ? cfg->region : "us-east-1") < 0)
			url = NULL;
	}
	else if (strcmp(mode, "legacy") == 0)
		url = strdup("https://sts.amazonaws.com/");
	else
	{
		rvx_error(err, RVX_E_CONFIG,
				  "invalid value for AWS_STS_REGIONAL_ENDPOINTS: \"%s\" (expected regional or legacy)", mode);
		return NULL;
	}
	if (url == NULL)
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
	return url;
}

/* Picks the source, fills the URL and the description. */
static int
choose_source(RvxCredentials *p, const RvxCredConfig *cfg, RvxError *err)
{
	bool		have_ak = cfg->access_key && cfg->access_key[0];
	bool		have_sk = cfg->secret_key && cfg->secret_key[0];
	bool		have_role = cfg->role_arn && cfg->role_arn[0];
	bool		have_tf = cfg->token_file && cfg->token_file[0];

	if (have_ak || have_sk)
	{
		if (!have_ak)
			return rvx_error(err, RVX_E_CONFIG, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
		if (!have_sk)
			return rvx_error(err, RVX_E_CONFIG, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
		p->source = RVX_CRED_STATIC;
		/* the key id is not a secret, but the last four characters identify it well enough */
		snprintf(p->describe, sizeof(p->describe), "static keys (access key ...%s)",
				 cfg->access_key + (strlen(cfg->access_key) > 4 ? strlen(cfg->access_key) - 4 : 0));
		return 0;
	}
	if (have_role || have_tf)
	{
		if (!have_role)
			return rvx_error(err, RVX_E_CONFIG, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
		if (!have_tf)
			return rvx_error(err, RVX_E_CONFIG, "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not");
		p->source = RVX_CRED_WEB_IDENTITY;
		if ((p->url = sts_url(cfg, err)) == NULL)
			return -1;
		snprintf(p->describe, sizeof(p->describe), "web identity (role %s, STS %s)",
				 cfg->role_arn, p->url);
		return 0;
	}
	if ((cfg->container_full_uri && cfg->container_full_uri[0]) ||
		(cfg->container_relative_uri && cfg->container_relative_uri[0]))
	{
		p->source = RVX_CRED_CONTAINER;
		if (cfg->container_relative_uri && cfg->container_relative_uri[0])
		{
			/* the SDKs take the relative URI first; it is always ECS's fixed address */
			if (cfg->container_relative_uri[0] != '/')
				return rvx_error(err, RVX_E_CONFIG,
								 "invalid value for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: \"%s\" (expected a path starting with /)",
								 cfg->container_relative_uri);
			if (asprintf(&p->url, "http://169.254.170.2%s", cfg->container_relative_uri) < 0)
				return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		}
		else
		{
			if (rvx_credentials_check_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", cfg->container_full_uri,
										  container_hosts, err) != 0)
				return -1;
			if ((p->url = strdup(cfg->container_full_uri)) == NULL)
				return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		}
		if (cfg->container_token && cfg->container_token[0] &&
			cfg->container_token_file && cfg->container_token_file[0])
			rvx_warn("both AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE and AWS_CONTAINER_AUTHORIZATION_TOKEN are set: the file is used");
		snprintf(p->describe, sizeof(p->describe), "container credentials (%s)", p->url);
		return 0;
	}
	if (!cfg->imds_disabled)
	{
		const char *ep = cfg->imds_endpoint && cfg->imds_endpoint[0] ?
			cfg->imds_endpoint : "http://169.254.169.254";
		size_t		len;

		p->source = RVX_CRED_IMDS;
		if (rvx_credentials_check_url("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, imds_hosts, err) != 0)
			return -1;
		if ((p->url = strdup(ep)) == NULL)
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		len = strlen(p->url);
		while (len > 0 && p->url[len - 1] == '/')
			p->url[--len] = '\0';
		snprintf(p->describe, sizeof(p->describe), "instance metadata (%s)", p->url);
		return 0;
	}
	return rvx_error(err, RVX_E_CONFIG,
					 "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
					 "or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, or AWS_CONTAINER_CREDENTIALS_FULL_URI, "
					 "or let the agent use instance metadata (AWS_EC2_METADATA_DISABLED is true)");
}

RvxCredentials *
rvx_credentials_new(const RvxCredConfig *cfg, RvxError *err)
{
	RvxCredentials *p = calloc(1, sizeof(RvxCredentials));
	bool		oom = false;

	if (p == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	if (choose_source(p, cfg, err) != 0)
	{
		rvx_credentials_free(p);
		return NULL;
	}
	if (p->source == RVX_CRED_WEB_IDENTITY && cfg->session_name && cfg->session_name[0] &&
		(strlen(cfg->session_name) < 2 || !valid_iam_name(cfg->session_name, SESSION_NAME_MAX)))
	{
		rvx_error(err, RVX_E_CONFIG,
				  "invalid value for AWS_ROLE_SESSION_NAME: \"%.100s\" (expected 2 to %d characters among letters, digits and +=,.@_-)",
				  cfg->session_name, SESSION_NAME_MAX);
		rvx_credentials_free(p);
		return NULL;
	}
	p->role_arn = dup_opt(cfg->role_arn, &oom);
	p->token_file = dup_opt(cfg->token_file, &oom);
	p->session_name = dup_opt(cfg->session_name, &oom);
	p->container_token = dup_opt(cfg->container_token, &oom);
	p->container_token_file = dup_opt(cfg->container_token_file, &oom);
	p->ca_file = dup_opt(cfg->ca_file, &oom);
	p->imds_chosen = cfg->imds_chosen;
	p->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
	if (p->source == RVX_CRED_IMDS && p->timeout_ms > IMDS_TIMEOUT_MS)
		p->timeout_ms = IMDS_TIMEOUT_MS;	/* off EC2 nothing answers: fail soon */
	/* a worker holding a usable set must not stall for long: see rvx_credentials_get */
	p->ahead_timeout_ms = p->timeout_ms / 4;
	if (p->ahead_timeout_ms > AHEAD_TIMEOUT_MS)
		p->ahead_timeout_ms = AHEAD_TIMEOUT_MS;
	if (p->ahead_timeout_ms < 1000)
		p->ahead_timeout_ms = p->timeout_ms < 1000 ? p->timeout_ms : 1000;
	p->rng = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32) ^ (uint64_t) (uintptr_t) p;
	if (p->source == RVX_CRED_STATIC)
	{
		p->current = rvx_creds_new(cfg->access_key, cfg->secret_key, cfg->session_token, 0, time(NULL));
		if (p->current)
		{
			p->current->generation = ++p->generation;
			if (!cfg->unreported)
				rvx_metrics_credentials_fetched(rvx_credentials_source_name(p->source), 0);
		}
		else
			oom = true;
	}
	if (oom)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		rvx_credentials_free(p);
		return NULL;
	}
	return p;
}

void
rvx_credentials_free(RvxCredentials *p)
{
	if (p == NULL)
		return;
	rvx_creds_release(p->current);
	rvx_http_free(p->http);
	free(p->role_arn);
	free(p->token_file);
	free(p->session_name);
	free(p->url);
	free_secret(p->container_token);
	free(p->container_token_file);
	free(p->ca_file);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->changed);
	free(p);
}

RvxCredSource
rvx_credentials_source(const RvxCredentials *p)
{
	return p->source;
}

const char *
rvx_credentials_source_name(RvxCredSource source)
{
	switch (source)
	{
		case RVX_CRED_STATIC:
			return "static keys";
		case RVX_CRED_WEB_IDENTITY:
			return "web identity";
		case RVX_CRED_CONTAINER:
			return "container credentials";
		case RVX_CRED_IMDS:
			return "instance metadata";
	}
	return "unknown";
}

const char *
rvx_credentials_describe(const RvxCredentials *p)
{
	return p->describe;
}

/* ------------------------------------------------------------- fetching */

/*
 * Reads a token file whole, without its trailing white space.  The file
 * is read again each time: its owner (the kubelet) replaces it.
 */
static char *
read_token_file(const char *setting, const char *path, RvxError *err)
{
	char	   *buf = malloc(TOKEN_FILE_MAX + 1);
	size_t		len = 0;
	int			fd = -1;

	if (buf == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
	{
		rvx_error(err, RVX_E_CONFIG, "could not open %s \"%s\": %s", setting, path, strerror(errno));
		goto fail;
	}
	for (;;)
	{
		ssize_t		n = read(fd, buf + len, TOKEN_FILE_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			rvx_error(err, RVX_E_CONFIG, "could not read %s \"%s\": %s", setting, path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t) n;
		if (len == TOKEN_FILE_MAX)
		{
			rvx_error(err, RVX_E_CONFIG, "%s \"%s\" is larger than %d bytes", setting, path, TOKEN_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	fd = -1;
	while (len > 0 && isspace((unsigned char) buf[len - 1]))
		len--;
	if (len == 0 || memchr(buf, '\n', len) || memchr(buf, '\r', len) || memchr(buf, '\0', len))
	{
		rvx_error(err, RVX_E_CONFIG, "%s \"%s\" is %s", setting, path,
				  len == 0 ? "empty" : "not one line of text");
		goto fail;
	}
	buf[len] = '\0';
	return buf;

fail:
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return NULL;
}

/* The error for an answer that is not a 200: what the endpoint said, classified. */
static void
judge_answer(const RvxHttpResponse *resp, const char *what, RvxError *err)
{
	RvxS3Error xerr;
	json_t	   *doc;
	RvxErrorCode code;
	const char *scode = NULL;
	const char *smsg = NULL;

	if (resp->status == 408 || resp->status == 429 || resp->status >= 500)
		code = RVX_E_NETWORK;
	else
		code = RVX_E_AUTH;
	if (rvx_s3_xml_error(resp->body, resp->body_len, &xerr))
	{
		/* STS: the identity provider could not be reached, or STS throttles: try again */
		if (strcmp(xerr.code, "IDPCommunicationError") == 0 || strcmp(xerr.code, "Throttling") == 0)
			code = RVX_E_NETWORK;
		rvx_error(err, code, "%s: HTTP %ld %s%s%s", what, resp->status, xerr.code,
				  xerr.message[0] ? ": " : "", xerr.message);
		return;
	}
	doc = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
	if (json_is_object(doc))
	{
		scode = json_str(doc, "code") ? json_str(doc, "code") : json_str(doc, "Code");
		smsg = json_str(doc, "message") ? json_str(doc, "message") : json_str(doc, "Message");
	}
	rvx_error(err, code, "%s: HTTP %ld%s%.128s%s%.300s", what, resp->status,
			  scode ? " " : "", scode ? scode : "", smsg ? ": " : "", smsg ? smsg : "");
	json_decref(doc);
}

/*
 * One exchange with a credentials endpoint; 0 with a 200 answer in resp,
 * else -1 with err set (the caller frees resp either way).
 */
static int
exchange(RvxCredentials *p, const char *method, const char *url, const char *const *headers,
		 int nheaders, const char *body, const char *what, RvxHttpResponse *resp, RvxError *err)
{
	RvxHttpRequest req = {
		.method = method,
		.url = url,
		.headers = headers,
		.nheaders = nheaders,
		.buf = body,
		.body_len = body ? strlen(body) : 0,
		.max_buffer = ANSWER_MAX,
		.timeout_ms = p->ahead ? p->ahead_timeout_ms : 0,
	};
	int			rc;

	if (p->http == NULL)
	{
		RvxHttpOptions o = {.timeout_ms = p->timeout_ms, .ca_file = p->ca_file, .verify_tls = true};

		if ((p->http = rvx_http_new(&o, err)) == NULL)
		{
			memset(resp, 0, sizeof(*resp));
			return -1;
		}
	}
	rc = rvx_http_perform(p->http, &req, resp);
	if (rc != 0)
	{
		bool		transient;

		rvx_error(err, rvx_http_curl_error(resp->curl_code, &transient), "%s: %s", what,
				  resp->curl_error);
		/* the connection may be what is broken */
		rvx_http_free(p->http);
		p->http = NULL;
		return -1;
	}
	if (resp->status != 200)
	{
		judge_answer(resp, what, err);
		return -1;
	}
	if (resp->body_truncated)
		return rvx_error(err, RVX_E_PROTOCOL, "%s: the answer is larger than %d bytes", what, ANSWER_MAX);
	return 0;
}

/* Wipes and frees an answer that may hold credentials. */
static void
free_answer(RvxHttpResponse *resp)
{
	if (resp->body)
		OPENSSL_cleanse(resp->body, resp->body_len);
	rvx_http_response_free(resp);
}

static RvxCreds *
fetch_web_identity(RvxCredentials *p, RvxError *err)
{
	char		what[768];
	char		session[SESSION_NAME_MAX + 1];
	char	   *token;
	char	   *enc[3] = {NULL, NULL, NULL};
	char	   *body = NULL;
	const char *headers[] = {
		"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
		"Accept: application/xml",
	};
	RvxHttpResponse resp = {0};
	RvxCreds   *c = NULL;

	snprintf(what, sizeof(what), "could not get S3 credentials from STS %s for role %s",
			 p->url, p->role_arn);
	if ((token = read_token_file("AWS_WEB_IDENTITY_TOKEN_FILE", p->token_file, err)) == NULL)
	{
		rvx_error_prefix(err, "%s", what);
		return NULL;
	}
	if (p->session_name)
		snprintf(session, sizeof(session), "%s", p->session_name);
	else
		snprintf(session, sizeof(session), "revrx-agent-%lld", (long long) time(NULL));
	enc[0] = rvx_sigv4_uri_encode(p->role_arn, false);
	enc[1] = rvx_sigv4_uri_encode(session, false);
	enc[2] = rvx_sigv4_uri_encode(token, false);
	if (enc[0] && enc[1] && enc[2] &&
		asprintf(&body, "Action=AssumeRoleWithWebIdentity&RoleArn=%s&RoleSessionName=%s"
				 "&Version=2011-06-15&WebIdentityToken=%s", enc[0], enc[1], enc[2]) < 0)
		body = NULL;
	if (body == NULL)
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
	else if (exchange(p, "POST", p->url, headers, 2, body, what, &resp, err) == 0)
		c = rvx_credentials_parse_sts(resp.body, resp.body_len, time(NULL), what, err);
	free_answer(&resp);
	free_secret(body);
	free_secret(enc[2]);
	free(enc[1]);
	free(enc[0]);
	free_secret(token);
	return c;
}

static RvxCreds *
fetch_container(RvxCredentials *p, RvxError *err)
{
	char		what[768];
	char	   *token = NULL;
	char	   *auth = NULL;
	const char *headers[1];
	int			nheaders = 0;
	RvxHttpResponse resp = {0};
	RvxCreds   *c = NULL;

	snprintf(what, sizeof(what), "could not get S3 credentials from the container endpoint %s", p->url);
	if (p->container_token_file)
	{
		token = read_token_file("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", p->container_token_file, err);
		if (token == NULL)
		{
			rvx_error_prefix(err, "%s", what);
			return NULL;
		}
	}
	else if (p->container_token)
	{
		if (strpbrk(p->container_token, "\r\n") != NULL)
		{
			rvx_error(err, RVX_E_CONFIG, "%s: AWS_CONTAINER_AUTHORIZATION_TOKEN is not one line", what);
			return NULL;
		}
		token = strdup(p->container_token);
	}
	if (token && asprintf(&auth, "Authorization: %s", token) < 0)
		auth = NULL;
	if (token && auth == NULL)
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
	else
	{
		if (auth)
			headers[nheaders++] = auth;
		if (exchange(p, "GET", p->url, headers, nheaders, NULL, what, &resp, err) == 0)
			c = rvx_credentials_parse_json(resp.body, resp.body_len, time(NULL), what, err);
	}
	free_answer(&resp);
	free_secret(auth);
	free_secret(token);
	return c;
}

static RvxCreds *
fetch_imds(RvxCredentials *p, RvxError *err)
{
	char		what[768];
	char	   *url = NULL;
	char	   *hdr = NULL;
	char	   *role = NULL;
	const char *headers[1];
	RvxHttpResponse resp = {0};
	RvxCreds   *c = NULL;

	snprintf(what, sizeof(what), "could not get S3 credentials from instance metadata %s%s", p->url,
			 p->imds_chosen ? "" :
			 " (no other credentials source is configured; set AWS_EC2_METADATA_DISABLED=true to require one)");

	/* IMDSv2: a session token first (v1, without it, is never used) */
	headers[0] = "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL;
	if (asprintf(&url, "%s/latest/api/token", p->url) < 0)
		goto oom;
	if (exchange(p, "PUT", url, headers, 1, NULL, what, &resp, err) != 0)
		goto done;
	if (resp.body == NULL || resp.body_len == 0 || strpbrk(resp.body, "\r\n") != NULL)
	{
		rvx_error(err, RVX_E_PROTOCOL, "%s: the session token answer is empty or not one line", what);
		goto done;
	}
	if (asprintf(&hdr, "X-aws-ec2-metadata-token: %s", resp.body) < 0)
		goto oom;
	free_answer(&resp);
	headers[0] = hdr;

	/* the instance profile's role name */
	free(url);
	if (asprintf(&url, "%s/latest/meta-data/iam/security-credentials/", p->url) < 0)
		goto oom;
	if (exchange(p, "GET", url, headers, 1, NULL, what, &resp, err) != 0)
		goto done;
	role = strndup(resp.body ? resp.body : "", strcspn(resp.body ? resp.body : "", "\r\n"));
	if (role == NULL)
		goto oom;
	if (role[0] == '\0')
	{
		rvx_error(err, RVX_E_AUTH, "%s: the instance has no IAM role", what);
		goto done;
	}
	/* it goes into a URL and the log: an IAM role name, nothing else */
	if (!valid_iam_name(role, ROLE_NAME_MAX))
	{
		rvx_error(err, RVX_E_PROTOCOL, "%s: the role list does not start with an IAM role name", what);
		goto done;
	}
	free_answer(&resp);

	free(url);
	if (asprintf(&url, "%s/latest/meta-data/iam/security-credentials/%s", p->url, role) < 0)
		goto oom;
	if (exchange(p, "GET", url, headers, 1, NULL, what, &resp, err) == 0)
		c = rvx_credentials_parse_json(resp.body, resp.body_len, time(NULL), what, err);
	if (c)
		snprintf(p->detail, sizeof(p->detail), " for role %s", role);
	goto done;

oom:
	rvx_error(err, RVX_E_INTERNAL, "out of memory");
done:
	free_answer(&resp);
	free_secret(hdr);
	free(role);
	free(url);
	return c;
}

static RvxCreds *
fetch(RvxCredentials *p, RvxError *err)
{
	switch (p->source)
	{
		case RVX_CRED_WEB_IDENTITY:
			return fetch_web_identity(p, err);
		case RVX_CRED_CONTAINER:
			return fetch_container(p, err);
		case RVX_CRED_IMDS:
			return fetch_imds(p, err);
		case RVX_CRED_STATIC:
			break;
	}
	rvx_error(err, RVX_E_INTERNAL, "static credentials cannot be fetched");
	return NULL;
}

/*
 * Seconds to wait after the n-th failure in a row: http.c's backoff (full
 * jitter) on a 1 s to 60 s scale, and at least 1 s, so that a failure is
 * not asked again at once by the next request.
 */
static int
backoff_s(RvxCredentials *p, int n)
{
	int			d = (rvx_backoff_ms(n - 1, 1000, BACKOFF_MAX_S * 1000, &p->rng) + 999) / 1000;

	return d > 0 ? d : 1;
}

/* Called with the lock held, after a fetch. */
static void
record_outcome(RvxCredentials *p, RvxCreds *fresh, const RvxError *ferr, time_t now)
{
	const char *source = rvx_credentials_source_name(p->source);
	char		until[RVX_ISO_TIME_SIZE];

	if (fresh)
	{
		bool		first = p->current == NULL;

		fresh->generation = ++p->generation;
		rvx_creds_release(p->current);
		p->current = fresh;
		p->revoked = false;
		p->refresh_at = rvx_credentials_refresh_at(fresh->obtained, fresh->expiration);
		p->failures = 0;
		p->next_attempt = 0;
		rvx_error_clear(&p->last_err);
		rvx_iso_time(fresh->expiration, until, sizeof(until));
		rvx_info("S3 credentials %s %s%s, valid until %s (next refresh in %lld s)",
				 first ? "from" : "refreshed from", p->describe, p->detail, until,
				 (long long) (p->refresh_at - now));
		if (first && p->source == RVX_CRED_IMDS && !p->imds_chosen)
			rvx_warn("S3 credentials from instance metadata%s, only because no other source is configured: "
					 "in a container this is usually the node's role; set AWS_EC2_METADATA_DISABLED=true "
					 "to require another source, or false to confirm this one",
					 p->detail);
		rvx_metrics_credentials_fetched(source, (double) fresh->expiration);
		return;
	}
	p->failures++;
	p->last_err = *ferr;
	{
		int			wait = backoff_s(p, p->failures);

		p->next_attempt = now + wait;
		if (p->current && usable_until(p->current) > now)
			rvx_warn("%s; retrying in %d s (the current credentials expire in %lld s)",
					 ferr->msg, wait, (long long) (p->current->expiration - now));
		else
			rvx_warn("%s; retrying in %d s (no valid credentials meanwhile)", ferr->msg, wait);
	}
	/* readiness fails only once no usable set remains (a retired one is not) */
	rvx_metrics_credentials_failed(source, ferr->msg,
								   p->current && !p->revoked ? (double) usable_until(p->current) : 0);
}

bool
rvx_credentials_expired(RvxCredentials *p, uint64_t generation)
{
	if (p->source == RVX_CRED_STATIC)
		return false;			/* cannot be renewed */
	pthread_mutex_lock(&p->lock);
	/* an older set: replaced already */
	if (p->current && p->current->generation == generation && !p->revoked)
	{
		rvx_warn("S3 refused the credentials from %s as expired: fetching new ones",
				 rvx_credentials_source_name(p->source));
		/* no longer used: the next request waits for the new set */
		p->revoked = true;
		p->next_attempt = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return true;
}

bool
rvx_credentials_maybe_expired(RvxCredentials *p, uint64_t generation)
{
	time_t		now = time(NULL);
	bool		retire;

	if (p->source == RVX_CRED_STATIC)
		return false;
	pthread_mutex_lock(&p->lock);
	retire = p->last_blind_retire == 0 || now - p->last_blind_retire >= BLIND_RETIRE_S;
	if (retire)
		p->last_blind_retire = now;
	pthread_mutex_unlock(&p->lock);
	return retire ? rvx_credentials_expired(p, generation) : false;
}

RvxCreds *
rvx_credentials_get(RvxCredentials *p, RvxError *err)
{
	RvxCreds   *out = NULL;
	bool		fetched = false;

	pthread_mutex_lock(&p->lock);
	for (;;)
	{
		time_t		now = time(NULL);
		RvxCreds   *cur = p->current;
		bool		usable = cur && !p->revoked && (cur->expiration == 0 || usable_until(cur) > now);
		bool		due = cur == NULL || p->revoked || (cur->expiration != 0 && now >= p->refresh_at);

		if (usable && (!due || p->refreshing || now < p->next_attempt))
		{
			__atomic_add_fetch(&cur->refs, 1, __ATOMIC_ACQ_REL);
			out = cur;
			break;
		}
		if (p->refreshing)
		{
			pthread_cond_wait(&p->changed, &p->lock);
			continue;
		}
		if (!usable && (now < p->next_attempt || fetched))
		{
			/* failed recently: the same answer, without asking again yet */
			if (err)
			{
				*err = p->last_err;
				if (cur)
					rvx_error_prefix(err, "the S3 credentials from %s expired and could not be refreshed",
									 rvx_credentials_source_name(p->source));
			}
			break;
		}
		/* our turn to fetch */
		{
			RvxError	ferr;
			RvxCreds   *fresh;

			rvx_error_clear(&ferr);
			p->refreshing = true;
			/*
			 * With a usable set in hand this is a refresh-ahead: a short
			 * timeout, so that a blackholed endpoint stalls this worker
			 * (maybe the one carrying the oldest WAL) for seconds, not for
			 * the whole request timeout; the backoff retries it anyway.
			 */
			p->ahead = usable;
			pthread_mutex_unlock(&p->lock);
			fresh = fetch(p, &ferr);
			pthread_mutex_lock(&p->lock);
			p->refreshing = false;
			record_outcome(p, fresh, &ferr, time(NULL));
			pthread_cond_broadcast(&p->changed);
			fetched = true;		/* at most one fetch per call: the caller has its own retries */
		}
	}
	pthread_mutex_unlock(&p->lock);
	return out;
}
