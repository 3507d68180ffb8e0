/*-------------------------------------------------------------------------
 *
 * repo_open.c
 *	  Opening the configured repository, for the commands (commands.h).
 *
 *-------------------------------------------------------------------------
 */
#include "base/log.h"
#include "command/commands.h"

RvxRepo *
rvx_command_open_repo(const RvxConfig *cfg, int *exit_code)
{
	RvxError	err;
	RvxRepo    *repo = rvx_repo_open(&cfg->repo, &err);

	if (repo == NULL)
	{
		rvx_err("%s", err.msg);
		*exit_code = err.code;
	}
	return repo;
}
