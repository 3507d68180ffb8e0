/* sql/revrx--0.1--0.2.sql */

--
-- ALTER EXTENSION revrx UPDATE from 0.1 to 0.2.
--
-- 0.2 adds the columns "pinned", "pg_major" and "not_included" to revrx_backups().  Before versions were
-- kept, 0.1's script changed in place several times, so a database may
-- hold any of these shapes of "0.1" (the released one is the last):
--	 211735c  revrx_status() with 17 columns, nothing else
--	 51ef59e  + revrx_backup_now(text, boolean), revrx_backups() with 14
--	 50b3e78  + revrx_restore_point(text)
--	 b7d742b  + revrx_verifications()
--	 b5b08f0  revrx_status() with 23 columns
--	 fa76f29  revrx_backup_now(text, boolean, boolean), revrx_backups()
--			  with 15 columns (parent): released 0.1, sql/revrx--0.1.sql
--	 4269a5b  revrx_backups() with 16 columns (pinned)
-- This script takes each of them to exactly what revrx--0.2.sql creates:
--
-- 1. A declaration whose shape 0.2 changed (other arguments or result
--	  columns: PostgreSQL cannot change those in place) is set aside under
--	  another name.
-- 2. Every 0.2 function is declared with CREATE OR REPLACE: an unchanged
--	  one keeps its identity (its grants, and the views built on it), a
--	  missing or set-aside one is created.
-- 3. The defaults of 0.2 are applied: nothing executable by PUBLIC, the
--	  monitoring functions for pg_monitor.
-- 4. The grants a set-aside declaration had (e.g. EXECUTE on
--	  revrx_backup_now to an operator role) are given to its successor, and
--	  the old declaration is dropped.  A view on an old declaration (e.g.
--	  on revrx_backups()) makes the update fail, naming the view and
--	  changing nothing: drop it, update, create it again.
--
-- No role other than pg_monitor is named, so the script works whether or
-- not an operator role exists.  Grants carried over in step 4 are recorded
-- as the extension's initial privileges (PostgreSQL does so for every
-- GRANT in an extension script), so pg_dump leaves them to the update
-- rather than dumping them; docs/configuration.md says so.
--

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION revrx UPDATE TO '0.2'" to load this file. \quit

--
-- Helpers for this script only; dropped at its end.
--
-- revrx_0_2_set_aside(signature, columns): renames the function to
-- <name>_0_1 if it exists and columns is NULL (its arguments change) or it
-- does not return that many columns.
CREATE FUNCTION revrx_0_2_set_aside(signature text, columns integer)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    fn regprocedure := to_regprocedure('@extschema@.' || signature);
    have integer;
    name text;
BEGIN
    IF fn IS NULL THEN
        RETURN;
    END IF;
    SELECT coalesce(array_length(proallargtypes, 1), 0), proname
      INTO have, name
      FROM pg_catalog.pg_proc WHERE oid = fn;
    IF columns IS NULL OR have <> columns THEN
        EXECUTE format('ALTER FUNCTION %s RENAME TO %I', fn, name || '_0_1');
    END IF;
END
$$;

-- revrx_0_2_carry_grants(old name, new signature): gives the new function
-- the grants the set-aside one had (to roles, never to PUBLIC), then drops
-- the old one.
CREATE FUNCTION revrx_0_2_carry_grants(old_name text, signature text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    fn regprocedure := to_regprocedure('@extschema@.' || signature);
    old record;
    g record;
    users text;
BEGIN
    FOR old IN
        SELECT p.oid::regprocedure AS sig, p.proacl, p.proowner
          FROM pg_catalog.pg_proc p
         WHERE p.proname = old_name
           AND p.pronamespace = '@extschema@'::regnamespace
    LOOP
        FOR g IN
            SELECT r.rolname, a.privilege_type, a.is_grantable
              FROM aclexplode(old.proacl) a
              JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
             WHERE a.grantee <> old.proowner
        LOOP
            EXECUTE format('GRANT %s ON FUNCTION %s TO %I%s', g.privilege_type, fn, g.rolname,
                           CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
        -- say what blocks the drop, and what to do, before DROP says CASCADE
        SELECT string_agg(pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
          INTO users
          FROM pg_catalog.pg_depend d
         WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = old.sig
           AND d.deptype = 'n';
        IF users IS NOT NULL THEN
            RAISE EXCEPTION 'cannot update extension revrx: % depends on %', users, fn
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = format('Version 0.2 declares %s with other arguments or columns.', fn),
                      HINT = 'Drop the dependent objects, run ALTER EXTENSION revrx UPDATE, then create them again.';
        END IF;
        EXECUTE format('DROP FUNCTION %s', old.sig);
    END LOOP;
END
$$;

-- 1. Set aside what 0.2 declares differently.
SELECT revrx_0_2_set_aside('revrx_status()', 23);
SELECT revrx_0_2_set_aside('revrx_backup_now(text,boolean)', NULL);
SELECT revrx_0_2_set_aside('revrx_backups()', 18);

-- 2. The functions of 0.2, as in revrx--0.2.sql (see the comments there).
CREATE OR REPLACE FUNCTION revrx_status(
    OUT last_archived_wal text,
    OUT last_archived_time timestamptz,
    OUT last_stored_wal text,
    OUT last_stored_time timestamptz,
    OUT backlog_segments bigint,
    OUT backlog_bytes bigint,
    OUT spool_files bigint,
    OUT spool_bytes bigint,
    OUT agent_pid integer,
    OUT agent_last_seen timestamptz,
    OUT agent_running boolean,
    OUT archived_count bigint,
    OUT failed_count bigint,
    OUT last_error text,
    OUT last_error_time timestamptz,
    OUT archive_ack text,
    OUT spool_dir text,
    OUT rpo_seconds double precision,
    OUT last_backup_time timestamptz,
    OUT seconds_since_backup double precision,
    OUT last_verification_time timestamptz,
    OUT last_verification_passed boolean,
    OUT last_good_verification_time timestamptz
)
RETURNS record
AS 'MODULE_PATHNAME', 'revrx_status'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION revrx_status() IS
'where WAL archiving through revrx-agent stands';

CREATE OR REPLACE FUNCTION revrx_backup_now(label text DEFAULT NULL, wait boolean DEFAULT false,
                                            incremental boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'revrx_backup_now'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION revrx_backup_now(text, boolean, boolean) IS
'start an online backup (full, or incremental to the newest one); returns its id';

CREATE OR REPLACE FUNCTION revrx_backups(
    OUT id text,
    OUT label text,
    OUT kind text,
    OUT status text,
    OUT scheduled boolean,
    OUT start_lsn pg_lsn,
    OUT stop_lsn pg_lsn,
    OUT start_time timestamptz,
    OUT stop_time timestamptz,
    OUT original_bytes bigint,
    OUT stored_bytes bigint,
    OUT file_count bigint,
    OUT problems jsonb,
    OUT error text,
    OUT parent text,
    OUT pinned boolean,
    OUT pg_major integer,
    OUT not_included jsonb
)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'revrx_backups'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
ROWS 16;

COMMENT ON FUNCTION revrx_backups() IS
'backups in the repository and those started since the server started';

CREATE OR REPLACE FUNCTION revrx_restore_point(name text)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'revrx_restore_point'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION revrx_restore_point(text) IS
'create a named restore point recorded in the repository; returns its LSN';

CREATE OR REPLACE FUNCTION revrx_verifications(
    OUT backup_id text,
    OUT passed boolean,
    OUT started_at timestamptz,
    OUT finished_at timestamptz,
    OUT recovery_seconds double precision,
    OUT total_seconds double precision,
    OUT failed_checks jsonb,
    OUT report_key text
)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'revrx_verifications'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
ROWS 16;

COMMENT ON FUNCTION revrx_verifications() IS
'latest restore drills: passed or not, and the measured recovery time';

-- 3. The privileges of 0.2.
REVOKE ALL ON FUNCTION revrx_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revrx_status() TO pg_monitor;
REVOKE ALL ON FUNCTION revrx_backup_now(text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION revrx_backups() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revrx_backups() TO pg_monitor;
REVOKE ALL ON FUNCTION revrx_restore_point(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revrx_verifications() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revrx_verifications() TO pg_monitor;

-- 4. Grants of the set-aside declarations go to their successors.
SELECT revrx_0_2_carry_grants('revrx_status_0_1', 'revrx_status()');
SELECT revrx_0_2_carry_grants('revrx_backup_now_0_1', 'revrx_backup_now(text,boolean,boolean)');
SELECT revrx_0_2_carry_grants('revrx_backups_0_1', 'revrx_backups()');

DROP FUNCTION revrx_0_2_set_aside(text, integer);
DROP FUNCTION revrx_0_2_carry_grants(text, text);
