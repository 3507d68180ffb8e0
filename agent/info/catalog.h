/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The backups a repository holds, and their records (backup.json).
 *
 * A backup is the set of keys below backup/<id>/ (docs/backup-format.md).
 * It is complete, and restorable, exactly when its record
 * backup/<id>/backup.json[.zst|.gz|.lz4] exists: the agent stores the record
 * last, after every other object of the backup and the WAL that makes it
 * consistent.  Keys below backup/<id>/ without a record belong to a backup
 * still being shipped, or abandoned; they are reported as incomplete and
 * never restored.
 *
 * Records come from the repository, so they are checked like any other
 * input before anything acts on them: rvx_backup_record_parse() refuses a
 * record whose paths could leave the data directory, whose keys point
 * outside the backup, or whose checksums are not SHA-256, so restore can
 * trust every field it uses.
 *
 * The agent publishes the list of complete backups for the server in
 * <spool>/status/backups.json (RvxCatalog below): the record of each
 * backup minus its "files" and "directories", which are the only parts
 * that grow with the size of the database.
 *
 * Restore drills (verify.h) store their reports below the backup they
 * drilled, as backup/<id>/verify/<YYYYMMDDTHHMMSSZ>.json[.zst|.gz|.lz4].  Such
 * keys are not part of the backup: listing leaves them out of its object
 * and byte counts and collects them apart, and the catalog publishes a
 * summary of the newest ones in <spool>/status/verifications.json.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_AGENT_CATALOG_H
#define RVX_AGENT_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "storage/repo.h"
#include "spool.h"

/* Repository and spool names of the backup contract (docs/backup-format.md). */
#define RVX_BACKUP_KEY_PREFIX	"backup/"
#define RVX_BACKUP_RECORD		"backup.json"
#define RVX_BACKUP_MANIFEST		"backup_manifest"
#define RVX_PIN_NAME			"pinned"	/* backup/<id>/pinned: see expire.h */
#define RVX_BACKUP_DATA_DIR		"data"
/*
 * The newest backup.json format this agent reads: 2 is a record with
 * sparse files (docs/incremental.md), which an older agent refuses by its
 * format; every other record is still format 1.
 */
#define RVX_BACKUP_FORMAT		2


/* "20261126T084500Z", maybe "-2", later "I": never more than this. */
#define RVX_BACKUP_ID_MAXLEN	64
/* A record lists every file of the cluster; this is far beyond any real one. */
#define RVX_BACKUP_RECORD_MAX	((size_t) 1024 * 1024 * 1024)
/* Longest relative path inside a data directory we accept from a record. */
#define RVX_BACKUP_PATH_MAX		1024

/* Ids are file and key names: digits, letters, '-' and '_' only. */
extern bool rvx_backup_id_valid(const char *id);
/* Orders ids by time, then by the "-N" suffix numerically. */
extern int	rvx_backup_id_cmp(const char *a, const char *b);
/* A path relative to a data directory that cannot leave it. */
extern bool rvx_backup_relpath_valid(const char *path);

/*
 * Is rest (a key with its "backup/<id>/" taken off) named base plus a
 * compression suffix, like "backup.json.zst"?
 */
extern bool rvx_backup_key_is(const char *rest, const char *base);

/* One backup seen in a listing of the repository. */
typedef struct RvxBackupRef
{
	char		id[RVX_BACKUP_ID_MAXLEN + 1];
	char		record_key[RVX_BACKUP_ID_MAXLEN + 64];	/* "" while incomplete */
	uint64_t	record_size;
	char		manifest_key[RVX_BACKUP_ID_MAXLEN + 64];	/* "" if none */
	bool		pinned;			/* backup/<id>/pinned exists */
	uint64_t	objects;		/* keys below backup/<id>/ */
	uint64_t	bytes;			/* their total size */
} RvxBackupRef;

typedef struct RvxBackupList
{
	RvxBackupRef *items;		/* ordered by rvx_backup_id_cmp */
	size_t		n;
	size_t		cap;
	/* keys of drill reports (backup/<id>/verify/...), newest first */
	char	  **verify_keys;
	size_t		n_verify;
	size_t		cap_verify;
} RvxBackupList;

/* Below backup/<id>/: where restore drills store their reports. */
#define RVX_BACKUP_VERIFY_DIR	"verify/"
/* Published drill summaries, newest first, at most this many. */
#define RVX_SPOOL_VERIFICATIONS_FILE	"status/verifications.json"
#define RVX_VERIFICATIONS_MAX	50
/* A drill report is small; anything beyond this is not one. */
#define RVX_VERIFY_REPORT_MAX	((size_t) 64 * 1024 * 1024)

/* Lists every backup of the repository, complete or not. */
extern int	rvx_backup_list(RvxRepo *repo, RvxBackupList *list, RvxError *err);
extern const RvxBackupRef *rvx_backup_list_find(const RvxBackupList *list, const char *id);
/* The newest complete backup, or NULL. */
extern const RvxBackupRef *rvx_backup_list_latest(const RvxBackupList *list);
extern void rvx_backup_list_free(RvxBackupList *list);

/*
 * Parses and checks a record.  what names it in messages.  expect_id and
 * expect_system_id (when not NULL / 0) must match the record's.  On
 * success *out owns the parsed record.
 */
extern int	rvx_backup_record_parse(const char *text, size_t len, const char *what,
									const char *expect_id, uint64_t expect_system_id,
									json_t **out, RvxError *err);

/* Reads (verified, see fetch.h) and parses the record at key. */
extern int	rvx_backup_record_load(RvxRepo *repo, const char *key, const char *expect_id,
								   uint64_t expect_system_id, json_t **out, RvxError *err);

/*
 * The PostgreSQL major version of the backup: "pg_major", or from
 * "pg_version_num" in records written before pg_major was; 0 if neither.
 */
extern int	rvx_backup_record_major(const json_t *record);

/* The record without "files" and "directories" (a new reference). */
extern json_t *rvx_backup_summary(const json_t *record);

/*
 * The catalog of complete backups that `revrx-agent run` publishes in
 * status/backups.json:
 *	 {"format":1,"updated_at":<epoch>,"backups":[<summary>, ...]}
 * ordered by id.  It remembers the summaries it read, so a refresh reads
 * only the records of backups it has not seen.  Safe to use from several
 * threads.
 *
 * Each refresh also publishes the newest RVX_VERIFICATIONS_MAX drill
 * reports in status/verifications.json:
 *	 {"format":1,"updated_at":<epoch>,"verifications":[{"backup_id",
 *	  "started_at","finished_at","passed","recovery_seconds",
 *	  "total_seconds","failed_checks":[...],"report_key"}, ...]}
 * newest first.  Reports never change once stored, so each is read once.
 */
typedef struct RvxCatalog RvxCatalog;

extern RvxCatalog *rvx_catalog_new(const char *spool_dir, uint64_t system_id);
extern void rvx_catalog_free(RvxCatalog *cat);
/* Lists the repository again, reads new records, forgets vanished backups, publishes. */
extern int	rvx_catalog_refresh(RvxCatalog *cat, RvxRepo *repo, RvxError *err);
/* Adds a backup just committed (record: its parsed backup.json) and publishes. */
extern int	rvx_catalog_add(RvxCatalog *cat, const char *id, const char *record_key,
							uint64_t record_size, const json_t *record, RvxError *err);
/*
 * Between full refreshes: looks only below backup/<id>/verify/ of the
 * newest_backups backups the catalog knows (one small listing each, so it
 * can run every few seconds even on S3) and republishes
 * status/verifications.json when a drill report appeared.
 */
extern int	rvx_catalog_refresh_drills(RvxCatalog *cat, RvxRepo *repo, int newest_backups,
									   RvxError *err);
/* Writes status/backups.json atomically. */
extern int	rvx_catalog_publish(RvxCatalog *cat, RvxError *err);

#endif							/* RVX_AGENT_CATALOG_H */
