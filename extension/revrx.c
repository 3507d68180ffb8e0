/*-------------------------------------------------------------------------
 *
 * revrx.c
 *	  Module entry point of revrx: _PG_init and nothing else.
 *
 * The library is meant to be listed both in shared_preload_libraries (for
 * the shared state that revrx_status() reports) and as archive_library (for
 * the archive module in archive.c).  _PG_init therefore does two things:
 *
 *	- It defines the revrx.* settings (settings.c) in every process that
 *	  loads the library, preloaded or not, because the archiver loads the
 *	  archive module by itself and must see them even when the library was
 *	  not preloaded.
 *
 *	- Only while shared_preload_libraries is being processed, it installs
 *	  the hooks that request and create the shared memory (shmem.c, whose
 *	  header has the lock rules).  Loading the library later (CREATE
 *	  EXTENSION, LOAD) adds no shared state, and the SQL functions refuse
 *	  to run rather than report nothing.
 *
 * While preloading it also registers the background workers: the backup
 * worker (worker.c), which takes the backups that revrx_backup_now() asks
 * for and those that revrx.backup_schedule calls for, the WAL exporter
 * (wal_export.c) and the look-ahead spoolers (lookahead.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "lookahead.h"
#include "settings.h"
#include "shmem.h"
#include "wal_export.h"
#include "worker.h"

PG_MODULE_MAGIC;

/* Entry point of every loadable module (fmgr.h declares it only in PG16+). */
extern void _PG_init(void);

/*
 * _PG_init
 *
 * Defines the settings and, when preloading, arranges for shared memory.
 */
void
_PG_init(void)
{
	revrx_settings_define();

	/*
	 * Shared memory can only be requested while preloading.  Without it the
	 * archive module still works; only the reporting is missing.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	revrx_shmem_install();

	revrx_worker_register();
	revrx_wal_export_register();
	revrx_ahead_register();
}
