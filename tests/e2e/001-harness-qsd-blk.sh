#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Harness self-test against a vhost-user-blk server we did not write (qemu-storage-daemon):
# the guest reads a pattern the host wrote before boot, runs fio write+verify on /dev/vda and
# writes a pattern that the host then finds in the image file after the daemon has stopped.
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

e2e_require qemu-storage-daemon
MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
SOCK=$E2E_TMP/qsd.sock
HOST_OFF=$((100 * MiB)) GUEST_OFF=$((200 * MiB)) PLEN=$((1 * MiB))

e2e_disk "$IMG" 256M
host_md5=$(e2e_write_random "$IMG" "$HOST_OFF" "$PLEN")
log "host pattern at $HOST_OFF: $host_md5"

e2e_qsd_blk "$IMG" "$SOCK" 2
QSD=$E2E_PID

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
wait_dev /dev/vda
list_disks
result size=\$(disk_size /dev/vda)
result nq=\$(ls /sys/block/vda/mq | wc -l)
result host_pattern=\$(md5_range /dev/vda $HOST_OFF $PLEN)
fio_verify /dev/vda --rw=randwrite --bs=4k --size=32M --iodepth=16 --numjobs=1
result fio=ok
result guest_pattern=\$(write_random /dev/vda $GUEST_OFF $PLEN)
result guest_readback=\$(md5_range /dev/vda $GUEST_OFF $PLEN)
GUEST
)

mapfile -t dev < <(vhost_user_blk_args c0 "$SOCK" 2)
run_guest "$script" "${dev[@]}" || fail "guest run: $E2E_GUEST_VERDICT"
log "boot to poweroff: ${E2E_GUEST_SECS}s"

e2e_kill "$QSD" || fail "qemu-storage-daemon exited with status $?"
log "qemu-storage-daemon stopped"

assert_eq $((256 * MiB)) "$(e2e_result size)" "disk size seen by the guest"
assert_eq 2 "$(e2e_result nq)" "virtqueues (blk-mq hw queues) in the guest"
assert_eq "$host_md5" "$(e2e_result host_pattern)" "host-written pattern read by the guest"
guest_md5=$(e2e_result guest_pattern) || fail "guest did not report its pattern"
assert_eq "$guest_md5" "$(e2e_result guest_readback)" "guest pattern read back in the guest"
assert_eq "$guest_md5" "$(e2e_md5_range "$IMG" "$GUEST_OFF" "$PLEN")" \
	"guest-written pattern in the host image"
pass "boot to poweroff ${E2E_GUEST_SECS}s"
