/*-------------------------------------------------------------------------
 *
 * manifest_fix.c
 *	  Adds the rebuilt files' digests to backup_manifest (manifest_fix.h).
 *
 * The manifest is PostgreSQL's format as extension/manifest.c writes it:
 * one line per file, and "Manifest-Checksum" last, the SHA-256 of every
 * byte before that key, which pg_verifybackup recomputes over the raw
 * bytes.  So the rewrite works on lines: a file's line is parsed only if it
 * has no checksum (there are few), gets the two keys before its closing
 * brace, and every other byte is copied as it was.  The old checksum is
 * checked first, so a manifest that is not laid out as expected is refused
 * rather than given a checksum over something else.
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "restore/manifest_fix.h"
#include "sha256.h"

#define CHECKSUM_KEY	"\"Manifest-Checksum\": \""
#define FILE_LINE		"{ \"Path\": "
#define LINE_END		" }"

typedef struct Out
{
	char	   *buf;
	size_t		len;
	size_t		cap;
} Out;

static int
put(Out *o, const char *data, size_t len)
{
	if (o->len + len + 1 > o->cap)
	{
		size_t		cap = o->cap * 2 > o->len + len + 1 ? o->cap * 2 : o->len + len + 1;
		char	   *b = realloc(o->buf, cap);

		if (b == NULL)
			return -1;
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	o->buf[o->len] = '\0';
	return 0;
}

/* The index in d of the file a line without a checksum is for; -1 if none. */
static long
line_file(const char *line, size_t len, json_t *index)
{
	json_t	   *j;
	const char *path;
	long		i = -1;

	/* the line is one JSON object, followed by a comma unless it is the last */
	if (len > 0 && line[len - 1] == ',')
		len--;
	j = json_loadb(line, len, 0, NULL);
	if (j == NULL)
		return -1;
	path = json_string_value(json_object_get(j, "Path"));
	if (path != NULL && json_object_get(index, path) != NULL)
		i = (long) json_integer_value(json_object_get(index, path));
	json_decref(j);
	return i;
}

int
rvx_manifest_add_digests(const char *in, size_t len, const RvxManifestDigest *d, size_t n,
						 char **out, size_t *out_len, RvxError *err)
{
	Out			o = {0};
	json_t	   *index = json_object();
	bool	   *done = calloc(n ? n : 1, sizeof(bool));
	const char *sum = NULL;
	uint8_t		digest[RVX_SHA256_LEN];
	char		hex[RVX_SHA256_HEXLEN + 1];
	size_t		ndone = 0;

	*out = NULL;
	*out_len = 0;
	if (index == NULL || done == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		json_object_set_new(index, d[i].path, json_integer((json_int_t) i));

	/* the checksummed part ends where the line of the checksum begins */
	for (const char *p = in; p < in + len;)
	{
		const char *nl = memchr(p, '\n', (size_t) (in + len - p));

		if ((size_t) (in + len - p) >= strlen(CHECKSUM_KEY) &&
			strncmp(p, CHECKSUM_KEY, strlen(CHECKSUM_KEY)) == 0)
		{
			sum = p;
			break;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (sum == NULL || (size_t) (in + len - sum) < strlen(CHECKSUM_KEY) + RVX_SHA256_HEXLEN ||
		rvx_sha256_buf(in, (size_t) (sum - in), digest) != 0)
	{
		rvx_error(err, RVX_E_CORRUPT, "backup_manifest has no \"Manifest-Checksum\" line");
		goto fail;
	}
	rvx_hex_encode(digest, RVX_SHA256_LEN, hex);
	if (strncmp(sum + strlen(CHECKSUM_KEY), hex, RVX_SHA256_HEXLEN) != 0)
	{
		rvx_error(err, RVX_E_CORRUPT, "backup_manifest does not match its own checksum");
		goto fail;
	}

	for (const char *p = in; p < sum;)
	{
		const char *nl = memchr(p, '\n', (size_t) (sum - p));
		size_t		linelen = nl ? (size_t) (nl - p) : (size_t) (sum - p);
		long		i = -1;

		if (linelen > strlen(FILE_LINE) && strncmp(p, FILE_LINE, strlen(FILE_LINE)) == 0 &&
			memmem(p, linelen, "\"Checksum-Algorithm\"", 20) == NULL)
			i = line_file(p, linelen, index);
		if (i >= 0 && !done[i])
		{
			size_t		body = linelen;
			char		keys[128 + RVX_SHA256_HEXLEN];

			if (body > 0 && p[body - 1] == ',')
				body--;
			if (body < strlen(LINE_END) ||
				strncmp(p + body - strlen(LINE_END), LINE_END, strlen(LINE_END)) != 0)
			{
				rvx_error(err, RVX_E_CORRUPT, "backup_manifest's line for \"%s\" does not end in \"%s\"",
						  d[i].path, LINE_END);
				goto fail;
			}
			rvx_hex_encode(d[i].sha256, RVX_SHA256_LEN, hex);
			snprintf(keys, sizeof(keys), ", \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"%s\"",
					 hex);
			if (put(&o, p, body - strlen(LINE_END)) != 0 ||
				put(&o, keys, strlen(keys)) != 0 ||
				put(&o, p + body - strlen(LINE_END), linelen - body + strlen(LINE_END)) != 0)
				goto oom;
			done[i] = true;
			ndone++;
		}
		else if (put(&o, p, linelen) != 0)
			goto oom;
		if (nl != NULL && put(&o, "\n", 1) != 0)
			goto oom;
		p = nl ? nl + 1 : sum;
	}
	if (ndone != n)
	{
		for (size_t i = 0; i < n; i++)
			if (!done[i])
			{
				rvx_error(err, RVX_E_CORRUPT,
						  "backup_manifest has no line without a checksum for \"%s\", rebuilt "
						  "from changed pages", d[i].path);
				break;
			}
		goto fail;
	}

	if (rvx_sha256_buf(o.buf, o.len, digest) != 0)
	{
		rvx_error(err, RVX_E_INTERNAL, "could not compute SHA-256");
		goto fail;
	}
	rvx_hex_encode(digest, RVX_SHA256_LEN, hex);
	if (put(&o, CHECKSUM_KEY, strlen(CHECKSUM_KEY)) != 0 || put(&o, hex, RVX_SHA256_HEXLEN) != 0 ||
		put(&o, sum + strlen(CHECKSUM_KEY) + RVX_SHA256_HEXLEN,
			(size_t) (in + len - sum) - strlen(CHECKSUM_KEY) - RVX_SHA256_HEXLEN) != 0)
		goto oom;
	json_decref(index);
	free(done);
	*out = o.buf;
	*out_len = o.len;
	return 0;

oom:
	rvx_error(err, RVX_E_INTERNAL, "out of memory");
fail:
	json_decref(index);
	free(done);
	free(o.buf);
	return -1;
}
