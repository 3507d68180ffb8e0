/*-------------------------------------------------------------------------
 *
 * credentials.h
 *	  Where the agent's S3 credentials come from, and keeping them fresh.
 *
 * A provider resolves credentials the way the AWS SDKs' default chain
 * does, from the first source that is configured:
 *	1. static keys: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *	   (+ AWS_SESSION_TOKEN);
 *	2. web identity (EKS IRSA): AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 *	   -> STS AssumeRoleWithWebIdentity;
 *	3. container credentials (EKS Pod Identity, ECS):
 *	   AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI;
 *	4. EC2 instance metadata, IMDSv2 only, unless
 *	   AWS_EC2_METADATA_DISABLED=true.
 * The source is chosen once, from the settings alone, when the provider is
 * made; a source that is configured but fails is an error, never a reason
 * to fall through to the next one (the SDKs differ on this; a backup agent
 * that silently changes identity is worse than one that stops).
 *
 * Credentials come out as RvxCreds: an immutable, reference-counted set.
 * A request is signed with one set from start to end; the next attempt or
 * part asks again and may get a newer one.  Temporary credentials are
 * fetched again before they expire; see credentials.c for the timing,
 * the threading and the retry rules.
 *
 * Nothing here ever writes a key, secret or token anywhere: error messages
 * name the source and the endpoint, never a credential.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_CREDENTIALS_H
#define RVX_AGENT_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"

/* The settings (config.c fills them from the AWS_* variables). */
typedef struct RvxCredConfig
{
	const char *access_key;		/* AWS_ACCESS_KEY_ID */
	const char *secret_key;		/* AWS_SECRET_ACCESS_KEY */
	const char *session_token;	/* AWS_SESSION_TOKEN */
	const char *role_arn;		/* AWS_ROLE_ARN */
	const char *token_file;		/* AWS_WEB_IDENTITY_TOKEN_FILE */
	const char *session_name;	/* AWS_ROLE_SESSION_NAME */
	const char *sts_endpoint;	/* AWS_ENDPOINT_URL_STS */
	const char *sts_regional;	/* AWS_STS_REGIONAL_ENDPOINTS: regional or legacy */
	const char *region;
	const char *container_full_uri;	/* AWS_CONTAINER_CREDENTIALS_FULL_URI */
	const char *container_relative_uri;	/* AWS_CONTAINER_CREDENTIALS_RELATIVE_URI */
	const char *container_token;	/* AWS_CONTAINER_AUTHORIZATION_TOKEN */
	const char *container_token_file;	/* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE */
	const char *imds_endpoint;	/* AWS_EC2_METADATA_SERVICE_ENDPOINT */
	bool		imds_disabled;	/* AWS_EC2_METADATA_DISABLED */
	/*
	 * Instance metadata was asked for (AWS_EC2_METADATA_DISABLED=false, or
	 * an endpoint set), not merely left as the last resort: without it, a
	 * set from IMDS is logged as a warning naming the role, since in a
	 * container it is usually the node's.
	 */
	bool		imds_chosen;
	/*
	 * How to talk to the endpoints.  Never S3's TLS settings: a
	 * REVRX_S3_VERIFY_TLS=off meant for a test MinIO must not expose the
	 * identity token sent to STS, nor a private S3 CA make the real STS
	 * fail.  Certificates are always verified, against the system's CAs or
	 * ca_file (REVRX_CREDENTIALS_CA_FILE).
	 */
	const char *ca_file;
	int			timeout_ms;
	/* a repository handle's own provider (static keys): not counted in /metrics */
	bool		unreported;
} RvxCredConfig;

typedef enum RvxCredSource
{
	RVX_CRED_STATIC,
	RVX_CRED_WEB_IDENTITY,
	RVX_CRED_CONTAINER,
	RVX_CRED_IMDS,
} RvxCredSource;

/* One set of credentials; never changed once made. */
typedef struct RvxCreds
{
	char	   *access_key;
	char	   *secret_key;
	char	   *session_token;	/* NULL if none */
	time_t		expiration;		/* 0 = does not expire */
	time_t		obtained;
	uint64_t	generation;		/* grows with each set a provider makes */
	int			refs;			/* atomic */
} RvxCreds;

typedef struct RvxCredentials RvxCredentials;

/*
 * Chooses the source and checks its settings (endpoint URLs included); no
 * I/O.  NULL with err set (RVX_E_CONFIG) when the settings are wrong or
 * name no source.
 */
extern RvxCredentials *rvx_credentials_new(const RvxCredConfig *cfg, RvxError *err);
extern void rvx_credentials_free(RvxCredentials *prov);

extern RvxCredSource rvx_credentials_source(const RvxCredentials *prov);
/* "static keys", "web identity", "container credentials", "instance metadata" */
extern const char *rvx_credentials_source_name(RvxCredSource source);
/* For the log: the source and what identifies it, e.g. the role ARN. */
extern const char *rvx_credentials_describe(const RvxCredentials *prov);

/*
 * The credentials to sign the next request with, fetching or refreshing
 * them first when due.  Returns a set the caller releases with
 * rvx_creds_release, or NULL with err set when there is no usable set
 * (RVX_E_NETWORK when the endpoint was unreachable, so the caller may
 * retry; RVX_E_AUTH when it refused).  Thread-safe.
 */
extern RvxCreds *rvx_credentials_get(RvxCredentials *prov, RvxError *err);
extern void rvx_creds_release(RvxCreds *creds);

/*
 * S3 answered ExpiredToken for a request signed with the set of this
 * generation (a clock off, or a process frozen past the expiry): unless a
 * newer set exists already, the next rvx_credentials_get fetches one.
 * Returns whether retrying may help (false for static keys).
 */
extern bool rvx_credentials_expired(RvxCredentials *prov, uint64_t generation);

/*
 * The same for a refusal that does not say why (the answer to a HEAD has
 * no body: a 400 or 403 may be an ExpiredToken or a real refusal).  The
 * set is retired at most once a minute per provider, so that a real
 * refusal repeated on every HEAD does not become an STS call for each.
 * Returns whether retrying may help.
 */
extern bool rvx_credentials_maybe_expired(RvxCredentials *prov, uint64_t generation);

/* ------------------------------------------------------------------
 * The pieces, exposed for the unit tests (tests/unit/storage/test_credentials.c).
 */

/* A new set with refs = 1; NULL when out of memory. token may be NULL. */
extern RvxCreds *rvx_creds_new(const char *access_key, const char *secret_key,
							   const char *token, time_t expiration, time_t now);

/*
 * When to fetch again a set valid from obtained to expiration: 5 minutes
 * ahead, or half-way through when the lifetime is shorter than 10 minutes.
 */
extern time_t rvx_credentials_refresh_at(time_t obtained, time_t expiration);

/*
 * An Expiration ("2026-12-06T21:00:00Z", fraction or offset allowed) in
 * seconds since the epoch, read by base/timefmt.c's rvx_time_parse (the one
 * ISO 8601 parser); -1 if malformed.
 */
extern time_t rvx_credentials_parse_time(const char *s);

/*
 * Parses an answer: STS AssumeRoleWithWebIdentity XML, or the JSON of the
 * container endpoint and of instance metadata ({AccessKeyId,
 * SecretAccessKey, Token, Expiration}).  A missing field, a malformed or
 * past Expiration (at time now) is an error naming the field.  what names
 * the source in messages.
 */
extern RvxCreds *rvx_credentials_parse_sts(const char *body, size_t len, time_t now,
										   const char *what, RvxError *err);
extern RvxCreds *rvx_credentials_parse_json(const char *body, size_t len, time_t now,
											const char *what, RvxError *err);

/*
 * Checks an endpoint URL for setting: https:// anywhere; http:// only to a
 * loopback address or to one of the NULL-terminated allowed link-local
 * addresses (numeric; names other than "localhost" are refused, since a
 * resolver could point them anywhere).  RVX_E_CONFIG naming the setting.
 */
extern int	rvx_credentials_check_url(const char *setting, const char *url,
									  const char *const *allowed, RvxError *err);

#endif							/* RVX_AGENT_CREDENTIALS_H */
