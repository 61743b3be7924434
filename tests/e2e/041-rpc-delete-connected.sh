#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Teardown rules with a guest connected, over the control socket: deleting its controller is
# refused (the message says a front-end is connected), deleting its backend is refused naming
# the controller, and the guest's fio verify running meanwhile is unaffected. With force, the
# controller is deleted while the guest is busy writing: in-flight I/O is drained first, the
# socket disappears, and the backend can be deleted at once with no descriptor left on its
# file; data the guest wrote and flushed before is in the file; vhostd keeps serving.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
e2e_disk "$IMG" 128M
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" </dev/null)
vhostd_start "$cfg"
vhostctl bdev create-aio disk0 "$IMG" >/dev/null || fail "bdev create-aio"
vhostctl ctrlr create-blk blk0 disk0 --num-queues 2 >/dev/null || fail "ctrlr create-blk"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
no_final_sync
wait_dev /dev/vda || fail "no disk"
result pattern=\$(write_random /dev/vda $((8 * MiB)) $MiB)
result phase=connected
fio_verify /dev/vda --size=16M --offset=$((16 * MiB)) || fail "fio verify while connected"
result fio=ok
result ioerrors=\$(dmesg | grep -ci 'I/O error' || true)
# Busy until the backend goes away; fio then fails or hangs, both are fine.
result phase=load
bounded 60 fio --name=load --filename=/dev/vda --rw=randwrite --bs=4k --iodepth=32 \
	--direct=1 --ioengine=libaio --size=64M --offset=$((32 * MiB)) --time_based \
	--runtime=60 --output=/tmp/fio-load.out >/dev/null 2>&1
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 2)
run_guest_bg "$script" "${dev[@]}"
guest=$E2E_GUEST_PID
pattern=$(wait_guest_result pattern 60 "$guest")
wait_guest_result phase 30 "$guest" >/dev/null

out=$(vhostctl ctrlr delete blk0 2>&1) && fail "deleting a connected controller succeeded"
grep -q "controller 'blk0' has a connected front-end (use force to disconnect it) (code -16)" \
	<<<"$out" || fail "refused delete: $out"
out=$(vhostd_rpc vhost_delete_controller '{"ctrlr":"blk0"}' 2>&1) && fail "RPC delete succeeded"
out=$(vhostctl bdev delete disk0 2>&1) && fail "deleting a backend in use succeeded"
grep -q "backend 'disk0' is used by controller 'blk0' (code -16)" <<<"$out" ||
	fail "refused backend delete: $out"
[ -S "$E2E_TMP/blk0" ] || fail "a refused delete removed the socket"
assert_eq ok "$(wait_guest_result fio 60 "$guest")" "guest fio verify next to refused deletes"
assert_eq 0 "$(wait_guest_result ioerrors 10 "$guest")" "guest I/O errors next to refused deletes"

wait_guest_result phase 30 "$guest" >/dev/null   # phase=load
sleep 2
writes=$(vhostd_rpc vhostd_get_stats '{"name":"blk0"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["controllers"][0]["total"]["writes"])')
[ "$writes" -gt 0 ] || fail "no writes counted before the forced delete"
t0=$(date +%s.%N)
out=$(vhostctl ctrlr delete blk0 --force) || fail "forced delete: $out"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
assert_eq "deleted controller 'blk0'" "$out" "vhostctl ctrlr delete --force"
[ ! -e "$E2E_TMP/blk0" ] || fail "socket left behind after the forced delete"
vhostd_log_has "blk0: q[01] stopped" || fail "no queue drained and stopped in the log"
out=$(vhostctl bdev delete disk0) || fail "backend delete after the forced delete: $out"
for fd in "/proc/$VHOSTD_PID/fd/"*; do
	if [ "$(readlink "$fd")" = "$IMG" ]; then
		fail "vhostd still has $IMG open (fd ${fd##*/})"
	fi
done
assert_eq "$pattern" "$(e2e_md5_range "$IMG" $((8 * MiB)) "$MiB")" "flushed data in the file"
rm -f "$IMG"
e2e_kill "$guest" >/dev/null || true
# Still serving.
vhostctl bdev create-malloc ram0 16MiB >/dev/null || fail "vhostd unwell after the forced delete"
vhostd_stop || fail "vhostd exited with status $?"
pass "forced delete under load took ${secs}s; backend deleted at once"
