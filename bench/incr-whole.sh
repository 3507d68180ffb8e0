#!/usr/bin/env bash
# incr-whole.sh - what storing mostly changed relation files whole does to
# incremental backups and the restore of their chains: an OLD build of revrx
# (every relation file the parent has is a delta) against a NEW one (more
# than half its pages changed: whole; common/delta.h), beside pgBackRest,
# on one machine, in one run (docs/incremental.md, "Files stored whole").
#
# Usage (as root; PostgreSQL runs as `postgres`):
#   OLD_PGBIN=/opt/x/usr/lib/postgresql/15/bin NEW_PGBIN=/opt/y/usr/lib/postgresql/15/bin bench/incr-whole.sh
# Each *_PGBIN is a PostgreSQL 15 bin directory whose pkglibdir has that
# build's revrx.so and which holds that build's revrx-agent (make install
# with PG_CONFIG pointing into a private copy of the installation).
#
# Part 1, fractions (PARTS has "fractions"): the cost of a delta against the
# whole file.  A cluster with one table of TABLE_MB MB without indexes,
# fillfactor 50 (so an update stays on its page).  For each fraction f in
# FRACTIONS and each build, in turn: a full backup (untimed), one row
# updated on every chosen page (page number mod 100 < f*100), an
# incremental (stored bytes), then, timed, the restore of the chain
# full+incremental and the restore of the full backup alone (the table
# whole).  With OLD the table is a delta of f of its pages; with NEW it is
# whole for f > 1/2.
#
# Part 2, pgbench (PARTS has "pgbench"): a template cluster (pgbench -i -s
# SCALE) is copied afresh for each mode (old, new, pgbr) of each round
# (order rotating); each takes a full backup (untimed), runs the same
# pgbench transactions (-c 4 -j 2 -t TX, fixed --random-seed), then,
# timed, an incremental and the restore of its chain (revrx-agent restore;
# pgbackrest backup --type=incr, zst 3, process-max 2, and pgbackrest
# restore --process-max=2).  pg_verifybackup -n after every revrx restore.
#
# Knobs [defaults]: PARTS ["fractions pgbench"], TABLE_MB [512],
# FRACTIONS ["0.25 0.5 0.75 1.0"], ROUNDS [2] (part 1), SCALE [100],
# TX [3000] (per client), RUNS [2] (part 2), WORK [/tmp/revrx-incrwhole],
# PORT [55437], OUT [bench/results/incr-whole-<timestamp>], REVRX_PARALLEL [4].
# Results: $OUT/{raw.csv,summary.md,env.txt,run.log}.  Reads come from a warm
# page cache.  The machine may be shared: env.txt and run.log record the
# load average.  Not part of `make test`.
set -Eeuo pipefail

PARTS=${PARTS:-fractions pgbench}
TABLE_MB=${TABLE_MB:-512}
FRACTIONS=${FRACTIONS:-0.25 0.5 0.75 1.0}
ROUNDS=${ROUNDS:-2}
SCALE=${SCALE:-100}
TX=${TX:-3000}
RUNS=${RUNS:-2}
WORK=${WORK:-/tmp/revrx-incrwhole}
PORT=${PORT:-55437}
REVRX_PARALLEL=${REVRX_PARALLEL:-4}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE/results/incr-whole-$(date +%Y%m%d-%H%M%S)}
: "${OLD_PGBIN:?set OLD_PGBIN}" "${NEW_PGBIN:?set NEW_PGBIN}"
SOCK=$WORK/sock
PGDATA=$WORK/data
SPOOL=$WORK/spool
REPO=$WORK/repo
PGBR_CONF=$WORK/pgbackrest.conf
PGLOG=$WORK/log/postgres.log

PGBIN=$NEW_PGBIN
REVRX_AGENT=$PGBIN/revrx-agent
REVRX_REPO_URL=file://$REPO
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_init /tmp /var/tmp

bin_of() { case $1 in old) echo "$OLD_PGBIN";; *) echo "$NEW_PGBIN";; esac; }
use_build() { # old|new: the PostgreSQL bin directory, revrx.so and revrx-agent of that build
  PGBIN=$(bin_of "$1")
  REVRX_AGENT=$PGBIN/revrx-agent
}
bench_after_stop() { # (bench_exit) the logs
  [[ -d $WORK ]] && cp "$PGLOG" "$WORK"/log/*.log "$OUT/" 2>/dev/null
}

conf() { # archiving (revrx | pgbr), fingerprinted database
  pg_conf "$PGDATA"
  cat >> "$PGDATA/postgresql.conf" <<EOF
shared_preload_libraries = 'revrx'
archive_mode = on
revrx.spool_dir = '$SPOOL'
revrx.fingerprint_database = '${2:-postgres}'
EOF
  if [[ $1 == pgbr ]]; then
    echo "archive_command = 'pgbackrest --config=$PGBR_CONF --stanza=bench --compress-type=zst --compress-level=3 archive-push %p'" >> "$PGDATA/postgresql.conf"
  else
    echo "archive_library = 'revrx'" >> "$PGDATA/postgresql.conf"
  fi
}
fresh_repos() {
  rm -rf "$SPOOL" "$REPO" "$WORK/pgbr-repo" "$WORK/pgbr-spool"
  install -d -o postgres -g postgres -m 700 "$SPOOL" "$REPO" "$WORK/pgbr-repo"
  pgbr_conf "$PGBR_CONF" repo1-path="$WORK/pgbr-repo" repo1-retention-full=1000 log-path="$WORK/log" \
    lock-path="$WORK/pgbr-lock" spool-path="$WORK/pgbr-spool" log-level-console=warn start-fast=y
}
record() { echo "$*" | tr ' ' ',' >> "$OUT/raw.csv"; log "  $*"; }
revrx_backup() { # incremental?: prints the id
  sql "CHECKPOINT"
  sql "SELECT revrx_backup_now('bench', wait => true, incremental => $1)" | tail -1
}
wait_fingerprints() { # after a backup the fingerprint worker runs: not under a measurement
  for _ in $(seq 1 600); do compgen -G "$REPO/backup/$1/fingerprints.json*" >/dev/null && return 0; sleep 0.1; done
}
revrx_restore() { # id: sets T
  local dst=$WORK/restored
  rm -rf "$dst"
  timed agent_env "$REVRX_AGENT" restore --pgdata "$dst" --backup "$1" >>"$WORK/log/restore.log" 2>&1
  aspg pg_verifybackup -n -q "$dst" >>"$WORK/log/verify.log" 2>&1 || log "  pg_verifybackup FAILED for $1"
  rm -rf "$dst"
}
whole_of() { # id path: "whole" or "delta" for that file in backup.json (uncompressed JSON after the 72-byte header, or zstd)
  local f; f=$(ls "$REPO/backup/$1"/backup.json* | head -1)
  python3 - "$f" "$2" <<'PY'
import json, subprocess, sys
raw = open(sys.argv[1], 'rb').read()[72:]
if sys.argv[1].endswith('.zst'):
    raw = subprocess.run(['zstd', '-dc'], input=raw, capture_output=True, check=True).stdout
rec = json.loads(raw)
e = [f for f in rec['files'] if f['path'] == sys.argv[2]]
print('delta' if e and e[0].get('delta') else 'whole')
PY
}

# ---------------------------------------------------------------- part 1
part_fractions() {
  local f mode r id_full id_incr path rel t_chain t_full stored
  log "== part 1: a table of $TABLE_MB MB, fractions $FRACTIONS, $ROUNDS round(s)"
  use_build new
  rm -rf "$PGDATA"; fresh_repos
  aspg "$PGBIN/initdb" -D "$PGDATA" --data-checksums --auth=trust -U postgres -E UTF8 --locale=C >"$WORK/log/initdb.log"
  conf revrx
  pg_start; agent_start "$WORK/log/agent.log"
  sql "CREATE EXTENSION revrx"
  sql "CREATE TABLE t (id int, v int, pad text) WITH (fillfactor = 50, autovacuum_enabled = off)"
  # random hex digits: zstd keeps about half of them (not the runs of one letter it erases)
  sql "INSERT INTO t SELECT g, 0, md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, $((TABLE_MB * 128 * 18))) g"
  sql "VACUUM t"
  rel=$(sql "SELECT pg_relation_filepath('t')")
  log "  table t: $(sql "SELECT pg_size_pretty(pg_relation_size('t'))"), $(sql "SELECT pg_relation_size('t') / 8192") pages ($rel)"
  for ((r = 1; r <= ROUNDS; r++)); do
    for f in $FRACTIONS; do
      for mode in old new; do
        agent_stop; pg_stop
        use_build "$mode"
        pg_start; agent_start "$WORK/log/agent.log"
        id_full=$(revrx_backup false); wait_fingerprints "$id_full"
        sql "UPDATE t SET v = v + 1 WHERE ctid IN (SELECT min(ctid) FROM t WHERE (ctid::text::point)[0]::int % 100 < $f * 100 GROUP BY (ctid::text::point)[0]::int)"
        id_incr=$(revrx_backup true); wait_fingerprints "$id_incr"
        stored=$(dsize "$REPO/backup/$id_incr/data/$rel"*)
        revrx_restore "$id_incr"; t_chain=$T
        revrx_restore "$id_full"; t_full=$T
        record fractions "$r" "$f" "$mode" "$(whole_of "$id_incr" "$rel")" "table_stored=$stored" \
          "chain_restore_s=$t_chain" "full_restore_s=$t_full" "incr_bytes=$(dsize "$REPO/backup/$id_incr")" \
          "load=$(cut -d' ' -f1 /proc/loadavg)"
      done
    done
  done
  agent_stop; pg_stop
}

# ---------------------------------------------------------------- part 2
part_pgbench() {
  local r mode modes i id_full id_incr label dst t_incr
  log "== part 2: pgbench scale $SCALE, $TX transactions per client, $RUNS round(s)"
  use_build new
  rm -rf "$WORK/template" "$PGDATA"
  aspg "$PGBIN/initdb" -D "$WORK/template" --data-checksums --auth=trust -U postgres -E UTF8 --locale=C >"$WORK/log/initdb.log"
  mv "$WORK/template" "$PGDATA"; conf none
  sed -i "s/^archive_mode = on/archive_mode = off/" "$PGDATA/postgresql.conf"
  pg_start
  sql "CREATE DATABASE pgbench"
  aspg pgbench -i -q -s "$SCALE" pgbench >"$WORK/log/pgbench-init.log" 2>&1
  sql "CHECKPOINT"; pg_stop
  mv "$PGDATA" "$WORK/template"
  modes=(old new pgbr)
  for ((r = 1; r <= RUNS; r++)); do
    for ((i = 0; i < 3; i++)); do
      mode=${modes[$(((i + r - 1) % 3))]}
      rm -rf "$PGDATA"; cp -a "$WORK/template" "$PGDATA"
      sed -i '/^# ---- bench\/incr-whole.sh/,$d' "$PGDATA/postgresql.conf"
      fresh_repos
      use_build "$mode"
      if [[ $mode == pgbr ]]; then
        conf pgbr pgbench; pg_start
        aspg pgbackrest --config="$PGBR_CONF" --stanza=bench stanza-create >>"$WORK/log/pgbr.log" 2>&1
        sql "CHECKPOINT"
        aspg pgbackrest --config="$PGBR_CONF" --stanza=bench --type=full --compress-type=zst --compress-level=3 --process-max=2 backup
      else
        conf revrx pgbench; pg_start; agent_start "$WORK/log/agent.log"
        sql "CREATE EXTENSION IF NOT EXISTS revrx"
        id_full=$(revrx_backup false); wait_fingerprints "$id_full"
      fi
      aspg pgbench -n -c 4 -j 2 -t "$TX" --random-seed=10 pgbench >>"$WORK/log/pgbench.log" 2>&1
      sql "CHECKPOINT"
      if [[ $mode == pgbr ]]; then
        timed aspg pgbackrest --config="$PGBR_CONF" --stanza=bench --type=incr --compress-type=zst --compress-level=3 --process-max=2 backup
        t_incr=$T
        label=$(cd "$WORK/pgbr-repo/backup/bench" && ls -d *I | tail -1)
        dst=$WORK/restored; rm -rf "$dst"; install -d -o postgres -g postgres -m 700 "$dst"
        timed aspg pgbackrest --config="$PGBR_CONF" --stanza=bench --pg1-path="$dst" --set="$label" --process-max=2 restore
        rm -rf "$dst"
        record pgbench "$r" "$mode" "incr_s=$t_incr" "incr_bytes=$(dsize "$WORK/pgbr-repo/backup/bench/$label")" \
          "chain_restore_s=$T" "load=$(cut -d' ' -f1 /proc/loadavg)"
      else
        timed revrx_backup true > "$WORK/incr.txt"
        t_incr=$T; id_incr=$(tail -1 "$WORK/incr.txt"); wait_fingerprints "$id_incr"
        revrx_restore "$id_incr"
        record pgbench "$r" "$mode" "incr_s=$t_incr" "incr_bytes=$(dsize "$REPO/backup/$id_incr")" \
          "chain_restore_s=$T" "load=$(cut -d' ' -f1 /proc/loadavg)" \
          "exported=\"$(grep -m1 -o "revrx backup $id_incr exported: .*" "$PGLOG" | sed 's/.*incremental to [^:]*: //' | tr ',' ';')\""
      fi
      agent_stop; pg_stop
    done
  done
}

mkdir -p "$OUT"
rm -rf "$WORK"; install -d -o postgres -g postgres -m 755 "$WORK" "$SOCK" "$WORK/log"
bench_traps
{
  echo "date: $(date -Is); host: $(uname -srm); cpus: $(nproc)"
  echo "OLD_PGBIN=$OLD_PGBIN revrx.so sha256 $(sha256sum "$($OLD_PGBIN/pg_config --pkglibdir)/revrx.so" | cut -c1-16)"
  echo "NEW_PGBIN=$NEW_PGBIN revrx.so sha256 $(sha256sum "$($NEW_PGBIN/pg_config --pkglibdir)/revrx.so" | cut -c1-16)"
  echo "pgbackrest: $(pgbackrest version)"
  echo "PARTS=$PARTS TABLE_MB=$TABLE_MB FRACTIONS=$FRACTIONS ROUNDS=$ROUNDS SCALE=$SCALE TX=$TX RUNS=$RUNS"
  echo "loadavg at start: $(cat /proc/loadavg)"
} > "$OUT/env.txt"
for p in $PARTS; do "part_$p"; done
echo "loadavg at end: $(cat /proc/loadavg)" >> "$OUT/env.txt"
log "done: $OUT/raw.csv"
