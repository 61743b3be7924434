#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Online resize of a virtio-scsi LUN over the control socket: while fio with crc32c verify
# runs on the LUN, the host grows its backing file and rescans the backend. The LUN reports
# CAPACITY DATA HAS CHANGED (06/2A/09), which Linux retries without an I/O error and logs;
# the guest then sees the new capacity (re-read by itself on a PARAM_CHANGE event when
# VIRTIO_SCSI_F_CHANGE was negotiated, else after the usual `device/rescan`), writes and
# verifies data in the new space, and its kernel logs no I/O error.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/lun0.img
e2e_disk "$IMG" 64M
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: lun0, type: aio, path: $IMG}
controllers:
  - {name: scsi0, type: scsi, targets: [{id: 0, luns: [{lun: 0, backend: lun0}]}]}
EOF
)
vhostd_start "$cfg"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
d=\$(find_disk_by_serial scsi0-t0-l0)
n=\${d#/dev/}
result size0=\$(disk_size \$d)
fio_verify \$d --size=24M --iodepth=16 >/tmp/fio-during.log 2>&1 &
pf=\$!
result phase=io
# Until the kernel shows the new capacity: Linux re-reads it on PARAM_CHANGE by itself;
# otherwise ask for a rescan, as udev does on the capacity-change uevent (30 s at most).
t=300
while [ "\$(disk_size \$d)" != "$((192 * MiB))" ]; do
	t=\$((t - 1))
	[ "\$t" -gt 0 ] || fail "\$d stayed at \$(disk_size \$d) bytes"
	[ "\$t" -lt 290 ] && echo 1 >/sys/block/\$n/device/rescan
	sleep 0.1
done
result size1=\$(disk_size \$d) rescans=\$((290 - t < 0 ? 0 : 290 - t))
if ! wait \$pf; then cat /tmp/fio-during.log; fail "fio across the resize"; fi
result fio_during=ok
fio_verify \$d --offset=$((128 * MiB)) --size=32M --bs=64k --iodepth=8
result fio_new=ok
result pattern=\$(write_random \$d $((190 * MiB)) $MiB)
result ua=\$(dmesg | grep -ci 'capacity data has changed' || true)
result ioerrors=\$(dmesg | grep -ci 'I/O error' || true)
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-120}
mapfile -t dev < <(vhost_user_scsi_args c0 "$E2E_TMP/scsi0" 1)
run_guest_bg "$script" "${dev[@]}"
guest=$E2E_GUEST_PID
wait_guest_result phase 60 "$guest" >/dev/null
sleep 1
truncate -s 192M "$IMG"
out=$(vhostctl bdev rescan lun0) || fail "rescan: $out"
assert_eq "lun0: 64 MiB -> 192 MiB (1 connected front-end notified)" "$out" "vhostctl bdev rescan"

wait_guest "$guest" || fail "guest: $E2E_GUEST_VERDICT"
assert_eq $((64 * MiB)) "$(e2e_result size0)" "LUN size at boot"
assert_eq $((192 * MiB)) "$(e2e_result size1)" "LUN size after the rescan"
assert_eq ok "$(e2e_result fio_during)" "fio verify across the resize"
assert_eq ok "$(e2e_result fio_new)" "fio verify in the new space"
assert_eq 0 "$(e2e_result ioerrors)" "I/O errors in the guest kernel log"
[ "$(e2e_result ua)" -ge 1 ] || fail "the guest kernel did not log the capacity-change unit attention"
assert_eq "$(e2e_result pattern)" "$(e2e_md5_range "$IMG" $((190 * MiB)) "$MiB")" \
	"guest pattern in the grown part of the file"
vhostd_stop || fail "vhostd exited with status $?"
pass "guest rescans before the new size showed: $(e2e_result rescans); guest ${E2E_GUEST_SECS}s"
