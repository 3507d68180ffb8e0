#!/usr/bin/env bash
# incremental-summaries.sh - what an incremental backup reads and stores on
# PostgreSQL 17: revrx from WAL summaries, revrx's page LSN scan,
# pgBackRest's --type=incr and pg_basebackup --incremental, after the same
# kind of load on one pgbench database.
#
# Runs inside a Debian 13 root (PostgreSQL 17) with revrx installed there,
# e.g. the one scripts/matrix.sh makes and installs into:
#   REVRX_ROOTS=/var/cache/revrx/roots-walsummary scripts/matrix.sh trixie   # builds, installs
#   R=/var/cache/revrx/roots-walsummary/trixie
#   chroot $R apt-get install -y pgbackrest          # (inside the namespace below)
#   cp bench/incremental-summaries.sh bench/lib.sh $R/revrx/bench/
#   unshare --mount --propagation private bash -c "mount --rbind /dev $R/dev;
#     mount -t tmpfs shm $R/dev/shm; mount -t proc proc $R/proc;
#     chroot $R env SCALE=100 /revrx/bench/incremental-summaries.sh"
#
# Environment knobs (defaults in brackets):
#   SCALE [100]     pgbench scale (100: about 1.5 GB of tables and indexes)
#   LOAD_S [30]     seconds of pgbench (-c 2 -j 2) between full and incremental
#   COLD_MB [0]     also a table of about this size that the load never
#                   touches (the cold part most databases have; pgbench alone
#                   writes all over its tables)
#   WORK [/tmp/revrx-incrbench]   scratch directory (wiped at start and at exit)
#   PORT [55437]    server port (unix socket in $WORK, no TCP)
#
# Two rounds, each: CHECKPOINT, full backups, LOAD_S s of pgbench, CHECKPOINT,
# incremental backups, each timed alone:
#   round 1 (summarize_wal = on): revrx full, pgBackRest full, pg_basebackup
#           full; then revrx incremental (from the WAL summaries), pgBackRest
#           --type=incr, pg_basebackup --incremental
#   round 2: revrx full; then, with summarize_wal = off, revrx incremental
#           (the page LSN scan).  A second round, because a revrx incremental
#           builds on the newest backup, so both revrx variants need a parent
#           of their own; the load is the same: as many transactions as
#           round 1 ran in its LOAD_S seconds (pgbench -t).
# Nothing is compressed (revrx.compression = none, pgBackRest
# compress-type=none, pg_basebackup -Fp), so stored bytes are comparable.
#
# Reported per incremental:
#   read    bytes the reading processes passed through read(2)/pread(2)
#           (/proc/<pid>/io rchar: page cache or disk alike).  revrx: the
#           backup worker (one process, before/after); pgBackRest: its local
#           processes (its own count of the bytes it copied is in the notes);
#           pg_basebackup: the walsender that reads the files.  The latter two are sampled every 0.1 s, so the last
#           tenth of a second may be missing.
#   stored  du --apparent-size of the backup in its repository/directory
#   time    wall seconds of the command (revrx: until the agent committed
#           the backup in the repository; the exporter's own time is listed
#           too, from its log line)
# Results: $OUT/summary.md and $OUT/run.log.
set -Eeuo pipefail

# the knobs' defaults
: "${SCALE:=100}" "${LOAD_S:=30}" "${COLD_MB:=0}" "${WORK:=/tmp/revrx-incrbench}" "${PORT:=55437}"
: "${PGBIN:=/usr/lib/postgresql/17/bin}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OUT:=$HERE/results/incr-summaries-$(date +%Y%m%d-%H%M%S)}"
PGDATA=$WORK/data
SPOOL=$WORK/spool
RVX_REPO=$WORK/repo-revrx
PGBR_REPO=$WORK/repo-pgbr
BB=$WORK/basebackup

SOCK=$WORK
PGLOG=$WORK/startup.log
REVRX_AGENT=$PGBIN/revrx-agent
REVRX_REPO_URL=file://$RVX_REPO
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_init /tmp
for c in pgbackrest runuser setpriv perl; do command -v "$c" >/dev/null || { echo "missing: $c" >&2; exit 1; }; done
[[ -x $REVRX_AGENT ]] || { echo "revrx is not installed into $PGBIN" >&2; exit 1; }

elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
rchar() { awk '/^rchar/{print $2}' "/proc/$1/io"; }

bench_after_stop() { # (bench_exit) the server log
	[[ -f $PGDATA/log/postgres.log ]] && cp "$PGDATA/log/postgres.log" "$OUT/" 2>/dev/null
}
bench_traps

# Samples, every 0.1 s until the file $1.stop appears, the rchar of the
# processes that `pick` prints (one pid a line) and writes into $1 the sum
# of the last value seen of each; if any of their command lines matched
# $3, only those count.
sample_rchar() {
	local out=$1 pick=$2 only=${3:-}
	declare -A last=() cmd=()
	while [[ ! -e $out.stop ]]; do
		for p in $($pick); do
			v=$(rchar "$p" 2>/dev/null) || continue
			last[$p]=$v
			[[ -n ${cmd[$p]:-} ]] || cmd[$p]=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)
		done
		sleep 0.1
	done
	local sum=0 any=0
	if [[ -n $only ]]; then
		for p in "${!last[@]}"; do [[ ${cmd[$p]:-} =~ $only ]] && any=1; done
	fi
	for p in "${!last[@]}"; do
		((any == 0)) || [[ ${cmd[$p]:-} =~ $only ]] && sum=$((sum + last[$p]))
	done
	echo "$sum" > "$out"
}
# pgBackRest reads the files in its "local" processes and passes them to
# the main one through a pipe, whose reads count in rchar too: only the
# locals count (all pgbackrest processes if there are none)
pick_pgbackrest() { pgrep -x pgbackrest || true; }
PGBR_LOCAL=:local

# pgBackRest's settings, as its environment variables; archive-check=n: the
# WAL goes to revrx's archive, and only the data files are compared here
PGBR_ENV=(
	PGBACKREST_STANZA=bench PGBACKREST_REPO1_PATH="$PGBR_REPO" PGBACKREST_REPO1_RETENTION_FULL=10
	PGBACKREST_PG1_PATH="$PGDATA" PGBACKREST_PG1_PORT="$PORT" PGBACKREST_PG1_SOCKET_PATH="$WORK"
	PGBACKREST_LOG_PATH="$WORK" PGBACKREST_LOCK_PATH="$WORK" PGBACKREST_LOG_LEVEL_CONSOLE=warn
	PGBACKREST_START_FAST=y PGBACKREST_COMPRESS_TYPE=none PGBACKREST_ARCHIVE_CHECK=n
)
pgbr() { aspg env "${PGBR_ENV[@]}" pgbackrest "$@"; }
pick_walsender() { pgrep -f 'postgres: walsender' || true; }

# Runs "$@" timed while sampling the rchar of the processes `pick` names
# (only those whose command line matches `only`, if any does); sets SECS
# and READ.
SECS=0; READ=0
sampled() {
	local pick=$1 only=$2 f=$WORK/sample.$RANDOM t0
	shift 2
	sample_rchar "$f" "$pick" "$only" &
	local sampler=$!
	t0=$(now)
	"$@" >>"$OUT/run.log" 2>&1
	SECS=$(elapsed "$t0")
	touch "$f.stop"
	wait "$sampler"
	READ=$(cat "$f")
}

ROWS=()
row() { # tool, read bytes, stored bytes, seconds, note
	ROWS+=("$1|$2|$3|$4|$5")
	log "$1: read $(awk -v b="$2" 'BEGIN{printf "%.1f", b/1e6}') MB, stored $(awk -v b="$3" 'BEGIN{printf "%.1f", b/1e6}') MB, $4 s ${5:+($5)}"
}

# ------------------------------------------------------------ the cluster
rm -rf "$WORK"
mkdir -p "$WORK" "$SPOOL" "$RVX_REPO" "$PGBR_REPO" "$OUT"
chown -R postgres: "$WORK"
log "initdb, pgbench -i -s $SCALE ($(${PGBIN}/postgres --version), $(pgbackrest version))"
aspg "$PGBIN/initdb" -D "$PGDATA" --data-checksums --auth=trust -U postgres >/dev/null
pg_conf_head "$PGDATA"
cat >> "$PGDATA/postgresql.conf" <<EOF
logging_collector = on
log_directory = 'log'
log_filename = 'postgres.log'
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
summarize_wal = on
revrx.compression = 'none'
revrx.fingerprint_database = ''
EOF
pg_conf_revrx "$PGDATA"
pg_start
agent_start "$WORK/agent.log"
sql "CREATE EXTENSION revrx"
sql "CREATE DATABASE bench"
aspg pgbench -i -q -s "$SCALE" bench >>"$OUT/run.log" 2>&1
if ((COLD_MB > 0)); then
	# rows of about 540 bytes on disk: 15 to an 8 kB page
	sql "CREATE TABLE cold AS SELECT g AS id, repeat('c', 500) AS pad FROM generate_series(1, $((COLD_MB * 1000000 / 540))) g" bench
	sql "VACUUM cold" bench
fi
pgbr stanza-create >>"$OUT/run.log" 2>&1
DBSIZE=$(sql "SELECT pg_database_size('bench')")
log "database bench: $(sql "SELECT pg_size_pretty($DBSIZE::bigint)")"

WORKER_PID=""
revrx_backup() { # label incremental(true|false): sets ID, SECS, READ
	local t0 r0
	sql "CHECKPOINT"
	WORKER_PID=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'revrx'")
	r0=$(rchar "$WORKER_PID")
	t0=$(now)
	ID=$(sql "SELECT revrx_backup_now('$1', wait => true, incremental => $2)")
	SECS=$(elapsed "$t0")
	READ=$(( $(rchar "$WORKER_PID") - r0 ))
}
# the exporter's own line about backup $1, and a field of its record
exported() { grep -h "revrx backup $1 exported" "$PGDATA/log/postgres.log" | sed 's/.*exported: //'; }
record_field() {
	agent_env "$REVRX_AGENT" list --json |
		perl -MJSON::PP -0e '$d = decode_json(<STDIN>); for (@{$d->{backups}}) { next unless $_->{id} eq $ARGV[0]; $v = $_; $v = $v->{$_} for split /\./, $ARGV[1]; print $v // "" }' "$1" "$2"
}
load() { # pgbench options: prints "<transactions> <tps>"
	aspg pgbench -n -c 2 -j 2 "$@" bench 2>&1 | tee -a "$OUT/run.log" |
		awk '/actually processed/{split($0, a, ": "); n = a[2]} /^tps/{t = $3} END{printf "%d %.0f", n, t}'
}

# ------------------------------------------------------------ round 1
log "round 1: full backups"
revrx_backup full1 false
log "revrx full $ID: $SECS s, worker read $READ bytes"
sql "CHECKPOINT"
pgbr --type=full backup >>"$OUT/run.log" 2>&1
sql "CHECKPOINT"
aspg pg_basebackup -D "$BB/full" -Fp -X none -c fast >>"$OUT/run.log" 2>&1
read -r TX TPS1 <<<"$(load -T "$LOAD_S")"
log "round 1: $LOAD_S s of pgbench, $TX transactions at $TPS1 tps"

revrx_backup incr1 true
row "revrx, WAL summaries" "$READ" "$(dsize "$RVX_REPO/backup/$ID")" "$SECS" \
	"$(record_field "$ID" block_source); $(record_field "$ID" delta.files_unread) of $(record_field "$ID" delta.files) relation files unread; exporter: $(exported "$ID")"

sql "CHECKPOINT"
sampled pick_pgbackrest "$PGBR_LOCAL" pgbr --type=incr backup
PGBR_LABEL=$(cd "$PGBR_REPO/backup/bench" && ls -d *I | sort | tail -1)
PGBR_COPIED=$(pgbr info --output=json | perl -MJSON::PP -0e '$i = decode_json(<STDIN>); print $i->[0]{backup}[-1]{info}{delta}')
row "pgBackRest --type=incr" "$READ" "$(dsize "$PGBR_REPO/backup/bench/$PGBR_LABEL")" "$SECS" \
	"copies changed files whole: $(awk -v b="$PGBR_COPIED" 'BEGIN{printf "%.1f", b/1e6}') MB by its own count"

sql "CHECKPOINT"
sampled pick_walsender "" aspg pg_basebackup -D "$BB/incr" -Fp -X none -c fast \
	--incremental="$BB/full/backup_manifest"
row "pg_basebackup --incremental" "$READ" "$(dsize "$BB/incr")" "$SECS" "plain format, no WAL"

# ------------------------------------------------------------ round 2
log "round 2: a new revrx full backup, the same load, summarize_wal off"
revrx_backup full2 false
read -r TX2 TPS2 <<<"$(load -t $((TX / 2)))"
log "round 2: the same $TX2 transactions of pgbench at $TPS2 tps"
sql "ALTER SYSTEM SET summarize_wal = off"
sql "SELECT pg_reload_conf()" >/dev/null
sleep 1
revrx_backup incr2 true
row "revrx, page LSN scan" "$READ" "$(dsize "$RVX_REPO/backup/$ID")" "$SECS" \
	"$(record_field "$ID" block_source) ($(record_field "$ID" block_source_reason)); exporter: $(exported "$ID")"

# ------------------------------------------------------------ summary
{
	echo "PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'), pgBackRest $(pgbackrest version | awk '{print $2}'), scale $SCALE$( ((COLD_MB > 0)) && echo " plus a $COLD_MB MB table the load does not touch") ($(awk -v b="$DBSIZE" 'BEGIN{printf "%.0f", b/1e6}') MB database), $LOAD_S s of pgbench -c 2 ($TX transactions at $TPS1 tps; round 2: $TX2 at $TPS2 tps), $(nproc) cores shared with other work."
	echo
	echo "| incremental | read (MB) | read / database | stored (MB) | time (s) | notes |"
	echo "|---|---:|---:|---:|---:|---|"
	for r in "${ROWS[@]}"; do
		IFS='|' read -r tool rd st s note <<<"$r"
		printf '| %s | %.1f | %.3f | %.1f | %s | %s |\n' "$tool" \
			"$(awk -v b="$rd" 'BEGIN{print b/1e6}')" "$(awk -v b="$rd" -v d="$DBSIZE" 'BEGIN{print b/d}')" \
			"$(awk -v b="$st" 'BEGIN{print b/1e6}')" "$s" "$note"
	done
} > "$OUT/summary.md"
cat "$OUT/summary.md"
