/*-------------------------------------------------------------------------
 *
 * cmd_audit.c
 *	  `revrx-agent audit [--since TIMESTAMP] [--json]`: the audit trail.
 *
 * Lists the records of audit/ (audit.h), oldest first: a table for people
 * by default, or with --json one record per line, exactly as stored (JSON
 * lines, for jq and log shippers).  --since takes a timestamp with a time
 * zone, as restore --target-time does ('2026-12-01 00:00:00+00' or
 * 2026-12-01T00:00:00Z), and shows records made at or after it; a value
 * that is not one is a usage error (exit 2) naming the option.  Reading
 * the trail is not itself audited.  Exit codes are those of error.h.
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

const char	rvx_audit_options[] =
"Options:\n"
"  --since TIMESTAMP  only records made at or after TIMESTAMP\n"
"                     (e.g. '2026-12-01 00:00:00+00'; a time zone is required)\n"
"  --json             one JSON object per line, as stored";

static void
audit_usage(FILE *out)
{
	fprintf(out, "usage: revrx-agent audit [--since TIMESTAMP] [--json]\n\n%s\n",
			rvx_audit_options);
}

static const char *
str_or(const json_t *rec, const char *field, const char *dflt)
{
	const char *s = json_string_value(json_object_get(rec, field));

	return s && s[0] ? s : dflt;
}

static int
print_json(void *arg, const char *key, json_t *rec)
{
	char	   *line = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);

	if (line == NULL)
		return -1;
	printf("%s\n", line);
	free(line);
	return 0;
}

static int
print_row(void *arg, const char *key, json_t *rec)
{
	char		who[400];
	const char *role = str_or(rec, "db_role", NULL);

	snprintf(who, sizeof(who), "%s@%s%s%s", str_or(rec, "os_user", "?"),
			 str_or(rec, "host", "?"), role ? " role " : "", role ? role : "");
	printf("%-27s  %-7s  %-6s  %-18s  %s%s%s\n", str_or(rec, "time", "?"),
		   str_or(rec, "action", "?"), str_or(rec, "result", "?"),
		   str_or(rec, "backup_id", "-"), who,
		   json_is_string(json_object_get(rec, "error")) ? ": " : "",
		   str_or(rec, "error", ""));
	return 0;
}

int
rvx_cmd_audit(int argc, char **argv, RvxConfig *cfg)
{
	bool		as_json = false;
	int64_t		since_us = INT64_MIN;
	RvxError	err;
	RvxRepo    *repo;
	int			rc;

	for (int i = 1; i < argc; i++)
	{
		bool		missing = false;
		const char *v;

		if (strcmp(argv[i], "--json") == 0)
			as_json = true;
		else if ((v = rvx_option_value(argc, argv, &i, "--since", NULL, &missing)) != NULL)
		{
			if (rvx_time_parse_arg("--since time", v, &since_us, &err) != 0)
			{
				fprintf(stderr, "revrx-agent audit: %s\n", err.msg);
				return RVX_E_USAGE;
			}
		}
		else
		{
			rvx_option_refuse("audit", argv[i], missing);
			audit_usage(stderr);
			return RVX_E_USAGE;
		}
	}

	if ((repo = rvx_command_open_repo(cfg, &rc)) == NULL)
		return rc;
	rvx_error_clear(&err);
	if (!as_json)
		printf("%-27s  %-7s  %-6s  %-18s  %s\n", "TIME", "ACTION", "RESULT", "BACKUP",
			   "WHO: ERROR");
	rc = rvx_audit_list(repo, since_us, as_json ? print_json : print_row, NULL, &err);
	rvx_repo_close(repo);
	fflush(stdout);
	if (rc != 0)
	{
		rvx_err("could not read the audit trail: %s", err.msg);
		return err.code == RVX_OK ? RVX_E_INTERNAL : (int) err.code;
	}
	return 0;
}
