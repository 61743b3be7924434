#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# What inflight tracking adds to the per-request ring path: instructions per request under
# callgrind (exact, repeatable whatever the machine is doing) and ns per request natively.
# Usage: tests/bench/virtq-cost.sh [BUILD_DIR]
set -euo pipefail
BUILD_DIR=${1:-build}
BIN=$BUILD_DIR/tests/bench/virtq-cost
[ -x "$BIN" ] || { echo "build $BIN first (ninja -C $BUILD_DIR)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
N=200000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "instructions per request (callgrind, $N requests, 3-descriptor chains):"
for mode in plain inflight; do
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$BIN" "$N" "$mode" \
		>/dev/null 2>"$tmp/err"
	ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err")
	printf '  %-9s %s\n' "$mode" "$(awk -v ir="$ir" -v n="$N" 'BEGIN { printf "%.1f", ir / n }')"
done
echo "time per request (native, 20M requests, median of 3):"
for mode in plain inflight; do
	for _ in 1 2 3; do "$BIN" 20000000 "$mode"; done | awk '{ print $2 }' | sort -n | sed -n 2p |
		xargs printf '  %-9s %s ns\n' "$mode"
done
