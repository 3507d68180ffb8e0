/*-------------------------------------------------------------------------
 *
 * declaration.h
 *	  The version of the module's SQL objects, and the check that a SQL
 *	  function runs through the declaration it was written for
 *	  (declaration.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_DECLARATION_H
#define REVRX_DECLARATION_H

#include "access/tupdesc.h"
#include "fmgr.h"

/*
 * The version of the SQL objects this module serves: revrx.control's
 * default_version.  A function whose declaration in an older version had
 * another shape refuses to run through it (declaration.c); new SQL objects
 * go into a new version with its update script (docs/configuration.md).
 */
#define REVRX_SQL_VERSION "0.2"

extern void revrx_check_declaration(FunctionCallInfo fcinfo, int nargs, TupleDesc tupdesc,
									const Oid *types, int ncols);

#endif							/* REVRX_DECLARATION_H */
