/*-------------------------------------------------------------------------
 *
 * spool_read.c
 *	  Reading the small files revrx-agent writes into the spool.
 *
 * These helpers never throw (except out of memory), because a missing,
 * torn or foreign file is something to report, not a reason to fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb/pg_wchar.h"
#include "storage/fd.h"

#include "archive_compat.h"
#include "spool_read.h"

/* ----------------------------------------------------- spool file helpers */

char *
revrx_read_small_file(const char *path, size_t maxlen, size_t *len)
{
	int			fd;
	struct stat st;
	char	   *buf;
	size_t		have = 0;
	int			save_errno;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode))
	{
		errno = EISDIR;
		goto fail;
	}
	if ((size_t) st.st_size > maxlen)
	{
		errno = EFBIG;
		goto fail;
	}

	/* One byte more than expected, to notice a file that grew. */
	buf = palloc(st.st_size + 2);
	for (;;)
	{
		ssize_t		n = read(fd, buf + have, st.st_size + 1 - have);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		have += n;
		if (have > (size_t) st.st_size)
		{
			errno = EFBIG;
			goto fail;
		}
	}
	CloseTransientFile(fd);
	buf[have] = '\0';
	if (len)
		*len = have;
	return buf;

fail:
	save_errno = errno;
	CloseTransientFile(fd);
	errno = save_errno;
	return NULL;
}

/*
 * What the parser could throw on, ruled out before it runs:
 *	- deep nesting (the parser recurses and checks the stack depth);
 *	- \u escapes the database encoding cannot hold (pg_unicode_to_server);
 *	- bytes invalid in the database encoding, which must not reach SQL.
 * The agent writes UTF-8; in a database that is not UTF-8 its non-ASCII
 * text is shown as '?' rather than making the whole file unusable.
 * Returns false if the text cannot be a JSON object we accept.
 */
#define REVRX_JSON_MAX_DEPTH	16

bool
revrx_json_precheck(char *text, size_t len)
{
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	bool		in_string = false;
	int			depth = 0;

	if (strlen(text) != len)
		return false;			/* embedded NUL */
	if (utf8 && !pg_verifymbstr(text, (int) len, true))
		return false;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (c >= 0x80)
		{
			if (!utf8)
				text[i] = '?';
			continue;
		}
		if (in_string)
		{
			if (c == '"')
				in_string = false;
			else if (c == '\\' && i + 1 < len)
			{
				if (!utf8 && text[i + 1] == 'u' && i + 5 < len)
				{
					char		hex[5];
					char	   *end;
					long		cp;

					memcpy(hex, text + i + 2, 4);
					hex[4] = '\0';
					cp = strtol(hex, &end, 16);
					if (end == hex + 4 && cp > 0x7f)
						text[i] = '?';	/* "?uXXXX": plain characters */
				}
				i++;			/* skip the escaped character */
			}
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > REVRX_JSON_MAX_DEPTH)
				return false;
		}
		else if (c == '}' || c == ']')
			depth--;
	}
	return true;
}

typedef struct FlatJsonState
{
	const char *const *keys;
	int			nkeys;
	char	  **values;
	int			depth;
	int			current;		/* index of the top-level key being read */
	bool		is_object;
} FlatJsonState;

static RvxJsonCbResult
flat_object_start(void *state)
{
	FlatJsonState *s = (FlatJsonState *) state;

	if (s->depth == 0)
		s->is_object = true;
	s->depth++;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
flat_struct_end(void *state)
{
	FlatJsonState *s = (FlatJsonState *) state;

	s->depth--;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
flat_array_start(void *state)
{
	FlatJsonState *s = (FlatJsonState *) state;

	s->depth++;
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
flat_field_start(void *state, char *fname, bool isnull)
{
	FlatJsonState *s = (FlatJsonState *) state;

	if (s->depth == 1)
	{
		s->current = -1;
		for (int i = 0; i < s->nkeys; i++)
		{
			if (strcmp(fname, s->keys[i]) == 0)
			{
				s->current = i;
				/* a repeated key replaces the earlier value */
				s->values[i] = NULL;
				break;
			}
		}
	}
	RVX_JSON_CB_RETURN;
}

static RvxJsonCbResult
flat_scalar(void *state, char *token, JsonTokenType tokentype)
{
	FlatJsonState *s = (FlatJsonState *) state;

	if (s->depth == 1 && s->current >= 0 && tokentype != JSON_TOKEN_NULL)
		s->values[s->current] = token;
	RVX_JSON_CB_RETURN;
}

bool
revrx_json_read_flat(char *text, size_t len, const char *const *keys,
					 int nkeys, char **values)
{
	FlatJsonState state;
	JsonSemAction sem;
	JsonLexContext *lex;

	for (int i = 0; i < nkeys; i++)
		values[i] = NULL;

	if (len > REVRX_STATUS_FILE_MAX || !revrx_json_precheck(text, len))
		return false;

	memset(&state, 0, sizeof(state));
	state.keys = keys;
	state.nkeys = nkeys;
	state.values = values;
	state.current = -1;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = flat_object_start;
	sem.object_end = flat_struct_end;
	sem.array_start = flat_array_start;
	sem.array_end = flat_struct_end;
	sem.object_field_start = flat_field_start;
	sem.scalar = flat_scalar;

	lex = rvx_json_lexer_new(text, (int) len);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || !state.is_object)
	{
		for (int i = 0; i < nkeys; i++)
			values[i] = NULL;
		return false;
	}
	return true;
}

bool
revrx_epoch_to_timestamptz(const char *number, TimestampTz *result)
{
	char	   *end;
	double		secs;
	double		usecs;

	if (number == NULL)
		return false;
	errno = 0;
	secs = strtod(number, &end);
	if (end == number || *end != '\0' || errno != 0 || isnan(secs) || isinf(secs))
		return false;

	usecs = (secs - (double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
		* USECS_PER_SEC;
	if (!(usecs >= (double) MIN_TIMESTAMP && usecs < (double) END_TIMESTAMP))
		return false;
	*result = (TimestampTz) rint(usecs);
	return true;
}

void
revrx_text_sanitize(char *s)
{
	if (pg_verifymbstr(s, (int) strlen(s), true))
		return;
	for (; *s; s++)
	{
		if ((unsigned char) *s >= 0x80)
			*s = '?';
	}
}
