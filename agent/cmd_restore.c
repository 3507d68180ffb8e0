/*-------------------------------------------------------------------------
 *
 * cmd_restore.c
 *	  `revrx-agent restore --pgdata DIR [--backup ID|latest] [--force]
 *	  [--tablespace-map OID=DIR]... [--agent-path PATH]`
 *
 * The command line of restore.c.  It needs only the repository settings
 * (REVRX_REPO, and for S3 its endpoint and credentials): no database, no
 * spool, so it runs on a fresh machine that has nothing but access to the
 * repository.  Progress is shown while stderr is a terminal; a summary
 * (files, bytes, seconds, MB/s) is logged at the end either way.  The exit
 * code is the error's code (error.h): 1 for a missing backup or object, 2
 * for a refused target, 7 for corrupt data, and so on.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "log.h"
#include "restore.h"

#define MAX_TABLESPACE_MAP 256

const char	rvx_restore_options[] =
"Options:\n"
"  --pgdata DIR, -D DIR      data directory to create (must be empty or missing)\n"
"  --backup ID|latest        which backup (default: the newest complete one)\n"
"  --force                   delete everything in DIR and in the tablespace\n"
"                            locations first (never while a server runs in DIR)\n"
"  --tablespace-map OID=DIR  restore tablespace OID into DIR instead of its\n"
"                            original location (repeatable)\n"
"  --agent-path PATH         revrx-agent that restore_command runs (default: this one)\n"
"\n"
"Then start PostgreSQL on DIR: it replays the archived WAL from the repository\n"
"(restore_command = revrx-agent wal-fetch) to its end and is promoted.  Repository\n"
"credentials must be in the server's environment; none are written to DIR.\n"
"Run as root, the files are given to the owner of an existing DIR.\n"
"Exit codes: 0 restored, 1 backup or object not found, 2 bad arguments or a\n"
"target that is not empty, 7 corrupt data, 9 another cluster's repository.\n";

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: revrx-agent restore --pgdata DIR [--backup ID|latest] [--force]\n"
			"                           [--tablespace-map OID=DIR]... [--agent-path PATH]\n\n%s",
			rvx_restore_options);
}

/* The value of --name VALUE or --name=VALUE at argv[*i]; NULL if this is not it. */
static const char *
option_value(int argc, char **argv, int *i, const char *name, const char *alias, bool *missing)
{
	size_t		len = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, len) == 0 && arg[len] == '=')
		return arg + len + 1;
	if (strcmp(arg, name) == 0 || (alias && strcmp(arg, alias) == 0))
	{
		if (*i + 1 >= argc)
		{
			*missing = true;
			return NULL;
		}
		return argv[++*i];
	}
	return NULL;
}

int
rvx_cmd_restore(int argc, char **argv, RvxConfig *cfg)
{
	RvxRestoreOptions opts = {0};
	RvxTablespaceMapping map[MAX_TABLESPACE_MAP];
	RvxRestoreResult res;
	RvxError	err;

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
		if ((v = option_value(argc, argv, &i, "--pgdata", "-D", &missing)) != NULL)
			opts.pgdata = v;
		else if ((v = option_value(argc, argv, &i, "--backup", NULL, &missing)) != NULL)
			opts.backup_id = v;
		else if ((v = option_value(argc, argv, &i, "--agent-path", NULL, &missing)) != NULL)
			opts.agent_path = v;
		else if ((v = option_value(argc, argv, &i, "--tablespace-map", NULL, &missing)) != NULL)
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
			if (missing)
				fprintf(stderr, "revrx-agent restore: option \"%s\" needs a value\n", argv[i]);
			else
				fprintf(stderr, "revrx-agent restore: unexpected argument \"%s\"\n", argv[i]);
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
	if (opts.backup_id && strcmp(opts.backup_id, "latest") != 0 &&
		!rvx_backup_id_valid(opts.backup_id))
	{
		fprintf(stderr, "revrx-agent restore: \"%s\" is not a backup id (see revrx-agent list)\n",
				opts.backup_id);
		return RVX_E_USAGE;
	}

	if (rvx_restore(cfg, &opts, &res, &err) != 0)
	{
		rvx_err("%s", err.msg);
		if (res.incomplete)
			rvx_err("\"%s\" is incomplete and PostgreSQL will not start on it (it has no global/pg_control); "
					"run the restore again with --force once the cause is fixed", opts.pgdata);
		return err.code == RVX_OK ? RVX_E_INTERNAL : (int) err.code;
	}
	rvx_info("restored backup %s into \"%s\": %" PRIu64 " files, %.1f MB in %.1f s (%.0f MB/s)",
			 res.backup_id, opts.pgdata, res.files, res.bytes / 1048576.0, res.seconds,
			 res.seconds > 0 ? res.bytes / 1048576.0 / res.seconds : 0.0);
	rvx_info("start PostgreSQL on \"%s\": it replays the archived WAL from the repository, then is promoted",
			 opts.pgdata);
	return 0;
}
