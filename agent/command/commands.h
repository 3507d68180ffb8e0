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

#include "base/options.h"		/* every command's option loop */
#include "config/config.h"

extern int	rvx_cmd_run(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_wal_fetch(int argc, char **argv, RvxConfig *cfg);

/*
 * The exit status of a wal-fetch into dest (NULL: not known) that failed
 * with code for another reason than the file not being stored: one that
 * stops PostgreSQL's archive recovery rather than end it there.
 */
extern int	rvx_wal_fetch_failed(const char *dest, int code);
extern int	rvx_cmd_list(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_restore(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_verify(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_expire(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_pin(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_unpin(int argc, char **argv, RvxConfig *cfg);
extern int	rvx_cmd_audit(int argc, char **argv, RvxConfig *cfg);

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
