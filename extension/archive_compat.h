/*-------------------------------------------------------------------------
 *
 * archive_compat.h
 *	  The one place for PostgreSQL-version-specific API in the revrx module.
 *
 * No other file of the module tests PG_VERSION_NUM: the rest of the code is
 * written once against the neutral forms defined here.  Two APIs changed
 * after PostgreSQL 15:
 *
 * Archive modules.  PG15 (postmaster/pgarch.h) looks up
 *		void _PG_archive_module_init(ArchiveModuleCallbacks *cb)
 * and calls callbacks that take no state; PG16+ (archive/archive_module.h)
 * looks up
 *		const ArchiveModuleCallbacks *_PG_archive_module_init(void)
 * and passes an ArchiveModuleState * to each callback.  archive.c keeps its
 * state in static variables (the archiver is a single process), so it
 * writes its callbacks in the PG15 shape and lets
 * RVX_DEFINE_ARCHIVE_MODULE() generate the entry point, plus thin adapters
 * that drop the state argument on PG16+.
 *
 * The JSON parser (common/jsonapi.h).  Semantic-action callbacks return
 * void in PG15 and a JsonParseErrorType in PG16+; PG17 added a leading
 * JsonLexContext argument to makeJsonLexContextCstringLen().
 *
 * Online backups (access/xlog.h).  PG15's do_pg_backup_start() returns the
 * start LSN and fills a backup_label StringInfo that do_pg_backup_stop()
 * takes back; PG16 keeps everything in a BackupState and builds the label
 * text with build_backup_content().  RvxOnlineBackup hides the difference.
 *
 * Relation file names (storage/reinit.h).  PG17 changed the arguments of
 * parse_filename_for_nontemp_relation().
 *
 * WAL summaries (postmaster/walsummarizer.h, common/blkreftable.h).  PG17
 * added the WAL summarizer (summarize_wal) and its block reference tables;
 * RVX_HAVE_WAL_SUMMARIES says they exist, and walsummary.c, which uses
 * them, compiles to "unavailable" without it; PG18 renamed
 * SetWalSummarizerLatch() WakeupWalSummarizer().  backup/walsummary.h is not
 * among the installed server headers, so walsummary.c lists and reads
 * pg_wal/summaries itself.
 *
 * Smaller moves: PG_TEMP_FILE_PREFIX went from storage/fd.h to
 * common/file_utils.h in PG17; PG18 replaced the trailing
 * pg_attribute_noreturn() by a leading pg_noreturn; and since PG16 guc.c
 * frees a check hook's "extra" with guc_free(), so it must come from
 * guc_malloc() (which PG15 kept static, freeing with free()).
 *
 * Built and tested on 15 (Debian 12), 17 (Debian 13) and 18 (Debian
 * unstable) by scripts/matrix.sh; 16 takes the 16+ branches, which 17
 * shares wherever 16 and 17 agree.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_ARCHIVE_COMPAT_H
#define REVRX_ARCHIVE_COMPAT_H

#include "access/xlog.h"
#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "storage/reinit.h"

#if PG_VERSION_NUM >= 160000
#include "access/xlogbackup.h"
#endif

#if PG_VERSION_NUM >= 170000
#include "common/file_utils.h"	/* PG_TEMP_FILE_PREFIX */
#else
#include "storage/fd.h"
#endif

#if PG_VERSION_NUM >= 160000
#include "archive/archive_module.h"
#else
#include "postmaster/pgarch.h"
#endif

#if PG_VERSION_NUM >= 170000
#define RVX_HAVE_WAL_SUMMARIES 1
#include "common/blkreftable.h"
#include "postmaster/walsummarizer.h"
#endif

/* ------------------------------------------------------- small language moves */

/* Declares a function that does not return: "pg_noreturn static void f(void);" */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * Memory for a GUC check hook's "extra": guc.c frees it with guc_free() on
 * PG16+ and with free() on PG15.  NULL (after a LOG line) when out of
 * memory, as the check hook then fails the setting.
 */
#if PG_VERSION_NUM >= 160000
#define rvx_guc_extra_alloc(size)	guc_malloc(LOG, (size))
#else
#define rvx_guc_extra_alloc(size)	malloc(size)
#endif

/* ---------------------------------------------------------- archive module */

/*
 * RVX_DEFINE_ARCHIVE_MODULE(startup, configured, archive_file, shutdown)
 * defines _PG_archive_module_init() from four functions of these types:
 *
 *		void startup(void)		once, when the archiver loads the module
 *		bool configured(void)
 *		bool archive_file(const char *file, const char *path)
 *		void shutdown(void)
 */
#if PG_VERSION_NUM >= 160000

#define RVX_DEFINE_ARCHIVE_MODULE(startup_fn, configured_fn, file_fn, shutdown_fn) \
static void \
rvx_compat_startup(ArchiveModuleState *state) \
{ \
	startup_fn(); \
} \
static bool \
rvx_compat_configured(ArchiveModuleState *state) \
{ \
	return configured_fn(); \
} \
static bool \
rvx_compat_archive_file(ArchiveModuleState *state, const char *file, \
						const char *path) \
{ \
	return file_fn(file, path); \
} \
static void \
rvx_compat_shutdown(ArchiveModuleState *state) \
{ \
	shutdown_fn(); \
} \
static const ArchiveModuleCallbacks rvx_compat_callbacks = { \
	.startup_cb = rvx_compat_startup, \
	.check_configured_cb = rvx_compat_configured, \
	.archive_file_cb = rvx_compat_archive_file, \
	.shutdown_cb = rvx_compat_shutdown \
}; \
const ArchiveModuleCallbacks * \
_PG_archive_module_init(void) \
{ \
	return &rvx_compat_callbacks; \
}

#else							/* PG15 */

extern PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks *cb);

#define RVX_DEFINE_ARCHIVE_MODULE(startup_fn, configured_fn, file_fn, shutdown_fn) \
void \
_PG_archive_module_init(ArchiveModuleCallbacks *cb) \
{ \
	startup_fn(); \
	cb->check_configured_cb = configured_fn; \
	cb->archive_file_cb = file_fn; \
	cb->shutdown_cb = shutdown_fn; \
}

#endif

/* ------------------------------------------------------------- JSON parser */

/*
 * Callbacks are declared "static RvxJsonCbResult f(...)" and end with
 * RVX_JSON_CB_RETURN.
 */
#if PG_VERSION_NUM >= 160000
typedef JsonParseErrorType RvxJsonCbResult;
#define RVX_JSON_CB_RETURN	return JSON_SUCCESS
#else
typedef void RvxJsonCbResult;
#define RVX_JSON_CB_RETURN	return
#endif

/* A lexer over len bytes of json, de-escaping strings. */
#if PG_VERSION_NUM >= 170000
#define rvx_json_lexer_new(json, len) \
	makeJsonLexContextCstringLen(NULL, (json), (len), GetDatabaseEncoding(), true)
#else
#define rvx_json_lexer_new(json, len) \
	makeJsonLexContextCstringLen((json), (len), GetDatabaseEncoding(), true)
#endif

/* ---------------------------------------------------------- online backups */

/*
 * One online (non-exclusive) backup of this session.  Between start and
 * stop the caller must run inside
 *		PG_ENSURE_ERROR_CLEANUP(do_pg_abort_backup, BoolGetDatum(false))
 * so that any error or exit releases the server's backup state.
 */
typedef struct RvxOnlineBackup
{
	XLogRecPtr	start_lsn;
	TimeLineID	start_tli;
	XLogRecPtr	stop_lsn;
	TimeLineID	stop_tli;
	StringInfo	tablespace_map; /* "<oid> <location>" lines; "" if none */
	char	   *backup_label;	/* content of backup_label, set by stop */
#if PG_VERSION_NUM >= 160000
	BackupState *state;
#else
	StringInfo	label_file;
#endif
} RvxOnlineBackup;

static inline void
rvx_online_backup_start(RvxOnlineBackup *b, const char *label, bool fast)
{
	b->tablespace_map = makeStringInfo();
	b->backup_label = NULL;
#if PG_VERSION_NUM >= 160000
	b->state = (BackupState *) palloc0(sizeof(BackupState));
	do_pg_backup_start(label, fast, NULL, b->state, b->tablespace_map);
	b->start_lsn = b->state->startpoint;
	b->start_tli = b->state->starttli;
#else
	b->label_file = makeStringInfo();
	b->start_lsn = do_pg_backup_start(label, fast, &b->start_tli,
									  b->label_file, NULL, b->tablespace_map);
#endif
}

static inline void
rvx_online_backup_stop(RvxOnlineBackup *b, bool wait_for_archive)
{
#if PG_VERSION_NUM >= 160000
	do_pg_backup_stop(b->state, wait_for_archive);
	b->stop_lsn = b->state->stoppoint;
	b->stop_tli = b->state->stoptli;
	b->backup_label = build_backup_content(b->state, false);
#else
	b->stop_lsn = do_pg_backup_stop(b->label_file->data, wait_for_archive,
									&b->stop_tli);
	b->backup_label = b->label_file->data;
#endif
}

/* ------------------------------------------------------- WAL summaries */

#if PG_VERSION_NUM >= 180000
#define rvx_wake_wal_summarizer()	WakeupWalSummarizer()
#elif PG_VERSION_NUM >= 170000
#define rvx_wake_wal_summarizer()	SetWalSummarizerLatch()
#endif

/* -------------------------------------------------------- relation files */

/*
 * Whether name is that of a permanent relation's file ("16384",
 * "16384_fsm", "16384.2"...); if so, the number of leading digits (the
 * relation's file number) and the fork.
 */
static inline bool
rvx_parse_relation_file(const char *name, int *oidchars, ForkNumber *fork)
{
#if PG_VERSION_NUM >= 170000
	RelFileNumber relnumber;
	unsigned	segno;

	if (!parse_filename_for_nontemp_relation(name, &relnumber, fork, &segno))
		return false;
	*oidchars = (int) strspn(name, "0123456789");
	return true;
#else
	return parse_filename_for_nontemp_relation(name, oidchars, fork);
#endif
}

#endif							/* REVRX_ARCHIVE_COMPAT_H */
