# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Helpers for the NVMe backend's e2e tests (07x-*): vhostd runs inside the guest, on an
# emulated NVMe drive behind QEMU's emulated Intel IOMMU. Source after lib/common.sh, with
# E2E_KIT_FLAVOUR=vhostd set before common.sh.
#
#   mapfile -t qargs < <(nvme_qemu_args IMAGE)     # QEMU args: vIOMMU + NVMe drive on IMAGE
#   E2E_GUEST_FILES="... $NVME_GUEST_LIB"           # guest helpers, /tmp/files/nvme-guest.sh

[ "${E2E_KIT_FLAVOUR:-}" = vhostd ] || fail "lib/nvme.sh needs E2E_KIT_FLAVOUR=vhostd"
# shellcheck disable=SC2034 # used by the tests that source this file
NVME_GUEST_LIB=$E2E_LIB/nvme-guest.sh
# vhostd, vhost-bench and the kernel share the guest: give it room, and turn the IOMMU on.
# With interrupt remapping on, the kernel's boot-time check that the timer interrupt works
# through the IO-APIC can miss under a loaded TCG host and panic: skip that check.
E2E_MEM=${E2E_MEM:-1G}
E2E_APPEND="${E2E_APPEND:-} intel_iommu=on no_timer_check"

for _b in src/vhostd src/tools/vhost-bench/vhost-bench tests/e2e/tools/vub-io; do
	[ -x "$BUILD_DIR/$_b" ] || fail "$BUILD_DIR/$_b not built (ninja -C $BUILD_DIR)"
done
unset _b

# nvme_qemu_args IMAGE [NVME_PROPS] — QEMU arguments (one per line) for an emulated Intel
# IOMMU and an NVMe controller (serial deadbeef) whose namespace 1 is the raw IMAGE.
nvme_qemu_args() {
	printf '%s\n' -device intel-iommu \
		-drive "file=$1,if=none,id=nv0,format=raw,cache=none,aio=native" \
		-device "nvme,drive=nv0,serial=deadbeef${2:+,$2}"
}

# nvme_qemu_args_noiommu IMAGE — the NVMe drive without the emulated IOMMU.
nvme_qemu_args_noiommu() {
	printf '%s\n' -drive "file=$1,if=none,id=nv0,format=raw,cache=none,aio=native" \
		-device "nvme,drive=nv0,serial=deadbeef"
}

# nvme_qemu_args_2ns IMAGE1 IMAGE2 — the same controller with two namespaces (nsid 1 and 2).
nvme_qemu_args_2ns() {
	printf '%s\n' -device intel-iommu \
		-device nvme,id=nvc0,serial=deadbeef \
		-drive "file=$1,if=none,id=nv1,format=raw,cache=none,aio=native" \
		-device nvme-ns,drive=nv1,bus=nvc0,nsid=1 \
		-drive "file=$2,if=none,id=nv2,format=raw,cache=none,aio=native" \
		-device nvme-ns,drive=nv2,bus=nvc0,nsid=2
}
