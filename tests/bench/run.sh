#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The vhostd benchmark suite, in one command (docs/benchmarks.md):
#
#   tests/bench/run.sh            full: 3 runs of 5 s per point, scaling, counters, callgrind
#                                 profile; rewrites the generated parts of docs/benchmarks.md
#   tests/bench/run.sh --quick    1 run of 1.5 s per point, no profile, document untouched
#
# Every other option goes to tests/bench/suite.py (see --help there), e.g.
#   tests/bench/run.sh --quick --servers vhostd-null,qsd-null --rw randread --qd 1,32
#   tests/bench/run.sh --parts counters,profile
# Suite options: --no-doc (never touch the document), --doc (touch it even in quick mode or
# with a subset).
#
# It sets up build-release (meson --buildtype=release -Dtests=disabled) when missing, brings
# it up to date with ninja before every run, and builds the LD_PRELOAD call counter
# (count_preload.c) and the core-to-core probe (c2c.c) into it.
# Results: BUILD/bench-results/TIMESTAMP/
# (results.json, report.md, PNG plots, server logs, callgrind files).
# Figures are printed, never asserted; this is not part of scripts/test.sh (a smoke test,
# tests/system/070-bench-smoke.sh, only checks that the scripts produce figures).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$REPO/build-release
DOC=auto
QUICK=0
SUBSET=0
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--build)
		BUILD=$(realpath -m "$2")
		shift 2
		;;
	--build=*)
		BUILD=$(realpath -m "${1#--build=}")
		shift
		;;
	--doc) DOC=yes; shift ;;
	--no-doc) DOC=no; shift ;;
	--quick) QUICK=1; args+=("$1"); shift ;;
	-h | --help)
		sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'
		echo
		exec python3 "$HERE/suite.py" --help
		;;
	--servers | --rw | --qd | --queues | --parts)
		SUBSET=1
		args+=("$1" "$2")
		shift 2
		;;
	--servers=* | --rw=* | --qd=* | --queues=* | --parts=*)
		SUBSET=1
		args+=("$1")
		shift
		;;
	*)
		args+=("$1")
		shift
		;;
	esac
done
if [ "$DOC" = auto ]; then
	if [ "$QUICK" = 0 ] && [ "$SUBSET" = 0 ]; then DOC=yes; else DOC=no; fi
fi

if [ ! -f "$BUILD/build.ninja" ]; then
	echo "run.sh: setting up $BUILD (release)" >&2
	meson setup "$BUILD" "$REPO" --buildtype=release -Dtests=disabled >&2
fi
# Always: binaries older than the sources would be measured under the current commit's name.
ninja -C "$BUILD" >&2
# Helpers built with cc next to the release build, again when their source is newer.
# Usage: helper OUTPUT SOURCE CC_FLAGS...
helper() {
	local out=$1 src=$2
	shift 2
	if [ ! -f "$out" ] || [ "$src" -nt "$out" ]; then
		mkdir -p "$(dirname "$out")"
		cc -O2 -g -Wall -Wextra -Werror -o "$out" "$src" "$@"
	fi
}
LIB=$BUILD/bench/libvhd_count.so # the LD_PRELOAD call counter
helper "$LIB" "$HERE/count_preload.c" -fPIC -shared -ldl
C2C=$BUILD/bench/vhd-c2c # the core-to-core round trip probe
helper "$C2C" "$HERE/c2c.c" -pthread

OUT=$BUILD/bench-results/$(date +%Y%m%d-%H%M%S)
results=$(python3 "$HERE/suite.py" --build "$BUILD" --count-lib "$LIB" --c2c "$C2C" \
	--out "$OUT" \
	${args[@]+"${args[@]}"})
report=(python3 "$HERE/report.py" "$results")
[ "$DOC" = yes ] && report+=(--doc)
"${report[@]}"
echo "run.sh: results in $(dirname "$results")" >&2
