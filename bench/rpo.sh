#!/bin/bash
#-------------------------------------------------------------------------
#
# rpo.sh
#	  What partial WAL streaming (revrx.partial_interval) buys and costs
#	  under unthrottled pgbench: the recovery point exposure
#	  (revrx_status().rpo_seconds sampled every 100 ms: p50, p99, max),
#	  pgbench TPS, the WAL exporter's CPU, and S3 requests per minute, with
#	  partial_interval = 1s and = 0, interleaved, RUNS rounds each.
#
# Run as root from the repository root after `make install` (the server
# runs as postgres).  Uses the S3 test server (tests/s3) as the repository,
# with request logging on, so requests are counted at the server.  Writes
# $OUT/summary.md and $OUT/raw.csv; stops everything it started on exit.
#
# Knobs: RUNS (2), DURATION (seconds of load per run, 60), SCALE (pgbench
# scale, 10), CLIENTS ("-c 4 -j 2"), MODES ("1s 0"), WORK, OUT, PORT.
# PostgreSQL and the agent are the ones of the pg_config on PATH: to
# measure one build while others install theirs, install into a private
# copy (make install DESTDIR=/tmp/root after copying /usr/lib/postgresql
# and /usr/share/postgresql there: PostgreSQL finds its files relative to
# its binaries) and put its bin first on PATH.
#
#-------------------------------------------------------------------------
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-2}
DURATION=${DURATION:-60}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-"-c 4 -j 2"}
MODES=${MODES:-"1s 0"}
WORK=${WORK:-/tmp/revrx-rpobench}
OUT=${OUT:-$here/bench/results/rpo-$(date -u +%Y%m%dT%H%M%SZ)}
PORT=${PORT:-55435}
bindir=$(pg_config --bindir)
agent=$bindir/revrx-agent
[ -x "$agent" ] || agent=$(command -v revrx-agent)

as_pg() { runuser -u postgres -- "$@"; }

pids=()
cleanup()
{
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -f "$WORK/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1
	[ -f "$WORK/s3/s3.pid" ] && kill "$(cat "$WORK/s3/s3.pid")" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT

rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"
chown postgres: "$WORK"

# the S3 server, logging every request
S3RVER_VERBOSE=1 as_pg "$here/tests/s3/start-s3.sh" "$WORK/s3" "$WORK/s3/port" >/dev/null || exit 1
s3port=$(cat "$WORK/s3/port")

# the template cluster
as_pg "$bindir/initdb" --data-checksums -D "$WORK/template" >/dev/null || exit 1
cat >>"$WORK/template/postgresql.conf" <<EOF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 15min
EOF
as_pg "$bindir/pg_ctl" -D "$WORK/template" -l "$WORK/template.log" -w start >/dev/null
as_pg "$bindir/pgbench" -h "$WORK" -p "$PORT" -i -q -s "$SCALE" postgres >/dev/null 2>&1
as_pg "$bindir/pg_ctl" -D "$WORK/template" -w stop >/dev/null

echo "round,mode,tps,rpo_p50,rpo_p99,rpo_max,samples,s3_requests_per_min,server_cpu_s,exporter_cpu_s,agent_cpu_s,s3_server_cpu_s,partials_stored,valid" >"$OUT/raw.csv"

# user + system CPU ticks of a process (its threads included), 0 if gone
cpu_ticks()
{
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# CPU ticks of the whole server: the postmaster, its children that exited
# (reaped: counted in its cutime/cstime) and those still running
server_ticks()
{
	local pm=$1 total child
	total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
	for child in $(pgrep -P "$pm"); do
		total=$((total + $(cpu_ticks "$child")))
	done
	echo "$total"
}

# one run: a fresh copy of the template, spool and bucket prefix
run_one()
{
	local round=$1 mode=$2
	local tag="$round-$mode" dir="$WORK/run"
	rm -rf "$dir" "$WORK/data"
	mkdir -p "$dir/spool"
	cp -a "$WORK/template" "$WORK/data"
	chown -R postgres: "$dir" "$WORK/data"
	cat >>"$WORK/data/postgresql.conf" <<EOF
shared_preload_libraries = 'revrx'
archive_mode = on
archive_library = 'revrx'
revrx.spool_dir = '$dir/spool'
revrx.partial_interval = '$mode'
EOF
	as_pg "$bindir/pg_ctl" -D "$WORK/data" -l "$dir/server.log" -w start >/dev/null || return 1
	as_pg "$bindir/psql" -X -q -h "$WORK" -p "$PORT" -c 'CREATE EXTENSION revrx' postgres

	runuser -u postgres -- env REVRX_REPO="s3://testbkt/$tag" REVRX_SPOOL="$dir/spool" \
		REVRX_S3_ENDPOINT="http://127.0.0.1:$s3port" REVRX_S3_URI_STYLE=path \
		AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 \
		REVRX_LOG_LEVEL=debug "$agent" run >"$dir/agent.log" 2>&1 &
	pids+=("$!")
	sleep 3
	# runuser forks: the agent is its child
	local agent_pid
	agent_pid=$(pgrep -n -f "^$agent run")

	# the sampler: one session, a query every 100 ms
	(while true; do
		echo "SELECT coalesce(rpo_seconds::text, 'NULL') FROM revrx_status();"
		sleep 0.1
	done | as_pg "$bindir/psql" -X -At -h "$WORK" -p "$PORT" postgres >"$dir/rpo.txt" 2>/dev/null) &
	local sampler=$!
	pids+=("$sampler")

	local s3_before
	s3_before=$(grep -cE ' [0-9]{3} [0-9.]+ms ' "$WORK/s3/s3.log" 2>/dev/null || echo 0)
	local exporter
	exporter=$(pgrep -f "revrx wal exporter" | head -1)
	local s3pid
	s3pid=$(cat "$WORK/s3/s3.pid")
	local cpu0=0 acpu0 scpu0 pm pcpu0
	pm=$(head -1 "$WORK/data/postmaster.pid")
	pcpu0=$(server_ticks "$pm")
	[ -n "$exporter" ] && cpu0=$(cpu_ticks "$exporter")
	acpu0=$(cpu_ticks "$agent_pid")
	scpu0=$(cpu_ticks "$s3pid")

	# shellcheck disable=SC2086
	as_pg "$bindir/pgbench" -h "$WORK" -p "$PORT" -n $CLIENTS -T "$DURATION" postgres >"$dir/pgbench.txt" 2>&1

	local cpu1=0 acpu1 scpu1 pcpu1
	sleep 0.5		# pgbench's backends exit and are reaped
	pcpu1=$(server_ticks "$pm")
	[ -n "$exporter" ] && cpu1=$(cpu_ticks "$exporter")
	acpu1=$(cpu_ticks "$agent_pid")
	scpu1=$(cpu_ticks "$s3pid")
	local s3_after
	s3_after=$(grep -cE ' [0-9]{3} [0-9.]+ms ' "$WORK/s3/s3.log" 2>/dev/null || echo 0)
	kill "$sampler" 2>/dev/null
	pkill -P "$sampler" 2>/dev/null

	local tps
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/pgbench.txt" | head -1)
	# the first 3 s are the start of the load; sort the rest
	local stats
	stats=$(tail -n +30 "$dir/rpo.txt" | grep -v NULL | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "NA NA NA 0"; exit }
			p50 = v[int(NR * 0.50) + (NR * 0.50 > int(NR * 0.50))]
			p99 = v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))]
			printf "%.3f %.3f %.3f %d\n", p50, p99, v[NR], NR
		}')
	local partials
	partials=$(grep -c 'stored "[0-9A-F]*\.[0-9A-F]*\.partial"' "$dir/agent.log")
	local hz
	hz=$(getconf CLK_TCK)
	local cpu_s agent_s s3_s server_s
	server_s=$(awk -v a="$pcpu0" -v b="$pcpu1" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz }')
	cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz }')
	agent_s=$(awk -v a="$acpu0" -v b="$acpu1" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz }')
	s3_s=$(awk -v a="$scpu0" -v b="$scpu1" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz }')
	local valid=yes
	# the installed module may be another build (it is shared): then this run says nothing
	grep -q 'invalid configuration parameter name "revrx.partial_interval"' "$dir/server.log" && valid=no
	local reqs
	reqs=$(awk -v a="$s3_before" -v b="$s3_after" -v d="$DURATION" 'BEGIN { printf "%.0f", (b - a) * 60 / d }')
	set -- $stats
	echo "$round,$mode,$tps,$1,$2,$3,$4,$reqs,$server_s,$cpu_s,$agent_s,$s3_s,$partials,$valid" | tee -a "$OUT/raw.csv"

	kill "$agent_pid" 2>/dev/null
	wait 2>/dev/null
	as_pg "$bindir/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null
	mkdir -p "$OUT/runs/$tag"
	cp "$dir/pgbench.txt" "$dir/rpo.txt" "$dir/server.log" "$OUT/runs/$tag/"
	gzip -c "$dir/agent.log" >"$OUT/runs/$tag/agent.log.gz"
}

for round in $(seq 1 "$RUNS"); do
	# rotate the order by one per round so no mode always runs first
	modes=$(echo "$MODES" | awk -v r="$round" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
	for m in $modes; do
		run_one "$round" "$m" || echo "run $round-$m failed"
	done
done

{
	echo "# rpo.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "pgbench $CLIENTS -T $DURATION, scale $SCALE, unthrottled; S3 test server on 127.0.0.1"
	echo
	echo "| round | partial_interval | TPS | rpo p50 (s) | rpo p99 (s) | rpo max (s) | samples | S3 requests/min | server CPU (s) | exporter CPU (s) | agent CPU (s) | S3 server CPU (s) | partials stored | valid |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	tail -n +2 "$OUT/raw.csv" | sed 's/,/ | /g; s/^/| /; s/$/ |/'
} >"$OUT/summary.md"
cat "$OUT/summary.md"
