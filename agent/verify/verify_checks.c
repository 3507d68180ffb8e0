/*-------------------------------------------------------------------------
 *
 * verify_checks.c
 *	  The checks of a restore drill, run against the recovered copy
 *	  (verify.c runs them in order; docs/verification.md describes them).
 *
 * Each check appends one entry to the report: passed or not, skipped or
 * not, its own time, a message that names what failed (a table, an
 * index, a regression diff), and details for machines.  A check never
 * stops the drill: whatever else can be checked still is.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fingerprint.h"
#include "base/log.h"
#include "verify/verify_int.h"

/* Table row counts listed per database in the report; beyond, only totals. */
#define ROW_COUNTS_LISTED	1000


static double
round3(double v)
{
	return (double) (long long) (v * 1000.0 + (v >= 0 ? 0.5 : -0.5)) / 1000.0;
}

/* Trims trailing newlines in place. */
char *
verify_chomp(char *s)
{
	size_t		len = s ? strlen(s) : 0;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	return s;
}

/*
 * Appends a check to the report.  details (may be NULL) is stolen.
 * Returns the check object (borrowed).
 */
json_t *
verify_add_check(Drill *d, const char *name, bool passed, bool skipped, double seconds,
		  const char *message, json_t *details)
{
	json_t	   *c = json_pack("{s:s, s:b, s:b, s:f, s:s}", "name", name, "passed", passed,
							  "skipped", skipped, "seconds", round3(seconds),
							  "message", message ? message : "");

	if (c == NULL)
	{
		json_decref(details);
		return NULL;
	}
	if (details)
		json_object_set_new(c, "details", details);
	json_array_append_new(d->checks, c);
	if (skipped)
		rvx_info("check %s: skipped: %s", name, message ? message : "");
	else if (passed)
		rvx_info("check %s: passed (%.1f s)%s%s", name, seconds, message && *message ? ": " : "",
				 message ? message : "");
	else
		rvx_err("check %s: FAILED: %s", name, message ? message : "");
	return c;
}

/* Runs a PostgreSQL program; returns its exit code, or -1 (message in msg). */
int
verify_run_tool(Drill *d, const char *const *argv, const char *logname, char *logpath, size_t cap,
		 char *msg, size_t msgcap)
{
	RvxError	err;
	int			code;

	snprintf(logpath, cap, "%s/%s", d->scratch, logname);
	if (rvx_pg_run_program(&d->pg, argv, logpath, &code, &err) != 0)
	{
		snprintf(msg, msgcap, "%s", err.msg);
		return -1;
	}
	return code;
}

/* A check that is one PostgreSQL program: passed when it exits 0. */
bool
verify_tool_check(Drill *d, const char *name, const char *const *argv, const char *what_ok)
{
	char		logpath[PATH_MAX];
	char		msg[1200];
	char		logname[128];
	double		t0 = rvx_now_s();
	int			code;
	char	   *out;

	snprintf(logname, sizeof(logname), "%s.log", name);
	code = verify_run_tool(d, argv, logname, logpath, sizeof(logpath), msg, sizeof(msg));
	if (code < 0)
	{
		verify_add_check(d, name, false, false, rvx_now_s() - t0, msg, NULL);
		return false;
	}
	out = rvx_text_file_head(logpath, QUOTED_LINES, NULL);
	if (code == 0)
	{
		verify_add_check(d, name, true, false, rvx_now_s() - t0, what_ok, NULL);
		free(out);
		return true;
	}
	snprintf(msg, sizeof(msg), "%s exited with code %d: %s", argv[0], code,
			 out && *out ? verify_chomp(out) : "(no output)");
	verify_add_check(d, name, false, false, rvx_now_s() - t0, msg,
			  json_pack("{s:i, s:s}", "exit_code", code, "output", out ? out : ""));
	free(out);
	return false;
}


void
verify_check_hook(Drill *d)
{
	const char *sql = getenv("REVRX_TEST_VERIFY_HOOK_SQL");
	PGconn	   *conn;
	RvxError	err;

	if (sql == NULL || sql[0] == '\0')
		return;
	/* test-only: changes the restored copy to prove the checks catch it */
	rvx_warn("REVRX_TEST_VERIFY_HOOK_SQL is set: running it in database \"%s\" of the drill copy (tests only)",
			 d->drill_db);
	conn = rvx_pg_connect(&d->pg, d->drill_db, &err);
	if (conn == NULL || rvx_pg_exec(conn, sql, &err) != 0)
		rvx_warn("the test hook failed: %s", err.msg);
	if (conn)
		PQfinish(conn);
}

/* The fingerprint of every table of the drill database, by "schema.table". */
static json_t *
compute_fingerprints(PGconn *conn, RvxError *err)
{
	PGresult   *tables = PQexec(conn, RVX_FINGERPRINT_TABLES_SQL);
	json_t	   *found = json_object();

	if (tables == NULL || PQresultStatus(tables) != PGRES_TUPLES_OK)
	{
		rvx_error(err, RVX_E_CORRUPT, "could not list the tables: %s",
				  tables ? PQresultErrorMessage(tables) : PQerrorMessage(conn));
		PQclear(tables);
		json_decref(found);
		return NULL;
	}
	for (int i = 0; i < PQntuples(tables); i++)
	{
		char	   *sql;
		size_t		len = strlen(RVX_FINGERPRINT_QUERY_FMT) + strlen(PQgetvalue(tables, i, 3)) + 1;
		PGresult   *r;
		char		name[256];

		sql = malloc(len);
		if (sql == NULL)
			break;
		snprintf(sql, len, RVX_FINGERPRINT_QUERY_FMT, PQgetvalue(tables, i, 3));
		r = PQexec(conn, sql);
		free(sql);
		snprintf(name, sizeof(name), "%s.%s", PQgetvalue(tables, i, 1), PQgetvalue(tables, i, 2));
		if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		{
			/* an unreadable table is a difference of its own */
			json_object_set_new(found, name,
								json_pack("{s:I, s:s, s:s}", "rows", (json_int_t) -1, "hash", "",
										  "error", r ? verify_chomp(PQresultErrorMessage(r)) : "no result"));
			PQclear(r);
			continue;
		}
		json_object_set_new(found, name,
							json_pack("{s:I, s:s}", "rows",
									  (json_int_t) strtoll(PQgetvalue(r, 0, 0), NULL, 10),
									  "hash", PQgetvalue(r, 0, 1)));
		PQclear(r);
	}
	PQclear(tables);
	return found;
}

void
verify_check_fingerprints(Drill *d)
{
	double		t0 = rvx_now_s();
	json_t	   *expected = json_object_get(d->fingerprints, "tables");
	json_t	   *found;
	json_t	   *diffs = json_array();
	PGconn	   *conn;
	RvxError	err;
	size_t		i;
	json_t	   *t;
	const char *name;
	json_t	   *f;
	char		msg[1024];
	size_t		nexp = 0;

	conn = rvx_pg_connect(&d->pg, d->drill_db, &err);
	if (conn == NULL)
	{
		verify_add_check(d, "fingerprints", false, false, rvx_now_s() - t0, err.msg, NULL);
		json_decref(diffs);
		return;
	}
	found = compute_fingerprints(conn, &err);
	PQfinish(conn);
	if (found == NULL)
	{
		verify_add_check(d, "fingerprints", false, false, rvx_now_s() - t0, err.msg, NULL);
		json_decref(diffs);
		return;
	}
	json_array_foreach(expected, i, t)
	{
		const char *schema = json_string_value(json_object_get(t, "schema"));
		const char *table = json_string_value(json_object_get(t, "table"));
		const char *hash = json_string_value(json_object_get(t, "hash"));
		json_int_t	rows = json_integer_value(json_object_get(t, "rows"));
		char		qname[256];

		if (schema == NULL || table == NULL || hash == NULL)
			continue;
		nexp++;
		snprintf(qname, sizeof(qname), "%s.%s", schema, table);
		f = json_object_get(found, qname);
		if (f == NULL)
			json_array_append_new(diffs, json_pack("{s:s, s:s, s:I, s:s}", "table", qname,
												   "problem", "missing", "expected_rows", rows,
												   "expected_hash", hash));
		else
		{
			json_int_t	frows = json_integer_value(json_object_get(f, "rows"));
			const char *fhash = json_string_value(json_object_get(f, "hash"));

			if (frows != rows || fhash == NULL || strcmp(fhash, hash) != 0)
				json_array_append_new(diffs, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}",
													   "table", qname, "problem", "differs",
													   "expected_rows", rows, "found_rows", frows,
													   "expected_hash", hash,
													   "found_hash", fhash ? fhash : ""));
			json_object_del(found, qname);
		}
	}
	/* what is left was not there when the fingerprints were taken */
	json_object_foreach(found, name, f)
		json_array_append_new(diffs, json_pack("{s:s, s:s, s:I, s:s}", "table", name,
											   "problem", "extra", "found_rows",
											   json_integer_value(json_object_get(f, "rows")),
											   "found_hash",
											   json_string_value(json_object_get(f, "hash")) ?
											   json_string_value(json_object_get(f, "hash")) : ""));
	json_decref(found);

	if (json_array_size(diffs) == 0)
	{
		snprintf(msg, sizeof(msg), "%zu tables of database \"%s\" match their fingerprints at %s",
				 nexp, d->drill_db, d->target_desc);
		verify_add_check(d, "fingerprints", true, false, rvx_now_s() - t0, msg,
				  json_pack("{s:s, s:i}", "database", d->drill_db, "tables", (int) nexp));
		json_decref(diffs);
		return;
	}
	{
		size_t		off;
		json_t	   *x;

		off = (size_t) snprintf(msg, sizeof(msg), "%zu of %zu tables differ from their fingerprints:",
								json_array_size(diffs), nexp);
		json_array_foreach(diffs, i, x)
		{
			const char *p = json_string_value(json_object_get(x, "problem"));

			if (off >= sizeof(msg) - 1)
				break;
			if (strcmp(p, "differs") == 0)
				off += (size_t) snprintf(msg + off, sizeof(msg) - off,
										 " %s (rows %" JSON_INTEGER_FORMAT " expected, %" JSON_INTEGER_FORMAT
										 " found; hash %s expected, %s found);",
										 json_string_value(json_object_get(x, "table")),
										 json_integer_value(json_object_get(x, "expected_rows")),
										 json_integer_value(json_object_get(x, "found_rows")),
										 json_string_value(json_object_get(x, "expected_hash")),
										 json_string_value(json_object_get(x, "found_hash")));
			else
				off += (size_t) snprintf(msg + off, sizeof(msg) - off, " %s (%s);",
										 json_string_value(json_object_get(x, "table")),
										 strcmp(p, "missing") == 0 ? "missing from the copy" :
										 "not in the fingerprints");
		}
	}
	verify_add_check(d, "fingerprints", false, false, rvx_now_s() - t0, msg,
			  json_pack("{s:s, s:i, s:o}", "database", d->drill_db, "tables", (int) nexp,
						"differences", diffs));
}

void
verify_check_amcheck(Drill *d)
{
	char		port[16];
	const char *argv[] = {"pg_amcheck", "--heapallindexed", "--install-missing", "--all",
		"--no-password", "-h", d->pg.sockdir, "-p", port, "-U", d->pg.user, NULL};

	snprintf(port, sizeof(port), "%d", d->pg.port);
	verify_tool_check(d, "amcheck", argv, "every heap and btree index of every database is consistent");
}

/*
 * Calls fn with a connection to each database of the copy that accepts
 * connections (rvx_pg_connect: search_path cleared).  Databases that cannot
 * be reached are named in failed (cap bytes).  Returns false, after
 * failing the check named check, when the databases cannot be listed.
 */
typedef void (*DatabaseFn) (Drill *d, const char *db, PGconn *conn, void *arg);

static bool
for_each_database(Drill *d, const char *check, double t0, DatabaseFn fn, void *arg,
				  char *failed, size_t cap)
{
	PGconn	   *conn;
	PGresult   *dbs;
	RvxError	err;

	conn = rvx_pg_connect(&d->pg, "postgres", &err);
	if (conn == NULL)
	{
		verify_add_check(d, check, false, false, rvx_now_s() - t0, err.msg, NULL);
		return false;
	}
	dbs = PQexec(conn, "SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY 1");
	PQfinish(conn);
	if (dbs == NULL || PQresultStatus(dbs) != PGRES_TUPLES_OK)
	{
		verify_add_check(d, check, false, false, rvx_now_s() - t0, "could not list the databases", NULL);
		PQclear(dbs);
		return false;
	}
	for (int i = 0; i < PQntuples(dbs) && !rvx_interrupt_pending(); i++)
	{
		const char *db = PQgetvalue(dbs, i, 0);

		conn = rvx_pg_connect(&d->pg, db, &err);
		if (conn == NULL)
		{
			snprintf(failed + strlen(failed), cap - strlen(failed), " %s;", err.msg);
			continue;
		}
		fn(d, db, conn, arg);
		PQfinish(conn);
	}
	PQclear(dbs);
	return true;
}

typedef struct RowCounts
{
	json_t	   *list;
	long long	total;
	int			ntables;
	char		failed[1024];
} RowCounts;

static void
count_database_rows(Drill *d, const char *db, PGconn *conn, void *arg)
{
	RowCounts  *rc = (RowCounts *) arg;
	PGresult   *tables;
	json_t	   *counts = json_object();
	long long	dbrows = 0;
	int			dbtables = 0;

	tables = PQexec(conn, RVX_FINGERPRINT_TABLES_SQL);
	for (int j = 0; tables && PQresultStatus(tables) == PGRES_TUPLES_OK && j < PQntuples(tables); j++)
	{
		char		sql[1024];
		char		name[256];
		PGresult   *r;

		snprintf(sql, sizeof(sql), "SELECT pg_catalog.count(*) FROM ONLY %s", PQgetvalue(tables, j, 3));
		snprintf(name, sizeof(name), "%s.%s", PQgetvalue(tables, j, 1), PQgetvalue(tables, j, 2));
		r = PQexec(conn, sql);
		if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			snprintf(rc->failed + strlen(rc->failed), sizeof(rc->failed) - strlen(rc->failed),
					 " %s.%s: %s;", db, name, r ? verify_chomp(PQresultErrorMessage(r)) : "no result");
			PQclear(r);
			continue;
		}
		dbrows += strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		dbtables++;
		if (dbtables <= ROW_COUNTS_LISTED)
			json_object_set_new(counts, name, json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
		PQclear(r);
	}
	if (tables == NULL || PQresultStatus(tables) != PGRES_TUPLES_OK)
		snprintf(rc->failed + strlen(rc->failed), sizeof(rc->failed) - strlen(rc->failed),
				 " %s: could not list tables;", db);
	PQclear(tables);
	rc->total += dbrows;
	rc->ntables += dbtables;
	json_array_append_new(rc->list, json_pack("{s:s, s:i, s:I, s:o, s:b}", "database", db,
											  "tables", dbtables, "rows", (json_int_t) dbrows,
											  "table_rows", counts,
											  "truncated", dbtables > ROW_COUNTS_LISTED));
}

/* Exact row counts of every table of every database: also proves each can be read. */
void
verify_check_row_counts(Drill *d)
{
	double		t0 = rvx_now_s();
	RowCounts	rc = {.list = json_array()};
	char		msg[1200];

	if (!for_each_database(d, "row_counts", t0, count_database_rows, &rc, rc.failed, sizeof(rc.failed)))
	{
		json_decref(rc.list);
		return;
	}
	if (rc.failed[0])
	{
		snprintf(msg, sizeof(msg), "could not count the rows of every table:%s", rc.failed);
		verify_add_check(d, "row_counts", false, false, rvx_now_s() - t0, msg,
						 json_pack("{s:o}", "databases", rc.list));
		return;
	}
	snprintf(msg, sizeof(msg), "%lld rows in %d tables of %zu databases", rc.total, rc.ntables,
			 json_array_size(rc.list));
	verify_add_check(d, "row_counts", true, false, rvx_now_s() - t0, msg,
					 json_pack("{s:o}", "databases", rc.list));
}

typedef struct Unlogged
{
	const json_t *recorded;		/* the record's unlogged_relation entries */
	json_t	   *named;			/* the copy's unlogged relations, by name */
	int			nnamed;
	json_t	   *permanent;		/* recorded as unlogged, permanent in the copy */
	char		failed[1024];
} Unlogged;

/* Whether path is the path of one of the record's unlogged relations. */
static bool
recorded_unlogged(const json_t *recorded, const char *path)
{
	size_t		i;
	json_t	   *o;

	json_array_foreach(recorded, i, o)
	{
		const char *p = json_string_value(json_object_get(o, "path"));
		const char *kind = json_string_value(json_object_get(o, "kind"));

		if (p != NULL && kind != NULL && strcmp(p, path) == 0 &&
			strcmp(kind, "unlogged_relation") == 0)
			return true;
	}
	return false;
}

static void
look_at_unlogged(Drill *d, const char *db, PGconn *conn, void *arg)
{
	Unlogged   *u = (Unlogged *) arg;
	PGresult   *r;

	/* every relation with storage that is unlogged, or whose file the record left out as such */
	r = PQexec(conn,
			   "SELECT pg_catalog.pg_relation_filepath(c.oid),"
			   "       pg_catalog.format('%I.%I', n.nspname, c.relname), c.relpersistence"
			   "  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
			   " WHERE c.relkind IN ('r', 'i', 't', 'S', 'm')"
			   "   AND pg_catalog.pg_relation_filepath(c.oid) IS NOT NULL"
			   " ORDER BY 1");
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		snprintf(u->failed + strlen(u->failed), sizeof(u->failed) - strlen(u->failed),
				 " %s: %s;", db, r ? verify_chomp(PQresultErrorMessage(r)) : "no result");
		PQclear(r);
		return;
	}
	for (int j = 0; j < PQntuples(r); j++)
	{
		const char *path = PQgetvalue(r, j, 0);
		const char *name = PQgetvalue(r, j, 1);
		bool		unlogged = PQgetvalue(r, j, 2)[0] == 'u';
		json_t	   *entry;

		if (!unlogged && !recorded_unlogged(u->recorded, path))
			continue;
		entry = json_pack("{s:s, s:s, s:s}", "database", db, "relation", name, "path", path);
		if (entry == NULL)		/* not UTF-8 (a SQL_ASCII database): still counted */
			entry = json_pack("{s:s, s:s}", "database", "?", "path", "?");
		if (!unlogged)
			json_array_append_new(u->permanent, entry);
		else if (++u->nnamed <= ROW_COUNTS_LISTED)
			json_array_append_new(u->named, entry);
		else
			json_decref(entry);
	}
	PQclear(r);
}

/*
 * What the backup does not hold, checked against the copy.  The report
 * carries the record's "not_included" (docs/backup-format.md), so whoever
 * reads a drill's report learns what its backup lacks, and the copy's
 * unlogged relations by name.  The check fails if a relation the backup
 * left out as unlogged is a permanent one in the copy: its data would be
 * missing from every restore.  (That the copy's unlogged tables are empty
 * proves nothing: PostgreSQL resets them at the end of recovery.)
 */
void
verify_check_not_included(Drill *d)
{
	double		t0 = rvx_now_s();
	RvxError	err;
	const json_t *record = verify_backup_record(d, &err);
	Unlogged	u = {0};
	char		msg[1300];
	bool		partial;

	if (record == NULL)
	{
		verify_add_check(d, "unlogged_relations", false, false, rvx_now_s() - t0, err.msg, NULL);
		return;
	}
	/* records from before "not_included" know of nothing left out */
	u.recorded = json_is_array(json_object_get(record, "not_included")) ?
		json_object_get(record, "not_included") : NULL;
	json_object_set_new(d->report, "not_included",
						u.recorded ? json_deep_copy(u.recorded) : json_array());
	/* the record lists the first entries only: a permanent one beyond them goes unseen */
	partial = json_integer_value(json_object_get(record, "not_included_count")) >
		(json_int_t) json_array_size(u.recorded);

	u.named = json_array();
	u.permanent = json_array();
	if (!for_each_database(d, "unlogged_relations", t0, look_at_unlogged, &u, u.failed, sizeof(u.failed)))
	{
		json_decref(u.named);
		json_decref(u.permanent);
		return;
	}
	if (json_array_size(u.permanent) > 0)
		snprintf(msg, sizeof(msg), "%zu relations the backup left out as unlogged are permanent in the copy "
				 "(their data is in no backup), e.g. %s", json_array_size(u.permanent),
				 json_string_value(json_object_get(json_array_get(u.permanent, 0), "path")));
	else if (u.failed[0])
		snprintf(msg, sizeof(msg), "could not look at the relations of every database:%s", u.failed);
	else
		snprintf(msg, sizeof(msg), "%d unlogged relation%s (restored empty, as the backup says)%s",
				 u.nnamed, u.nnamed == 1 ? "" : "s",
				 partial ? "; the backup lists only its first omissions" : "");
	verify_add_check(d, "unlogged_relations", json_array_size(u.permanent) == 0 && !u.failed[0],
					 json_array_size(u.permanent) == 0 && !u.failed[0] && u.nnamed == 0,
					 rvx_now_s() - t0, msg,
					 json_pack("{s:o, s:o, s:b}", "relations", u.named, "permanent_left_out", u.permanent,
							   "truncated", u.nnamed > ROW_COUNTS_LISTED));
}

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names (without .sql) of the files DIR/sql/NAME.sql, sorted, NULL-terminated, malloc'd. */
char **
verify_list_user_checks(const char *dir, int *n)
{
	char		path[PATH_MAX];
	DIR		   *dh;
	struct dirent *de;
	char	  **names = NULL;
	int			cap = 0;

	*n = 0;
	snprintf(path, sizeof(path), "%s/sql", dir);
	dh = opendir(path);
	if (dh == NULL)
		return NULL;
	while ((de = readdir(dh)) != NULL)
	{
		size_t		len = strlen(de->d_name);

		if (len <= 4 || strcmp(de->d_name + len - 4, ".sql") != 0 || de->d_name[0] == '.')
			continue;
		if (*n + 2 > cap)
		{
			char	  **nn = realloc(names, (size_t) (cap = cap * 2 + 8) * sizeof(char *));

			if (nn == NULL)
				break;
			names = nn;
		}
		names[*n] = strndup(de->d_name, len - 4);
		(*n)++;
		names[*n] = NULL;
	}
	closedir(dh);
	if (*n > 1)
		qsort(names, (size_t) *n, sizeof(char *), cmp_cstr);
	return names;
}

void
verify_check_user(Drill *d)
{
	double		t0 = rvx_now_s();
	char		pgxs[PATH_MAX];
	char		regress[PATH_MAX + 64];
	char		host[PATH_MAX + 16],
				port[32],
				user[160],
				input[PATH_MAX + 16],
				output[PATH_MAX + 16],
				bindir[PATH_MAX + 16],
				outdir[PATH_MAX];
	char		logpath[PATH_MAX];
	char		diffs[PATH_MAX + 32];
	char		msg[4096];
	const char **argv;
	char	  **names;
	int			n;
	int			a = 0;
	int			code;
	RvxError	err;
	char	   *slash;

	names = verify_list_user_checks(d->opts->checks_dir, &n);
	if (n == 0)
	{
		verify_add_check(d, "user_checks", false, false, 0, "no checks (*.sql) found in the sql directory of --checks",
				  NULL);
		free(names);
		return;
	}
	if (rvx_pg_config(&d->pg, "pgxs", pgxs, sizeof(pgxs), &err) != 0)
	{
		verify_add_check(d, "user_checks", false, false, rvx_now_s() - t0, err.msg, NULL);
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return;
	}
	/* .../lib/pgxs/src/makefiles/pgxs.mk -> .../lib/pgxs/src/test/regress/pg_regress */
	slash = strrchr(pgxs, '/');
	if (slash)
		*slash = '\0';
	slash = strrchr(pgxs, '/');
	if (slash)
		*slash = '\0';
	snprintf(regress, sizeof(regress), "%s/test/regress/pg_regress", pgxs);
	snprintf(outdir, sizeof(outdir), "%s/checks", d->scratch);
	mkdir(outdir, 0700);
	snprintf(host, sizeof(host), "--host=%s", d->pg.sockdir);
	snprintf(port, sizeof(port), "--port=%d", d->pg.port);
	snprintf(user, sizeof(user), "--user=%s", d->pg.user);
	snprintf(input, sizeof(input), "--inputdir=%s", d->opts->checks_dir);
	snprintf(output, sizeof(output), "--outputdir=%s", outdir);
	snprintf(bindir, sizeof(bindir), "--bindir=%s", d->pg.bindir);
	argv = calloc((size_t) n + 16, sizeof(char *));
	if (argv == NULL)
		return;
	argv[a++] = regress;
	argv[a++] = "--use-existing";
	argv[a++] = host;
	argv[a++] = port;
	argv[a++] = user;
	argv[a++] = input;
	argv[a++] = output;
	argv[a++] = bindir;
	argv[a++] = "--dbname=postgres";
	for (int i = 0; i < n; i++)
		argv[a++] = names[i];
	argv[a] = NULL;

	code = verify_run_tool(d, argv, "user_checks.log", logpath, sizeof(logpath), msg, sizeof(msg));
	if (code < 0)
		verify_add_check(d, "user_checks", false, false, rvx_now_s() - t0, msg, NULL);
	else
	{
		static const char *const pats[] = {" ... ", "tests passed", "failed", NULL};
		char	   *summary = rvx_text_file_head(logpath, 200, pats);
		char	   *diff;

		snprintf(diffs, sizeof(diffs), "%s/regression.diffs", outdir);
		diff = code == 0 ? strdup("") : rvx_text_file_head(diffs, 40, NULL);
		if (code == 0)
		{
			snprintf(msg, sizeof(msg), "%d checks passed", n);
			verify_add_check(d, "user_checks", true, false, rvx_now_s() - t0, msg,
					  json_pack("{s:s}", "output", summary ? summary : ""));
		}
		else
		{
			snprintf(msg, sizeof(msg), "pg_regress exited with code %d: %s%s%s", code,
					 summary ? verify_chomp(summary) : "", diff && *diff ? "\nregression.diffs:\n" : "",
					 diff ? diff : "");
			verify_add_check(d, "user_checks", false, false, rvx_now_s() - t0, msg,
					  json_pack("{s:s, s:s}", "output", summary ? summary : "",
								"diffs", diff ? diff : ""));
		}
		free(summary);
		free(diff);
	}
	free(argv);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void
verify_check_checksums(Drill *d)
{
	const char *argv[] = {"pg_checksums", "--check", "-D", d->pgdata, NULL};

	if (!d->data_checksums)
	{
		verify_add_check(d, "pg_checksums", true, true, 0,
				  "the cluster has no data checksums (initdb --data-checksums); pages were not checked",
				  NULL);
		return;
	}
	verify_tool_check(d, "pg_checksums", argv, "every page checksum is valid");
}

