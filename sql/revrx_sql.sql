--
-- The SQL surface of revrx: functions, privileges, settings.
--
-- Runs in a throwaway instance with revrx preloaded (tests/regress.conf),
-- archive_mode off and revrx.spool_dir unset, so only what does not depend
-- on archiving is checked here.
--
CREATE EXTENSION revrx;

-- The columns of revrx_status(), in order
SELECT a.n, a.name, a.type::regtype
  FROM pg_proc p,
       unnest(p.proargnames, p.proallargtypes) WITH ORDINALITY AS a(name, type, n)
 WHERE p.oid = 'revrx_status()'::regprocedure
 ORDER BY a.n;
SELECT provolatile, proparallel, proretset FROM pg_proc
 WHERE oid = 'revrx_status()'::regprocedure;
SELECT * FROM revrx_status() WHERE false;

-- Exactly one row; nothing archived, nothing known about an agent
SELECT count(*) FROM revrx_status();
SELECT last_archived_wal, last_archived_time, archived_count, failed_count,
       last_error, backlog_segments, backlog_bytes,
       spool_files, spool_bytes, agent_pid, agent_running,
       archive_ack, spool_dir
  FROM revrx_status();

-- Settings and their defaults
SELECT name, setting, unit, context, vartype, min_val, max_val, enumvals
  FROM pg_settings WHERE name LIKE 'revrx.%' ORDER BY name;
SHOW revrx.compression;

-- Bad values are refused with a reason
ALTER SYSTEM SET revrx.compression = 'lz9';
ALTER SYSTEM SET revrx.archive_timeout = 0;
ALTER SYSTEM SET revrx.compression_level = 20;
ALTER SYSTEM SET revrx.spool_max_size = '1MB';
ALTER SYSTEM SET revrx.spool_dir = 'relative/path';
ALTER SYSTEM SET revrx.archive_ack = 'maybe';
ALTER SYSTEM SET revrx.partial_interval = '50ms';
ALTER SYSTEM SET revrx.backup_compress_workers = 17;
-- reloadable settings cannot be changed in a session
SET revrx.compression = 'gzip';
-- the prefix is reserved
SET revrx.no_such_setting = 1;
-- good values are accepted
ALTER SYSTEM SET revrx.spool_dir = '/var/lib/revrx/spool';
ALTER SYSTEM SET revrx.compression = 'gzip';
ALTER SYSTEM SET revrx.compression = 'lz4';
ALTER SYSTEM RESET revrx.spool_dir;
ALTER SYSTEM RESET revrx.compression;
ALTER SYSTEM SET revrx.partial_interval = 0;
ALTER SYSTEM SET revrx.partial_interval = '250ms';
ALTER SYSTEM RESET revrx.partial_interval;

-- Privileges: not executable by PUBLIC, executable by pg_monitor
SELECT has_function_privilege('public', 'revrx_status()', 'EXECUTE');
SELECT has_function_privilege('pg_monitor', 'revrx_status()', 'EXECUTE');
CREATE ROLE regress_revrx_nobody;
CREATE ROLE regress_revrx_monitor IN ROLE pg_monitor;
SET ROLE regress_revrx_nobody;
SELECT archived_count FROM revrx_status();
RESET ROLE;
SET ROLE regress_revrx_monitor;
SELECT archived_count FROM revrx_status();
RESET ROLE;

DROP ROLE regress_revrx_nobody;
DROP ROLE regress_revrx_monitor;
DROP EXTENSION revrx;
