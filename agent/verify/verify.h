/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  The restore drill: prove that a backup restores, recovers and holds
 *	  sound data, and measure how long that takes (the engine of
 *	  `revrx-agent verify`; cmd_verify.c is its command line,
 *	  docs/verification.md the user's description).
 *
 * In order, each phase timed:
 *	1. restore the backup into a fresh scratch directory (restore.h);
 *	2. pg_verifybackup against the backup_manifest restore wrote;
 *	3. start a private PostgreSQL on it (pginstance.h) that recovers from
 *	   the repository to the drill's target, and wait for the promotion;
 *	4. checks: the backup's fingerprints, pg_amcheck, row counts, the
 *	   user's pg_regress checks; then a clean shutdown and pg_checksums.
 * A failing phase is recorded and the drill goes on with whatever can
 * still be checked, so one run reports every problem it can find.
 *
 * The report (a JSON document, format in docs/verification.md) is stored
 * in the repository next to the backup, under
 * backup/<id>/verify/<YYYYMMDDTHHMMSSZ>.json[.zst], as an object like any
 * other; `revrx-agent run` publishes the latest ones for the server
 * (catalog.h).
 *
 * What a caller can rely on: the drill server never archives, never runs
 * the revrx module (its spool setting names production's spool) and
 * listens on nothing but a private socket; it is stopped, and the scratch
 * directory removed (unless keep), before rvx_verify returns, also after a
 * failure or an interrupt (rvx_interrupt_request(), error.h: also while
 * the backup is being restored).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_VERIFY_H
#define RVX_AGENT_VERIFY_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "config/config.h"
#include "restore/target.h"

#define RVX_VERIFY_REPORT_FORMAT	1
/* Reports are stored as backup/<id>/verify/<stamp>.json + suffix */
#define RVX_VERIFY_DIR			"verify"
/* backup/<id>/fingerprints.json + suffix, written by the server */
#define RVX_FINGERPRINTS_OBJECT	"fingerprints.json"


typedef struct RvxVerifyOptions
{
	const char *backup_id;		/* NULL or "latest": the newest complete one */
	RvxRecoveryTarget target;	/* as restore takes it; none: the drill's own default
								 * (the fingerprints' restore point, else the end of
								 * the backup); always promoted */
	const char *checks_dir;		/* NULL: no user checks; else DIR/sql, DIR/expected */
	const char *report_file;	/* NULL: none */
	const char *scratch;		/* NULL: a new directory under $TMPDIR */
	bool		keep;			/* keep the scratch directory */
	int			parallel;		/* restore transfers */
	int			recovery_timeout_s; /* give up waiting for recovery after this */
	const char *pg_bindir;		/* PostgreSQL's programs; NULL: pg_config --bindir */
} RvxVerifyOptions;

/*
 * Runs the drill.  Returns 0 when it ran to the end, passed or not
 * (*report, a new reference, says which in "passed"); -1 when it could not
 * run at all (no such backup, no PostgreSQL programs, bad options...),
 * with err filled and *report NULL.
 */
extern int	rvx_verify(const RvxConfig *cfg, const RvxVerifyOptions *opts, json_t **report,
					   RvxError *err);

/* The readable summary of a report. */
extern void rvx_verify_print_summary(FILE *out, const json_t *report);

/* The exit code of a finished drill: 0 when it passed (see cmd_verify.c). */
extern int	rvx_verify_exit_code(const json_t *report);

#endif							/* RVX_AGENT_VERIFY_H */
