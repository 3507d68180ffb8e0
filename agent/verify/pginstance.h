/*-------------------------------------------------------------------------
 *
 * pginstance.h
 *	  A throwaway PostgreSQL server on a restored data directory, and the
 *	  PostgreSQL client programs run against it (for `revrx-agent verify`).
 *
 * The server is a direct child of this process (postgres, not pg_ctl), in
 * a process group of its own, so the agent always knows whether it is
 * still alive, can collect its exit status, and alone decides when it
 * stops: a Ctrl-C at the terminal reaches the agent, which then shuts the
 * server down cleanly.  It listens only on a unix socket in a private
 * directory (listen_addresses = ''), with an hba file of our own that
 * trusts local connections: nobody but the owner of that directory can
 * reach the socket.
 *
 * The caller gives the settings that keep the copy from acting like the
 * production server (verify.c has the list and the reasons); they are
 * passed as -c options, which win over postgresql.conf and
 * postgresql.auto.conf, so nothing restored has to be edited.
 *
 * Binaries come from REVRX_PG_BINDIR, else `pg_config --bindir`.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_PGINSTANCE_H
#define RVX_AGENT_PGINSTANCE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "base/error.h"

typedef struct RvxPgInstance
{
	char		bindir[PATH_MAX];	/* PostgreSQL programs */
	char		pgdata[PATH_MAX];
	char		sockdir[PATH_MAX];	/* private unix socket directory */
	char		logfile[PATH_MAX];	/* the server's stderr */
	char		hba_file[PATH_MAX];
	char		user[128];		/* role to connect as */
	int			port;
	pid_t		pid;			/* the postmaster; 0 when not running */
	int			exit_status;	/* wait(2) status once it exited */
} RvxPgInstance;

/*
 * Fills what of pg is independent of the data directory: bindir, user
 * (PGUSER, else the name of the user running this), a free port.  The
 * caller then fills pgdata, sockdir and logfile.
 */
/* bindir: PostgreSQL's programs (REVRX_PG_BINDIR); NULL: pg_config --bindir. */
extern int	rvx_pg_init(RvxPgInstance *pg, const char *bindir, RvxError *err);

/* `pg_config --<what>` of the installation in use, e.g. "pgxs". */
/*
 * The major version in a program's --version line ("postgres (PostgreSQL)
 * 17.2", "... 15.20 (Debian 15.20-0+deb12u1)"): 17, 15; 0 if it has none.
 */
extern int	rvx_pg_version_major(const char *text);

/*
 * Runs "<bindir>/postgres -V": its major version into *major and the line
 * into text.  A program that does not say a version is a setting error.
 */
extern int	rvx_pg_binary_major(const RvxPgInstance *pg, int *major, char *text, size_t cap,
								RvxError *err);

/*
 * The refusal of programs of another major version than a backup's: 0 if
 * binary_major equals backup_major, else RVX_E_PG_VERSION with a message
 * naming both and the bindir.  A data directory of one major cannot be
 * started, checked or replayed by another's programs.
 */
extern int	rvx_pg_major_check(int binary_major, const char *bindir, int backup_major,
							   const char *backup_id, RvxError *err);

extern int	rvx_pg_config(const RvxPgInstance *pg, const char *what, char *out, size_t cap,
						  RvxError *err);

/*
 * Starts postgres on pg->pgdata with settings ("name=value", each a -c)
 * added to the socket, port and hba settings.  Returns once the process
 * runs; use rvx_pg_alive and rvx_pg_connect to follow it.
 */
extern int	rvx_pg_start(RvxPgInstance *pg, const char *const *settings, int nsettings,
						 RvxError *err);

/* Whether the server still runs (reaps it, and records its status, if not). */
extern bool rvx_pg_alive(RvxPgInstance *pg);

/*
 * Fast shutdown (SIGINT), waiting at most timeout_s; then immediate
 * (SIGQUIT), then SIGKILL.  Returns 0 after a clean shutdown, -1 when it
 * had to be forced or the server had died on its own.  Safe to call when
 * it is not running.
 */
extern int	rvx_pg_stop(RvxPgInstance *pg, int timeout_s, RvxError *err);

/* A connection to dbname over the socket; NULL (err filled) on failure. */
extern PGconn *rvx_pg_connect(const RvxPgInstance *pg, const char *dbname, RvxError *err);

/*
 * Runs sql and returns the first column of the first row in *value,
 * malloc'd (NULL for SQL NULL or no row); -1 with err on failure.
 */
extern int	rvx_pg_query_value(PGconn *conn, const char *sql, char **value, RvxError *err);

/* Runs sql that returns no rows (or ignores them). */
extern int	rvx_pg_exec(PGconn *conn, const char *sql, RvxError *err);

/*
 * Runs argv[0] (a program of bindir when it has no '/') with stdout and
 * stderr both appended to outfile, and waits.  *exit_code is its exit
 * code (128 + signal when killed).  -1 only when it could not be run.
 */
extern int	rvx_pg_run_program(const RvxPgInstance *pg, const char *const *argv,
							   const char *outfile, int *exit_code, RvxError *err);

/*
 * The first max_lines lines of a text file (or its lines matching any of
 * the patterns, when patterns is not NULL), malloc'd; "" when unreadable.
 */
extern char *rvx_text_file_head(const char *path, int max_lines, const char *const *patterns);
/* The same for the last max_lines (matching) lines of the file's end. */
extern char *rvx_text_file_tail(const char *path, int max_lines, const char *const *patterns);

#endif							/* RVX_AGENT_PGINSTANCE_H */
