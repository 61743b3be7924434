#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Figures for vhost-bench against qemu-storage-daemon (null-co and a file with aio=native,
# O_DIRECT): 4 KiB randread at QD1/QD32 on 1 and 2 queues, median of REPEAT runs.
# Prints a table; asserts nothing about speed.
#
# Usage: tests/bench/vhost-bench-qsd.sh [BUILD_DIR] [extra vhost-bench options...]
#   env: RUNTIME (default 3s), REPEAT (3), THREADS (1: one worker polls every queue)
set -euo pipefail

BUILD=${1:-build}
shift || true
BENCH=$BUILD/src/tools/vhost-bench/vhost-bench
RUNTIME=${RUNTIME:-3s}
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-1}
[ -x "$BENCH" ] || { echo "$BENCH not built" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/vhost-bench-fig.XXXXXX")
QSD_PID=""
stop_qsd() {
	if [ -n "$QSD_PID" ]; then
		kill "$QSD_PID" 2>/dev/null || true
		wait "$QSD_PID" 2>/dev/null || true
		QSD_PID=""
	fi
}
trap 'stop_qsd; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

start_qsd() {
	rm -f "$WORK/sock"
	qemu-storage-daemon --blockdev "$1" --export \
		"type=vhost-user-blk,id=e0,node-name=$2,addr.type=unix,addr.path=$WORK/sock,writable=on,num-queues=2" \
		>"$WORK/qsd.log" 2>&1 &
	QSD_PID=$!
	for _ in $(seq 100); do
		[ -S "$WORK/sock" ] && return 0
		sleep 0.1
	done
	cat "$WORK/qsd.log" >&2
	exit 1
}

# One configuration: median IOPS of REPEAT runs, with that run's p50/p99 and CPU per I/O.
measure() {
	local label=$1 qd=$2 nq=$3 r
	shift 3
	for r in $(seq "$REPEAT"); do
		"$BENCH" "$WORK/sock" --rw randread --bs 4k --iodepth "$qd" --queues "$nq" \
			--threads "$THREADS" --runtime "$RUNTIME" --json "$@" >"$WORK/r$r.json"
	done
	python3 - "$label" "$qd" "$nq" "$WORK"/r*.json <<'PY'
import json, sys
label, qd, nq, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
runs = sorted((json.load(open(f))["main"] for f in files), key=lambda m: m["read"]["iops"])
m = runs[len(runs) // 2]
r = m["read"]
print("%-9s QD%-3s %s queue(s)  %9.0f IOPS  (min %.0f max %.0f)  p50 %7.1f us  p99 %8.1f us"
      "  cpu %.2f us/io" % (label, qd, nq, r["iops"], runs[0]["read"]["iops"],
                            runs[-1]["read"]["iops"], r["lat_us"]["p50"], r["lat_us"]["p99"],
                            m["cpu"]["us_per_io"]))
PY
	rm -f "$WORK"/r*.json
}

matrix() {
	local label=$1
	shift
	for job in "1 1" "32 1" "1 2" "32 2"; do
		read -r qd nq <<<"$job"
		measure "$label" "$qd" "$nq" "$@"
	done
}

echo "vhost-bench $("$BENCH" --version | cut -d' ' -f2), $(nproc) CPUs, runtime $RUNTIME," \
	"median of $REPEAT, $THREADS worker thread(s), extra options: ${*:-none}"
start_qsd "driver=null-co,node-name=n,size=1073741824" n
matrix null-co "$@"
stop_qsd

# A fully allocated file, so reads reach the disk rather than holes.
dd if=/dev/zero of="$WORK/disk.img" bs=1M count=256 oflag=direct status=none
start_qsd "driver=file,node-name=f,filename=$WORK/disk.img,aio=native,cache.direct=on" f
matrix file-aio "$@"
stop_qsd
