/*-------------------------------------------------------------------------
 *
 * fingerprint_worker.h
 *	  The table fingerprints taken around each backup (fingerprint.c):
 *	  the worker started after a backup, and the reading before one.
 *
 * (common/fingerprint.h is what the fingerprints are, shared with the
 * agent; this header is how the module takes them.)
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_FINGERPRINT_WORKER_H
#define REVRX_FINGERPRINT_WORKER_H

/*
 * Starts the fingerprint worker for a backup that was just exported
 * (fingerprint.c); only logs if it cannot.
 */
extern void revrx_fingerprint_launch(const char *backup_id);

/*
 * Before a backup starts: reads the tables the fingerprints will read, and
 * waits, so that the hint bits they set fall before the backup
 * (fingerprint.c; revrx.fingerprint_settle).  Only logs if it cannot.
 */
extern void revrx_fingerprint_settle_before(const char *backup_id);

#endif							/* REVRX_FINGERPRINT_WORKER_H */
