/* sql/revrx--0.2.sql */

--
-- Version 0.2: what CREATE EXTENSION revrx installs.  Released; do not
-- change it.  New or changed SQL objects go into a new version (0.3) as
-- sql/revrx--0.3.sql plus sql/revrx--0.2--0.3.sql, with default_version
-- in revrx.control and REVRX_SQL_VERSION in extension/revrx.h moved to it
-- (docs/configuration.md, "Upgrades").
--

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION revrx" to load this file. \quit

--
-- revrx_status(): one row saying where WAL archiving stands.
--
-- Needs revrx in shared_preload_libraries.  Reads shared memory, the
-- spool's status/agent.json (written by revrx-agent) and directory
-- listings; file-based columns are NULL when their source is missing.
--
CREATE FUNCTION revrx_status(
    OUT last_archived_wal text,         -- last file acknowledged to the archiver
    OUT last_archived_time timestamptz,
    OUT last_stored_wal text,           -- last file the agent stored in the repository
    OUT last_stored_time timestamptz,
    OUT backlog_segments bigint,        -- pg_wal/archive_status/*.ready
    OUT backlog_bytes bigint,
    OUT spool_files bigint,             -- spool wal/*.rvx not yet shipped
    OUT spool_bytes bigint,
    OUT agent_pid integer,
    OUT agent_last_seen timestamptz,
    OUT agent_running boolean,          -- heartbeat within the last 15 s
    OUT archived_count bigint,          -- since server start
    OUT failed_count bigint,            -- since server start
    OUT last_error text,                -- newer of the module's and the agent's
    OUT last_error_time timestamptz,
    OUT archive_ack text,
    OUT spool_dir text,
    OUT rpo_seconds double precision,   -- work at risk: age of the last stored segment, 0 if nothing since
    OUT last_backup_time timestamptz,   -- newest complete backup in the repository
    OUT seconds_since_backup double precision,
    OUT last_verification_time timestamptz,    -- newest restore drill
    OUT last_verification_passed boolean,
    OUT last_good_verification_time timestamptz -- newest drill that passed
)
RETURNS record
AS 'MODULE_PATHNAME', 'revrx_status'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION revrx_status() IS
'where WAL archiving through revrx-agent stands';

--
-- Privileges.  No function of revrx is executable by PUBLIC.  The output
-- of revrx_status() (file names, paths, error messages) is monitoring
-- data, so pg_monitor, the built-in role for exactly that, may read it.
-- Administrators grant EXECUTE to an operator role for the rest, e.g.
--   GRANT EXECUTE ON FUNCTION revrx_status() TO revrx_operator;
--
REVOKE ALL ON FUNCTION revrx_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revrx_status() TO pg_monitor;

--
-- revrx_backup_now(): starts an online backup and returns its id
-- (YYYYMMDDTHHMMSSZ of its start, in UTC).  The backup worker takes it
-- and revrx-agent ships it; with wait => true the call returns only once
-- the backup is stored in the repository, and fails with the reason if
-- the backup failed.  One backup at a time: while one runs or is being
-- shipped, a second call fails (SQLSTATE 55006, naming the running one).
-- With incremental => true it stores only what changed since the newest
-- complete backup on this timeline (docs/incremental.md), or is a full
-- backup when there is none it can build on (the log says why).
--
CREATE FUNCTION revrx_backup_now(label text DEFAULT NULL, wait boolean DEFAULT false,
                                 incremental boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'revrx_backup_now'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION revrx_backup_now(text, boolean, boolean) IS
'start an online backup (full, or incremental to the newest one); returns its id';

--
-- revrx_backups(): the repository's backups (from the catalog revrx-agent
-- publishes in the spool, status/backups.json) and those this server has
-- started since it started: running, shipping, failed, aborted.
--
CREATE FUNCTION revrx_backups(
    OUT id text,                        -- YYYYMMDDTHHMMSSZ[-N]
    OUT label text,
    OUT kind text,                      -- 'full' or 'incremental'
    OUT status text,                    -- running, shipping, complete, failed, aborted
    OUT scheduled boolean,              -- taken by revrx.backup_schedule
    OUT start_lsn pg_lsn,
    OUT stop_lsn pg_lsn,
    OUT start_time timestamptz,
    OUT stop_time timestamptz,
    OUT original_bytes bigint,          -- sum of the file sizes
    OUT stored_bytes bigint,            -- sum of the object sizes
    OUT file_count bigint,
    OUT problems jsonb,                 -- pages that failed verification
    OUT error text,                     -- why it failed; or the agent's last transient error
    OUT parent text,                    -- an incremental's parent backup
    OUT pinned boolean,                 -- revrx-agent pin: expire keeps it (NULL while running)
    OUT pg_major integer,               -- PostgreSQL major version the backup is of
    OUT not_included jsonb              -- what it does not hold: unlogged relations, skipped files...
)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'revrx_backups'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
ROWS 16;

COMMENT ON FUNCTION revrx_backups() IS
'backups in the repository and those started since the server started';

--
-- Privileges.  Taking a backup reads every file of the cluster and uses
-- the server's resources, so it is for an operator role only, e.g.
--   CREATE ROLE revrx_operator;
--   GRANT EXECUTE ON FUNCTION revrx_backup_now(text, boolean, boolean) TO revrx_operator;
-- The list of backups is monitoring data, readable by pg_monitor.
--
REVOKE ALL ON FUNCTION revrx_backup_now(text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION revrx_backups() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revrx_backups() TO pg_monitor;

--
-- revrx_restore_point(name): writes a named restore point into WAL (as
-- pg_create_restore_point() does) and records its name, LSN and time in
-- the repository, so that `revrx-agent restore --target-name NAME` knows
-- which backup to start from and that the point is reachable.  Names are
-- letters, digits, "-", "_" and "." (at most 63), used once; "revrx-..."
-- is reserved.
--
CREATE FUNCTION revrx_restore_point(name text)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'revrx_restore_point'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION revrx_restore_point(text) IS
'create a named restore point recorded in the repository; returns its LSN';

REVOKE ALL ON FUNCTION revrx_restore_point(text) FROM PUBLIC;

--
-- revrx_verifications(): the latest restore drills (`revrx-agent verify`),
-- newest first, as the agent publishes them in the spool
-- (status/verifications.json) from the reports stored in the repository
-- next to each backup.  total_seconds is the measured recovery time:
-- restore plus WAL replay, the time a real recovery would take (compare it
-- with the RTO); the checks come after it and are not included.
--
CREATE FUNCTION revrx_verifications(
    OUT backup_id text,
    OUT passed boolean,
    OUT started_at timestamptz,
    OUT finished_at timestamptz,
    OUT recovery_seconds double precision,   -- WAL replay alone
    OUT total_seconds double precision,      -- measured recovery time: restore + replay
    OUT failed_checks jsonb,                 -- names of the checks that failed
    OUT report_key text                      -- the full report in the repository
)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'revrx_verifications'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
ROWS 16;

COMMENT ON FUNCTION revrx_verifications() IS
'latest restore drills: passed or not, and the measured recovery time';

REVOKE ALL ON FUNCTION revrx_verifications() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION revrx_verifications() TO pg_monitor;
