/*-------------------------------------------------------------------------
 *
 * verify_int.h
 *	  What the modules of the restore drill share: the state of one drill
 *	  (verify.c owns it) and the checks (verify_checks.c).  Not for other
 *	  callers: they use verify.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_VERIFY_INT_H
#define RVX_AGENT_VERIFY_INT_H

#include <jansson.h>

#include "info/catalog.h"
#include "verify/pginstance.h"
#include "info/repo_meta.h"
#include "verify/verify.h"

/* Lines of a tool's output, or of the server log, quoted in the report. */
#define QUOTED_LINES		20

typedef struct Drill
{
	const RvxConfig *cfg;
	const RvxVerifyOptions *opts;
	RvxRepo    *repo;
	RvxClusterInfo ci;
	char		backup_id[RVX_BACKUP_ID_MAXLEN + 1];
	char		record_key[RVX_BACKUP_ID_MAXLEN + 64];	/* its backup.json, if chosen here */

	char		scratch[PATH_MAX];
	bool		scratch_created;	/* we made the directory itself */
	char		pgdata[PATH_MAX];
	char		own_sockdir[PATH_MAX];	/* a socket directory outside scratch, or "" */
	RvxPgInstance pg;
	bool		pg_started;

	json_t	   *fingerprints;	/* the backup's, or NULL */
	json_t	   *record;			/* its backup.json once read (verify_backup_record) */
	char		fp_skip_reason[256];
	char		drill_db[128];
	char		target_desc[512];
	bool		data_checksums;
	bool		server_ok;		/* recovered and accepting queries */

	json_t	   *report;
	json_t	   *checks;			/* borrowed from report */
	json_t	   *phases;			/* borrowed from report */
} Drill;


/* Trims trailing newlines in place; returns s. */
extern char *verify_chomp(char *s);

/*
 * Appends a check to the report and logs it; details (may be NULL) is
 * stolen.  Returns the check (borrowed).
 */
extern json_t *verify_add_check(Drill *d, const char *name, bool passed, bool skipped,
								double seconds, const char *message, json_t *details);

/*
 * Runs a PostgreSQL program with its output in <scratch>/<logname>
 * (path in logpath); returns its exit code, or -1 with msg filled.
 */
extern int	verify_run_tool(Drill *d, const char *const *argv, const char *logname,
							char *logpath, size_t cap, char *msg, size_t msgcap);

/* A check that is one program: passed when it exits 0, else its output. */
extern bool verify_tool_check(Drill *d, const char *name, const char *const *argv,
							  const char *what_ok);

/* The names of DIR/sql/NAME.sql, sorted, NULL-terminated, malloc'd; *n of them. */
extern char **verify_list_user_checks(const char *dir, int *n);

/* The checks, in the order the drill runs them (while the server runs)... */
extern void verify_check_hook(Drill *d);
extern void verify_check_fingerprints(Drill *d);
extern void verify_check_amcheck(Drill *d);
extern void verify_check_row_counts(Drill *d);
extern void verify_check_not_included(Drill *d);
extern const json_t *verify_backup_record(Drill *d, RvxError *err);
extern void verify_check_user(Drill *d);
/* ...and once it is cleanly stopped. */
extern void verify_check_checksums(Drill *d);

#endif							/* RVX_AGENT_VERIFY_INT_H */
