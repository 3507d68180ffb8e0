/*-------------------------------------------------------------------------
 *
 * commands.h
 *	  Entry points of revrx-agent's commands, called by main.c with the
 *	  command's own arguments (argv[0] is the command name) and the loaded
 *	  configuration.  Each returns the process exit code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_COMMANDS_H
#define RVX_AGENT_COMMANDS_H

#include "config/config.h"

extern int	rvx_cmd_run(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_wal_fetch(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_list(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_restore(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_verify(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_expire(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_pin(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_unpin(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_audit(int argc, char **argv, RvxConfig *cfg);

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

/*
 * Opens the configured repository; on failure logs why and sets *exit_code
 * (the error's code) for the command to return.
 */
extern RvxRepo *rvx_command_open_repo(const RvxConfig *cfg, int *exit_code);

/* The options of restore, verify, expire and audit, for `revrx-agent COMMAND --help`. */
extern const char rvx_restore_options[];
extern const char rvx_verify_options[];
extern const char rvx_expire_options[];
extern const char rvx_audit_options[];

#endif							/* RVX_AGENT_COMMANDS_H */
