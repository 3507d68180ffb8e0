/*-------------------------------------------------------------------------
 *
 * config.c
 *	  Reading and checking the agent's settings (see config.h).
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "storage/credentials.h"

typedef struct Setting
{
	const char *name;
	const char *help;
	bool		secret;
} Setting;

static const Setting settings[] = {
	{"REVRX_REPO", "repository: file:///path or s3://bucket/prefix", false},
	{"REVRX_SPOOL", "spool directory shared with the server (revrx.spool_dir)", false},
	{"REVRX_PARALLEL", "concurrent transfers (1-64, default 4)", false},
	{"REVRX_WAL_PREFETCH", "WAL segments wal-fetch fetches ahead of recovery into pg_wal/revrx_prefetch (0-64, 0 = off, default 8)", false},
	{"REVRX_WAL_PREFETCH_KEEP_FREE_MB", "free space wal-fetch leaves in pg_wal's file system: a segment is fetched ahead only if this much stays free after it (MB, default 1024)", false},
	{"REVRX_POLL_INTERVAL_MS", "how often run looks at the spool (10-10000 ms, default 20)", false},
	{"REVRX_RETRIES", "extra attempts for a failed request (0-20, default 4)", false},
	{"REVRX_TIMEOUT", "seconds a request may make no progress (1-3600, default 30)", false},
	{"REVRX_LOG_LEVEL", "debug, info, warning or error (default info)", false},
	{"REVRX_LOG_FORMAT", "text or json (default text)", false},
	{"REVRX_RETAIN_SCHEDULED_DAYS", "days to keep scheduled and unlabelled manual backups (0-36500, default 30)", false},
	{"REVRX_RETAIN_LABELLED_DAYS", "days to keep labelled manual backups (0-36500, default 90)", false},
	{"REVRX_RETAIN_MIN_FULL", "newest full backups kept whatever their age (0-1000, default 2)", false},
	{"REVRX_AUDIT_RETENTION_DAYS", "days expire keeps audit records, whatever else it deletes (1-36500, default 2557 = 7 years)", false},
	{"REVRX_AUDIT_PENDING_AFTER_S", "seconds run retries a stored backup's audit record before acknowledging the backup anyway and retrying the record in the background (0-86400, default 600)", false},
	{"REVRX_EXPIRE_INTERVAL_S", "seconds between the expire runs of `run` (0 = never; default 3600)", false},
	{"REVRX_CATALOG_REFRESH_S", "seconds between rebuilds of the catalog run publishes for the server (1-86400, default 300)", false},
	{"REVRX_PG_BINDIR", "PostgreSQL programs for verify (default: pg_config --bindir)", false},
	{"REVRX_VERIFY_TIMEOUT_S", "how long verify waits for recovery (1-604800, default 21600)", false},
	{"REVRX_ENCRYPTION_KEY_FILE", "file with the 32-byte key that encrypts everything stored (raw, hex or base64)", false},
	{"REVRX_LISTEN", "HTTP endpoint of run (/healthz, /readyz, /metrics): HOST:PORT, [IPV6]:PORT or :PORT (default none)", false},
	{"REVRX_S3_ENDPOINT", "S3 endpoint URL, e.g. http://127.0.0.1:9000 (default AWS)", false},
	{"REVRX_S3_URI_STYLE", "path or host (default: path with an endpoint, else host)", false},
	{"REVRX_S3_SSE", "server-side encryption: AES256 or aws:kms", false},
	{"REVRX_S3_KMS_KEY_ID", "KMS key id for REVRX_S3_SSE=aws:kms", false},
	{"REVRX_S3_OBJECT_LOCK_DAYS", "S3 Object Lock retention of audit records in days (0 = off, default; the bucket needs Object Lock)", false},
	{"REVRX_S3_OBJECT_LOCK_MODE", "COMPLIANCE (default) or GOVERNANCE", false},
	{"REVRX_S3_CA_FILE", "CA bundle to verify the S3 endpoint's certificate", false},
	{"REVRX_S3_VERIFY_TLS", "on (default) or off; off is logged as a warning (S3 only, never the credentials endpoints)", false},
	{"REVRX_CREDENTIALS_CA_FILE", "CA bundle for the https credentials endpoints (STS, container) instead of the system's (tests, private STS proxies)", false},
	/* S3 credentials: the first source configured is used (credentials.h) */
	{"AWS_ACCESS_KEY_ID", "1. static keys: S3 access key", false},
	{"AWS_SECRET_ACCESS_KEY", "S3 secret key", true},
	{"AWS_SESSION_TOKEN", "S3 session token (temporary static credentials)", true},
	{"AWS_ROLE_ARN", "2. web identity (EKS IRSA): role to assume with STS AssumeRoleWithWebIdentity", false},
	{"AWS_WEB_IDENTITY_TOKEN_FILE", "file with the web identity token (read again at each refresh)", false},
	{"AWS_ROLE_SESSION_NAME", "session name for the role: 2-64 of letters, digits and +=,.@_- (default revrx-agent-<time>)", false},
	{"AWS_ENDPOINT_URL_STS", "STS endpoint URL (default from AWS_STS_REGIONAL_ENDPOINTS)", false},
	{"AWS_STS_REGIONAL_ENDPOINTS", "regional (default: https://sts.<region>.amazonaws.com) or legacy (https://sts.amazonaws.com)", false},
	{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "3. container credentials (EKS Pod Identity, ECS): endpoint URL", false},
	{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "path on http://169.254.170.2 (ECS); wins over the full URI", false},
	{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "file with the Authorization header value (read again at each refresh)", false},
	{"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Authorization header value for the container endpoint", true},
	{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "4. instance metadata (IMDSv2): endpoint (default http://169.254.169.254)", false},
	{"AWS_EC2_METADATA_DISABLED", "true: never ask instance metadata; false: ask it without a warning when nothing else is configured", false},
	{"AWS_REGION", "S3 region (also AWS_DEFAULT_REGION; default us-east-1)", false},
	{"AWS_DEFAULT_REGION", NULL, false},
	{NULL, NULL, false},
};

/* The encryption key, once loaded; lives until exit like every setting. */
static RvxKey key;

/*
 * The S3 credentials provider; lives until the next load or exit.  Not
 * reference-counted: rvx_config_load is called once (config.h).
 */
static RvxCredentials *credentials;

/* A CA file is checked now: libcurl would only say "problem with the SSL CA cert" at the first request. */
static int
check_ca_file(const char *setting, const char *path, RvxError *err)
{
	FILE	   *f;

	if (path == NULL)
		return 0;
	if ((f = fopen(path, "r")) == NULL)
		return rvx_error(err, RVX_E_CONFIG, "invalid value for %s: could not open \"%s\": %s",
						 setting, path, strerror(errno));
	fclose(f);
	return 0;
}

/*
 * Reads and checks the key file.  Any problem is an error naming the
 * setting: a configured key that cannot be used must stop the agent, never
 * let it store plaintext.  The master key does not outlive this function.
 */
static int
load_key(const char *path, RvxKey *out, RvxError *err)
{
	uint8_t		buf[1024];
	uint8_t		master[RVX_KEY_LEN];
	struct stat st;
	const char *why;
	ssize_t		n;
	int			fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return rvx_error(err, RVX_E_CONFIG, "could not open REVRX_ENCRYPTION_KEY_FILE \"%s\": %s",
						 path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		return rvx_error(err, RVX_E_CONFIG, "REVRX_ENCRYPTION_KEY_FILE \"%s\" is not a regular file",
						 path);
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return rvx_error(err, RVX_E_CONFIG, "could not read REVRX_ENCRYPTION_KEY_FILE \"%s\": %s",
						 path, strerror(errno));
	if (rvx_key_parse(buf, (size_t) n, master, &why) != 0)
	{
		OPENSSL_cleanse(buf, sizeof(buf));
		return rvx_error(err, RVX_E_CONFIG, "invalid key in REVRX_ENCRYPTION_KEY_FILE \"%s\": %s",
						 path, why);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rvx_key_derive(master, out) != 0)
	{
		OPENSSL_cleanse(master, sizeof(master));
		return rvx_error(err, RVX_E_INTERNAL, "could not derive keys from REVRX_ENCRYPTION_KEY_FILE");
	}
	OPENSSL_cleanse(master, sizeof(master));
	if (st.st_mode & 077)
		rvx_warn("REVRX_ENCRYPTION_KEY_FILE \"%s\" can be read by other users (mode %04o); "
				 "it should be readable by the agent only", path, (unsigned) (st.st_mode & 07777));
	return 0;
}

/* Values read from the config file, index-aligned with settings[]. */
static char *file_values[sizeof(settings) / sizeof(settings[0])];

static int
setting_index(const char *name)
{
	for (int i = 0; settings[i].name; i++)
		if (strcmp(settings[i].name, name) == 0)
			return i;
	return -1;
}

static char *
trim(char *s)
{
	char	   *end;

	while (isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		*--end = '\0';
	return s;
}

static int
read_file(const char *path, RvxError *err)
{
	FILE	   *f = fopen(path, "r");
	char		line[4096];
	int			lineno = 0;

	if (f == NULL)
		return rvx_error(err, RVX_E_CONFIG, "could not open configuration file \"%s\": %s",
						 path, strerror(errno));
	while (fgets(line, sizeof(line), f))
	{
		char	   *p = trim(line);
		char	   *eq;
		char	   *value;
		int			idx;

		lineno++;
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL)
		{
			fclose(f);
			return rvx_error(err, RVX_E_CONFIG,
							 "configuration file \"%s\" line %d: expected NAME=VALUE",
							 path, lineno);
		}
		*eq = '\0';
		p = trim(p);
		value = trim(eq + 1);
		/* allow VALUE in double quotes, as in an env file */
		if (value[0] == '"' && strlen(value) >= 2 && value[strlen(value) - 1] == '"')
		{
			value[strlen(value) - 1] = '\0';
			value++;
		}
		idx = setting_index(p);
		if (idx < 0)
		{
			fclose(f);
			return rvx_error(err, RVX_E_CONFIG,
							 "configuration file \"%s\" line %d: unknown setting \"%s\"",
							 path, lineno, p);
		}
		free(file_values[idx]);
		file_values[idx] = strdup(value);
	}
	fclose(f);
	return 0;
}

/* The value of a setting: environment first, then the file; NULL if unset or empty. */
static const char *
get(const char *name)
{
	const char *v = getenv(name);
	int			idx;

	if (v && *v)
		return v;
	idx = setting_index(name);
	if (idx >= 0 && file_values[idx] && *file_values[idx])
		return file_values[idx];
	return NULL;
}

static int
get_int(const char *name, int def, int min, int max, int *out, RvxError *err)
{
	const char *v = get(name);
	char	   *end;
	long		n;

	if (v == NULL)
	{
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid value for %s: \"%s\" (expected an integer from %d to %d)",
						 name, v, min, max);
	*out = (int) n;
	return 0;
}

static int
get_bool(const char *name, bool def, bool *out, RvxError *err)
{
	const char *v = get(name);

	if (v == NULL)
		*out = def;
	else if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
			 strcmp(v, "yes") == 0)
		*out = true;
	else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
			 strcmp(v, "no") == 0)
		*out = false;
	else
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid value for %s: \"%s\" (expected on or off)", name, v);
	return 0;
}

/* A setting that must be one of two words (or unset: NULL). */
static int
get_choice(const char *name, const char *a, const char *b, const char **out, RvxError *err)
{
	const char *v = get(name);

	*out = v;
	if (v && strcmp(v, a) != 0 && strcmp(v, b) != 0)
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid value for %s: \"%s\" (expected %s or %s)", name, v, a, b);
	return 0;
}

int
rvx_config_load(RvxConfig *cfg, const char *file, int needs, RvxError *err)
{
	const char *v;
	const char *creds_ca_file;
	int			timeout_s;

	memset(cfg, 0, sizeof(*cfg));
	if (file == NULL)
		file = getenv("REVRX_CONFIG");
	if (file && *file && read_file(file, err) != 0)
		return -1;

	cfg->repo.url = get("REVRX_REPO");
	cfg->spool_dir = get("REVRX_SPOOL");
	if ((needs & RVX_NEED_REPO) && cfg->repo.url == NULL)
		return rvx_error(err, RVX_E_CONFIG,
						 "REVRX_REPO is not set (expected file:///path or s3://bucket/prefix)");
	if (cfg->repo.url && strncmp(cfg->repo.url, "file://", 7) != 0 &&
		strncmp(cfg->repo.url, "s3://", 5) != 0)
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid value for REVRX_REPO: \"%s\" (expected file:///path or s3://bucket/prefix)",
						 cfg->repo.url);
	if ((needs & RVX_NEED_SPOOL) && cfg->spool_dir == NULL)
		return rvx_error(err, RVX_E_CONFIG,
						 "REVRX_SPOOL is not set (the directory set as revrx.spool_dir in the server)");
	if (cfg->spool_dir && cfg->spool_dir[0] != '/')
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid value for REVRX_SPOOL: \"%s\" (expected an absolute path)",
						 cfg->spool_dir);

	if (get_int("REVRX_PARALLEL", 4, 1, 64, &cfg->parallel, err) != 0 ||
		get_int("REVRX_WAL_PREFETCH", 8, 0, 64, &cfg->wal_prefetch, err) != 0 ||
		get_int("REVRX_WAL_PREFETCH_KEEP_FREE_MB", 1024, 0, 1048576,
				&cfg->wal_prefetch_keep_free_mb, err) != 0 ||
		get_int("REVRX_POLL_INTERVAL_MS", 20, 10, 10000, &cfg->poll_ms, err) != 0 ||
		get_int("REVRX_RETRIES", 4, 0, 20, &cfg->repo.retries, err) != 0 ||
		get_int("REVRX_TIMEOUT", 30, 1, 3600, &timeout_s, err) != 0 ||
		get_int("REVRX_RETAIN_SCHEDULED_DAYS", 30, 0, 36500, &cfg->retain_scheduled_days, err) != 0 ||
		get_int("REVRX_RETAIN_LABELLED_DAYS", 90, 0, 36500, &cfg->retain_labelled_days, err) != 0 ||
		get_int("REVRX_RETAIN_MIN_FULL", 2, 0, 1000, &cfg->retain_min_full, err) != 0 ||
		get_int("REVRX_AUDIT_RETENTION_DAYS", 2557, 1, 36500, &cfg->audit_retention_days, err) != 0 ||
		get_int("REVRX_AUDIT_PENDING_AFTER_S", 600, 0, 86400, &cfg->audit_pending_after_s, err) != 0 ||
		get_int("REVRX_S3_OBJECT_LOCK_DAYS", 0, 0, 36500, &cfg->repo.s3_object_lock_days, err) != 0 ||
		get_int("REVRX_CATALOG_REFRESH_S", 300, 1, 86400, &cfg->catalog_refresh_s, err) != 0 ||
		get_int("REVRX_VERIFY_TIMEOUT_S", 21600, 1, 7 * 86400, &cfg->verify_timeout_s, err) != 0 ||
		get_int("REVRX_EXPIRE_INTERVAL_S", 3600, 0, 31536000, &cfg->expire_interval_s, err) != 0)
		return -1;
	cfg->repo.timeout_ms = timeout_s * 1000;

	cfg->log_level = RVX_LOG_INFO;
	if ((v = get("REVRX_LOG_LEVEL")) != NULL)
	{
		if (strcmp(v, "debug") == 0)
			cfg->log_level = RVX_LOG_DEBUG;
		else if (strcmp(v, "info") == 0)
			cfg->log_level = RVX_LOG_INFO;
		else if (strcmp(v, "warning") == 0)
			cfg->log_level = RVX_LOG_WARNING;
		else if (strcmp(v, "error") == 0)
			cfg->log_level = RVX_LOG_ERROR;
		else
			return rvx_error(err, RVX_E_CONFIG,
							 "invalid value for REVRX_LOG_LEVEL: \"%s\" (expected debug, info, warning or error)", v);
	}
	if ((v = get("REVRX_LOG_FORMAT")) != NULL)
	{
		if (strcmp(v, "json") == 0)
			cfg->log_json = true;
		else if (strcmp(v, "text") != 0)
			return rvx_error(err, RVX_E_CONFIG,
							 "invalid value for REVRX_LOG_FORMAT: \"%s\" (expected text or json)", v);
	}

	cfg->pg_bindir = get("REVRX_PG_BINDIR");
	if ((v = get("REVRX_ENCRYPTION_KEY_FILE")) != NULL)
	{
		if (load_key(v, &key, err) != 0)
			return -1;
		cfg->repo.key = &key;
	}
	if ((cfg->listen = get("REVRX_LISTEN")) != NULL &&
		!rvx_config_parse_listen(cfg->listen, cfg->listen_host, sizeof(cfg->listen_host),
								 &cfg->listen_port))
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid value for REVRX_LISTEN: \"%s\" (expected HOST:PORT, [IPV6]:PORT or :PORT, with a numeric address or localhost and a port from 1 to 65535)",
						 cfg->listen);

	/* S3 */
	cfg->repo.s3_endpoint = get("REVRX_S3_ENDPOINT");
	if (cfg->repo.s3_endpoint && strncmp(cfg->repo.s3_endpoint, "http://", 7) != 0 &&
		strncmp(cfg->repo.s3_endpoint, "https://", 8) != 0)
		return rvx_error(err, RVX_E_CONFIG,
						 "invalid value for REVRX_S3_ENDPOINT: \"%s\" (expected http://host[:port] or https://host[:port])",
						 cfg->repo.s3_endpoint);
	cfg->repo.s3_path_style = cfg->repo.s3_endpoint != NULL;
	if ((v = get("REVRX_S3_URI_STYLE")) != NULL)
	{
		if (strcmp(v, "path") == 0)
			cfg->repo.s3_path_style = true;
		else if (strcmp(v, "host") == 0)
			cfg->repo.s3_path_style = false;
		else
			return rvx_error(err, RVX_E_CONFIG,
							 "invalid value for REVRX_S3_URI_STYLE: \"%s\" (expected path or host)", v);
	}
	if (get_choice("REVRX_S3_SSE", "AES256", "aws:kms", &cfg->repo.s3_sse, err) != 0 ||
		get_choice("REVRX_S3_OBJECT_LOCK_MODE", "COMPLIANCE", "GOVERNANCE",
				   &cfg->repo.s3_object_lock_mode, err) != 0)
		return -1;
	cfg->repo.s3_kms_key_id = get("REVRX_S3_KMS_KEY_ID");
	if (cfg->repo.s3_kms_key_id &&
		(cfg->repo.s3_sse == NULL || strcmp(cfg->repo.s3_sse, "aws:kms") != 0))
		return rvx_error(err, RVX_E_CONFIG,
						 "REVRX_S3_KMS_KEY_ID is set but REVRX_S3_SSE is not aws:kms");
	cfg->repo.s3_ca_file = get("REVRX_S3_CA_FILE");
	if (check_ca_file("REVRX_S3_CA_FILE", cfg->repo.s3_ca_file, err) != 0)
		return -1;
	creds_ca_file = get("REVRX_CREDENTIALS_CA_FILE");
	if (check_ca_file("REVRX_CREDENTIALS_CA_FILE", creds_ca_file, err) != 0)
		return -1;
	if (get_bool("REVRX_S3_VERIFY_TLS", true, &cfg->repo.s3_verify_tls, err) != 0)
		return -1;
	cfg->repo.s3_access_key = get("AWS_ACCESS_KEY_ID");
	cfg->repo.s3_secret_key = get("AWS_SECRET_ACCESS_KEY");
	cfg->repo.s3_session_token = get("AWS_SESSION_TOKEN");
	cfg->repo.s3_region = get("AWS_REGION");
	if (cfg->repo.s3_region == NULL)
		cfg->repo.s3_region = get("AWS_DEFAULT_REGION");
	if (cfg->repo.s3_region == NULL)
		cfg->repo.s3_region = "us-east-1";

	rvx_credentials_free(credentials);
	credentials = NULL;
	if (cfg->repo.url && strncmp(cfg->repo.url, "s3://", 5) == 0)
	{
		RvxCredConfig cc = {
			.access_key = cfg->repo.s3_access_key,
			.secret_key = cfg->repo.s3_secret_key,
			.session_token = cfg->repo.s3_session_token,
			.role_arn = get("AWS_ROLE_ARN"),
			.token_file = get("AWS_WEB_IDENTITY_TOKEN_FILE"),
			.session_name = get("AWS_ROLE_SESSION_NAME"),
			.sts_endpoint = get("AWS_ENDPOINT_URL_STS"),
			.sts_regional = get("AWS_STS_REGIONAL_ENDPOINTS"),
			.region = cfg->repo.s3_region,
			.container_full_uri = get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
			.container_relative_uri = get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
			.container_token = get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
			.container_token_file = get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
			.imds_endpoint = get("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
			/* never S3's TLS settings: STS gets the identity token and returns keys */
			.ca_file = creds_ca_file,
			.timeout_ms = cfg->repo.timeout_ms,
		};

		if (get_bool("AWS_EC2_METADATA_DISABLED", false, &cc.imds_disabled, err) != 0)
			return -1;
		cc.imds_chosen = (get("AWS_EC2_METADATA_DISABLED") && !cc.imds_disabled) ||
			cc.imds_endpoint != NULL;
		if ((credentials = rvx_credentials_new(&cc, err)) == NULL)
			return -1;
		cfg->repo.credentials = credentials;
	}
	return 0;
}

bool
rvx_config_parse_listen(const char *value, char *host, size_t hostcap, int *port)
{
	const char *colon;
	const char *h;
	size_t		hlen;
	char		buf[64];
	unsigned char addr[16];
	char	   *end;
	long		n;

	if (value[0] == '[')
	{
		const char *close = strchr(value, ']');

		if (close == NULL || close[1] != ':')
			return false;
		h = value + 1;
		hlen = (size_t) (close - h);
		colon = close + 1;
	}
	else
	{
		colon = strrchr(value, ':');
		if (colon == NULL)
			return false;
		h = value;
		hlen = (size_t) (colon - value);
	}
	if (hlen >= sizeof(buf) || hlen >= hostcap)
		return false;
	memcpy(buf, h, hlen);
	buf[hlen] = '\0';

	if (!isdigit((unsigned char) colon[1]))
		return false;
	errno = 0;
	n = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 65535)
		return false;

	if (hlen == 0)
		snprintf(buf, sizeof(buf), "0.0.0.0");
	else if (strcmp(buf, "localhost") == 0)
		snprintf(buf, sizeof(buf), "127.0.0.1");
	else if (value[0] == '[' ? inet_pton(AF_INET6, buf, addr) != 1 :
			 inet_pton(AF_INET, buf, addr) != 1)
		return false;
	if (strlen(buf) >= hostcap)
		return false;
	snprintf(host, hostcap, "%s", buf);
	*port = (int) n;
	return true;
}

void
rvx_config_forget_file(void)
{
	for (size_t i = 0; i < sizeof(file_values) / sizeof(file_values[0]); i++)
	{
		free(file_values[i]);
		file_values[i] = NULL;
	}
}

void
rvx_config_print_help(void)
{
	printf("Settings (environment variables, or NAME=VALUE lines in the file named by\n"
		   "REVRX_CONFIG or --config; the environment wins):\n");
	for (int i = 0; settings[i].name; i++)
	{
		if (settings[i].help == NULL)
			continue;
		/* the AWS names can be long: the text then goes on the next line */
		if (strlen(settings[i].name) > 24)
			printf("  %s\n  %-24s %s\n", settings[i].name, "", settings[i].help);
		else
			printf("  %-24s %s\n", settings[i].name, settings[i].help);
	}
}
