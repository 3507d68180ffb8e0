# bench/lib.sh - what the bench scripts share, written once: sourced (never
# run) by backup-restore.sh, wal-archive.sh, incr-whole.sh, rpo.sh and
# incremental-summaries.sh.
#
# Provides:
#   checks     bench_init PREFIX...: run as root, WORK below one of the
#              prefixes (the exit trap removes it)
#   helpers    now, sub, div A B [DECIMALS], log (stderr, and $OUT/run.log once $OUT exists),
#              host_busy, dsize, payload_bytes, timed (sets T and HB)
#   SQL        aspg CMD... (as postgres, PATH=$PGBIN, PGHOST=$SOCK, PGPORT=$PORT),
#              sql QUERY [DB]
#   server     pg_conf_head DIR / pg_conf DIR (the bench's postgresql.conf lines),
#              pg_conf_revrx DIR [SPOOL] (revrx preloaded, archiving into its spool),
#              pg_start, pm_pid, pg_stop, wait_archived SECONDS [drained]
#   agent      agent_env CMD..., agent_start LOG [VAR=VALUE...], agent_stop
#              (AGENT_PID), stop_pid PID SIGNAL
#   cgroups    cg_setup GROUP..., cg_exec, cg_pre, cg_seconds, cg_pids,
#              wait_leftovers, cg_teardown (cpuacct v1; CG_OK=0 without it)
#   pgBackRest pgbr_conf FILE GLOBAL-LINE... (+ the [$STANZA] section of $PGDATA)
#   env.txt    env_head (date, host, memory, disk, PostgreSQL, pgBackRest)
#   memory     memory_keep (HOST_MEMORY=keep: the guest's free pages are not
#              handed back to the host for the run; undone on exit)
#   exit       bench_traps: EXIT/INT/TERM run bench_exit
#
# Contract: set before sourcing WORK (scratch directory), PORT, SOCK (unix
# socket directory), PGDATA, PGBIN (PostgreSQL bin directory) and OUT
# (results directory; it may not exist yet).  Optional: PGLOG [$WORK/log/
# postgres.log], STANZA [bench], KEEP_DATA [0], REVRX_AGENT [$PGBIN/revrx-agent],
# REVRX_REPO_URL and SPOOL (for the agent), REVRX_PARALLEL [4], CG (the
# cgroup directory, for cg_setup), HOST_MEMORY [keep].  Hooks a script may define:
# bench_before_stop and bench_after_stop (they run in bench_exit).
#
# On exit (after bench_traps), bench_exit: bench_before_stop, stops the agent
# (AGENT_PID) and the server of $PGDATA, bench_after_stop (keep logs), moves
# what is left in its cgroups to the root group and removes them, removes $WORK unless
# KEEP_DATA=1, and logs "ABORTED rc=..." if the script failed.  It stops
# processes by PID only: other benchmarks may run on the same machine.
# shellcheck shell=bash

PGLOG=${PGLOG:-$WORK/log/postgres.log}
STANZA=${STANZA:-bench}
KEEP_DATA=${KEEP_DATA:-0}
REVRX_AGENT=${REVRX_AGENT:-$PGBIN/revrx-agent}
REVRX_PARALLEL=${REVRX_PARALLEL:-4}
AGENT_PID=""

# ---------------------------------------------------------------- checks
bench_init() { # allowed prefixes of WORK: it is wiped, so never somewhere else
  local p
  [[ $EUID -eq 0 ]] || { echo "run as root (PostgreSQL itself runs as postgres)" >&2; exit 1; }
  for p in "$@"; do [[ $WORK == "$p"/?* ]] && return 0; done
  echo "refusing WORK=$WORK" >&2; exit 1
}

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }
div() { awk -v a="$1" -v b="$2" -v n="${3:-2}" 'BEGIN{ if (a != "NA" && b != "NA" && b+0 != 0) printf "%.*f", n, a/b; else print "NA"}'; }
log() { local m; m="[$(date +%H:%M:%S)] $*"; echo "$m" >&2; [[ -d ${OUT:-/nonexistent} ]] && echo "$m" >> "$OUT/run.log"; return 0; }
# machine-wide busy core-seconds (all tenants) from /proc/stat
host_busy() { awk -v hz="$(getconf CLK_TCK)" '/^cpu /{ printf "%.3f", ($2+$3+$4+$7+$8+$9)/hz }' /proc/stat; }
dsize() { du --apparent-size -sb "$1" 2>/dev/null | awk '{print $1}'; }
payload_bytes() { # data directory without pg_wal
  find "$1" -path "$1/pg_wal" -prune -o -type f -printf '%s\n' | awk '{s+=$1} END{printf "%d", s}'
}
# shellcheck disable=SC2034 # T and HB are read by the scripts
T=0; HB=0
# shellcheck disable=SC2034
timed() { # command...: sets T (seconds) and HB (busy core-seconds); returns the command's status
  local t0 t1 h0 h1 rc=0
  # what the previous step left dirty (a restore writes 1.6 GB) is written
  # back first, untimed: else it lands on whichever test comes next (the
  # same chain restore took 3.6-5.2 s by that alone)
  sync
  h0=$(host_busy); t0=$(now)
  "$@" || rc=$?
  t1=$(now); h1=$(host_busy)
  T=$(sub "$t0" "$t1"); HB=$(sub "$h0" "$h1")
  return $rc
}

aspg() { (cd "$WORK" && runuser -u postgres -- env PATH="$PGBIN:/usr/bin:/bin" PGHOST="$SOCK" PGPORT="$PORT" PGUSER=postgres PGOPTIONS='-c client_min_messages=warning' "$@"); }
sql() { aspg psql -X -qAt -v ON_ERROR_STOP=1 -d "${2:-postgres}" -c "$1"; }

# ---------------------------------------------------------------- server
pg_conf_head() { # datadir: where the server listens (unix socket only)
  cat >> "$1/postgresql.conf" <<EOF

# ---- bench/$(basename "$0")
port = $PORT
listen_addresses = ''
unix_socket_directories = '$SOCK'
EOF
}
pg_conf() { # datadir: pg_conf_head and the settings most benches run with
  pg_conf_head "$1"
  cat >> "$1/postgresql.conf" <<EOF
wal_level = replica
max_wal_senders = 4
shared_buffers = 512MB
checkpoint_timeout = 15min
max_wal_size = 4GB
log_line_prefix = '%m [%p] %b '
log_checkpoints = on
EOF
}
pg_conf_revrx() { # datadir [spool dir, default $SPOOL]: revrx preloaded, archiving with it
  cat >> "$1/postgresql.conf" <<EOF
shared_preload_libraries = 'revrx'
archive_mode = on
archive_library = 'revrx'
revrx.spool_dir = '${2:-$SPOOL}'
EOF
}
pg_start() { cg_exec pg runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 300 start >/dev/null; }
pm_pid() { # postmaster PID of $PGDATA if it is alive and really ours
  [[ -f $PGDATA/postmaster.pid ]] || return 1
  local pid; pid=$(head -1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$PGDATA" || return 1
  echo "$pid"
}
pg_stop() {
  local pid
  pid=$(pm_pid) || return 0
  if ! aspg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1; then
    log "pg_ctl stop failed; signalling postmaster $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then kill -QUIT "$pid" 2>/dev/null || true; fi
  fi
}
# wait_archived SECONDS [drained]: a switched segment (and, with "drained",
# no .ready file either) archived, else log and fail
wait_archived() {
  local seg last _
  seg=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
  for _ in $(seq 1 $(($1 * 10))); do
    last=$(sql "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
    if [[ -n $last && ! $last < $seg ]]; then
      [[ ${2:-} != drained || -z $(find "$PGDATA/pg_wal/archive_status" -name '*.ready' | head -1) ]] && return 0
    fi
    sleep 0.1
  done
  log "archiving does not work: $seg not archived within $1 s (last_archived_wal='$last')"
  return 1
}

# ---------------------------------------------------------------- revrx-agent
agent_env() { # command...: as postgres, in the agent's environment alone
  setpriv --reuid=postgres --regid=postgres --init-groups \
    env -i PATH=/usr/bin:/bin HOME="$WORK" REVRX_REPO="$REVRX_REPO_URL" REVRX_SPOOL="$SPOOL" \
    REVRX_PARALLEL="$REVRX_PARALLEL" "$@"
}
agent_start() { # log-file [VAR=VALUE...]: revrx-agent run (in cgroup "agent" if there is one)
  # a simple command in the background whose every step execs (bash -c,
  # setpriv, env): $! is the agent itself (agent_env would put a subshell in between)
  local logf=$1; shift
  cg_pre agent
  "${CG_PRE[@]}" setpriv --reuid=postgres --regid=postgres --init-groups \
    env -i PATH=/usr/bin:/bin HOME="$WORK" REVRX_REPO="$REVRX_REPO_URL" REVRX_SPOOL="$SPOOL" \
    REVRX_PARALLEL="$REVRX_PARALLEL" "$@" "$REVRX_AGENT" run >>"$logf" 2>&1 &
  AGENT_PID=$!
  sleep 0.3
  [[ $(readlink "/proc/$AGENT_PID/exe" 2>/dev/null) == "$(readlink -f "$REVRX_AGENT")" ]] || log "WARNING: \$! = $AGENT_PID is not revrx-agent"
  kill -0 "$AGENT_PID" 2>/dev/null || { log "revrx-agent exited at once: $(tail -5 "$logf")"; AGENT_PID=""; return 1; }
}
stop_pid() { # pid signal: signal, 10 s to go, then SIGKILL; returns 1 if it took the SIGKILL
  local rc=0
  kill "-$2" "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then kill -KILL "$1" 2>/dev/null || true; rc=1; fi
  wait "$1" 2>/dev/null || true
  return $rc
}
agent_stop() {
  [[ -n $AGENT_PID ]] || return 0
  stop_pid "$AGENT_PID" TERM || log "revrx-agent $AGENT_PID ignored SIGTERM for 10 s; SIGKILL"
  AGENT_PID=""
}

# ---------------------------------------------------------------- cgroups
# cpuacct (v1) groups below $CG, one per process group a bench counts apart;
# cpuacct only counts, it changes nothing about scheduling.
CG_ROOT=${CG_ROOT:-/sys/fs/cgroup/cpuacct}
CG_OK=0
CG_GROUPS=()
cg_setup() { # group...: sets CG_OK (1 = counting), returns 1 without cgroups
  CG_GROUPS=("$@")
  local g dirs=()
  for g in "$@"; do dirs+=("$CG/$g"); done
  if [[ -w $CG_ROOT ]] && mkdir -p "${dirs[@]}" 2>/dev/null && [[ -f $CG/$1/cpuacct.usage ]]; then
    CG_OK=1
  else
    CG_OK=0; return 1
  fi
}
cg_exec() { # group command...: runs the command inside the cgroup (children inherit it)
  local g=$1; shift
  if ((CG_OK)); then
    bash -c 'echo $$ > "$0" && exec "$@"' "$CG/$g/cgroup.procs" "$@"
  else
    "$@"
  fi
}
# cg_pre GROUP: sets CG_PRE to the words that put a command into GROUP, for
# `"${CG_PRE[@]}" command &`, where $! must be the command itself
cg_pre() {
  CG_PRE=()
  # shellcheck disable=SC2016 # $$ and $@ are the inner shell's
  if ((CG_OK)); then CG_PRE=(bash -c 'echo $$ > "$0" && exec "$@"' "$CG/$1/cgroup.procs"); fi
}
cg_seconds() { # group...: their CPU seconds together, NA without cgroups
  ((CG_OK)) || { echo NA; return; }
  local g files=()
  for g in "$@"; do files+=("$CG/$g/cpuacct.usage"); done
  awk '{s+=$1} END{printf "%.3f", s/1e9}' "${files[@]}"
}
cg_pids() { # group...: the processes in them
  ((CG_OK)) || return 0
  local g
  for g in "$@"; do cat "$CG/$g/cgroup.procs" 2>/dev/null || true; done
}
# what is left in those groups after the server stopped (pgBackRest's async
# process finishing its queue): wait up to 30 s, then end it by PID
wait_leftovers() { # group...
  local pids _ p
  for _ in $(seq 1 60); do
    pids=$(cg_pids "$@"); [[ -z $pids ]] && return 0; sleep 0.5
  done
  for p in $pids; do log "ending leftover process $p ($(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-80))"; kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
}
cg_teardown() { # moves what is left to the root group, removes ours
  ((CG_OK)) || return 0
  local g p
  for g in "${CG_GROUPS[@]}"; do
    [[ -d $CG/$g ]] || continue
    while read -r p; do echo "$p" > "$CG_ROOT/cgroup.procs" 2>/dev/null || true; done < "$CG/$g/cgroup.procs"
    rmdir "$CG/$g" 2>/dev/null || true
  done
  rmdir "$CG" 2>/dev/null || true
}

# ---------------------------------------------------------------- pgBackRest
pgbr_conf() { # file global-line...: [global] of those lines, [$STANZA] of $PGDATA
  local l
  {
    echo "[global]"
    for l in "${@:2}"; do echo "$l"; done
    echo
    echo "[$STANZA]"
    echo "pg1-path=$PGDATA"
    echo "pg1-port=$PORT"
    echo "pg1-socket-path=$SOCK"
    echo "pg1-user=postgres"
  } > "$1"
  chown postgres:postgres "$1"
}

# ---------------------------------------------------------------- env.txt
env_head() { # the machine and the tools' versions, for env.txt
  echo "date: $(date -Is)"
  echo "host: $(uname -srm); cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
  echo "mem: $(free -g | awk '/Mem:/{print $2" GB total, "$7" GB available"}')"
  echo "disk: $(df -h --output=source,fstype,size,avail "$WORK" | tail -1)"
  echo "postgres: $("$PGBIN/postgres" --version)"
  echo "pgbackrest: $(pgbackrest version)"
}

# ---------------------------------------------------------------- guest memory
# On a VM whose balloon device reports free pages to the host (virtio-balloon
# free page reporting: Firecracker, as here, or QEMU with it on), memory freed
# is handed back within seconds, and the next write into the page cache
# faults it in again from the host: 1.6 GB written by dd took 7-8 s of system
# time ten seconds after a 1.6 GB file was deleted, 0.3-0.4 s right after
# (bench/backup-restore.md, "Guest memory").  Every test that writes (a
# restore: 1.6 GB) then paid 2-5 s more or less by where it came in the order
# and how long the step before it took, whichever tool it was.
# HOST_MEMORY=keep (the default) stops the reporting for the run (an order
# above the largest block, 11 on x86-64, is never reported), faults in
# MEMORY_WARM_GB of memory once by writing and deleting a file, and sets the
# order back on exit; HOST_MEMORY=report leaves the machine as it is.
HOST_MEMORY=${HOST_MEMORY:-keep}
MEMORY_WARM_GB=${MEMORY_WARM_GB:-8}
PAGE_REPORTING=/sys/module/page_reporting/parameters/page_reporting_order
PAGE_REPORTING_SAVED=""
memory_keep() {
  [[ $HOST_MEMORY == keep && -w $PAGE_REPORTING ]] || { log "guest memory: as it is (HOST_MEMORY=$HOST_MEMORY)"; return 0; }
  PAGE_REPORTING_SAVED=$(cat "$PAGE_REPORTING")
  echo 11 > "$PAGE_REPORTING" || { PAGE_REPORTING_SAVED=""; return 0; }
  dd if=/dev/zero of="$WORK/memory-warm" bs=1M count=$((MEMORY_WARM_GB * 1024)) status=none
  rm -f "$WORK/memory-warm"
  log "guest memory: free page reporting stopped for the run (page_reporting_order" \
    "$PAGE_REPORTING_SAVED -> 11), $MEMORY_WARM_GB GB faulted in"
}
memory_restore() {
  [[ -n $PAGE_REPORTING_SAVED ]] && echo "$PAGE_REPORTING_SAVED" > "$PAGE_REPORTING"
  PAGE_REPORTING_SAVED=""
}

# ---------------------------------------------------------------- exit
bench_exit() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if declare -F bench_before_stop >/dev/null; then bench_before_stop; fi
  agent_stop
  pg_stop
  if declare -F bench_after_stop >/dev/null; then bench_after_stop; fi
  cg_teardown
  memory_restore
  if [[ $KEEP_DATA != 1 && -n ${WORK:-} && -d $WORK ]]; then rm -rf "$WORK"; fi
  ((rc != 0)) && log "ABORTED rc=$rc (see $OUT/run.log)"
  exit "$rc"
}
bench_traps() {
  trap bench_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
