/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading the lists revrx-agent publishes in the spool's status/
 *	  directory: the repository's backups (status/backups.json) and the
 *	  latest restore drills (status/verifications.json).
 *
 * The files are written by another program, possibly another version of
 * it, and may be missing, half written by a crashed agent or simply wrong.
 * None of that may make revrx_backups() or revrx_verifications() (or
 * choosing a backup id) fail, so this reader never throws except when out
 * of memory: a file that is not exactly what docs/backup-format.md
 * describes yields no entries, and an entry without a usable id is
 * skipped.  Fields the reader does not know are ignored, so the agent can
 * add some.  Both files have the same shape:
 *
 *	  {"format": 1, "updated_at": <epoch>, "<list>": [ {<entry>}, ... ]}
 *
 * read_list() returns, for each entry, the text of each field asked for:
 * a scalar as written (strings de-escaped), an array or object as its
 * JSON text (the exact span of the file) for the SQL functions to turn
 * into jsonb.  That text has passed the JSON parser, and numbers in it are
 * limited to plain integers and decimals, so jsonb_in() cannot fail on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "common/string.h"
#include "utils/datetime.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "archive_compat.h"
#include "backup_state.h"
#include "catalog.h"
#include "spool.h"
#include "spool_read.h"

/* A catalog of a few thousand backups is a few megabytes. */
#define REVRX_CATALOG_FILE_MAX	(64 * 1024 * 1024)

typedef struct ListParse
{
	JsonLexContext *lex;
	const char *list_key;		/* the top-level array to read */
	const char *const *keys;	/* the fields wanted of each entry */
	int			nkeys;

	int			depth;			/* containers open */
	bool		root_is_object;
	char	   *root_key;		/* current key at depth 1 */
	char	   *format;
	bool		in_list;

	bool		in_entry;		/* inside one entry (depth 3) */
	int			field;			/* index in keys of the entry's current key, or -1 */
	char	  **cur;			/* the values of the current entry */

	int			nested_field;	/* field whose container we are inside, or -1 */
	int			nested_depth;	/* depth at which it started */
	const char *nested_start;
	bool		nested_bad;

	char	 ***entries;
	int			nentries;
	int			cap;
} ListParse;

/*
 * "2026-11-26T08:45:00Z", optionally with fractional seconds, or with
 * "+00:00" for "Z".  False for anything else.
 */
static bool
parse_utc_time(const char *s, TimestampTz *result)
{
	struct pg_tm tm;
	int			n = 0;
	fsec_t		fsec = 0;
	const char *p;
	Timestamp	ts;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
			   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
		n != 19)
		return false;
	p = s + n;
	if (*p == '.')
	{
		int			digits = 0;
		int			scale = 100000;

		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
		{
			fsec += (*p - '0') * scale;
			scale /= 10;
		}
		if (digits == 0)
			return false;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return false;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
		tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1] ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	if (tm2timestamp(&tm, fsec, NULL, &ts) != 0 || !IS_VALID_TIMESTAMP(ts))
		return false;
	*result = (TimestampTz) ts;
	return true;
}

static bool
parse_int64(const char *s, int64 *result)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || v < 0)
		return false;
	*result = (int64) v;
	return true;
}

/* An array or object starts: if it is a wanted field's value, keep its text. */
static void
nested_begin(ListParse *p)
{
	if (p->depth == 3 && p->in_entry && p->field >= 0 && p->nested_field < 0)
	{
		/* the current token is the opening bracket */
		p->nested_field = p->field;
		p->nested_depth = p->depth;
		p->nested_start = p->lex->token_start;
		p->nested_bad = false;
	}
}

static RvxJsonCbResult
list_object_start(void *state)
{
	ListParse  *p = (ListParse *) state;

	if (p->depth == 0)
		p->root_is_object = true;
	else if (p->depth == 2 && p->in_list)
	{
		p->in_entry = true;
		p->field = -1;
		p->cur = palloc0(p->nkeys * sizeof(char *));
	}
	else
		nested_begin(p);
	p->depth++;
	RVX_JSON_CB_RETURN;
}

static void
nested_end(ListParse *p)
{
	/* the lexer has moved past the closing bracket */
	if (p->nested_field >= 0 && p->depth == p->nested_depth)
	{
		if (!p->nested_bad && p->lex->prev_token_terminator > p->nested_start)
			p->cur[p->nested_field] =
				pnstrdup(p->nested_start, p->lex->prev_token_terminator - p->nested_start);
		p->nested_field = -1;
	}
}

static RvxJsonCbResult
list_object_end(void *state)
{
	ListParse  *p = (ListParse *) state;

	p->depth--;
	if (p->depth == 2 && p->in_entry)
	{
		p->in_entry = false;
		if (p->nentries == p->cap)
		{
			p->cap = p->cap ? p->cap * 2 : 16;
			p->entries = p->entries ?
				repalloc(p->entries, p->cap * sizeof(char **)) :
				palloc(p->cap * sizeof(char **));
		}
		p->entries[p->nentries++] = p->cur;
	}
	else
		nested_end(p);
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
list_array_start(void *state)
{
	ListParse  *p = (ListParse *) state;

	if (p->depth == 1 && p->root_key != NULL && strcmp(p->root_key, p->list_key) == 0)
		p->in_list = true;
	else
		nested_begin(p);
	p->depth++;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
list_array_end(void *state)
{
	ListParse  *p = (ListParse *) state;

	p->depth--;
	if (p->depth == 1 && p->in_list)
		p->in_list = false;
	else
		nested_end(p);
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
list_field_start(void *state, char *fname, bool isnull)
{
	ListParse  *p = (ListParse *) state;

	if (p->depth == 1)
		p->root_key = fname;
	else if (p->depth == 3 && p->in_entry)
	{
		p->field = -1;
		for (int i = 0; i < p->nkeys; i++)
			if (strcmp(fname, p->keys[i]) == 0)
				p->field = i;
	}
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
list_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ListParse  *p = (ListParse *) state;

	if (p->depth == 1 && p->root_key != NULL && strcmp(p->root_key, "format") == 0)
		p->format = token;
	else if (p->depth == 3 && p->in_entry && p->field >= 0 && tokentype != JSON_TOKEN_NULL)
		p->cur[p->field] = token;
	else if (p->nested_field >= 0 && tokentype == JSON_TOKEN_NUMBER)
	{
		/* keep jsonb_in() away from numbers it could refuse */
		if (strlen(token) > 30 || strpbrk(token, "eE") != NULL)
			p->nested_bad = true;
	}
	RVX_JSON_CB_RETURN;
}

/*
 * Reads <spool>/<file> and returns the number of entries of its list
 * list_key; (*entries)[i][k] is the text of field keys[k] of entry i, NULL
 * when absent or null.  0 when the file is missing or not of format 1.
 */
static int
read_list(const char *spool_dir, const char *file, const char *list_key,
		  const char *const *keys, int nkeys, char ****entries)
{
	char		path[MAXPGPATH];
	char	   *text;
	size_t		len;
	ListParse	state;
	JsonSemAction sem;

	*entries = NULL;
	if (spool_dir == NULL || spool_dir[0] == '\0')
		return 0;

	snprintf(path, MAXPGPATH, "%s/%s", spool_dir, file);
	text = revrx_read_small_file(path, REVRX_CATALOG_FILE_MAX, &len);
	if (text == NULL)
	{
		if (errno != ENOENT && errno != ENOTDIR)
			ereport(DEBUG1,
					(errmsg_internal("revrx could not read \"%s\": %m", path)));
		return 0;
	}
	if (!revrx_json_precheck(text, len))
		return 0;

	memset(&state, 0, sizeof(state));
	state.list_key = list_key;
	state.keys = keys;
	state.nkeys = nkeys;
	state.field = -1;
	state.nested_field = -1;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = list_object_start;
	sem.object_end = list_object_end;
	sem.array_start = list_array_start;
	sem.array_end = list_array_end;
	sem.object_field_start = list_field_start;
	sem.scalar = list_scalar;

	state.lex = rvx_json_lexer_new(text, (int) len);
	if (pg_parse_json(state.lex, &sem) != JSON_SUCCESS ||
		!state.root_is_object || state.format == NULL ||
		strcmp(state.format, "1") != 0)
	{
		ereport(DEBUG1,
				(errmsg_internal("revrx ignores \"%s\": not a list of format 1", path)));
		return 0;
	}
	*entries = state.entries;
	return state.nentries;
}

/* ------------------------------------------------------------ backups */

enum
{
	B_ID, B_LABEL, B_KIND, B_SCHEDULED, B_START_LSN, B_STOP_LSN, B_START_TIME,
	B_STOP_TIME, B_ORIGINAL, B_STORED, B_FILES, B_PROBLEMS, B_TIMELINE, B_PARENT, B_PINNED,
	B_PG_MAJOR, B_PG_VERSION_NUM, B_NOT_INCLUDED,
	B_NKEYS
};

static const char *const backup_keys[B_NKEYS] = {
	"id", "label", "kind", "scheduled", "start_lsn", "stop_lsn", "start_time",
	"stop_time", "original_bytes", "stored_bytes", "file_count", "problems", "timeline", "parent",
	"pinned", "pg_major", "pg_version_num", "not_included"
};

static bool
parse_lsn(const char *s, XLogRecPtr *lsn)
{
	bool		bad = false;

	if (s == NULL)
		return false;
	*lsn = pg_lsn_in_internal(s, &bad);
	return !bad;
}

int
revrx_catalog_read(const char *spool_dir, RevrxCatalogEntry **entries)
{
	char	 ***raw;
	int			n = read_list(spool_dir, RVX_SPOOL_BACKUPS_FILE, "backups",
							  backup_keys, B_NKEYS, &raw);
	int			out = 0;

	*entries = n > 0 ? palloc0(n * sizeof(RevrxCatalogEntry)) : NULL;
	for (int i = 0; i < n; i++)
	{
		char	  **v = raw[i];
		RevrxCatalogEntry *e = &(*entries)[out];

		if (v[B_ID] == NULL || !revrx_backup_id_valid(v[B_ID]))
			continue;
		e->id = v[B_ID];
		e->label = v[B_LABEL];
		e->kind = v[B_KIND];
		e->has_scheduled = v[B_SCHEDULED] != NULL &&
			(strcmp(v[B_SCHEDULED], "true") == 0 || strcmp(v[B_SCHEDULED], "false") == 0);
		e->scheduled = e->has_scheduled && v[B_SCHEDULED][0] == 't';
		e->has_start_lsn = parse_lsn(v[B_START_LSN], &e->start_lsn);
		e->has_stop_lsn = parse_lsn(v[B_STOP_LSN], &e->stop_lsn);
		e->has_start_time = v[B_START_TIME] && parse_utc_time(v[B_START_TIME], &e->start_time);
		e->has_stop_time = v[B_STOP_TIME] && parse_utc_time(v[B_STOP_TIME], &e->stop_time);
		e->has_original_bytes = v[B_ORIGINAL] && parse_int64(v[B_ORIGINAL], &e->original_bytes);
		e->has_stored_bytes = v[B_STORED] && parse_int64(v[B_STORED], &e->stored_bytes);
		e->has_file_count = v[B_FILES] && parse_int64(v[B_FILES], &e->file_count);
		e->problems = (v[B_PROBLEMS] && v[B_PROBLEMS][0] == '[') ? v[B_PROBLEMS] : NULL;
		e->not_included = (v[B_NOT_INCLUDED] && v[B_NOT_INCLUDED][0] == '[') ?
			v[B_NOT_INCLUDED] : NULL;
		{
			int64		tli;

			e->timeline = (v[B_TIMELINE] && parse_int64(v[B_TIMELINE], &tli) && tli > 0 &&
						   tli <= PG_UINT32_MAX) ? (TimeLineID) tli : 0;
		}
		e->parent = (v[B_PARENT] && revrx_backup_id_valid(v[B_PARENT])) ? v[B_PARENT] : NULL;
		e->has_pinned = v[B_PINNED] != NULL &&
			(strcmp(v[B_PINNED], "true") == 0 || strcmp(v[B_PINNED], "false") == 0);
		e->pinned = e->has_pinned && v[B_PINNED][0] == 't';
		{
			int64		major;
			int64		num;

			/* records written before pg_major have the build's version number */
			if (v[B_PG_MAJOR] && parse_int64(v[B_PG_MAJOR], &major) && major > 0 && major < 1000)
				e->pg_major = (int) major;
			else if (v[B_PG_VERSION_NUM] && parse_int64(v[B_PG_VERSION_NUM], &num) &&
					 num >= 100000 && num < 10000000)
				e->pg_major = (int) (num / 10000);
		}
		out++;
	}
	return out;
}

/* ------------------------------------------------------ verifications */

enum
{
	V_BACKUP, V_STARTED, V_FINISHED, V_PASSED, V_RECOVERY, V_TOTAL, V_FAILED,
	V_REPORT, V_NKEYS
};

static const char *const verification_keys[V_NKEYS] = {
	"backup_id", "started_at", "finished_at", "passed", "recovery_seconds",
	"total_seconds", "failed_checks", "report_key"
};

static bool
parse_seconds(const char *s, double *result)
{
	char	   *end;

	if (s == NULL)
		return false;
	errno = 0;
	*result = strtod(s, &end);
	return end != s && *end == '\0' && errno == 0 && *result >= 0 && *result < 1e9;
}

int
revrx_verifications_read(const char *spool_dir, RevrxVerification **entries)
{
	char	 ***raw;
	int			n = read_list(spool_dir, RVX_SPOOL_VERIFICATIONS_FILE, "verifications",
							  verification_keys, V_NKEYS, &raw);
	int			out = 0;

	*entries = n > 0 ? palloc0(n * sizeof(RevrxVerification)) : NULL;
	for (int i = 0; i < n; i++)
	{
		char	  **v = raw[i];
		RevrxVerification *e = &(*entries)[out];

		if (v[V_BACKUP] == NULL || !revrx_backup_id_valid(v[V_BACKUP]) ||
			v[V_PASSED] == NULL ||
			(strcmp(v[V_PASSED], "true") != 0 && strcmp(v[V_PASSED], "false") != 0))
			continue;
		e->backup_id = v[V_BACKUP];
		e->passed = v[V_PASSED][0] == 't';
		e->has_started_at = v[V_STARTED] && parse_utc_time(v[V_STARTED], &e->started_at);
		e->has_finished_at = v[V_FINISHED] && parse_utc_time(v[V_FINISHED], &e->finished_at);
		e->has_recovery_seconds = parse_seconds(v[V_RECOVERY], &e->recovery_seconds);
		e->has_total_seconds = parse_seconds(v[V_TOTAL], &e->total_seconds);
		e->failed_checks = (v[V_FAILED] && v[V_FAILED][0] == '[') ? v[V_FAILED] : NULL;
		e->report_key = v[V_REPORT];
		out++;
	}
	return out;
}
