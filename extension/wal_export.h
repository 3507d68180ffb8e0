/*-------------------------------------------------------------------------
 *
 * wal_export.h
 *	  The WAL exporter (wal_export.c), a background worker registered from
 *	  _PG_init while preloading.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REVRX_WAL_EXPORT_H
#define REVRX_WAL_EXPORT_H

extern void revrx_wal_export_register(void);
extern PGDLLEXPORT void revrx_wal_export_main(Datum main_arg);

#endif							/* REVRX_WAL_EXPORT_H */
