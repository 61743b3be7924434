#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-bench against a scripted back-end (fake_vhost_blk.py) that offers what QEMU's storage
# daemon does not (PROTOCOL_F_STATUS, INFLIGHT_SHMFD, 4 KiB blocks) and that can break the
# protocol in one chosen way per run. Every misbehaviour must end in a clear error and exit
# status 1 within the timeouts: never a hang, never a crash.
#
# Usage: tests/system/021-vhost-bench-hostile.sh [BUILD_DIR]   (default: build)
set -euo pipefail

BUILD=${1:-build}
BENCH=$BUILD/src/tools/vhost-bench/vhost-bench
FAKE=$(dirname "$0")/fake_vhost_blk.py

fail() {
	echo "FAIL: $*"
	exit 1
}

[ -x "$BENCH" ] || fail "$BENCH not built"
command -v python3 >/dev/null || fail "python3 not installed"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/vhost-bench-hostile.XXXXXX")
FAKE_PID=""

stop_fake() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
		FAKE_PID=""
	fi
}

cleanup() {
	stop_fake
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_fake() {
	python3 "$FAKE" "$1" "$WORK/fake.sock" >"$WORK/fake.log" 2>&1 &
	FAKE_PID=$!
	for _ in $(seq 50); do
		[ -S "$WORK/fake.sock" ] && return 0
		sleep 0.1
	done
	cat "$WORK/fake.log"
	fail "fake back-end ($1) did not start"
}

# expect MODE EXIT-STATUS MESSAGE-REGEX VHOST-BENCH-ARGS...
expect() {
	local mode=$1 want=$2 msg=$3 rc=0 start end

	shift 3
	start_fake "$mode"
	start=$(date +%s)
	timeout --kill-after=5 60 "$BENCH" "$WORK/fake.sock" --timeout 1 --io-timeout 1 "$@" \
		>"$WORK/out.txt" 2>&1 || rc=$?
	end=$(date +%s)
	stop_fake
	if [ "$rc" != "$want" ]; then
		cat "$WORK/out.txt" "$WORK/fake.log"
		fail "$mode: exit status $rc, expected $want"
	fi
	if ! grep -Eq -- "$msg" "$WORK/out.txt"; then
		cat "$WORK/out.txt"
		fail "$mode: output lacks /$msg/"
	fi
	echo "PASS: $mode: exit $rc in $((end - start)) s: $(grep -Em1 -- "$msg" "$WORK/out.txt")"
}

IO=(--number-ios 2000 --iodepth 4)

# A well-behaved back-end with the features QEMU's daemon lacks: every path must work.
expect good 0 '^result: PASS$' --rw randrw --verify --queues 2 --iodepth 8 --number-ios 4000 \
	--inflight --event-idx --indirect --wait-call
expect good 0 '^result: PASS$' --rw randwrite --verify --queues 2 --threads 1 "${IO[@]}" --event-idx
expect good 0 '^result: PASS$' --rw write --verify --bs 64k "${IO[@]}" --verify-prefill --size 4m

# Control channel.
expect noreply 1 'GET_FEATURES: .*timed out' --runtime 1
expect badreply 1 'expected reply to GET_FEATURES, got SET_FEATURES' --runtime 1
expect noreplyflag 1 'REPLY flag missing' --runtime 1
expect close 1 'closed the connection' --runtime 1
expect nack 1 'SET_MEM_TABLE: back-end reported failure' --runtime 1
expect badconfig 1 'GET_CONFIG.*reply payload is' --runtime 1
expect oldconfig 0 'config 36 bytes: capacity 32768 sectors, blk_size 4096' -v "${IO[@]}"
expect badbase 1 'GET_VRING_BASE\(0\) = [0-9]+, but the driver published' "${IO[@]}"

# Data path.
expect badid 1 'bad used entry: .*id 133 >= queue size 128' "${IO[@]}"
expect nothead 1 'bad used entry: .*is not an in-flight chain head' "${IO[@]}"
expect badlen 1 'bad used entry: .*exceeds the 4097 writable bytes' "${IO[@]}"
expect dupused 1 'bad used entry: ' "${IO[@]}"
expect shortlen 0 'warning: queue 0: used len 1 for a read of 4096 bytes, expected 4097' \
	"${IO[@]}"
expect stall 1 'no completion for 1000 ms with 4 requests in flight' "${IO[@]}"
expect ioerr 1 'I/O error: queue 0 (read|write) lba [0-9]+: status 1' "${IO[@]}"
expect nostatus 1 'status byte never written' "${IO[@]}"
expect corrupt 1 'VERIFY FAILED: queue 0 lba [0-9]+ .*first bad byte at \+100' --rw randrw \
	--verify --verify-prefill "${IO[@]}" --size 1m
echo "PASS: 021-vhost-bench-hostile"
