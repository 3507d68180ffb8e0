#!/bin/bash
#
# demo.sh: revrx end to end on this machine, with nothing but a local
# directory as the repository.  `make demo` runs it after building and
# installing.  It starts a throwaway PostgreSQL 15 with revrx as its archive
# library and revrx-agent beside it, runs pgbench, shows the WAL stored in
# the repository, fetches a segment back as restore_command would, checks
# it is byte-identical; then takes a full and an incremental backup, runs a
# restore drill (revrx-agent verify) and recovers to a restore point made
# before an accidental DELETE; and stops everything it started.
#
# As root, PostgreSQL runs as the "postgres" user.
set -euo pipefail

if [ "$(id -u)" -eq 0 ] && [ -z "${REVRX_DEMO_AS_USER:-}" ]; then
	work=$(mktemp -d /tmp/revrx-demo.XXXXXX)
	cp "$0" "$work/demo.sh"
	chown -R postgres: "$work"
	exec runuser -u postgres -- env REVRX_DEMO_AS_USER=1 REVRX_DEMO_DIR="$work" bash "$work/demo.sh"
fi

bindir=$(pg_config --bindir)
export PATH="$bindir:$PATH"
work=${REVRX_DEMO_DIR:-$(mktemp -d /tmp/revrx-demo.XXXXXX)}
pgdata=$work/data
spool=$work/spool
repo=$work/repo
port=$(( 20000 + RANDOM % 20000 ))
agent_pid=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ms() { date +%s%3N; }

cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
	pg_ctl -D "$pgdata" -m fast stop >/dev/null 2>&1 || true
	pg_ctl -D "$work/pitr" -m fast stop >/dev/null 2>&1 || true
	echo
	echo "demo files are in $work (remove with: rm -rf $work)"
}
trap cleanup EXIT

step "1. a PostgreSQL 15 cluster that archives through revrx"
t0=$(ms)
initdb -D "$pgdata" -A trust -U postgres --data-checksums >/dev/null
mkdir -p "$spool"
cat >> "$pgdata/postgresql.conf" <<EOC
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'revrx'
archive_mode = on
archive_library = 'revrx'
revrx.spool_dir = '$spool'
wal_keep_size = '1GB'
EOC
pg_ctl -D "$pgdata" -l "$work/postgres.log" -w start >/dev/null
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
psql -qc "CREATE EXTENSION revrx"
echo "cluster at $pgdata (port $port), spool $spool   [$(( $(ms) - t0 )) ms]"

step "2. revrx-agent run: the sidecar shipping the spool to file://$repo"
REVRX_REPO="file://$repo" REVRX_SPOOL="$spool" revrx-agent run 2>"$work/agent.log" &
agent_pid=$!
echo "agent pid $agent_pid, log $work/agent.log"

step "3. load: pgbench -i -s 10, then 10 s of pgbench with 4 clients"
t0=$(ms)
pgbench -i -q -s 10 >/dev/null 2>&1
pgbench -n -c 4 -j 2 -T 10 2>/dev/null | grep -E "^(tps|number of transactions actually)"
last=$(psql -Atc "SELECT pg_walfile_name(pg_switch_wal())")
echo "load done, last completed segment $last   [$(( $(ms) - t0 )) ms]"

step "4. waiting for every segment to be confirmed in the repository"
t0=$(ms)
for _ in $(seq 600); do
	archived=$(psql -Atc "SELECT coalesce(last_archived_wal,'') FROM pg_stat_archiver")
	[[ "$archived" > "$last" || "$archived" == "$last" ]] && break
	sleep 0.1
done
echo "archived through $archived   [$(( $(ms) - t0 )) ms after the load ended]"
sleep 1.2   # the agent publishes its status once a second
psql -c "SELECT last_archived_wal, last_stored_wal, backlog_segments, agent_running, archived_count, failed_count FROM revrx_status()"
n=$(ls "$repo/wal/00000001" | wc -l)
stored=$(du -sb "$repo/wal" | cut -f1)
echo "repository holds $n WAL objects, $(( stored / 1024 / 1024 )) MB (zstd) for $(( n * 16 )) MB of WAL"
ls -l "$repo/wal/00000001" | tail -n 3

step "5. restore_command: revrx-agent wal-fetch $last"
t0=$(ms)
REVRX_REPO="file://$repo" revrx-agent wal-fetch "$last" "$work/$last"
echo "fetched and verified in $(( $(ms) - t0 )) ms"
if cmp -s "$work/$last" "$pgdata/pg_wal/$last"; then
	echo "byte-identical to pg_wal/$last: yes"
else
	echo "byte-identical to pg_wal/$last: NO" >&2
	exit 1
fi

step "6. a full backup, taken by the server's backup worker and shipped by the agent"
t0=$(ms)
full=$(psql -Atc "SELECT revrx_backup_now('demo full', wait => true)")
echo "backup $full complete in the repository   [$(( $(ms) - t0 )) ms]"

step "7. a restore point, an accident, and an incremental backup"
psql -Atc "SELECT 'restore point before-delete at ' || revrx_restore_point('before-delete')"
psql -qc "DELETE FROM pgbench_tellers"
echo "DELETE FROM pgbench_tellers: $(psql -Atc 'SELECT count(*) FROM pgbench_tellers') tellers left"
t0=$(ms)
incr=$(psql -Atc "SELECT revrx_backup_now('demo incremental', true, incremental => true)")
echo "incremental backup $incr   [$(( $(ms) - t0 )) ms]"
psql -c "SELECT id, kind, parent, status, pg_size_pretty(original_bytes) AS original, pg_size_pretty(stored_bytes) AS stored FROM revrx_backups() ORDER BY id"
last=$(psql -Atc "SELECT pg_walfile_name(pg_switch_wal())")
for _ in $(seq 600); do
	archived=$(psql -Atc "SELECT coalesce(last_archived_wal,'') FROM pg_stat_archiver")
	[[ "$archived" > "$last" || "$archived" == "$last" ]] && break
	sleep 0.1
done

# the server fingerprints every table after each backup (restore point
# revrx-fp-<id>); the drill recovers to that point and compares
for _ in $(seq 600); do
	compgen -G "$repo/backup/$incr/fingerprints.json*" >/dev/null && break
	sleep 0.1
done

step "8. a restore drill: revrx-agent verify restores the newest backup and checks it"
t0=$(ms)
if REVRX_REPO="file://$repo" revrx-agent verify --scratch "$work/drill" 2>"$work/verify.log"; then
	echo "the drill passed   [$(( $(ms) - t0 )) ms]"
else
	echo "the drill FAILED: see $work/verify.log" >&2
	exit 1
fi

step "9. point-in-time recovery to the restore point made before the DELETE"
t0=$(ms)
REVRX_REPO="file://$repo" revrx-agent restore --pgdata "$work/pitr" --target-name before-delete 2>"$work/restore.log"
cat >> "$work/pitr/postgresql.conf" <<EOC
port = $(( port + 1 ))
shared_preload_libraries = ''
EOC
PGPORT=$(( port + 1 )) REVRX_REPO="file://$repo" pg_ctl -D "$work/pitr" -l "$work/pitr.log" -w start >/dev/null
for _ in $(seq 600); do
	[ "$(PGPORT=$(( port + 1 )) psql -Atc 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ] && break
	sleep 0.1
done
echo "recovered copy: $(PGPORT=$(( port + 1 )) psql -Atc 'SELECT count(*) FROM pgbench_tellers') tellers (the original has $(psql -Atc 'SELECT count(*) FROM pgbench_tellers'))   [$(( $(ms) - t0 )) ms]"
pg_ctl -D "$work/pitr" -m fast stop >/dev/null

step "done"
