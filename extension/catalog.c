/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading the repository's backup catalog that revrx-agent publishes
 *	  in the spool as status/backups.json.
 *
 * The file is written by another program, possibly another version of it,
 * and may be missing, half written by a crashed agent or simply wrong.
 * None of that may make revrx_backups() (or choosing a backup id) fail, so
 * this reader never throws except when out of memory: a file that is not
 * exactly what docs/backup-format.md describes yields no entries, and an
 * entry without a usable id is skipped.  Fields the reader does not know
 * are ignored, so the agent can add some.
 *
 *	  {"format": 1, "updated_at": <epoch>, "backups": [ <summary>, ... ]}
 *
 * A summary is the top level of a backup's backup.json without "files" and
 * "directories".  Its scalar fields are read as they are; its "problems"
 * array is kept as JSON text (the exact span of the file) for the SQL
 * function to turn into jsonb.  That text has passed the JSON parser, and
 * numbers in it are limited to plain integers and decimals, so jsonb_in()
 * cannot fail on it.
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
#include "revrx.h"
#include "spool.h"

/* A catalog of a few thousand backups is a few megabytes. */
#define REVRX_CATALOG_FILE_MAX	(64 * 1024 * 1024)

typedef struct CatalogParse
{
	JsonLexContext *lex;
	int			depth;			/* containers open */
	bool		root_is_object;
	char	   *root_key;		/* current key at depth 1 */
	char	   *format;
	bool		in_backups;		/* inside the top-level "backups" array */

	bool		in_entry;		/* inside one summary (depth 3) */
	char	   *entry_key;		/* current key of the summary */
	RevrxCatalogEntry cur;
	bool		cur_bad;

	bool		in_problems;	/* inside the summary's "problems" */
	char	   *problems_start;
	bool		problems_bad;

	RevrxCatalogEntry *entries;
	int			nentries;
	int			cap;
} CatalogParse;

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

static RvxJsonCbResult
cat_object_start(void *state)
{
	CatalogParse *p = (CatalogParse *) state;

	if (p->depth == 0)
		p->root_is_object = true;
	else if (p->depth == 2 && p->in_backups)
	{
		p->in_entry = true;
		p->entry_key = NULL;
		memset(&p->cur, 0, sizeof(RevrxCatalogEntry));
		p->cur_bad = false;
	}
	p->depth++;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
cat_object_end(void *state)
{
	CatalogParse *p = (CatalogParse *) state;

	p->depth--;
	if (p->depth == 2 && p->in_entry)
	{
		p->in_entry = false;
		if (!p->cur_bad && p->cur.id != NULL)
		{
			if (p->nentries == p->cap)
			{
				p->cap = p->cap ? p->cap * 2 : 16;
				p->entries = p->entries ?
					repalloc(p->entries, p->cap * sizeof(RevrxCatalogEntry)) :
					palloc(p->cap * sizeof(RevrxCatalogEntry));
			}
			p->entries[p->nentries++] = p->cur;
		}
	}
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
cat_array_start(void *state)
{
	CatalogParse *p = (CatalogParse *) state;

	if (p->depth == 1 && p->root_key != NULL && strcmp(p->root_key, "backups") == 0)
		p->in_backups = true;
	else if (p->depth == 3 && p->in_entry && p->entry_key != NULL &&
			 strcmp(p->entry_key, "problems") == 0)
	{
		/* the current token is the '[' */
		p->in_problems = true;
		p->problems_start = p->lex->token_start;
		p->problems_bad = false;
	}
	p->depth++;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
cat_array_end(void *state)
{
	CatalogParse *p = (CatalogParse *) state;

	p->depth--;
	if (p->depth == 1 && p->in_backups)
		p->in_backups = false;
	else if (p->depth == 3 && p->in_problems)
	{
		/* the lexer has moved past the ']' */
		p->in_problems = false;
		if (!p->problems_bad && p->lex->prev_token_terminator > p->problems_start)
			p->cur.problems = pnstrdup(p->problems_start,
									   p->lex->prev_token_terminator - p->problems_start);
	}
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
cat_field_start(void *state, char *fname, bool isnull)
{
	CatalogParse *p = (CatalogParse *) state;

	if (p->depth == 1)
		p->root_key = fname;
	else if (p->depth == 3 && p->in_entry)
		p->entry_key = fname;
	RVX_JSON_CB_RETURN;
}

static void
cat_entry_scalar(CatalogParse *p, const char *key, char *token,
				 JsonTokenType type)
{
	RevrxCatalogEntry *e = &p->cur;
	bool		bad = false;

	if (strcmp(key, "id") == 0)
	{
		if (type == JSON_TOKEN_STRING && revrx_backup_id_valid(token))
			e->id = token;
		else
			p->cur_bad = true;
	}
	else if (strcmp(key, "label") == 0)
		e->label = (type == JSON_TOKEN_STRING) ? token : NULL;
	else if (strcmp(key, "kind") == 0)
		e->kind = (type == JSON_TOKEN_STRING) ? token : NULL;
	else if (strcmp(key, "scheduled") == 0)
	{
		e->has_scheduled = (type == JSON_TOKEN_TRUE || type == JSON_TOKEN_FALSE);
		e->scheduled = (type == JSON_TOKEN_TRUE);
	}
	else if (strcmp(key, "start_lsn") == 0 || strcmp(key, "stop_lsn") == 0)
	{
		XLogRecPtr	lsn = InvalidXLogRecPtr;
		bool		ok = false;

		if (type == JSON_TOKEN_STRING)
		{
			lsn = pg_lsn_in_internal(token, &bad);
			ok = !bad;
		}
		if (key[1] == 't' && key[2] == 'a')
		{
			e->has_start_lsn = ok;
			e->start_lsn = lsn;
		}
		else
		{
			e->has_stop_lsn = ok;
			e->stop_lsn = lsn;
		}
	}
	else if (strcmp(key, "start_time") == 0)
		e->has_start_time = (type == JSON_TOKEN_STRING &&
							 parse_utc_time(token, &e->start_time));
	else if (strcmp(key, "stop_time") == 0)
		e->has_stop_time = (type == JSON_TOKEN_STRING &&
							parse_utc_time(token, &e->stop_time));
	else if (strcmp(key, "original_bytes") == 0)
		e->has_original_bytes = (type == JSON_TOKEN_NUMBER &&
								 parse_int64(token, &e->original_bytes));
	else if (strcmp(key, "stored_bytes") == 0)
		e->has_stored_bytes = (type == JSON_TOKEN_NUMBER &&
							   parse_int64(token, &e->stored_bytes));
	else if (strcmp(key, "file_count") == 0)
		e->has_file_count = (type == JSON_TOKEN_NUMBER &&
							 parse_int64(token, &e->file_count));
}

static RvxJsonCbResult
cat_scalar(void *state, char *token, JsonTokenType tokentype)
{
	CatalogParse *p = (CatalogParse *) state;

	if (p->depth == 1 && p->root_key != NULL && strcmp(p->root_key, "format") == 0)
		p->format = token;
	else if (p->depth == 3 && p->in_entry && p->entry_key != NULL)
		cat_entry_scalar(p, p->entry_key, token, tokentype);
	else if (p->in_problems && tokentype == JSON_TOKEN_NUMBER)
	{
		/* keep jsonb_in() away from numbers it could refuse */
		if (strlen(token) > 30 || strpbrk(token, "eE") != NULL)
			p->problems_bad = true;
	}
	RVX_JSON_CB_RETURN;
}

int
revrx_catalog_read(const char *spool_dir, RevrxCatalogEntry **entries)
{
	char		path[MAXPGPATH];
	char	   *text;
	size_t		len;
	CatalogParse state;
	JsonSemAction sem;

	*entries = NULL;
	if (spool_dir == NULL || spool_dir[0] == '\0')
		return 0;

	snprintf(path, MAXPGPATH, "%s/%s", spool_dir, RVX_SPOOL_BACKUPS_FILE);
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
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = cat_object_start;
	sem.object_end = cat_object_end;
	sem.array_start = cat_array_start;
	sem.array_end = cat_array_end;
	sem.object_field_start = cat_field_start;
	sem.scalar = cat_scalar;

	state.lex = rvx_json_lexer_new(text, (int) len);
	if (pg_parse_json(state.lex, &sem) != JSON_SUCCESS ||
		!state.root_is_object || state.format == NULL ||
		strcmp(state.format, "1") != 0)
	{
		ereport(DEBUG1,
				(errmsg_internal("revrx ignores \"%s\": not a backup catalog of format 1",
								 path)));
		return 0;
	}

	*entries = state.entries;
	return state.nentries;
}
