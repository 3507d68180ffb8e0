/*-------------------------------------------------------------------------
 *
 * cmd_verify.c
 *	  `revrx-agent verify [--backup ID|latest] [target options as restore]
 *	  [--checks DIR] [--report FILE] [--scratch DIR] [--keep]`
 *
 * The command line of the restore drill (verify.c).  It needs the
 * repository settings only, like restore, plus the PostgreSQL programs of
 * the backup's major version (REVRX_PG_BINDIR, else pg_config --bindir).
 * A readable summary goes to stdout, the log to stderr, the JSON report to
 * --report FILE and into the repository.
 *
 * Exit codes: 0 when every check passed; 7 (RVX_E_CORRUPT) when the drill
 * ran and a check failed; the restore's own code when the backup could not
 * be restored for another reason than its content (5 network, 6 access
 * denied...); and, before any drill ran: 1 no such backup, 2 bad
 * arguments, 3 PostgreSQL programs not found, 4 scratch directory, 12
 * PostgreSQL programs of another major version than the backup's.
 * Every drill that got past its arguments is recorded in the audit trail
 * (audit.h) with its verdict; one that passed but could not be recorded
 * exits with 13.
 *
 *-------------------------------------------------------------------------
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "command/commands.h"
#include "info/audit.h"
#include "info/catalog.h"
#include "verify/verify.h"

const char	rvx_verify_options[] =
"Options:\n"
"  --backup ID|latest        which backup (default: the newest complete one)\n"
"  --target-time TS | --target-lsn LSN | --target-name NAME | --target-xid XID |\n"
"  --target immediate        recover to this target instead of the drill's default\n"
"                            (the backup's fingerprint restore point, or its end)\n"
"  --target-exclusive        stop just before the target (time, lsn, xid)\n"
"  --target-timeline TLI     latest, current or a number\n"
"  --target-action promote   the only action a drill takes (it must write)\n"
"  --checks DIR              run pg_regress checks DIR/sql/*.sql against\n"
"                            DIR/expected/*.out in the recovered copy\n"
"  --report FILE             write the JSON report to FILE as well\n"
"  --scratch DIR             work in DIR (new or empty; default: under $TMPDIR)\n"
"  --keep                    keep the scratch directory (data, logs, check output)\n"
"\n"
"Restores the backup into a scratch directory, checks it with pg_verifybackup,\n"
"starts a private PostgreSQL on it that replays the archived WAL, then runs\n"
"pg_amcheck, row counts, the backup's table fingerprints, the --checks and\n"
"pg_checksums.  The report is stored in the repository beside the backup.\n"
"Environment: REVRX_PG_BINDIR (PostgreSQL programs), REVRX_VERIFY_TIMEOUT_S\n"
"(deadline for recovery, default 21600), PGUSER (role to connect as).\n"
"Exit codes: 0 every check passed, 7 a check failed, 1 no such backup,\n"
"2 bad arguments, 3 PostgreSQL programs missing, 5 network, 6 access denied.\n";

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: revrx-agent verify [--backup ID|latest] [--target-... ] [--checks DIR]\n"
			"                          [--report FILE] [--scratch DIR] [--keep]\n\n%s",
			rvx_verify_options);
}

/*
 * The audit record of a drill: its verdict and where its report is, or
 * (report NULL) why it could not run.
 */
static int
audit_drill(const RvxConfig *cfg, const RvxVerifyOptions *opts, const json_t *report,
			const char *error)
{
	json_t	   *details = json_object();
	const char *id = NULL;
	char		failed[1024] = "";
	RvxAuditEvent ev;
	int			rc;

	if (report)
	{
		const json_t *checks = json_object_get(report, "checks");
		size_t		i;
		json_t	   *c;

		id = json_string_value(json_object_get(report, "backup_id"));
		json_object_set(details, "passed", json_object_get(report, "passed"));
		if (json_object_get(report, "report_key"))
			json_object_set(details, "report_key", json_object_get(report, "report_key"));
		json_array_foreach(checks, i, c)
		{
			size_t		used = strlen(failed);

			if (!json_is_true(json_object_get(c, "passed")))
				snprintf(failed + used, sizeof(failed) - used, "%s%s", used ? ", " : "checks failed: ",
						 json_string_value(json_object_get(c, "name")) ?
						 json_string_value(json_object_get(c, "name")) : "?");
		}
		error = rvx_verify_exit_code(report) == 0 ? NULL : failed[0] ? failed : "the drill failed";
	}
	else if (opts->backup_id && strcmp(opts->backup_id, "latest") != 0)
		id = opts->backup_id;
	ev = (RvxAuditEvent) {
		.action = "verify",
		.backup_id = id,
		.ok = error == NULL,
		.error = error,
		.details = details,
	};
	rc = rvx_audit_write_cfg(&cfg->repo, &ev);
	json_decref(details);
	return rc;
}

int
rvx_cmd_verify(int argc, char **argv, RvxConfig *cfg)
{
	RvxVerifyOptions opts = {0};
	json_t	   *report = NULL;
	RvxError	err;
	int			audit_rc;
	int			rc;

	opts.parallel = cfg->parallel;
	opts.recovery_timeout_s = cfg->verify_timeout_s;
	opts.pg_bindir = cfg->pg_bindir;

	for (int i = 1; i < argc; i++)
	{
		bool		missing = false;
		const char *v;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--keep") == 0)
		{
			opts.keep = true;
			continue;
		}
		if ((rc = rvx_target_option(&opts.target, argc, argv, &i, &err)) != 0)
		{
			if (rc < 0)
			{
				fprintf(stderr, "revrx-agent verify: %s\n", err.msg);
				return RVX_E_USAGE;
			}
			/* the checks write to the copy: it must be promoted */
			if (opts.target.action != RVX_TARGET_ACTION_PROMOTE)
			{
				fprintf(stderr, "revrx-agent verify: a drill always promotes (--target-action promote)\n");
				return RVX_E_USAGE;
			}
			continue;
		}
		if ((v = rvx_option_value(argc, argv, &i, "--backup", NULL, &missing)) != NULL)
			opts.backup_id = v;
		else if ((v = rvx_option_value(argc, argv, &i, "--checks", NULL, &missing)) != NULL)
			opts.checks_dir = v;
		else if ((v = rvx_option_value(argc, argv, &i, "--report", NULL, &missing)) != NULL)
			opts.report_file = v;
		else if ((v = rvx_option_value(argc, argv, &i, "--scratch", NULL, &missing)) != NULL)
			opts.scratch = v;
		else
		{
			rvx_option_refuse("verify", argv[i], missing);
			usage(stderr);
			return RVX_E_USAGE;
		}
	}
	if (rvx_target_check_backup(opts.backup_id, &opts.target, &err) != 0)
	{
		fprintf(stderr, "revrx-agent verify: %s\n", err.msg);
		return RVX_E_USAGE;
	}

	/* stop the drill server and clean up on the way out, whatever stops us */
	rvx_interrupt_on_signals();
	signal(SIGPIPE, SIG_IGN);

	if (rvx_verify(cfg, &opts, &report, &err) != 0)
	{
		rvx_err("%s", err.msg);
		rc = err.code == RVX_OK ? RVX_E_INTERNAL : (int) err.code;
		return rvx_audit_exit_code(rc, audit_drill(cfg, &opts, NULL, err.msg));
	}
	rvx_verify_print_summary(stdout, report);
	fflush(stdout);
	rc = rvx_verify_exit_code(report);
	audit_rc = audit_drill(cfg, &opts, report, NULL);
	json_decref(report);
	return rvx_audit_exit_code(rc, audit_rc);
}
