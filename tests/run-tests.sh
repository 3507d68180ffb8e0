#!/bin/bash
#
# run-tests.sh: run every revrx test against the installed build.
#
# `make test` calls this after `make install`.  Suites:
#   unit     the include layering (scripts/check-includes.sh), then the
#            agent and format unit tests (cmocka), no PostgreSQL needed
#   fuzz     libFuzzer targets of the parsers of untrusted input, each for
#            FUZZ_SECONDS (default 12) seconds (tests/fuzz/run-fuzz.sh)
#   regress  pg_regress on the SQL surface, in a throwaway instance
#   tap      TAP tests (PostgreSQL::Test::Cluster): real clusters, real
#            agent, a real S3-compatible server on 127.0.0.1
#   matrix   the same build, unit, pg_regress and the TAP files of the main
#            paths ($matrix_tap below) on PostgreSQL 17 and 18, each in a
#            Debian root (scripts/matrix.sh; `make test-matrix` runs every
#            TAP file there)
# Select with SUITES="unit tap" and TAP_TESTS="tests/t/001_*.pl".
# REVRX_AGENT_BIN=tree runs the TAP tests with this tree's agent/revrx-agent
# instead of the installed one (several checkouts can then test side by
# side; the server module is still the installed one).
#
# PostgreSQL refuses to run as root, so as root the PostgreSQL suites run
# as the "postgres" user on a private copy of the tree in a temporary
# directory (the checkout may sit where that user cannot read).
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
suites=${SUITES:-"unit fuzz regress tap matrix"}
# archiving, backup and restore, PITR, drills, incrementals (by page LSN and,
# on 17+, by WAL summaries, without the fingerprint scan's hint bits;
# chains restored in one pass),
# partial WAL (also ending inside a record)
matrix_tap="tests/t/001_archive.pl tests/t/010_backup_restore.pl tests/t/015_pitr.pl
	tests/t/017_verify.pl tests/t/024_incremental.pl tests/t/028_partial_wal.pl
	tests/t/031_walsummary.pl tests/t/035_fingerprint_settle.pl
	tests/t/036_partial_mid_record.pl tests/t/037_incr_whole.pl tests/t/038_chain_one_pass.pl
	tests/t/039_partial_review.pl"
matrix_tap=$(echo $matrix_tap)
pg_config=${PG_CONFIG:-pg_config}
bindir=$($pg_config --bindir)
pgxs=$(dirname "$(dirname "$(dirname "$($pg_config --pgxs)")")")
work=$(mktemp -d /tmp/revrx-test.XXXXXX)
keep=${KEEP_TEST_DIR:-0}
passed=0
failed=0
failed_names=()
failures=()

cleanup() {
	if [ "$keep" = 1 ] || [ $failed -gt 0 ]; then
		echo "test files kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

record() {
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names+=("$1")
	fi
}

runas=()
if [ "$(id -u)" -eq 0 ]; then
	runas=(runuser -u postgres --)
fi

# a private copy of the tree (without .git), readable by the test user
mkdir -p "$work/src"
tar -C "$src" --exclude=.git --exclude='agent/obj' --exclude='tests/fuzz/obj' -cf - . | tar -C "$work/src" -xf -
if [ ${#runas[@]} -gt 0 ]; then
	chown -R postgres: "$work"
fi

for suite in $suites; do
	echo "=== suite: $suite"
	case $suite in
		unit)
			# an include that breaks the layering fails the suite too
			rc=0
			"$src/scripts/check-includes.sh" "$src" || rc=1
			make -s -C "$src/agent" check || rc=1
			record unit $rc
			;;
		fuzz)
			"$src/tests/fuzz/run-fuzz.sh"
			record fuzz $?
			;;
		regress)
			"${runas[@]}" "$pgxs/src/test/regress/pg_regress" \
				--temp-instance="$work/regress/instance" \
				--temp-config="$work/src/tests/regress.conf" \
				--inputdir="$work/src" --outputdir="$work/regress" \
				--bindir="$bindir" \
				$(cd "$src/sql" && ls *.sql | grep -v -- '--' | sed 's/\.sql$//')
			rc=$?
			[ $rc -ne 0 ] && [ -f "$work/regress/regression.diffs" ] && cat "$work/regress/regression.diffs"
			record regress $rc
			;;
		tap)
			mkdir -p "$work/tap"
			[ ${#runas[@]} -gt 0 ] && chown postgres: "$work/tap"
			tests=${TAP_TESTS:-tests/t/*.pl}
			agent_bin=revrx-agent
			[ "${REVRX_AGENT_BIN:-}" = tree ] && agent_bin="$work/src/agent/revrx-agent"
			# PostgreSQL::Test::Utils puts clusters and logs under
			# $TESTDIR/tmp_check on 15, under $TESTDATADIR and $TESTLOGDIR
			# on 16+: both name the same place
			(cd "$work/src" && "${runas[@]}" env \
				REVRX_AGENT_BIN="$agent_bin" \
				PATH="$bindir:$PATH" REVRX_SRC="$work/src" \
				TESTDIR="$work/tap" \
				TESTDATADIR="$work/tap/tmp_check" TESTLOGDIR="$work/tap/tmp_check/log" \
				PG_REGRESS="$pgxs/src/test/regress/pg_regress" \
				prove --timer -I tests/lib -I "$pgxs/src/test/perl" $tests)
			rc=$?
			if [ $rc -ne 0 ]; then
				# the logs of the files that failed (a plan never reached counts)
				for f in "$work"/tap/tmp_check/log/regress_log_*; do
					[ -f "$f" ] || continue
					if grep -q '^\[.*\] not ok\|^not ok' "$f" || ! grep -q '\] 1\.\.[0-9]' "$f"; then
						echo "----- tail of $f"
						tail -n 60 "$f"
						failures+=("$(grep -h -A4 'not ok' "$f" | head -n 12)" "(see $f)")
					fi
				done
			fi
			record tap $rc
			;;
		matrix)
			# debootstrap, chroot and mounts need root: as root (CI), or
			# through sudo where it needs no password; else said, not hidden
			sudo=()
			if [ "$(id -u)" -ne 0 ]; then
				if ! sudo -n true 2>/dev/null; then
					echo "matrix: SKIPPED: needs root or passwordless sudo (run: sudo scripts/matrix.sh)"
					continue
				fi
				sudo=(sudo -n --preserve-env=MATRIX_SUITES,MATRIX_TAP_TESTS,REVRX_ROOTS)
			fi
			MATRIX_TAP_TESTS=${MATRIX_TAP_TESTS:-$matrix_tap} "${sudo[@]}" "$src/scripts/matrix.sh"
			record matrix $?
			;;
		*)
			echo "unknown suite $suite" >&2
			record "$suite" 1
			;;
	esac
done

echo
echo "suites: $passed passed, $failed failed"
if [ $failed -gt 0 ]; then
	echo "failed suites: ${failed_names[*]}"
	# last, so that a truncated CI log still shows why
	for f in "${failures[@]}"; do
		printf '%s\n' "$f"
	done
fi
[ $failed -eq 0 ]
