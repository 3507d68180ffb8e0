/*-------------------------------------------------------------------------
 *
 * restore_point.h
 *	  Named restore points recorded for the repository (restore_point.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_RESTORE_POINT_H
#define REVRX_RESTORE_POINT_H

#include "access/xlogdefs.h"

/* Writes a restore point, and with record its record for the repository. */
extern XLogRecPtr revrx_restore_point_create(const char *name, bool record);

#endif							/* REVRX_RESTORE_POINT_H */
