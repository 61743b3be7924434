#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# vhost-bench (our own front-end) against vhostd: write+readback verify on 2 queues over the
# malloc and aio backends, with and without EVENT_IDX, indirect descriptors, interrupt-driven
# completion and inflight tracking; then 40 connect/run/disconnect cycles in a row on one
# socket (front-ends come and go any number of times).
# Usage: tests/system/023-vhost-bench-vhostd.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${1:-${BUILD_DIR:-build}}
VHOSTD=$BUILD_DIR/src/vhostd
BENCH=$BUILD_DIR/src/tools/vhost-bench/vhost-bench
{ [ -x "$VHOSTD" ] && [ -x "$BENCH" ]; } || fail "build $VHOSTD and $BENCH first"
tmp=$(mktemp -d /tmp/vhd-bench-sys.XXXXXX)
img=$(mktemp /var/tmp/vhd-bench-sys.XXXXXX)
vpid=""
trap '[ -n "$vpid" ] && kill -9 "$vpid" 2>/dev/null; rm -rf "$tmp" "$img"' EXIT
truncate -s 128M "$img"

cat >"$tmp/v.yaml" <<EOF
cores: "$(($(nproc) - 1))"
hugemem: 64
socket_dir: $tmp
rpc_socket: $tmp/rpc.sock
idle_sleep_us: 50
backends:
  - {name: ram0, type: malloc, size: 128MiB}
  - {name: disk0, type: aio, path: $img}
controllers:
  - {name: ram, type: blk, backend: ram0, num_queues: 2}
  - {name: aio, type: blk, backend: disk0, num_queues: 2}
EOF
"$VHOSTD" -c "$tmp/v.yaml" >"$tmp/vhostd.log" 2>&1 &
vpid=$!
for _ in $(seq 100); do grep -q "ready:" "$tmp/vhostd.log" && break; sleep 0.1; done
grep -q "ready:" "$tmp/vhostd.log" || fail "vhostd did not start: $(tail -3 "$tmp/vhostd.log")"

bench() {
	local out
	out=$("$BENCH" --cpus 0 "$@" 2>&1) || fail "vhost-bench $*: $(tail -5 <<<"$out")"
	grep -q "result: PASS" <<<"$out" || fail "vhost-bench $*: no PASS: $(tail -5 <<<"$out")"
}

for dev in ram aio; do
	bench -s "$tmp/$dev" --rw randwrite --verify --bs 4k --iodepth 16 --queues 2 \
		--number-ios 20000 --size 64M
	pass "$dev: randwrite + readback verify, 2 queues"
	bench -s "$tmp/$dev" --rw randrw --verify --bs 16k --iodepth 8 --queues 2 \
		--number-ios 5000 --size 64M --event-idx --indirect --wait-call
	pass "$dev: randrw verify with EVENT_IDX, indirect descriptors, interrupt completion"
	bench -s "$tmp/$dev" --rw write --verify --bs 64k --iodepth 4 --queues 1 \
		--number-ios 2000 --size 64M --inflight
	pass "$dev: sequential 64k write verify with inflight tracking"
done

for _ in $(seq 40); do
	bench -s "$tmp/ram" --rw randread --bs 4k --iodepth 4 --queues 2 --number-ios 200
done
pass "40 connect/run/disconnect cycles on one socket"
kill -0 "$vpid" || fail "vhostd died"
if grep -Eq "broken by the guest|error" "$tmp/vhostd.log"; then
	fail "errors in the vhostd log: $(grep -E "broken|error" "$tmp/vhostd.log" | head -3)"
fi
kill -TERM "$vpid"
rc=0
wait "$vpid" || rc=$?
vpid=""
[ "$rc" -eq 0 ] || fail "vhostd exit status $rc"
pass "no errors logged; clean exit"
