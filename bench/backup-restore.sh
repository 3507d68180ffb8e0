#!/usr/bin/env bash
# backup-restore.sh - full backup and restore: revrx against pgBackRest and
# pg_basebackup, on one machine, one pgbench cluster, local repositories.
#
# Usage (as root; PostgreSQL runs as the `postgres` user):
#   bench/backup-restore.sh
#
# Environment knobs (defaults in brackets):
#   SCALE [100]         pgbench scale (100 = ~1.6 GB data directory without pg_wal)
#   RUNS [1]            rounds; every round runs every test once, in this order:
#                       revrx backup, revrx restore, pg_basebackup -Ft client-zstd:1,
#                       pg_basebackup -Fp, pgBackRest backup (zst 3, pm=2),
#                       pgBackRest restore (pm=2)
#   OUT [bench/results/backup-<timestamp>]  results directory
#   KEEP_DATA [0]       1 = keep $WORK (cluster, spool, repositories)
#   WORK [/tmp/revrx-bbbench]  scratch directory (wiped at start and at exit)
#   PORT [55435]        server port (unix socket in $WORK/sock, no TCP)
#   REVRX_PARALLEL [4]  the agent's concurrent transfers (backup and restore)
#   PGBR_PM [2]         pgBackRest process-max (backup and restore)
#   DRILL [1]           1 = also the restore drills (revrx-agent verify), below
#   PITR_LOAD_S [30]    seconds of pgbench before the PITR drill (the WAL it replays)
#   INCR [1]            1 = also incremental backups, below
#   INCR_LOAD_S [30]    seconds of pgbench between the full and the incremental backups
#   SETTLE [on]         revrx.fingerprint_settle (off: how incrementals were before it)
#   COMPRESS_WORKERS [] revrx.backup_compress_workers for every revrx backup (empty: its default)
#   ALT_WORKERS []      also, in every round right after the revrx backup, a revrx backup
#                       with revrx.backup_compress_workers = ALT_WORKERS (set by reload),
#                       recorded as revrx-backup-alt; ratios against pgBackRest and revrx-backup
#   DELTA [1]           1 = also restore --delta, below
#   ALT_AGENT []        also, in every round beside the revrx restore of the
#                       incremental chain, the same restore by this other revrx-agent
#                       binary (a build before a change, say), recorded as
#                       revrx-incr-restore-alt, and right after revrx's recovery time,
#                       the same recovery with it (restore and restore_command),
#                       revrx-rto-alt, and beside revrx's delta restore, the same
#                       delta restore by it (revrx-delta-restore-alt): before and after
#                       in one run, the two taking turns at going first
#   RTO [1]             1 = also the recovery time of each tool, below
#   RTO_LOAD_S [30]     seconds of pgbench between the backup and the recovery target
#   RTO_LOAD_TX []      instead, this many pgbench transactions (4 clients): the same
#                       WAL for each tool to replay (in 30 s, the load archived by
#                       revrx ran 1.1-1.4 times the transactions of pgBackRest's)
#   HOST_MEMORY [keep]  keep: the VM's free page reporting is stopped for the run
#                       (bench/lib.sh, "guest memory"); report: the machine as it is
#   DELTA_SQL [UPDATE pgbench_branches SET bbalance = bbalance + 1]
#                       the change made in the restored copy before the delta restore
#
# The cluster: initdb --data-checksums, shared_preload_libraries='revrx',
# archive_mode=on. For the revrx and pg_basebackup tests archiving goes to revrx
# (archive_library='revrx', revrx-agent run on a file:// repository); for the
# pgBackRest tests it is switched (ALTER SYSTEM + reload) to
# archive_command='pgbackrest archive-push' (zst 3), so that each tool waits for
# its own WAL archiving, as in production. Every backup uses a fast checkpoint
# and is preceded by an untimed CHECKPOINT. Reads come from a warm page cache
# (drop_caches is not possible here).
#
# Timed:
#   revrx backup    SELECT revrx_backup_now('bench', wait => true), end to end
#                   (returns when revrx-agent committed backup.json in the repository)
#   revrx restore   revrx-agent restore --pgdata <empty dir>
#   revrx delta     that restored copy is started (port PORT+1; it replays the archive
#                   and is promoted), DELTA_SQL changes one table's rows, it is stopped,
#                   then revrx-agent restore --delta --backup <id> into it (timed): the
#                   files still as backed up are read back and kept, the others
#                   rewritten, the run's own files (WAL, statistics) removed.
#                   pg_verifybackup -n after it, untimed. Ratio: against revrx restore.
#   bb-tar-zstd1    pg_basebackup -Ft --compress=client-zstd:1 -X stream -c fast
#   bb-plain        pg_basebackup -Fp -X stream -c fast
#   pgbr backup     pgbackrest backup --type=full --compress-type=zst
#                   --compress-level=3 --process-max=2 (start-fast=y)
#   pgbr restore    pgbackrest restore --process-max=2 into an empty directory
#   revrx drill     revrx-agent verify --backup <id>: restore, pg_verifybackup, start,
#                   recover to the backup's fingerprint restore point, pg_amcheck
#                   (heapallindexed), row counts, fingerprints of every table of the
#                   pgbench database, pg_checksums.  Reported: its measured recovery
#                   time (restore + WAL replay: the RTO) and each phase.
#   revrx pitr      after PITR_LOAD_S s of pgbench, revrx-agent verify --target-time
#                   <end of the load>: the same, replaying that WAL; gives the replay rate.
#                   (Fingerprints are taken after every revrx backup, by a worker of
#                   their own; the bench waits for them untimed and logs how long.)
#   incremental     a revrx full backup (untimed) and pgBackRest's full backup above,
#                   INCR_LOAD_S s of pgbench, then pgbackrest backup --type=incr and
#                   revrx_backup_now(incremental => true) (timed, stored bytes), and
#                   each one's restore of that incremental (timed: the whole chain;
#                   the tools' chain restores, ALT_AGENT's too, take turns at going
#                   first: round r starts with the r-th of revrx, [ALT,] pgBackRest).
#                   Also, untimed: the main-fork pages the incremental stored in its
#                   deltas (pages=, from the server log) against the pages the
#                   workload changed between the two backups' starts (wal_pages=:
#                   distinct blocks of WAL records other than hint-bit full-page
#                   images, pg_waldump on pg_wal, kept by wal_keep_size) and the
#                   pages only hint bits changed (hint_only_pages=).
#   rto             recovery time as an incident sees it, for each tool in turn:
#                   a full backup (untimed), RTO_LOAD_S s of pgbench archived by
#                   the same tool, a recovery target at the end of that load; then,
#                   timed: the restore to that target (revrx-agent restore
#                   --target-time; pgbackrest restore --type=time, WAL read back with
#                   its asynchronous archive-get, process-max PGBR_PM, the setting
#                   its documentation recommends for recovery), with the primary
#                   stopped (as in an incident: nothing of it runs beside the
#                   recovery), the server started and waited for until it is promoted (pg_is_in_recovery() false,
#                   polled every 50 ms). Untimed after it: the copy's
#                   pgbench_history rows against the primary's at the target.
# Stored size = du --apparent-size -sb of the backup's directory (revrx:
# repo/backup/<id>; pgBackRest: repo/backup/<stanza>/<label>; pg_basebackup: its
# output directory, which includes pg_wal streamed with -X stream).
# MB/s = payload / seconds, payload = bytes of the data directory without pg_wal
# (1 MB = 10^6 bytes). host_busy = machine-wide busy core-seconds (/proc/stat,
# all tenants) over the timed interval: the fair CPU figure for revrx, whose
# work happens in the server and the agent rather than in a client.
# Results: $OUT/{raw.csv,summary.md,env.txt,run.log,logs/}.
# Not part of `make test`.
set -Eeuo pipefail

SCALE=${SCALE:-100}
RUNS=${RUNS:-1}
KEEP_DATA=${KEEP_DATA:-0}
WORK=${WORK:-/tmp/revrx-bbbench}
PORT=${PORT:-55435}
REVRX_PARALLEL=${REVRX_PARALLEL:-4}
PGBR_PM=${PGBR_PM:-2}
DRILL=${DRILL:-1}
INCR=${INCR:-1}
INCR_LOAD_S=${INCR_LOAD_S:-30}
SETTLE=${SETTLE:-on}
COMPRESS_WORKERS=${COMPRESS_WORKERS:-}
ALT_WORKERS=${ALT_WORKERS:-}
DELTA=${DELTA:-1}
DELTA_SQL=${DELTA_SQL:-UPDATE pgbench_branches SET bbalance = bbalance + 1}
ALT_AGENT=${ALT_AGENT:-}
RTO=${RTO:-1}
RTO_LOAD_S=${RTO_LOAD_S:-30}
RTO_LOAD_TX=${RTO_LOAD_TX:-}
PITR_LOAD_S=${PITR_LOAD_S:-30}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
REVRX_AGENT=${REVRX_AGENT:-$PGBIN/revrx-agent}
OUT=${OUT:-$HERE/results/backup-$(date +%Y%m%d-%H%M%S)}
SOCK=$WORK/sock
PGDATA=$WORK/data
SPOOL=$WORK/spool
RVX_REPO=$WORK/repo-revrx
PGBR_REPO=$WORK/repo-pgbr
PGBR_CONF=$WORK/pgbackrest.conf
STANZA=bench
PGLOG=$WORK/log/postgres.log

REVRX_REPO_URL=file://$RVX_REPO
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_init /tmp /var/tmp /work

mb() { awk -v a="$1" 'BEGIN{ if (a == "NA") print "NA"; else printf "%.1f", a/1e6}'; }

# ---------------------------------------------------------------- exit
bench_after_stop() { # (bench_exit) the restored copies a test left running; the logs
  local d
  for d in "$WORK/restore-revrx" "$WORK/rto"; do
    [[ -f $d/postmaster.pid ]] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
  done
  if [[ -d ${OUT:-/nonexistent} ]]; then
    mkdir -p "$OUT/logs"
    cp "$PGLOG" "$OUT/logs/" 2>/dev/null
    cp "$WORK"/log/*.log "$OUT/logs/" 2>/dev/null
    [[ -d $WORK/pgbr-log ]] && cp -r "$WORK/pgbr-log" "$OUT/logs/pgbackrest" 2>/dev/null
  fi
}

# ---------------------------------------------------------------- setup
preflight() {
  local c
  for c in pgbackrest setpriv runuser zstd; do command -v "$c" >/dev/null || { echo "missing: $c" >&2; exit 1; }; done
  [[ -x $PGBIN/postgres && -x $PGBIN/pgbench && -x $PGBIN/pg_basebackup ]] || { echo "PostgreSQL 15 not found in $PGBIN" >&2; exit 1; }
  [[ -f $($PGBIN/pg_config --pkglibdir)/revrx.so ]] || { echo "revrx.so is not installed (make install)" >&2; exit 1; }
  [[ -x $REVRX_AGENT ]] || { echo "revrx-agent not found at $REVRX_AGENT" >&2; exit 1; }
}

write_env() {
  {
    env_head
    [[ -n $ALT_AGENT ]] && echo "ALT_AGENT: $ALT_AGENT (sha256 $(sha256sum "$ALT_AGENT" | cut -c1-16))"
    echo "revrx-agent: $REVRX_AGENT (installed $(stat -c '%y' "$REVRX_AGENT"), sha256 $(sha256sum "$REVRX_AGENT" | cut -c1-16))"
    echo "revrx.so: $($PGBIN/pg_config --pkglibdir)/revrx.so (installed $(stat -c '%y' "$($PGBIN/pg_config --pkglibdir)/revrx.so"))"
    echo "revrx git: $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?') (working tree may differ)"
    echo "SCALE=$SCALE RUNS=$RUNS REVRX_PARALLEL=$REVRX_PARALLEL PGBR_PM=$PGBR_PM DELTA=$DELTA RTO=$RTO RTO_LOAD_S=$RTO_LOAD_S RTO_LOAD_TX=$RTO_LOAD_TX COMPRESS_WORKERS=$COMPRESS_WORKERS ALT_WORKERS=$ALT_WORKERS"
    echo "loadavg at start: $(cat /proc/loadavg)"
    echo "HOST_MEMORY=$HOST_MEMORY (page_reporting_order: $(cat "$PAGE_REPORTING" 2>/dev/null || echo none))"
  } > "$OUT/env.txt"
}

make_cluster() {
  log "cluster: initdb --data-checksums, revrx preloaded, pgbench -i -s $SCALE"
  aspg "$PGBIN/initdb" -D "$PGDATA" --data-checksums --auth=trust -U postgres -E UTF8 --locale=C >"$WORK/log/initdb.log"
  pg_conf "$PGDATA"
  pg_conf_revrx "$PGDATA"
  cat >> "$PGDATA/postgresql.conf" <<EOF
wal_keep_size = 16GB
revrx.fingerprint_database = 'pgbench'
revrx.fingerprint_settle = $SETTLE
EOF
  [[ -n $COMPRESS_WORKERS ]] && echo "revrx.backup_compress_workers = $COMPRESS_WORKERS" >> "$PGDATA/postgresql.conf"
  pgbr_conf "$PGBR_CONF" repo1-path="$PGBR_REPO" repo1-retention-full=1000 log-path="$WORK/pgbr-log" \
    lock-path="$WORK/pgbr-lock" spool-path="$WORK/pgbr-spool" log-level-console=warn log-level-file=info start-fast=y
  pg_start
  agent_start "$WORK/log/agent.log"
  sql "CREATE EXTENSION revrx"
  sql "CREATE DATABASE pgbench"
  local t0; t0=$(now)
  aspg pgbench -i -q -s "$SCALE" pgbench >"$WORK/log/pgbench-init.log" 2>&1
  sql "CHECKPOINT"
  log "pgbench db $(sql "SELECT pg_size_pretty(pg_database_size('pgbench'))") made in $(sub "$t0" "$(now)") s"
  aspg pgbackrest --config="$PGBR_CONF" --stanza="$STANZA" stanza-create >"$WORK/log/stanza-create.log" 2>&1
}

use_revrx_archiving() {
  sql "ALTER SYSTEM RESET archive_library"; sql "ALTER SYSTEM RESET archive_command"
  sql "SELECT pg_reload_conf()" >/dev/null
  [[ -n $AGENT_PID ]] || agent_start "$WORK/log/agent.log"
  sleep 0.5; wait_archived 600 drained
}
use_pgbr_archiving() {
  wait_archived 600 drained
  agent_stop
  sql "ALTER SYSTEM SET archive_library = ''"
  sql "ALTER SYSTEM SET archive_command = 'pgbackrest --config=$PGBR_CONF --stanza=$STANZA --compress-type=zst --compress-level=3 archive-push %p'"
  sql "SELECT pg_reload_conf()" >/dev/null
  sleep 0.5; wait_archived 600 drained
}

# ---------------------------------------------------------------- tests
PAYLOAD=0
record() { # round test seconds stored_bytes host_busy extra
  local mbps; mbps=$(div "$PAYLOAD" "$(awk -v s="$3" 'BEGIN{print s*1e6}')" 0)
  echo "$1,$2,$3,$4,$mbps,$5,$6" >> "$OUT/raw.csv"
  log "  $2 round $1: $3 s, stored $(mb "$4") MB, $mbps MB/s, host busy $5 core-s ${6:+($6)}"
}
logts() { # ms epoch of the first server-log line matching $1
  local l; l=$(grep -m1 -- "$1" "$PGLOG" | awk '{print $1" "$2" "$3}') || true
  [[ -n $l ]] && date -d "$l" +%s.%N || echo NA
}

t_revrx_backup() { # round [test name]
  local r=$1 name=${2:-revrx-backup} id out extra ob sb
  sql "CHECKPOINT"
  timed sql "SELECT revrx_backup_now('bench', wait => true)" > "$WORK/id.txt"
  id=$(tail -1 "$WORK/id.txt")
  RVX_ID=$id
  out=$(dsize "$RVX_REPO/backup/$id")
  read -r ob sb <<<"$(sql "SELECT original_bytes || ' ' || stored_bytes FROM revrx_backups() WHERE id = '$id'" | tr -d '\n')" || true
  # phases from the server log: requested -> started (checkpoint) -> exported -> complete
  local tq ts te tc
  tq=$(logts "revrx backup $id requested"); ts=$(logts "revrx backup $id started at")
  te=$(logts "revrx backup $id exported"); tc=$(logts "revrx backup $id is complete")
  extra="id=$id;original_bytes=${ob:-NA};catalog_stored_bytes=${sb:-NA}"
  [[ $tq != NA && $ts != NA ]] && extra+=";log_request_to_start_s=$(sub "$tq" "$ts")"
  [[ $ts != NA && $te != NA ]] && extra+=";log_start_to_exported_s=$(sub "$ts" "$te")"
  [[ $te != NA && $tc != NA ]] && extra+=";log_exported_to_complete_s=$(sub "$te" "$tc")"
  extra+=";threads=$(grep -A1 -- "revrx backup $id exported" "$PGLOG" | sed -n 's/.*(zstd, \([0-9]*\) compression threads).*/\1/p')"
  record "$r" "$name" "$T" "$out" "$HB" "$extra"
  { echo "== round $r backup $id"; grep -A1 -- "revrx backup $id" "$PGLOG"; } >> "$OUT/revrx-phases.txt"
  grep -A1 -- "revrx backup $id exported" "$PGLOG" | sed 's/^/    /' >&2 || true
  # the fingerprints follow the backup in a worker of their own: wait (untimed)
  # so that they do not run under the next measurement, and say how long they took
  local f0; f0=$(now)
  for _ in $(seq 1 3000); do compgen -G "$RVX_REPO/backup/$id/fingerprints.json*" >/dev/null && break; sleep 0.1; done
  log "  fingerprints of backup $id stored $(sub "$f0" "$(now)") s after the backup completed"
}
t_revrx_parent() { # the full backup the incremental builds on (untimed)
  sql "SELECT revrx_backup_now('bench parent', wait => true)" > "$WORK/parent.txt"
  RVX_PARENT=$(tail -1 "$WORK/parent.txt")
  for _ in $(seq 1 3000); do compgen -G "$RVX_REPO/backup/$RVX_PARENT/fingerprints.json*" >/dev/null && break; sleep 0.1; done
}
# Main-fork pages changed in WAL from $1 to $2 (LSNs): "CHANGED HINT_ONLY",
# CHANGED by any record but a hint-bit full-page image, HINT_ONLY by those alone.
wal_pages() {
  aspg "$PGBIN/pg_waldump" -p "$PGDATA/pg_wal" -s "$1" -e "$2" 2>/dev/null | awk '
    { hint = /FPI_FOR_HINT/
      n = split($0, parts, "blkref #")
      for (i = 2; i <= n; i++)
        if (match(parts[i], /rel [0-9]+\/[0-9]+\/[0-9]+ (fork [a-z_]+ )?blk [0-9]+/)) {
          ref = substr(parts[i], RSTART, RLENGTH)
          if (ref ~ / fork / && ref !~ / fork main /) continue
          sub(/ fork main/, "", ref)
          if (hint) hinted[ref] = 1; else changed[ref] = 1
        } }
    END { c = 0; h = 0
      for (k in changed) c++
      for (k in hinted) if (!(k in changed)) h++
      print c, h }'
}
revrx_incr() { # round test: a revrx incremental (timed), its pages against WAL's; sets id
  local r=$1 test=$2 pages wal parent
  timed sql "SELECT revrx_backup_now('bench $test', wait => true, incremental => true)" > "$WORK/incr.txt"
  id=$(tail -1 "$WORK/incr.txt")
  parent=$(sql "SELECT parent FROM revrx_backups() WHERE id = '$id'")
  pages=$(grep -m1 -- "revrx backup $id exported" "$PGLOG" | sed -n 's/.* relation files as \([0-9]*\) changed pages.*/\1/p')
  read -r -a wal <<<"$(wal_pages "$(sql "SELECT start_lsn FROM revrx_backups() WHERE id = '$parent'")" \
    "$(sql "SELECT start_lsn FROM revrx_backups() WHERE id = '$id'")")"
  record "$r" "$test" "$T" "$(dsize "$RVX_REPO/backup/$id")" "$HB" \
    "id=$id;kind=$(sql "SELECT kind FROM revrx_backups() WHERE id = '$id'");parent=$parent;pages=${pages:-NA};wal_pages=${wal[0]:-NA};hint_only_pages=${wal[1]:-NA}"
}
t_incr() { # round: the same change, each tool's incremental and its restore
  local r=$1 id label
  aspg pgbench -n -c 4 -j 2 -T "$INCR_LOAD_S" pgbench >>"$WORK/log/pgbench-incr.log" 2>&1
  sql "CHECKPOINT"
  timed aspg pgbackrest --config="$PGBR_CONF" --stanza="$STANZA" --type=incr --compress-type=zst \
    --compress-level=3 --process-max="$PGBR_PM" backup
  label=$(cd "$PGBR_REPO/backup/$STANZA" && ls -d ????????-??????F_????????-??????I | sort | tail -1)
  record "$r" pgbr-incr "$T" "$(dsize "$PGBR_REPO/backup/$STANZA/$label")" "$HB" "label=$label"
  use_revrx_archiving
  sql "CHECKPOINT"
  revrx_incr "$r" revrx-incr
  for _ in $(seq 1 3000); do compgen -G "$RVX_REPO/backup/$id/fingerprints.json*" >/dev/null && break; sleep 0.1; done
  # the chain restores take turns at going first, round by round: whichever
  # restore comes first after the load and the backups is the slowest
  # (bench/backup-restore.md, "Chain restore in one pass")
  local steps=(chain_revrx) k
  [[ -n $ALT_AGENT ]] && steps+=(chain_alt)
  steps+=(chain_pgbr)
  for ((k = 0; k < ${#steps[@]}; k++)); do
    autovacuum_idle
    "${steps[$(( (k + r - 1) % ${#steps[@]} ))]}" "$r" "$id" "$label"
  done
  # the same load again and an incremental on that incremental: the pages the
  # fingerprint scan after the first one hinted show up here (SETTLE=off)
  aspg pgbench -n -c 4 -j 2 -T "$INCR_LOAD_S" pgbench >>"$WORK/log/pgbench-incr.log" 2>&1
  sql "CHECKPOINT"
  revrx_incr "$r" revrx-incr2
  for _ in $(seq 1 3000); do compgen -G "$RVX_REPO/backup/$id/fingerprints.json*" >/dev/null && break; sleep 0.1; done
}
drill_report() { # round test report.json: records the drill's measured recovery time
  local r=$1 name=$2 rep=$3 line
  line=$(python3 - "$rep" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ph = d.get("phases", {})
sec = lambda k: ph.get(k, {}).get("seconds", 0)
failed = [c["name"] for c in d.get("checks", []) if not c.get("passed")]
print("%.3f %d passed=%s;restore_s=%.2f;recovery_s=%.2f;checks_s=%.2f;drill_s=%.2f;wal_replayed_mb=%.1f;replay_mb_per_s=%.1f;failed=%s" % (
    d.get("total_seconds", 0), d.get("bytes_restored", 0), d.get("passed"), sec("restore"),
    sec("recovery"), sec("checks"), d.get("drill_seconds", 0),
    d.get("wal_replayed_bytes", 0) / 1e6, d.get("replay_mb_per_s", 0), "+".join(failed) or "none"))
PY
)
  local secs bytes extra; read -r secs bytes extra <<<"$line"
  record "$r" "$name" "$secs" "$bytes" "NA" "$extra"
}
t_revrx_drill() { # round
  local r=$1 rep=$WORK/drill-$1.json
  rm -rf "$WORK/drill"
  agent_env REVRX_PG_BINDIR="$PGBIN" TMPDIR="$WORK" "$REVRX_AGENT" verify --backup "$RVX_ID" \
    --report "$rep" --scratch "$WORK/drill" >>"$WORK/log/revrx-drill.log" 2>&1 || log "  the drill FAILED (see revrx-drill.log)"
  [[ -f $rep ]] && { cp "$rep" "$OUT/"; drill_report "$r" revrx-drill "$rep"; }
  return 0
}
t_revrx_pitr_drill() { # round: the WAL of PITR_LOAD_S s of pgbench, replayed
  local r=$1 rep=$WORK/pitr-$1.json target
  aspg pgbench -n -c 4 -j 2 -T "$PITR_LOAD_S" pgbench >>"$WORK/log/pgbench-pitr.log" 2>&1
  target=$(sql "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
  # recovery to a time stops at the first commit after it: there must be one
  sql "CREATE TABLE IF NOT EXISTS bench_tick(t timestamptz); INSERT INTO bench_tick VALUES (clock_timestamp())"
  wait_archived 600 drained
  rm -rf "$WORK/drill"
  agent_env REVRX_PG_BINDIR="$PGBIN" TMPDIR="$WORK" "$REVRX_AGENT" verify --backup "$RVX_ID" \
    --target-time "$target" --report "$rep" --scratch "$WORK/drill" >>"$WORK/log/revrx-drill.log" 2>&1 ||
    log "  the PITR drill FAILED (see revrx-drill.log)"
  [[ -f $rep ]] && { cp "$rep" "$OUT/"; drill_report "$r" revrx-pitr-drill "$rep"; }
  return 0
}
t_revrx_restore() {
  local r=$1 dst=$WORK/restore-revrx
  rm -rf "$dst"
  timed agent_env "$REVRX_AGENT" restore --pgdata "$dst" --backup "$RVX_ID" >>"$WORK/log/revrx-restore.log" 2>&1
  record "$r" revrx-restore "$T" "$(payload_bytes "$dst")" "$HB" "restored_payload_bytes"
  # correctness check, untimed: the restored directory against its manifest
  if aspg "$PGBIN/pg_verifybackup" -n -q "$dst" >>"$WORK/log/verify.log" 2>&1; then log "  pg_verifybackup -n of the revrx restore: OK"
  else log "  pg_verifybackup -n of the revrx restore FAILED: $(tail -2 "$WORK/log/verify.log")"; fi
  [[ $DELTA == 1 ]] && t_revrx_delta "$r" "$dst"
  rm -rf "$dst"
}
autovacuum_idle() { # waits (untimed, at most 120 s) until no autovacuum worker runs
  # after INCR_LOAD_S s of pgbench, autovacuum vacuums the pgbench tables
  # while the next tests run: reading, writing and WAL on the same disks
  local waited=0
  while (( waited < 1200 )) &&
    [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'") != 0 ]]; do
    sleep 0.1; waited=$((waited + 1))
  done
  (( waited > 0 )) && log "  waited $((waited / 10)).$((waited % 10)) s for autovacuum to finish"
  return 0
}
chain_revrx() { # round id label: revrx's restore of the incremental's chain
  local dst=$WORK/restore-revrx
  rm -rf "$dst"
  timed agent_env "$REVRX_AGENT" restore --pgdata "$dst" --backup "$2" >>"$WORK/log/revrx-restore.log" 2>&1
  record "$1" revrx-incr-restore "$T" "$(payload_bytes "$dst")" "$HB" "restored_payload_bytes"
  if aspg "$PGBIN/pg_verifybackup" -n -q "$dst" >>"$WORK/log/verify.log" 2>&1; then log "  pg_verifybackup -n of the rebuilt chain: OK"
  else log "  pg_verifybackup -n of the rebuilt chain FAILED: $(tail -2 "$WORK/log/verify.log")"; fi
  rm -rf "$dst"
}
chain_alt() { # round id label: the same chain restore by ALT_AGENT
  local alt_rc=0 dst=$WORK/restore-revrx
  rm -rf "$dst"
  timed agent_env "$ALT_AGENT" restore --pgdata "$dst" --backup "$2" >>"$WORK/log/revrx-restore.log" 2>&1 || alt_rc=$?
  [[ $alt_rc == 0 ]] || log "  the ALT_AGENT restore FAILED (exit $alt_rc)"
  record "$1" revrx-incr-restore-alt "$T" "$(payload_bytes "$dst")" "$HB" "agent=$ALT_AGENT;exit=$alt_rc"
  rm -rf "$dst"
}
chain_pgbr() { # round id label: pgBackRest's restore of its incremental's chain
  local dst=$WORK/restore-pgbr
  rm -rf "$dst"; install -d -o postgres -g postgres -m 700 "$dst"
  timed aspg pgbackrest --config="$PGBR_CONF" --stanza="$STANZA" --pg1-path="$dst" \
    --set="$3" --process-max="$PGBR_PM" restore
  record "$1" pgbr-incr-restore "$T" "$(payload_bytes "$dst")" "$HB" "restored_payload_bytes"
  rm -rf "$dst"
}
copy_sql() { aspg psql -X -qAt -v ON_ERROR_STOP=1 -p "$((PORT + 1))" -d pgbench -c "$1"; }
t_revrx_delta() { # round dir: the restored copy runs, one table changes, then restore --delta onto it
  # with ALT_AGENT, the same again by that build (the copy run and changed
  # again first), the two taking turns at going first
  local r=$1 dst=$2
  if [[ -n $ALT_AGENT ]] && (( r % 2 == 0 )); then
    delta_once "$r" "$dst" "$ALT_AGENT" revrx-delta-restore-alt
  fi
  delta_once "$r" "$dst" "$REVRX_AGENT" revrx-delta-restore
  if [[ -n $ALT_AGENT ]] && (( r % 2 == 1 )); then
    delta_once "$r" "$dst" "$ALT_AGENT" revrx-delta-restore-alt
  fi
}
delta_once() { # round dir agent name
  local r=$1 dst=$2 agent=$3 name=$4 report
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dst" -l "$WORK/log/delta-copy.log" -w -t 300 \
    -o "-p $((PORT + 1)) -c unix_socket_directories=$SOCK -c listen_addresses=''" start >/dev/null
  for _ in $(seq 1 600); do [[ $(copy_sql "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] && break; sleep 0.5; done
  copy_sql "$DELTA_SQL"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dst" -m fast -w -t 120 stop >/dev/null
  timed agent_env "$agent" restore --pgdata "$dst" --delta --backup "$RVX_ID" >"$WORK/delta.out" 2>>"$WORK/log/revrx-restore.log"
  report=$(grep -m1 '^delta restore' "$WORK/delta.out" | sed -E 's/.*: kept ([0-9]+) files \(([0-9]+) bytes\), rewrote ([0-9]+) files \(([0-9]+) bytes\), removed ([0-9]+) files and directories \(([0-9]+) bytes\).*/kept=\1;kept_bytes=\2;rewritten=\3;rewritten_bytes=\4;removed=\5;removed_bytes=\6/')
  record "$r" "$name" "$T" "$(payload_bytes "$dst")" "$HB" "$report"
  grep -h -- '--delta: ".*" read in' "$WORK/log/revrx-restore.log" | tail -1 | sed 's/^/    /' >&2 || true
  if aspg "$PGBIN/pg_verifybackup" -n -q "$dst" >>"$WORK/log/verify.log" 2>&1; then log "  pg_verifybackup -n of the delta restore ($name): OK"
  else log "  pg_verifybackup -n of the delta restore ($name) FAILED: $(tail -2 "$WORK/log/verify.log")"; fi
}
t_bb() { # round name args...
  local r=$1 name=$2 dst=$WORK/bb; shift 2
  rm -rf "$dst"
  sql "CHECKPOINT"
  timed aspg pg_basebackup -D "$dst" -X stream -c fast --no-password "$@"
  record "$r" "$name" "$T" "$(dsize "$dst")" "$HB" ""
  rm -rf "$dst"
}
t_pgbr_backup() {
  local r=$1 label
  sql "CHECKPOINT"
  timed aspg pgbackrest --config="$PGBR_CONF" --stanza="$STANZA" --type=full --compress-type=zst \
    --compress-level=3 --process-max="$PGBR_PM" backup
  label=$(cd "$PGBR_REPO/backup/$STANZA" && ls -d ????????-??????F | sort | tail -1)
  PGBR_LABEL=$label
  record "$r" pgbr-backup "$T" "$(dsize "$PGBR_REPO/backup/$STANZA/$label")" "$HB" "label=$label"
}
t_pgbr_restore() {
  local r=$1 dst=$WORK/restore-pgbr
  rm -rf "$dst"; install -d -o postgres -g postgres -m 700 "$dst"
  timed aspg pgbackrest --config="$PGBR_CONF" --stanza="$STANZA" --pg1-path="$dst" \
    --set="$PGBR_LABEL" --process-max="$PGBR_PM" restore
  record "$r" pgbr-restore "$T" "$(payload_bytes "$dst")" "$HB" "restored_payload_bytes"
  rm -rf "$dst"
}

# ---- recovery time (RTO): restore to a target and replay until promoted
rto_load() { # sets RTO_TARGET (a time at the end of the load), RTO_ROWS, RTO_WAL (bytes)
  local l0
  l0=$(sql "SELECT pg_current_wal_lsn()")
  if [[ -n $RTO_LOAD_TX ]]; then
    aspg pgbench -n -c 4 -j 2 -t "$((RTO_LOAD_TX / 4))" pgbench >>"$WORK/log/pgbench-rto.log" 2>&1
  else
    aspg pgbench -n -c 4 -j 2 -T "$RTO_LOAD_S" pgbench >>"$WORK/log/pgbench-rto.log" 2>&1
  fi
  RTO_ROWS=$(sql "SELECT count(*) FROM pgbench_history" pgbench)
  RTO_TARGET=$(sql "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')")
  RTO_WAL=$(sql "SELECT pg_current_wal_lsn() - '$l0'::pg_lsn")
  # recovery to a time stops at the first commit after it: there must be one
  sql "CREATE TABLE IF NOT EXISTS bench_tick(t timestamptz); INSERT INTO bench_tick VALUES (clock_timestamp())"
  wait_archived 600 drained
}
rto_up() { # dir: start the restored copy, return once it is promoted
  local d=$1
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" -l "$WORK/log/rto-copy.log" -W \
    -o "-p $((PORT + 1)) -c unix_socket_directories=$SOCK -c listen_addresses='' -c archive_mode=off" start >/dev/null
  for _ in $(seq 1 12000); do
    [[ $(copy_sql "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] && return 0
    if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" status >/dev/null 2>&1; then
      log "  the copy in $d stopped before it was promoted: $(grep -E 'FATAL|ERROR' "$WORK/log/rto-copy.log" | tail -3)"
      return 1
    fi
    sleep 0.05
  done
  log "  the copy in $d was not promoted within 600 s: $(tail -3 "$WORK/log/rto-copy.log")"
  return 1
}
# (a failed recovery is logged and its round's row says so; the run goes on)
rto_revrx() { # dir backup-id [agent binary: its restore_command runs the same one]
  agent_env "${3:-$REVRX_AGENT}" restore --pgdata "$1" --backup "$2" --target-time "$RTO_TARGET" \
    >>"$WORK/log/revrx-restore.log" 2>&1 && rto_up "$1" || { log "  revrx recovery FAILED"; RTO_FAILED=1; }
}
rto_pgbr() { # dir label
  aspg pgbackrest --config="$PGBR_CONF" --stanza="$STANZA" --pg1-path="$1" --set="$2" \
    --process-max="$PGBR_PM" --type=time --target="$RTO_TARGET" --target-action=promote \
    --recovery-option="restore_command=pgbackrest --config=$PGBR_CONF --stanza=$STANZA --pg1-path=$1 --archive-async --process-max=$PGBR_PM archive-get %f \"%p\"" \
    restore >>"$WORK/log/pgbr-restore.log" 2>&1 && rto_up "$1" || { log "  pgBackRest recovery FAILED"; RTO_FAILED=1; }
}
rto_record() { # round test: the timed recovery in $WORK/rto, then its rows checked and the copy removed
  local rows
  rows=$(copy_sql "SELECT count(*) FROM pgbench_history" 2>/dev/null || echo NA)
  [[ $rows == "$RTO_ROWS" ]] || log "  $2: the copy has $rows rows of pgbench_history, the primary had $RTO_ROWS at the target"
  record "$1" "$2" "$T" "$(payload_bytes "$WORK/rto")" "$HB" "wal_replayed_bytes=$RTO_WAL;history_rows=$rows;expected_rows=$RTO_ROWS;failed=${RTO_FAILED:-0}"
  RTO_FAILED=0
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/rto" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK/rto"
}
t_rto() { # round: each tool's backup, the same load archived by it, the recovery timed
  local r=$1 id label
  use_revrx_archiving
  sql "CHECKPOINT"
  sql "SELECT revrx_backup_now('bench rto', wait => true)" > "$WORK/rto-id.txt"
  id=$(tail -1 "$WORK/rto-id.txt")
  for _ in $(seq 1 3000); do compgen -G "$RVX_REPO/backup/$id/fingerprints.json*" >/dev/null && break; sleep 0.1; done
  rto_load
  rm -rf "$WORK/rto"
  # the incident: the primary is gone while the copy recovers (its checkpoints and
  # vacuums made whichever recovery came first after the load 1.4-1.6x slower)
  pg_stop
  # with ALT_AGENT, the two builds take turns at going first (the second finds the
  # repository's WAL in the page cache)
  if [[ -n $ALT_AGENT ]] && (( r % 2 == 0 )); then
    timed rto_revrx "$WORK/rto" "$id" "$ALT_AGENT"
    rto_record "$r" revrx-rto-alt
  fi
  timed rto_revrx "$WORK/rto" "$id"
  rto_record "$r" revrx-rto
  if [[ -n $ALT_AGENT ]] && (( r % 2 == 1 )); then
    timed rto_revrx "$WORK/rto" "$id" "$ALT_AGENT"
    rto_record "$r" revrx-rto-alt
  fi
  pg_start
  use_pgbr_archiving
  sql "CHECKPOINT"
  aspg pgbackrest --config="$PGBR_CONF" --stanza="$STANZA" --type=full --compress-type=zst \
    --compress-level=3 --process-max="$PGBR_PM" backup
  label=$(cd "$PGBR_REPO/backup/$STANZA" && ls -d ????????-??????F | sort | tail -1)
  rto_load
  rm -rf "$WORK/rto"; install -d -o postgres -g postgres -m 700 "$WORK/rto"
  pg_stop
  timed rto_pgbr "$WORK/rto" "$label"
  rto_record "$r" pgbr-rto
  pg_start
}

# ---------------------------------------------------------------- summary
summarize() {
  local f=$OUT/raw.csv
  {
    echo "# Full backup and restore: revrx vs pgBackRest vs pg_basebackup"
    echo
    echo "SCALE=$SCALE, RUNS=$RUNS, payload (data directory without pg_wal) $(mb "$PAYLOAD") MB; warm page cache."
    echo "Median over rounds (single value when RUNS=1). MB/s = payload / seconds. 1 MB = 10^6 bytes."
    echo
    echo "| test | median s | min s | max s | MB/s | stored MB | compression ratio | host busy core-s |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F, -v P="$PAYLOAD" 'NR>1{n[$2]++; t[$2, n[$2]]=$3; s[$2, n[$2]]=$4; h[$2, n[$2]]=$6; if(!($2 in o)){o[$2]=++k; name[k]=$2}}
      function med(a, key, c,   i, j, v, x) { for (i=1;i<=c;i++) v[i]=a[key, i]; for (i=1;i<=c;i++) for (j=i+1;j<=c;j++) if (v[j]+0 < v[i]+0) { x=v[i]; v[i]=v[j]; v[j]=x }
        return (c % 2) ? v[(c+1)/2] : (v[c/2]+v[c/2+1])/2 }
      function mn(a, key, c,   i, m) { m=a[key,1]; for (i=2;i<=c;i++) if (a[key,i]+0 < m+0) m=a[key,i]; return m }
      function mx(a, key, c,   i, m) { m=a[key,1]; for (i=2;i<=c;i++) if (a[key,i]+0 > m+0) m=a[key,i]; return m }
      END{ for (i=1;i<=k;i++) { x=name[i]; c=n[x]; m=med(t, x, c); sz=med(s, x, c); restore = (x ~ /restore|rto/)
        printf "| %s | %.2f | %.2f | %.2f | %.0f | %s | %s | %s |\n", x, m, mn(t,x,c), mx(t,x,c), P/1e6/m,
          restore ? "(restored " sprintf("%.1f", sz/1e6) ")" : sprintf("%.1f", sz/1e6),
          restore ? "" : sprintf("%.2f", P/sz), med(h, x, c) } }' "$f"
    echo
    echo "Ratios (same-round time and stored-size ratios, medians over rounds; < 1 = revrx faster or smaller):"
    echo
    awk -F, 'NR>1{t[$1, $2]=$3; s[$1, $2]=$4; r[$1]=1}
      function median(a, c,   i, j, y) { for (i=1;i<=c;i++) for (j=i+1;j<=c;j++) if (a[j] < a[i]) { y=a[i]; a[i]=a[j]; a[j]=y }
        return (c % 2) ? a[(c+1)/2] : (a[c/2]+a[c/2+1])/2 }
      END{ split("revrx-backup/pgbr-backup revrx-backup-alt/pgbr-backup revrx-backup/revrx-backup-alt revrx-backup/bb-tar-zstd1 revrx-backup/bb-plain revrx-restore/pgbr-restore revrx-drill/pgbr-restore revrx-incr/pgbr-incr revrx-incr-restore/pgbr-incr-restore revrx-incr-restore-alt/pgbr-incr-restore revrx-incr-restore/revrx-incr-restore-alt revrx-delta-restore/revrx-restore revrx-delta-restore-alt/revrx-restore revrx-delta-restore/revrx-delta-restore-alt revrx-delta-restore/pgbr-restore revrx-rto/pgbr-rto revrx-rto-alt/pgbr-rto revrx-rto/revrx-rto-alt", pairs, " ")
        for (p=1; p in pairs; p++) { split(pairs[p], ab, "/"); c=0; cs=0
          for (x in r) {
            if (t[x, ab[1]] > 0 && t[x, ab[2]] > 0) v[++c]=t[x, ab[1]]/t[x, ab[2]]
            if (s[x, ab[1]] > 0 && s[x, ab[2]] > 0) w[++cs]=s[x, ab[1]]/s[x, ab[2]] }
          line = sprintf("* time %s: %s", pairs[p], c ? sprintf("%.2f", median(v, c)) : "NA")
          if (pairs[p] !~ /restore|drill|rto/ && cs) line = line sprintf("; stored size: %.2f", median(w, cs))
          print line; delete v; delete w } }' "$f"
    echo
    echo "Delta restores (revrx-agent restore --delta onto the restored copy after DELTA_SQL):"
    echo
    awk -F, 'NR>1 && $2 == "revrx-delta-restore" {printf "* round %s: %s s; %s\n", $1, $3, $7}' "$f"
    echo
    echo "Restore drills (revrx-agent verify; seconds = measured recovery time, restore + WAL replay;"
    echo "the checks come after it):"
    echo
    awk -F, 'NR>1 && $2 ~ /drill/ {printf "* round %s %s: %s s; %s\n", $1, $2, $3, $7}' "$f"
    echo
    echo "revrx phases (server log; the DETAIL line is the exporter's own breakdown):"
    echo
    echo '```'
    grep -E 'requested|started at|exported|DETAIL|is complete|checkpoint (starting|complete)' "$OUT/revrx-phases.txt" 2>/dev/null | cut -c1-400
    echo '```'
    echo
    echo "Raw: raw.csv (round,test,seconds,stored_bytes,MBps,host_busy_core_s,extra)."
  } > "$OUT/summary.md"
}

# ---------------------------------------------------------------- main
preflight
pg_stop || true
rm -rf "$WORK"
mkdir -p "$WORK/log" "$SOCK" "$SPOOL" "$RVX_REPO" "$PGBR_REPO" "$WORK/pgbr-log" "$WORK/pgbr-lock" "$WORK/pgbr-spool"
chown -R postgres:postgres "$WORK"; chmod 700 "$SOCK" "$SPOOL"
mkdir -p "$OUT"
echo "round,test,seconds,stored_bytes,MBps,host_busy_core_s,extra" > "$OUT/raw.csv"
bench_traps
memory_keep
write_env
make_cluster
PAYLOAD=$(payload_bytes "$PGDATA")
log "payload (data directory without pg_wal): $(mb "$PAYLOAD") MB; with pg_wal $(mb "$(dsize "$PGDATA")") MB"
echo "payload_bytes: $PAYLOAD" >> "$OUT/env.txt"

for ((r = 1; r <= RUNS; r++)); do
  log "== round $r (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
  use_revrx_archiving
  t_revrx_backup "$r"
  if [[ -n $ALT_WORKERS ]]; then
    saved_id=$RVX_ID
    sql "ALTER SYSTEM SET revrx.backup_compress_workers = $ALT_WORKERS"; sql "SELECT pg_reload_conf()" >/dev/null; sleep 0.5
    t_revrx_backup "$r" revrx-backup-alt
    sql "ALTER SYSTEM RESET revrx.backup_compress_workers"; sql "SELECT pg_reload_conf()" >/dev/null; sleep 0.5
    RVX_ID=$saved_id
  fi
  t_revrx_restore "$r"
  if [[ $DRILL == 1 ]]; then
    t_revrx_drill "$r"
    t_revrx_pitr_drill "$r"
  fi
  t_bb "$r" bb-tar-zstd1 -Ft --compress=client-zstd:1
  t_bb "$r" bb-plain -Fp
  [[ $INCR == 1 ]] && t_revrx_parent
  use_pgbr_archiving
  t_pgbr_backup "$r"
  t_pgbr_restore "$r"
  [[ $INCR == 1 ]] && t_incr "$r"
  [[ $RTO == 1 ]] && t_rto "$r"
done
echo "loadavg at end: $(cat /proc/loadavg)" >> "$OUT/env.txt"
summarize
cat "$OUT/summary.md"
