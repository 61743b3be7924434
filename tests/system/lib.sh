#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Helpers for tests/system/*.sh: sourced, not run.

TESTS_SYSTEM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TESTS_SYSTEM_DIR/../.." && pwd)
# shellcheck disable=SC2034 # used by the tests that source this file
SETUP=$REPO_ROOT/scripts/setup.sh
TEST_NAME=$(basename "$0" .sh)

fail() {
	printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

pass() {
	printf 'PASS: %s: %s\n' "$TEST_NAME" "$*"
}

require_root() {
	[[ $EUID -eq 0 ]] || fail "must run as root"
}

# expect_fail <extended regex> <command...>: the command must exit non-zero and print a line
# matching the regex. Its output is kept in LAST_OUT.
LAST_OUT=
expect_fail() {
	local re=$1 rc=0
	shift
	LAST_OUT=$("$@" 2>&1) || rc=$?
	if [[ $rc -eq 0 ]]; then
		fail "expected failure, got success: $*"$'\n'"$LAST_OUT"
	fi
	if ! grep -Eq -- "$re" <<<"$LAST_OUT"; then
		fail "expected a message matching /$re/ from: $*"$'\n'"got (exit $rc): $LAST_OUT"
	fi
}

# expect_ok <command...>: the command must succeed. Its output is kept in LAST_OUT.
expect_ok() {
	local rc=0
	LAST_OUT=$("$@" 2>&1) || rc=$?
	if [[ $rc -ne 0 ]]; then
		fail "expected success (got exit $rc): $*"$'\n'"$LAST_OUT"
	fi
}

# make_fake_root <dir>: a sysfs/procfs/devfs tree with one NUMA node, an IOMMU, the nvme and
# vfio-pci drivers, an NVMe controller 0000:01:00.0 (IOMMU group 7) bound to nvme with
# namespace nvme0n1 and partition nvme0n1p1, and a NIC 0000:02:00.0 bound to a driver "e1000e".
# Nothing is mounted, nothing is swap. Run setup.sh against it with in_fake_root.
make_fake_root() {
	local r=$1 sys proc size d nvme nic
	sys=$r/sys
	proc=$r/proc
	for size in 2048kB 1048576kB; do
		d=$sys/devices/system/node/node0/hugepages/hugepages-$size
		mkdir -p "$d"
		echo 0 >"$d/nr_hugepages"
		echo 0 >"$d/free_hugepages"
		echo 0 >"$d/surplus_hugepages"
	done
	mkdir -p "$sys/bus/pci/devices" "$sys/kernel/iommu_groups/7/devices" \
		"$sys/kernel/iommu_groups/8/devices" "$sys/class/nvme-subsystem" "$sys/class/block"
	for d in nvme vfio-pci e1000e; do
		mkdir -p "$sys/bus/pci/drivers/$d"
		: >"$sys/bus/pci/drivers/$d/bind"
		: >"$sys/bus/pci/drivers/$d/unbind"
	done
	: >"$sys/bus/pci/drivers_probe"

	nvme=$sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0
	mkdir -p "$nvme"
	echo 0x010802 >"$nvme/class"
	echo 0x1b36 >"$nvme/vendor"
	echo 0x0010 >"$nvme/device"
	echo 0 >"$nvme/numa_node"
	echo '(null)' >"$nvme/driver_override"
	ln -s "$sys/bus/pci/drivers/nvme" "$nvme/driver"
	ln -s "$sys/kernel/iommu_groups/7" "$nvme/iommu_group"
	ln -s "$nvme" "$sys/kernel/iommu_groups/7/devices/0000:01:00.0"
	ln -s "$nvme" "$sys/bus/pci/devices/0000:01:00.0"
	mkdir -p "$nvme/nvme/nvme0/nvme0n1/holders" "$nvme/nvme/nvme0/nvme0n1/nvme0n1p1/holders"
	echo 259:0 >"$nvme/nvme/nvme0/nvme0n1/dev"
	echo 259:1 >"$nvme/nvme/nvme0/nvme0n1/nvme0n1p1/dev"

	nic=$sys/devices/pci0000:00/0000:00:02.0/0000:02:00.0
	mkdir -p "$nic"
	echo 0x020000 >"$nic/class"
	echo 0x8086 >"$nic/vendor"
	echo 0x10d3 >"$nic/device"
	echo '(null)' >"$nic/driver_override"
	ln -s "$sys/bus/pci/drivers/e1000e" "$nic/driver"
	ln -s "$sys/kernel/iommu_groups/8" "$nic/iommu_group"
	ln -s "$nic" "$sys/kernel/iommu_groups/8/devices/0000:02:00.0"
	ln -s "$nic" "$sys/bus/pci/devices/0000:02:00.0"

	mkdir -p "$proc/sys/vm" "$proc/self"
	echo 0 >"$proc/sys/vm/nr_hugepages"
	# hugetlbfs is already "mounted", so config never mounts anything on the real host.
	printf '%s\n' '/dev/vda / ext4 rw,relatime 0 0' \
		'hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0' >"$proc/mounts"
	printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' >"$proc/swaps"
	printf '%s\n' 'MemTotal:       24684096 kB' 'MemFree:        20000000 kB' \
		'MemAvailable:   20000000 kB' >"$proc/meminfo"

	mkdir -p "$r/dev/vfio" "$r/etc/default"
}

# in_fake_root <dir> [VAR=value...] <command...>: run a command (normally setup.sh) with the
# environment pointing at the fake root made by make_fake_root.
in_fake_root() {
	local r=$1
	shift
	env SYSFS_ROOT="$r/sys" PROCFS_ROOT="$r/proc" DEVFS_ROOT="$r/dev" \
		SETUP_STATE_DIR="$r/state" SETUP_ROOT="$r" MODPROBE=true BIND_TIMEOUT=3 "$@"
}

# fake_kernel <dir>: play the kernel's part for PCI driver binding in a fake root, until
# killed. It handles writes to drivers/*/unbind and drivers_probe (binding to driver_override
# when set, else to nvme) and creates /dev/vfio/<group> when vfio-pci takes a device. It logs
# what it did to <dir>/kernel.log.
fake_kernel() {
	local r=$1 sys u b dev ovr group
	sys=$r/sys
	while :; do
		for u in "$sys"/bus/pci/drivers/*/unbind; do
			if [[ -s $u ]]; then
				b=$(<"$u")
				: >"$u"
				rm -f "$sys/bus/pci/devices/$b/driver"
				echo "unbind $b from $(basename "$(dirname "$u")")" >>"$r/kernel.log"
			fi
		done
		if [[ -s $sys/bus/pci/drivers_probe ]]; then
			b=$(<"$sys/bus/pci/drivers_probe")
			: >"$sys/bus/pci/drivers_probe"
			dev=$sys/bus/pci/devices/$b
			ovr=$(<"$dev/driver_override")
			[[ -n $ovr && $ovr != "(null)" ]] || ovr=nvme
			if [[ ! -e $dev/driver ]]; then
				ln -s "$sys/bus/pci/drivers/$ovr" "$dev/driver"
				if [[ $ovr == vfio-pci ]]; then
					group=$(basename "$(readlink "$dev/iommu_group")")
					: >"$r/dev/vfio/$group"
					chmod 0600 "$r/dev/vfio/$group"
				fi
			fi
			echo "probe $b -> $ovr" >>"$r/kernel.log"
		fi
		sleep 0.05
	done
}

# hugetlbfs_mounted <dir>: is a hugetlbfs mounted exactly at <dir> on the real host?
hugetlbfs_mounted() {
	local mnt type
	while read -r _ mnt type _; do
		[[ $mnt == "$1" && $type == hugetlbfs ]] && return 0
	done </proc/mounts
	return 1
}
