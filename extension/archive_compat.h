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
 * Only PG15 is built and tested today; the other branches follow the
 * documented APIs of those versions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_ARCHIVE_COMPAT_H
#define REVRX_ARCHIVE_COMPAT_H

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#if PG_VERSION_NUM >= 160000
#include "archive/archive_module.h"
#else
#include "postmaster/pgarch.h"
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

#endif							/* REVRX_ARCHIVE_COMPAT_H */
