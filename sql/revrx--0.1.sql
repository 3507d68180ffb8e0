/* sql/revrx--0.1.sql */

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
    OUT spool_dir text
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
