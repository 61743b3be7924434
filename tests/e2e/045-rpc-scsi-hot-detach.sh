#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Hot-detach of a SCSI LUN during I/O, over the control socket. A guest runs fio on LUN 0:1
# (writes until it fails) and fio with crc32c verify on LUN 0:0 of the same controller;
# vhostd_scsi_remove_lun removes LUN 0:1 meanwhile: the call returns once the LUN's commands
# in flight have completed, the guest gets the removal event and deletes the disk (its sysfs
# entry disappears), fio on it stops with an error, and the verify on LUN 0:0 runs to the end
# with no error. The removed LUN's backend is deleted at once and its file removed. After
# the guest powers off, the controller and the other backend go too; vhostd then holds no
# descriptor on either file and has neither them nor the guest's memory mapped.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

IMG0=$E2E_DIRECT/lun0.img IMG1=$E2E_DIRECT/lun1.img
e2e_disk "$IMG0" 64M
e2e_disk "$IMG1" 64M
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" </dev/null)
vhostd_start "$cfg"
vhostctl bdev create-aio d0 "$IMG0" >/dev/null || fail "bdev create-aio d0"
vhostctl bdev create-aio d1 "$IMG1" >/dev/null || fail "bdev create-aio d1"
vhostctl ctrlr create-scsi vs0 --num-queues 2 >/dev/null || fail "ctrlr create-scsi"
vhostctl scsi add-target vs0 d0 --target 0 >/dev/null || fail "scsi add-target"
vhostctl scsi add-lun vs0 0 1 d1 >/dev/null || fail "scsi add-lun"

# fds_on FILE — vhostd's descriptors on FILE (also once it is deleted).
fds_on() {
	local fd
	for fd in "/proc/$VHOSTD_PID/fd/"*; do
		case "$(readlink "$fd")" in "$1" | "$1 (deleted)") echo "${fd##*/}" ;; esac
	done
}

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<'GUEST'
# The disk of LUN 0:1 goes away under fio: no sync on it at the end.
no_final_sync
H=
for h in /sys/class/scsi_host/host*; do
	[ "$(cat $h/proc_name)" = virtio_scsi ] && H=${h##*/host}
done
[ -n "$H" ] || fail "no virtio_scsi host"
d0=$(find_disk_by_serial vs0-t0-l0) || fail "no LUN 0:0"
d1=$(find_disk_by_serial vs0-t0-l1) || fail "no LUN 0:1"
[ -e /sys/class/scsi_device/$H:0:0:1 ] || fail "no $H:0:0:1"
fio --name=load --filename=$d1 --ioengine=libaio --direct=1 --rw=randwrite --bs=4k \
	--iodepth=16 --size=48M --time_based --runtime=60 --eta=never \
	--output=/tmp/fio-load.txt >/dev/null 2>&1 &
pl=$!
fio_verify $d0 --size=12M --iodepth=8 >/tmp/fio-verify.log 2>&1 &
pv=$!
# Both disks busy (writes completed: field 5 of the stat file) before the host acts.
t=300
while [ "$(awk '{ print $5 }' /sys/block/${d0#/dev/}/stat)" -lt 64 ] ||
	[ "$(awk '{ print $5 }' /sys/block/${d1#/dev/}/stat)" -lt 64 ]; do
	t=$((t - 1))
	[ "$t" -gt 0 ] || fail "fio did not start writing within 30 s"
	sleep 0.1
done
result phase=io
# The host removes LUN 0:1 now.
t=300
while [ -e /sys/class/scsi_device/$H:0:0:1 ]; do
	t=$((t - 1))
	[ "$t" -gt 0 ] || fail "$H:0:0:1 still present after 30 s"
	sleep 0.1
done
result removed_at=$(cut -d' ' -f1 /proc/uptime)
if [ -e "$d1" ]; then result node_left=yes; else result node_left=no; fi
t=300
while kill -0 $pl 2>/dev/null; do
	t=$((t - 1))
	[ "$t" -gt 0 ] || { kill -9 $pl; fail "fio on the removed disk still runs after 30 s"; }
	sleep 0.1
done
rc=0
wait $pl || rc=$?
result load_rc=$rc
result load_err="$(grep -o 'err=[ ]*[0-9]*' /tmp/fio-load.txt | head -n1)"
rc=0
wait $pv || rc=$?
result verify_done_at=$(cut -d' ' -f1 /proc/uptime)
if [ "$rc" -ne 0 ]; then
	cat /tmp/fio-verify.log
	fail "fio verify on LUN 0:0 failed (status $rc)"
fi
result verify=ok
result ioerrors0=$(dmesg | grep "${d0#/dev/}" | grep -ci 'I/O error' || true)
result "luns=$(ls /sys/class/scsi_device | tr '\n' ' ')"
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
mapfile -t dev < <(vhost_user_scsi_args c0 "$E2E_TMP/vs0" 2)
run_guest_bg "$script" "${dev[@]}"
guest=$E2E_GUEST_PID
wait_guest_result phase 60 "$guest" >/dev/null
sleep 0.5
t0=$(date +%s.%N)
out=$(vhostctl scsi remove-lun vs0 0 1) || fail "scsi remove-lun: $out"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
assert_eq "removed LUN 0:1 of controller 'vs0'" "$out" "vhostctl scsi remove-lun"
running=$(sed -n 's/.*vs0: LUN 0:1 removed (\([0-9]*\) commands were running.*/\1/p' \
	"$VHOSTD_LOG")
[ -n "$running" ] || fail "no 'LUN 0:1 removed' in the log"
log "ok: remove-lun took ${secs}s; $running commands of the LUN were running then"
# Its backend is free at once, and nothing stays open on its file.
out=$(vhostctl bdev delete d1) || fail "bdev delete d1 right after the removal: $out"
rm -f "$IMG1"
[ -z "$(fds_on "$IMG1")" ] || fail "vhostd still has $IMG1 open"
out=$(vhostctl scsi list vs0) || fail "scsi list: $out"
if ! grep -Eq '^vs0 +0 +0 +d0 +read-write$' <<<"$out" || grep -q d1 <<<"$out"; then
	fail "scsi list after the removal: $out"
fi
# While connected, vhostd maps the guest's RAM (QEMU's memory-backend-memfd "mem").
grep -q 'memfd:mem' "/proc/$VHOSTD_PID/maps" || fail "guest memory not seen in vhostd's maps"

wait_guest "$guest" || fail "guest: $E2E_GUEST_VERDICT"
removed=$(e2e_result removed_at) verified=$(e2e_result verify_done_at)
awk -v a="$removed" -v b="$verified" 'BEGIN { exit !(a < b) }' ||
	fail "the verify on LUN 0:0 ended (${verified}s) before LUN 0:1 went (${removed}s)"
assert_eq ok "$(e2e_result verify)" "fio verify on LUN 0:0 across the removal"
assert_eq 0 "$(e2e_result ioerrors0)" "I/O errors on LUN 0:0 in the guest kernel log"
[ "$(e2e_result load_rc)" -ne 0 ] || fail "fio on the removed disk ended without an error"
assert_eq no "$(e2e_result node_left)" "device node of the removed disk"
log "guest: LUN 0:1 gone at ${removed}s, verify done at ${verified}s; fio on it:" \
	"status $(e2e_result load_rc), $(e2e_result load_err); devices left: $(e2e_result luns)"

# The guest is off: the controller and its backend go, and nothing of them stays.
out=$(vhostctl ctrlr delete vs0) || fail "ctrlr delete: $out"
[ ! -e "$E2E_TMP/vs0" ] || fail "socket left behind"
out=$(vhostctl bdev delete d0) || fail "bdev delete d0: $out"
rm -f "$IMG0"
for f in "$IMG0" "$IMG1"; do
	[ -z "$(fds_on "$f")" ] || fail "vhostd still has $f open"
	! grep -qF "$f" "/proc/$VHOSTD_PID/maps" || fail "vhostd still maps $f"
done
# The guest's RAM is no longer mapped either.
! grep -q 'memfd:mem' "/proc/$VHOSTD_PID/maps" || fail "vhostd still maps the guest's memory"
vhostd_stop || fail "vhostd exited with status $?"
pass "LUN removed under I/O in ${secs}s ($running commands waited for); guest ${E2E_GUEST_SECS}s"
