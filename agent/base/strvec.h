/*-------------------------------------------------------------------------
 *
 * strvec.h
 *	  A growable array of malloc'd strings, for keys collected from a
 *	  repository listing before acting on them (expire.c, audit.c): acting
 *	  while listing would nest requests inside the listing's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_STRVEC_H
#define RVX_AGENT_STRVEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct RvxStrVec
{
	char	  **s;
	size_t		n;
	size_t		cap;
} RvxStrVec;

/* Appends a copy of s; -1 if out of memory. */
extern int	rvx_strvec_add(RvxStrVec *v, const char *s);
/* Frees every string and the array; v is empty again. */
extern void rvx_strvec_free(RvxStrVec *v);
/* An RvxListFn (repo.h) that appends every key to the RvxStrVec arg. */
extern int	rvx_strvec_collect_key(void *arg, const char *key, uint64_t size);

#endif							/* RVX_AGENT_STRVEC_H */
