/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The audit trail: one record in the repository per action that
 *	  creates, reads back or deletes backups (docs/audit.md).
 *
 * Every backup (committed, or failed/aborted), restore, restore drill
 * (verify), expire that deletes, pin and unpin appends a record, and no
 * record is ever rewritten:
 *
 *	- Key: audit/YYYY/MM/DD/<YYYYMMDDTHHMMSS.ffffffZ>-<host>-<pid>-<8 hex>.json
 *	  (UTC).  The timestamp is fixed-width, so lexical order (the order
 *	  every driver lists in) is time order; host, pid and 32 random bits
 *	  make the key unique, and it is stored with RVX_PUT_NO_OVERWRITE.
 *	- Content: a JSON object (format 1) stored like every revrx object
 *	  (common/object.h header, encrypted in an encrypted repository), with
 *	  RVX_PUT_OBJECT_LOCK so that S3 Object Lock keeps it unchangeable when
 *	  REVRX_S3_OBJECT_LOCK_DAYS is set:
 *		{"format":1, "time", "action", "system_identifier" (string or null),
 *		 "backup_id" (or null), "result":"ok"|"failed", "error" (or null),
 *		 "os_user", "host", "pid", "db_role" (or null), "agent_version",
 *		 "details" (an object, per action)}
 *	  db_role is the session user of a SQL-started action
 *	  (revrx_backup_now(): backup.json's "requested_by").
 *	- Retention: expire deletes a record only when it is older than
 *	  REVRX_AUDIT_RETENTION_DAYS (by the time in its key), whatever the
 *	  backup retention says; that deletion is audited by expire's own record.
 *
 * A failure to write a record never changes the action's outcome: the
 * data stays restored, the backup stays stored.  It is logged at error
 * level as "AUDIT FAILURE: ..." (one message, here), and a command that
 * otherwise succeeded exits with RVX_E_AUDIT (13), so that schedulers
 * notice; a command that failed keeps its own exit code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_AUDIT_H
#define RVX_AGENT_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "storage/repo.h"
#include "base/strvec.h"

#define RVX_AUDIT_PREFIX		"audit/"
#define RVX_AUDIT_FORMAT		1
#define RVX_AUDIT_KEY_MAXLEN	256
#define RVX_AUDIT_RECORD_MAX	(256 * 1024)
#define RVX_AUDIT_RETENTION_DEFAULT 2557	/* 7 years of days (with leap days) */

typedef struct RvxAuditEvent
{
	const char *action;			/* backup, restore, verify, expire, pin, unpin */
	const char *backup_id;		/* NULL or "" if none */
	bool		ok;
	const char *error;			/* the failure's message; NULL when ok */
	const char *db_role;		/* the database role that asked; NULL if none */
	json_t	   *details;		/* borrowed; NULL = {} */
} RvxAuditEvent;

/* Who runs this process. */
typedef struct RvxAuditWho
{
	char		os_user[64];
	char		host[256];
	long		pid;
} RvxAuditWho;

extern void rvx_audit_who(RvxAuditWho *who);

/* The record for ev, made at when_us (microseconds since the epoch); NULL if out of memory. */
extern json_t *rvx_audit_record_build(const RvxAuditEvent *ev, int64_t when_us,
									  uint64_t system_id, const RvxAuditWho *who);

/* The key of a record made at when_us by who, with 32 random bits rnd. */
extern void rvx_audit_key(char *out, size_t cap, int64_t when_us, const RvxAuditWho *who,
						  uint32_t rnd);

/* The time (microseconds since the epoch) a record's key names; false if it is not one. */
extern bool rvx_audit_key_time(const char *key, int64_t *when_us);

/*
 * Whether expire keeps a record made at when_us, as of now_s, with a
 * retention of days: within days (exactly days old is kept), or from the
 * future (a clock was wrong: never guess).
 */
extern bool rvx_audit_retained(int64_t when_us, int64_t now_s, int days);

/*
 * Writes the record of ev.  system_id 0: read it from repo.json (an empty
 * repository gives null).  On failure logs "AUDIT FAILURE" and returns -1
 * (err, if not NULL, says why).
 */
extern int	rvx_audit_write(RvxRepo *repo, uint64_t system_id, const RvxAuditEvent *ev,
							RvxError *err);

/* The same through a repository of its own (for commands that do not keep one open). */
extern int	rvx_audit_write_cfg(const RvxRepoConfig *cfg, const RvxAuditEvent *ev);

/* A command's exit code: the action's own if it failed, else 13 if audit_rc failed, else 0. */
extern int	rvx_audit_exit_code(int action_rc, int audit_rc);

/*
 * Calls fn for each record made at or after since_us, oldest first, with
 * its key and content (owned by the caller of fn: borrowed).  fn returns
 * 0 to go on, -1 to stop with an error.
 */
typedef int (*RvxAuditFn) (void *arg, const char *key, json_t *record);

/* Appends the keys of the records made at or after since_us to keys, oldest first. */
extern int	rvx_audit_list_keys(RvxRepo *repo, int64_t since_us, RvxStrVec *keys,
								RvxError *err);
extern int	rvx_audit_list(RvxRepo *repo, int64_t since_us, RvxAuditFn fn, void *arg,
						   RvxError *err);

#endif							/* RVX_AGENT_AUDIT_H */
