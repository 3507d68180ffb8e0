--
-- Versions of the extension: an updated database has exactly what a fresh
-- install of the current version has, and the module refuses declarations
-- of an older version whose shape changed.
--
-- The comparison lists everything of the extension's that a user sees:
-- its members (pg_depend), each function's signature, arguments with
-- defaults, result, attributes, comment, ACL and initial privileges, and
-- the columns of member relations and types.  A thing an update script
-- forgets, or does differently, shows up as a row of the difference.
--
CREATE FUNCTION regress_revrx_catalog(OUT what text, OUT detail text)
RETURNS SETOF record LANGUAGE sql AS $$
    WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'revrx'),
    members AS (
        SELECT d.classid, d.objid, d.objsubid
          FROM pg_depend d, ext
         WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
           AND d.deptype = 'e'
    )
    SELECT 'member', pg_describe_object(classid, objid, objsubid) FROM members
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text,
           concat_ws(' | ', pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                     p.provolatile, p.proparallel, p.proisstrict, p.proretset, p.prorows,
                     p.prosecdef, l.lanname, p.prosrc, p.probin, p.proowner::regrole,
                     obj_description(p.oid, 'pg_proc'))
      FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
      JOIN pg_language l ON l.oid = p.prolang
    UNION ALL
    SELECT 'acl ' || p.oid::regprocedure::text, a.grantee::regrole || ' ' || a.privilege_type
           || CASE WHEN a.is_grantable THEN ' with grant option' ELSE '' END
      FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid,
           aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
    UNION ALL
    SELECT 'initial acl ' || pg_describe_object(i.classoid, i.objoid, i.objsubid),
           a.grantee::regrole || ' ' || a.privilege_type
      FROM members m JOIN pg_init_privs i
           ON i.classoid = m.classid AND i.objoid = m.objid AND i.objsubid = m.objsubid,
           aclexplode(i.initprivs) a
    UNION ALL
    SELECT 'column ' || c.oid::regclass::text, a.attnum || ' ' || a.attname || ' '
           || format_type(a.atttypid, a.atttypmod)
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text, t.typtype::text || ' ' || t.typcategory::text
      FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
$$;

-- what the current version creates
CREATE EXTENSION revrx;
SELECT extversion FROM pg_extension WHERE extname = 'revrx';
CREATE TABLE regress_fresh AS SELECT * FROM regress_revrx_catalog();
SELECT count(*) > 0 AS listed FROM regress_fresh;
DROP EXTENSION revrx;

-- The released versions and the update paths between them
SELECT name, version FROM pg_available_extension_versions
 WHERE name = 'revrx' ORDER BY version;
SELECT source, target, path FROM pg_extension_update_paths('revrx')
 WHERE path IS NOT NULL ORDER BY source, target;

-- 0.1 (the oldest released version): functions whose shape did not change
-- keep working; revrx_backups() lacks "pinned" and is refused until updated
CREATE EXTENSION revrx VERSION '0.1';
SELECT count(*) FROM revrx_status();
SELECT * FROM revrx_backups();
-- a view on a function whose shape 0.2 keeps survives the update
CREATE VIEW regress_status_view AS SELECT spool_dir FROM revrx_status();
ALTER EXTENSION revrx UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'revrx';
SELECT count(*) FROM revrx_backups();
SELECT count(*) FROM regress_status_view;
DROP VIEW regress_status_view;

-- updated = fresh, both ways (no rows)
(SELECT 'only fresh' AS side, * FROM regress_fresh
 EXCEPT SELECT 'only fresh', * FROM regress_revrx_catalog())
UNION ALL
(SELECT 'only updated', * FROM regress_revrx_catalog()
 EXCEPT SELECT 'only updated', * FROM regress_fresh)
ORDER BY 1, 2, 3;
DROP EXTENSION revrx;

-- The oldest shape a database may hold from before versions were kept
-- (0.1 as of commit 51ef59e: revrx_status() with 17 columns,
-- revrx_backup_now(label, wait), revrx_backups() with 14 columns, neither
-- revrx_restore_point() nor revrx_verifications()), with grants to an
-- operator role.
CREATE EXTENSION revrx VERSION '0.1';
ALTER EXTENSION revrx DROP FUNCTION revrx_status();
DROP FUNCTION revrx_status();
CREATE FUNCTION revrx_status(OUT last_archived_wal text, OUT last_archived_time timestamptz,
    OUT last_stored_wal text, OUT last_stored_time timestamptz, OUT backlog_segments bigint,
    OUT backlog_bytes bigint, OUT spool_files bigint, OUT spool_bytes bigint,
    OUT agent_pid integer, OUT agent_last_seen timestamptz, OUT agent_running boolean,
    OUT archived_count bigint, OUT failed_count bigint, OUT last_error text,
    OUT last_error_time timestamptz, OUT archive_ack text, OUT spool_dir text)
RETURNS record AS '$libdir/revrx', 'revrx_status' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION revrx_status() IS 'where WAL archiving through revrx-agent stands';
REVOKE ALL ON FUNCTION revrx_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revrx_status() TO pg_monitor;
ALTER EXTENSION revrx ADD FUNCTION revrx_status();
ALTER EXTENSION revrx DROP FUNCTION revrx_backup_now(text, boolean, boolean);
DROP FUNCTION revrx_backup_now(text, boolean, boolean);
CREATE FUNCTION revrx_backup_now(label text DEFAULT NULL, wait boolean DEFAULT false)
RETURNS text AS '$libdir/revrx', 'revrx_backup_now'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION revrx_backup_now(text, boolean) IS 'start an online full backup; returns its id';
REVOKE ALL ON FUNCTION revrx_backup_now(text, boolean) FROM PUBLIC;
ALTER EXTENSION revrx ADD FUNCTION revrx_backup_now(text, boolean);
ALTER EXTENSION revrx DROP FUNCTION revrx_backups();
DROP FUNCTION revrx_backups();
CREATE FUNCTION revrx_backups(OUT id text, OUT label text, OUT kind text,
    OUT status text, OUT scheduled boolean, OUT start_lsn pg_lsn, OUT stop_lsn pg_lsn,
    OUT start_time timestamptz, OUT stop_time timestamptz, OUT original_bytes bigint,
    OUT stored_bytes bigint, OUT file_count bigint, OUT problems jsonb, OUT error text)
RETURNS SETOF record AS '$libdir/revrx', 'revrx_backups'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED ROWS 16;
REVOKE ALL ON FUNCTION revrx_backups() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revrx_backups() TO pg_monitor;
ALTER EXTENSION revrx ADD FUNCTION revrx_backups();
ALTER EXTENSION revrx DROP FUNCTION revrx_restore_point(text);
DROP FUNCTION revrx_restore_point(text);
ALTER EXTENSION revrx DROP FUNCTION revrx_verifications();
DROP FUNCTION revrx_verifications();
CREATE ROLE regress_revrx_upgrade_operator;
GRANT EXECUTE ON FUNCTION revrx_backup_now(text, boolean) TO regress_revrx_upgrade_operator;
GRANT EXECUTE ON FUNCTION revrx_backups() TO regress_revrx_upgrade_operator;

-- each changed declaration is refused, with the hint to update
SELECT revrx_backup_now('x');
SELECT count(*) FROM revrx_status();
SELECT count(*) FROM revrx_backups();

ALTER EXTENSION revrx UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'revrx';
SELECT count(*) FROM revrx_status();
SELECT count(*) FROM revrx_backups();
-- the only difference from a fresh install: the operator's grants, carried
-- over to the new declarations (and, like every grant in an extension
-- script, recorded as initial privileges)
(SELECT 'only fresh' AS side, * FROM regress_fresh
 EXCEPT SELECT 'only fresh', * FROM regress_revrx_catalog())
UNION ALL
(SELECT 'only updated', * FROM regress_revrx_catalog()
 EXCEPT SELECT 'only updated', * FROM regress_fresh)
ORDER BY 1, 2, 3;
-- and nothing is executable by PUBLIC
SELECT p.oid::regprocedure AS function
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'revrx')
   AND has_function_privilege('public', p.oid, 'EXECUTE');

DROP EXTENSION revrx;
DROP ROLE regress_revrx_upgrade_operator;

-- A view on revrx_backups() stops the update, naming the view; nothing
-- changes
CREATE EXTENSION revrx VERSION '0.1';
CREATE VIEW regress_backup_ids AS SELECT id FROM revrx_backups();
-- (where the error is raised differs by major: 18 names the script's line)
\set SHOW_CONTEXT never
ALTER EXTENSION revrx UPDATE;
\set SHOW_CONTEXT errors
SELECT extversion FROM pg_extension WHERE extname = 'revrx';
DROP VIEW regress_backup_ids;
ALTER EXTENSION revrx UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'revrx';

DROP EXTENSION revrx;
DROP TABLE regress_fresh;
DROP FUNCTION regress_revrx_catalog();
