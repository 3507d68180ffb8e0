/*-------------------------------------------------------------------------
 *
 * manifest.h
 *	  What a base backup contains, and the two documents that describe it:
 *	  PostgreSQL's backup_manifest and revrx's backup.json.
 *
 * The exporter (backup.c) collects a RevrxBackupRecord while it copies the
 * data directory; at the end it has both documents written from it, in
 * that order, through a text sink (the spool object writer):
 *
 *	- backup_manifest, byte for byte in the format of PostgreSQL 15's
 *	  backup_manifest.c (SHA-256 per file, WAL-Ranges, and the trailing
 *	  Manifest-Checksum over everything before it), so that pg_verifybackup
 *	  accepts a restored data directory;
 *
 *	- backup.json, the record the agent commits last and restore reads
 *	  (fields exactly as in docs/backup-format.md).
 *
 * Both are produced in pieces, so their size does not matter; the sink may
 * throw.  All text is UTF-8: the exporter leaves out files whose names are
 * not (see backup.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_MANIFEST_H
#define REVRX_MANIFEST_H

#include "access/xlogdefs.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "pgtime.h"
#include "storage/block.h"

#include "chunk_digest.h"
#include "compress.h"
#include "sha256.h"

/*
 * backup.json's format: 2 when a file is sparse, which an agent that knows
 * only format 1 must refuse (it would find no digest); 1 otherwise, so
 * that the agents of before read every other backup as before.
 */
#define REVRX_BACKUP_FORMAT_SPARSE	2

/* One file of the backup. */
typedef struct RevrxBackupFile
{
	char	   *path;			/* relative to the data directory */
	uint64		size;			/* bytes of content */
	pg_time_t	mtime;
	uint8		sha256[RVX_SHA256_LEN]; /* unless sparse */
	uint64		stored;			/* bytes of its object, header included */
	bool		delta;			/* the object holds changed pages (common/delta.h) */
	uint8		object_sha256[RVX_SHA256_LEN];	/* a delta's: its object's content */

	/*
	 * A delta of only the blocks the WAL summaries name, the rest of the
	 * file not read: no digest of the whole file exists.  Restore computes
	 * the rebuilt file's and puts it in backup_manifest
	 * (docs/incremental.md, "Reading only the named blocks").
	 */
	bool		sparse;

	/* of a file read whole, of more than one piece (common/chunk_digest.h) */
	bool		has_chunk_digest;
	uint8		chunk_digest[RVX_CHUNK_DIGEST_LEN];
} RevrxBackupFile;

/* A page that failed verification. */
typedef struct RevrxBackupProblem
{
	char	   *path;			/* the file, relative to the data directory */
	char	   *relation;		/* the relation's first segment, same form */
	const char *fork;			/* "main", "fsm", "vm", "init" */
	BlockNumber block;			/* in the relation (not in the segment) */
	char	   *message;
} RevrxBackupProblem;

typedef struct RevrxBackupTablespace
{
	Oid			oid;
	char	   *location;		/* the symbolic link's target */
} RevrxBackupTablespace;

/*
 * Something a user would assume the backup holds that it does not hold, or
 * holds only with a caveat: backup.json's "not_included", shown by
 * revrx_backups(), `revrx-agent list` and the restore drill's report.
 */
typedef enum RevrxOmissionKind
{
	RVX_OMIT_UNLOGGED,			/* an unlogged relation's data: restored empty */
	RVX_OMIT_SKIPPED_FILE,		/* a file left out, for the reason given */
	RVX_OMIT_TABLESPACE,		/* outside the data directory: restored there */
	RVX_OMIT_NO_CHECKSUMS		/* pages unverifiable, incrementals weaker */
} RevrxOmissionKind;

/*
 * How many omissions backup.json lists; the counts cover them all.  A
 * cluster with a schema per tenant may have tens of thousands of unlogged
 * relations, and the record travels into every catalog and drill report.
 */
#define RVX_OMISSIONS_LISTED	100

typedef struct RevrxBackupOmission
{
	RevrxOmissionKind kind;
	char	   *path;			/* unlogged: the relation's first segment;
								 * skipped file: the file; tablespace: its
								 * location */
	Oid			oid;			/* unlogged: the database; tablespace: its own */
	Oid			relfilenode;	/* unlogged */
	uint64		bytes;			/* unlogged: of all forks but init, not stored */
	char	   *reason;			/* skipped file */
} RevrxBackupOmission;

typedef struct RevrxBackupRecord
{
	const char *id;
	const char *label;			/* UTF-8; NULL if none */
	const char *parent;			/* an incremental's parent; NULL for a full backup */
	/* an incremental's: "wal-summaries" or "page-lsn-scan" (docs/incremental.md) */
	const char *block_source;
	const char *block_source_reason;	/* why not the summaries; NULL if used */
	int			delta_files;	/* relation files stored as deltas */
	int			delta_files_unread; /* of which unchanged by the summaries: not read */
	int64		delta_blocks_read;	/* blocks read of the files stored as deltas */
	int			delta_files_sparse; /* of which only the named blocks were read */
	int64		delta_pages;	/* pages stored in the deltas */
	int			whole_files;	/* relation files the parent has, stored whole:
								 * mostly changed (rvx_delta_store_whole) */
	int64		whole_blocks_reread;	/* blocks read twice to switch to whole */
	int64		summary_missed; /* pages changed (page LSN) that no summary named */
	bool		scheduled;
	const char *requested_by;	/* the role that asked (audit); NULL if scheduled */
	uint64		system_identifier;
	RvxCompression compression; /* of every object: gives the key suffix */
	TimeLineID	start_tli;
	XLogRecPtr	start_lsn;
	TimeLineID	stop_tli;
	XLogRecPtr	stop_lsn;
	pg_time_t	start_time;
	pg_time_t	stop_time;
	uint64		next_xid;		/* FullTransactionId next at stop: for xid targets */
	bool		page_checksums;
	int64		problem_count;	/* may exceed list_length(problems) */
	List	   *problems;		/* of RevrxBackupProblem * */
	List	   *tablespaces;	/* of RevrxBackupTablespace * */
	List	   *omissions;		/* of RevrxBackupOmission *: the first
								 * RVX_OMISSIONS_LISTED */
	int64		omission_count; /* may exceed list_length(omissions) */
	int64		unlogged_relations; /* all of them, listed or not */
	uint64		unlogged_bytes;
	List	   *directories;	/* of char *, relative to the data directory */
	RevrxBackupFile *files;
	int			nfiles;
} RevrxBackupRecord;

/* Receives the text of a document in pieces; may throw. */
typedef void (*RevrxTextSink) (void *arg, const char *data, size_t len);

extern void revrx_manifest_write(const RevrxBackupRecord *rec,
								 RevrxTextSink sink, void *arg);
extern void revrx_backup_json_write(const RevrxBackupRecord *rec,
									RevrxTextSink sink, void *arg);

/* One problem as a JSON object, as it appears in backup.json. */
extern void revrx_problem_json(StringInfo buf, const RevrxBackupProblem *p);

/* "YYYY-MM-DDTHH:MM:SSZ" */
extern void revrx_format_utc(pg_time_t t, char *buf, size_t len);

#endif							/* REVRX_MANIFEST_H */
