#!/usr/bin/env bash
# wal-archive.sh - WAL archiving benchmark: revrx against pgBackRest, on one
# machine, same workload, local repository for both, modes interleaved.
#
# Usage (as root; PostgreSQL runs as the `postgres` user):
#   bench/wal-archive.sh                 full run (see bench/README.md)
#   bench/wal-archive.sh --check-revrx   only check that revrx archives at all
#
# Environment knobs (defaults in brackets):
#   SCALE [50]          pgbench scale of the template cluster
#   RUNS [3]            rounds; every round runs every mode once, in an order
#                       rotated by one position per round
#   DURATION [60]       seconds of the sustained load (pgbench -c 4 -j 2 -T ..)
#   FILL_DURATION [30]  seconds of load that fill the backlog (capacity test)
#   MODES [revrx,pgbr-sync-zst,pgbr-async-zst,pgbr-sync-lz4,pgbr-async-lz4]
#                       (also revrx-lz4: revrx with revrx.compression = lz4;
#                       revrx-workers0: revrx with revrx.archive_lookahead_workers
#                       = 0, the archiver spooling ahead alone, as before the
#                       spooler workers existed;
#                       revrx-pollN: revrx with REVRX_POLL_INTERVAL_MS=N, a
#                       diagnostic; revrx-zstdN: revrx with
#                       revrx.compression_level = N (zstd); revrx-nofast: revrx
#                       with revrx.archive_fast_backlog = 0, every segment at
#                       revrx.compression_level; ratio tables are for
#                       `revrx` and `revrx-lz4`)
#   OUT [bench/results/<timestamp>]  results directory (gitignored)
#   KEEP_DATA [0]       1 = keep the template, data dirs, spool and repositories
#   WORK [/tmp/revrx-walbench]  scratch directory (wiped at start)
#   PORT [55434]        server port (unix socket in $WORK/sock, no TCP)
#   REVRX_AGENT [$(pg_config --bindir)/revrx-agent]
#   REVRX_PARALLEL [4]  the agent's concurrent transfers
#   POLL_MS [5]         archive_status sampling interval
#   CLIENTS ["-c 4 -j 2"]  pgbench client/thread options for both loads
#
# What each (round, mode) does, on a fresh copy of one template cluster:
#   1. start the server (and revrx-agent, or pgbackrest stanza-create), check
#      that one switched segment gets archived;
#   2. sustained: pgbench -T DURATION with archiving on, a poller sampling
#      pg_wal/archive_status every POLL_MS; then time the drain of what is left;
#   3. capacity: pause archiving (revrx.spool_dir = '' / archive_command = ''),
#      pgbench -T FILL_DURATION + pg_switch_wal(), enable archiving and time the
#      drain of every .ready file, with CPU from /proc/stat and cpuacct cgroups.
# Results: $OUT/{raw.csv,summary.md,env.txt,run.log,runs/<round>-<mode>/...}.
# Not part of `make test`.
set -Eeuo pipefail

SCALE=${SCALE:-50}
RUNS=${RUNS:-3}
DURATION=${DURATION:-60}
FILL_DURATION=${FILL_DURATION:-30}
MODES=${MODES:-revrx,pgbr-sync-zst,pgbr-async-zst,pgbr-sync-lz4,pgbr-async-lz4}
KEEP_DATA=${KEEP_DATA:-0}
WORK=${WORK:-/tmp/revrx-walbench}
PORT=${PORT:-55434}
REVRX_PARALLEL=${REVRX_PARALLEL:-4}
POLL_MS=${POLL_MS:-5}
CLIENTS=${CLIENTS:--c 4 -j 2}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-900}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
REVRX_AGENT=${REVRX_AGENT:-$PGBIN/revrx-agent}
OUT=${OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)}
WATCH="python3 $HERE/walwatch.py"
SEG=16777216
SOCK=$WORK/sock
TEMPLATE=$WORK/template
PGDATA=$WORK/data
SPOOL=$WORK/spool
REPO=$WORK/repo
PGBR_CONF=$WORK/pgbackrest.conf
STANZA=bench
CG_ROOT=/sys/fs/cgroup/cpuacct
# one cgroup tree per scratch directory, so that two runs with different
# WORK (two developers on one machine) never count or end each other's processes
CG=$CG_ROOT/$(basename "$WORK")

PGLOG=$WORK/log/postgres.log
REVRX_REPO_URL=file://$REPO
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_init /tmp /var/tmp /work

# ---------------------------------------------------------------- CPU accounting
# host: machine-wide busy core-seconds (all tenants), host_busy (lib.sh).
# cgroups (cpuacct, v1): $CG/pg holds the postmaster and its children,
# $CG/arch the archiver process (moved there after every start) with whatever
# it forks (archive_command, pgBackRest's async process), $CG/agent
# revrx-agent.  "Archiving CPU" is arch + agent; the agent's share is also
# reported on its own.  cpuacct only counts; it changes nothing about
# scheduling.
cg_usage() { # seconds of CPU of cgroup $1 (pg|arch|agent|all); arch includes the agent
  case $1 in
    all) cg_seconds pg arch agent ;;
    arch) cg_seconds arch agent ;;
    *) cg_seconds "$1" ;;
  esac
}
csub() { [[ $1 == NA || $2 == NA ]] && { echo NA; return; }; sub "$1" "$2"; }

# ---------------------------------------------------------------- processes
POLLER_PID=""
archiver_pid() {
  local pm p; pm=$(pm_pid) || return 1
  for p in $(pgrep -P "$pm" 2>/dev/null); do
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q '^postgres: archiver'; then echo "$p"; return 0; fi
  done
  return 1
}
# revrx's spooler workers (they spool ahead of the archiver: archiving work)
spooler_pids() {
  local pm p; pm=$(pm_pid) || return 0
  for p in $(pgrep -P "$pm" 2>/dev/null); do
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q '^postgres: revrx wal spooler'; then echo "$p"; fi
  done
}
# the archiver into $CG/arch, so that it, its archive_command children and
# pgBackRest's async process are counted as "archiving CPU"; so are revrx's
# spooler workers
move_archiver() {
  ((CG_OK)) || return 0
  local p _
  for _ in $(seq 1 50); do
    if p=$(archiver_pid); then
      grep -qx "$p" "$CG/arch/cgroup.procs" || echo "$p" > "$CG/arch/cgroup.procs"
      for p in $(spooler_pids); do
        grep -qx "$p" "$CG/arch/cgroup.procs" || echo "$p" > "$CG/arch/cgroup.procs"
      done
      return 0
    fi
    sleep 0.1
  done
  log "WARNING: no archiver process found"
}
agent_start_mode() { # log-file mode; mode revrx-pollN: REVRX_POLL_INTERVAL_MS=N (diagnostic)
  local extra=()
  [[ $2 =~ ^revrx-poll([0-9]+)$ ]] && extra=("REVRX_POLL_INTERVAL_MS=${BASH_REMATCH[1]}")
  REVRX_AGENT=$REVRX_BIN/revrx-agent agent_start "$1" "${extra[@]}"
}
poller_start() { # events file [spool dirs...]
  local ev=$1; shift
  cg_pre tools
  "${CG_PRE[@]}" python3 "$HERE/walwatch.py" watch "$PGDATA/pg_wal/archive_status" "$ev" "$POLL_MS" "$@" &
  POLLER_PID=$!
}
poller_stop() {
  [[ -n $POLLER_PID ]] || return 0
  kill -TERM "$POLLER_PID" 2>/dev/null || true
  wait "$POLLER_PID" 2>/dev/null || true
  POLLER_PID=""
}
# (bench_exit) a run still going is ended first: stopping the server ends its load
bench_before_stop() {
  if [[ -n ${RUN_PID:-} ]]; then
    kill -TERM "$RUN_PID" 2>/dev/null
    pg_stop                     # ends the load at once; the run then cleans up
    wait "$RUN_PID" 2>/dev/null
  fi
  poller_stop
}
bench_after_stop() {
  local p
  wait_leftovers pg arch agent
  for p in $(cg_pids tools); do kill -TERM "$p" 2>/dev/null; done
}

# ---------------------------------------------------------------- setup
preflight() {
  local c
  for c in pgbackrest python3 setpriv runuser zstd; do command -v "$c" >/dev/null || { echo "missing: $c" >&2; exit 1; }; done
  [[ -x $PGBIN/postgres && -x $PGBIN/pgbench ]] || { echo "PostgreSQL 15 not found in $PGBIN" >&2; exit 1; }
  if [[ ",$MODES," == *,revrx* ]]; then
    [[ -f $($PGBIN/pg_config --pkglibdir)/revrx.so ]] || { echo "revrx.so is not installed (make install), or leave revrx out of MODES" >&2; exit 1; }
    [[ -x $REVRX_AGENT ]] || { echo "revrx-agent not found at $REVRX_AGENT (make install, or set REVRX_AGENT)" >&2; exit 1; }
  fi
}

# The revrx binaries are copied once per benchmark run, and every cluster
# loads the copy (dynamic_library_path), so that a `make install` by someone
# else in the middle of a run cannot mix versions.
REVRX_BIN=$WORK/revrx-bin
snapshot_revrx() {
  [[ ",$MODES," == *,revrx* ]] || return 0
  install -d -o postgres -g postgres "$REVRX_BIN"
  install -m 755 "$($PGBIN/pg_config --pkglibdir)/revrx.so" "$REVRX_BIN/revrx.so"
  install -m 755 "$REVRX_AGENT" "$REVRX_BIN/revrx-agent"
}

prepare_dirs() {
  # a previous interrupted run may have left a server behind
  pg_stop
  rm -rf "$WORK"
  mkdir -p "$WORK/log" "$SOCK"
  chown -R postgres:postgres "$WORK"; chmod 700 "$SOCK"
  mkdir -p "$OUT/runs"
  echo "round,mode,phase,seconds,extra" > "$OUT/raw.csv"
}

write_env() {
  {
    env_head
    if [[ -x $REVRX_BIN/revrx-agent ]]; then
      echo "revrx-agent: copy of $REVRX_AGENT (installed $(stat -c '%y' "$REVRX_AGENT"), sha256 $(sha256sum "$REVRX_BIN/revrx-agent" | cut -c1-16))"
      echo "revrx.so: copy of $($PGBIN/pg_config --pkglibdir)/revrx.so (installed $(stat -c '%y' "$($PGBIN/pg_config --pkglibdir)/revrx.so"), sha256 $(sha256sum "$REVRX_BIN/revrx.so" | cut -c1-16))"
    fi
    echo "revrx git: $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?') (working tree may differ)"
    echo "SCALE=$SCALE RUNS=$RUNS DURATION=$DURATION FILL_DURATION=$FILL_DURATION MODES=$MODES CLIENTS='$CLIENTS' REVRX_PARALLEL=$REVRX_PARALLEL POLL_MS=$POLL_MS"
    echo "loadavg at start: $(cat /proc/loadavg)"
  } > "$OUT/env.txt"
}

make_template() {
  log "template cluster: initdb --data-checksums, pgbench -i -s $SCALE (archive_mode off)"
  local t0; t0=$(now)
  aspg "$PGBIN/initdb" -D "$TEMPLATE" --data-checksums --auth=trust -U postgres -E UTF8 --locale=C >"$WORK/log/initdb.log"
  pg_conf "$TEMPLATE"
  echo "archive_mode = off" >> "$TEMPLATE/postgresql.conf"
  PGDATA_SAVE=$PGDATA; PGDATA=$TEMPLATE
  pg_start
  sql "CREATE DATABASE pgbench"
  aspg pgbench -i -q -s "$SCALE" pgbench >"$WORK/log/pgbench-init.log" 2>&1
  sql "CHECKPOINT"
  echo "template: pgbench db $(sql "SELECT pg_size_pretty(pg_database_size('pgbench'))"), made in $(sub "$t0" "$(now)") s" | tee -a "$OUT/env.txt" >&2
  pg_stop
  PGDATA=$PGDATA_SAVE
}

# mode_conf MODE: archiving settings appended to postgresql.conf of the copy
archive_cmd() { # mode
  local ct lvl async=""
  case $1 in
    *-zst) ct=zst; lvl=3 ;;
    *-lz4) ct=lz4; lvl=1 ;;
  esac
  [[ $1 == pgbr-async-* ]] && async=" --archive-async --process-max=2"
  echo "pgbackrest --config=$PGBR_CONF --stanza=$STANZA --compress-type=$ct --compress-level=$lvl$async archive-push %p"
}
mode_conf() {
  local mode=$1
  {
    echo "archive_mode = on"
    case $mode in
      revrx|revrx-*)
        echo "dynamic_library_path = '$REVRX_BIN:\$libdir'"
        echo "shared_preload_libraries = 'revrx'"
        echo "archive_library = 'revrx'"
        echo "revrx.spool_dir = '$SPOOL'"
        if [[ $mode == revrx-lz4 ]]; then echo "revrx.compression = 'lz4'"; fi
        if [[ $mode == revrx-workers0 ]]; then echo "revrx.archive_lookahead_workers = 0"; fi
        if [[ $mode =~ ^revrx-zstd([0-9]+)$ ]]; then echo "revrx.compression_level = ${BASH_REMATCH[1]}"; fi
        if [[ $mode == revrx-nofast ]]; then echo "revrx.archive_fast_backlog = 0"; fi ;;
      pgbr-*)
        echo "archive_command = '$(archive_cmd "$mode")'" ;;
      *) log "unknown mode $mode"; return 1 ;;
    esac
  } >> "$PGDATA/postgresql.conf"
}
pause_archiving() { # mode
  case $1 in
    revrx|revrx-*) sql "ALTER SYSTEM SET revrx.spool_dir = ''" ;;
    *)     sql "ALTER SYSTEM SET archive_command = ''" ;;
  esac
  sql "SELECT pg_reload_conf()" >/dev/null
}
resume_prepare() { # mode: the setting is reset now, the reload comes later
  case $1 in
    revrx|revrx-*) sql "ALTER SYSTEM RESET revrx.spool_dir" ;;
    *)     sql "ALTER SYSTEM RESET archive_command" ;;
  esac
}

lsn_bytes() { sql "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"; }
archiver_counts() { sql "SELECT archived_count || ' ' || failed_count FROM pg_stat_archiver"; }
ready_count() { find "$PGDATA/pg_wal/archive_status" -name '*.ready' 2>/dev/null | wc -l; }
pgbench_run() { # seconds log -> sets TPS
  # shellcheck disable=SC2086
  aspg pgbench -n $CLIENTS -T "$1" -P 10 pgbench > "$2" 2>&1 || { log "pgbench failed: $(tail -3 "$2")"; return 1; }
  TPS=$(awk '/^tps = /{print $3; exit}' "$2")
}
repo_stats() { # mode -> "objects bytes"
  local dir
  case $1 in
    revrx|revrx-*) dir=$REPO/wal ;;
    *)     dir=$REPO/archive/$STANZA ;;
  esac
  find "$dir" -type f -regextype posix-extended -regex '.*/[0-9A-F]{24}[^/]*' 2>/dev/null \
    | grep -Ev '\.(history|backup|partial)' | xargs -r stat -c %s | awk '{n++; s+=$1} END{printf "%d %d", n, s}'
}

record() { # round mode phase seconds extra
  echo "$1,$2,$3,$4,$5" >> "$OUT/raw.csv"
  log "  $2 $3 round $1: ${4}s $5"
}

# sanity: one switched segment must reach the repository within 60 s
check_archiving() {
  sql "CREATE TABLE IF NOT EXISTS walbench_probe(i int); INSERT INTO walbench_probe VALUES (1)" >/dev/null
  wait_archived 60
}

# stops what one run started and keeps its logs, also when it failed
run_cleanup() {
  local rc=$? rd=${RD:-}
  set +e
  trap - EXIT
  poller_stop
  agent_stop
  pg_stop
  wait_leftovers pg arch agent
  [[ -n $rd ]] || exit "$rc"
  cp "$WORK/log/postgres.log" "$rd/" 2>/dev/null || true
  [[ -n $(ls -A "$WORK/pgbr-log" 2>/dev/null) ]] && cp -r "$WORK/pgbr-log" "$rd/pgbackrest-log" 2>/dev/null || true
  local nerr nwarn
  # (the revrx worker's FATAL "terminating background worker ... due to
  # administrator command" is how every shutdown ends it)
  nerr=$(grep -E ' (ERROR|FATAL|PANIC): ' "$rd/postgres.log" 2>/dev/null | grep -vc 'due to administrator command' || true)
  nwarn=$(grep -E ' WARNING: ' "$rd/postgres.log" 2>/dev/null | grep -vc 'archiving is not configured' || true)
  if ((${nerr:-0} + ${nwarn:-0} > 0)); then
    log "  server log of $(basename "$rd"): $nerr ERROR/FATAL/PANIC, $nwarn other WARNING lines:"
    grep -E ' (ERROR|FATAL|PANIC|WARNING): ' "$rd/postgres.log" | grep -v 'archiving is not configured' | grep -v 'due to administrator command' | sort -k5 | uniq -c -f4 | head -5 | sed 's/^/      /' >&2 || true
  fi
  if [[ -f $rd/agent.log ]] && grep -qiE 'error|warn' "$rd/agent.log"; then
    log "  agent log of $(basename "$rd") has $(grep -ciE 'error|warn' "$rd/agent.log") error/warning lines, e.g.: $(grep -iE 'error|warn' "$rd/agent.log" | head -1)"
  fi
  gzip -f "$rd/events.txt" 2>/dev/null || true
  rm -f "$WORK/log/postgres.log"
  ((rc == 0)) || log "  run $(basename "$rd") FAILED (rc=$rc); its logs are in $rd"
  exit "$rc"
}

# ---------------------------------------------------------------- one run
one_run() { # round mode
  local r=$1 mode=$2 rd
  rd=$OUT/runs/$r-$mode
  RD=$rd
  mkdir -p "$rd"
  log "== round $r, mode $mode"
  rm -rf "$PGDATA" "$SPOOL" "$REPO" "$WORK/pgbr-log" "$WORK/pgbr-lock" "$WORK/pgbr-spool" "$WORK/log/postgres.log"
  cp -a "$TEMPLATE" "$PGDATA"
  install -d -o postgres -g postgres -m 700 "$SPOOL" "$REPO" "$WORK/pgbr-log" "$WORK/pgbr-lock" "$WORK/pgbr-spool"
  mode_conf "$mode"
  sync
  pg_start; move_archiver
  if [[ $mode == revrx* ]]; then
    # (no CREATE EXTENSION: archiving does not need the SQL functions, and
    # they would load the installed library rather than the snapshot)
    local ap; ap=$(archiver_pid) || true
    grep -q "$REVRX_BIN/revrx.so" "/proc/$ap/maps" 2>/dev/null || { log "the archiver did not load $REVRX_BIN/revrx.so"; return 1; }
    agent_start_mode "$rd/agent.log" "$mode"
  else
    pgbr_conf "$PGBR_CONF" repo1-path="$REPO" log-path="$WORK/pgbr-log" lock-path="$WORK/pgbr-lock" \
      spool-path="$WORK/pgbr-spool" log-level-console=warn log-level-file=info
    aspg pgbackrest --config="$PGBR_CONF" --stanza="$STANZA" stanza-create >"$rd/stanza-create.log" 2>&1
  fi
  local ok=1
  check_archiving || ok=0
  poller_start "$rd/events.txt" "$SPOOL/wal" "$WORK/pgbr-spool/archive/$STANZA/out"
  sleep 0.3

  # -------- sustained load
  local l0 l1 a0 a1 a2 f0 f1 f2 h0 h1 g0 g2 p0 p2 ag0 ag2 t0 t1 t2 dur ready_end drain_s extra an
  if ((ok)); then
    sql "CHECKPOINT" >/dev/null
    read -r a0 f0 <<<"$(archiver_counts)"
    l0=$(lsn_bytes); h0=$(host_busy); g0=$(cg_usage arch); p0=$(cg_usage pg); ag0=$(cg_usage agent); t0=$(now)
    pgbench_run "$DURATION" "$rd/pgbench-sustained.log" || { record "$r" "$mode" sustained NA "error=pgbench_failed"; return 1; }
    t1=$(now); h1=$(host_busy)
    ready_end=$(ready_count)
    l1=$(lsn_bytes)
    read -r a1 f1 <<<"$(archiver_counts)"
    t2=$($WATCH wait-drain "$PGDATA/pg_wal/archive_status" "$DRAIN_TIMEOUT") || log "sustained drain timed out"
    g2=$(cg_usage arch); p2=$(cg_usage pg); ag2=$(cg_usage agent)
    read -r a2 f2 <<<"$(archiver_counts)"
    dur=$(sub "$t0" "$t1"); drain_s=$(sub "$t1" "$t2")
    sleep 0.2   # let the poller see the last .done
    an=$($WATCH analyze "$rd/events.txt" "$t0" "$t1" "$t2" "$OUT/lat-sustained-$mode.txt")
    extra="wal_MB=$(awk -v a="$l0" -v b="$l1" 'BEGIN{printf "%.1f",(b-a)/1e6}')"
    extra+=";wal_MBps=$(awk -v a="$l0" -v b="$l1" -v d="$dur" 'BEGIN{printf "%.2f",(b-a)/1e6/d}')"
    extra+=";seg_generated=$(awk -v a="$l0" -v b="$l1" -v s=$SEG 'BEGIN{printf "%.1f",(b-a)/s}')"
    extra+=";seg_archived=$((a1 - a0));seg_per_s=$(div $((a1 - a0)) "$dur" 3)"
    extra+=";tps=$TPS;ready_end=$ready_end;drain_s=$drain_s;failed=$((f2 - f0))"
    extra+=";host_busy_pct=$(awk -v a="$h0" -v b="$h1" -v d="$dur" -v n="$(nproc)" 'BEGIN{printf "%.1f", 100*(b-a)/(d*n)}')"
    extra+=";arch_cpu_s=$(csub "$g0" "$g2");arch_cpu_per_seg=$( [[ $g0 == NA ]] && echo NA || div "$(sub "$g0" "$g2")" $((a2 - a0)) 4)"
    if [[ $mode == revrx* && $ag0 != NA ]]; then extra+=";agent_cpu_per_seg=$(div "$(sub "$ag0" "$ag2")" $((a2 - a0)) 4)"; fi
    extra+=";pg_cpu_s=$(csub "$p0" "$p2");$an"
    record "$r" "$mode" sustained "$dur" "$extra"
  else
    record "$r" "$mode" sustained NA "error=archiving_not_working"
  fi

  # -------- capacity: drain a backlog built with archiving paused
  local n0 n1 hd0 hd1 gd0 gd1 pd0 pd1 ds objs rbytes
  if ((ok)); then
    pause_archiving "$mode"
    # a checkpoint first, as before the sustained load: the fill then writes
    # full-page images again, which makes a backlog of ~25 segments at scale 50
    # instead of ~6
    sql "CHECKPOINT" >/dev/null
    sleep 1
    read -r a0 f0 <<<"$(archiver_counts)"
    l0=$(lsn_bytes)
    pgbench_run "$FILL_DURATION" "$rd/pgbench-fill.log" || { record "$r" "$mode" drain NA "error=pgbench_failed"; return 1; }
    sql "SELECT pg_switch_wal()" >/dev/null
    l1=$(lsn_bytes)
    sleep 1
    n0=$(ready_count)
    resume_prepare "$mode"
    move_archiver
    hd0=$(host_busy); gd0=$(cg_usage arch); pd0=$(cg_usage pg); ag0=$(cg_usage agent); t0=$(now)
    sql "SELECT pg_reload_conf()" >/dev/null
    t1=$($WATCH wait-drain "$PGDATA/pg_wal/archive_status" "$DRAIN_TIMEOUT") || log "capacity drain timed out"
    hd1=$(host_busy); gd1=$(cg_usage arch); pd1=$(cg_usage pg); ag2=$(cg_usage agent)
    read -r a1 f1 <<<"$(archiver_counts)"
    n1=$(ready_count)
    ds=$(sub "$t0" "$t1")
    read -r objs rbytes <<<"$(repo_stats "$mode")"
    extra="segments=$n0;left=$n1;archived=$((a1 - a0));failed=$((f1 - f0))"
    extra+=";fill_wal_MB=$(awk -v a="$l0" -v b="$l1" 'BEGIN{printf "%.1f",(b-a)/1e6}');fill_tps=$TPS"
    extra+=";seg_per_s=$(div "$n0" "$ds" 2);ms_per_seg=$(div "$(awk -v d="$ds" 'BEGIN{print d*1000}')" "$n0" 1)"
    extra+=";wal_MBps=$(awk -v n="$n0" -v d="$ds" -v s=$SEG 'BEGIN{printf "%.1f", n*s/1e6/d}')"
    extra+=";host_busy_pct=$(awk -v a="$hd0" -v b="$hd1" -v d="$ds" -v n="$(nproc)" 'BEGIN{printf "%.1f", 100*(b-a)/(d*n)}')"
    extra+=";host_cpu_s=$(sub "$hd0" "$hd1");host_cpu_per_seg=$(div "$(sub "$hd0" "$hd1")" "$n0" 4)"
    if [[ $gd0 != NA ]]; then
      extra+=";arch_cpu_s=$(sub "$gd0" "$gd1");arch_cpu_per_seg=$(div "$(sub "$gd0" "$gd1")" "$n0" 4)"
      if [[ $mode == revrx* ]]; then extra+=";agent_cpu_per_seg=$(div "$(sub "$ag0" "$ag2")" "$n0" 4)"; fi
      extra+=";pg_cpu_s=$(sub "$pd0" "$pd1")"
      extra+=";cg_cpu_per_seg=$(div "$(awk -v a="$gd0" -v b="$gd1" -v c="$pd0" -v d="$pd1" 'BEGIN{print b-a+d-c}')" "$n0" 4)"
    fi
    extra+=";repo_objects=$objs;repo_MB=$(awk -v b="$rbytes" 'BEGIN{printf "%.1f", b/1e6}')"
    extra+=";repo_kb_per_seg=$(div "$(awk -v b="$rbytes" 'BEGIN{print b/1000}')" "$objs" 0)"
    extra+=";archived_total=$(sql "SELECT archived_count FROM pg_stat_archiver")"
    # the agent's peak resident memory since it started (sustained load and
    # drain): VmHWM, in MiB
    if [[ -n $AGENT_PID && -r /proc/$AGENT_PID/status ]]; then
      extra+=";agent_rss_MiB=$(awk '/^VmHWM:/{printf "%.1f", $2/1024}' "/proc/$AGENT_PID/status")"
    fi
    record "$r" "$mode" drain "$ds" "$extra"
  else
    record "$r" "$mode" drain NA "error=archiving_not_working"
  fi

}

# ---------------------------------------------------------------- --check-revrx
check_revrx() {
  MODES=revrx
  preflight
  OUT=$WORK/check; prepare_dirs; snapshot_revrx
  log "check: tiny cluster with archive_library = 'revrx' and revrx-agent run"
  aspg "$PGBIN/initdb" -D "$PGDATA" --auth=trust -U postgres >/dev/null
  pg_conf "$PGDATA"
  sed -i 's/^shared_buffers = 512MB/shared_buffers = 128MB/' "$PGDATA/postgresql.conf"
  install -d -o postgres -g postgres -m 700 "$SPOOL" "$REPO"
  mode_conf revrx
  pg_start; move_archiver
  agent_start_mode "$WORK/agent.log" revrx
  local rc=0 t0
  t0=$(now)
  if check_archiving && check_archiving; then
    log "revrx archives: $(archiver_counts | awk '{print "archived_count="$1", failed_count="$2}') in $(sub "$t0" "$(now)") s; repository: $(repo_stats revrx | awk '{print $1" objects, "$2" bytes"}')"
  else
    rc=1
    log "revrx does NOT archive. server log tail:"; tail -5 "$WORK/log/postgres.log" >&2
    log "agent log tail:"; tail -5 "$WORK/agent.log" >&2
  fi
  return $rc
}

# ---------------------------------------------------------------- main
bench_traps
cg_setup pg arch agent tools || log "cpuacct cgroup not available: per-process-group CPU figures will be NA"

if [[ ${1:-} == --check-revrx ]]; then
  OUT=$WORK/check
  check_revrx
  exit $?
fi

preflight
prepare_dirs
snapshot_revrx
write_env
T_START=$(now)
log "results in $OUT; SCALE=$SCALE RUNS=$RUNS DURATION=$DURATION FILL_DURATION=$FILL_DURATION MODES=$MODES"
make_template
IFS=, read -r -a MODE_LIST <<<"$MODES"
n=${#MODE_LIST[@]}
for r in $(seq 1 "$RUNS"); do
  for i in $(seq 0 $((n - 1))); do
    # rotate the order by one position per round, so no mode always runs first
    mode=${MODE_LIST[$(( (i + r - 1) % n ))]}
    # each run in its own subshell, started in the background so that set -e
    # stays in force inside it: a failed run is recorded, cleaned up by its
    # EXIT trap (which keeps its logs) and the benchmark goes on
    ( trap run_cleanup EXIT; trap 'exit 143' TERM; one_run "$r" "$mode" ) &
    RUN_PID=$!
    if ! wait "$RUN_PID"; then
      echo "$r,$mode,failed,NA,error=run_failed" >> "$OUT/raw.csv"
    fi
    RUN_PID=""
  done
done
echo "loadavg at end: $(cat /proc/loadavg); total wall time: $(sub "$T_START" "$(now)") s" >> "$OUT/env.txt"
$WATCH summarize "$OUT/raw.csv" "$OUT/summary.md"
log "done in $(sub "$T_START" "$(now)") s; results: $OUT"
