/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared memory of revrx: the hooks that request and create it, and
 *	  the archiver's counters (RevrxSharedState) with their accessors.
 *
 * The lock rules of every shared struct are in shmem.h.  The backup table
 * (backup_state.c) and the look-ahead state (lookahead.c) are requested and
 * created from these hooks but owned by those files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "backup_state.h"
#include "lookahead.h"
#include "shmem.h"

/* --------------------------------------------------------- shared state */

typedef struct RevrxSharedState
{
	slock_t		mutex;			/* protects stats; see shmem.h */
	RevrxArchiveStats stats;
} RevrxSharedState;

static RevrxSharedState *revrx_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static void revrx_shmem_request(void);
static void revrx_shmem_startup(void);

/*
 * revrx_shmem_install
 *
 * Installs the hooks that request and create the shared state; only while
 * shared_preload_libraries is being processed.
 */
void
revrx_shmem_install(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = revrx_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = revrx_shmem_startup;
}

/*
 * revrx_shmem_request
 *
 * Requests the shared state (PG15's shmem_request_hook).
 */
static void
revrx_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	RequestAddinShmemSpace(MAXALIGN(sizeof(RevrxSharedState)));
	revrx_backup_shmem_request();
	revrx_ahead_shmem_request();
}

/*
 * revrx_shmem_startup
 *
 * Creates or attaches to the shared state.
 */
static void
revrx_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	revrx_shared = ShmemInitStruct("revrx", sizeof(RevrxSharedState), &found);
	if (!found)
	{
		memset(revrx_shared, 0, sizeof(RevrxSharedState));
		SpinLockInit(&revrx_shared->mutex);
	}
	revrx_backup_shmem_init();
	revrx_ahead_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

bool
revrx_shared_available(void)
{
	return revrx_shared != NULL;
}

void
revrx_archive_record_success(const char *file)
{
	TimestampTz now;

	if (revrx_shared == NULL)
		return;

	now = GetCurrentTimestamp();
	SpinLockAcquire(&revrx_shared->mutex);
	strlcpy(revrx_shared->stats.last_archived_wal, file, REVRX_NAME_LEN);
	revrx_shared->stats.last_archived_time = now;
	revrx_shared->stats.archived_count++;
	SpinLockRelease(&revrx_shared->mutex);
}

void
revrx_archive_record_failure(const char *file, const char *message)
{
	TimestampTz now;

	if (revrx_shared == NULL)
		return;

	/*
	 * The message is cut at a byte boundary: the archiver has no database
	 * encoding to cut by.  Readers sanitize it (revrx_text_sanitize).
	 */
	now = GetCurrentTimestamp();
	SpinLockAcquire(&revrx_shared->mutex);
	strlcpy(revrx_shared->stats.last_failed_wal, file, REVRX_NAME_LEN);
	strlcpy(revrx_shared->stats.last_error, message ? message : "unknown error",
			REVRX_ERROR_LEN);
	revrx_shared->stats.last_error_time = now;
	revrx_shared->stats.failed_count++;
	SpinLockRelease(&revrx_shared->mutex);
}

bool
revrx_archive_stats_read(RevrxArchiveStats *stats)
{
	if (revrx_shared == NULL)
		return false;

	SpinLockAcquire(&revrx_shared->mutex);
	memcpy(stats, &revrx_shared->stats, sizeof(RevrxArchiveStats));
	SpinLockRelease(&revrx_shared->mutex);
	return true;
}
