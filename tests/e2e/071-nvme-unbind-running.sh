#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The NVMe drive is taken away from vhostd while vhost-bench keeps it busy (the drive is
# unbound from vfio-pci: the kernel asks the user to release it, as on hot removal). vhostd
# must let go (the unbind completes), fail the I/O in flight and everything after it with
# I/O errors instead of hanging, keep running and serving front-ends, and exit cleanly on
# SIGTERM; the drive must still work with the kernel's own driver afterwards. First, in a
# guest without an IOMMU, vhostd and setup.sh must refuse the drive with a clear message.
E2E_KIT_FLAVOUR=vhostd
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/nvme.sh
. "$(dirname "$0")/lib/nvme.sh"

IMG=$E2E_DIRECT/nvme.img
e2e_disk "$IMG" 256M

noiommu=$(e2e_guest_script "$E2E_TMP/noiommu.sh" <<'GUEST'
set -e
. /tmp/files/nvme-guest.sh
bdf=$(nvme_bdf)
vhostd_refused $bdf "no IOMMU group.*intel_iommu=on"
result vhostd_refused=ok
out=$(NRHUGE=2 PCI_ALLOWED=$bdf MODPROBE=true bash "$SETUP" config 2>&1) &&
	fail "setup.sh bound a drive without an IOMMU"
echo "$out"
echo "$out" | grep -q "no IOMMU" && result setup_refused=ok
GUEST
)
E2E_GUEST_FILES=$NVME_GUEST_LIB
mapfile -t qargs < <(nvme_qemu_args_noiommu "$IMG")
run_guest "$noiommu" "${qargs[@]}" || fail "guest without IOMMU: $E2E_GUEST_VERDICT"
assert_eq ok "$(e2e_result vhostd_refused)" "vhostd refuses a drive without an IOMMU"
assert_eq ok "$(e2e_result setup_refused)" "setup.sh refuses a drive without an IOMMU"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<'GUEST'
set -e
. /tmp/files/nvme-guest.sh
no_final_sync
bdf=$(nvme_bdf)
nvme_bind_vfio $bdf
nvme_vhostd_start $bdf e2e-071
vhost-bench /tmp/blk0 --rw randwrite --queues 2 --iodepth 8 --bs 4k --size 16m \
	--runtime 12 --io-timeout 20s --threads 1 --cpus 0 >/tmp/bench.txt 2>&1 &
bpid=$!
sleep 4
grep -q "q1 started" /tmp/vhostd.log || fail "vhost-bench did not start both queues"
t0=$(cut -d' ' -f1 /proc/uptime)
rc=0
timeout 30 sh -c "echo $bdf >/sys/bus/pci/drivers/vfio-pci/unbind" || rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
result unbind_rc=$rc unbind_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a + 0.5 }')
result driver_after=$(pci_driver $bdf)
rc=0
wait $bpid || rc=$?
cat /tmp/bench.txt
result bench_rc=$rc
result bench_errors=$(sed -n 's/^errors: \([0-9]*\).*/\1/p' /tmp/bench.txt | tail -n1)
kill -0 $vhostd_pid && result vhostd_alive=yes
grep -q "handed back to the kernel" /tmp/vhostd.log && result released=yes
# a new front-end: I/O errors at once, no hang
rc=0
timeout 30 vhost-bench /tmp/blk0 --rw randread --iodepth 4 --runtime 2 --cpus 0 \
	>/tmp/bench2.txt 2>&1 || rc=$?
cat /tmp/bench2.txt
result bench2_rc=$rc
result bench2_errors=$(sed -n 's/^errors: \([0-9]*\).*/\1/p' /tmp/bench2.txt | tail -n1)
rc=0
timeout 30 vub-io /tmp/blk0 read 0 4096 /tmp/x.bin || rc=$?
result vubio_rc=$rc
nvme_vhostd_stop
result vhostd_rc=$vhostd_rc
# the controller was shut down properly: the kernel driver takes it again
echo nvme >/sys/bus/pci/devices/$bdf/driver_override
echo $bdf >/sys/bus/pci/drivers_probe
wait_dev /dev/nvme0n1 30 || fail "the kernel's nvme driver did not take the drive back"
dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=16 iflag=direct 2>/dev/null && result kernel_read=ok
GUEST
)
E2E_GUEST_FILES=$NVME_GUEST_LIB
E2E_TIMEOUT=${E2E_TIMEOUT:-150}
mapfile -t qargs < <(nvme_qemu_args "$IMG")
run_guest "$script" "${qargs[@]}" || fail "guest run: $E2E_GUEST_VERDICT"

assert_eq 0 "$(e2e_result unbind_rc)" "unbind completed (vhostd released the drive)"
secs=$(e2e_result unbind_secs)
[ "$secs" -le 15 ] || fail "unbind took ${secs}s"
log "ok: unbind took ${secs}s"
assert_eq none "$(e2e_result driver_after)" "driver of the drive after the unbind"
assert_eq 1 "$(e2e_result bench_rc)" "vhost-bench saw errors (exit 1)"
errs=$(e2e_result bench_errors)
[ "${errs:-0}" -gt 0 ] || fail "vhost-bench reported no I/O errors"
log "ok: vhost-bench counted $errs I/O errors after the unbind"
assert_eq yes "$(e2e_result vhostd_alive)" "vhostd kept running"
assert_eq yes "$(e2e_result released)" "vhostd logged the hand-back"
assert_eq 1 "$(e2e_result bench2_rc)" "a new front-end gets I/O errors"
assert_eq 1 "$(e2e_result vubio_rc)" "a read fails with an I/O error"
assert_eq 0 "$(e2e_result vhostd_rc)" "vhostd exit status"
assert_eq ok "$(e2e_result kernel_read)" "the kernel driver reads the drive again"
pass "boot to poweroff ${E2E_GUEST_SECS}s"
