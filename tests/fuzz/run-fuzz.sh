#!/bin/bash
#
# run-fuzz.sh: build the libFuzzer targets and run each for a bounded time.
#
# Usage: tests/fuzz/run-fuzz.sh [target...]     (default: every fuzz_*.c)
#   FUZZ_SECONDS  time per target (default 12; `make test` keeps the default)
#   FUZZ_JOBS     parallel fuzzing processes per target (default 1)
#   FUZZ_WORK     where new corpus entries and crash reproducers go
#                 (default: a temporary directory, removed unless something failed)
#
# Each target starts from its committed seeds (tests/fuzz/corpus/<target>/,
# never written to) plus what earlier runs in FUZZ_WORK found.  Any crash,
# sanitizer report, leak or timeout fails the run; the input that caused
# it is kept as FUZZ_WORK/<target>/crash-* (reproduce with
# `tests/fuzz/fuzz_<target> FILE`).  Ends with "fuzz: N passed, N failed".
set -uo pipefail

dir=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-12}
jobs=${FUZZ_JOBS:-1}
work=${FUZZ_WORK:-}
own_work=0
if [ -z "$work" ]; then
	work=$(mktemp -d /tmp/revrx-fuzz.XXXXXX)
	own_work=1
fi

if ! command -v "${CLANG:-clang}" >/dev/null; then
	echo "run-fuzz: clang not found (scripts/install-deps.sh installs it)" >&2
	exit 1
fi
make -s -C "$dir" -j2 || { echo "run-fuzz: build failed" >&2; exit 1; }

if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in "$dir"/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi

passed=0
failed=0
for t in "${targets[@]}"; do
	bin="$dir/fuzz_$t"
	mkdir -p "$work/$t/corpus"
	echo "--- fuzz_$t: ${seconds}s"
	par=()
	[ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
	# new inputs go to the first corpus directory, the scratch one; run
	# there, since with -jobs libFuzzer writes fuzz-N.log in the current directory
	(cd "$work/$t" && "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 "${par[@]}" \
		-artifact_prefix="$work/$t/" "$work/$t/corpus" "$dir/corpus/$t" \
		>"$work/$t/log" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && ! ls "$work/$t"/crash-* "$work/$t"/leak-* "$work/$t"/timeout-* \
		"$work/$t"/oom-* >/dev/null 2>&1; then
		grep -E '^stat::number_of_executed_runs|^#[0-9]+.*DONE' "$work/$t/log" | tail -n 1
		passed=$((passed + 1))
	else
		echo "fuzz_$t FAILED (exit $rc); log: $work/$t/log"
		grep -E -A30 '^==[0-9]+==ERROR|runtime error|^SUMMARY' "$work/$t/log" | head -n 60
		ls "$work/$t"/crash-* "$work/$t"/leak-* "$work/$t"/timeout-* "$work/$t"/oom-* 2>/dev/null
		failed=$((failed + 1))
	fi
done

echo "fuzz: $passed passed, $failed failed"
if [ $failed -eq 0 ] && [ $own_work = 1 ]; then
	rm -rf "$work"
elif [ $failed -gt 0 ]; then
	echo "fuzz: inputs and logs kept in $work"
fi
[ $failed -eq 0 ]
