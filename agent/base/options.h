/*-------------------------------------------------------------------------
 *
 * options.h
 *	  Command-line helpers: reading "--name VALUE" options and refusing
 *	  what a command does not know.  Shared by the commands' option loops
 *	  and by the parts that parse options of their own from argv
 *	  (restore/target.c: the recovery target).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_OPTIONS_H
#define RVX_AGENT_OPTIONS_H

#include <stdbool.h>

/*
 * The value of "--name VALUE" or "--name=VALUE" (or "ALIAS VALUE") at
 * argv[*i], advancing *i past a separate value; NULL if argv[*i] is not the
 * option, or (with *missing set) if its value is missing.  Shared by every
 * command's option loop.
 */
extern const char *rvx_option_value(int argc, char **argv, int *i, const char *name,
									const char *alias, bool *missing);

/*
 * Says on stderr that argv[i] of command is not an option it knows, or
 * (missing) that its value is missing; the caller prints its usage.
 */
extern void rvx_option_refuse(const char *command, const char *arg, bool missing);

#endif							/* RVX_AGENT_OPTIONS_H */
