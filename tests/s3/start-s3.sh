#!/bin/sh
#-------------------------------------------------------------------------
#
# start-s3.sh DATA_DIR PORTFILE [BUCKETS]
#	  Starts the loopback S3 test server (run-s3rver.js) in the background.
#
# Installs the pinned server with `npm ci` the first time (node_modules
# missing), starts it in its own session on 127.0.0.1 with a free port,
# writes its pid to DATA_DIR/s3.pid and its log to DATA_DIR/s3.log, keeps
# the buckets' objects in DATA_DIR/data, waits until it listens and prints
# the port on stdout.  BUCKETS is a
# comma-separated list created at start (default "testbkt").
#
# Credentials: access key S3RVER, secret S3RVER, region us-east-1,
# path-style URLs http://127.0.0.1:PORT/BUCKET/KEY.  Extra environment for
# run-s3rver.js (S3RVER_TLS_KEY/CERT, S3RVER_KEY/SECRET, ...) is passed on.
#
# Stop it with: kill "$(cat DATA_DIR/s3.pid)"
#
# Exit status 0 once the server listens; 1 (with the end of the server's
# log on stderr) if it did not within 30 seconds or exited.
#
#-------------------------------------------------------------------------
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 DATA_DIR PORTFILE [BUCKETS]" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
datadir=$1
portfile=$2
buckets=${3:-testbkt}

command -v node >/dev/null 2>&1 || { echo "$0: node is not installed" >&2; exit 1; }

if [ ! -d "$here/node_modules/@20minutes/s3rver" ]; then
	# The lock file pins every package; npm ci installs exactly that.
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

mkdir -p "$datadir"
datadir=$(cd "$datadir" && pwd)
rm -f "$portfile"

# setsid: the server must not get the terminal's signals or die with the
# caller's process group.  Nothing may stand between setsid and node, so
# that $! is the server's own pid.
S3RVER_DIR="$datadir/data" S3RVER_PORT="${S3RVER_PORT:-0}" \
S3RVER_PORTFILE="$portfile" S3RVER_BUCKETS="$buckets" \
	setsid node --openssl-legacy-provider "$here/run-s3rver.js" \
	>"$datadir/s3.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$datadir/s3.pid"

i=0
while [ ! -s "$portfile" ]; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "$0: the S3 test server exited; its log:" >&2
		tail -n 20 "$datadir/s3.log" >&2
		exit 1
	fi
	i=$((i + 1))
	if [ "$i" -gt 300 ]; then
		echo "$0: the S3 test server did not start within 30 s; its log:" >&2
		tail -n 20 "$datadir/s3.log" >&2
		kill "$pid" 2>/dev/null || true
		exit 1
	fi
	sleep 0.1
done

cat "$portfile"
