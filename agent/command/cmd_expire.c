/*-------------------------------------------------------------------------
 *
 * cmd_expire.c
 *	  `revrx-agent expire [--dry-run] [--now TIMESTAMP]`, and
 *	  `revrx-agent pin ID` / `revrx-agent unpin ID`.
 *
 * expire applies the retention settings (REVRX_RETAIN_*, docs/retention.md)
 * once: it prints one line per decision on stdout ("keep backup ID: why",
 * "delete backup ID: why", "delete WAL FIRST .. LAST: ...") and deletes
 * what it says (expire.h).  --dry-run prints the same lines, after a first
 * line "dry run: nothing is deleted", and deletes nothing.  --now
 * evaluates ages as of another time (a timestamp with a time zone, as for
 * restore --target-time): "what would expire next month", and tests.
 * Only ages move: leases, the repository and the WAL are read as they are.
 *
 * pin stores backup/<id>/pinned, which keeps a complete backup whatever
 * the policy says; unpin removes it.  Exit codes are those of error.h.
 * Every run that deletes (expire.c), every pin and unpin, done or refused,
 * is recorded in the audit trail (audit.h); a command that succeeded but
 * could not record it exits with 13.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timefmt.h"
#include "command/commands.h"
#include "info/audit.h"
#include "retention/expire.h"

const char	rvx_expire_options[] =
"Options:\n"
"  --dry-run          print what would be deleted and why; delete nothing\n"
"  --now TIMESTAMP    take ages as of TIMESTAMP instead of now\n"
"                     (e.g. '2026-12-31 00:00:00+00'; a time zone is required)";

static void
expire_usage(FILE *out)
{
	fprintf(out, "usage: revrx-agent expire [--dry-run] [--now TIMESTAMP]\n\n%s\n",
			rvx_expire_options);
}

int
rvx_cmd_expire(int argc, char **argv, RvxConfig *cfg)
{
	RvxExpireOptions opts;
	RvxExpireResult res;
	RvxError	err;
	RvxRepo    *repo;
	int			rc;

	rvx_expire_options_from_config(cfg, &opts);
	opts.out = stdout;
	for (int i = 1; i < argc; i++)
	{
		bool		missing = false;
		const char *v;

		if (strcmp(argv[i], "--dry-run") == 0)
			opts.dry_run = true;
		else if ((v = rvx_option_value(argc, argv, &i, "--now", NULL, &missing)) != NULL)
		{
			int64_t		us;

			if (rvx_time_parse_arg("--now time", v, &us, &err) != 0)
			{
				rvx_err("%s", err.msg);
				return RVX_E_USAGE;
			}
			opts.now = us / 1000000;
		}
		else
		{
			rvx_option_refuse("expire", argv[i], missing);
			expire_usage(stderr);
			return RVX_E_USAGE;
		}
	}

	if ((repo = rvx_command_open_repo(cfg, &rc)) == NULL)
		return rc;
	rvx_error_clear(&err);
	rc = rvx_expire_run(repo, &opts, &res, &err);
	rvx_repo_close(repo);
	if (rc != 0)
	{
		rvx_err("expire failed: %s", err.msg);
		rc = err.code == RVX_OK ? RVX_E_INTERNAL : (int) err.code;
	}
	return rvx_audit_exit_code(rc, res.audit_failed ? -1 : 0);
}

static int
pin_command(int argc, char **argv, RvxConfig *cfg, bool pinned)
{
	RvxError	err;
	RvxRepo    *repo;
	RvxAuditEvent ev;
	int			audit_rc;
	int			rc;

	if (argc != 2 || argv[1][0] == '-')
	{
		fprintf(stderr, "usage: revrx-agent %s ID\n", pinned ? "pin" : "unpin");
		return RVX_E_USAGE;
	}
	if (!rvx_backup_id_valid(argv[1]))
	{
		rvx_err("\"%s\" is not a backup id", argv[1]);
		return RVX_E_USAGE;
	}
	if ((repo = rvx_command_open_repo(cfg, &rc)) == NULL)
		return rc;
	rvx_error_clear(&err);
	rc = rvx_backup_pin(repo, argv[1], pinned, &err);
	if (rc != 0)
	{
		rvx_err("could not %s backup %s: %s", pinned ? "pin" : "unpin", argv[1], err.msg);
		rc = err.code == RVX_OK ? RVX_E_INTERNAL : (int) err.code;
	}
	else
		rvx_info("backup %s is %s", argv[1], pinned ? "pinned: expire keeps it" : "no longer pinned");
	ev = (RvxAuditEvent) {
		.action = pinned ? "pin" : "unpin",
		.backup_id = argv[1],
		.ok = rc == 0,
		.error = err.msg,
	};
	audit_rc = rvx_audit_write(repo, 0, &ev, NULL);
	rvx_repo_close(repo);
	return rvx_audit_exit_code(rc, audit_rc);
}

int
rvx_cmd_pin(int argc, char **argv, RvxConfig *cfg)
{
	return pin_command(argc, argv, cfg, true);
}

int
rvx_cmd_unpin(int argc, char **argv, RvxConfig *cfg)
{
	return pin_command(argc, argv, cfg, false);
}
