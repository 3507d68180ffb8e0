/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The revrx.* settings (GUCs), defined by settings.c.
 *
 * revrx_settings_define() runs from _PG_init in every process that loads
 * the library, preloaded or not; the variables below then hold the
 * current values (reloaded at SIGHUP by the GUC machinery).  Other files
 * only read them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_SETTINGS_H
#define REVRX_SETTINGS_H

/* Values of revrx.archive_ack */
typedef enum RevrxArchiveAck
{
	REVRX_ACK_REPOSITORY,		/* success once the agent stored it */
	REVRX_ACK_SPOOL,			/* success once it is durable in the spool */
} RevrxArchiveAck;

extern char *revrx_spool_dir;	/* revrx.spool_dir; "" = not configured */
extern int	revrx_compression;	/* revrx.compression (RvxCompression) */
extern int	revrx_compression_level;	/* revrx.compression_level; 0 = default */
extern int	revrx_archive_ack;	/* revrx.archive_ack (RevrxArchiveAck) */
extern int	revrx_archive_timeout;	/* revrx.archive_timeout, seconds */
extern int	revrx_archive_lookahead;	/* revrx.archive_lookahead, segments */
extern int	revrx_archive_fast_backlog;	/* revrx.archive_fast_backlog, segments */
extern int	revrx_archive_lookahead_workers;	/* revrx.archive_lookahead_workers */
extern int	revrx_backup_compress_workers;	/* revrx.backup_compress_workers */
extern int	revrx_spool_max_size;	/* revrx.spool_max_size, MB */
extern char *revrx_backup_schedule;	/* revrx.backup_schedule; "" = none */
extern char *revrx_fingerprint_database;	/* revrx.fingerprint_database; "" = none */
extern int	revrx_fingerprint_lock_timeout;	/* revrx.fingerprint_lock_timeout, ms */
extern bool revrx_fingerprint_settle;	/* revrx.fingerprint_settle */
extern int	revrx_partial_interval;	/* revrx.partial_interval, ms; 0 = off */

/* The parsed revrx.backup_schedule (a RevrxCron), NULL when it is empty. */
struct RevrxCron;
extern const struct RevrxCron *revrx_backup_cron;
/* revrx.backup_schedule_incremental, likewise */
extern char *revrx_backup_schedule_incremental;
extern const struct RevrxCron *revrx_backup_cron_incremental;

extern const char *revrx_archive_ack_name(int ack);

/* Defines the settings and reserves the "revrx" prefix (from _PG_init). */
extern void revrx_settings_define(void);

/* The largest revrx.archive_lookahead_workers. */
#define RVX_AHEAD_WORKERS_MAX 8
/* Most zstd helper threads a backup may compress with. */
#define RVX_COMPRESS_WORKERS_MAX 16

#endif							/* REVRX_SETTINGS_H */
