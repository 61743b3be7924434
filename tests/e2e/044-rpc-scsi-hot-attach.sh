#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Hot-attach of SCSI LUNs over the control socket. A guest boots on an empty virtio-scsi
# controller made with vhost_create_scsi_controller (an HBA with no disk); while it runs,
# vhost_scsi_controller_add_target adds LUN 0 of target 0: the guest gets the hot-plug event,
# the disk appears (/sys/class/scsi_device/H:0:0:0) and fio with crc32c verify runs on it.
# Meanwhile vhostd_scsi_add_lun adds a read-only LUN 0:1 (its target's LUN 0 then reports
# REPORTED LUNS DATA HAS CHANGED, which Linux retries): it appears too, reads the host's data
# and refuses writes. bdev_get_iostat counts the LUNs' I/O for their backends.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

KiB=1024 MiB=$((1024 * 1024))
IMG0=$E2E_DIRECT/lun0.img IMG1=$E2E_DIRECT/lun1.img
e2e_disk "$IMG0" 64M
e2e_disk "$IMG1" 16M
host1=$(e2e_write_random "$IMG1" $((4 * MiB)) $((256 * KiB)))
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" </dev/null)
vhostd_start "$cfg"
vhostctl bdev create-aio d0 "$IMG0" >/dev/null || fail "bdev create-aio d0"
vhostctl bdev create-aio d1 "$IMG1" >/dev/null || fail "bdev create-aio d1"
out=$(vhostctl ctrlr create-scsi vs0 --num-queues 2) || fail "ctrlr create-scsi: $out"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
# The virtio-scsi HBA (not any other SCSI host the machine may have).
H=
for h in /sys/class/scsi_host/host*; do
	[ "\$(cat \$h/proc_name)" = virtio_scsi ] && H=\${h##*/host}
done
[ -n "\$H" ] || fail "no virtio_scsi host"
result boot_devices=\$(ls /sys/class/scsi_device | wc -l)
result phase=booted
wait_dev /sys/class/scsi_device/\$H:0:0:0 30 || fail "LUN 0:0 did not appear"
result attached0=\$(cut -d' ' -f1 /proc/uptime)
d0=\$(find_disk_by_serial vs0-t0-l0)
if ! fio_verify \$d0 --size=8M --iodepth=8 >/tmp/fio0.log 2>&1; then
	cat /tmp/fio0.log
	fail "fio verify on LUN 0:0"
fi
result fio=ok
wait_dev /sys/class/scsi_device/\$H:0:0:1 30 || fail "LUN 0:1 did not appear"
d1=\$(find_disk_by_serial vs0-t0-l1)
result ro=\$(cat /sys/block/\${d1#/dev/}/ro)
result host1=\$(md5_range \$d1 $((4 * MiB)) $((256 * KiB)))
if dd if=/dev/zero of=\$d1 bs=4096 count=1 oflag=direct 2>/dev/null; then
	result ro_write=accepted
else
	result ro_write=refused
fi
result ioerrors0=\$(dmesg | grep "\${d0#/dev/}" | grep -ci 'I/O error' || true)
result lunchange=\$(dmesg | grep -c 'LUN assignments on this target have changed' || true)
result "luns=\$(ls /sys/class/scsi_device | tr '\n' ' ')"
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
mapfile -t dev < <(vhost_user_scsi_args c0 "$E2E_TMP/vs0" 2)
run_guest_bg "$script" "${dev[@]}"
guest=$E2E_GUEST_PID
wait_guest_result phase 60 "$guest" >/dev/null
assert_eq 0 "$(wait_guest_result boot_devices 5 "$guest")" "SCSI devices at boot"
out=$(vhostctl ctrlr list vs0) || fail "ctrlr list: $out"
grep -Eq '^vs0 +scsi +0 LUNs .* connected ' <<<"$out" || fail "empty controller not connected: $out"

out=$(vhostctl scsi add-target vs0 d0 --target 0) || fail "scsi add-target: $out"
assert_eq "added target 0 to controller 'vs0' (LUN 0: backend 'd0')" "$out" \
	"vhostctl scsi add-target"
wait_guest_result attached0 30 "$guest" >/dev/null
sleep 0.5   # fio runs on LUN 0:0
vhostd_rpc vhostd_scsi_add_lun '{"ctrlr":"vs0","target":0,"lun":1,"bdev_name":"d1",
	"readonly":true}' >/dev/null || fail "vhostd_scsi_add_lun"

wait_guest "$guest" || fail "guest: $E2E_GUEST_VERDICT"
assert_eq ok "$(e2e_result fio)" "fio verify on the hot-added LUN"
assert_eq 0 "$(e2e_result ioerrors0)" "I/O errors on LUN 0:0 in the guest kernel log"
assert_eq 1 "$(e2e_result ro)" "read-only flag of the hot-added LUN 0:1"
assert_eq refused "$(e2e_result ro_write)" "write to the read-only LUN"
assert_eq "$host1" "$(e2e_result host1)" "host data read through LUN 0:1"
log "guest SCSI devices: $(e2e_result luns); 06/3F/0E seen by the guest: $(e2e_result lunchange)"
vhostd_log_has "vs0: LUN 0:0 added \(backend d0\)" || fail "no 'LUN 0:0 added' in the log"
vhostd_log_has "vs0: LUN 0:1 added \(backend d1, read-only\)" || fail "no 'LUN 0:1 added'"

# The LUNs' I/O counts for their backends.
stat=$(vhostd_rpc bdev_get_iostat '{"names":["d0","d1"]}') || fail "bdev_get_iostat"
read -r w0 r0 w1 r1 < <(python3 -c 'import json,sys
b = {x["name"]: x for x in json.load(sys.stdin)["bdevs"]}
print(b["d0"]["num_write_ops"], b["d0"]["num_read_ops"], b["d1"]["num_write_ops"],
      b["d1"]["num_read_ops"])' <<<"$stat")
if [ "$w0" -lt 2048 ] || [ "$r0" -lt 2048 ]; then fail "d0 counted $w0 writes, $r0 reads"; fi
if [ "$w1" -ne 0 ] || [ "$r1" -lt 1 ]; then fail "d1 counted $w1 writes, $r1 reads"; fi
log "ok: iostat d0 $w0 writes/$r0 reads, d1 $r1 reads"
vhostd_stop || fail "vhostd exited with status $?"
pass "LUNs attached while the guest ran; guest ${E2E_GUEST_SECS}s"
