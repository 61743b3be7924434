#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# setup.sh refuses what it must refuse, with a clear message and a non-zero exit, and changes
# nothing when it does: bad HUGEMEM/NRHUGE, not enough memory, unknown command or option,
# not root, malformed/unknown/non-NVMe PCI addresses, NVMe namespaces in use (mounted, swap,
# device-mapper or md holders, also behind native multipath), no IOMMU, no vfio-pci.
# Everything that could touch the host runs against a fake sysfs/procfs tree.
set -euo pipefail
# shellcheck source=tests/system/lib.sh
source "$(dirname "$0")/lib.sh"
require_root

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/root
unset NRHUGE PCI_ALLOWED HUGEMEM UPDATE_GRUB VFIO_OWNER HUGEPAGE_MOUNT
NVME=0000:01:00.0
NVME_DIR=$r/sys/devices/pci0000:00/0000:00:01.0/$NVME
NR=$r/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages

fresh() {
	rm -rf "$r"
	make_fake_root "$r"
}

# Nothing may have changed in the fake root after a refusal.
assert_untouched() {
	[[ $(<"$NR") -eq 0 ]] || fail "$1: nr_hugepages changed to $(<"$NR")"
	[[ $(readlink "$NVME_DIR/driver") == */nvme ]] || fail "$1: the NVMe device lost its driver"
	[[ $(<"$NVME_DIR/driver_override") == "(null)" ]] || fail "$1: driver_override was written"
	[[ ! -s $r/sys/bus/pci/drivers_probe ]] || fail "$1: drivers_probe was written"
	[[ ! -e $r/state/pci ]] || fail "$1: a device was recorded as bound"
}

# --- command line ----------------------------------------------------------------------------
expect_fail "unknown command: frobnicate" "$SETUP" frobnicate
pass "unknown command is refused"
expect_fail "unknown option: --frobnicate" "$SETUP" config --frobnicate
pass "unknown option is refused"
expect_fail "only one command allowed" "$SETUP" config reset
pass "two commands are refused"

expect_ok "$SETUP" --help
for v in HUGEMEM NRHUGE PCI_ALLOWED VFIO_OWNER HUGEPAGE_MOUNT MODPROBE BIND_TIMEOUT SETUP_ROOT \
	GRUB_DROPIN UPDATE_GRUB SYSFS_ROOT PROCFS_ROOT DEVFS_ROOT SETUP_STATE_DIR config status \
	reset --persist; do
	grep -q -- "$v" <<<"$LAST_OUT" || fail "--help does not mention $v"
done
pass "--help lists the commands, --persist and every environment variable"

# --- not root --------------------------------------------------------------------------------
as_nobody() {
	if command -v setpriv >/dev/null; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups env "$@"
	else
		local q
		printf -v q '%q ' "$@"
		su nobody -s /bin/bash -c "$q"
	fi
}
fresh
for cmd in config reset; do
	expect_fail "must run as root" as_nobody HUGEMEM=64 "$SETUP" "$cmd"
done
expect_ok as_nobody SETUP_STATE_DIR="$work/none" "$SETUP" status
grep -q '^Hugepages:' <<<"$LAST_OUT" || fail "status as nobody: $LAST_OUT"
pass "config and reset refuse a non-root user; status works without root"

# --- hugepage sizes --------------------------------------------------------------------------
fresh
for bad in abc "" -2 1.5 " 64" 0x40; do
	expect_fail "HUGEMEM must be a whole number of MiB, got '$bad'" \
		in_fake_root "$r" HUGEMEM="$bad" "$SETUP"
done
expect_fail "HUGEMEM must be greater than 0" in_fake_root "$r" HUGEMEM=0 "$SETUP"
expect_fail "HUGEMEM must be greater than 0" in_fake_root "$r" HUGEMEM=000 "$SETUP"
expect_fail "HUGEMEM must be a multiple of 2 MiB \(the hugepage size\), got 63" \
	in_fake_root "$r" HUGEMEM=63 "$SETUP"
expect_fail "HUGEMEM is too large" in_fake_root "$r" HUGEMEM=99999999999999999999 "$SETUP"
expect_fail "NRHUGE must be a whole number of 2 MiB pages, got 'x'" \
	in_fake_root "$r" NRHUGE=x "$SETUP"
expect_fail "NRHUGE must be greater than 0" in_fake_root "$r" NRHUGE=0 "$SETUP"
assert_untouched "bad sizes"
pass "bad HUGEMEM/NRHUGE values are refused"

# The fake meminfo has 20000000 kB (19531 MiB) available.
expect_fail "not enough free memory: asked 40960 MiB, about 19531 MiB available" \
	in_fake_root "$r" HUGEMEM=40960 "$SETUP"
assert_untouched "not enough memory"
pass "a request above MemAvailable is refused before anything is reserved"

# --- PCI addresses ---------------------------------------------------------------------------
expect_fail "invalid PCI address 'nvme0' in PCI_ALLOWED" in_fake_root "$r" PCI_ALLOWED=nvme0 "$SETUP"
expect_fail "invalid PCI address '0000:01:00.8'" in_fake_root "$r" PCI_ALLOWED=0000:01:00.8 "$SETUP"
pass "malformed PCI addresses are refused"

expect_fail "unknown PCI address 0000:42:00.0" in_fake_root "$r" PCI_ALLOWED=0000:42:00.0 "$SETUP"
expect_fail "unknown PCI address 0000:42:00.0" in_fake_root "$r" PCI_ALLOWED=42:00.0 "$SETUP"
assert_untouched "unknown PCI address"
pass "an unknown PCI address is refused (also in short form)"

expect_fail "0000:02:00.0 is not an NVMe controller \(class 0x020000\)" \
	in_fake_root "$r" PCI_ALLOWED=0000:02:00.0 "$SETUP"
[[ $(readlink "$r/sys/bus/pci/devices/0000:02:00.0/driver") == */e1000e ]] ||
	fail "the NIC lost its driver"
pass "a PCI device that is not an NVMe controller is refused"

expect_fail "unknown PCI address 0000:42:00.0" \
	in_fake_root "$r" PCI_ALLOWED="0000:42:00.0,$NVME 0000:02:00.0" "$SETUP"
grep -q "0000:02:00.0 is not an NVMe controller" <<<"$LAST_OUT" ||
	fail "not every bad device is reported: $LAST_OUT"
assert_untouched "several bad devices"
pass "every bad device in PCI_ALLOWED is reported, and nothing changes"

# --- devices in use --------------------------------------------------------------------------
fresh
echo "/dev/nvme0n1p1 /mnt/data ext4 rw,relatime 0 0" >>"$r/proc/mounts"
expect_fail "$NVME is in use: nvme0n1p1 is mounted on /mnt/data" \
	in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
assert_untouched "mounted partition"
pass "an NVMe controller with a mounted partition is refused as in use"

fresh
echo "36 1 259:1 / /srv rw,relatime shared:1 - xfs /dev/disk/by-uuid/1234 rw" >"$r/proc/self/mountinfo"
expect_fail "$NVME is in use: nvme0n1p1 is mounted on /srv" in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
assert_untouched "mountinfo"
pass "a mount found by device number in mountinfo is refused as in use"

fresh
printf '/dev/nvme0n1\tpartition\t8388604\t0\t-2\n' >>"$r/proc/swaps"
expect_fail "$NVME is in use: nvme0n1 is an active swap device" \
	in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
assert_untouched "swap"
pass "an NVMe controller with active swap is refused as in use"

fresh
mkdir -p "$NVME_DIR/nvme/nvme0/nvme0n1/nvme0n1p1/holders/dm-0" "$r/sys/class/block/dm-0/dm"
echo vg0-data >"$r/sys/class/block/dm-0/dm/name"
expect_fail "$NVME is in use: nvme0n1p1 is held by dm-0 \(device-mapper \"vg0-data\"" \
	in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
assert_untouched "LVM"
pass "an NVMe controller holding an LVM physical volume is refused as in use"

fresh
mkdir -p "$NVME_DIR/nvme/nvme0/nvme0n1/holders/md127"
expect_fail "$NVME is in use: nvme0n1 is held by md127 \(md RAID\)" \
	in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
assert_untouched "md"
pass "an NVMe controller in an md array is refused as in use"

# Native multipath: the controller only has the hidden path nvme0c0n1; the block device
# nvme0n1 lives under the subsystem.
fresh
rm -rf "$NVME_DIR/nvme/nvme0/nvme0n1"
mkdir -p "$NVME_DIR/nvme/nvme0/nvme0c0n1"
sub=$r/sys/devices/virtual/nvme-subsystem/nvme-subsys0
mkdir -p "$sub/nvme0n1/holders" "$sub/nvme0n1/nvme0n1p2/holders"
ln -s "$NVME_DIR/nvme/nvme0" "$sub/nvme0"
ln -s "$sub" "$r/sys/class/nvme-subsystem/nvme-subsys0"
echo "/dev/nvme0n1p2 /var/lib/data ext4 rw 0 0" >>"$r/proc/mounts"
expect_fail "$NVME is in use: nvme0n1p2 is mounted on /var/lib/data" \
	in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
assert_untouched "multipath"
pass "a mounted namespace behind native NVMe multipath is refused as in use"

# --- no IOMMU, no vfio-pci -------------------------------------------------------------------
fresh
rm -rf "$r/sys/kernel/iommu_groups"/*
expect_fail "no IOMMU: .*/kernel/iommu_groups is empty.*intel_iommu=on.*amd_iommu=on" \
	in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
assert_untouched "no IOMMU"
# A controller without namespaces (or without the nvme/ directory) gets as far as well.
rm -rf "$NVME_DIR/nvme/nvme0/nvme0n1"
expect_fail "no IOMMU: " in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
rm -rf "$NVME_DIR/nvme"
expect_fail "no IOMMU: " in_fake_root "$r" PCI_ALLOWED=$NVME "$SETUP"
assert_untouched "no IOMMU, no namespaces"
pass "binding without an IOMMU is refused with the kernel parameters to add"

fresh
rm -rf "$r/sys/bus/pci/drivers/vfio-pci"
expect_fail "no vfio-pci module" in_fake_root "$r" PCI_ALLOWED=$NVME MODPROBE=true "$SETUP"
assert_untouched "no vfio-pci (modprobe succeeds)"
expect_fail "cannot load the vfio-pci module \('false vfio-pci'" \
	in_fake_root "$r" PCI_ALLOWED=$NVME MODPROBE=false "$SETUP"
assert_untouched "no vfio-pci (modprobe fails)"
pass "binding without a vfio-pci driver is refused"

# Without PCI_ALLOWED, neither the IOMMU nor vfio-pci is needed.
expect_ok in_fake_root "$r" HUGEMEM=8 "$SETUP"
[[ $(<"$NR") -eq 4 ]] || fail "HUGEMEM=8 in the fake tree gave $(<"$NR") pages"
pass "hugepages alone need neither an IOMMU nor vfio-pci"
