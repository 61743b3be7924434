#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A virtio-scsi controller with three LUNs on two targets (aio, RAM with 4 KiB blocks, a
# read-only aio LUN on target 3): the guest's SCSI stack attaches each with the configured
# HCTL, identifiers, capacity, block size, cache mode, write protection and discard support;
# sg3-utils commands work (INQUIRY and VPD pages, READ CAPACITY(16), REPORT LUNS, MODE SENSE,
# REPORT SUPPORTED OPERATION CODES, SYNCHRONIZE CACHE, UNMAP, WRITE SAME) and the data they
# change is what the host sees in the backing file; bad CDBs get the expected sense; the guest
# can switch the write cache (MODE SELECT) and use the RAM LUN for an ext4 filesystem.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG0=$E2E_DIRECT/disk0.img IMG1=$E2E_DIRECT/disk1.img
e2e_disk "$IMG0" 64M
e2e_disk "$IMG1" 32M
# Patterns the guest will unmap / zero with WRITE SAME, and one it reads on the read-only LUN.
e2e_write_random "$IMG0" $((2 * MiB)) "$MiB" >/dev/null
e2e_write_random "$IMG0" $((4 * MiB)) "$MiB" >/dev/null
ro_md5=$(e2e_write_random "$IMG1" 0 "$MiB")
ro_file=$(md5sum <"$IMG1")
zero_md5=$(head -c "$MiB" /dev/zero | md5sum | cut -d' ' -f1)

cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: disk0, type: aio, path: $IMG0}
  - {name: ram0, type: malloc, size: 32MiB, block_size: 4096}
  - {name: disk1, type: aio, path: $IMG1}
controllers:
  - name: scsi0
    type: scsi
    num_queues: 2
    targets:
      - {id: 0, luns: [{lun: 0, backend: disk0}, {lun: 1, backend: ram0}]}
      - {id: 3, luns: [{lun: 0, backend: disk1, readonly: true}]}
EOF
)
vhostd_start "$cfg"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
MiB=$MiB
GUEST
)
cat >>"$script" <<'GUEST'
d0=$(find_disk_by_serial scsi0-t0-l0)
d1=$(find_disk_by_serial scsi0-t0-l1)
d3=$(find_disk_by_serial scsi0-t3-l0)
# Channel:target:lun of every SCSI device, and of each disk (host number stripped).
result "devices=$(ls /sys/class/scsi_device | cut -d: -f2- | sort | tr '\n' ' ')"
for v in d0 d1 d3; do
	eval dev=\$$v
	n=${dev#/dev/}
	sysd=/sys/block/$n/device
	result "${v}_ctl=$(basename "$(readlink "$sysd")" | cut -d: -f2-)"
	q=/sys/block/$n/queue
	result "${v}_size=$(disk_size "$dev")" "${v}_lbs=$(cat $q/logical_block_size)"
	result "${v}_ro=$(cat /sys/block/$n/ro)" "${v}_discard=$(cat $q/discard_max_bytes)"
	result "${v}_cache=$(cat $sysd/scsi_disk/*/cache_type)"
	result "${v}_vendor=$(tr -d ' ' <$sysd/vendor)" "${v}_model=$(sed 's/ *$//' $sysd/model)"
	result "${v}_wwid=$(cat $sysd/wwid)" "${v}_nq=$(ls /sys/block/$n/mq | wc -l)"
done
sg_inq "$d0" >/tmp/inq
result "inq_version=$(sed -n 's/.*version=\(0x[0-9a-f]*\).*/\1/p' /tmp/inq)"
result "inq_cmdque=$(sed -n 's/.*CmdQue=\([01]\).*/\1/p' /tmp/inq)"
result "inq_rev=$(sed -n 's/^ *Product revision level: *//p' /tmp/inq | tr -d ' ')"
result "vpd_sn=$(sg_vpd -p sn "$d1" | sed -n 's/^ *Unit serial number: *//p')"
result "vpd_naa=$(sg_vpd -p di "$d0" | grep -A1 'designator type: NAA' | tail -n1 | tr -d ' ')"
result "vpd_unmap=$(sg_vpd -p bl "$d0" | sed -n 's/^ *Maximum unmap LBA count: *//p')"
result "vpd_rot=$(sg_vpd -p bdc "$d0" | grep -i 'rotat' | head -n1 | sed 's/^ *//')"
result "rotational=$(cat /sys/block/${d0#/dev/}/queue/rotational)"
result "vpd_lbpu=$(sg_vpd -p lbpv "$d0" | sed -n 's/.*(LBPU): *//p')"
result "vpd_ro_lbpu=$(sg_vpd -p lbpv "$d3" | sed -n 's/.*(LBPU): *//p')"
sg_readcap -l "$d1" >/tmp/rc1
lba=$(sed -n 's/.*Last LBA=\([0-9]*\).*/\1/p' /tmp/rc1)
result "rc16_d1=$lba/$(sed -n 's/.*Logical block length=\([0-9]*\).*/\1/p' /tmp/rc1)"
result "rc16_lbpme=$(sed -n 's/.*lbpme=\([01]\).*/\1/p' /tmp/rc1)"
sg_readcap -l -R "$d3" >/tmp/rc3
result "rc16_d3=$(sed -n 's/.*Last LBA=\([0-9]*\).*/\1/p' /tmp/rc3)"
result "luns=$(sg_luns "$d0" | grep -c '^ *00')"
result "mode_wp_ro=$(sg_modes "$d3" | sed -n 's/.*WP=\([01]\).*/\1/p' | head -n1)"
result "mode_wp_rw=$(sg_modes "$d0" | sed -n 's/.*WP=\([01]\).*/\1/p' | head -n1)"
result "opcodes=$(sg_opcodes "$d0" | grep -c '^ [0-9a-f][0-9a-f] ')"
result "ws16_supported=$(sg_opcodes -o 0x93 "$d0" 2>&1 | grep -ci 'supported \[conforming')"
sg_sync "$d0"
result sync=ok
# UNMAP 1 MiB at 4 MiB; WRITE SAME(16) UNMAP of zeroes over 1 MiB at 2 MiB; WRITE SAME(10)
# of a random block over 8 KiB at 1 MiB.
sg_unmap --force --lba=$((4 * MiB / 512)) --num=2048 "$d0"
sg_write_same --16 --unmap --lba=$((2 * MiB / 512)) --num=2048 "$d0"
dd if=/dev/urandom of=/tmp/blk bs=512 count=1 2>/dev/null
sg_write_same --10 --in=/tmp/blk --lba=$((MiB / 512)) --num=16 "$d0"
result "ws_expect=$(for i in $(seq 16); do cat /tmp/blk; done | md5sum | cut -d' ' -f1)"
result "ws_read=$(md5_range "$d0" $MiB 8192)"
result "unmapped=$(md5_range "$d0" $((4 * MiB)) $MiB)"
result "ws_zeroed=$(md5_range "$d0" $((2 * MiB)) $MiB)"
# Negative CDBs through the sg node.
sg0=/dev/$(ls /sys/block/${d0#/dev/}/device/scsi_generic)
sg3=/dev/$(ls /sys/block/${d3#/dev/}/device/scsi_generic)
result "bad_opcode=$(scsi_sense "$sg0" ff 00 00 00 00 00)"
result "past_end=$(scsi_sense -r 512 "$sg0" 28 00 00 02 00 00 00 00 01 00)"
result "bad_vpd=$(scsi_sense -r 255 "$sg0" 12 01 c7 00 ff 00)"
result "ro_write=$(scsi_sense -s 512 -i /tmp/blk "$sg3" 2a 00 00 00 00 10 00 00 01 00)"
result "ro_read=$(md5_range "$d3" 0 $MiB)"
blockdev --setrw "$d3" 2>/dev/null || true
if dd if=/tmp/blk of="$d3" bs=512 count=1 seek=64 oflag=direct 2>/dev/null; then
	result ro_dd=accepted
else
	result ro_dd=failed
fi
# The guest turns the write cache off (MODE SELECT) and back on.
cache=$(ls -d /sys/block/${d0#/dev/}/device/scsi_disk/*)/cache_type
echo "write through" >"$cache"
result "cache_off=$(cat "$cache")"
echo "write back" >"$cache"
result "cache_on=$(cat "$cache")"
# ext4 on the RAM LUN (mkfs discards it first).
mkfs.ext4 -q -F "$d1"
mkdir -p /mnt/t
mount -t ext4 "$d1" /mnt/t
dd if=/dev/urandom of=/mnt/t/f bs=64k count=32 2>/dev/null
m1=$(md5sum </mnt/t/f | cut -d' ' -f1)
umount /mnt/t
e2fsck -fn "$d1" >/dev/null
mount -t ext4 "$d1" /mnt/t
[ "$m1" = "$(md5sum </mnt/t/f | cut -d' ' -f1)" ] || fail "ext4 file changed across remount"
umount /mnt/t
result ext4=ok
GUEST
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
mapfile -t dev < <(vhost_user_scsi_args c0 "$E2E_TMP/scsi0" 2)
run_guest "$script" "${dev[@]}" || fail "guest run: $E2E_GUEST_VERDICT"
vhostd_stop || fail "vhostd exited with status $?"

r() { e2e_result "$1"; }
assert_eq "0:0:0 0:0:1 0:3:0 " "$(r devices)" "SCSI devices (channel:target:lun)"
assert_eq 0:0:0 "$(r d0_ctl)" "HCTL of scsi0-t0-l0"
assert_eq 0:0:1 "$(r d1_ctl)" "HCTL of scsi0-t0-l1"
assert_eq 0:3:0 "$(r d3_ctl)" "HCTL of scsi0-t3-l0"
assert_eq "$((64 * MiB))/512" "$(r d0_size)/$(r d0_lbs)" "aio LUN size/block size"
assert_eq "$((32 * MiB))/4096" "$(r d1_size)/$(r d1_lbs)" "RAM LUN size/block size"
assert_eq "$((32 * MiB))/512" "$(r d3_size)/$(r d3_lbs)" "read-only LUN size/block size"
assert_eq 0/0/1 "$(r d0_ro)/$(r d1_ro)/$(r d3_ro)" "read-only flags"
assert_eq "write back/write through" "$(r d0_cache)/$(r d1_cache)" "cache modes (aio, RAM)"
if [ "$(r d0_discard)" -eq 0 ] || [ "$(r d1_discard)" -eq 0 ]; then
	fail "discard not offered: $(r d0_discard) $(r d1_discard)"
fi
assert_eq 0 "$(r d3_discard)" "no discard on the read-only LUN"
assert_eq "VHOSTD/Virtual disk" "$(r d0_vendor)/$(r d0_model)" "vendor/model"
case "$(r d0_wwid)" in naa.3*) ;; *) fail "wwid: $(r d0_wwid)" ;; esac
[ "$(r d0_wwid)" != "$(r d1_wwid)" ] || fail "two LUNs share a WWN"
assert_eq "$(r d0_wwid)" "naa.$(r vpd_naa | sed 's/^0x//')" "VPD 0x83 NAA = sysfs wwid"
assert_eq 2 "$(r d0_nq)" "request queues (blk-mq hardware queues)"
assert_eq 0x06/1/0.1 "$(r inq_version)/$(r inq_cmdque)/$(r inq_rev)" "INQUIRY version/CmdQue/rev"
assert_eq scsi0-t0-l1 "$(r vpd_sn)" "VPD 0x80 serial"
assert_eq 2097152 "$(r vpd_unmap)" "VPD 0xB0 maximum unmap LBA count"
case "$(r vpd_rot)" in Non-rotating*) ;; *) fail "VPD 0xB1 rotation rate: $(r vpd_rot)" ;; esac
assert_eq 0 "$(r rotational)" "guest sees a non-rotational disk"
assert_eq 1/0 "$(r vpd_lbpu)/$(r vpd_ro_lbpu)" "VPD 0xB2 LBPU (rw/ro)"
assert_eq 8191/4096 "$(r rc16_d1)" "READ CAPACITY(16) of the RAM LUN"
assert_eq 1 "$(r rc16_lbpme)" "LBPME"
assert_eq 65535 "$(r rc16_d3)" "READ CAPACITY(16) of the read-only LUN"
assert_eq 2 "$(r luns)" "REPORT LUNS entries on target 0"
assert_eq 1/0 "$(r mode_wp_ro)/$(r mode_wp_rw)" "MODE SENSE WP (ro/rw)"
assert_eq 28 "$(r opcodes)" "REPORT SUPPORTED OPERATION CODES entries"
assert_eq 1 "$(r ws16_supported)" "WRITE SAME(16) reported supported"
assert_eq ok "$(r sync)" "sg_sync"
assert_eq "$(r ws_expect)" "$(r ws_read)" "WRITE SAME pattern read back in the guest"
assert_eq "$(r ws_expect)" "$(e2e_md5_range "$IMG0" "$MiB" 8192)" "WRITE SAME pattern in the file"
assert_eq "$zero_md5" "$(r unmapped)" "unmapped range reads zeroes in the guest"
assert_eq "$zero_md5" "$(e2e_md5_range "$IMG0" $((4 * MiB)) "$MiB")" "unmapped range in the file"
assert_eq "$zero_md5" "$(r ws_zeroed)" "WRITE SAME UNMAP range reads zeroes"
assert_eq "$zero_md5" "$(e2e_md5_range "$IMG0" $((2 * MiB)) "$MiB")" "WRITE SAME UNMAP in the file"
assert_eq 05/20/00 "$(r bad_opcode)" "invalid opcode sense"
assert_eq 05/21/00 "$(r past_end)" "READ(10) past the end sense"
assert_eq 05/24/00 "$(r bad_vpd)" "unsupported VPD page sense"
assert_eq 07/27/00 "$(r ro_write)" "WRITE(10) to the read-only LUN sense"
assert_eq failed "$(r ro_dd)" "dd to the read-only LUN"
assert_eq "$ro_md5" "$(r ro_read)" "read-only LUN reads the file"
assert_eq "$ro_file" "$(md5sum <"$IMG1")" "read-only backing file unchanged"
assert_eq "write through/write back" "$(r cache_off)/$(r cache_on)" "cache_type after MODE SELECT"
vhostd_log_has "LUN 0:0: guest switched the write cache to write-through" ||
	fail "vhostd never saw the MODE SELECT"
assert_eq ok "$(r ext4)" "ext4 on the RAM LUN"
pass "guest run ${E2E_GUEST_SECS}s"
