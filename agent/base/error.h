/*-------------------------------------------------------------------------
 *
 * error.h
 *	  How the agent carries a failure from where it happens to where it is
 *	  reported.
 *
 * A function that can fail takes an RvxError * last and returns -1 (or
 * NULL) after filling it; the caller either handles it or returns -1 in
 * turn, and only the command's top level prints it (main.c) or records it
 * in the spool (ship.c).  The code says what kind of failure it was, which
 * decides both the exit code and whether retrying can help.  Messages
 * follow PostgreSQL's style: lower case, no trailing period, names quoted,
 * and never a secret (see log.h for redaction).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_ERROR_H
#define RVX_AGENT_ERROR_H

#include <stdbool.h>

/* Stable: these are also the agent's exit codes. */
typedef enum RvxErrorCode
{
	RVX_OK = 0,
	RVX_E_NOTFOUND = 1,			/* object or file does not exist */
	RVX_E_USAGE = 2,			/* bad command line */
	RVX_E_CONFIG = 3,			/* bad or missing setting */
	RVX_E_IO = 4,				/* local file system */
	RVX_E_NETWORK = 5,			/* connection, timeout, 5xx, throttling */
	RVX_E_AUTH = 6,				/* credentials refused, access denied */
	RVX_E_CORRUPT = 7,			/* checksum, size or format mismatch */
	RVX_E_CONFLICT = 8,			/* different content under the same name */
	RVX_E_CLUSTER = 9,			/* repository belongs to another cluster */
	RVX_E_PROTOCOL = 10,		/* the repository answered something we cannot use */
	RVX_E_INTERNAL = 11,		/* out of memory, bug */
	RVX_E_PG_VERSION = 12,		/* PostgreSQL programs of another major version */
	RVX_E_AUDIT = 13,			/* the action succeeded, its audit record was not written */
	RVX_E_RUNNING = 14,			/* a PostgreSQL server runs in the data directory */
	RVX_E_FOREIGN_PGDATA = 15,	/* the data directory is another cluster's */
	RVX_E_UNARCHIVED_WAL = 16,	/* restore would delete WAL not archived yet */
} RvxErrorCode;

typedef struct RvxError
{
	RvxErrorCode code;
	char		msg[1024];
} RvxError;

/* Sets err (if not NULL) and returns -1, so callers can `return rvx_error(...)` */
extern int	rvx_error(RvxError *err, RvxErrorCode code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
/* Prefixes context to an existing message: "while X: <old message>" */
extern int	rvx_error_prefix(RvxError *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void rvx_error_clear(RvxError *err);
/* Whether an operation that failed this way may succeed if retried. */
extern bool rvx_error_transient(const RvxError *err);
extern const char *rvx_error_code_name(RvxErrorCode code);

/*
 * A process-wide request to stop, for the commands a signal may end
 * (restore, verify): their handlers call rvx_interrupt_request() (it is
 * async-signal-safe), and long work polls rvx_interrupt_pending(): the
 * restore's transfers between and inside objects, HTTP requests even
 * while the server sends nothing, the drill between its phases.
 */
extern void rvx_interrupt_request(void);
extern bool rvx_interrupt_pending(void);
/* SIGTERM, SIGINT and SIGHUP request the stop (and no longer kill). */
extern void rvx_interrupt_on_signals(void);

#endif							/* RVX_AGENT_ERROR_H */
