/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The revrx.* settings: their variables, definitions and check hooks.
 *
 * revrx_settings_define() runs in every process that loads the library,
 * preloaded or not: the archiver loads the archive module by itself and
 * must see the settings even when the library was not preloaded.  The
 * contract of each variable is in settings.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "archive_compat.h"
#include "compress.h"
#include "cron.h"
#include "settings.h"

/* ---------------------------------------------------------------- settings */

char	   *revrx_spool_dir = NULL;
int			revrx_compression = RVX_COMPRESS_ZSTD;
int			revrx_compression_level = 0;
int			revrx_archive_ack = REVRX_ACK_REPOSITORY;
int			revrx_archive_timeout = 60;
int			revrx_archive_lookahead = 8;
int			revrx_archive_fast_backlog = 8;
int			revrx_archive_lookahead_workers = 1;
int			revrx_backup_compress_workers = 2;
int			revrx_spool_max_size = 1024;
char	   *revrx_fingerprint_database = NULL;
int			revrx_fingerprint_lock_timeout = 5000;
bool		revrx_fingerprint_settle = true;
int			revrx_partial_interval = 500;
char	   *revrx_backup_schedule = NULL;
const struct RevrxCron *revrx_backup_cron = NULL;
char	   *revrx_backup_schedule_incremental = NULL;
const struct RevrxCron *revrx_backup_cron_incremental = NULL;

static const struct config_enum_entry compression_options[] = {
	{"zstd", RVX_COMPRESS_ZSTD, false},
	{"gzip", RVX_COMPRESS_GZIP, false},
	{"lz4", RVX_COMPRESS_LZ4, false},
	{"none", RVX_COMPRESS_NONE, false},
	{NULL, 0, false}
};

static const struct config_enum_entry archive_ack_options[] = {
	{"repository", REVRX_ACK_REPOSITORY, false},
	{"spool", REVRX_ACK_SPOOL, false},
	{NULL, 0, false}
};

static bool check_spool_dir(char **newval, void **extra, GucSource source);
static bool check_backup_schedule(char **newval, void **extra, GucSource source);
static bool check_partial_interval(int *newval, void **extra, GucSource source);
static bool check_backup_compress_workers(int *newval, void **extra, GucSource source);
static void assign_backup_schedule(const char *newval, void *extra);
static void assign_backup_schedule_incremental(const char *newval, void *extra);

/*
 * revrx_settings_define
 *
 * Defines the settings (from _PG_init) and reserves the "revrx" prefix.
 */
void
revrx_settings_define(void)
{
	DefineCustomStringVariable("revrx.spool_dir",
							   "Directory shared with revrx-agent (the spool).",
							   "WAL is handed to the agent through this directory; "
							   "archiving waits while it is empty.",
							   &revrx_spool_dir,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_spool_dir, NULL, NULL);

	DefineCustomEnumVariable("revrx.compression",
							 "Compression of archived WAL and of base backups.",
							 "zstd, gzip, lz4 (about 60% of zstd's CPU per WAL segment, 1.7 times the bytes) or none.",
							 &revrx_compression,
							 RVX_COMPRESS_ZSTD,
							 compression_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.compression_level",
							"Compression level of archived WAL.",
							"0 selects the algorithm's default level.",
							&revrx_compression_level,
							0,
							0, 19,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("revrx.archive_ack",
							 "When a WAL file counts as archived.",
							 "\"repository\": once revrx-agent confirmed it in the repository; "
							 "\"spool\": once it is durable in the spool.",
							 &revrx_archive_ack,
							 REVRX_ACK_REPOSITORY,
							 archive_ack_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.archive_timeout",
							"Longest time one archive attempt waits for revrx-agent.",
							"After this, the attempt fails and the archiver retries it later.",
							&revrx_archive_timeout,
							60,
							1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.archive_lookahead",
							"How many further ready WAL segments to spool while waiting.",
							"They are shipped in parallel, so later archive calls usually find them confirmed.",
							&revrx_archive_lookahead,
							8,
							0, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.archive_fast_backlog",
							"How many WAL segments waiting to be archived make revrx compress at the fastest level.",
							"While at least this many ready segments wait behind the one being archived, "
							"the segments spooled ahead are compressed at the codec's fastest level "
							"(zstd 1): a backlog drains sooner, for somewhat larger objects.  0 never does.",
							&revrx_archive_fast_backlog,
							8,
							0, 1048576,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.archive_lookahead_workers",
							"How many background workers spool ready WAL segments ahead of the archiver.",
							"Each compresses in its own process, in parallel with the archiver, so a "
							"backlog of WAL drains on that many more cores; 0 leaves it to the archiver alone.",
							&revrx_archive_lookahead_workers,
							1,
							0, RVX_AHEAD_WORKERS_MAX,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.backup_compress_workers",
							"How many zstd threads compress a backup beside the exporter.",
							"The exporter reads, checks and hashes each file while these threads "
							"compress it, so one large file is compressed on that many cores; "
							"0 compresses in the exporter itself.  zstd only.",
							&revrx_backup_compress_workers,
							2,
							0, RVX_COMPRESS_WORKERS_MAX,
							PGC_SIGHUP,
							0,
							check_backup_compress_workers, NULL, NULL);

	DefineCustomIntVariable("revrx.spool_max_size",
							"Spool size above which no segment is spooled ahead of time and backups wait.",
							"The segment the archiver asks for is always spooled; a backup waits "
							"while its objects in the spool take more than this.",
							&revrx_spool_max_size,
							1024,
							16, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomStringVariable("revrx.backup_schedule",
							   "When the backup worker takes full backups by itself.",
							   "Five cron fields (minute hour day-of-month month day-of-week) "
							   "in the server's time zone, e.g. \"0 2 * * *\"; empty for none.",
							   &revrx_backup_schedule,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_backup_schedule, assign_backup_schedule, NULL);

	DefineCustomStringVariable("revrx.backup_schedule_incremental",
							   "When the backup worker takes incremental backups by itself.",
							   "Same form as revrx.backup_schedule, e.g. \"0 2 * * 1-6\" with a full backup "
							   "\"0 2 * * 0\"; when both are due at once the full backup is taken.  "
							   "Empty for none.",
							   &revrx_backup_schedule_incremental,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_backup_schedule, assign_backup_schedule_incremental, NULL);

	DefineCustomStringVariable("revrx.fingerprint_database",
							   "Database whose tables are fingerprinted after each backup.",
							   "Row counts and content hashes of every permanent table, taken at a "
							   "restore point after the backup, for restore drills to compare; "
							   "empty for none.",
							   &revrx_fingerprint_database,
							   "postgres",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.fingerprint_lock_timeout",
							"How long the fingerprint worker waits for its table locks.",
							"Writes to the database wait while it holds them (milliseconds, "
							"normally); after this it gives up and the backup has no fingerprints.",
							&revrx_fingerprint_lock_timeout,
							5000,
							1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("revrx.fingerprint_settle",
							 "Reads the fingerprinted tables once before each backup starts.",
							 "That sets the hint bits the fingerprint scan after the backup would "
							 "set; with data checksums each such page is WAL-logged with a new LSN, "
							 "and the next incremental would store it again (docs/incremental.md).",
							 &revrx_fingerprint_settle,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("revrx.partial_interval",
							"How often the WAL written since the last complete segment is exported.",
							"While WAL is written, the WAL exporter writes the WAL flushed since its "
							"last round to the spool this often, so the repository is about this far "
							"behind plus one upload; 0 turns it off.",
							&revrx_partial_interval,
							500,
							0, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							check_partial_interval, NULL, NULL);

	MarkGUCPrefixReserved("revrx");
}

/*
 * check_spool_dir
 *
 * Accepts "" (archiving is then not configured) or an absolute path short
 * enough for every spool file name.  Whether the directory exists is
 * checked when archiving, not here: the shared volume may be mounted after
 * the configuration is loaded, and a check here would also run in every
 * backend at every reload.
 */
static bool
check_spool_dir(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;

	if (!is_absolute_path(*newval))
	{
		GUC_check_errdetail("revrx.spool_dir must be an absolute path.");
		GUC_check_errhint("Use the path at which the volume shared with revrx-agent is mounted, e.g. \"/var/lib/revrx/spool\".");
		return false;
	}

	/* Room for "/wal/" + the longest archived name + suffixes. */
	if (strlen(*newval) >= MAXPGPATH - 64)
	{
		GUC_check_errdetail("revrx.spool_dir is longer than %d bytes.",
							MAXPGPATH - 64 - 1);
		return false;
	}

	/* Remove trailing and doubled slashes; this only ever shortens it. */
	canonicalize_path(*newval);

	return true;
}

/*
 * check_partial_interval
 *
 * 0 (off) or at least RVX_PARTIAL_INTERVAL_MIN_MS: each round is an
 * fsync in the spool and several requests to the repository
 * (extension/wal_export.c), and the upload, not the interval, dominates
 * the exposure below that.
 */
#define RVX_PARTIAL_INTERVAL_MIN_MS 100

static bool
check_partial_interval(int *newval, void **extra, GucSource source)
{
	if (*newval != 0 && *newval < RVX_PARTIAL_INTERVAL_MIN_MS)
	{
		GUC_check_errdetail("revrx.partial_interval must be 0 (off) or at least %d ms.",
							RVX_PARTIAL_INTERVAL_MIN_MS);
		return false;
	}
	return true;
}

/*
 * check_backup_compress_workers
 *
 * A libzstd built without threads compresses in the calling thread only:
 * a value set on purpose is refused there, so the setting does not claim
 * what cannot happen.  The default is let through (the server must
 * start), and the exporter says in the log that it compresses without
 * threads.
 */
static bool
check_backup_compress_workers(int *newval, void **extra, GucSource source)
{
	if (*newval > 0 && source > PGC_S_DEFAULT && rvx_zstd_max_workers() == 0)
	{
		GUC_check_errdetail("This server's libzstd was built without multithreading.");
		GUC_check_errhint("Set revrx.backup_compress_workers to 0.");
		return false;
	}
	return true;
}

/*
 * check_backup_schedule
 *
 * Accepts "" (no scheduled backups) or a cron schedule that can fire; the
 * parsed schedule is handed to the assign hook as "extra", so the worker
 * never parses it again.
 */
static bool
check_backup_schedule(char **newval, void **extra, GucSource source)
{
	RevrxCron	cron;
	char		why[256];
	RevrxCron  *copy;

	if (*newval == NULL || (*newval)[strspn(*newval, " \t\r\n")] == '\0')
	{
		*extra = NULL;
		return true;
	}

	if (!revrx_cron_parse(*newval, &cron, why, sizeof(why)))
	{
		GUC_check_errdetail("%s", why);
		GUC_check_errhint("Use five cron fields, minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\" for 02:00 every day, or an empty string for no scheduled backups.");
		return false;
	}

	/* guc.c frees "extra" itself: allocate it the way it expects */
	copy = rvx_guc_extra_alloc(sizeof(RevrxCron));
	if (copy == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	memcpy(copy, &cron, sizeof(RevrxCron));
	*extra = copy;
	return true;
}

static void
assign_backup_schedule(const char *newval, void *extra)
{
	revrx_backup_cron = (const RevrxCron *) extra;
}

static void
assign_backup_schedule_incremental(const char *newval, void *extra)
{
	revrx_backup_cron_incremental = (const RevrxCron *) extra;
}

const char *
revrx_archive_ack_name(int ack)
{
	for (const struct config_enum_entry *e = archive_ack_options; e->name; e++)
	{
		if (e->val == ack)
			return e->name;
	}
	return "unknown";
}
