/*-------------------------------------------------------------------------
 *
 * strbuf.c
 *	  A growable NUL-terminated string (see strbuf.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

void
rvx_strbuf_putn(RvxStrBuf *b, const char *s, size_t n)
{
	if (b->broken)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL)
		{
			b->broken = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
rvx_strbuf_puts(RvxStrBuf *b, const char *s)
{
	rvx_strbuf_putn(b, s, strlen(s));
}

void
rvx_strbuf_putc(RvxStrBuf *b, char c)
{
	rvx_strbuf_putn(b, &c, 1);
}

char *
rvx_strbuf_finish(RvxStrBuf *b)
{
	if (b->broken)
	{
		free(b->data);
		return NULL;
	}
	if (b->data == NULL)
		return strdup("");
	return b->data;
}
