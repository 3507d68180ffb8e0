/*-------------------------------------------------------------------------
 *
 * cmd_list.c
 *	  `revrx-agent list [--json]`: the backups in the repository.
 *
 * Needs only the repository settings.  A backup is listed as restorable
 * only when its record (backup.json) exists and reads back sound; a backup
 * with objects but no record is being shipped or was abandoned, and is
 * shown as "incomplete"; one whose record cannot be read as "damaged".
 *
 * Output, ordered by id (oldest first):
 *	- a table for people (the default);
 *	- with --json, one object
 *		{"format":1, "repository":"<url>", "backups":[ ... ]}
 *	  where a complete backup is the summary of its record (every field of
 *	  backup.json except "files" and "directories", see
 *	  docs/backup-format.md) plus "status":"complete" and
 *	  "restorable":true and "pinned":true|false (backup/<id>/pinned,
 *	  see expire.h), and an incomplete or damaged one is
 *		{"id", "status":"incomplete"|"damaged", "restorable":false,
 *		 "objects":N, "stored_bytes":N[, "error":"..."]}.
 * An empty repository (no repo.json) is an empty list, with a note on
 * stderr, and exit code 0.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "info/catalog.h"
#include "command/commands.h"
#include "retention/expire.h"
#include "base/log.h"
#include "info/repo_meta.h"

static const char *
human_size(char *buf, size_t cap, json_int_t bytes)
{
	const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double		v = (double) bytes;
	int			u = 0;

	while (v >= 1024 && u < 5)
	{
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
	return buf;
}

/* "2026-11-26T08:45:00Z" as "2026-11-26 08:45:00" */
static const char *
human_time(char *buf, size_t cap, const char *iso)
{
	if (iso == NULL)
		return "-";
	snprintf(buf, cap, "%s", iso);
	if (strlen(buf) >= 19 && buf[10] == 'T')
	{
		buf[10] = ' ';
		buf[19] = '\0';
	}
	return buf;
}

static const char *
str_or(const json_t *o, const char *name, const char *def)
{
	const char *v = json_string_value(json_object_get(o, name));

	return v ? v : def;
}

/* Appends "; " (unless first) and a formatted part to buf, within cap. */
static void
append_part(char *buf, size_t cap, const char *fmt,...)
{
	size_t		len = strlen(buf);
	va_list		ap;

	if (len > 0 && len + 2 < cap)
	{
		strcpy(buf + len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + len, cap - len, fmt, ap);
	va_end(ap);
}

/*
 * What a backup does not hold (backup.json "not_included"), in one line:
 * "4 unlogged relations (1.3 MB, restored empty); 1 file skipped; ...".
 * Empty when it holds everything.  The counts are the record's own totals
 * where it has them (it lists only the first entries).
 */
static void
not_included_summary(const json_t *b, char *buf, size_t cap)
{
	const json_t *list = json_object_get(b, "not_included");
	size_t		i;
	json_t	   *o;
	json_int_t	unlogged = 0,
				unlogged_bytes = 0;
	int			skipped = 0,
				tablespaces = 0;
	bool		no_checksums = false;
	char		size[32];

	buf[0] = '\0';
	json_array_foreach(list, i, o)
	{
		const char *kind = str_or(o, "kind", "");

		if (strcmp(kind, "unlogged_relation") == 0)
		{
			unlogged++;
			unlogged_bytes += json_integer_value(json_object_get(o, "bytes"));
		}
		else if (strcmp(kind, "skipped_file") == 0)
			skipped++;
		else if (strcmp(kind, "tablespace_outside_data_directory") == 0)
			tablespaces++;
		else if (strcmp(kind, "no_data_checksums") == 0)
			no_checksums = true;
	}
	if (json_is_integer(json_object_get(b, "unlogged_relations")))
	{
		unlogged = json_integer_value(json_object_get(b, "unlogged_relations"));
		unlogged_bytes = json_integer_value(json_object_get(b, "unlogged_bytes"));
	}
	if (unlogged > 0)
		append_part(buf, cap, "%lld unlogged relation%s (%s, restored empty)", (long long) unlogged,
					unlogged == 1 ? "" : "s", human_size(size, sizeof(size), unlogged_bytes));
	if (skipped > 0)
		append_part(buf, cap, "%d file%s skipped", skipped, skipped == 1 ? "" : "s");
	if (tablespaces > 0)
		append_part(buf, cap, "%d tablespace%s restored at %s own location", tablespaces,
					tablespaces == 1 ? "" : "s", tablespaces == 1 ? "its" : "their");
	if (no_checksums)
		append_part(buf, cap, "no data checksums (pages not verified)");
	if (json_integer_value(json_object_get(b, "not_included_count")) > (json_int_t) json_array_size(list))
		append_part(buf, cap, "%lld entries in all, %zu listed (list --json)",
					(long long) json_integer_value(json_object_get(b, "not_included_count")),
					json_array_size(list));
}

static void
print_table(const json_t *backups, const char *display)
{
	size_t		i;
	json_t	   *b;

	if (json_array_size(backups) == 0)
	{
		printf("no backups in %s\n", display);
		return;
	}
	printf("%-20s %-10s %-11s %-4s %-20s %-13s %-19s  %-19s  %-12s %-12s %10s %10s %10s %8s  %s\n",
		   "ID", "STATUS", "KIND", "PG", "PARENT", "BLOCKS", "START (UTC)", "STOP (UTC)", "START LSN", "STOP LSN",
		   "ORIGINAL", "STORED", "CHAIN", "PROBLEMS", "LABEL");
	json_array_foreach(backups, i, b)
	{
		char		t1[32],
					t2[32],
					s1[32],
					s2[32],
					s3[32],
					np[32],
					pg[16],
					ni[512];
		bool		complete = json_is_true(json_object_get(b, "restorable"));
		json_int_t	stored = json_integer_value(json_object_get(b, "stored_bytes"));
		const json_t *problems = json_object_get(b, "problems");

		/* the major the backup needs to be restored and run by */
		if (complete)
			snprintf(pg, sizeof(pg), "%d", rvx_backup_record_major(b));
		else
			snprintf(pg, sizeof(pg), "-");
		printf("%-20s %-10s %-11s %-4s %-20s %-13s %-19s  %-19s  %-12s %-12s %10s %10s %10s %8s  %s%s\n",
			   str_or(b, "id", "?"), str_or(b, "status", "?"), str_or(b, "kind", "-"), pg,
			   str_or(b, "parent", "-"), str_or(b, "block_source", "-"),
			   human_time(t1, sizeof(t1), str_or(b, "start_time", NULL)),
			   human_time(t2, sizeof(t2), str_or(b, "stop_time", NULL)),
			   str_or(b, "start_lsn", "-"), str_or(b, "stop_lsn", "-"),
			   complete ? human_size(s1, sizeof(s1), json_integer_value(json_object_get(b, "original_bytes"))) : "-",
			   human_size(s2, sizeof(s2), stored),
			   complete ? human_size(s3, sizeof(s3),
									 json_integer_value(json_object_get(b, "chain_stored_bytes"))) : "-",
			   complete ? (snprintf(np, sizeof(np), "%zu", json_array_size(problems)), np) : "-",
			   complete ? str_or(b, "label", "") : str_or(b, "error", ""),
			   json_is_true(json_object_get(b, "pinned")) ? " (pinned)" : "");
		not_included_summary(b, ni, sizeof(ni));
		if (complete && ni[0] != '\0')
			printf("%-20s not included: %s\n", "", ni);
	}
}

/*
 * "chain_stored_bytes": what restoring a backup needs from the repository
 * at most, its own objects and those of every backup it builds on.
 */
static void
add_chain_sizes(json_t *backups)
{
	size_t		i;
	json_t	   *b;

	json_array_foreach(backups, i, b)
	{
		json_int_t	total = 0;
		const json_t *cur = b;
		int			hops = 0;

		while (cur != NULL && hops++ < 64)
		{
			const char *parent = json_string_value(json_object_get(cur, "parent"));
			size_t		j;
			json_t	   *p;

			total += json_integer_value(json_object_get(cur, "stored_bytes"));
			cur = NULL;
			if (parent == NULL)
				break;
			json_array_foreach(backups, j, p)
			{
				if (strcmp(str_or(p, "id", ""), parent) == 0)
				{
					cur = p;
					break;
				}
			}
		}
		if (json_is_true(json_object_get(b, "restorable")))
			json_object_set_new(b, "chain_stored_bytes", json_integer(total));
	}
}

int
rvx_cmd_list(int argc, char **argv, RvxConfig *cfg)
{
	bool		as_json = false;
	bool		progress = isatty(STDERR_FILENO);	/* quiet in scripts and logs */
	RvxRepo    *repo;
	RvxClusterInfo ci;
	RvxBackupList list;
	RvxError	err;
	json_t	   *backups;
	json_t	   *doc;
	char	   *text;
	int			open_rc;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--json") == 0)
			as_json = true;
		else
		{
			fprintf(stderr, "usage: revrx-agent list [--json]\n");
			return RVX_E_USAGE;
		}
	}
	if ((repo = rvx_command_open_repo(cfg, &open_rc)) == NULL)
		return open_rc;
	backups = json_array();
	if (rvx_repo_meta_load(repo, &ci, &err) != 0)
	{
		if (err.code != RVX_E_NOTFOUND)
			goto fail;
		rvx_info("%s", err.msg);
		ci.system_id = 0;
		memset(&list, 0, sizeof(list));
	}
	else if (rvx_backup_list(repo, &list, &err) != 0)
		goto fail;

	for (size_t i = 0; i < list.n; i++)
	{
		const RvxBackupRef *ref = &list.items[i];
		json_t	   *record;
		json_t	   *entry;

		/* a record per backup: on a big repository that takes a while */
		if (progress)
			fprintf(stderr, "\rreading backup records: %zu of %zu", i + 1, list.n);

		if (ref->record_key[0] && rvx_backup_record_load(repo, ref->record_key, ref->id,
														 ci.system_id, &record, &err) == 0)
		{
			entry = rvx_backup_summary(record);
			json_decref(record);
			if (entry == NULL)
			{
				rvx_error(&err, RVX_E_INTERNAL, "out of memory");
				goto fail;
			}
			json_object_set_new(entry, "status", json_string("complete"));
			json_object_set_new(entry, "restorable", json_true());
			json_object_set_new(entry, "pinned", json_boolean(ref->pinned));
		}
		else
		{
			entry = json_pack("{s:s, s:s, s:b, s:I, s:I}", "id", ref->id,
							  "status", ref->record_key[0] ? "damaged" : "incomplete",
							  "restorable", 0, "objects", (json_int_t) ref->objects,
							  "stored_bytes", (json_int_t) ref->bytes);
			if (entry && ref->record_key[0])
			{
				rvx_warn("backup %s is damaged: %s", ref->id, err.msg);
				json_object_set_new(entry, "error", json_string(err.msg));
			}
		}
		json_array_append_new(backups, entry);
	}
	if (progress && list.n > 0)
		fprintf(stderr, "\r%60s\r", "");
	rvx_backup_list_free(&list);
	add_chain_sizes(backups);

	if (as_json)
	{
		doc = json_pack("{s:i, s:s, s:O}", "format", 1, "repository", repo->display,
						"backups", backups);
		text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
		json_decref(doc);
		if (text == NULL)
		{
			rvx_error(&err, RVX_E_INTERNAL, "out of memory");
			goto fail;
		}
		printf("%s\n", text);
		free(text);
	}
	else
		print_table(backups, repo->display);
	json_decref(backups);
	rvx_repo_close(repo);
	return 0;

fail:
	rvx_err("could not list the backups: %s", err.msg);
	json_decref(backups);
	rvx_repo_close(repo);
	return err.code == RVX_OK ? RVX_E_INTERNAL : (int) err.code;
}
