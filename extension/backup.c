/*-------------------------------------------------------------------------
 *
 * backup.c
 *	  The base backup exporter: copies the data directory into the spool
 *	  as revrx objects while the server is in backup mode.
 *
 * What it does is what PostgreSQL 15's base backup (basebackup.c) does,
 * with the spool as the target instead of a tar stream:
 *
 *	 do_pg_backup_start(fast checkpoint, label "revrx <id>")
 *	 for every file of the tablespaces, then of the data directory
 *	 (files of 8 MB and more after the smaller ones, global/pg_control
 *	 last: export_large_files), with the same exclusions:
 *		 read it in large chunks, verify its page checksums, hash and
 *		 compress it into <spool>/backup/<id>/data/<path>.rvx
 *	 do_pg_backup_stop(without waiting for the WAL to be archived)
 *	 backup_label (and tablespace_map) as files of the backup
 *	 backup_manifest.rvx (PostgreSQL's format), then backup.json.rvx
 *
 * The agent ships and deletes the objects while this runs; backup.json is
 * the commit point (docs/backup-format.md).  Where this departs from the
 * obvious, and why:
 *
 * - Everything between do_pg_backup_start() and the end of
 *	 do_pg_backup_stop() runs under PG_ENSURE_ERROR_CLEANUP(
 *	 do_pg_abort_backup), so an ERROR, or the worker exiting (FATAL on
 *	 SIGTERM), releases the server's backup state; if the worker is killed,
 *	 the postmaster's crash restart resets it.  The server never believes a
 *	 backup runs that does not.
 *
 * - Page checksums are verified as basebackup.c does: new pages and pages
 *	 with an LSN at or after the backup's start (being written; WAL replay
 *	 rewrites them) are skipped, and a failing block is read once more
 *	 before it counts, since a concurrent write may have torn it.  A page
 *	 that still fails is not fatal: it is logged (WARNING, naming the file,
 *	 the block, the relation and its fork), counted in pg_stat_database,
 *	 and recorded in backup.json's "problems"; the backup goes on, so that
 *	 the rest of the cluster is still protected.
 *
 * - The SHA-256 the object writer computes for the object header is the
 *	 file's checksum in backup_manifest too: every byte is hashed once.
 *
 * - Objects are written as <name>.tmp and renamed, but neither the files
 *	 nor the directories are fsynced one by one.  The agent may ship an
 *	 object as soon as it is renamed (a not yet durable object is still
 *	 correct to read), and a crash of the machine before the commit simply
 *	 aborts the backup.  What must be durable is what backup.json commits
 *	 to: before writing it, every object still in the spool and every
 *	 directory is fsynced, and backup_manifest and backup.json themselves
 *	 are written with durable_rename().  This saves one fsync per file,
 *	 which on a small spool would otherwise write to disk data that the
 *	 agent deletes a moment later.
 *
 * - Back-pressure: before each file, if the objects this backup has in the
 *	 spool may exceed revrx.spool_max_size (bytes written since the last
 *	 look, plus what was there then), the backup directory is listed again;
 *	 while it holds more than the cap the exporter waits (100 ms latch
 *	 waits, interruptible).  One object may take the spool past the cap.
 *
 * - Files whose names are not valid UTF-8 are left out with a WARNING:
 *	 backup.json and object keys are UTF-8.  PostgreSQL creates no such
 *	 files; a tablespace location that is not UTF-8 fails the backup.
 *
 * - A spool directory inside the data directory is not backed up.
 *
 * - Incremental backups store a relation file the parent has as a delta
 *	 of its changed pages (common/delta.h), unless more than half of its
 *	 pages changed (rvx_delta_store_whole): then it is stored whole, so
 *	 that its restore needs no parent and writes it once.  The file is
 *	 read once, as a stream, and the number of its changed pages is only
 *	 known at the end; but the decision is monotone, so it is taken as soon
 *	 as it is certain: with WAL summaries, before reading (they name the
 *	 blocks); otherwise at the chunk whose changed pages take the count
 *	 over the threshold, before that chunk is written.  The object then
 *	 starts again as a whole file: the bytes already read are read a
 *	 second time (just read, so mostly from the page cache), and the rest
 *	 of the file streams on.  Only files stored whole are read twice, and
 *	 at most up to the point where the count crossed (docs/incremental.md).
 *
 * Memory: everything goes into the caller's (per-backup) memory context,
 * except the object writer and the read buffer, which live as long as the
 * worker (allocated once, so an error cannot leak the compression
 * library's state).  Files are closed by the caller's error cleanup
 * (AtEOXact_Files) when an error ends the export.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/transam.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_tablespace_d.h"
#include "common/file_perm.h"
#include "common/relpath.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/interrupt.h"
#include "postmaster/syslogger.h"
#include "storage/bufpage.h"
#include "storage/checksum.h"
#include "storage/dsm_impl.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "utils/hsearch.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "archive_compat.h"
#include "backup.h"
#include "backup_state.h"
#include "catalog.h"
#include "chunk_digest.h"
#include "compress.h"
#include "delta.h"
#include "fileutil.h"
#include "manifest.h"
#include "object.h"
#include "settings.h"
#include "sha256.h"
#include "spool.h"
#include "spool_read.h"
#include "spool_write.h"
#include "walsummary.h"

/* Read size: a multiple of BLCKSZ, large enough to keep the disk busy. */
#define IO_CHUNK			(1024 * 1024)
/* How long the exporter sleeps while the spool is full. */
#define SPOOL_WAIT_MS		100
/* Problems listed in backup.json (all are counted and logged). */
#define MAX_LISTED_PROBLEMS	1000
/* Checksum failures logged one by one per file, as basebackup.c does. */
#define MAX_REPORTED_FAILURES	5
/* Progress is published at least this often (files or bytes). */
#define PROGRESS_BYTES		(64 * 1024 * 1024)
/* How long an incremental waits for the WAL summarizer to reach its start. */
#define SUMMARY_WAIT_MS		60000
/* Pages the summaries missed that are logged one by one (all are counted). */
#define MAX_REPORTED_MISSES	5

StaticAssertDecl(IO_CHUNK % BLCKSZ == 0, "IO_CHUNK must be a multiple of BLCKSZ");

/*
 * The exclusion lists of PostgreSQL 15's basebackup.c.  Directories whose
 * contents are skipped (the directory itself is kept, empty):
 */
static const char *const exclude_dir_contents[] = {
	PG_STAT_TMP_DIR,			/* statistics temporary files */
	"pg_replslot",				/* slots make no sense in a copy */
	PG_DYNSHMEM_DIR,			/* removed at startup */
	"pg_notify",				/* removed at startup */
	"pg_serial",				/* only kept for debugging */
	"pg_snapshots",				/* removed at startup */
	"pg_subtrans",				/* zeroed at startup */
	NULL
};

typedef struct ExcludeItem
{
	const char *name;
	bool		match_prefix;
} ExcludeItem;

/* Files that are skipped wherever they are: */
static const ExcludeItem exclude_files[] = {
	{PG_AUTOCONF_FILENAME ".tmp", false},
	{LOG_METAINFO_DATAFILE_TMP, false},
	{RELCACHE_INIT_FILENAME, true}, /* rebuilt at startup */
	{BACKUP_LABEL_FILE, false}, /* ours is written separately */
	{TABLESPACE_MAP, false},
	{"backup_manifest", false}, /* of the backup this server came from */
	{"postmaster.pid", false},
	{"postmaster.opts", false},
	{NULL, false}
};

/* Files in relation directories that have no page checksums: */
static const ExcludeItem no_checksum_files[] = {
	{"pg_control", false},
	{"pg_filenode.map", false},
	{"pg_internal.init", true},
	{"PG_VERSION", false},
	{NULL, false}
};

/* ------------------------------------------------ state for the worker */

static RevrxWriterCache writer_cache = REVRX_WRITER_CACHE_INIT;
static char *io_buf = NULL;
/* Re-reading what a delta had read, to store the file whole (switch_to_whole). */
static char *reread_buf = NULL;
/* The chunk digest of the file being read, if it is large enough to have one. */
static RvxChunkDigest *chunk_digest = NULL;

/* ------------------------------------------------ state of one backup */

/* Where one relation file stands, for its page checks. */
typedef struct RelFileInfo
{
	bool		verify;
	Oid			dboid;			/* for pg_stat_database; 0 = shared */
	char		relation[MAXPGPATH];	/* relative path of segment 0 */
	ForkNumber	fork;
	int			segno;
	bool		is_relation;	/* named like a relation file: pages with LSNs */
	Oid			spcoid;			/* these three for the WAL summaries */
	Oid			relnumber;
} RelFileInfo;

typedef struct ExportState
{
	RevrxBackupJob *job;
	char		spool_dir[MAXPGPATH];
	char		backup_dir[MAXPGPATH];	/* <spool>/backup/<id> */
	char		data_dir[MAXPGPATH];	/* <backup_dir>/data */
	char	   *spool_rel;		/* the spool, if inside the data directory */
	RvxObjectWriter *writer;
	int			compress_workers;	/* zstd threads asked of it */
	XLogRecPtr	start_lsn;
	RevrxBackupRecord rec;
	int			files_cap;
	int64		original_bytes;
	int64		stored_bytes;
	List	   *tablespace_rpaths;	/* tablespaces inside the data directory */
	StringInfoData problems_json;	/* the first problems, for SQL */
	bool		problems_changed;
	int64		spool_estimate; /* our objects in the spool, at most */
	char		last_dir[MAXPGPATH];	/* spool directory known to exist */
	RevrxBackupPhase phase;
	int64		published_bytes;
	/* where the time goes, for the log line at the end */
	instr_time	t_start;
	instr_time	t_read;
	instr_time	t_verify;
	instr_time	t_object;		/* hashing, compressing and writing */
	instr_time	t_write;		/* of which: write(2) into the spool */
	instr_time	t_spool_wait;
	instr_time	t_stop;
	instr_time	t_sync;

	/*
	 * Incremental backups (docs/incremental.md): the parent, and the files
	 * it has (a hash table of relative paths); NULL for a full backup.
	 */
	HTAB	   *parent_files;
	XLogRecPtr	parent_start_lsn;
	TimeLineID	parent_tli;
	RvxSha256  *file_sha;		/* the whole file, as read, for a delta's record */
	uint32	   *blocks;			/* a delta's block numbers */
	bool		page_failed[IO_CHUNK / BLCKSZ];	/* of the chunk verify_chunk checked */
	bool		chunk_in_delta[IO_CHUNK / BLCKSZ];	/* of the chunk delta_chunk looks at */
	int			blocks_cap;

	/* the unlogged relations met so far, by path of their first file */
	HTAB	   *unlogged;

	/*
	 * With WAL summaries: what they say changed since the parent began, and,
	 * for the file being read, which of its blocks they name (a bitmap of
	 * RELSEG_SIZE bits), where a truncation cut it and how many blocks the
	 * parent had of it.  summaries is NULL for the page LSN scan.
	 */
	RvxWalSummaries *summaries;
	uint8	   *named;
	bool		file_summarized;
	uint32		file_limit;
	uint32		file_parent_blocks;

	/* large files, exported after the walk (export_large_files) */
	List	   *large_files;

	/* whether the file being read gets a chunk digest (common/chunk_digest.h) */
	bool		file_chunked;
} ExportState;

/*
 * Files of this size or more are exported after every smaller one.  The
 * agent stores a small object in about the time of its fsyncs, so a
 * backup that ended on the few hundred small files of a database
 * directory left the agent storing them, one by one, after the export had
 * finished; behind the large files they are stored while those are read
 * and compressed, and the export ends on a few large objects.
 */
#define LARGE_FILE_BYTES	(8 * 1024 * 1024)

typedef struct LargeFile
{
	char	   *src;
	char	   *rel;
	RelFileInfo ri;
} LargeFile;

/*
 * A database directory's relation path ("pg_tblspc/<oid>/PG_<v>_<cat>/<oid>/
 * <relfilenode>" at the longest) fits in far less than MAXPGPATH, and there
 * may be tens of thousands of these.
 */
#define UNLOGGED_KEYLEN	128

typedef struct UnloggedEntry
{
	char		path[UNLOGGED_KEYLEN];	/* hash key */
	RevrxBackupOmission *listed;	/* its entry in the record, if listed */
} UnloggedEntry;

/* Sink of the object writer: appends to the temporary file. */
typedef struct SpoolObject
{
	char		tmp[MAXPGPATH];
	char		final[MAXPGPATH];
	int			fd;
	int			save_errno;
	instr_time *t_write;
} SpoolObject;

static void prepare_spool(ExportState *st);
static void make_directory(const char *path, bool must_be_new);
static void object_write(ExportState *st, SpoolObject *o, const void *data, size_t len);
static int	name_cmp(const ListCell *a, const ListCell *b);
static void choose_parent(ExportState *st);
static void choose_block_source(ExportState *st, TimeLineID start_tli);
static void write_file_list(ExportState *st);
static void collect_tablespaces(ExportState *st);
static RevrxBackupOmission *note_omission(ExportState *st, RevrxOmissionKind kind,
										  const char *path, const char *reason);
static void note_unlogged(ExportState *st, const char *src_dir, const char *rel_dir,
						  const char *name, int oidchars);
static void export_large_files(ExportState *st);
static void walk_dir(ExportState *st, const char *src_dir, const char *rel_dir,
					 bool is_db_dir);
static void delta_write(ExportState *st, SpoolObject *o, char *buf, int nchunk,
						uint32 first_block, int *nblocks);
static bool export_sparse(ExportState *st, const char *src, const char *rel,
						  const struct stat *sb, const RelFileInfo *ri);
static bool export_file(ExportState *st, const char *src, const char *rel,
						const struct stat *sb, const RelFileInfo *ri);
static void export_content(ExportState *st, const char *rel, const char *content);
static void sync_tree(const char *dir);
static void fsync_if_exists(const char *path, bool isdir);
static void write_document(ExportState *st, const char *name,
						   void (*writefn) (const RevrxBackupRecord *, RevrxTextSink, void *),
						   RvxObjectHeader *hdr);
static void set_phase(ExportState *st, RevrxBackupPhase phase);
static void publish_progress(ExportState *st);
static void log_summary(ExportState *st);

static bool
name_matches(const char *name, const ExcludeItem *list)
{
	for (int i = 0; list[i].name != NULL; i++)
	{
		size_t		len = strlen(list[i].name);

		if (strncmp(name, list[i].name, list[i].match_prefix ? len : len + 1) == 0)
			return true;
	}
	return false;
}

static const char *
join_path(const char *dir, const char *name)
{
	if (dir[0] == '\0' || strcmp(dir, ".") == 0)
		return pstrdup(name);
	return psprintf("%s/%s", dir, name);
}

/* ----------------------------------------------------------- the export */

void
revrx_backup_export(RevrxBackupJob *job)
{
	ExportState *st = palloc0(sizeof(ExportState));
	RvxOnlineBackup ob;
	char		label[MAXPGPATH];
	instr_time	t0;
	RvxObjectHeader json_hdr;
	char		json_sha[RVX_SHA256_HEXLEN + 1];
	ListCell   *lc;

	INSTR_TIME_SET_CURRENT(st->t_start);
	st->job = job;
	st->rec.id = job->id;
	st->rec.label = job->label;
	st->rec.scheduled = job->scheduled;
	st->rec.requested_by = job->requested_by;
	st->rec.system_identifier = GetSystemIdentifier();
	st->rec.start_time = timestamptz_to_time_t(job->start_time);
	st->rec.page_checksums = DataChecksumsEnabled();
	if (!st->rec.page_checksums)
		note_omission(st, RVX_OMIT_NO_CHECKSUMS, NULL, NULL);
	initStringInfo(&st->problems_json);

	prepare_spool(st);
	if (job->incremental)
		choose_parent(st);

	/* The server's backup mode: from here on, any exit must end it. */
	set_phase(st, REVRX_PHASE_CHECKPOINT);
	snprintf(label, sizeof(label), "revrx %s", job->id);
	rvx_online_backup_start(&ob, label, true);

	PG_ENSURE_ERROR_CLEANUP(do_pg_abort_backup, BoolGetDatum(false));
	{
		st->start_lsn = ob.start_lsn;
		st->rec.start_lsn = ob.start_lsn;
		st->rec.start_tli = ob.start_tli;
		revrx_backup_set_start(job->slot, ob.start_tli, ob.start_lsn);
		ereport(LOG,
				(errmsg("revrx backup %s started at %X/%X on timeline %u",
						job->id, LSN_FORMAT_ARGS(ob.start_lsn), ob.start_tli)));
		if (st->parent_files != NULL)
			choose_block_source(st, ob.start_tli);

		set_phase(st, REVRX_PHASE_COPYING);
		collect_tablespaces(st);

		/* the tablespaces, then the data directory, as basebackup.c does */
		foreach(lc, st->rec.tablespaces)
		{
			RevrxBackupTablespace *t = (RevrxBackupTablespace *) lfirst(lc);
			char	   *src = psprintf("%s/%s", t->location, TABLESPACE_VERSION_DIRECTORY);
			char	   *rel = psprintf("pg_tblspc/%u/%s", t->oid, TABLESPACE_VERSION_DIRECTORY);
			struct stat sb;

			if (lstat(src, &sb) != 0)
			{
				if (errno != ENOENT)
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not stat file or directory \"%s\": %m", src)));
				continue;		/* dropped meanwhile: not an error */
			}
			st->rec.directories = lappend(st->rec.directories, rel);
			walk_dir(st, src, rel, false);
		}
		walk_dir(st, ".", "", false);
		export_large_files(st);

		/* pg_control after everything else */
		{
			struct stat sb;

			if (lstat(XLOG_CONTROL_FILE, &sb) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not stat file \"%s\": %m", XLOG_CONTROL_FILE)));
			if (!export_file(st, XLOG_CONTROL_FILE, XLOG_CONTROL_FILE, &sb, NULL))
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not open file \"%s\": %m", XLOG_CONTROL_FILE)));
		}
		publish_progress(st);

		set_phase(st, REVRX_PHASE_STOPPING);
		INSTR_TIME_SET_CURRENT(t0);
		/*
		 * Not waiting for the archiver here: PostgreSQL would poll for the
		 * just-switched stop segment once a second (a fixed second per
		 * backup).  The backup still commits only once its WAL is stored,
		 * because the agent ships backup.json only after every segment from
		 * start_wal to stop_wal is in the repository (docs/backup-format.md),
		 * whatever revrx.archive_ack says.
		 */
		rvx_online_backup_stop(&ob, false);
		INSTR_TIME_SET_CURRENT(st->t_stop);
		INSTR_TIME_SUBTRACT(st->t_stop, t0);
	}
	PG_END_ENSURE_ERROR_CLEANUP(do_pg_abort_backup, BoolGetDatum(false));

	st->rec.stop_lsn = ob.stop_lsn;
	st->rec.stop_tli = ob.stop_tli;
	st->rec.stop_time = (pg_time_t) time(NULL);
	/* read after the stop: a transaction with this xid or later began after it */
	st->rec.next_xid = U64FromFullTransactionId(ReadNextFullTransactionId());
	revrx_backup_set_stop(job->slot, ob.stop_lsn, time_t_to_timestamptz(st->rec.stop_time));

	/*
	 * The commit: the label files PostgreSQL's base backup would put into
	 * the data directory, every object made durable, the manifest, and
	 * backup.json last.
	 */
	set_phase(st, REVRX_PHASE_COMMITTING);
	export_content(st, BACKUP_LABEL_FILE, ob.backup_label);
	if (ob.tablespace_map->len > 0)
		export_content(st, TABLESPACE_MAP, ob.tablespace_map->data);
	publish_progress(st);

	INSTR_TIME_SET_CURRENT(t0);
	sync_tree(st->backup_dir);
	{
		char		parent[MAXPGPATH];

		/* the entry of the backup's directory itself */
		snprintf(parent, MAXPGPATH, "%s/%s", st->spool_dir, RVX_SPOOL_BACKUP_DIR);
		fsync_if_exists(parent, true);
	}
	INSTR_TIME_SET_CURRENT(st->t_sync);
	INSTR_TIME_SUBTRACT(st->t_sync, t0);

	write_document(st, "backup_manifest", revrx_manifest_write, NULL);
	write_document(st, "backup.json", revrx_backup_json_write, &json_hdr);
	write_file_list(st);

	rvx_hex_encode(json_hdr.sha256, RVX_SHA256_LEN, json_sha);
	revrx_backup_set_shipping(job->slot, json_sha);
	st->phase = REVRX_PHASE_SHIPPING;

	log_summary(st);
}

/* ----------------------------------------------------- incremental backups */

/* <spool>/state/<id>.files: the files a backup has, for its children */
#define FILE_LIST_FMT		"%s/" RVX_SPOOL_STATE_DIR "/%s.files"
/* how many of those lists are kept (the newest backups') */
#define FILE_LISTS_KEPT		3

/*
 * One line of that list: "<path>\t<size>\t<sha256>", the size and the
 * SHA-256 a restore of that backup gives the file, or "-" for a file of
 * which only the blocks the WAL summaries name were read (a sparse delta:
 * its digest is only known to a restore).  Lists written before the size
 * and digest were added hold the path alone (known = false).
 */
typedef struct ParentFile
{
	char		path[MAXPGPATH];
	bool		known;			/* the size at least */
	bool		sha_known;
	uint64		size;
	uint8		sha256[RVX_SHA256_LEN];
} ParentFile;

#define NO_DIGEST			"-"

/*
 * Splits "<path>\t<size>\t<64 hex digits or ->" at its tabs; false if it
 * is not.  *sha_known says which the digest was.
 */
static bool
parse_file_line(char *line, uint64 *size, uint8 *sha, bool *sha_known)
{
	char	   *t2 = strrchr(line, '\t');
	char	   *t1;
	char	   *end;

	*sha_known = false;
	if (t2 == NULL || t2 == line)
		return false;
	if (strcmp(t2 + 1, NO_DIGEST) != 0 && strlen(t2 + 1) != RVX_SHA256_HEXLEN)
		return false;
	*t2 = '\0';
	t1 = strrchr(line, '\t');
	if (t1 == NULL || t1[1] == '\0' || strspn(t1 + 1, "0123456789") != strlen(t1 + 1))
	{
		*t2 = '\t';
		return false;
	}
	if (strcmp(t2 + 1, NO_DIGEST) != 0)
	{
		if (rvx_hex_decode(t2 + 1, sha, RVX_SHA256_LEN) != 0)
		{
			*t2 = '\t';
			return false;
		}
		*sha_known = true;
	}
	errno = 0;
	*size = strtou64(t1 + 1, &end, 10);
	if (errno != 0 || *end != '\0')
	{
		*t2 = '\t';
		return false;
	}
	*t1 = '\0';
	return true;
}

/*
 * choose_parent
 *
 * An incremental backup's parent is the newest complete backup in the
 * repository's catalog on this timeline (an older timeline's pages are
 * not this history's), provided this server still has the list of its
 * files: a file the parent does not have must be stored whole, whatever
 * its page LSNs say (CREATE DATABASE ... STRATEGY FILE_COPY copies pages
 * with their old LSNs).  Without all that, the backup is a full one, and
 * the log says why.
 */
static void
choose_parent(ExportState *st)
{
	RevrxCatalogEntry *cat;
	int			ncat = revrx_catalog_read(st->spool_dir, &cat);
	RevrxCatalogEntry *best = NULL;
	TimeLineID	tli = GetWALInsertionTimeLine();
	char		path[MAXPGPATH];
	char	   *text;
	size_t		len;
	HASHCTL		ctl;
	const char *why = NULL;

	if (!DataChecksumsEnabled())
		why = "the cluster has no data checksums";
	for (int i = 0; why == NULL && i < ncat; i++)
	{
		RevrxCatalogEntry *c = &cat[i];

		if (!c->has_start_lsn || c->timeline != tli)
			continue;
		/* on one timeline the newest is the one that started last (times are whole seconds) */
		if (best == NULL || c->start_lsn > best->start_lsn)
			best = c;
	}
	if (why == NULL && best == NULL)
		why = psprintf("the repository has no complete backup on timeline %u", tli);
	if (why == NULL)
	{
		snprintf(path, MAXPGPATH, FILE_LIST_FMT, st->spool_dir, best->id);
		text = revrx_read_small_file(path, (size_t) 1 << 30, &len);
		if (text == NULL)
			why = psprintf("this server has no list of the files of backup %s (%s)", best->id,
						   errno == ENOENT ? "it was taken elsewhere, or the spool was emptied" :
						   strerror(errno));
	}
	if (why != NULL)
	{
		ereport(LOG,
				(errmsg("revrx backup %s is a full backup, not an incremental one: %s",
						st->rec.id, why)));
		return;
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MAXPGPATH;
	ctl.entrysize = sizeof(ParentFile);
	ctl.hcxt = CurrentMemoryContext;
	st->parent_files = hash_create("revrx parent files", 4096, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (char *line = text, *next; *line; line = next)
	{
		next = strchr(line, '\n');
		if (next == NULL)
			next = line + strlen(line);
		else
			*next++ = '\0';
		if (*line)
		{
			uint64		size = 0;
			uint8		sha[RVX_SHA256_LEN];
			bool		sha_known;
			bool		known = parse_file_line(line, &size, sha, &sha_known);
			ParentFile *pf;

			if (strlen(line) >= MAXPGPATH)
				continue;
			pf = hash_search(st->parent_files, line, HASH_ENTER, NULL);
			pf->known = known;
			pf->sha_known = known && sha_known;
			pf->size = size;
			if (pf->sha_known)
				memcpy(pf->sha256, sha, RVX_SHA256_LEN);
		}
	}
	st->rec.parent = pstrdup(best->id);
	st->parent_start_lsn = best->start_lsn;
	st->parent_tli = best->timeline;
	st->file_sha = rvx_sha256_new();
	if (st->file_sha == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	ereport(LOG,
			(errmsg("revrx backup %s is incremental to backup %s (started at %X/%X)",
					st->rec.id, best->id, LSN_FORMAT_ARGS(best->start_lsn))));
}

/*
 * choose_block_source
 *
 * Once the backup has started: whether the WAL summaries prove which
 * blocks changed between the parent's start and this one's (walsummary.c
 * says how), so that unchanged relation files need not be read; if not,
 * every page is read and compared with the parent's start LSN, as before
 * summaries existed.  The record says which, and why not the summaries.
 */
static void
choose_block_source(ExportState *st, TimeLineID start_tli)
{
	char	   *why = NULL;
	int			nsummaries = 0;

	st->summaries = rvx_wal_summaries_load(st->parent_tli, st->parent_start_lsn,
										   start_tli, st->start_lsn, SUMMARY_WAIT_MS,
										   &nsummaries, &why);
	if (st->summaries == NULL)
	{
		st->rec.block_source = "page-lsn-scan";
		st->rec.block_source_reason = why;
		ereport(LOG,
				(errmsg("revrx backup %s reads every page of the relation files: %s",
						st->rec.id, why)));
		return;
	}
	st->rec.block_source = "wal-summaries";
	st->named = palloc(RELSEG_SIZE / 8);
	ereport(LOG,
			(errmsg("revrx backup %s takes the changed blocks from %d WAL summaries covering %X/%X to %X/%X",
					st->rec.id, nsummaries, LSN_FORMAT_ARGS(st->parent_start_lsn),
					LSN_FORMAT_ARGS(st->start_lsn))));
}

/*
 * summary_missed
 *
 * A page the LSN scan finds changed between the parent's start and this
 * backup's (a valid page with an LSN in that range) that no summary names:
 * it is stored all the same, but it means the summaries were not what they
 * claim, so it is counted in backup.json and logged.
 */
static void
summary_missed(ExportState *st, const RelFileInfo *ri, char *page, int i,
			   bool verified, BlockNumber blkno)
{
	XLogRecPtr	lsn = PageGetLSN((Page) page);

	if (PageIsNew((Page) page) || lsn <= st->parent_start_lsn || lsn >= st->start_lsn)
		return;
	if (verified ? st->page_failed[i] :
		pg_checksum_page(page, blkno) != ((PageHeader) page)->pd_checksum)
		return;					/* torn or damaged: its LSN means nothing */
	if (++st->rec.summary_missed <= MAX_REPORTED_MISSES)
		ereport(WARNING,
				(errmsg("block %u of the %s fork of relation %s changed at %X/%X, but no WAL summary names it",
						blkno, forkNames[ri->fork], ri->relation, LSN_FORMAT_ARGS(lsn)),
				 errdetail("Backup %s stores the page anyway.", st->rec.id)));
}

/*
 * Whether page i of the chunk must go into a delta: it changed after the
 * parent began (its LSN is newer: every change to a page, hint bits
 * included once data checksums are on, advances it), it is new (all zeros,
 * no LSN), or its checksum does not match (a page caught half written:
 * what was read is kept, and WAL replay completes it).  When verify_chunk
 * has just checked the chunk, its verdict is used instead of computing the
 * checksum again (the pages it skips are newer than this backup's start,
 * so newer than the parent's).  blkno is the page's number in the relation.
 */
static bool
page_changed(ExportState *st, char *page, int i, bool verified, BlockNumber blkno)
{
	if (PageIsNew((Page) page) || PageGetLSN((Page) page) > st->parent_start_lsn)
		return true;
	if (verified)
		return st->page_failed[i];
	return pg_checksum_page(page, blkno) != ((PageHeader) page)->pd_checksum;
}

/*
 * Whether block b of the file being exported goes into its delta by what
 * the WAL summaries say: named, at or past a truncation's limit, or past
 * the parent's end.
 */
static inline bool
block_summarized(ExportState *st, uint32 b)
{
	return rvx_block_named(st->named, b) || b >= st->file_limit ||
		b >= st->file_parent_blocks;
}

/*
 * Whether page i of the chunk (block fblock of the file) goes into the
 * delta.  With the summaries: the blocks they name, those at or past a
 * truncation's limit, those past the parent's end, and, for the whole
 * file's digest to be that of the rebuilt file, every page the LSN scan
 * would store too (pages changed after this backup began, torn pages).
 */
static bool
page_in_delta(ExportState *st, const RelFileInfo *ri, char *page, int i,
			  bool verified, uint32 fblock)
{
	BlockNumber blkno = (BlockNumber) ri->segno * RELSEG_SIZE + fblock;
	bool		changed = page_changed(st, page, i, verified, blkno);

	if (!st->file_summarized)
		return changed;
	if (block_summarized(st, fblock))
		return true;
	if (changed)
		summary_missed(st, ri, page, i, verified, blkno);
	return changed;
}

/*
 * How many of the first npages blocks of the file being read the
 * summaries put into its delta (page_in_delta without the page LSN test,
 * which needs the pages): known before the file is read.
 */
static uint64
summarized_pages(ExportState *st, uint32 npages)
{
	uint64		n = 0;

	for (uint32 b = 0; b < npages; b++)
		if (block_summarized(st, b))
			n++;
	return n;
}

/*
 * A chunk of a file being stored as a delta: which of its pages go into the
 * delta is decided first; if with them the file has more changed pages
 * than a delta is worth (rvx_delta_store_whole of the file's npages), false
 * and nothing written: the caller stores the file whole.  Otherwise the
 * chunk is hashed (the record's digest is the whole file's) and those
 * pages written, their numbers noted.
 */
static bool
delta_chunk(ExportState *st, SpoolObject *o, const RelFileInfo *ri, char *buf,
			size_t len, uint64 offset, bool verified, uint64 npages, int *nblocks)
{
	int			nchunk = (int) (len / BLCKSZ);
	int			nchanged = 0;

	for (int i = 0; i < nchunk; i++)
	{
		st->chunk_in_delta[i] = page_in_delta(st, ri, buf + (size_t) i * BLCKSZ, i, verified,
											 (uint32) (offset / BLCKSZ) + i);
		nchanged += st->chunk_in_delta[i] ? 1 : 0;
	}
	if (rvx_delta_store_whole((uint64) *nblocks + nchanged, npages))
		return false;

	if (rvx_sha256_update(st->file_sha, buf, len) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
	if (st->file_chunked)
		rvx_chunk_digest_update(chunk_digest, buf, len);
	delta_write(st, o, buf, nchunk, (uint32) (offset / BLCKSZ), nblocks);
	return true;
}

/*
 * The pages of buf (nchunk pages, the first block first_block of the
 * file) that chunk_in_delta marks, into the delta; their numbers noted.
 */
static void
delta_write(ExportState *st, SpoolObject *o, char *buf, int nchunk, uint32 first_block,
			int *nblocks)
{
	for (int i = 0; i < nchunk; i++)
	{
		if (!st->chunk_in_delta[i])
			continue;
		object_write(st, o, buf + (size_t) i * BLCKSZ, BLCKSZ);
		if (*nblocks == st->blocks_cap)
		{
			st->blocks_cap = st->blocks_cap ? st->blocks_cap * 2 : 1024;
			st->blocks = st->blocks ?
				repalloc_huge(st->blocks, st->blocks_cap * sizeof(uint32)) :
				MemoryContextAllocHuge(CurrentMemoryContext, st->blocks_cap * sizeof(uint32));
		}
		st->blocks[(*nblocks)++] = first_block + i;
	}
}

/* The block numbers and the trailer (common/delta.h). */
static void
delta_finish(ExportState *st, SpoolObject *o, int nblocks, uint64 size)
{
	RvxDeltaTrailer t;
	uint8		trailer[RVX_DELTA_TRAILER_LEN];
	uint8		be[4];

	for (int i = 0; i < nblocks; i++)
	{
		be[0] = (uint8) (st->blocks[i] >> 24);
		be[1] = (uint8) (st->blocks[i] >> 16);
		be[2] = (uint8) (st->blocks[i] >> 8);
		be[3] = (uint8) st->blocks[i];
		object_write(st, o, be, 4);
	}
	t.file_size = size;
	t.nblocks = (uint32) nblocks;
	t.block_size = BLCKSZ;
	rvx_delta_trailer_encode(&t, trailer);
	object_write(st, o, trailer, sizeof(trailer));
	st->rec.delta_files++;
	st->rec.delta_pages += nblocks;
}

/*
 * write_file_list
 *
 * After the backup is committed to the spool: the list of its files, for
 * the next incremental backup to know what its parent has; only the
 * newest few are kept.
 */
static void
write_file_list(ExportState *st)
{
	StringInfoData buf;
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;
	List	   *lists = NIL;

	snprintf(dir, MAXPGPATH, "%s/%s", st->spool_dir, RVX_SPOOL_STATE_DIR);
	make_directory(dir, false);
	initStringInfo(&buf);
	for (int i = 0; i < st->rec.nfiles; i++)
	{
		char		hex[RVX_SHA256_HEXLEN + 1];

		if (st->rec.files[i].sparse)
			strcpy(hex, NO_DIGEST);
		else
			rvx_hex_encode(st->rec.files[i].sha256, RVX_SHA256_LEN, hex);
		appendStringInfo(&buf, "%s\t" UINT64_FORMAT "\t%s\n", st->rec.files[i].path,
						 st->rec.files[i].size, hex);
	}
	snprintf(path, MAXPGPATH, FILE_LIST_FMT, st->spool_dir, st->rec.id);
	revrx_write_file_durably(path, buf.data, buf.len);
	pfree(buf.data);

	/* ids sort by time: keep the newest */
	d = AllocateDir(dir);
	while ((de = ReadDir(d, dir)) != NULL)
	{
		size_t		n = strlen(de->d_name);

		if (n > 6 && strcmp(de->d_name + n - 6, ".files") == 0)
			lists = lappend(lists, pstrdup(de->d_name));
	}
	FreeDir(d);
	list_sort(lists, name_cmp);
	while (list_length(lists) > FILE_LISTS_KEPT)
	{
		snprintf(path, MAXPGPATH, "%s/%s", dir, (char *) linitial(lists));
		revrx_unlink_if_exists(path);
		lists = list_delete_first(lists);
	}
}

/* ----------------------------------------------------------- the spool */

static void
make_directory(const char *path, bool must_be_new)
{
	if (MakePGDirectory(path) != 0)
	{
		if (errno == EEXIST && !must_be_new)
			return;
		if (errno == EEXIST)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("spool directory \"%s\" already exists", path)));
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", path)));
	}
}

/*
 * prepare_spool
 *
 * Checks the spool (it must exist and must not belong to another cluster)
 * and creates the backup's directories.
 */
static void
prepare_spool(ExportState *st)
{
	struct stat sb;
	char		path[MAXPGPATH];
	size_t		datalen = strlen(DataDir);

	if (revrx_spool_dir == NULL || revrx_spool_dir[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revrx.spool_dir is not set")));
	strlcpy(st->spool_dir, revrx_spool_dir, MAXPGPATH);

	if (stat(st->spool_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("revrx.spool_dir \"%s\" is not a directory", st->spool_dir),
				 errhint("Create the directory, or mount the volume shared with revrx-agent there.")));

	/* a spool that names another cluster is refused */
	revrx_spool_claim();

	/*
	 * The compression of every object of this backup (keys depend on it),
	 * with revrx.backup_compress_workers zstd threads beside this process.
	 * Compression is a little over half of the export's CPU and SHA-256
	 * most of the rest, done here; with one thread, compression could use
	 * only one core while this process hashes on the other, so the larger
	 * of the two set the pace.  With two, the compression jobs (8 MB of
	 * one file each at level 3: libzstd's default job size, the overlap
	 * between jobs costs no measurable ratio) fill whatever the hashing
	 * leaves of both cores, also inside one large relation file.  The
	 * threads are libzstd's own and call no PostgreSQL code (as in
	 * PostgreSQL's server-side zstd base backup, basebackup_zstd.c).  Only
	 * zstd has threads; lz4 and gzip compress here.
	 */
	st->writer = revrx_object_writer(&writer_cache, 0, ERROR);
	st->compress_workers = 0;
	if ((RvxCompression) revrx_compression == RVX_COMPRESS_ZSTD &&
		revrx_backup_compress_workers > 0)
	{
		int			max = rvx_zstd_max_workers();

		st->compress_workers = Min(revrx_backup_compress_workers, max);
		if (st->compress_workers < revrx_backup_compress_workers)
			ereport(LOG,
					(errmsg("revrx backup %s compresses with %d instead of %d zstd threads",
							st->job->id, st->compress_workers, revrx_backup_compress_workers),
					 max == 0 ?
					 errdetail("This server's libzstd was built without multithreading.") :
					 errdetail("This server's libzstd takes at most %d.", max)));
	}
	rvx_object_writer_set_workers(st->writer, st->compress_workers);
	if (io_buf == NULL)
		io_buf = MemoryContextAlloc(TopMemoryContext, IO_CHUNK);
	if (chunk_digest == NULL && (chunk_digest = rvx_chunk_digest_new()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	st->rec.compression = (RvxCompression) revrx_compression;

	/* a spool inside the data directory must not back itself up */
	if (strncmp(st->spool_dir, DataDir, datalen) == 0 &&
		st->spool_dir[datalen] == '/')
		st->spool_rel = pstrdup(st->spool_dir + datalen + 1);

	snprintf(path, MAXPGPATH, "%s/%s", st->spool_dir, RVX_SPOOL_BACKUP_DIR);
	if (stat(path, &sb) != 0)
	{
		make_directory(path, false);
		(void) fsync_fname_ext(path, true, false, ERROR);
		(void) fsync_fname_ext(st->spool_dir, true, false, ERROR);
	}
	snprintf(st->backup_dir, MAXPGPATH, "%s/%s", path, st->job->id);
	make_directory(st->backup_dir, true);
	st->job->dir_created = true;
	snprintf(st->data_dir, MAXPGPATH, "%s/data", st->backup_dir);
	make_directory(st->data_dir, false);
	strlcpy(st->last_dir, st->data_dir, MAXPGPATH);
}

/*
 * ensure_spool_dir
 *
 * Creates dir (inside the backup directory) and its missing parents.
 */
static void
ensure_spool_dir(ExportState *st, const char *dir)
{
	if (strcmp(dir, st->last_dir) == 0)
		return;
	if (MakePGDirectory(dir) != 0 && errno != EEXIST)
	{
		char		parent[MAXPGPATH];
		char	   *slash;

		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", dir)));
		strlcpy(parent, dir, MAXPGPATH);
		slash = strrchr(parent, '/');
		if (slash == NULL || strlen(parent) <= strlen(st->backup_dir))
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", dir)));
		*slash = '\0';
		st->last_dir[0] = '\0';
		ensure_spool_dir(st, parent);
		make_directory(dir, false);
	}
	strlcpy(st->last_dir, dir, MAXPGPATH);
}

static int
object_sink(void *arg, const void *data, size_t len)
{
	SpoolObject *o = (SpoolObject *) arg;
	instr_time	start,
				end;
	int			err;

	INSTR_TIME_SET_CURRENT(start);
	err = revrx_write_all(o->fd, data, len);
	if (err != 0)
	{
		o->save_errno = err;
		return -1;
	}
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_ACCUM_DIFF(*o->t_write, end, start);
	return 0;
}

static void
object_failed(ExportState *st, SpoolObject *o)
{
	if (o->save_errno != 0)
	{
		errno = o->save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", o->tmp)));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not compress into \"%s\": %s",
					o->tmp, rvx_object_writer_error(st->writer))));
}

/*
 * object_begin
 *
 * Room for the header at the start of o's (empty) file, then the writer
 * is ready for the content.
 */
static void
object_begin(ExportState *st, SpoolObject *o)
{
	uint8		zeros[RVX_OBJECT_HEADER_LEN];

	memset(zeros, 0, sizeof(zeros));
	if (object_sink(o, zeros, sizeof(zeros)) != 0 ||
		rvx_object_writer_begin(st->writer, st->rec.system_identifier,
								object_sink, o) != 0)
		object_failed(st, o);
}

/*
 * object_open
 *
 * Starts the object final_path (as final_path.tmp): room for the header,
 * then the writer is ready for the content (object_begin).
 */
static void
object_open(ExportState *st, SpoolObject *o, const char *final_path, bool in_data)
{
	strlcpy(o->final, final_path, MAXPGPATH);
	if (snprintf(o->tmp, MAXPGPATH, "%s.tmp", final_path) >= MAXPGPATH)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("spool path \"%s\" is too long", final_path)));
	o->save_errno = 0;
	o->t_write = &st->t_write;

	if (in_data)
	{
		char		dir[MAXPGPATH];

		strlcpy(dir, final_path, MAXPGPATH);
		*strrchr(dir, '/') = '\0';
		ensure_spool_dir(st, dir);
	}

	o->fd = OpenTransientFilePerm(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
								  pg_file_create_mode);
	if (o->fd < 0 && errno == ENOENT && in_data)
	{
		/* the agent removed an emptied directory under us: make it again */
		char		dir[MAXPGPATH];

		strlcpy(dir, final_path, MAXPGPATH);
		*strrchr(dir, '/') = '\0';
		st->last_dir[0] = '\0';
		ensure_spool_dir(st, dir);
		o->fd = OpenTransientFilePerm(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
									  pg_file_create_mode);
	}
	if (o->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", o->tmp)));
	object_begin(st, o);
}

/* Starts the object of the data directory's file rel: <backup>/data/<rel>.rvx */
static void
data_object_open(ExportState *st, SpoolObject *o, const char *rel)
{
	char		final[MAXPGPATH];

	if (snprintf(final, MAXPGPATH, "%s/%s%s", st->data_dir, rel,
				 RVX_SPOOL_READY_SUFFIX) >= MAXPGPATH)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("spool path for \"%s\" is too long", rel)));
	object_open(st, o, final, true);
}

static void
object_write(ExportState *st, SpoolObject *o, const void *data, size_t len)
{
	instr_time	start,
				end;

	INSTR_TIME_SET_CURRENT(start);
	if (rvx_object_writer_write(st->writer, data, len) != 0)
		object_failed(st, o);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_ACCUM_DIFF(st->t_object, end, start);
}

/*
 * content_write
 *
 * Bytes of the file being read, in order, into a whole file's object; and
 * into its chunk digest, which must cover exactly the bytes its SHA-256
 * covers (the object's content, or a delta's file_sha: delta_chunk).
 */
static void
content_write(ExportState *st, SpoolObject *o, const void *data, size_t len)
{
	if (st->file_chunked)
		rvx_chunk_digest_update(chunk_digest, data, len);
	object_write(st, o, data, len);
}

/*
 * object_close
 *
 * Finishes the object: the real header at offset 0, close, and the rename
 * that makes it visible to the agent (durable only if asked; see the file
 * header for why data objects are not).
 */
static void
object_close(ExportState *st, SpoolObject *o, RvxObjectHeader *hdr, bool durable)
{
	uint8		buf[RVX_OBJECT_HEADER_LEN];
	instr_time	start,
				end;

	INSTR_TIME_SET_CURRENT(start);
	if (rvx_object_writer_finish(st->writer, hdr) != 0)
		object_failed(st, o);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_ACCUM_DIFF(st->t_object, end, start);

	rvx_object_header_encode(hdr, buf);
	errno = 0;
	if (pg_pwrite(o->fd, buf, sizeof(buf), 0) != sizeof(buf))
	{
		o->save_errno = errno ? errno : ENOSPC;
		object_failed(st, o);
	}
	if (CloseTransientFile(o->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", o->tmp)));
	o->fd = -1;

	if (durable)
		(void) durable_rename(o->tmp, o->final, ERROR);
	else if (rename(o->tmp, o->final) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m",
						o->tmp, o->final)));
}

/* ---------------------------------------------------------- back-pressure */

/* A revrx_walk_files visitor: adds the size of an object to *(int64 *) arg. */
static bool
add_object_size(const char *path, const char *name, const struct stat *st, void *arg)
{
	if (revrx_has_suffix(name, RVX_SPOOL_READY_SUFFIX))
		*(int64 *) arg += st->st_size;
	return true;
}

/* Bytes of the objects (*.rvx) under dir; what vanishes meanwhile is 0. */
static int64
spool_bytes(const char *dir)
{
	int64		total = 0;

	(void) revrx_walk_files(dir, DEBUG1, add_object_size, &total);
	return total;
}

/*
 * check_agent_gave_up
 *
 * An agent that cannot store this backup (a permanent <id>.error: a
 * conflict, a damaged object) will not make room in the spool either, so
 * waiting would hold the server in backup mode for ever: fail instead.
 */
static void
check_agent_gave_up(ExportState *st)
{
	char		path[MAXPGPATH];
	char	   *text;
	bool		permanent;
	long long	when;
	const char *message;

	snprintf(path, MAXPGPATH, "%s%s", st->backup_dir, RVX_SPOOL_ERROR_SUFFIX);
	text = revrx_read_small_file(path, RVX_SPOOL_NOTE_MAX, NULL);
	if (text == NULL)
		return;
	if (rvx_spool_error_parse(text, &permanent, &when, &message) == 0 && permanent)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("revrx-agent could not store backup %s: %s",
						st->job->id, message)));
	pfree(text);
}

/*
 * wait_for_spool_room
 *
 * Returns once this backup's objects in the spool take no more than
 * revrx.spool_max_size (see the file header).
 */
static void
wait_for_spool_room(ExportState *st)
{
	int64		max;
	instr_time	start,
				end;
	RevrxBackupPhase saved = st->phase;

	max = (int64) revrx_spool_max_size * 1024 * 1024;
	if (st->spool_estimate <= max)
		return;
	st->spool_estimate = spool_bytes(st->backup_dir);
	if (st->spool_estimate <= max)
		return;

	INSTR_TIME_SET_CURRENT(start);
	set_phase(st, REVRX_PHASE_SPOOL_FULL);
	ereport(DEBUG1,
			(errmsg_internal("revrx backup %s waits: its objects take " INT64_FORMAT " bytes of the spool",
							 st->job->id, st->spool_estimate)));
	for (;;)
	{
		int			rc;

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   SPOOL_WAIT_MS, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		max = (int64) revrx_spool_max_size * 1024 * 1024;
		st->spool_estimate = spool_bytes(st->backup_dir);
		if (st->spool_estimate <= max)
			break;
		check_agent_gave_up(st);
	}
	set_phase(st, saved);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_ACCUM_DIFF(st->t_spool_wait, end, start);
}

/* ------------------------------------------------------------ the walk */

/*
 * collect_tablespaces
 *
 * The tablespaces (symbolic links in pg_tblspc) whose files are backed up
 * under pg_tblspc/<oid>/.  Directories in pg_tblspc (in-place
 * tablespaces) are walked as part of the data directory.
 */
static void
collect_tablespaces(ExportState *st)
{
	DIR		   *dir;
	struct dirent *de;
	size_t		datalen = strlen(DataDir);

	dir = AllocateDir("pg_tblspc");
	while ((de = ReadDir(dir, "pg_tblspc")) != NULL)
	{
		char		path[MAXPGPATH];
		char		target[MAXPGPATH];
		struct stat sb;
		int			rllen;
		RevrxBackupTablespace *t;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, MAXPGPATH, "pg_tblspc/%s", de->d_name);
		if (lstat(path, &sb) != 0 || !S_ISLNK(sb.st_mode))
			continue;
		if (strspn(de->d_name, "0123456789") != strlen(de->d_name))
		{
			ereport(WARNING,
					(errmsg("skipping \"%s\": not the link of a tablespace", path)));
			note_omission(st, RVX_OMIT_SKIPPED_FILE, path,
						  "a symbolic link in pg_tblspc whose name is not a tablespace's oid");
			continue;
		}
		rllen = readlink(path, target, sizeof(target));
		if (rllen < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read symbolic link \"%s\": %m", path)));
		if (rllen >= (int) sizeof(target))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("symbolic link \"%s\" target is too long", path)));
		target[rllen] = '\0';
		if (!pg_verify_mbstr(PG_UTF8, target, rllen, true))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("revrx cannot back up tablespace %s: its location is not valid UTF-8",
							de->d_name)));

		t = palloc(sizeof(RevrxBackupTablespace));
		t->oid = atooid(de->d_name);
		t->location = pstrdup(target);
		st->rec.tablespaces = lappend(st->rec.tablespaces, t);

		/* a tablespace inside the data directory is not copied twice */
		if ((size_t) rllen > datalen && strncmp(target, DataDir, datalen) == 0 &&
			target[datalen] == '/')
			st->tablespace_rpaths = lappend(st->tablespace_rpaths,
											pstrdup(target + datalen + 1));
		else
		{
			RevrxBackupOmission *o = note_omission(st, RVX_OMIT_TABLESPACE, target, NULL);

			if (o)
				o->oid = t->oid;
		}
	}
	FreeDir(dir);
}

static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((char *) lfirst(a), (char *) lfirst(b));
}

/*
 * relation_info
 *
 * Whether a file's pages are checked, and what a problem in it is named.
 * As in basebackup.c: files of the relation directories (global and the
 * database directories), except those without page checksums.
 */
static void
relation_info(ExportState *st, const char *name, const char *rel_dir,
			  bool is_db_dir, RelFileInfo *ri)
{
	const char *dot;
	int			oidchars;

	memset(ri, 0, sizeof(RelFileInfo));
	if (!st->rec.page_checksums ||
		!(is_db_dir || strcmp(rel_dir, "global") == 0) ||
		name_matches(name, no_checksum_files))
		return;

	ri->verify = true;
	ri->dboid = is_db_dir ? atooid(strrchr(rel_dir, '/') ? strrchr(rel_dir, '/') + 1 : rel_dir) :
		InvalidOid;
	if (!rvx_parse_relation_file(name, &oidchars, &ri->fork))
	{
		ri->fork = MAIN_FORKNUM;
		oidchars = (int) strcspn(name, ".");
	}
	else
	{
		ri->is_relation = true;
		ri->relnumber = (Oid) strtoul(name, NULL, 10);
		/* "global", "base/<db>" or "pg_tblspc/<oid>/<version>/<db>" */
		if (!is_db_dir)
			ri->spcoid = GLOBALTABLESPACE_OID;
		else if (strncmp(rel_dir, "pg_tblspc/", 10) == 0)
			ri->spcoid = atooid(rel_dir + 10);
		else
			ri->spcoid = DEFAULTTABLESPACE_OID;
	}
	snprintf(ri->relation, MAXPGPATH, "%s/%.*s", rel_dir, oidchars, name);

	dot = strchr(name, '.');
	if (dot != NULL)
	{
		ri->segno = atoi(dot + 1);
		if (ri->segno <= 0)
		{
			ereport(WARNING,
					(errmsg("cannot verify page checksums in file \"%s/%s\": invalid segment number",
							rel_dir, name)));
			ri->verify = false;
		}
	}
}

/*
 * walk_dir
 *
 * Backs up the directory src_dir, known in the backup as rel_dir ("" for
 * the data directory itself), with basebackup.c's exclusions.
 */
static void
walk_dir(ExportState *st, const char *src_dir, const char *rel_dir, bool is_db_dir)
{
	DIR		   *dir;
	struct dirent *de;
	List	   *names = NIL;
	ListCell   *lc;
	bool		in_tblspc = (strcmp(rel_dir, "pg_tblspc") == 0);
	const char *last = strrchr(rel_dir, '/');

	last = last ? last + 1 : rel_dir;

	/* one directory open at a time, however deep the tree */
	dir = AllocateDir(src_dir);
	while ((de = ReadDir(dir, src_dir)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = lappend(names, pstrdup(de->d_name));
	}
	FreeDir(dir);
	list_sort(names, name_cmp);

	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);
		const char *src;
		const char *rel;
		struct stat sb;
		bool		excluded = false;
		int			oidchars;
		ForkNumber	fork;

		CHECK_FOR_INTERRUPTS();

		/* temporary files and directories */
		if (strncmp(name, PG_TEMP_FILE_PREFIX, strlen(PG_TEMP_FILE_PREFIX)) == 0)
			continue;
		if (name_matches(name, exclude_files))
		{
			elog(DEBUG1, "file \"%s\" excluded from backup", name);
			continue;
		}

		/* unlogged relations: only their init fork */
		if (is_db_dir && rvx_parse_relation_file(name, &oidchars, &fork) &&
			fork != INIT_FORKNUM)
		{
			char		initfork[MAXPGPATH];

			snprintf(initfork, MAXPGPATH, "%s/%.*s_init", src_dir, oidchars, name);
			if (lstat(initfork, &sb) == 0)
			{
				elog(DEBUG2, "unlogged relation file \"%s\" excluded from backup", name);
				note_unlogged(st, src_dir, rel_dir, name, oidchars);
				continue;
			}
		}
		/* temporary relations */
		if (is_db_dir && looks_like_temp_rel_name(name))
			continue;

		src = join_path(src_dir, name);
		rel = join_path(rel_dir, name);

		/* sent last */
		if (strcmp(rel, XLOG_CONTROL_FILE) == 0)
			continue;

		if (!pg_verify_mbstr(PG_UTF8, name, strlen(name), true))
		{
			ereport(WARNING,
					(errmsg("skipping \"%s\": its name is not valid UTF-8", src)));
			note_omission(st, RVX_OMIT_SKIPPED_FILE, rel,
						  "its name is not valid UTF-8 (shown with '?' for the bytes that are not)");
			continue;
		}

		if (lstat(src, &sb) != 0)
		{
			if (errno != ENOENT)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not stat file or directory \"%s\": %m", src)));
			continue;			/* gone meanwhile: not an error */
		}

		for (int i = 0; exclude_dir_contents[i] != NULL; i++)
		{
			if (strcmp(name, exclude_dir_contents[i]) == 0)
			{
				elog(DEBUG1, "contents of directory \"%s\" excluded from backup", name);
				st->rec.directories = lappend(st->rec.directories, (char *) rel);
				excluded = true;
				break;
			}
		}
		if (excluded)
			continue;

		/* WAL comes from the archive; keep the directories */
		if (strcmp(rel, XLOGDIR) == 0)
		{
			st->rec.directories = lappend(st->rec.directories, (char *) rel);
			st->rec.directories = lappend(st->rec.directories, XLOGDIR "/archive_status");
			continue;
		}

		/* tablespace links are followed separately (collect_tablespaces) */
		if (in_tblspc && S_ISLNK(sb.st_mode))
			continue;

		if (st->spool_rel != NULL && strcmp(rel, st->spool_rel) == 0)
		{
			ereport(WARNING,
					(errmsg("revrx does not back up its spool \"%s\", which is inside the data directory",
							st->spool_dir)));
			note_omission(st, RVX_OMIT_SKIPPED_FILE, rel,
						  "revrx's spool, inside the data directory: its WAL and backups are in the repository");
			continue;
		}

		if (S_ISDIR(sb.st_mode))
		{
			bool		skip = false;
			bool		child_db;
			ListCell   *tc;

			st->rec.directories = lappend(st->rec.directories, (char *) rel);

			/* a tablespace located inside the data directory */
			foreach(tc, st->tablespace_rpaths)
			{
				if (strcmp((char *) lfirst(tc), rel) == 0)
					skip = true;
			}
			if (skip)
				continue;

			/* base/<oid> and <tablespace>/PG_15_.../<oid> hold relations */
			child_db = strspn(name, "0123456789") == strlen(name) &&
				(strcmp(rel_dir, "base") == 0 ||
				 strcmp(last, TABLESPACE_VERSION_DIRECTORY) == 0);
			walk_dir(st, src, rel, child_db);
		}
		else if (S_ISREG(sb.st_mode) && sb.st_size >= LARGE_FILE_BYTES)
		{
			LargeFile  *lf = palloc(sizeof(LargeFile));

			lf->src = (char *) src;
			lf->rel = (char *) rel;
			relation_info(st, name, rel_dir, is_db_dir, &lf->ri);
			st->large_files = lappend(st->large_files, lf);
		}
		else if (S_ISREG(sb.st_mode))
		{
			RelFileInfo ri;

			relation_info(st, name, rel_dir, is_db_dir, &ri);
			(void) export_file(st, src, rel, &sb, &ri);
		}
		else
		{
			ereport(WARNING,
					(errmsg("skipping special file \"%s\"", src)));
			note_omission(st, RVX_OMIT_SKIPPED_FILE, rel,
						  "neither a regular file nor a directory (a socket, pipe, device or a symbolic link outside pg_tblspc)");
		}
	}
	list_free(names);
}

/*
 * export_large_files
 *
 * The files the walk put aside for their size (LARGE_FILE_BYTES), in the
 * walk's order, each looked at again just before it is read: one that is
 * gone meanwhile is not an error, as in the walk.
 */
static void
export_large_files(ExportState *st)
{
	ListCell   *lc;

	foreach(lc, st->large_files)
	{
		LargeFile  *lf = (LargeFile *) lfirst(lc);
		struct stat sb;

		CHECK_FOR_INTERRUPTS();
		if (lstat(lf->src, &sb) != 0)
		{
			if (errno != ENOENT)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not stat file \"%s\": %m", lf->src)));
			continue;
		}
		if (!S_ISREG(sb.st_mode))
		{
			ereport(WARNING,
					(errmsg("skipping \"%s\": it is no longer a regular file", lf->src)));
			note_omission(st, RVX_OMIT_SKIPPED_FILE, lf->rel,
						  "replaced by something other than a regular file while the backup ran");
			continue;
		}
		(void) export_file(st, lf->src, lf->rel, &sb, &lf->ri);
	}
	list_free_deep(st->large_files);
	st->large_files = NIL;
}

/*
 * utf8_shown
 *
 * A copy of s that is valid UTF-8, as everything in the record must be:
 * each byte of an invalid sequence becomes '?' (names on disk are bytes).
 */
static char *
utf8_shown(const char *s)
{
	char	   *out = pstrdup(s);
	int			len = strlen(out);

	for (int i = 0; i < len;)
	{
		int			l = pg_utf_mblen((const unsigned char *) out + i);

		if (l <= len - i && pg_utf8_islegal((const unsigned char *) out + i, l))
			i += l;
		else
			out[i++] = '?';
	}
	return out;
}

/*
 * note_omission
 *
 * Records something the backup does not hold (manifest.h): counted always,
 * listed while fewer than RVX_OMISSIONS_LISTED are.  Returns the listed
 * entry for the caller to complete, or NULL.
 */
static RevrxBackupOmission *
note_omission(ExportState *st, RevrxOmissionKind kind, const char *path,
			  const char *reason)
{
	RevrxBackupOmission *o;

	st->rec.omission_count++;
	if (list_length(st->rec.omissions) >= RVX_OMISSIONS_LISTED)
		return NULL;
	o = palloc0(sizeof(RevrxBackupOmission));
	o->kind = kind;
	o->path = path ? utf8_shown(path) : NULL;
	o->reason = reason ? pstrdup(reason) : NULL;
	st->rec.omissions = lappend(st->rec.omissions, o);
	return o;
}

/*
 * note_unlogged
 *
 * Counts one file of an unlogged relation (any fork but init, any segment)
 * against its relation, so that the record names each relation once with
 * the bytes left out.  rel_dir is a database directory: its last part is
 * the database's oid.  A relation's files do not always sort together
 * ("16390", "163900", "16390_fsm"), so they are matched by a hash table.
 */
static void
note_unlogged(ExportState *st, const char *src_dir, const char *rel_dir,
			  const char *name, int oidchars)
{
	char		relpath[UNLOGGED_KEYLEN];
	char		src[MAXPGPATH];
	const char *dbpart = strrchr(rel_dir, '/');
	struct stat sb;
	UnloggedEntry *e;
	bool		found;
	uint64		bytes = 0;

	if (st->unlogged == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = UNLOGGED_KEYLEN;
		ctl.entrysize = sizeof(UnloggedEntry);
		ctl.hcxt = CurrentMemoryContext;
		st->unlogged = hash_create("revrx unlogged relations", 256, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	snprintf(relpath, sizeof(relpath), "%s/%.*s", rel_dir, oidchars, name);
	snprintf(src, sizeof(src), "%s/%s", src_dir, name);
	if (lstat(src, &sb) == 0 && S_ISREG(sb.st_mode))
		bytes = (uint64) sb.st_size;

	e = hash_search(st->unlogged, relpath, HASH_ENTER, &found);
	if (!found)
	{
		st->rec.unlogged_relations++;
		e->listed = note_omission(st, RVX_OMIT_UNLOGGED, relpath, NULL);
		if (e->listed)
		{
			e->listed->oid = atooid(dbpart ? dbpart + 1 : rel_dir);
			e->listed->relfilenode = (Oid) strtoul(name, NULL, 10);
		}
	}
	st->rec.unlogged_bytes += bytes;
	if (e->listed)
		e->listed->bytes += bytes;
}

/* ------------------------------------------------------------- one file */

static void
add_file(ExportState *st, const char *rel, uint64 size, pg_time_t mtime,
		 const RvxObjectHeader *hdr)
{
	RevrxBackupFile *f;

	if (st->rec.nfiles == st->files_cap)
	{
		st->files_cap = st->files_cap ? st->files_cap * 2 : 1024;
		st->rec.files = st->rec.files ?
			repalloc_huge(st->rec.files, st->files_cap * sizeof(RevrxBackupFile)) :
			palloc(st->files_cap * sizeof(RevrxBackupFile));
	}
	f = &st->rec.files[st->rec.nfiles++];
	f->path = pstrdup(rel);
	f->size = size;
	f->mtime = mtime;
	memcpy(f->sha256, hdr->sha256, RVX_SHA256_LEN);
	memcpy(f->object_sha256, hdr->sha256, RVX_SHA256_LEN);
	f->stored = RVX_OBJECT_HEADER_LEN + hdr->payload_size;
	f->delta = false;
	f->sparse = false;
	f->has_chunk_digest = false;

	st->original_bytes += size;
	st->stored_bytes += f->stored;
	st->spool_estimate += f->stored;
}

/*
 * record_problem
 *
 * A page that failed verification twice: logged (the first few per file),
 * listed in backup.json, shown by revrx_backups().
 */
static void
record_problem(ExportState *st, const char *rel, const RelFileInfo *ri,
			   BlockNumber file_block, uint16 calculated, uint16 expected,
			   int file_failures)
{
	RevrxBackupProblem *p = palloc(sizeof(RevrxBackupProblem));
	StringInfoData one;

	p->path = pstrdup(rel);
	p->relation = pstrdup(ri->relation);
	p->fork = forkNames[ri->fork];
	p->block = (BlockNumber) ri->segno * RELSEG_SIZE + file_block;
	p->message = psprintf("page verification failed, calculated checksum %u but expected %u",
						  calculated, expected);

	st->rec.problem_count++;
	if (list_length(st->rec.problems) < MAX_LISTED_PROBLEMS)
		st->rec.problems = lappend(st->rec.problems, p);

	initStringInfo(&one);
	revrx_problem_json(&one, p);
	if (st->problems_json.len + one.len + 3 < REVRX_PROBLEMS_LEN)
	{
		appendStringInfoString(&st->problems_json, st->problems_json.len ? ", " : "");
		appendStringInfoString(&st->problems_json, one.data);
		st->problems_changed = true;
	}
	pfree(one.data);

	if (file_failures <= MAX_REPORTED_FAILURES)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checksum verification failed in file \"%s\", block %u: calculated %X but expected %X",
						rel, file_block, calculated, expected),
				 errdetail("Block %u of the %s fork of relation %s.  Backup %s goes on and records the problem.",
						   p->block, p->fork, p->relation, st->job->id)));
	if (file_failures == MAX_REPORTED_FAILURES)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("further checksum verification failures in file \"%s\" will not be reported",
						rel)));
}

/*
 * verify_chunk
 *
 * Checks the pages in buf (*len bytes read at offset; a multiple of
 * BLCKSZ), re-reading a failing block once into buf.  *len shrinks if the
 * file turns out to have been truncated meanwhile.
 */
static void
verify_chunk(ExportState *st, int fd, const char *src, const char *rel,
			 const RelFileInfo *ri, ssize_t *len, uint64 offset,
			 BlockNumber *file_block, int *file_failures)
{
	int			nblocks = (int) (*len / BLCKSZ);
	bool		retried = false;

	memset(st->page_failed, 0, sizeof(st->page_failed));
	for (int i = 0; i < nblocks; i++)
	{
		char	   *page = io_buf + (size_t) i * BLCKSZ;
		BlockNumber blkno = (BlockNumber) ri->segno * RELSEG_SIZE + *file_block;

		if (!PageIsNew((Page) page) && PageGetLSN((Page) page) < st->start_lsn)
		{
			uint16		calculated = pg_checksum_page(page, blkno);
			uint16		expected = ((PageHeader) page)->pd_checksum;

			if (calculated != expected)
			{
				if (!retried)
				{
					ssize_t		n;

					/* maybe torn by a concurrent write: read it again */
					n = pg_pread(fd, page, BLCKSZ, offset + (uint64) i * BLCKSZ);
					if (n < 0)
						ereport(ERROR,
								(errcode_for_file_access(),
								 errmsg("could not read file \"%s\": %m", src)));
					if (n == 0)
					{
						/* truncated meanwhile; WAL replay fixes it */
						*len = (ssize_t) i * BLCKSZ;
						return;
					}
					if (n != BLCKSZ)
						ereport(ERROR,
								(errcode_for_file_access(),
								 errmsg("could not read file \"%s\": read %d of %d",
										src, (int) n, BLCKSZ)));
					retried = true;
					i--;
					continue;
				}
				(*file_failures)++;
				st->page_failed[i] = true;
				record_problem(st, rel, ri, *file_block, calculated, expected,
							   *file_failures);
			}
		}
		retried = false;
		(*file_block)++;
	}
}

/* A data directory file opened for reading; -1 if it disappeared. */
static int
open_source(const char *src)
{
	int			fd = OpenTransientFile(src, O_RDONLY | PG_BINARY);

	if (fd < 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", src)));
	return fd;
}

/* The total of a file's damaged pages, when there were any. */
static void
report_failures(const char *rel, const RelFileInfo *ri, int failures)
{
	if (failures > 1)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg_plural("file \"%s\" has a total of %d checksum verification failure",
							   "file \"%s\" has a total of %d checksum verification failures",
							   failures, rel, failures)));
	if (failures > 0)
		pgstat_report_checksum_failures_in_db(ri->dboid, failures);
}

/*
 * read_padded
 *
 * Reads len bytes of the file at offset into buf; what a file cut
 * meanwhile does not have is zeros, as export_file pads (WAL replay fixes
 * it).  Returns how many bytes were read.
 */
static size_t
read_padded(int fd, const char *src, char *buf, size_t len, uint64 offset)
{
	size_t		got = 0;

	while (got < len)
	{
		ssize_t		n;

		pgstat_report_wait_start(WAIT_EVENT_BASEBACKUP_READ);
		n = pg_pread(fd, buf + got, len - got, (off_t) (offset + got));
		pgstat_report_wait_end();
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", src)));
		if (n == 0)
		{
			memset(buf + got, 0, len - got);
			break;
		}
		got += (size_t) n;
	}
	return got;
}

/*
 * switch_to_whole
 *
 * A file being stored as a delta turned out to have more changed pages
 * than a delta is worth (delta_chunk said so before writing the chunk that
 * showed it): its object starts again as the whole file.  The first done
 * bytes, read already, are read again (they were read a moment ago, so
 * mostly from the page cache; nothing is read twice for files that stay
 * deltas), then the caller goes on with the chunk in hand as for any file.
 * The record's digest is then the object's own, of the whole file as
 * read, as for every file stored whole.  A page changed between the two
 * reads is as any page changed during the backup: WAL replay rewrites it.
 */
static void
switch_to_whole(ExportState *st, SpoolObject *o, int fd, const char *src, uint64 done)
{
	instr_time	start,
				end;

	if (reread_buf == NULL)
		reread_buf = MemoryContextAlloc(TopMemoryContext, IO_CHUNK);
	if (ftruncate(o->fd, 0) != 0 || lseek(o->fd, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not truncate file \"%s\": %m", o->tmp)));
	object_begin(st, o);
	/* the digests are of what the object holds: the bytes read again */
	if (st->file_chunked)
		rvx_chunk_digest_init(chunk_digest);

	for (uint64 pos = 0; pos < done;)
	{
		size_t		want = (size_t) Min((uint64) IO_CHUNK, done - pos);

		INSTR_TIME_SET_CURRENT(start);
		(void) read_padded(fd, src, reread_buf, want, pos);
		INSTR_TIME_SET_CURRENT(end);
		INSTR_TIME_ACCUM_DIFF(st->t_read, end, start);
		content_write(st, o, reread_buf, want);
		pos += want;
		CHECK_FOR_INTERRUPTS();
	}
	st->rec.whole_files++;
	st->rec.whole_blocks_reread += done / BLCKSZ;
}

/*
 * export_unchanged
 *
 * A segment of a relation that the WAL summaries say no WAL touched since
 * the parent began: it is not read.  Its delta holds no page, only the
 * parent's size, and its record takes the parent's size and SHA-256, which
 * is what restore rebuilds from the parent and checks; changes made after
 * this backup started are WAL replay's to redo, as for every file.  When
 * the parent's copy was itself a sparse delta, with no digest, so is this.
 */
static bool
export_unchanged(ExportState *st, const char *rel, const struct stat *sb,
				 const ParentFile *pf)
{
	SpoolObject o;
	RvxObjectHeader hdr;
	RevrxBackupFile *f;

	data_object_open(st, &o, rel);
	delta_finish(st, &o, 0, pf->size);
	object_close(st, &o, &hdr, false);
	add_file(st, rel, pf->size, (pg_time_t) sb->st_mtime, &hdr);
	f = &st->rec.files[st->rec.nfiles - 1];
	f->delta = true;
	if (pf->sha_known)
		memcpy(f->sha256, pf->sha256, RVX_SHA256_LEN);
	else
	{
		memset(f->sha256, 0, RVX_SHA256_LEN);
		f->sparse = true;
	}
	st->rec.delta_files_unread++;
	publish_progress(st);
	return true;
}

/*
 * export_sparse
 *
 * A segment of a relation some of whose blocks the WAL summaries name (not
 * more than half: rvx_delta_store_whole), with the parent's size known:
 * only those blocks are read, in runs of adjacent ones, page-checked as
 * any, and stored as its delta; the rest of the file is not read, as
 * pg_basebackup --incremental does.  Why the other blocks are the
 * parent's: docs/incremental.md, "Why a block the summaries do not name is
 * the parent's"; pages changed after this backup started are WAL replay's
 * to redo, torn or not.
 *
 * Without reading the whole file there is no digest of it: the record is
 * marked sparse and has none, and restore checks every piece the file is
 * rebuilt from (the whole copy's digest, each delta's) and records the
 * rebuilt file's digest in backup_manifest.  A file cut while it is read
 * keeps the zeros the reads did not fill, as export_file pads; WAL replay
 * fixes it.  False if the file disappeared before it could be opened.
 */
static bool
export_sparse(ExportState *st, const char *src, const char *rel,
			  const struct stat *sb, const RelFileInfo *ri)
{
	uint64		size = (uint64) sb->st_size;
	uint32		npages = (uint32) (size / BLCKSZ);
	bool		verify = ri->verify;
	int			failures = 0;
	int			nblocks = 0;
	uint64		blocks_read = 0;
	SpoolObject o;
	RvxObjectHeader hdr;
	RevrxBackupFile *f;
	int			fd;

	fd = open_source(src);
	if (fd < 0)
		return false;			/* it disappeared: nothing to back up */
	data_object_open(st, &o, rel);

	for (uint32 b = 0; b < npages;)
	{
		uint32		first;
		int			n;
		ssize_t		len;
		ssize_t		got;
		BlockNumber file_block;
		instr_time	start,
					end;

		if (!block_summarized(st, b))
		{
			b++;
			continue;
		}
		/* a run of adjacent blocks, one read */
		first = b;
		while (b < npages && b - first < IO_CHUNK / BLCKSZ && block_summarized(st, b))
			b++;
		n = (int) (b - first);
		len = (ssize_t) n * BLCKSZ;

		INSTR_TIME_SET_CURRENT(start);
		got = (ssize_t) read_padded(fd, src, io_buf, (size_t) len, (uint64) first * BLCKSZ);
		INSTR_TIME_SET_CURRENT(end);
		INSTR_TIME_ACCUM_DIFF(st->t_read, end, start);
		blocks_read += (uint64) n;

		if (verify && got > 0)
		{
			ssize_t		checked = got - got % BLCKSZ;

			file_block = first;
			INSTR_TIME_SET_CURRENT(start);
			verify_chunk(st, fd, src, rel, ri, &checked, (uint64) first * BLCKSZ,
						 &file_block, &failures);
			INSTR_TIME_SET_CURRENT(end);
			INSTR_TIME_ACCUM_DIFF(st->t_verify, end, start);
		}

		memset(st->chunk_in_delta, true, n);
		delta_write(st, &o, io_buf, n, first, &nblocks);

		if (!PostmasterIsAlive())
			proc_exit(1);
		CHECK_FOR_INTERRUPTS();
	}
	delta_finish(st, &o, nblocks, size);
	st->rec.delta_blocks_read += blocks_read;
	st->rec.delta_files_sparse++;

	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", src)));

	object_close(st, &o, &hdr, false);
	add_file(st, rel, size, (pg_time_t) sb->st_mtime, &hdr);
	f = &st->rec.files[st->rec.nfiles - 1];
	memset(f->sha256, 0, RVX_SHA256_LEN);
	f->delta = true;
	f->sparse = true;
	report_failures(rel, ri, failures);
	publish_progress(st);
	return true;
}

/*
 * export_file
 *
 * One file of the data directory into the spool.  Reads the size lstat()
 * gave (a file that grew meanwhile is cut there, one that shrank is padded
 * with zeros, as basebackup.c does; WAL replay fixes both).  False if the
 * file disappeared before it could be opened.
 */
static bool
export_file(ExportState *st, const char *src, const char *rel,
			const struct stat *sb, const RelFileInfo *ri)
{
	int			fd;
	SpoolObject o;
	uint64		size = (uint64) sb->st_size;
	uint64		done = 0;
	bool		verify = (ri != NULL && ri->verify);
	BlockNumber file_block = 0;
	int			failures = 0;
	RvxObjectHeader hdr;
	bool		delta;
	int			nblocks = 0;
	uint64		blocks_read = 0;	/* for the record's count, if a delta */
	ParentFile *pf = NULL;

	wait_for_spool_room(st);

	/* with a parent: the changed pages of a relation file it has (see delta.h) */
	/*
	 * Only the main fork: a visibility map page can change without its LSN
	 * (a heap change clears a bit, and only the heap record is logged), and
	 * the free space map is not WAL-logged at all.  Both are small.
	 */
	if (st->parent_files != NULL && ri != NULL && ri->is_relation &&
		ri->fork == MAIN_FORKNUM && size % BLCKSZ == 0)
		pf = hash_search(st->parent_files, rel, HASH_FIND, NULL);
	delta = (pf != NULL);
	st->file_summarized = false;
	if (delta && st->summaries != NULL)
	{
		RvxSegmentChanges ch;

		rvx_wal_summaries_segment(st->summaries, ri->spcoid, ri->dboid, ri->relnumber,
								  ri->fork, ri->segno, &ch, st->named);
		if (ch.new_database)
			delta = false;		/* a database copied in: stored whole */
		/*
		 * Unread only when the file still has the parent's size: a size
		 * that changed without a summarized change (growth or truncation
		 * not in the WAL) is read, as a summarized file is.
		 */
		else if (ch.nnamed == 0 && pf->known && pf->size % BLCKSZ == 0 &&
				 size == pf->size && ch.limit >= pf->size / BLCKSZ)
			return export_unchanged(st, rel, sb, pf);
		else
		{
			st->file_summarized = true;
			st->file_limit = ch.limit;
			st->file_parent_blocks = pf->known ? (uint32) (pf->size / BLCKSZ) : RELSEG_SIZE;
			/* known before reading: mostly changed, so read it as a whole file */
			if (rvx_delta_store_whole(summarized_pages(st, (uint32) (size / BLCKSZ)),
									  size / BLCKSZ))
			{
				delta = false;
				st->file_summarized = false;
				st->rec.whole_files++;
			}
			else if (pf->known && pf->size % BLCKSZ == 0)
				return export_sparse(st, src, rel, sb, ri);
		}
	}
	if (delta && rvx_sha256_init(st->file_sha) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));

	fd = open_source(src);
	if (fd < 0)
		return false;			/* it disappeared: nothing to back up */
#ifdef USE_POSIX_FADVISE
	(void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif

	data_object_open(st, &o, rel);
	st->file_chunked = (size > RVX_CHUNK_DIGEST_MIN);
	if (st->file_chunked)
		rvx_chunk_digest_init(chunk_digest);

	while (done < size)
	{
		size_t		want = (size_t) Min((uint64) IO_CHUNK, size - done);
		ssize_t		n;
		instr_time	start,
					end;

		INSTR_TIME_SET_CURRENT(start);
		pgstat_report_wait_start(WAIT_EVENT_BASEBACKUP_READ);
		n = pg_pread(fd, io_buf, want, (off_t) done);
		pgstat_report_wait_end();
		INSTR_TIME_SET_CURRENT(end);
		INSTR_TIME_ACCUM_DIFF(st->t_read, end, start);
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", src)));
		if (n == 0)
			break;

		if (verify && n % BLCKSZ != 0)
		{
			ereport(WARNING,
					(errmsg("could not verify checksum in file \"%s\", block %u: read buffer size %d and page size %d differ",
							rel, file_block, (int) n, BLCKSZ)));
			verify = false;
		}
		if (verify)
		{
			INSTR_TIME_SET_CURRENT(start);
			verify_chunk(st, fd, src, rel, ri, &n, done, &file_block, &failures);
			INSTR_TIME_SET_CURRENT(end);
			INSTR_TIME_ACCUM_DIFF(st->t_verify, end, start);
			if (n == 0)
				break;
		}

		if (delta)
		{
			if (!delta_chunk(st, &o, ri, io_buf, (size_t) n, done, verify, size / BLCKSZ,
							 &nblocks))
			{
				switch_to_whole(st, &o, fd, src, done);
				delta = false;
			}
		}
		if (!delta)
			content_write(st, &o, io_buf, n);
		done += n;
		blocks_read += n / BLCKSZ;

		/*
		 * Without a postmaster there is no server to back up, and a new one
		 * cannot start while we are attached to the shared memory.
		 */
		if (!PostmasterIsAlive())
			proc_exit(1);

		if (st->original_bytes + done - st->published_bytes >= PROGRESS_BYTES)
		{
			st->published_bytes = st->original_bytes + done;
			publish_progress(st);
		}
		CHECK_FOR_INTERRUPTS();
	}

	/* truncated while we read it: pad with zeros */
	if (done < size)
	{
		memset(io_buf, 0, IO_CHUNK);
		while (done < size)
		{
			size_t		n = (size_t) Min((uint64) IO_CHUNK, size - done);

			if (delta &&
				!delta_chunk(st, &o, ri, io_buf, n, done, false, size / BLCKSZ, &nblocks))
			{
				switch_to_whole(st, &o, fd, src, done);
				delta = false;
			}
			if (!delta)
				content_write(st, &o, io_buf, n);
			done += n;
		}
	}
	if (delta)
	{
		delta_finish(st, &o, nblocks, size);
		st->rec.delta_blocks_read += blocks_read;
	}

	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", src)));

	object_close(st, &o, &hdr, false);
	add_file(st, rel, size, (pg_time_t) sb->st_mtime, &hdr);
	if (delta)
	{
		RevrxBackupFile *f = &st->rec.files[st->rec.nfiles - 1];

		/* the record holds the whole file's digest: restore checks the rebuilt file */
		if (rvx_sha256_final(st->file_sha, f->sha256) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not compute SHA-256")));
		f->delta = true;
	}
	if (st->file_chunked)
	{
		RevrxBackupFile *f = &st->rec.files[st->rec.nfiles - 1];

		rvx_chunk_digest_final(chunk_digest, f->chunk_digest);
		f->has_chunk_digest = true;
		st->file_chunked = false;
	}

	report_failures(rel, ri, failures);
	publish_progress(st);
	return true;
}

/*
 * export_content
 *
 * A file that the backup contains but the data directory does not
 * (backup_label, tablespace_map).
 */
static void
export_content(ExportState *st, const char *rel, const char *content)
{
	SpoolObject o;
	size_t		len = strlen(content);
	RvxObjectHeader hdr;

	data_object_open(st, &o, rel);
	if (len > 0)
		object_write(st, &o, content, len);
	object_close(st, &o, &hdr, false);
	add_file(st, rel, len, (pg_time_t) time(NULL), &hdr);
}

/* ------------------------------------------------------------ the commit */

/* fsync path if it still exists (the agent deletes what it has stored). */
static void
fsync_if_exists(const char *path, bool isdir)
{
	int			fd;

	fd = OpenTransientFile(path, (isdir ? O_RDONLY : O_RDWR) | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
}

/* Adds the regular files and the directories under dirpath to the lists. */
static void
collect_tree(const char *dirpath, List **files, List **dirs)
{
	DIR		   *dir;
	struct dirent *de;
	List	   *subdirs = NIL;
	ListCell   *lc;

	/* one directory open at a time, as in walk_dir */
	dir = AllocateDir(dirpath);
	if (dir == NULL && errno == ENOENT)
		return;
	while ((de = ReadDir(dir, dirpath)) != NULL)
	{
		char		path[MAXPGPATH];
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, MAXPGPATH, "%s/%s", dirpath, de->d_name);
		if (lstat(path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			subdirs = lappend(subdirs, pstrdup(path));
		else if (S_ISREG(sb.st_mode))
			*files = lappend(*files, pstrdup(path));
	}
	FreeDir(dir);
	foreach(lc, subdirs)
		collect_tree((char *) lfirst(lc), files, dirs);
	list_free_deep(subdirs);
	*dirs = lappend(*dirs, pstrdup(dirpath));
}

/*
 * sync_tree
 *
 * Makes what is left of the backup's objects, and its directories,
 * durable before backup.json commits to them.  The writeback of every
 * file is started first and waited for after, as PostgreSQL's
 * fsync_pgdata() does: the device gets all of the writes at once rather
 * than one file's at a time.  Objects the agent ships and removes
 * meanwhile are skipped.
 */
static void
sync_tree(const char *dirpath)
{
	List	   *files = NIL;
	List	   *dirs = NIL;
	ListCell   *lc;

	collect_tree(dirpath, &files, &dirs);
	foreach(lc, files)
	{
		int			fd;

		CHECK_FOR_INTERRUPTS();
		fd = OpenTransientFile((char *) lfirst(lc), O_RDONLY | PG_BINARY);

		if (fd >= 0)
		{
			pg_flush_data(fd, 0, 0);
			(void) CloseTransientFile(fd);
		}
	}
	foreach(lc, files)
	{
		CHECK_FOR_INTERRUPTS();
		fsync_if_exists((char *) lfirst(lc), false);
	}
	/* deepest first: a directory after the entries in it */
	foreach(lc, dirs)
		fsync_if_exists((char *) lfirst(lc), true);
	list_free_deep(files);
	list_free_deep(dirs);
}

typedef struct DocumentSink
{
	ExportState *st;
	SpoolObject *o;
} DocumentSink;

static void
document_sink(void *arg, const char *data, size_t len)
{
	DocumentSink *ds = (DocumentSink *) arg;

	object_write(ds->st, ds->o, data, len);
}

/*
 * write_document
 *
 * backup_manifest or backup.json, as <backup_dir>/<name>.rvx, durably.
 */
static void
write_document(ExportState *st, const char *name,
			   void (*writefn) (const RevrxBackupRecord *, RevrxTextSink, void *),
			   RvxObjectHeader *hdr)
{
	SpoolObject o;
	char		final[MAXPGPATH];
	DocumentSink ds;
	RvxObjectHeader local;

	snprintf(final, MAXPGPATH, "%s/%s%s", st->backup_dir, name, RVX_SPOOL_READY_SUFFIX);
	object_open(st, &o, final, false);
	ds.st = st;
	ds.o = &o;
	writefn(&st->rec, document_sink, &ds);
	object_close(st, &o, hdr ? hdr : &local, true);
}

/* ---------------------------------------------------------- reporting */

static const char *
phase_activity(RevrxBackupPhase phase)
{
	switch (phase)
	{
		case REVRX_PHASE_CHECKPOINT:
			return "waiting for checkpoint";
		case REVRX_PHASE_COPYING:
			return "copying files";
		case REVRX_PHASE_SPOOL_FULL:
			return "waiting for room in the spool";
		case REVRX_PHASE_STOPPING:
			return "waiting for WAL archiving";
		case REVRX_PHASE_COMMITTING:
			return "writing manifest";
		case REVRX_PHASE_SHIPPING:
			return "waiting for revrx-agent";
		case REVRX_PHASE_NONE:
			break;
	}
	return "idle";
}

static void
set_phase(ExportState *st, RevrxBackupPhase phase)
{
	char		activity[128];

	st->phase = phase;
	revrx_backup_set_phase(st->job->slot, phase);
	snprintf(activity, sizeof(activity), "backup %s: %s", st->job->id,
			 phase_activity(phase));
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
publish_progress(ExportState *st)
{
	char	   *problems = NULL;

	if (st->problems_changed)
	{
		problems = psprintf("[%s]", st->problems_json.data);
		st->problems_changed = false;
	}
	else if (st->rec.nfiles <= 1)
		problems = "[]";
	revrx_backup_set_progress(st->job->slot, st->rec.nfiles, st->original_bytes,
							  st->stored_bytes, (int32) Min(st->rec.problem_count, PG_INT32_MAX),
							  problems);
}

static double
secs(instr_time t)
{
	return INSTR_TIME_GET_DOUBLE(t);
}

static void
log_summary(ExportState *st)
{
	instr_time	total;
	double		elapsed;

	INSTR_TIME_SET_CURRENT(total);
	INSTR_TIME_SUBTRACT(total, st->t_start);
	elapsed = secs(total);

	ereport(LOG,
			(errmsg("revrx backup %s exported: %d files, %.1f MB stored as %.1f MB in %.1f s (%.1f MB/s)%s%s",
					st->job->id, st->rec.nfiles,
					st->original_bytes / 1048576.0, st->stored_bytes / 1048576.0,
					elapsed, elapsed > 0 ? st->original_bytes / 1048576.0 / elapsed : 0.0,
					st->rec.problem_count > 0 ? psprintf(", %lld damaged pages",
														 (long long) st->rec.problem_count) : "",
					st->rec.parent ? psprintf("; incremental to %s (%s): %d relation files as %lld changed pages (%.1f MB), %d of them unread, %d read at their named blocks only, %.1f MB of them read; %d mostly changed relation files stored whole, %.1f MB of them read twice",
											  st->rec.parent, st->rec.block_source,
											  st->rec.delta_files,
											  (long long) st->rec.delta_pages,
											  st->rec.delta_pages * (double) BLCKSZ / 1048576.0,
											  st->rec.delta_files_unread,
											  st->rec.delta_files_sparse,
											  st->rec.delta_blocks_read * (double) BLCKSZ / 1048576.0,
											  st->rec.whole_files,
											  st->rec.whole_blocks_reread * (double) BLCKSZ / 1048576.0) : ""),
			 errdetail("Reading %.1f s, page checks %.1f s, hashing and compressing (%s, %d compression threads) %.1f s, writing the spool %.1f s, waiting for room in the spool %.1f s, waiting for WAL archiving %.1f s, fsync %.1f s.",
					   secs(st->t_read), secs(st->t_verify),
					   rvx_compression_name(st->rec.compression),
					   rvx_object_writer_workers(st->writer),
					   secs(st->t_object) - secs(st->t_write), secs(st->t_write),
					   secs(st->t_spool_wait), secs(st->t_stop), secs(st->t_sync))));
}

/* ---------------------------------------------------------------- markers */

bool
revrx_backup_write_marker(const char *spool_dir, const char *id,
						  const char *suffix, const char *content, int elevel)
{
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	int			fd;
	size_t		len = strlen(content);

	snprintf(dir, MAXPGPATH, "%s/%s", spool_dir, RVX_SPOOL_BACKUP_DIR);
	snprintf(path, MAXPGPATH, "%s/%s%s", dir, id, suffix);
	snprintf(tmp, MAXPGPATH, "%s%s", path, RVX_SPOOL_TMP_SUFFIX);

	if (MakePGDirectory(dir) != 0 && errno != EEXIST)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
		return false;
	}

	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
							   pg_file_create_mode);
	if (fd < 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
		return false;
	}
	errno = 0;
	if (write(fd, content, len) != (ssize_t) len ||
		write(fd, "\n", 1) != 1)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
		CloseTransientFile(fd);
		return false;
	}
	if (CloseTransientFile(fd) != 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", tmp)));
		return false;
	}
	return durable_rename(tmp, path, elevel) == 0;
}
