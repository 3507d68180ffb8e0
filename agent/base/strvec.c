/*-------------------------------------------------------------------------
 *
 * strvec.c
 *	  A growable array of strings (see strvec.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "base/strvec.h"

int
rvx_strvec_add(RvxStrVec *v, const char *s)
{
	if (v->n == v->cap)
	{
		size_t		cap = v->cap ? v->cap * 2 : 64;
		char	  **n = realloc(v->s, cap * sizeof(char *));

		if (n == NULL)
			return -1;
		v->s = n;
		v->cap = cap;
	}
	if ((v->s[v->n] = strdup(s)) == NULL)
		return -1;
	v->n++;
	return 0;
}

void
rvx_strvec_free(RvxStrVec *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->s[i]);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

int
rvx_strvec_collect_key(void *arg, const char *key, uint64_t size)
{
	return rvx_strvec_add(arg, key);
}
