/*-------------------------------------------------------------------------
 *
 * spool_meta.h
 *	  Documents for the repository, through the spool (spool_meta.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_SPOOL_META_H
#define REVRX_SPOOL_META_H

#include <stddef.h>

/*
 * Writes text durably as the object meta/<key>.rvx, which revrx-agent
 * stores under key; exists says whether one is still waiting there, or
 * was refused (meta/<key>.error).
 */
extern void revrx_meta_write(const char *key, const char *text, size_t len);
extern bool revrx_meta_exists(const char *key);

#endif							/* REVRX_SPOOL_META_H */
