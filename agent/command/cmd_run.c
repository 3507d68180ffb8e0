/*-------------------------------------------------------------------------
 *
 * cmd_run.c
 *	  `revrx-agent run`: the sidecar daemon that ships the spool.
 *
 * Only the command line is here: run takes no argument (its settings are
 * the environment's, config.h).  The daemon itself is daemon/daemon.c.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>

#include "command/commands.h"
#include "daemon/daemon.h"

int
rvx_cmd_run(int argc, char **argv, RvxConfig *cfg)
{
	if (argc > 1)
	{
		fprintf(stderr, "revrx-agent run: unexpected argument \"%s\"\n", argv[1]);
		return RVX_E_USAGE;
	}
	return rvx_daemon_run(cfg);
}
