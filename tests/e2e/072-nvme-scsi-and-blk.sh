#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# One emulated NVMe controller with two namespaces (two image files on the host), both served
# by vhostd inside the TCG guest at the same time: namespace 1 as LUN 0 of a virtio-scsi
# controller with 2 request queues, namespace 2 as a 2-queue virtio-blk disk. vub-io writes
# and reads back random data through the SCSI LUN (READ/WRITE(16), page-aligned and odd
# layouts, requests spread over both queues) while vhost-bench runs a verify workload on the
# blk disk. After power-off the host finds the SCSI data in namespace 1's image.
E2E_KIT_FLAVOUR=vhostd
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/nvme.sh
. "$(dirname "$0")/lib/nvme.sh"

MiB=$((1024 * 1024))
IMG1=$E2E_DIRECT/ns1.img IMG2=$E2E_DIRECT/ns2.img
HOST_OFF=$((40 * MiB)) ALIGNED_OFF=$((64 * MiB)) ODD_OFF=$((80 * MiB)) PLEN=$MiB

e2e_disk "$IMG1" 128M
e2e_disk "$IMG2" 128M
host_md5=$(e2e_write_random "$IMG1" "$HOST_OFF" "$PLEN")

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
. /tmp/files/nvme-guest.sh
bdf=\$(nvme_bdf)
nvme_bind_vfio \$bdf
: >/tmp/vhostd.log
vhostd_run "backends:
  - {name: ns1, type: nvme, pci: \"\$bdf\", namespace: 1}
  - {name: ns2, type: nvme, pci: \"\$bdf\", namespace: 2}
controllers:
  - name: scsi0
    type: scsi
    num_queues: 2
    targets:
      - {id: 0, luns: [{lun: 0, backend: ns1}]}
  - {name: blk0, type: blk, backend: ns2, num_queues: 2, serial: e2e-072}"
vhost-bench /tmp/blk0 --rw randwrite --verify --queues 2 --iodepth 8 --bs 4k --size 16m \
	--runtime 4 --threads 1 --cpus 0 >/tmp/bench.txt 2>&1 &
bpid=\$!
head -c $PLEN /dev/urandom >/tmp/pa.bin
head -c $PLEN /dev/urandom >/tmp/po.bin
result pa=\$(md5sum </tmp/pa.bin | cut -d' ' -f1) po=\$(md5sum </tmp/po.bin | cut -d' ' -f1)
vub-io --scsi --queues 2 /tmp/scsi0 write $ALIGNED_OFF $PLEN /tmp/pa.bin
vub-io --scsi --queues 2 --layout odd /tmp/scsi0 write $ODD_OFF $PLEN /tmp/po.bin
vub-io --scsi --queues 2 --layout odd /tmp/scsi0 read $ALIGNED_OFF $PLEN /tmp/ra.bin
vub-io --scsi --queues 2 /tmp/scsi0 read $ODD_OFF $PLEN /tmp/ro.bin
vub-io --scsi --queues 2 /tmp/scsi0 read $HOST_OFF $PLEN /tmp/rh.bin
result aligned_back=\$(md5sum </tmp/ra.bin | cut -d' ' -f1)
result odd_back=\$(md5sum </tmp/ro.bin | cut -d' ' -f1)
result host_pattern=\$(md5sum </tmp/rh.bin | cut -d' ' -f1)
rc=0
wait \$bpid || rc=\$?
cat /tmp/bench.txt
result bench_rc=\$rc
grep -q "scsi0: q3 started" /tmp/vhostd.log && result scsi_queues=2
result qpairs=\$(grep -c "I/O queue pair [0-9]* (" /tmp/vhostd.log)
nvme_vhostd_stop
result vhostd_rc=\$vhostd_rc
GUEST
)
E2E_GUEST_FILES=$NVME_GUEST_LIB
E2E_TIMEOUT=${E2E_TIMEOUT:-150}
mapfile -t qargs < <(nvme_qemu_args_2ns "$IMG1" "$IMG2")
run_guest "$script" "${qargs[@]}" || fail "guest run: $E2E_GUEST_VERDICT"

pa_md5=$(e2e_result pa)
po_md5=$(e2e_result po)
assert_eq 0 "$(e2e_result bench_rc)" "vhost-bench verify on the blk disk (namespace 2)"
assert_eq 2 "$(e2e_result scsi_queues)" "SCSI request queues served"
assert_eq "$host_md5" "$(e2e_result host_pattern)" "host-written data read through the LUN"
assert_eq "$pa_md5" "$(e2e_result aligned_back)" "aligned write read back through the LUN"
assert_eq "$po_md5" "$(e2e_result odd_back)" "odd-layout write read back through the LUN"
assert_eq 0 "$(e2e_result vhostd_rc)" "vhostd exit status"
assert_eq "$pa_md5" "$(e2e_md5_range "$IMG1" "$ALIGNED_OFF" "$PLEN")" \
	"namespace 1 image: aligned data"
assert_eq "$po_md5" "$(e2e_md5_range "$IMG1" "$ODD_OFF" "$PLEN")" \
	"namespace 1 image: odd-layout data"
pass "boot to poweroff ${E2E_GUEST_SECS}s"
