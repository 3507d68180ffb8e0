#!/bin/bash
#
# matrix.sh: build and test revrx against the PostgreSQL majors that other
# Debian releases ship, each in a Debian root of that release.
#
# Usage: scripts/matrix.sh [RELEASE ...]        (default: trixie sid)
#
#   trixie   Debian 13, PostgreSQL 17
#   sid      Debian unstable, PostgreSQL 18
#   PG_MAJOR=16 scripts/matrix.sh RELEASE   a major other than the release's
#            own, wherever a package of it can be installed (its root is then
#            named RELEASE-pg16)
#
# Environment:
#   MATRIX_SUITES     suites of tests/run-tests.sh to run in each root
#                     (default "unit regress tap"; fuzzing stays on the host:
#                     the parsers it exercises do not depend on the server)
#   MATRIX_TAP_TESTS  TAP files (default: all of tests/t)
#   REVRX_ROOTS       where the roots are kept between runs
#                     (default /var/cache/revrx/roots)
#   MATRIX_MIRROR     the Debian mirror (default: the one this machine's apt
#                     uses for Debian)
#
# A root is made once with debootstrap, filled by scripts/install-deps.sh,
# and marked complete; later runs reuse it, and one that is not marked
# complete or no longer runs a shell is made again.  Each run enters the
# root with chroot inside a private mount namespace (unshare), with /dev
# bound, /proc and a tmpfs on /dev/shm mounted: the mounts vanish with the
# namespace, so nothing stays mounted on the host however the run ends, and
# a root can be removed without reaching through a mount into the host.
# The tree is copied into the root's /revrx (without .git and build
# output), built and installed there by scripts/build.sh (as the container
# image is built) with that major's pg_config, and tested with
# tests/run-tests.sh, as `make test` does on the host.
#
# Prints one summary line per root and ends with "matrix: N passed, N
# failed"; exits non-zero if any root failed to build or test.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
roots=${REVRX_ROOTS:-/var/cache/revrx/roots}
suites=${MATRIX_SUITES:-"unit regress tap"}
tap_tests=${MATRIX_TAP_TESTS:-}
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(trixie sid)

if [ "$(id -u)" -ne 0 ]; then
	echo "matrix: must run as root (debootstrap, chroot, mounts)" >&2
	exit 2
fi

# The mirror this machine's apt takes Debian from: its sources name it, so
# the roots use the same one.
debian_mirror() {
	if [ -n "${MATRIX_MIRROR:-}" ]; then
		echo "$MATRIX_MIRROR"
		return
	fi
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]+/debian/?( |$)' |
		grep -v -- '-security' | head -n 1 | tr -d ' '
}

log() { echo "matrix: $*"; }

# Run a command in a root, in a private mount namespace.
in_root() {
	local root=$1
	shift
	unshare --mount --propagation private /bin/bash -s "$root" "$@" <<-'EOF'
		set -e
		root=$1
		shift
		mount --rbind /dev "$root/dev"
		mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
		mount -t proc proc "$root/proc"
		# (never through a link a test in the root may have left there)
		cp -L --remove-destination /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
		# the root trusts what this machine trusts (a machine whose
		# registry traffic passes a TLS-inspecting proxy trusts its CA)
		ca=
		if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
			mkdir -p "$root/etc/ssl/certs"
			cp --remove-destination /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/revrx-host-ca.crt"
			ca=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/revrx-host-ca.crt
		fi
		exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 $ca \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			"$@"
	EOF
}

# Ends every process still running in a root: a test that was cut short
# leaves its daemonized postmasters behind, and they would hold the next
# run's ports and files.
kill_root_processes() {
	local root=$1 p pids=()
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
	done
	[ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2>/dev/null
	return 0
}

# Make (or reuse) the root of one release; prints nothing on reuse.
ensure_root() {
	local release=$1 root=$2 mirror
	if [ -f "$root/.revrx-root-complete" ] && chroot "$root" /bin/true 2>/dev/null; then
		return 0
	fi
	if [ -e "$root" ]; then
		log "$root is incomplete or damaged: making it again"
		# never through a mount (a run killed with its namespace alive)
		if grep -qF " $root/" /proc/mounts; then
			echo "matrix: $root still has mounts; not removing it" >&2
			return 1
		fi
		rm -rf --one-file-system "$root"
	fi
	mirror=$(debian_mirror)
	if [ -z "$mirror" ]; then
		echo "matrix: cannot find this machine's Debian mirror; set MATRIX_MIRROR" >&2
		return 1
	fi
	command -v debootstrap >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
		return 1
	log "making the $release root in $root"
	mkdir -p "$(dirname "$root")"
	debootstrap --variant=minbase "$release" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
		{ tail -n 20 "$root.debootstrap.log" >&2; return 1; }
	# Debian unstable's Release files may be past their Valid-Until on a
	# mirror that is a snapshot; the signatures are still checked.
	echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99revrx-matrix"
	touch "$root/.revrx-root-complete"
}

# Copy the tree into the root, keeping the S3 test server's npm modules
# from the last run (they depend only on package-lock.json).
copy_tree() {
	local root=$1 keep="$1/var/cache/revrx-s3-node_modules"
	if [ -d "$root/revrx/tests/s3/node_modules" ]; then
		rm -rf "$keep"
		mv "$root/revrx/tests/s3/node_modules" "$keep"
	fi
	rm -rf "$root/revrx"
	mkdir -p "$root/revrx"
	tar -C "$src" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=.deps --exclude=agent/obj --exclude=agent/revrx-agent \
		--exclude=tests/fuzz/obj --exclude=tests/s3/node_modules \
		--exclude=results --exclude=tmp_check --exclude=log \
		--exclude=regression.diffs --exclude=regression.out \
		-cf - . | tar -C "$root/revrx" -xf -
	[ -d "$keep" ] && mv "$keep" "$root/revrx/tests/s3/node_modules"
	return 0
}

# What a failed run said at its end: from its own "suites:" line on
# (run-tests.sh ends with the failing tests' lines), else its last lines.
# Printed again after every root has run, so that a log cut to its tail
# still says which test failed where.
why_failed() {
	local log=$1 name=$2
	[ -f "$log" ] || return 0
	echo "--- $name: the end of its run ($log)"
	if grep -q '^suites: ' "$log"; then
		sed -n '/^suites: /,$p' "$log" | grep -v '^test files kept' | head -n 40
	else
		tail -n 20 "$log"
	fi
}

passed=0
failed=0
summary=()
why=()
for release in "${releases[@]}"; do
	name=$release
	[ -n "${PG_MAJOR:-}" ] && name="$release-pg$PG_MAJOR"
	root="$roots/$name"
	start=$(date +%s)
	log "=== $name"
	rc=0
	# one run per root at a time: a second would remove the first's tree
	mkdir -p "$roots"
	exec {lock}>"$root.lock"
	if ! flock -n "$lock"; then
		echo "matrix: another run is using $root; waiting for it" >&2
		flock "$lock"
	fi
	ensure_root "$release" "$root" || rc=$?
	if [ $rc -eq 0 ]; then
		kill_root_processes "$root"
		copy_tree "$root"
		# the whole build and test, as `make test` does it on the host
		in_root "$root" /bin/bash -c '
			set -e
			cd /revrx
			[ -z "$0" ] || export PG_MAJOR=$0
			echo "matrix: on $(. /etc/os-release; echo "$PRETTY_NAME")"
			scripts/install-deps.sh --no-fuzz
			# the build of the container image (deploy/docker/Dockerfile)
			scripts/build.sh --runtime-packages /tmp/revrx-runtime-packages
			major=$(ls -d /usr/lib/postgresql/*/bin/postgres | sed "s|/usr/lib/postgresql/\([0-9]*\)/.*|\1|" | sort -n | tail -n 1)
			[ -z "$0" ] || major=$0
			[ -n "$major" ] || { echo "matrix: no PostgreSQL server in the root" >&2; exit 1; }
			export PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config
			SUITES="$1" TAP_TESTS="${2:-tests/t/*.pl}" tests/run-tests.sh
		' "${PG_MAJOR:-}" "$suites" "$tap_tests" 2>&1 | tee "$root.log"
		rc=${PIPESTATUS[0]}
	fi
	kill_root_processes "$root"
	exec {lock}>&-
	secs=$(($(date +%s) - start))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		summary+=("$name: passed in ${secs}s")
	else
		failed=$((failed + 1))
		summary+=("$name: FAILED (exit $rc) after ${secs}s")
		why+=("$(why_failed "$root.log" "$name")")
	fi
done

echo
for text in "${why[@]}"; do
	printf '%s\n' "$text"
done
for line in "${summary[@]}"; do
	log "$line"
done
echo "matrix: $passed passed, $failed failed"
[ $failed -eq 0 ]
