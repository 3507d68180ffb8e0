/*-------------------------------------------------------------------------
 *
 * daemon.h
 *	  The sidecar daemon, `revrx-agent run`: ships the spool to the
 *	  repository until SIGTERM or SIGINT (daemon.c says how).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_DAEMON_H
#define RVX_AGENT_DAEMON_H

#include "config/config.h"

/*
 * Runs the daemon with cfg (the spool and the repository are set) until a
 * stop signal.  Returns 0 after a clean stop, or an exit code of error.h
 * when it cannot start (the status directory, the endpoint, Object Lock).
 */
extern int	rvx_daemon_run(RvxConfig *cfg);

#endif							/* RVX_AGENT_DAEMON_H */
