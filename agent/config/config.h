/*-------------------------------------------------------------------------
 *
 * config.h
 *	  The agent's settings: environment variables, optionally a file.
 *
 * Every setting has one name, used both as an environment variable (as in
 * a pod spec) and as a KEY=VALUE line of the file named by REVRX_CONFIG or
 * --config; the environment wins over the file.  rvx_config_load() checks
 * every value it was given and fails naming the setting, so a typo stops
 * the agent at startup instead of an hour later.  The table of settings is
 * in config.c and in docs/configuration.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_CONFIG_H
#define RVX_AGENT_CONFIG_H

#include "base/error.h"
#include "base/log.h"
#include "storage/repo.h"

typedef struct RvxConfig
{
	RvxRepoConfig repo;
	const char *spool_dir;		/* REVRX_SPOOL */
	int			parallel;		/* REVRX_PARALLEL: concurrent transfers */
	int			wal_prefetch;	/* REVRX_WAL_PREFETCH: segments wal-fetch fetches ahead */
	int			wal_prefetch_keep_free_mb;	/* ... leaving this much free beside them */
	int			poll_ms;		/* REVRX_POLL_INTERVAL_MS: spool scan period */
	RvxLogLevel log_level;		/* REVRX_LOG_LEVEL */
	bool		log_json;		/* REVRX_LOG_FORMAT=json */
	/* REVRX_LISTEN: the HTTP endpoint of `run` (http_server.h); NULL = none */
	const char *listen;
	char		listen_host[64];	/* numeric IPv4 or IPv6 address */
	int			listen_port;
	int			catalog_refresh_s;	/* REVRX_CATALOG_REFRESH_S */
	const char *pg_bindir;		/* REVRX_PG_BINDIR: NULL = pg_config --bindir */
	int			verify_timeout_s;	/* REVRX_VERIFY_TIMEOUT_S */
	/* retention (docs/retention.md) */
	int			retain_scheduled_days;	/* REVRX_RETAIN_SCHEDULED_DAYS */
	int			retain_labelled_days;	/* REVRX_RETAIN_LABELLED_DAYS */
	int			retain_min_full;	/* REVRX_RETAIN_MIN_FULL */
	int			audit_retention_days;	/* REVRX_AUDIT_RETENTION_DAYS (audit.h) */
	int			audit_pending_after_s;	/* REVRX_AUDIT_PENDING_AFTER_S (ship_backup.h) */
	int			expire_interval_s;	/* REVRX_EXPIRE_INTERVAL_S: 0 = run never expires */
} RvxConfig;

/* What a command needs to have set; checked by rvx_config_load. */
#define RVX_NEED_REPO	0x01
#define RVX_NEED_SPOOL	0x02

/*
 * Fills cfg from the file (may be NULL: then REVRX_CONFIG, if set) and the
 * environment.  Strings point into storage owned by the config module and
 * live until exit.  Call it once per process (main does): for an s3://
 * repository it makes the process's credentials provider
 * (cfg->repo.credentials), shared by every repository handle, and a
 * second call frees the previous one under any handle still using it.
 */
extern int	rvx_config_load(RvxConfig *cfg, const char *file, int needs, RvxError *err);

/*
 * Parses a REVRX_LISTEN value: "HOST:PORT", "[IPV6]:PORT" or ":PORT" (all
 * IPv4 interfaces), HOST numeric or "localhost".  Returns false if it is
 * none of these.  Exposed for the fuzz target of the config parser.
 */
extern bool rvx_config_parse_listen(const char *value, char *host, size_t hostcap, int *port);

/* Forgets what the last configuration file said (for tests and fuzzing). */
extern void rvx_config_forget_file(void);

/* Prints the settings table (for --help). */
extern void rvx_config_print_help(void);

#endif							/* RVX_AGENT_CONFIG_H */
