#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Harness self-test of the guest kit on QEMU's own emulated disks (no vhost-user): disks are
# found by serial on both virtio-blk and virtio-scsi, the sg3-utils tools answer, ext4 can be
# made, mounted, written and checked, and discard works.
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

BLK=$E2E_DIRECT/blk.img SCSI=$E2E_DIRECT/scsi.img
e2e_disk "$BLK" 64M
e2e_disk "$SCSI" 96M

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<'GUEST'
set -e
list_disks
b=$(find_disk_by_serial blk-serial-1)
s=$(find_disk_by_serial scsi-serial-2)
result blk=$b scsi=$s
sg=$(ls /sys/block/${s#/dev/}/device/scsi_generic)
result sg=$sg
sg_turs "$s"
result vendor="$(sg_inq "$s" | sed -n 's/^ *Vendor identification: *//p' | tr -d ' ')"
sg_readcap -l "$s" | tee /tmp/rc.txt
result blocks=$(sed -n 's/.*Last LBA=\([0-9]*\).*/\1/p' /tmp/rc.txt)
sg_vpd -p sn "$s"
sg_luns "$s" >/dev/null
sg_modes "$s" >/dev/null
sg_opcodes "$s" >/dev/null 2>&1 || true   # QEMU's scsi-hd does not implement it
# an invalid opcode must end in CHECK CONDITION, ILLEGAL REQUEST / INVALID COMMAND OPCODE
result bad_opcode=$(scsi_sense "/dev/$sg" ff 00 00 00 00 00)
# READ(10) of one block past the end: LBA OUT OF RANGE
result past_end=$(scsi_sense -r 512 "/dev/$sg" 28 00 00 03 00 00 00 00 01 00)
result read_lba0=$(scsi_sense -r 512 "$s" 28 00 00 00 00 00 00 00 01 00)
mkfs.ext4 -q -F "$b"
mkdir -p /mnt/t
mount -t ext4 "$b" /mnt/t
dd if=/dev/urandom of=/mnt/t/f bs=1M count=8 2>/dev/null
m1=$(md5sum </mnt/t/f | cut -d' ' -f1)
umount /mnt/t
e2fsck -fn "$b"
mount -t ext4 "$b" /mnt/t
assert() { [ "$1" = "$2" ] || fail "$3: $1 != $2"; }
assert "$m1" "$(md5sum </mnt/t/f | cut -d' ' -f1)" "file md5 after remount"
umount /mnt/t
result ext4=ok
blkdiscard "$s"
result discard=ok
result file="$(cat /tmp/files/hello.txt)"
GUEST
)
echo "hello from the host" >"$E2E_TMP/hello.txt"
export E2E_GUEST_FILES=$E2E_TMP/hello.txt

run_guest "$script" \
	-drive "if=none,id=d0,file=$BLK,format=raw,cache=none,aio=native" \
	-device virtio-blk-pci,drive=d0,serial=blk-serial-1 \
	-device virtio-scsi-pci,id=vs0,num_queues=2 \
	-drive "if=none,id=d1,file=$SCSI,format=raw,cache=none,aio=native,discard=unmap" \
	-device scsi-hd,bus=vs0.0,drive=d1,serial=scsi-serial-2 ||
	fail "guest run: $E2E_GUEST_VERDICT"

assert_eq /dev/vda "$(e2e_result blk)" "virtio-blk disk found by serial"
assert_eq /dev/sda "$(e2e_result scsi)" "virtio-scsi disk found by serial"
assert_eq QEMU "$(e2e_result vendor)" "sg_inq vendor"
assert_eq $((96 * 1024 * 1024 / 512 - 1)) "$(e2e_result blocks)" "sg_readcap last LBA"
assert_eq 05/20/00 "$(e2e_result bad_opcode)" "sense of an invalid opcode"
assert_eq 05/21/00 "$(e2e_result past_end)" "sense of a READ(10) past the end"
assert_eq GOOD "$(e2e_result read_lba0)" "READ(10) of LBA 0"
assert_eq ok "$(e2e_result ext4)" "ext4 mkfs/mount/fsck"
assert_eq ok "$(e2e_result discard)" "blkdiscard"
assert_eq "hello from the host" "$(e2e_result file)" "file passed with E2E_GUEST_FILES"
pass "guest run ${E2E_GUEST_SECS}s"
