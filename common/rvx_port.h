/*-------------------------------------------------------------------------
 *
 * rvx_port.h
 *	  The one switch between the two builds of common/.
 *
 * Every file in common/ is compiled twice: into the server module (no
 * RVX_FRONTEND; postgres.h comes first, as the backend requires) and into
 * revrx-agent (-DRVX_FRONTEND; libc only, never a PostgreSQL header).
 * Code in common/ never reports errors itself: it returns a status and
 * leaves a message where the caller can find it, so that each side turns
 * failures into its own kind of report (ereport in the server, RvxError
 * and an exit code in the agent).  It never longjmps, so it is safe to
 * call from inside the archive module's error boundary.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_PORT_H
#define RVX_PORT_H

#ifndef RVX_FRONTEND
#include "postgres.h"
#include "utils/memutils.h"
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

#include <stdint.h>
#include <string.h>

/* One version for the module, the agent and the formats they write. */
#define RVX_VERSION "0.1.0"

/* Allocation for common/ objects; both sides free with rvx_free. */
#ifndef RVX_FRONTEND
#define rvx_malloc(sz)	MemoryContextAllocExtended(TopMemoryContext, (sz), \
												   MCXT_ALLOC_NO_OOM | MCXT_ALLOC_ZERO)
#define rvx_free(p)		pfree(p)
#else
#include <stdlib.h>
#define rvx_malloc(sz)	calloc(1, (sz))
#define rvx_free(p)		free(p)
#endif

#endif							/* RVX_PORT_H */
