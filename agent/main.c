/*-------------------------------------------------------------------------
 *
 * main.c
 *	  revrx-agent: the sidecar that ships revrx's spool to a repository,
 *	  and the commands that read it back.
 *
 * Parses the global options, loads the settings (config.h), and hands
 * over to one command.  Exit codes are the RvxErrorCode values (error.h),
 * so scripts can tell "not found" (1) from "bad settings" (3) from
 * "corrupt" (7).  Secrets are only ever read from the environment or the
 * configuration file, never from the command line, so they cannot show up
 * in ps; and the process is not dumpable, so they are in no core file.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <curl/curl.h>

#include "command/commands.h"
#include "base/log.h"
#include "rvx_port.h"

typedef struct Command
{
	const char *name;
	int			(*fn) (int argc, char **argv, RvxConfig *cfg);
	int			needs;
	const char *usage;
	const char *help;
	const char *options;		/* for COMMAND --help; NULL if none */
} Command;

static const Command commands[] = {
	{"run", rvx_cmd_run, RVX_NEED_REPO | RVX_NEED_SPOOL, "run",
	"ship the spool to the repository until stopped (the sidecar daemon)", NULL},
	{"wal-fetch", rvx_cmd_wal_fetch, RVX_NEED_REPO, "wal-fetch [--accept-gap] WAL_FILE DEST",
	"fetch and verify one archived WAL file (restore_command = 'revrx-agent wal-fetch %f %p')", NULL},
	{"list", rvx_cmd_list, RVX_NEED_REPO, "list [--json]",
	"list the backups in the repository (a table, or JSON)", NULL},
	{"restore", rvx_cmd_restore, RVX_NEED_REPO, "restore --pgdata DIR [...]",
	"restore a backup into a new data directory (or, --delta, over a stopped one)", rvx_restore_options},
	{"verify", rvx_cmd_verify, RVX_NEED_REPO, "verify [--backup ID] [...]",
	"restore drill: restore, recover and check a backup in a scratch instance", rvx_verify_options},
	{"expire", rvx_cmd_expire, RVX_NEED_REPO, "expire [--dry-run] [--now TS]",
	"delete backups and WAL the retention settings no longer keep", rvx_expire_options},
	{"pin", rvx_cmd_pin, RVX_NEED_REPO, "pin ID",
	"keep backup ID whatever the retention settings say", NULL},
	{"unpin", rvx_cmd_unpin, RVX_NEED_REPO, "unpin ID",
	"let the retention settings apply to backup ID again", NULL},
	{"audit", rvx_cmd_audit, RVX_NEED_REPO, "audit [--since TS] [--json]",
	"the audit trail: who backed up, restored, verified, expired, pinned (docs/audit.md)",
	rvx_audit_options},
	{NULL, NULL, 0, NULL, NULL, NULL},
};

static void
usage(FILE *out)
{
	fprintf(out, "revrx-agent %s: disaster recovery for PostgreSQL, the sidecar\n\n", RVX_VERSION);
	fprintf(out, "Usage: revrx-agent [--config FILE] COMMAND [ARGS]\n\nCommands:\n");
	for (int i = 0; commands[i].name; i++)
		fprintf(out, "  %-26s %s\n", commands[i].usage, commands[i].help);
	fprintf(out, "\n");
	if (out == stdout)
		rvx_config_print_help();
	fprintf(out, "\nExit codes: 0 ok, 1 not found, 2 usage, 3 configuration, 4 local I/O, 5 network,\n"
			"6 access denied, 7 corrupt data, 8 conflicting content, 9 wrong cluster,\n"
			"12 done, but its audit record could not be written (docs/audit.md).\n");
}

int
main(int argc, char **argv)
{
	const char *config_file = NULL;
	const Command *cmd = NULL;
	RvxConfig	cfg;
	RvxError	err;
	int			i = 1;
	int			rc;

	/*
	 * The process holds repository credentials and the encryption key: no
	 * core dump of it, and its memory and environment are closed to other
	 * processes of the same user (/proc/<pid>/environ, ptrace).
	 */
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	while (i < argc && argv[i][0] == '-')
	{
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0)
		{
			printf("revrx-agent %s\n", RVX_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
		{
			config_file = argv[i + 1];
			i += 2;
			continue;
		}
		fprintf(stderr, "revrx-agent: unknown option \"%s\"\n", argv[i]);
		usage(stderr);
		return RVX_E_USAGE;
	}
	if (i >= argc)
	{
		usage(stderr);
		return RVX_E_USAGE;
	}
	for (int c = 0; commands[c].name; c++)
		if (strcmp(commands[c].name, argv[i]) == 0)
			cmd = &commands[c];
	if (cmd == NULL)
	{
		fprintf(stderr, "revrx-agent: unknown command \"%s\"\n", argv[i]);
		usage(stderr);
		return RVX_E_USAGE;
	}
	if (i + 1 < argc && (strcmp(argv[i + 1], "--help") == 0 || strcmp(argv[i + 1], "-h") == 0))
	{
		printf("Usage: revrx-agent [--config FILE] %s\n\n%s\n\n", cmd->usage, cmd->help);
		if (cmd->options)
			printf("%s\n", cmd->options);
		rvx_config_print_help();
		return 0;
	}

	if (rvx_config_load(&cfg, config_file, cmd->needs, &err) != 0)
	{
		rvx_log_init(cmd->name, RVX_LOG_INFO, false);
		rvx_err("%s", err.msg);
		/* as restore_command: a setting wrong in the server's environment */
		if (cmd->fn == rvx_cmd_wal_fetch && argc - i >= 3)
			return rvx_wal_fetch_failed(argv[argc - 1], RVX_E_CONFIG);
		return RVX_E_CONFIG;
	}
	rvx_log_init(cmd->name, cfg.log_level, cfg.log_json);
	if (cfg.repo.s3_verify_tls == false)
		rvx_warn("REVRX_S3_VERIFY_TLS=off: the S3 endpoint's certificate is not verified");

	if (curl_global_init(CURL_GLOBAL_ALL) != 0)
	{
		rvx_err("could not initialize libcurl");
		return RVX_E_INTERNAL;
	}
	rc = cmd->fn(argc - i, argv + i, &cfg);
	curl_global_cleanup();
	return rc;
}
