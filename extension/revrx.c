/*-------------------------------------------------------------------------
 *
 * revrx.c
 *	  Module entry point of revrx: settings, shared state, small helpers.
 *
 * The library is meant to be listed both in shared_preload_libraries (for
 * the shared state that revrx_status() reports) and as archive_library (for
 * the archive module in archive.c).  _PG_init therefore does two things:
 *
 *	- It defines the revrx.* settings in every process that loads the
 *	  library, preloaded or not, because the archiver loads the archive
 *	  module by itself and must see them even when the library was not
 *	  preloaded.
 *
 *	- Only while shared_preload_libraries is being processed, it requests
 *	  the shared memory and installs the hooks that create it.  Loading the
 *	  library later (CREATE EXTENSION, LOAD) adds no shared state, and the
 *	  SQL functions refuse to run rather than report nothing.
 *
 * While preloading it also registers the backup worker (worker.c), which
 * takes the backups that revrx_backup_now() asks for and those that
 * revrx.backup_schedule calls for.
 *
 * The lock rules for the shared state are in revrx.h.  The helpers at the
 * end read the small files the agent writes into the spool; they never
 * throw, because a missing, torn or foreign file is something to report,
 * not a reason to fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "common/file_perm.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "archive_compat.h"
#include "backup.h"
#include "compress.h"
#include "cron.h"
#include "revrx.h"
#include "spool.h"

PG_MODULE_MAGIC;

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
