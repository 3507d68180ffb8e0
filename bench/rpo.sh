#!/bin/bash
#-------------------------------------------------------------------------
#
# rpo.sh
#	  The recovery point exposure under unthrottled pgbench, and what it
#	  costs, for the tools a user would pick, in one run on the same
#	  workload:
#
#	  revrx          archive module + partial WAL streaming (revrx.partial_interval)
#	  revrx-archive  the same without partials (revrx.partial_interval = 0)
#	  pgbr-async     pgBackRest archive-push --archive-async (no partial mode)
#	  receivewal     pg_receivewal --synchronous into a directory, with a
#	                 replication slot (archive_mode off: it replaces archiving)
#
#	  The three archivers store into the same S3 test server (tests/s3,
#	  over TLS, since pgBackRest speaks only https to S3), with zstd level
#	  3; pg_receivewal writes files on the same disk.
#
# What is measured, per run (a fresh copy of one template cluster):
#	- exposure: every ~100 ms one psql session samples the primary's flush
#	  position; the exposure at that moment is its age minus the age of the
#	  protected position P: now minus the time the flush first passed P
#	  (interpolated), 0 when P is at the flush position.  P is the end of
#	  the WAL stored in the object store without a gap (from the S3
#	  server's log of stored objects, timestamped as each line arrives:
#	  revrx's segments and streamed ranges, pgBackRest's segments), or
#	  pg_receivewal's flushed position (pg_stat_replication.flush_lsn).
#	  The same rule for every tool, independent of what a tool says of
#	  itself; for revrx, revrx_status().rpo_seconds is reported beside it.
#	  p50, p99, max over the load, its first WARMUP seconds left out.
#	- TPS (pgbench), and CPU per transaction: the server's processes and
#	  whatever it forks (archive_command, pgBackRest's async process) plus
#	  the sidecar (revrx-agent, pg_receivewal), from cpuacct cgroups.  The
#	  S3 server's CPU is not counted (a remote service in production).
#	- S3 requests per minute, counted in the S3 server's log.
#
# The modes run interleaved, their order rotating per round; summary.md has
# every run and the medians per mode with ratios to revrx-archive.  On a
# shared machine the TPS of separate runs swings by tens of percent with
# the other tenants' load, so the cost of partials is measured once more,
# paired (ab_overhead below): TPS and CPU per transaction with and without
# partials in alternating short phases on one server.
#
# Run as root from the repository root after `make install` (the servers
# run as postgres).  PostgreSQL and revrx are the ones of the pg_config on
# PATH (install into a private copy to measure one build while others
# install theirs: PATH=$copy/usr/lib/postgresql/15/bin:$PATH).  Needs
# pgbackrest, perl, python3, openssl, node (the S3 server).  Writes
# $OUT/summary.md, $OUT/raw.csv and $OUT/runs/; stops everything it
# started on exit, by PID.
#
# Knobs: RUNS (3), DURATION (seconds of load per run, 60), WARMUP (5),
# SCALE (pgbench scale, 10), CLIENTS ("-c 4 -j 2"), MODES (the four above),
# PARTIAL_INTERVAL (500ms), OVERHEAD_PAIRS (10; 0: none), OVERHEAD_PHASE
# (15 s), WORK, OUT, PORT, KEEP_DATA (1: WORK stays after the run; 0:
# removed).  The shared pieces are in bench/lib.sh.
#
#-------------------------------------------------------------------------
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-5}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-"-c 4 -j 2"}
MODES=${MODES:-"revrx revrx-archive pgbr-async receivewal"}
PARTIAL_INTERVAL=${PARTIAL_INTERVAL:-500ms}
OVERHEAD_PAIRS=${OVERHEAD_PAIRS:-10}
OVERHEAD_PHASE=${OVERHEAD_PHASE:-15}
WORK=${WORK:-/tmp/revrx-rpobench}
OUT=${OUT:-$here/bench/results/rpo-$(date -u +%Y%m%dT%H%M%SZ)}
PORT=${PORT:-55435}
SEGSIZE=16777216
bindir=$(pg_config --bindir)
agent=$bindir/revrx-agent
[ -x "$agent" ] || agent=$(command -v revrx-agent)
CG=/sys/fs/cgroup/cpuacct/revrx-rpobench-$$
PGBIN=$bindir
SOCK=$WORK
PGDATA=$WORK/data
KEEP_DATA=${KEEP_DATA:-1}
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
bench_init /tmp /var/tmp
for c in pgbackrest perl python3 openssl node setpriv; do
	command -v "$c" >/dev/null || { echo "missing: $c" >&2; exit 1; }
done

psql_pg() { aspg "$bindir/psql" -X -qAt -h "$WORK" -p "$PORT" -v ON_ERROR_STOP=1 -d postgres "$@"; }

# ------------------------------------------------------------ processes we start
pids=()			# stopped by PID on exit
TOOL_PID=""
cg_setup pg tool
# start_tool LOG CMD...: CMD as postgres in the background, counted in
# "tool"; a simple command whose every step execs (bash -c, setpriv, env),
# so that $! is CMD itself and stop_tool signals it, not a wrapper
start_tool()
{
	local logf=$1
	shift
	cg_pre tool
	"${CG_PRE[@]}" setpriv --reuid=postgres --regid=postgres --init-groups env HOME="$WORK" "$@" \
		>"$logf" 2>&1 </dev/null &
	TOOL_PID=$!
}

stop_tool()
{
	[ -n "$TOOL_PID" ] || return 0
	stop_pid "$TOOL_PID" INT
	TOOL_PID=""
}

# the server, then pgBackRest's async process when it has finished its queue
stop_server()
{
	pg_stop
	wait_leftovers pg
}

# (bench_exit) the sidecar first; after the server, the S3 server and its log reader
bench_before_stop() { stop_tool; }
bench_after_stop()
{
	wait_leftovers pg
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -f "$WORK/s3/s3.pid" ] && kill "$(cat "$WORK/s3/s3.pid")" 2>/dev/null
	wait 2>/dev/null
}
bench_traps

rm -rf "$WORK"
mkdir -p "$WORK/tls" "$OUT/runs"
chown postgres: "$WORK"
[ "$CG_OK" = 1 ] || log "cpuacct cgroups not available: CPU figures are NA"

# ------------------------------------------------------------ the S3 server, over TLS
# a self-signed certificate for 127.0.0.1, which both clients are given as
# their CA (as an IP address for curl, as a name for pgBackRest's check)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1,DNS:127.0.0.1 >/dev/null 2>&1 || exit 1
chown -R postgres: "$WORK/tls"
S3RVER_VERBOSE=1 S3RVER_TLS_KEY="$WORK/tls/key.pem" S3RVER_TLS_CERT="$WORK/tls/cert.pem" \
	aspg "$here/tests/s3/start-s3.sh" "$WORK/s3" "$WORK/s3/port" >/dev/null || exit 1
s3port=$(cat "$WORK/s3/port")
# every line of its log with the time it arrived: the log has none
perl -MTime::HiRes=time -e 'open(my $f, "-|", "tail", "-F", "-n", "+1", $ARGV[0]) or die "tail: $!";
	$| = 1; while (<$f>) { printf "%.3f %s", time, $_ }' "$WORK/s3/s3.log" >"$WORK/s3/s3.tlog" 2>/dev/null &
pids+=("$!")
sleep 0.5
for p in $(pgrep -P "${pids[-1]}"); do pids+=("$p"); done

# ------------------------------------------------------------ the template cluster
aspg "$bindir/initdb" --data-checksums -D "$WORK/template" >/dev/null || exit 1
pg_conf_head "$WORK/template"
cat >>"$WORK/template/postgresql.conf" <<EOF
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 15min
EOF
aspg "$bindir/pg_ctl" -D "$WORK/template" -l "$WORK/template.log" -w start >/dev/null || exit 1
aspg "$bindir/pgbench" -h "$WORK" -p "$PORT" -i -q -s "$SCALE" postgres >/dev/null 2>&1
aspg "$bindir/pg_ctl" -D "$WORK/template" -w stop >/dev/null

{
	echo "# rpo.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(nproc) cores, $(uname -r); $(pg_config --version); $(pgbackrest version); revrx-agent $("$agent" --version 2>/dev/null | head -1)"
	echo "revrx binaries: $(sha256sum "$(pg_config --pkglibdir)/revrx.so" "$agent" | awk '{ print substr($1, 1, 12) }' | tr '\n' ' ')"
} >"$OUT/env.txt"
echo "round,mode,valid,tps,transactions,exp_p50,exp_p99,exp_max,samples,rpo_p50,rpo_p99,rpo_max,s3_req_per_min,server_cpu_s,tool_cpu_s,exporter_cpu_s,cpu_us_per_txn,load_before,load_after" >"$OUT/raw.csv"

# ------------------------------------------------------------ one run
pgbr_s3_conf()
{
	pgbr_conf "$WORK/pgbackrest.conf" repo1-type=s3 repo1-path="/pgbr-$1" repo1-s3-bucket=testbkt \
		repo1-s3-endpoint=127.0.0.1 repo1-storage-port="$s3port" repo1-s3-region=us-east-1 \
		repo1-s3-key=S3RVER repo1-s3-key-secret=S3RVER repo1-s3-uri-style=path \
		repo1-storage-ca-file="$WORK/tls/cert.pem" compress-type=zst compress-level=3 archive-async=y \
		process-max=2 spool-path="$WORK/run/pgbr-spool" log-path="$WORK/run/pgbr-log" \
		lock-path="$WORK/run/pgbr-lock" log-level-console=warn log-level-file=info
}

# start_mode TAG MODE: a fresh copy of the template archiving as MODE, its
# sidecar, and every segment before now stored.  Sets dir, prefix (of the
# tool's S3 keys), rpo_col (revrx's own view, for the sampler), valid,
# base (the LSN stored up to), load_before.
dir="$WORK/run"
start_mode()
{
	local tag=$1 mode=$2
	prefix=none
	rpo_col="NULL"
	valid=yes
	rm -rf "$dir" "$WORK/data"
	mkdir -p "$dir/spool" "$dir/rx" "$dir/pgbr-spool" "$dir/pgbr-log" "$dir/pgbr-lock"
	cp -a "$WORK/template" "$WORK/data"
	chown -R postgres: "$dir" "$WORK/data"
	load_before=$(cut -d' ' -f1 /proc/loadavg)

	case $mode in
		revrx|revrx-archive)
			local interval=$PARTIAL_INTERVAL
			[ "$mode" = revrx-archive ] && interval=0
			pg_conf_revrx "$WORK/data" "$dir/spool"
			cat >>"$WORK/data/postgresql.conf" <<EOF
revrx.partial_interval = '$interval'
EOF
			prefix=$tag
			rpo_col="(SELECT rpo_seconds FROM revrx_status())"
			;;
		pgbr-async)
			pgbr_s3_conf "$tag"
			cat >>"$WORK/data/postgresql.conf" <<EOF
archive_mode = on
archive_command = 'pgbackrest --config=$WORK/pgbackrest.conf --stanza=bench archive-push %p'
EOF
			prefix=pgbr-$tag
			;;
		receivewal)
			echo "archive_mode = off" >>"$WORK/data/postgresql.conf"
			prefix=none
			;;
		*)
			log "unknown mode $mode"
			return 1
			;;
	esac

	cg_exec pg runuser -u postgres -- "$bindir/pg_ctl" -D "$WORK/data" -l "$dir/server.log" -w start >/dev/null || return 1
	case $mode in
		revrx|revrx-archive)
			psql_pg -c 'CREATE EXTENSION revrx'
			start_tool "$dir/agent.log" REVRX_REPO="s3://testbkt/$tag" REVRX_SPOOL="$dir/spool" \
				REVRX_S3_ENDPOINT="https://127.0.0.1:$s3port" REVRX_S3_URI_STYLE=path \
				REVRX_S3_CA_FILE="$WORK/tls/cert.pem" \
				AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 \
				REVRX_LOG_LEVEL=debug "$agent" run
			;;
		pgbr-async)
			aspg pgbackrest --config="$WORK/pgbackrest.conf" --stanza=bench stanza-create >"$dir/stanza.log" 2>&1 ||
				{ log "stanza-create failed: $(tail -3 "$dir/stanza.log")"; valid=no; }
			;;
		receivewal)
			aspg "$bindir/pg_receivewal" -h "$WORK" -p "$PORT" -S rpobench --create-slot >/dev/null 2>&1
			start_tool "$dir/receivewal.log" "$bindir/pg_receivewal" -h "$WORK" -p "$PORT" -S rpobench \
				-D "$dir/rx" --synchronous --no-loop
			;;
	esac

	# a known start: every segment before the load is stored
	local seg
	psql_pg -c 'CHECKPOINT' >/dev/null
	seg=$(psql_pg -c 'SELECT pg_walfile_name(pg_switch_wal())')
	psql_pg -c 'SELECT txid_current()' >/dev/null
	for _ in $(seq 1 600); do
		if [ "$mode" = receivewal ]; then
			[ "$(psql_pg -c "SELECT coalesce(bool_or(flush_lsn >= pg_current_wal_flush_lsn()), false) FROM pg_stat_replication")" = t ] && break
		else
			[ "$(psql_pg -c "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver")" = t ] && break
		fi
		sleep 0.1
	done
	base=$(python3 -c "s='$seg'; print((int(s[8:16], 16) * 256 + int(s[16:24], 16) + 1) * $SEGSIZE)")
	return 0
}

# CPU ticks of the WAL exporter (0 when there is none)
exporter_ticks()
{
	local pm p
	pm=$(head -1 "$WORK/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
	for p in $(pgrep -P "$pm"); do
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'revrx wal exporter'; then
			awk '{ print $14 + $15 }' "/proc/$p/stat"
			return
		fi
	done
	echo 0
}

run_one()
{
	local round=$1 mode=$2
	local tag="$round-$mode"
	start_mode "$tag" "$mode" || return 1

	# the sampler: one session, a query every 100 ms, until $dir/stop exists
	local q="SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_flush_lsn() - '0/0'::pg_lsn, (SELECT flush_lsn - '0/0'::pg_lsn FROM pg_stat_replication WHERE application_name = 'pg_receivewal' LIMIT 1), $rpo_col;"
	(while [ ! -e "$dir/stop" ]; do echo "$q"; sleep 0.1; done |
		aspg "$bindir/psql" -X -qAt -F, -h "$WORK" -p "$PORT" postgres >"$dir/samples.csv" 2>"$dir/sampler.err") &
	local sampler=$!
	sleep 0.5

	local t0 t1 pg0 pg1 tool0 tool1 ex0 ex1
	pg0=$(cg_seconds pg)
	tool0=$(cg_seconds tool)
	ex0=$(exporter_ticks)
	t0=$(now)
	# shellcheck disable=SC2086
	aspg "$bindir/pgbench" -h "$WORK" -p "$PORT" -n $CLIENTS -T "$DURATION" postgres >"$dir/pgbench.txt" 2>&1
	t1=$(now)
	pg1=$(cg_seconds pg)
	tool1=$(cg_seconds tool)
	ex1=$(exporter_ticks)
	sleep 1			# what was committed at the end reaches the repository
	touch "$dir/stop"
	wait "$sampler" 2>/dev/null

	local tps txn stats server_s tool_s cpu_txn load_after exporter_s
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/pgbench.txt" | head -1)
	txn=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/pgbench.txt")
	[ -n "$tps" ] && [ -n "$txn" ] || { log "pgbench failed: $(tail -3 "$dir/pgbench.txt")"; valid=no; tps=NA; txn=0; }
	stats=$(python3 "$here/bench/rpo_exposure.py" run "$mode" "$dir/samples.csv" "$WORK/s3/s3.tlog" \
		"$prefix" "$base" "$t0" "$t1" "$WARMUP" "$SEGSIZE")
	server_s=$(awk -v a="$pg0" -v b="$pg1" 'BEGIN { if (a == "NA") print "NA"; else printf "%.1f", b - a }')
	tool_s=$(awk -v a="$tool0" -v b="$tool1" 'BEGIN { if (a == "NA") print "NA"; else printf "%.1f", b - a }')
	cpu_txn=$(awk -v s="$server_s" -v t="$tool_s" -v n="$txn" 'BEGIN { if (s == "NA" || n == 0) print "NA"; else printf "%.0f", (s + t) * 1e6 / n }')
	exporter_s=$(awk -v a="$ex0" -v b="$ex1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
	load_after=$(cut -d' ' -f1 /proc/loadavg)
	# the installed module may be another build (it is shared): then this run says nothing
	grep -q 'invalid configuration parameter name "revrx.partial_interval"' "$dir/server.log" && valid=no
	eval "$stats"
	echo "$round,$mode,$valid,$tps,$txn,$exp_p50,$exp_p99,$exp_max,$samples,$rpo_p50,$rpo_p99,$rpo_max,$s3_req_per_min,$server_s,$tool_s,$exporter_s,$cpu_txn,$load_before,$load_after" | tee -a "$OUT/raw.csv"

	stop_tool
	stop_server
	[ "$mode" = receivewal ] && rm -rf "$dir/rx"
	mkdir -p "$OUT/runs/$tag"
	cp "$dir/pgbench.txt" "$dir/samples.csv" "$dir/server.log" "$OUT/runs/$tag/"
	[ -f "$dir/agent.log" ] && gzip -c "$dir/agent.log" >"$OUT/runs/$tag/agent.log.gz"
	[ -f "$dir/receivewal.log" ] && cp "$dir/receivewal.log" "$OUT/runs/$tag/"
	[ -d "$dir/pgbr-log" ] && tar -czf "$OUT/runs/$tag/pgbackrest-log.tar.gz" -C "$dir" pgbr-log 2>/dev/null
	return 0
}

# The TPS cost of partials, paired: one server archiving with revrx (the
# agent on S3 as in mode revrx), OVERHEAD_PAIRS pairs of OVERHEAD_PHASE-s
# pgbench phases, revrx.partial_interval = PARTIAL_INTERVAL in one half and
# 0 in the other (reloaded in between, the order alternating per pair), so
# that the other tenants' load, which drifts over minutes, weighs on both
# halves of a pair alike.  The separate runs above cannot show a difference
# of a few percent on a shared machine; the ratios of the pairs can.
ab_overhead()
{
	local pair half order iv pg0 pg1 tool0 tool1 ex0 ex1 tps txn
	start_mode ab revrx || return 1
	echo "pair,partials,tps,transactions,server_cpu_s,tool_cpu_s,exporter_cpu_s,load" >"$OUT/overhead.csv"
	for pair in $(seq 1 "$OVERHEAD_PAIRS"); do
		order="on off"
		[ $((pair % 2)) = 0 ] && order="off on"
		for half in $order; do
			iv=$PARTIAL_INTERVAL
			[ "$half" = off ] && iv=0
			psql_pg -c "ALTER SYSTEM SET revrx.partial_interval = '$iv'"
			psql_pg -c 'SELECT pg_reload_conf()' >/dev/null
			sleep 1
			pg0=$(cg_seconds pg)
			tool0=$(cg_seconds tool)
			ex0=$(exporter_ticks)
			# shellcheck disable=SC2086
			aspg "$bindir/pgbench" -h "$WORK" -p "$PORT" -n $CLIENTS -T "$OVERHEAD_PHASE" postgres >"$dir/pgbench.txt" 2>&1
			pg1=$(cg_seconds pg)
			tool1=$(cg_seconds tool)
			ex1=$(exporter_ticks)
			tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/pgbench.txt" | head -1)
			txn=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/pgbench.txt")
			awk -v p="$pair" -v h="$half" -v tps="${tps:-NA}" -v n="${txn:-0}" -v a="$pg0" -v b="$pg1" \
				-v c="$tool0" -v d="$tool1" -v e="$ex0" -v f="$ex1" -v hz="$(getconf CLK_TCK)" \
				-v l="$(cut -d' ' -f1 /proc/loadavg)" \
				'BEGIN { printf "%s,%s,%s,%s,%.2f,%.2f,%.2f,%s\n", p, h, tps, n, b - a, d - c, (f - e) / hz, l }' |
				tee -a "$OUT/overhead.csv"
		done
	done
	stop_tool
	stop_server
}

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$RUNS"); do
	# rotate the order by one per round so no mode always runs first
	modes=$(echo "$MODES" | awk -v r="$round" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
	for m in $modes; do
		run_one "$round" "$m" || log "run $round-$m failed"
	done
done
[ "$OVERHEAD_PAIRS" -gt 0 ] && { ab_overhead || log "the paired overhead runs failed"; }
gzip -c "$WORK/s3/s3.tlog" >"$OUT/s3.tlog.gz"

{
	echo "# rpo.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
	echo
	echo "pgbench $CLIENTS -T $DURATION, scale $SCALE, unthrottled; revrx.partial_interval = $PARTIAL_INTERVAL;"
	echo "S3 test server on 127.0.0.1 over TLS; exposure sampled every 100 ms, the first $WARMUP s left out."
	echo
	echo "Medians over the rounds (ratios: to revrx-archive):"
	echo
	python3 "$here/bench/rpo_exposure.py" summary "$OUT/raw.csv" revrx-archive
	if [ -s "$OUT/overhead.csv" ]; then
		echo
		echo "The cost of partials, paired ($OVERHEAD_PAIRS pairs of $OVERHEAD_PHASE s on one server, partial_interval $PARTIAL_INTERVAL vs 0):"
		echo
		python3 "$here/bench/rpo_exposure.py" overhead "$OUT/overhead.csv"
	fi
	echo
	echo "Every run:"
	echo
	echo "| $(head -1 "$OUT/raw.csv" | sed 's/,/ | /g') |"
	echo "|$(head -1 "$OUT/raw.csv" | sed 's/[^,]*/---/g; s/,/|/g')|"
	tail -n +2 "$OUT/raw.csv" | sed 's/,/ | /g; s/^/| /; s/$/ |/'
} >"$OUT/summary.md"
cat "$OUT/summary.md"
