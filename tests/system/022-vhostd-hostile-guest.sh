#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A hostile guest driver against the real daemon (tests/func/hostile_guest.c writes one
# malformed request straight into the ring per connection). For each case vhostd must either
# fail the request with the right virtio-blk status, or stop that queue with exactly one log
# line saying why; it must never crash, and the next connection (a good read) must work.
# Usage: tests/system/022-vhostd-hostile-guest.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${1:-${BUILD_DIR:-build}}
VHOSTD=$BUILD_DIR/src/vhostd
CLIENT=$BUILD_DIR/tests/func/vhd-hostile-guest
{ [ -x "$VHOSTD" ] && [ -x "$CLIENT" ]; } || fail "build $VHOSTD and $CLIENT first"
tmp=$(mktemp -d /tmp/vhd-hostile.XXXXXX)
vpid=""
trap '[ -n "$vpid" ] && kill -9 "$vpid" 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/v.yaml" <<EOF
cores: "$(($(nproc) - 1))"
hugemem: 64
socket_dir: $tmp
rpc_socket: $tmp/rpc.sock
idle_sleep_us: 100
backends:
  - {name: ram0, type: malloc, size: 64MiB}
controllers:
  - {name: d0, type: blk, backend: ram0}
EOF
"$VHOSTD" -c "$tmp/v.yaml" >"$tmp/vhostd.log" 2>&1 &
vpid=$!
for _ in $(seq 100); do grep -q "ready:" "$tmp/vhostd.log" && break; sleep 0.1; done
grep -q "ready:" "$tmp/vhostd.log" || fail "vhostd did not start: $(tail -3 "$tmp/vhostd.log")"

# case EXPECTED LOG_REGEX — EXPECTED is "status=N" or "broken".
check() {
	local name=$1 want=$2 regex=${3:-} out before after
	before=$(grep -c "broken by the guest" "$tmp/vhostd.log" || true)
	out=$("$CLIENT" "$tmp/d0" "$name" 1000) || fail "$name: client setup failed: $out"
	sleep 0.2
	kill -0 "$vpid" 2>/dev/null || fail "$name: vhostd died: $(tail -5 "$tmp/vhostd.log")"
	after=$(grep -c "broken by the guest" "$tmp/vhostd.log" || true)
	case "$want" in
	broken)
		[ "$out" = no-completion ] || fail "$name: expected the queue to stop, got '$out'"
		[ $((after - before)) -eq 1 ] ||
			fail "$name: expected exactly one 'broken' log line, got $((after - before))"
		grep "broken by the guest" "$tmp/vhostd.log" | tail -1 | grep -Eq "$regex" ||
			fail "$name: log line does not say why: $(grep "broken by" "$tmp/vhostd.log" | tail -1)"
		;;
	*)
		grep -q "^completed $want " <<<"$out" || fail "$name: expected '$want', got '$out'"
		[ "$after" -eq "$before" ] || fail "$name: queue marked broken for a bad request"
		;;
	esac
	out=$("$CLIENT" "$tmp/d0" good-read 3000) || fail "good-read after $name: setup failed"
	grep -q "^completed status=0 len=4097 " <<<"$out" ||
		fail "good-read after $name: '$out' (vhostd did not recover)"
	pass "$name: $want"
}

out=$("$CLIENT" "$tmp/d0" config-256) || fail "config-256: client failed"
[ "$out" = "config capacity=131072 tail_zero=1" ] ||
	fail "GET_CONFIG of 256 bytes (SPDK virtio-user style): '$out'"
pass "GET_CONFIG for 256 bytes answered with exactly 256, zero-padded"
check good-read status=0
check descriptor-loop broken "loops or is longer than"
check head-out-of-range broken "holds head 19, queue size is 16"
check avail-index-jump broken "avail index moved from 0 to 21"
check duplicate-head broken "made available again while in flight"
check next-out-of-range broken "next index 200 beyond the ring"
check readable-after-writable broken "readable buffer after a writable one"
check nested-indirect broken "nested indirect"
check indirect-loop broken "loops or is longer than 64"
check indirect-bad-length broken "indirect table of 20 bytes"
check status-outside-memory broken "no writable status byte"
check data-outside-memory status=1
check data-overflowing-address status=1
check short-header status=1
check sector-past-end status=1
check huge-length status=1
check unknown-type status=2

kill -TERM "$vpid"
rc=0
wait "$vpid" || rc=$?
vpid=""
[ "$rc" -eq 0 ] || fail "vhostd exit status $rc after the hostile cases"
pass "vhostd survived every case and exited cleanly"
