#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# virtio-blk over the aio backend, 2 queues: the guest sees the right size and queue count,
# fio randwrite and randrw with crc32c verify pass, a pattern the host wrote before boot reads
# back in the guest, and a pattern the guest wrote is in the backing file on the host.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
HOST_OFF=$((100 * MiB)) GUEST_OFF=$((200 * MiB)) PLEN=$MiB

e2e_disk "$IMG" 256M
host_md5=$(e2e_write_random "$IMG" "$HOST_OFF" "$PLEN")
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: disk0, type: aio, path: $IMG}
controllers:
  - {name: blk0, type: blk, backend: disk0, num_queues: 2, serial: e2e-010}
EOF
)
vhostd_start "$cfg"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
dev=\$(find_disk_by_serial e2e-010)
result dev=\$dev
result size=\$(disk_size \$dev)
result nq=\$(ls /sys/block/\${dev#/dev/}/mq | wc -l)
result host_pattern=\$(md5_range \$dev $HOST_OFF $PLEN)
fio_verify \$dev --rw=randwrite --bs=4k --size=32M --iodepth=16
fio_verify \$dev --rw=randrw --bs=4k --size=16M --offset=64M --offset_increment=16M \
	--iodepth=8 --numjobs=2
result fio=ok
result guest_pattern=\$(write_random \$dev $GUEST_OFF $PLEN)
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 2)
run_guest "$script" "${dev[@]}" || fail "guest run: $E2E_GUEST_VERDICT"

vhostd_stop || fail "vhostd exited with status $?"
assert_eq /dev/vda "$(e2e_result dev)" "disk found by serial"
assert_eq $((256 * MiB)) "$(e2e_result size)" "disk size seen by the guest"
assert_eq 2 "$(e2e_result nq)" "virtqueues in the guest"
assert_eq ok "$(e2e_result fio)" "fio verify"
assert_eq "$host_md5" "$(e2e_result host_pattern)" "host-written pattern read by the guest"
assert_eq "$(e2e_result guest_pattern)" "$(e2e_md5_range "$IMG" "$GUEST_OFF" "$PLEN")" \
	"guest-written pattern in the backing file"
vhostd_log_has "q1 started" || fail "queue 1 was never started"
pass "boot to poweroff ${E2E_GUEST_SECS}s"
