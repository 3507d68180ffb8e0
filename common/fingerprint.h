/*-------------------------------------------------------------------------
 *
 * fingerprint.h
 *	  Table fingerprints: the row count and an order-independent hash of
 *	  every row of a table, computed by SQL so that the primary (at backup
 *	  time, extension/fingerprint.c) and a restored instance (during a
 *	  drill, agent/verify/verify.c) compute exactly the same thing.
 *
 * The hash of a row is hashtextextended(row::text, 0), a 64-bit hash of its
 * text form, which is the same on any instance of the same major version
 * and encoding.  A table's hash combines the rows' hashes with XOR and with
 * a sum of their low 32 bits, both independent of order; the sum keeps a
 * pair of identical rows from cancelling out, and the row count is
 * reported beside it.  It detects a changed, missing or extra row; it is
 * not a cryptographic commitment (docs/verification.md says what it proves).
 *
 * Which tables: permanent ordinary tables (relkind 'r', so partitions but
 * not their parents) outside the system schemas.  Unlogged and temporary
 * tables are left out: recovery empties them by design.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_FINGERPRINT_H
#define RVX_FINGERPRINT_H

/* The tables to fingerprint: oid, schema, name, quoted qualified name. */
#define RVX_FINGERPRINT_TABLES_SQL \
	"SELECT c.oid, n.nspname, c.relname, " \
	"       quote_ident(n.nspname) || '.' || quote_ident(c.relname) " \
	"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	" WHERE c.relkind = 'r' AND c.relpersistence = 'p' " \
	"   AND n.nspname NOT IN ('pg_catalog', 'information_schema') " \
	"   AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_' " \
	" ORDER BY n.nspname, c.relname"

/*
 * The fingerprint of one table: rows (bigint) and hash (32 hex digits).
 * printf format; its one %s is the quoted qualified name from above.
 */
#define RVX_FINGERPRINT_QUERY_FMT \
	"SELECT count(*), " \
	"       lpad(to_hex(coalesce(bit_xor(h), 0)), 16, '0') || " \
	"       lpad(to_hex(coalesce(sum(h & 4294967295), 0)::bigint), 16, '0') " \
	"  FROM (SELECT pg_catalog.hashtextextended(t::text, 0) AS h FROM ONLY %s AS t) AS s"

/* Name of the restore point a backup's fingerprints were taken at. */
#define RVX_FINGERPRINT_POINT_FMT	"revrx-fp-%s"

#define RVX_FINGERPRINT_FORMAT	1

#endif							/* RVX_FINGERPRINT_H */
