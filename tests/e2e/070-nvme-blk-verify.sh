#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The userspace NVMe backend end to end, inside one TCG guest that has an emulated Intel IOMMU
# and an emulated NVMe drive (QEMU's image file on the host): scripts/setup.sh takes the drive
# from the kernel's nvme driver to vfio-pci, vhostd serves it as a 2-queue virtio-blk
# controller, and in the same guest vhost-bench writes and verifies through it; vub-io writes
# random data (page-aligned and scattered at odd addresses) and reports its md5, reads back
# data the host wrote before boot. Then the drive goes back to the kernel driver, which must
# read the same bytes (and vhost-bench re-verifies what it wrote, through vhostd's aio
# backend on /dev/nvme0n1). After power-off the host checks the image file itself.
E2E_KIT_FLAVOUR=vhostd
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/nvme.sh
. "$(dirname "$0")/lib/nvme.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/nvme.img
HOST_OFF=$((100 * MiB)) ALIGNED_OFF=$((200 * MiB)) ODD_OFF=$((210 * MiB)) PLEN=$MiB

e2e_disk "$IMG" 256M
host_md5=$(e2e_write_random "$IMG" "$HOST_OFF" "$PLEN")

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
. /tmp/files/nvme-guest.sh
bdf=\$(nvme_bdf)
result bdf=\$bdf driver_at_boot=\$(pci_driver \$bdf)
# still the kernel's: vhostd must refuse it and say what to do
vhostd_refused \$bdf "not bound to vfio-pci \\(bound to nvme\\); run: .*PCI_ALLOWED"
result refused_while_kernel_owned=ok
nvme_bind_vfio \$bdf
result driver=\$(pci_driver \$bdf)
nvme_vhostd_start \$bdf e2e-070
result vhostd=ready
vhost-bench /tmp/blk0 --rw randwrite --verify --verify-state /tmp/vstate --queues 2 \
	--iodepth 8 --bs 4k --size 16m --runtime 3 --threads 1 --cpus 0 >/tmp/bench.txt 2>&1 ||
	{ cat /tmp/bench.txt; fail "vhost-bench verify run failed"; }
cat /tmp/bench.txt
result bench=ok
# (data made here: fw_cfg moves bytes to the guest far too slowly under TCG)
head -c $PLEN /dev/urandom >/tmp/pa.bin
head -c $PLEN /dev/urandom >/tmp/po.bin
result pa=\$(md5sum </tmp/pa.bin | cut -d' ' -f1) po=\$(md5sum </tmp/po.bin | cut -d' ' -f1)
vub-io /tmp/blk0 write $ALIGNED_OFF $PLEN /tmp/pa.bin
vub-io --layout odd /tmp/blk0 write $ODD_OFF $PLEN /tmp/po.bin
vub-io /tmp/blk0 read $HOST_OFF $PLEN /tmp/host.bin
result host_pattern=\$(md5sum </tmp/host.bin | cut -d' ' -f1)
vub-io --layout odd /tmp/blk0 read $ALIGNED_OFF $PLEN /tmp/ra.bin
vub-io /tmp/blk0 read $ODD_OFF $PLEN /tmp/ro.bin
result aligned_back=\$(md5sum </tmp/ra.bin | cut -d' ' -f1)
result odd_back=\$(md5sum </tmp/ro.bin | cut -d' ' -f1)
grep -q "q1 started" /tmp/vhostd.log && result queues=2
nvme_vhostd_stop
result vhostd_rc=\$vhostd_rc
# the kernel driver again: same bytes, and what vhost-bench wrote still verifies
nvme_bind_kernel
result kernel_aligned=\$(md5_range /dev/nvme0n1 $ALIGNED_OFF $PLEN)
result kernel_odd=\$(md5_range /dev/nvme0n1 $ODD_OFF $PLEN)
nvme_vhostd_start_aio /dev/nvme0n1 e2e-070b
vhost-bench /tmp/blk0 --verify --readback-only --verify-state /tmp/vstate --queues 2 --iodepth 8 \
	--bs 4k --size 16m --threads 1 --cpus 0 >/tmp/bench2.txt 2>&1 ||
	{ cat /tmp/bench2.txt; fail "read-back through the kernel driver failed"; }
result kernel_verify=ok
nvme_vhostd_stop
GUEST
)
E2E_GUEST_FILES=$NVME_GUEST_LIB
E2E_TIMEOUT=${E2E_TIMEOUT:-150}
mapfile -t qargs < <(nvme_qemu_args "$IMG")
run_guest "$script" "${qargs[@]}" || fail "guest run: $E2E_GUEST_VERDICT"

pa_md5=$(e2e_result pa)
po_md5=$(e2e_result po)
assert_eq nvme "$(e2e_result driver_at_boot)" "driver of the drive at boot"
assert_eq ok "$(e2e_result refused_while_kernel_owned)" "clear refusal of a drive not on vfio-pci"
assert_eq vfio-pci "$(e2e_result driver)" "driver of the drive while vhostd runs"
assert_eq ok "$(e2e_result bench)" "vhost-bench verify through vhostd's nvme backend"
assert_eq 2 "$(e2e_result queues)" "virtqueues served"
assert_eq "$host_md5" "$(e2e_result host_pattern)" "host-written data read through vhostd"
assert_eq "$pa_md5" "$(e2e_result aligned_back)" "aligned write read back (odd layout)"
assert_eq "$po_md5" "$(e2e_result odd_back)" "odd-layout write read back"
assert_eq 0 "$(e2e_result vhostd_rc)" "vhostd exit status"
assert_eq "$pa_md5" "$(e2e_result kernel_aligned)" "aligned data through the kernel driver"
assert_eq "$po_md5" "$(e2e_result kernel_odd)" "odd-layout data through the kernel driver"
assert_eq ok "$(e2e_result kernel_verify)" "vhost-bench data re-verified through the kernel driver"
assert_eq "$pa_md5" "$(e2e_md5_range "$IMG" "$ALIGNED_OFF" "$PLEN")" "image file: aligned data"
assert_eq "$po_md5" "$(e2e_md5_range "$IMG" "$ODD_OFF" "$PLEN")" "image file: odd-layout data"
pass "boot to poweroff ${E2E_GUEST_SECS}s"
