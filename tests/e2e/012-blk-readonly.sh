#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A read-only controller: the guest sees a read-only disk (VIRTIO_BLK_F_RO), reads work, a
# direct write fails with an I/O error, and the backing file is unchanged.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
e2e_disk "$IMG" 64M
host_md5=$(e2e_write_random "$IMG" 0 $((4 * MiB)))
file_md5=$(md5sum <"$IMG")

cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: disk0, type: aio, path: $IMG}
controllers:
  - {name: ro0, type: blk, backend: disk0, readonly: true}
EOF
)
vhostd_start "$cfg"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
wait_dev /dev/vda
result ro=\$(cat /sys/block/vda/ro)
result md5=\$(md5_range /dev/vda 0 $((4 * MiB)))
# The kernel refuses writes to a read-only disk itself; make it send one anyway.
blockdev --setrw /dev/vda 2>/dev/null
if dd if=/dev/urandom of=/dev/vda bs=4096 count=16 oflag=direct,sync 2>/tmp/dd.err; then
	result write=accepted
else
	result write=failed
fi
result dd_err="\$(tr '\n' ' ' </tmp/dd.err)"
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-60}
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/ro0" 1)
run_guest "$script" "${dev[@]}" || fail "guest run: $E2E_GUEST_VERDICT"
vhostd_stop || fail "vhostd exited with status $?"

assert_eq 1 "$(e2e_result ro)" "read-only flag in the guest"
assert_eq "$host_md5" "$(e2e_result md5)" "guest reads the file's content"
assert_eq failed "$(e2e_result write)" "write to the read-only disk"
log "guest dd: $(e2e_result dd_err)"
assert_eq "$file_md5" "$(md5sum <"$IMG")" "backing file unchanged"
pass
