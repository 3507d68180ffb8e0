/*-------------------------------------------------------------------------
 *
 * cmd_restore.c
 *	  `revrx-agent restore --pgdata DIR [--backup ID|latest] [--force | --delta
 *	  [--discard-unarchived-wal]] [--tablespace-map OID=DIR]... [--agent-path PATH]
 *	  [--target-time TS | --target-lsn LSN | --target-name NAME |
 *	   --target-xid XID | --target immediate] [--target-action A]
 *	  [--target-exclusive] [--target-timeline T] [--archive]`
 *
 * The command line of restore.c.  It needs only the repository settings
 * (REVRX_REPO, and for S3 its endpoint and credentials): no database, no
 * spool, so it runs on a fresh machine that has nothing but access to the
 * repository.  Target values are checked here, before the repository is
 * even opened (target.h); whether the repository can reach them is
 * checked by restore.c, still before anything is written.  Progress is shown while stderr is a terminal; a summary
 * (files, bytes, seconds, MB/s) is logged at the end either way.  The exit
 * code is the error's code (error.h): 1 for a missing backup or object, 2
 * for a refused target, 7 for corrupt data, 14 for a server running in
 * the directory, 15 (--delta) for a directory of another cluster, 16
 * (--delta) for one whose pg_wal holds WAL not archived yet, and so on.  --delta also prints what it kept, rewrote and removed on stdout
 * (one line, for scripts and for the operator).  Every restore that
 * got past its arguments is recorded in the audit trail, done or failed
 * (audit.h): a restore that worked but could not be recorded keeps its
 * data and exits with 13.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "command/commands.h"
#include "info/audit.h"
#include "restore/restore.h"

#define MAX_TABLESPACE_MAP 256

const char	rvx_restore_options[] =
"Options:\n"
"  --pgdata DIR, -D DIR      data directory to create (must be empty or missing,\n"
"                            unless --force or --delta)\n"
"  --backup ID|latest        which backup (default: the newest complete one)\n"
"  --force                   delete everything in DIR and in the tablespace\n"
"                            locations first (never while a server runs in DIR)\n"
"  --delta                   restore into DIR, a data directory of this cluster\n"
"                            whose server is stopped: files the backup has that\n"
"                            are already there with its size and SHA-256 (read\n"
"                            back now) are kept, the others downloaded, and what\n"
"                            is not in the backup is removed, pg_wal's contents\n"
"                            too; the tablespace locations likewise.  An empty or\n"
"                            missing DIR is a normal restore.  Not with --force\n"
"  --discard-unarchived-wal  with --delta: remove WAL segments DIR's server had\n"
"                            not archived yet (.ready in pg_wal/archive_status);\n"
"                            without it such a DIR is refused (exit code 16)\n"
"  --tablespace-map OID=DIR  restore tablespace OID into DIR instead of its\n"
"                            original location (repeatable)\n"
"  --agent-path PATH         revrx-agent that restore_command runs (default: this one)\n"
"\n"
"Point-in-time recovery (at most one target; see docs/pitr.md):\n"
"  --target-time TS          stop at this time, e.g. '2026-11-26 10:00:00+00'\n"
"                            or 2026-11-26T10:00:00Z (a time zone is required)\n"
"  --target-lsn LSN          stop at this WAL location (X/Y)\n"
"  --target-name NAME        stop at this restore point\n"
"  --target-xid XID          stop at the commit of this transaction\n"
"  --target immediate        stop as soon as the backup is consistent\n"
"  --target-action A         then: promote (default), pause or shutdown\n"
"  --target-exclusive        stop just before the target (time, lsn, xid)\n"
"  --target-timeline T       latest (default), current or a timeline number\n"
"  --archive                 the restored cluster becomes the primary and keeps\n"
"                            archiving as configured (default: archive_mode and\n"
"                            scheduled backups are turned off in the copy)\n"
"Without --backup, a target picks the newest backup that ends before it.\n"
"\n"
"Then start PostgreSQL on DIR: it replays the archived WAL from the repository\n"
"(restore_command = revrx-agent wal-fetch) to its end or to the target, and is\n"
"promoted.  Repository credentials must be in the server's environment; none are\n"
"written to DIR.  Run as root, the files are given to the owner of an existing DIR.\n"
"Exit codes: 0 restored, 1 backup, restore point or object not found, 2 bad\n"
"arguments, a target the repository cannot reach or a target directory that is\n"
"not empty, 7 corrupt data, 9 another cluster's repository, 14 a server runs in\n"
"DIR, 15 (--delta) DIR is another cluster's data directory (or has no\n"
"pg_control to tell), 16 (--delta) DIR's pg_wal holds WAL not archived yet.\n";

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: revrx-agent restore --pgdata DIR [--backup ID|latest]\n"
			"                           [--force | --delta [--discard-unarchived-wal]]\n"
			"                           [--tablespace-map OID=DIR]... [--agent-path PATH]\n"
			"                           [--target-time TS | --target-lsn LSN | --target-name NAME |\n"
			"                            --target-xid XID | --target immediate]\n"
			"                           [--target-action promote|pause|shutdown] [--target-exclusive]\n"
			"                           [--target-timeline latest|current|N] [--archive]\n\n%s",
			rvx_restore_options);
}

/* The audit record of a restore that was attempted (err NULL: it succeeded). */
static int
audit_restore(const RvxConfig *cfg, const RvxRestoreOptions *opts, const RvxRestoreResult *res,
			  const RvxError *err)
{
	char		target[128] = "";
	json_t	   *details;
	RvxAuditEvent ev;
	int			rc;

	if (opts->target.kind != RVX_TARGET_NONE)
		rvx_target_describe(&opts->target, target, sizeof(target));
	details = json_pack("{s:s, s:o, s:b, s:s, s:I, s:I, s:b}",
						"pgdata", opts->pgdata,
						"target", target[0] ? json_string(target) : json_null(),
						"force", opts->force,
						/* as asked; the counts below say whether a directory was reused */
						"mode", opts->delta ? "delta" : opts->force ? "force" : "new",
						"files", (json_int_t) res->files,
						"bytes", (json_int_t) res->bytes,
						"incomplete", res->incomplete);
	if (details && res->delta)
		json_object_update_new(details, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
												  "kept_files", (json_int_t) res->kept_files,
												  "kept_bytes", (json_int_t) res->kept_bytes,
												  "rewritten_files", (json_int_t) res->files,
												  "rewritten_bytes", (json_int_t) res->bytes,
												  "removed", (json_int_t) res->removed,
												  "removed_bytes", (json_int_t) res->removed_bytes));
	ev = (RvxAuditEvent) {
		.action = "restore",
		/* the backup chosen; before it was chosen, the one asked for */
		.backup_id = res->backup_id[0] ? res->backup_id :
		(opts->backup_id && strcmp(opts->backup_id, "latest") != 0 ? opts->backup_id : NULL),
		.ok = err == NULL,
		.error = err ? err->msg : NULL,
		.details = details,
	};
	rc = rvx_audit_write_cfg(&cfg->repo, &ev);
	json_decref(details);
	return rc;
}

int
rvx_cmd_restore(int argc, char **argv, RvxConfig *cfg)
{
	RvxRestoreOptions opts = {0};
	RvxTablespaceMapping map[MAX_TABLESPACE_MAP];
	RvxRestoreResult res;
	RvxError	err;
	int			audit_rc;
	int			rc;

	opts.parallel = cfg->parallel;
	opts.progress = isatty(STDERR_FILENO);
	opts.tablespace_map = map;

	for (int i = 1; i < argc; i++)
	{
		bool		missing = false;
		const char *v;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--force") == 0)
		{
			opts.force = true;
			continue;
		}
		if (strcmp(argv[i], "--delta") == 0)
		{
			opts.delta = true;
			continue;
		}
		if (strcmp(argv[i], "--discard-unarchived-wal") == 0)
		{
			opts.discard_unarchived_wal = true;
			continue;
		}
		if ((rc = rvx_target_option(&opts.target, argc, argv, &i, &err)) != 0)
		{
			if (rc < 0)
			{
				fprintf(stderr, "revrx-agent restore: %s\n", err.msg);
				return RVX_E_USAGE;
			}
			continue;
		}
		if (strcmp(argv[i], "--archive") == 0)
		{
			opts.archive = true;
			continue;
		}
		if ((v = rvx_option_value(argc, argv, &i, "--pgdata", "-D", &missing)) != NULL)
			opts.pgdata = v;
		else if ((v = rvx_option_value(argc, argv, &i, "--backup", NULL, &missing)) != NULL)
			opts.backup_id = v;
		else if ((v = rvx_option_value(argc, argv, &i, "--agent-path", NULL, &missing)) != NULL)
			opts.agent_path = v;
		else if ((v = rvx_option_value(argc, argv, &i, "--tablespace-map", NULL, &missing)) != NULL)
		{
			char	   *end;
			unsigned long oid = strtoul(v, &end, 10);

			if (end == v || *end != '=' || oid == 0 || oid > 0xFFFFFFFFUL || end[1] != '/')
			{
				fprintf(stderr, "revrx-agent restore: invalid --tablespace-map \"%s\" (expected OID=/absolute/dir)\n", v);
				return RVX_E_USAGE;
			}
			if (opts.n_tablespace_map == MAX_TABLESPACE_MAP)
			{
				fprintf(stderr, "revrx-agent restore: too many --tablespace-map options\n");
				return RVX_E_USAGE;
			}
			map[opts.n_tablespace_map].oid = (unsigned int) oid;
			map[opts.n_tablespace_map].path = end + 1;
			opts.n_tablespace_map++;
		}
		else
		{
			rvx_option_refuse("restore", argv[i], missing);
			usage(stderr);
			return RVX_E_USAGE;
		}
	}
	if (opts.pgdata == NULL || opts.pgdata[0] == '\0')
	{
		fprintf(stderr, "revrx-agent restore: --pgdata is required\n");
		usage(stderr);
		return RVX_E_USAGE;
	}
	if (opts.delta && opts.force)
	{
		fprintf(stderr, "revrx-agent restore: --delta and --force exclude each other "
				"(--delta keeps what is right, --force deletes everything first)\n");
		return RVX_E_USAGE;
	}
	if (opts.discard_unarchived_wal && !opts.delta)
	{
		fprintf(stderr, "revrx-agent restore: --discard-unarchived-wal is an option of --delta\n");
		return RVX_E_USAGE;
	}
	if (rvx_target_check_backup(opts.backup_id, &opts.target, &err) != 0)
	{
		fprintf(stderr, "revrx-agent restore: %s\n", err.msg);
		return RVX_E_USAGE;
	}

	/*
	 * A signal stops the transfers and ends the restore with a message
	 * saying what is left behind, instead of killing it mid-file.
	 */
	rvx_interrupt_on_signals();

	memset(&res, 0, sizeof(res));
	if (rvx_restore(cfg, &opts, &res, &err) != 0)
	{
		rvx_err("%s", err.msg);
		if (res.incomplete)
			rvx_err("\"%s\" is incomplete and PostgreSQL will not start on it (it has no global/pg_control); "
					"run the restore again with %s once the cause is fixed", opts.pgdata,
					opts.delta ? "--delta (it keeps what is already restored)" : "--force");
		rc = err.code == RVX_OK ? RVX_E_INTERNAL : (int) err.code;
		return rvx_audit_exit_code(rc, audit_restore(cfg, &opts, &res, &err));
	}
	/* the data stays restored whatever the audit says: see audit.h */
	audit_rc = audit_restore(cfg, &opts, &res, NULL);
	if (res.delta)
	{
		char		line[512];

		snprintf(line, sizeof(line),
				 "delta restore of backup %s into \"%s\": kept %" PRIu64 " files (%" PRIu64
				 " bytes), rewrote %" PRIu64 " files (%" PRIu64 " bytes), removed %" PRIu64
				 " files and directories (%" PRIu64 " bytes) in %.1f s",
				 res.backup_id, opts.pgdata, res.kept_files, res.kept_bytes, res.files, res.bytes,
				 res.removed, res.removed_bytes, res.seconds);
		printf("%s\n", line);
		fflush(stdout);
		rvx_info("%s", line);
	}
	else
		rvx_info("restored backup %s into \"%s\": %" PRIu64 " files, %.1f MB in %.1f s (%.0f MB/s)",
				 res.backup_id, opts.pgdata, res.files, res.bytes / 1048576.0, res.seconds,
				 res.seconds > 0 ? res.bytes / 1048576.0 / res.seconds : 0.0);
	if (opts.target.kind == RVX_TARGET_NONE)
		rvx_info("start PostgreSQL on \"%s\": it replays the archived WAL from the repository, then is promoted",
				 opts.pgdata);
	else
	{
		char		what[128];

		rvx_target_describe(&opts.target, what, sizeof(what));
		rvx_info("start PostgreSQL on \"%s\": it replays the archived WAL from the repository up to %s",
				 opts.pgdata, what);
	}
	return rvx_audit_exit_code(0, audit_rc);
}
