#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Two aio LUNs of one virtio-scsi controller with two request queues: fio randwrite + crc32c
# verify runs on both LUNs at once, one job pinned to each vCPU so both queues carry I/O;
# a pattern the host wrote before boot reads back in the guest, and patterns the guest
# wrote (O_DIRECT + fsync) are in the backing files on the host.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG0=$E2E_DIRECT/disk0.img IMG1=$E2E_DIRECT/disk1.img
e2e_disk "$IMG0" 64M
e2e_disk "$IMG1" 64M
HOST_OFF=$((40 * MiB)) GUEST_OFF=$((48 * MiB))
host0=$(e2e_write_random "$IMG0" "$HOST_OFF" "$MiB")
host1=$(e2e_write_random "$IMG1" "$HOST_OFF" "$MiB")

cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: disk0, type: aio, path: $IMG0}
  - {name: disk1, type: aio, path: $IMG1}
controllers:
  - name: scsi0
    type: scsi
    num_queues: 2
    targets:
      - {id: 0, luns: [{lun: 0, backend: disk0}, {lun: 1, backend: disk1}]}
EOF
)
vhostd_start "$cfg"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
d0=\$(find_disk_by_serial scsi0-t0-l0)
d1=\$(find_disk_by_serial scsi0-t0-l1)
result nq=\$(ls /sys/block/\${d0#/dev/}/mq | wc -l)
result host0=\$(md5_range \$d0 $HOST_OFF $MiB) host1=\$(md5_range \$d1 $HOST_OFF $MiB)
# One fio, two jobs (one per LUN, one per vCPU), written then verified with crc32c.
fio --ioengine=libaio --direct=1 --rw=randwrite --bs=4k --size=24M --iodepth=16 \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --eta=never --output=/tmp/fio.txt \
	--name=lun0 --filename=\$d0 --cpus_allowed=0 \
	--name=lun1 --filename=\$d1 --cpus_allowed=1 || { cat /tmp/fio.txt; fail "fio failed"; }
cat /tmp/fio.txt
! grep -q 'verify: bad\|crc32c: verify failed\|err=[ ]*[1-9]' /tmp/fio.txt || fail "fio errors"
result "fio_jobs=\$(grep -c 'err= 0' /tmp/fio.txt)"
result guest0=\$(write_random \$d0 $GUEST_OFF $MiB) guest1=\$(write_random \$d1 $GUEST_OFF $MiB)
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
mapfile -t dev < <(vhost_user_scsi_args c0 "$E2E_TMP/scsi0" 2)
run_guest "$script" "${dev[@]}" || fail "guest run: $E2E_GUEST_VERDICT"
vhostd_stop || fail "vhostd exited with status $?"

assert_eq 2 "$(e2e_result nq)" "request queues in the guest"
assert_eq "$host0/$host1" "$(e2e_result host0)/$(e2e_result host1)" \
	"host patterns read by the guest"
assert_eq 2 "$(e2e_result fio_jobs)" "fio jobs without errors"
assert_eq "$(e2e_result guest0)" "$(e2e_md5_range "$IMG0" "$GUEST_OFF" "$MiB")" \
	"guest pattern in disk0"
assert_eq "$(e2e_result guest1)" "$(e2e_md5_range "$IMG1" "$GUEST_OFF" "$MiB")" \
	"guest pattern in disk1"
# Both request queues (vrings 2 and 3) carried the fio load.
for q in 2 3; do
	n=$(sed -n "s/.*scsi0: q$q stopped (avail \([0-9]*\),.*/\1/p" "$VHOSTD_LOG" |
		sort -n | tail -n1)
	[ "${n:-0}" -gt 1000 ] || fail "request queue q$q handled only ${n:-0} requests"
	log "ok: q$q handled $n requests"
done
pass "guest run ${E2E_GUEST_SECS}s"
