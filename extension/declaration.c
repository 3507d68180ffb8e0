/*-------------------------------------------------------------------------
 *
 * declaration.c
 *	  Refuses a call made through an SQL declaration the module does not
 *	  serve: one left behind by an older version of the extension.
 *
 * The server module (revrx.so) and the extension's SQL objects are
 * upgraded separately: installing a new build replaces the module at once,
 * while each database keeps the functions its CREATE EXTENSION or last
 * ALTER EXTENSION UPDATE declared (sql/revrx--<version>.sql).  A C function
 * called through an older declaration would read arguments that are not
 * there or form rows the declared type does not have, so every function
 * whose shape ever changed compares, on each call, the declaration it was
 * called through (the number of arguments, and the result columns with
 * their types, which fmgr and funcapi hand it anyway) with what its C code
 * needs, and refuses a mismatch with ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
 * and the hint to update the extension.
 *
 * Why the shape and not pg_extension.extversion: the shape is what can go
 * wrong, it costs nothing to look at (no catalog lookup, no per-backend
 * cache to invalidate), and it holds for a declaration of any history,
 * including the in-place changes of 0.1 before versions were kept
 * (docs/configuration.md, "Upgrades").  Functions whose declaration did
 * not change keep working in a database that has not been updated yet.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/regproc.h"

#include "declaration.h"

void
revrx_check_declaration(FunctionCallInfo fcinfo, int nargs, TupleDesc tupdesc,
						const Oid *types, int ncols)
{
	const char *fname;
	bool		args_ok = PG_NARGS() == nargs;
	bool		cols_ok = true;

	if (tupdesc != NULL)
	{
		cols_ok = tupdesc->natts == ncols;
		for (int i = 0; cols_ok && i < ncols; i++)
			cols_ok = TupleDescAttr(tupdesc, i)->atttypid == types[i];
	}
	if (args_ok && cols_ok)
		return;

	fname = format_procedure(fcinfo->flinfo->fn_oid);
	if (!args_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("function %s is declared by an older version of extension \"revrx\"",
						fname),
				 errdetail("The declaration has %d arguments; revrx module %s takes %d.",
						   PG_NARGS(), REVRX_SQL_VERSION, nargs),
				 errhint("Run ALTER EXTENSION revrx UPDATE.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("function %s is declared by an older version of extension \"revrx\"",
					fname),
			 tupdesc->natts != ncols ?
			 errdetail("The declaration returns %d columns; revrx module %s returns %d.",
					   tupdesc->natts, REVRX_SQL_VERSION, ncols) :
			 errdetail("The declaration's result columns have other types than revrx module %s returns.",
					   REVRX_SQL_VERSION),
			 errhint("Run ALTER EXTENSION revrx UPDATE.")));
}
