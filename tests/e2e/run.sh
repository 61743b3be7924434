#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Run the end-to-end tests: every tests/e2e/NNN-*.sh in order, or those matching the given
# patterns ("001", "001*", "0[0-4]?-*", full file names).
# Usage: tests/e2e/run.sh [BUILD_DIR] [PATTERN...]   (BUILD_DIR default: <repository>/build)
# Env: E2E_TEST_TIMEOUT (seconds per test, default 300), E2E_VERBOSE=1 (stream test output),
#      plus the knobs of lib/common.sh (E2E_TIMEOUT, E2E_MEM, E2E_KEEP …).
# Exit status: 0 when no test failed (skips are fine), 1 otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

BUILD_DIR=$ROOT/build
if [ $# -gt 0 ] && ! [[ $1 =~ ^[0-9] ]]; then
	BUILD_DIR=$1
	shift
fi
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
export BUILD_DIR
export E2E_KIT=${E2E_KIT:-$BUILD_DIR/e2e-kit}
LOGROOT=$BUILD_DIR/e2e-logs
mkdir -p "$LOGROOT"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

matches() {
	local name=$1 p
	[ $# -eq 1 ] && return 0
	shift
	for p in "$@"; do
		p=${p##*/}
		# shellcheck disable=SC2053
		[[ $name == $p || $name == $p.sh || $name == $p-* || $name == $p*.sh ]] && return 0
	done
	return 1
}

tests=()
for t in "$HERE"/[0-9][0-9][0-9]-*.sh; do
	[ -e "$t" ] || continue
	matches "$(basename "$t")" "$@" && tests+=("$t")
done
if [ ${#tests[@]} -eq 0 ]; then
	echo "e2e: no test matches: $*" >&2
	exit 1
fi

# Build (or validate) the guest kit once, so its cost shows up here and not in a test.
t0=$(now)
if ! "$HERE/lib/build-guest.sh" "$E2E_KIT" >"$LOGROOT/kit.log" 2>&1; then
	cat "$LOGROOT/kit.log" >&2
	echo "e2e: guest kit build failed" >&2
	exit 1
fi
echo "e2e: guest kit $E2E_KIT ready in $(secs "$t0" "$(now)")s ($(tail -n1 "$LOGROOT/kit.log" | sed 's/^build-guest: //'))"

cur="" tailpid=""
on_signal() {
	trap - INT TERM
	if [ -n "$cur" ]; then
		echo "e2e: interrupted, stopping $(basename "${t%.sh}")" >&2
		kill -TERM "$cur" 2>/dev/null
		wait "$cur"
	fi
	[ -z "$tailpid" ] || kill "$tailpid" 2>/dev/null
	exit 130
}
trap on_signal INT TERM

npass=0 nfail=0 nskip=0 failed=()
tall=$(now)
for t in "${tests[@]}"; do
	name=$(basename "${t%.sh}")
	log=$LOGROOT/$name.out
	ts=$(now)
	# In the background so that a signal to us can be passed on: `timeout` puts the test in
	# its own process group, out of reach of the terminal's Ctrl-C.
	timeout -k 10 "${E2E_TEST_TIMEOUT:-300}" bash "$t" </dev/null >"$log" 2>&1 &
	cur=$!
	if [ "${E2E_VERBOSE:-0}" = 1 ]; then
		tail -n +1 -f --pid="$cur" "$log" &
		tailpid=$!
	fi
	wait "$cur"
	rc=$?
	cur=""
	if [ -n "$tailpid" ]; then
		wait "$tailpid"
		tailpid=""
	fi
	d=$(secs "$ts" "$(now)")
	case $rc in
	0) printf 'PASS  %-40s %6ss\n' "$name" "$d"; npass=$((npass + 1)) ;;
	77) printf 'SKIP  %-40s %6ss  (%s)\n' "$name" "$d" \
		"$(grep -m1 -o 'SKIP: .*' "$log" | cut -c7-)"; nskip=$((nskip + 1)) ;;
	*)
		why=""
		[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why=" (test timeout ${E2E_TEST_TIMEOUT:-300}s)"
		printf 'FAIL  %-40s %6ss  status %s%s\n' "$name" "$d" "$rc" "$why"
		nfail=$((nfail + 1)); failed+=("$name")
		if [ "${E2E_VERBOSE:-0}" != 1 ]; then
			sed 's/^/      | /' "$log" | tail -n "${E2E_TAIL_LINES:-60}"
		fi
		echo "      full output: $log, logs: $LOGROOT/$name/"
		;;
	esac
done
echo "e2e: $npass passed, $nfail failed, $nskip skipped in $(secs "$tall" "$(now)")s${failed[*]:+ — failed: ${failed[*]}}"
[ "$nfail" -eq 0 ]
