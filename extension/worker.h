/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The backup worker (worker.c), and what every revrx background worker
 *	  shares: registering it, and logging an error it caught.
 *
 * Workers are registered only while preloading (from _PG_init).  A worker
 * that catches an ERROR in its loop recovers with
 * revrx_recover_caught_error() (error state flushed, transient files
 * closed, no wait event), undoes its own state, then logs the error with
 * revrx_log_caught_error(), which logs a repeated message once a minute
 * only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_WORKER_H
#define REVRX_WORKER_H

#include "pgtime.h"
#include "postmaster/bgworker.h"
#include "utils/elog.h"

extern void revrx_worker_register(void);
extern PGDLLEXPORT void revrx_worker_main(Datum main_arg);

/* Registers a revrx background worker (while preloading). */
extern void revrx_register_worker(const char *function, const char *name, const char *type,
								  int flags, int restart_secs, Datum main_arg);

/* The last error a worker logged, to log a repeated one once a minute. */
typedef struct RevrxErrorRepeat
{
	char	   *message;
	pg_time_t	at;
} RevrxErrorRepeat;

/* In a PG_CATCH block: the error, copied into context; see the file header. */
extern ErrorData *revrx_recover_caught_error(MemoryContext context);

extern void revrx_log_caught_error(RevrxErrorRepeat *r, const char *who, const char *what,
								   const ErrorData *edata);

#endif							/* REVRX_WORKER_H */
