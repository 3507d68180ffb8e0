--
-- The SQL surface of base backups: functions, privileges, argument checks,
-- the schedule setting.
--
-- Runs in a throwaway instance with revrx preloaded (tests/regress.conf),
-- archive_mode off and revrx.spool_dir unset, so no backup can be taken
-- here; taking them is tested in tests/t.
--
CREATE EXTENSION revrx;

-- Signatures and properties
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS result,
       p.provolatile, p.proparallel, p.proretset, p.proisstrict
  FROM pg_proc p
 WHERE p.proname IN ('revrx_backup_now', 'revrx_backups')
 ORDER BY p.proname;
SELECT pg_get_function_arguments('revrx_backup_now(text, boolean, boolean)'::regprocedure);

-- The columns of revrx_backups(), in order
SELECT a.n, a.name, a.type::regtype
  FROM pg_proc p,
       unnest(p.proargnames, p.proallargtypes) WITH ORDINALITY AS a(name, type, n)
 WHERE p.oid = 'revrx_backups()'::regprocedure
 ORDER BY a.n;

-- Nothing known in a fresh instance
SELECT count(*) FROM revrx_backups();
SELECT * FROM revrx_backups();

-- A declaration of another shape, as an extension not updated since 0.1
-- has (15 columns, before "pinned"), is refused with the hint to update
-- (sql/revrx_upgrade.sql tests the update itself)
CREATE FUNCTION regress_backups_15(OUT id text, OUT label text, OUT kind text,
    OUT status text, OUT scheduled boolean, OUT start_lsn pg_lsn, OUT stop_lsn pg_lsn,
    OUT start_time timestamptz, OUT stop_time timestamptz, OUT original_bytes bigint,
    OUT stored_bytes bigint, OUT file_count bigint, OUT problems jsonb, OUT error text,
    OUT parent text)
RETURNS SETOF record AS '$libdir/revrx', 'revrx_backups' LANGUAGE C;
SELECT count(*) FROM regress_backups_15();
CREATE FUNCTION regress_backups_2(OUT id text, OUT label text)
RETURNS SETOF record AS '$libdir/revrx', 'revrx_backups' LANGUAGE C;
SELECT count(*) FROM regress_backups_2();
DROP FUNCTION regress_backups_15(), regress_backups_2();

-- Privileges: nothing for PUBLIC; the list is monitoring data
SELECT f, has_function_privilege('public', f, 'EXECUTE') AS public,
       has_function_privilege('pg_monitor', f, 'EXECUTE') AS pg_monitor
  FROM (VALUES ('revrx_backup_now(text, boolean, boolean)'), ('revrx_backups()')) v(f)
 ORDER BY f;
CREATE ROLE regress_revrx_plain;
CREATE ROLE regress_revrx_monitor IN ROLE pg_monitor;
CREATE ROLE regress_revrx_operator;
GRANT EXECUTE ON FUNCTION revrx_backup_now(text, boolean, boolean) TO regress_revrx_operator;
SET ROLE regress_revrx_plain;
SELECT revrx_backup_now();
SELECT revrx_backup_now('x', true);
SELECT count(*) FROM revrx_backups();
RESET ROLE;
SET ROLE regress_revrx_monitor;
SELECT count(*) FROM revrx_backups();
SELECT revrx_backup_now();
RESET ROLE;
-- an operator passes the privilege check and gets to the settings check
SET ROLE regress_revrx_operator;
SELECT revrx_backup_now('granted');
RESET ROLE;

-- Bad arguments are refused before anything else
SELECT revrx_backup_now(repeat('x', 201));
SELECT revrx_backup_now(E'two\nlines');
SELECT revrx_backup_now(E'tab\there');
SELECT revrx_backup_now('');
SELECT revrx_backup_now('fine', NULL);
-- a label of exactly 200 bytes is fine, so is none: then the settings
SELECT revrx_backup_now(repeat('x', 200));
SELECT revrx_backup_now();
SELECT revrx_backup_now(label => NULL, wait => true);

-- The schedule setting
SELECT name, setting, context, vartype FROM pg_settings
 WHERE name = 'revrx.backup_schedule';
ALTER SYSTEM SET revrx.backup_schedule = '61 * * * *';
ALTER SYSTEM SET revrx.backup_schedule = '* * *';
ALTER SYSTEM SET revrx.backup_schedule = '0 2 * * * *';
ALTER SYSTEM SET revrx.backup_schedule = '*/0 * * * *';
ALTER SYSTEM SET revrx.backup_schedule = '5-1 * * * *';
ALTER SYSTEM SET revrx.backup_schedule = '0 2 * * mon-xyz';
ALTER SYSTEM SET revrx.backup_schedule = '0 0 30 2 *';
ALTER SYSTEM SET revrx.backup_schedule = '@sometimes';
-- it is reloadable, not settable in a session
SET revrx.backup_schedule = '0 2 * * *';
-- good values
ALTER SYSTEM SET revrx.backup_schedule = '0 2 * * *';
ALTER SYSTEM SET revrx.backup_schedule = '*/15 1-5,22 1,15 jan-jun mon-fri';
ALTER SYSTEM SET revrx.backup_schedule = '30 3 * * 7';
ALTER SYSTEM SET revrx.backup_schedule = '@daily';
ALTER SYSTEM SET revrx.backup_schedule = '';
ALTER SYSTEM RESET revrx.backup_schedule;

-- Restore points: the name is checked before anything is written
SELECT revrx_restore_point('');
SELECT revrx_restore_point('a/b');
SELECT revrx_restore_point('revrx-fp-20261126T000000Z');
SELECT revrx_restore_point(repeat('x', 64));
SELECT revrx_restore_point(NULL);
-- a good name, but no spool to record it in: refused, nothing written
SELECT revrx_restore_point('before-migration');

-- No drill known without a spool
SELECT * FROM revrx_verifications();

-- No function of the extension is executable by PUBLIC
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public,
       has_function_privilege('pg_monitor', p.oid, 'EXECUTE') AS pg_monitor
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'revrx'
 ORDER BY p.proname;

DROP ROLE regress_revrx_plain;
DROP ROLE regress_revrx_monitor;
REVOKE EXECUTE ON FUNCTION revrx_backup_now(text, boolean, boolean) FROM regress_revrx_operator;
DROP ROLE regress_revrx_operator;
DROP EXTENSION revrx;

