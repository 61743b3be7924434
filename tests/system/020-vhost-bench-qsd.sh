#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-bench against qemu-storage-daemon's vhost-user-blk export:
#   1. verify: randwrite on 2 queues, then read every written block back and check it
#   2. plain randread for 2 s with --json, parsed by python3
#   3. negative: write signed blocks, corrupt one in the image behind the client's back,
#      read back: verify must fail and name the LBA
#   4. null-co export: the client's own ceiling (figures printed, never asserted)
#
# Usage: tests/system/020-vhost-bench-qsd.sh [BUILD_DIR]   (default: build)
# Needs qemu-storage-daemon (QEMU >= 7.2) and python3. The image lives in ${TMPDIR:-/var/tmp}
# (it must support O_DIRECT: cache.direct=on).
set -euo pipefail

BUILD=${1:-build}
BENCH=$BUILD/src/tools/vhost-bench/vhost-bench
QSD=${QSD:-qemu-storage-daemon}
T="timeout --kill-after=5 120"

fail() {
	echo "FAIL: $*"
	exit 1
}

pass() {
	echo "PASS: $*"
}

[ -x "$BENCH" ] || fail "$BENCH not built (run: meson setup $BUILD && ninja -C $BUILD)"
command -v "$QSD" >/dev/null || fail "$QSD not installed"
command -v python3 >/dev/null || fail "python3 not installed"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/vhost-bench-qsd.XXXXXX")
QSD_PID=""

stop_qsd() {
	if [ -n "$QSD_PID" ]; then
		kill "$QSD_PID" 2>/dev/null || true
		wait "$QSD_PID" 2>/dev/null || true
		QSD_PID=""
	fi
}

cleanup() {
	stop_qsd
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_qsd SOCKET BLOCKDEV-OPTIONS NODE
start_qsd() {
	local sock=$1 blockdev=$2 node=$3

	rm -f "$sock"
	"$QSD" --blockdev "$blockdev" \
		--export "type=vhost-user-blk,id=e0,node-name=$node,addr.type=unix,addr.path=$sock,writable=on,num-queues=2" \
		>"$WORK/qsd.log" 2>&1 &
	QSD_PID=$!
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		kill -0 "$QSD_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$WORK/qsd.log"
	fail "qemu-storage-daemon did not create $sock"
}

# Every figure the text report promises.
check_figures() {
	local out=$1 what=$2 pat

	for pat in 'IOPS=[0-9]' 'BW=[0-9.]* MiB/s' 'mean=[0-9.]' 'p50=[0-9.]' 'p99=[0-9.]' \
		'p99\.9=[0-9.]' 'max=[0-9.]' 'cpu  : user=[0-9.]*s sys=[0-9.]*s' 'us/io' \
		'^errors: 0$' '^result: PASS$'; do
		grep -q -- "$pat" "$out" || { cat "$out"; fail "$what: no '$pat' in the output"; }
	done
}

IMG=$WORK/disk.img
SOCK=$WORK/blk.sock
truncate -s 128M "$IMG"
start_qsd "$SOCK" "driver=file,node-name=f,filename=$IMG,aio=native,cache.direct=on" f

# 1. Write then read everything back, 2 queues on 2 threads.
OUT=$WORK/verify.txt
$T "$BENCH" --socket "$SOCK" --rw randwrite --bs 4k --iodepth 16 --queues 2 --runtime 3 \
	--verify >"$OUT" 2>&1 || { cat "$OUT"; fail "verify run exited with $?"; }
check_figures "$OUT" "verify run"
grep -q '^readback: ' "$OUT" || { cat "$OUT"; fail "verify run: no read-back pass"; }
grep -Eq 'checked_units=[1-9][0-9]* .*failures=0$' "$OUT" ||
	{ cat "$OUT"; fail "verify run: nothing checked or failures"; }
written=$(sed -n 's/.*written_blocks=\([0-9]*\).*/\1/p' "$OUT")
checked=$(sed -n 's/.*checked_units=\([0-9]*\).*/\1/p' "$OUT")
[ "$written" = "$checked" ] || { cat "$OUT"; fail "read back $checked of $written blocks"; }
pass "verify: randwrite + read-back of $written blocks on 2 queues, no mismatch"

# 2. Plain randread, JSON.
OUT=$WORK/randread.json
$T "$BENCH" "$SOCK" --rw randread --iodepth 8 --queues 2 --threads 1 --runtime 2 --json \
	>"$OUT" 2>"$WORK/randread.err" || { cat "$OUT" "$WORK/randread.err"; fail "randread run"; }
python3 - "$OUT" <<'PY' || fail "randread JSON"
import json, sys
j = json.load(open(sys.argv[1]))
m = j["main"]
assert j["result"] == "pass", j
assert m["read"]["iops"] > 0 and m["read"]["ios"] > 0, m
for k in ("mean", "p50", "p99", "p99.9", "max"):
    assert m["read"]["lat_us"][k] > 0, k
assert m["cpu"]["total_s"] >= 0 and "us_per_io" in m["cpu"]
assert j["errors"] == 0
print("PASS: randread JSON parses: %.0f IOPS, p99 %.1f us"
      % (m["read"]["iops"], m["read"]["lat_us"]["p99"]))
PY

# 3. Corrupt one block behind the client's back: the read-back must catch it.
STATE=$WORK/verify.state
OUT=$WORK/write-pass.txt
$T "$BENCH" "$SOCK" --rw randwrite --iodepth 16 --queues 2 --runtime 1 --verify \
	--verify-prefill --verify-state "$STATE" --no-readback >"$OUT" 2>&1 ||
	{ cat "$OUT"; fail "write pass"; }
grep -q 'written_blocks=32768 ' "$OUT" || { cat "$OUT"; fail "prefill did not cover the image"; }
OFF=$((5 * 1048576 + 3 * 4096))           # a 4 KiB block in the middle of queue 0's slice
LBA=$((OFF / 512))
head -c 64 /dev/urandom | dd of="$IMG" bs=64 seek=$(((OFF + 1024) / 64)) conv=notrunc \
	status=none
OUT=$WORK/read-pass.txt
rc=0
$T "$BENCH" "$SOCK" --verify --verify-state "$STATE" --readback-only --queues 2 --iodepth 16 \
	>"$OUT" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$OUT"; fail "read-back of a corrupted image exited $rc, expected 1"; }
grep -q "VERIFY FAILED: .* lba $LBA (byte offset $OFF" "$OUT" ||
	{ cat "$OUT"; fail "the failure does not name lba $LBA"; }
grep -q 'first bad byte at +1024' "$OUT" || { cat "$OUT"; fail "no offset of the damage"; }
grep -q 'failures=1$' "$OUT" || { cat "$OUT"; fail "expected exactly one failing block"; }
grep -q '^result: FAIL$' "$OUT" || { cat "$OUT"; fail "result is not FAIL"; }
pass "corrupted block detected: lba $LBA, crc32c mismatch at +1024, exit status 1"
stop_qsd

# 4. null-co: what the client can drive (figures only).
NSOCK=$WORK/null.sock
start_qsd "$NSOCK" "driver=null-co,node-name=n,size=1073741824" n
for job in "1 1" "32 1" "1 2" "32 2"; do
	read -r qd nq <<<"$job"
	OUT=$WORK/null-$qd-$nq.json
	$T "$BENCH" "$NSOCK" --rw randread --iodepth "$qd" --queues "$nq" --threads 1 --runtime 2 \
		--json >"$OUT" 2>"$WORK/null.err" ||
		{ cat "$OUT" "$WORK/null.err"; fail "null-co QD$qd x$nq queues"; }
	python3 - "$OUT" "$qd" "$nq" <<'PY' || fail "null-co JSON"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["result"] == "pass"
m = j["main"]
print("PASS: null-co randread 4k QD%s x %s queue(s): %.0f IOPS, p50 %.1f us, %.2f us CPU/io"
      % (sys.argv[2], sys.argv[3], m["read"]["iops"], m["read"]["lat_us"]["p50"],
         m["cpu"]["us_per_io"]))
PY
done
stop_qsd
echo "PASS: 020-vhost-bench-qsd"
