#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Prepare a Debian 12 host for vhostd: reserve 2 MiB hugepages, mount hugetlbfs, hand NVMe
# controllers to vfio-pci, and optionally make the kernel command line match at boot.
# Every command, variable and side effect is documented in docs/setup.md.
set -euo pipefail

PROG=${0##*/}

# Where things live. Tests point these at a fake tree; see docs/setup.md.
SYSFS=${SYSFS_ROOT:-/sys}
PROCFS=${PROCFS_ROOT:-/proc}
DEVFS=${DEVFS_ROOT:-/dev}
ETC_ROOT=${SETUP_ROOT:-}
STATE_DIR=${SETUP_STATE_DIR:-/run/vhostd-setup}
HUGE_MNT=${HUGEPAGE_MOUNT:-/dev/hugepages}
DROPIN_PATH=${GRUB_DROPIN:-/etc/default/grub.d/vhostd.cfg}
MODPROBE_CMD=${MODPROBE:-modprobe}
WAIT_SECS=${BIND_TIMEOUT:-10}

HP_SIZE_KB=2048
HP_DIR=hugepages-${HP_SIZE_KB}kB
DEFAULT_HUGEMEM=1024

usage() {
	cat <<EOF
Usage: $PROG [config|status|reset] [--persist] [-h|--help]

Prepare this host for vhostd. The default command is "config".

Commands:
  config   Reserve 2 MiB hugepages (spread evenly over NUMA nodes), mount hugetlbfs
           at \$HUGEPAGE_MOUNT if needed, and bind the NVMe controllers listed in
           PCI_ALLOWED to vfio-pci. Needs root.
  status   Show hugepages per NUMA node, hugetlbfs mounts, devices bound to vfio-pci
           and NVMe controllers with their driver. Does not need root.
  reset    Undo config: rebind devices this script bound to their previous driver,
           give the hugepages back, unmount the hugetlbfs this script mounted. Needs root.

Options:
  --persist   config: also write a GRUB drop-in that appends hugepage and IOMMU
              parameters to GRUB_CMDLINE_LINUX_DEFAULT, then run update-grub.
              reset: also remove that drop-in, then run update-grub.
  -h, --help  Show this help.

Environment (config):
  HUGEMEM=<MiB>        hugepage memory to reserve, a multiple of 2 (default $DEFAULT_HUGEMEM)
  NRHUGE=<pages>       number of 2 MiB pages to reserve; overrides HUGEMEM
  PCI_ALLOWED="<bdf> ..."  NVMe controllers to bind to vfio-pci, e.g. "0000:01:00.0"
                       (space or comma separated; "01:00.0" means domain 0000)
  VFIO_OWNER=<user[:group]>  chown /dev/vfio/<group> to this user (default: root only)
  HUGEPAGE_MOUNT=<dir> hugetlbfs mount point (default /dev/hugepages)
  MODPROBE=<cmd>       command used to load vfio-pci (default modprobe)
  BIND_TIMEOUT=<s>     seconds to wait for the kernel to (re)bind a device (default 10)

Environment (persistence):
  SETUP_ROOT=<dir>     prefix for /etc paths (default: none, i.e. the real /etc)
  GRUB_DROPIN=<path>   drop-in path below SETUP_ROOT (default /etc/default/grub.d/vhostd.cfg)
  UPDATE_GRUB=<cmd>    shell command run after changing the drop-in (default update-grub;
                       not run when SETUP_ROOT is set unless UPDATE_GRUB is set too;
                       empty: do not run anything)

Environment (testing and unusual hosts):
  SYSFS_ROOT=<dir>     read and write <dir> instead of /sys (default /sys)
  PROCFS_ROOT=<dir>    read and write <dir> instead of /proc (default /proc)
  DEVFS_ROOT=<dir>     look for vfio group nodes in <dir>/vfio (default /dev)
  SETUP_STATE_DIR=<dir>  where config records what reset must undo (default /run/vhostd-setup)

Examples:
  sudo HUGEMEM=4096 $PROG
  sudo HUGEMEM=2048 PCI_ALLOWED="0000:01:00.0" VFIO_OWNER=vhostd $PROG config --persist
  $PROG status
  sudo $PROG reset
EOF
}

err() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
}

die() {
	err "$@"
	exit 1
}

usage_error() {
	err "$*"
	printf "Run '%s --help' for usage.\n" "$PROG" >&2
	exit 2
}

warn() {
	printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

info() {
	printf '%s\n' "$*"
}

need_root() {
	if [[ $EUID -ne 0 ]]; then
		die "must run as root: '$1' changes kernel settings (try: sudo $0 $1)"
	fi
}

# Print the content of a file without its trailing newline; fail if it cannot be read.
readf() {
	local v
	[[ -r $1 ]] || return 1
	v=$(<"$1") || return 1
	printf '%s' "$v"
}

# Read a sysfs/procfs counter; anything that is not a number counts as 0.
read_num() {
	local v
	v=$(readf "$1" 2>/dev/null) || v=
	[[ $v =~ ^[0-9]+$ ]] || v=0
	printf '%s' "$v"
}

# Write a value to a kernel file. Returns 1 with the reason in WRITE_ERR on failure.
WRITE_ERR=
try_write() {
	local err
	if ! err=$({ printf '%s\n' "$2" >"$1"; } 2>&1); then
		WRITE_ERR="cannot write '$2' to $1: ${err##*: }"
		return 1
	fi
	return 0
}

write_or_die() {
	try_write "$1" "$2" || die "$WRITE_ERR"
}

# ---------------------------------------------------------------------------------------------
# Hugepages

# NUMA nodes that have 2 MiB hugepage controls, or "all" when the kernel has no NUMA sysfs.
HP_NODES=()
find_hp_nodes() {
	local d
	HP_NODES=()
	for d in "$SYSFS"/devices/system/node/node[0-9]*; do
		if [[ -d $d/hugepages/$HP_DIR ]]; then
			HP_NODES+=("${d##*/}")
		fi
	done
	if [[ ${#HP_NODES[@]} -eq 0 ]]; then
		HP_NODES=(all)
	fi
}

hp_nr_file() {
	if [[ $1 == all ]]; then
		printf '%s/sys/vm/nr_hugepages' "$PROCFS"
	else
		printf '%s/devices/system/node/%s/hugepages/%s/nr_hugepages' "$SYSFS" "$1" "$HP_DIR"
	fi
}

hp_node_label() {
	if [[ $1 == all ]]; then
		printf 'the system (no NUMA information)'
	else
		printf 'node %s' "${1#node}"
	fi
}

# Sets HP_PAGES from NRHUGE or HUGEMEM, refusing anything that is not a positive whole
# number of 2 MiB pages.
HP_PAGES=0
parse_hugemem() {
	local v
	if [[ -n ${NRHUGE+x} ]]; then
		v=$NRHUGE
		[[ $v =~ ^[0-9]+$ ]] || die "NRHUGE must be a whole number of 2 MiB pages, got '$v'"
		[[ ${#v} -le 9 ]] || die "NRHUGE is too large: '$v'"
		v=$((10#$v))
		[[ $v -gt 0 ]] || die "NRHUGE must be greater than 0"
		HP_PAGES=$v
		return
	fi
	v=${HUGEMEM-$DEFAULT_HUGEMEM}
	[[ $v =~ ^[0-9]+$ ]] || die "HUGEMEM must be a whole number of MiB, got '$v'"
	[[ ${#v} -le 9 ]] || die "HUGEMEM is too large: '$v' MiB"
	v=$((10#$v))
	[[ $v -gt 0 ]] || die "HUGEMEM must be greater than 0"
	if ((v % (HP_SIZE_KB / 1024) != 0)); then
		die "HUGEMEM must be a multiple of 2 MiB (the hugepage size), got $v"
	fi
	HP_PAGES=$((v / (HP_SIZE_KB / 1024)))
}

meminfo_kb() {
	local key val _
	while read -r key val _; do
		if [[ $key == "$1:" ]]; then
			printf '%s' "$val"
			return 0
		fi
	done <"$PROCFS/meminfo"
	return 1
}

# Refuse before touching anything when the request cannot possibly be met: pages the kernel
# cannot find are taken from everything else on the host until it gives up.
check_available_memory() {
	local want_mib=$1 avail_kb have_mib=0 n
	[[ -r $PROCFS/meminfo ]] || return 0
	avail_kb=$(meminfo_kb MemAvailable) || return 0
	for n in "${HP_NODES[@]}"; do
		have_mib=$((have_mib + $(read_num "$(hp_nr_file "$n")") * HP_SIZE_KB / 1024))
	done
	if ((want_mib > avail_kb / 1024 + have_mib)); then
		die "not enough free memory: asked $want_mib MiB, about $((avail_kb / 1024 + have_mib)) MiB" \
			"available (MemAvailable $((avail_kb / 1024)) MiB + $have_mib MiB already reserved)"
	fi
}

reserve_hugepages() {
	local total=$1 count=${#HP_NODES[@]} i n want got attempt short=() before=() new_state=0
	local -A target=()

	mkdir -p "$STATE_DIR"
	if [[ ! -e $STATE_DIR/hugepages ]]; then
		for n in "${HP_NODES[@]}"; do
			printf '%s %s\n' "$n" "$(read_num "$(hp_nr_file "$n")")"
		done >"$STATE_DIR/hugepages"
		new_state=1
	fi

	for i in "${!HP_NODES[@]}"; do
		n=${HP_NODES[$i]}
		before[i]=$(read_num "$(hp_nr_file "$n")")
		want=$((total / count))
		if ((i < total % count)); then
			want=$((want + 1))
		fi
		target[$n]=$want
		write_or_die "$(hp_nr_file "$n")" "$want"
	done

	# The kernel silently gives fewer pages than asked when memory is short or fragmented.
	# Compact once and retry before giving up.
	for attempt in 1 2; do
		short=()
		for n in "${HP_NODES[@]}"; do
			got=$(read_num "$(hp_nr_file "$n")")
			if ((got < target[$n])); then
				short+=("$n")
			fi
		done
		[[ ${#short[@]} -eq 0 ]] && break
		[[ $attempt -eq 2 ]] && break
		if [[ -w $PROCFS/sys/vm/compact_memory ]]; then
			try_write "$PROCFS/sys/vm/compact_memory" 1 || true
		fi
		for n in "${short[@]}"; do
			try_write "$(hp_nr_file "$n")" "${target[$n]}" || true
		done
	done

	if [[ ${#short[@]} -gt 0 ]]; then
		local msg=() mib_each
		for n in "${short[@]}"; do
			got=$(read_num "$(hp_nr_file "$n")")
			mib_each=$((target[$n] * HP_SIZE_KB / 1024))
			msg+=("asked $mib_each MiB, got $((got * HP_SIZE_KB / 1024)) MiB on $(hp_node_label "$n")")
		done
		for i in "${!HP_NODES[@]}"; do
			try_write "$(hp_nr_file "${HP_NODES[$i]}")" "${before[i]}" || warn "$WRITE_ERR"
		done
		if [[ $new_state -eq 1 ]]; then
			rm -f "$STATE_DIR/hugepages"
		fi
		local joined
		joined=$(printf '%s; ' "${msg[@]}")
		die "not enough free memory: ${joined%; } (the reservation was rolled back)"
	fi

	for n in "${HP_NODES[@]}"; do
		info "hugepages: $(hp_node_label "$n"): ${target[$n]} x 2 MiB" \
			"($((target[$n] * HP_SIZE_KB / 1024)) MiB)"
	done
}

# Print the options of the hugetlbfs mounted at $1; fail if there is none.
hugetlbfs_opts() {
	local src mnt type opts _
	[[ -r $PROCFS/mounts ]] || return 1
	while read -r src mnt type opts _; do
		if [[ $mnt == "$1" && $type == hugetlbfs ]]; then
			printf '%s' "$opts"
			return 0
		fi
	done <"$PROCFS/mounts"
	return 1
}

mount_hugetlbfs() {
	local opts err
	if opts=$(hugetlbfs_opts "$HUGE_MNT"); then
		case ",$opts," in
		*,pagesize=2M,*) info "hugetlbfs: already mounted at $HUGE_MNT" ;;
		*) warn "hugetlbfs at $HUGE_MNT is mounted with '$opts', not pagesize=2M" ;;
		esac
		return 0
	fi
	if [[ ! -d $HUGE_MNT ]]; then
		mkdir -p "$HUGE_MNT"
		printf 'created %s\n' "$HUGE_MNT" >>"$STATE_DIR/mount"
	fi
	if ! err=$(mount -t hugetlbfs -o pagesize=2M nodev "$HUGE_MNT" 2>&1); then
		die "cannot mount hugetlbfs at $HUGE_MNT: $err"
	fi
	printf 'mounted %s\n' "$HUGE_MNT" >>"$STATE_DIR/mount"
	info "hugetlbfs: mounted at $HUGE_MNT (pagesize=2M)"
}

# ---------------------------------------------------------------------------------------------
# PCI / VFIO

pci_dev() {
	printf '%s/bus/pci/devices/%s' "$SYSFS" "$1"
}

# Name of the driver bound to a PCI device, empty when none.
pci_driver() {
	local l
	if l=$(readlink "$(pci_dev "$1")/driver" 2>/dev/null); then
		printf '%s' "${l##*/}"
	fi
	return 0
}

pci_group() {
	local l
	if l=$(readlink "$(pci_dev "$1")/iommu_group" 2>/dev/null); then
		printf '%s' "${l##*/}"
	fi
	return 0
}

pci_ids() {
	local d vendor device
	d=$(pci_dev "$1")
	vendor=$(readf "$d/vendor" 2>/dev/null) || vendor='0x????'
	device=$(readf "$d/device" 2>/dev/null) || device='0x????'
	printf '%s:%s' "${vendor#0x}" "${device#0x}"
}

is_nvme_class() {
	local class
	class=$(readf "$(pci_dev "$1")/class" 2>/dev/null) || return 1
	[[ $class == 0x0108* ]]
}

# Parse PCI_ALLOWED into PCI_LIST (normalised, deduplicated).
PCI_LIST=()
parse_pci_allowed() {
	local raw word bdf seen=" "
	raw=${PCI_ALLOWED:-}
	raw=${raw//,/ }
	PCI_LIST=()
	for word in $raw; do
		bdf=${word,,}
		if [[ $bdf =~ ^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]]; then
			bdf=0000:$bdf
		fi
		if [[ ! $bdf =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]]; then
			die "invalid PCI address '$word' in PCI_ALLOWED (expected DDDD:BB:DD.F, e.g. 0000:01:00.0)"
		fi
		[[ $seen == *" $bdf "* ]] && continue
		seen+="$bdf "
		PCI_LIST+=("$bdf")
	done
}

# sysfs directories of the block devices (namespaces, partitions) behind an NVMe controller.
nvme_block_dirs() {
	local dev ctrl sub ns part
	dev=$(pci_dev "$1")
	for ctrl in "$dev"/nvme/nvme[0-9]*; do
		[[ -d $ctrl ]] || continue
		# Namespaces directly below the controller (also the hidden nvmeXcYnZ paths).
		for ns in "$ctrl"/nvme[0-9]*n[0-9]*; do
			if [[ -d $ns ]]; then printf '%s\n' "$ns"; fi
		done
		# With native NVMe multipath the usable namespaces hang off the subsystem.
		for sub in "$SYSFS"/class/nvme-subsystem/*; do
			[[ -e $sub/${ctrl##*/} ]] || continue
			for ns in "$sub"/nvme[0-9]*n[0-9]*; do
				if [[ -d $ns ]]; then printf '%s\n' "$ns"; fi
			done
		done
	done | while read -r ns; do
		printf '%s\n' "$ns"
		for part in "$ns"/"${ns##*/}"p[0-9]*; do
			if [[ -d $part ]]; then printf '%s\n' "$part"; fi
		done
	done
	return 0
}

# Print one line per reason the block device in sysfs directory $1 is in use.
block_users() {
	local dir=$1 name majmin h kind dmname src mnt mi_majmin mi_mnt
	name=${dir##*/}
	majmin=$(readf "$dir/dev" 2>/dev/null) || majmin=

	for h in "$dir"/holders/*; do
		[[ -e $h ]] || continue
		h=${h##*/}
		kind=
		case $h in
		dm-*)
			dmname=$(readf "$SYSFS/class/block/$h/dm/name" 2>/dev/null) || dmname=
			kind=" (device-mapper${dmname:+ \"$dmname\"}: LVM, crypt or multipath)"
			;;
		md*) kind=" (md RAID)" ;;
		esac
		printf '%s is held by %s%s\n' "$name" "$h" "$kind"
	done

	if [[ -r $PROCFS/mounts ]]; then
		while read -r src mnt _; do
			if [[ $src == "/dev/$name" ]]; then
				printf '%s is mounted on %s\n' "$name" "$mnt"
			fi
		done <"$PROCFS/mounts"
	fi
	# mountinfo names the device by number, which also catches mounts made through a
	# /dev/disk/by-* link.
	if [[ -n $majmin && -r $PROCFS/self/mountinfo ]]; then
		while read -r _ _ mi_majmin _ mi_mnt _; do
			if [[ $mi_majmin == "$majmin" ]]; then
				printf '%s is mounted on %s\n' "$name" "$mi_mnt"
			fi
		done <"$PROCFS/self/mountinfo"
	fi

	if [[ -r $PROCFS/swaps ]]; then
		while read -r src _; do
			if [[ $src == "/dev/$name" ]]; then
				printf '%s is an active swap device\n' "$name"
			fi
		done <"$PROCFS/swaps"
	fi

	return 0
}

# Second opinion from lsblk on a whole namespace and everything stacked on it. lsblk reads
# the real /sys and /proc, so it is only asked when those are what we look at.
lsblk_users() {
	local dir=$1 name lname ltype lmnt
	name=${dir##*/}
	[[ $SYSFS == /sys && $PROCFS == /proc && -b /dev/$name ]] || return 0
	command -v lsblk >/dev/null || return 0
	[[ $name =~ ^nvme[0-9]+n[0-9]+$ ]] || return 0
	while read -r lname ltype lmnt; do
		if [[ -n $lmnt ]]; then
			printf '%s is in use (lsblk: %s %s on %s)\n' "$name" "$ltype" "$lname" "$lmnt"
		elif [[ $ltype == lvm || $ltype == raid* || $ltype == crypt || $ltype == dm ]]; then
			printf '%s is in use (lsblk: %s %s)\n' "$name" "$ltype" "$lname"
		fi
	done < <(lsblk -nrpo NAME,TYPE,MOUNTPOINT "/dev/$name" 2>/dev/null || true)
	return 0
}

# Refuse devices that do not exist, are not NVMe controllers or are in use. All devices are
# checked and every problem reported before anything on the host changes.
check_pci_devices() {
	local bdf dev dir dirs errors=() class reasons
	local fix="Release it (umount, swapoff, deactivate LVM/md) before binding it to vfio-pci"
	for bdf in "${PCI_LIST[@]}"; do
		dev=$(pci_dev "$bdf")
		if [[ ! -e $dev ]]; then
			errors+=("unknown PCI address $bdf: there is no $dev")
			continue
		fi
		if ! is_nvme_class "$bdf"; then
			class=$(readf "$dev/class" 2>/dev/null) || class=unknown
			errors+=("$bdf is not an NVMe controller (class $class); only NVMe controllers are bound")
			continue
		fi
		if [[ $(pci_driver "$bdf") == vfio-pci ]]; then
			continue
		fi
		dirs=$(nvme_block_dirs "$bdf")
		reasons=$(while read -r dir; do
			if [[ -n $dir ]]; then block_users "$dir"; fi
		done <<<"$dirs" | sort -u)
		if [[ -z $reasons ]]; then
			reasons=$(while read -r dir; do
				if [[ -n $dir ]]; then lsblk_users "$dir"; fi
			done <<<"$dirs" | sort -u)
		fi
		if [[ -n $reasons ]]; then
			errors+=("$bdf is in use: ${reasons//$'\n'/; }. $fix")
		fi
	done
	if [[ ${#errors[@]} -gt 0 ]]; then
		for bdf in "${errors[@]}"; do
			err "$bdf"
		done
		exit 1
	fi
}

require_iommu() {
	local g bdf missing=()
	for g in "$SYSFS"/kernel/iommu_groups/*; do
		if [[ -e $g ]]; then
			for bdf in "${PCI_LIST[@]}"; do
				[[ -n $(pci_group "$bdf") ]] || missing+=("$bdf")
			done
			if [[ ${#missing[@]} -gt 0 ]]; then
				die "no IOMMU group for ${missing[*]}: the IOMMU does not cover it; check the" \
					"firmware (VT-d/AMD-Vi) settings"
			fi
			return 0
		fi
	done
	die "no IOMMU: $SYSFS/kernel/iommu_groups is empty, so vfio-pci cannot take the device." \
		"Enable VT-d (Intel) or AMD-Vi (AMD) in the firmware and boot with intel_iommu=on" \
		"iommu=pt (Intel) or amd_iommu=on iommu=pt (AMD); '$PROG config --persist' adds these" \
		"to the GRUB command line. Then reboot."
}

require_vfio_pci() {
	local err
	[[ -d $SYSFS/bus/pci/drivers/vfio-pci ]] && return 0
	if ! err=$("$MODPROBE_CMD" vfio-pci 2>&1); then
		die "cannot load the vfio-pci module ('$MODPROBE_CMD vfio-pci': ${err:-failed});" \
			"is the kernel's module package (linux-image-amd64) installed?"
	fi
	if [[ ! -d $SYSFS/bus/pci/drivers/vfio-pci ]]; then
		die "no vfio-pci module: '$MODPROBE_CMD vfio-pci' succeeded but" \
			"$SYSFS/bus/pci/drivers/vfio-pci does not exist"
	fi
	info "vfio-pci: module loaded"
}

# Warn when other devices share the IOMMU group: VFIO can only use a group whose every
# device is bound to vfio-pci (or to no driver; bridges are fine).
check_group_viable() {
	local bdf=$1 other drv
	for other in "$(pci_dev "$bdf")"/iommu_group/devices/*; do
		[[ -e $other ]] || continue
		other=${other##*/}
		[[ $other == "$bdf" ]] && continue
		drv=$(pci_driver "$other")
		case $drv in
		"" | vfio-pci | pcieport | pci-stub) ;;
		*)
			warn "IOMMU group $(pci_group "$bdf") of $bdf also holds $other (driver $drv):" \
				"VFIO cannot use the group until $other is bound to vfio-pci too"
			;;
		esac
	done
	return 0
}

# Wait until a device is bound to driver $2 ("" = to nothing). Returns 1 on timeout.
wait_driver() {
	local i
	for ((i = 0; i < WAIT_SECS * 10; i++)); do
		[[ $(pci_driver "$1") == "$2" ]] && return 0
		sleep 0.1
	done
	[[ $(pci_driver "$1") == "$2" ]]
}

bind_vfio() {
	local bdf=$1 dev drv group node i
	dev=$(pci_dev "$bdf")
	drv=$(pci_driver "$bdf")
	if [[ $drv == vfio-pci ]]; then
		info "$bdf: already bound to vfio-pci"
	else
		mkdir -p "$STATE_DIR/pci"
		if [[ ! -e $STATE_DIR/pci/$bdf ]]; then
			printf 'driver=%s\n' "$drv" >"$STATE_DIR/pci/$bdf"
		fi
		write_or_die "$dev/driver_override" vfio-pci
		if [[ -n $drv ]]; then
			write_or_die "$dev/driver/unbind" "$bdf"
		fi
		write_or_die "$SYSFS/bus/pci/drivers_probe" "$bdf"
		if ! wait_driver "$bdf" vfio-pci; then
			# Give the device back rather than leaving it without a driver.
			try_write "$dev/driver_override" "" || true
			if [[ -n $drv ]]; then
				try_write "$SYSFS/bus/pci/drivers_probe" "$bdf" || true
			fi
			rm -f "$STATE_DIR/pci/$bdf"
			die "$bdf did not bind to vfio-pci within ${WAIT_SECS}s (driver now:" \
				"'$(pci_driver "$bdf")'); see dmesg"
		fi
		info "$bdf: bound to vfio-pci (was: ${drv:-no driver})"
	fi

	group=$(pci_group "$bdf")
	node=$DEVFS/vfio/$group
	for ((i = 0; i < WAIT_SECS * 10; i++)); do
		[[ -e $node ]] && break
		sleep 0.1
	done
	[[ -e $node ]] || die "$bdf: $node did not appear"
	chmod 0660 "$node"
	if [[ -n ${VFIO_OWNER:-} ]]; then
		chown "$VFIO_OWNER" "$node" || die "cannot chown $node to '$VFIO_OWNER'"
		info "$bdf: $node owned by $VFIO_OWNER"
	else
		info "$bdf: $node (IOMMU group $group) is root-only; set VFIO_OWNER to hand it to a user"
	fi
	check_group_viable "$bdf"
}

# Print "pid (comm)" of processes that hold /dev/vfio/<group> open.
vfio_group_users() {
	local fd pid comm
	for fd in "$PROCFS"/[0-9]*/fd/*; do
		[[ -L $fd ]] || continue
		if [[ $(readlink "$fd" 2>/dev/null) == "/dev/vfio/$1" ]]; then
			pid=${fd#"$PROCFS"/}
			pid=${pid%%/*}
			comm=$(readf "$PROCFS/$pid/comm" 2>/dev/null) || comm='?'
			printf '%s (%s)\n' "$pid" "$comm"
		fi
	done 2>/dev/null | sort -u
	return 0
}

# Give a device we bound back to its previous driver. Returns 1 on failure.
restore_pci() {
	local bdf=$1 prev dev cur group users
	prev=$(readf "$STATE_DIR/pci/$bdf") || prev=
	prev=${prev#driver=}
	dev=$(pci_dev "$bdf")
	if [[ ! -e $dev ]]; then
		warn "$bdf: device is gone; forgetting it"
		rm -f "$STATE_DIR/pci/$bdf"
		return 0
	fi
	cur=$(pci_driver "$bdf")
	if [[ $cur == vfio-pci ]]; then
		group=$(pci_group "$bdf")
		users=$(vfio_group_users "$group")
		if [[ -n $users ]]; then
			err "$bdf is in use: /dev/vfio/$group is open by" \
				"pid ${users//$'\n'/, }; stop it first" >&2
			return 1
		fi
		if ! try_write "$dev/driver/unbind" "$bdf"; then
			err "$WRITE_ERR"
			return 1
		fi
		wait_driver "$bdf" "" || true
	elif [[ -n $cur ]]; then
		info "$bdf: now bound to $cur, not vfio-pci; leaving it"
		rm -f "$STATE_DIR/pci/$bdf"
		return 0
	fi
	if ! try_write "$dev/driver_override" ""; then
		err "$WRITE_ERR"
		return 1
	fi
	if [[ -z $prev ]]; then
		info "$bdf: unbound from vfio-pci (it had no driver before)"
		rm -f "$STATE_DIR/pci/$bdf"
		return 0
	fi
	try_write "$SYSFS/bus/pci/drivers_probe" "$bdf" || true
	if ! wait_driver "$bdf" "$prev" && [[ -e $SYSFS/bus/pci/drivers/$prev/bind ]]; then
		try_write "$SYSFS/bus/pci/drivers/$prev/bind" "$bdf" || true
		wait_driver "$bdf" "$prev" || true
	fi
	cur=$(pci_driver "$bdf")
	if [[ $cur != "$prev" ]]; then
		err "$bdf: could not rebind to $prev (driver now:" \
			"'${cur:-none}'); see dmesg" >&2
		return 1
	fi
	info "$bdf: unbound from vfio-pci, back on $prev"
	rm -f "$STATE_DIR/pci/$bdf"
	return 0
}

# ---------------------------------------------------------------------------------------------
# Boot-time persistence (GRUB)

run_update_grub() {
	local cmd
	if [[ -n ${UPDATE_GRUB+x} ]]; then
		cmd=$UPDATE_GRUB
	elif [[ -n $ETC_ROOT ]]; then
		info "grub: SETUP_ROOT is set, not running the host's update-grub (set UPDATE_GRUB to run one)"
		return 0
	else
		cmd=update-grub
	fi
	if [[ -z $cmd ]]; then
		info "grub: UPDATE_GRUB is empty, not regenerating the GRUB configuration"
		return 0
	fi
	if ! command -v "${cmd%% *}" >/dev/null; then
		warn "'${cmd%% *}' not found: regenerate the boot loader configuration yourself"
		return 0
	fi
	info "grub: running '$cmd'"
	bash -c "$cmd" || die "'$cmd' failed"
}

persist_write() {
	local pages=$1 grub dropin params content tmp
	grub=$ETC_ROOT/etc/default/grub
	dropin=$ETC_ROOT$DROPIN_PATH
	params="hugepagesz=2M hugepages=$pages intel_iommu=on iommu=pt amd_iommu=on"
	if [[ ! -f $grub ]]; then
		die "cannot persist: $grub does not exist (is GRUB installed?). Add these kernel" \
			"parameters to the boot loader yourself: $params"
	fi
	if grep -Eq '^[^#]*GRUB_CMDLINE_LINUX[A-Z_]*=.*([" ]|=)hugepages=' "$grub"; then
		warn "$grub already sets hugepages=; the kernel will see two values and may ignore" \
			"one of them (check the 'HugeTLB' lines of dmesg after the reboot)"
	fi
	# shellcheck disable=SC2016 # the drop-in must keep $GRUB_CMDLINE_LINUX_DEFAULT literal
	content=$(printf '%s\n' \
		"# Written by vhostd scripts/setup.sh --persist: $((pages * HP_SIZE_KB / 1024)) MiB of" \
		"# 2 MiB hugepages and the IOMMU at boot. Remove with: setup.sh reset --persist" \
		'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT '"$params"'"')
	mkdir -p "${dropin%/*}"
	if [[ -f $dropin && $(<"$dropin") == "$content" ]]; then
		info "grub: $dropin is up to date (appends: $params)"
	else
		tmp=$(mktemp "${dropin%/*}/.vhostd.XXXXXX")
		printf '%s\n' "$content" >"$tmp"
		chmod 0644 "$tmp"
		mv -f "$tmp" "$dropin"
		info "grub: wrote $dropin, appending to GRUB_CMDLINE_LINUX_DEFAULT: $params"
	fi
	run_update_grub
	info "grub: the new command line takes effect at the next boot"
}

persist_remove() {
	local dropin=$ETC_ROOT$DROPIN_PATH
	if [[ ! -e $dropin ]]; then
		info "grub: $dropin does not exist, nothing to remove"
		return 0
	fi
	rm -f "$dropin"
	info "grub: removed $dropin"
	run_update_grub
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_config() {
	need_root config
	parse_hugemem
	parse_pci_allowed
	find_hp_nodes
	check_pci_devices
	check_available_memory $((HP_PAGES * HP_SIZE_KB / 1024))
	if [[ $PERSIST -eq 1 ]]; then
		persist_write "$HP_PAGES"
	fi
	if [[ ${#PCI_LIST[@]} -gt 0 ]]; then
		require_iommu
		require_vfio_pci
	fi
	reserve_hugepages "$HP_PAGES"
	mount_hugetlbfs
	local bdf
	for bdf in "${PCI_LIST[@]}"; do
		bind_vfio "$bdf"
	done
	info "done; '$PROG status' shows the result, '$PROG reset' undoes it"
}

# Print up to three entries of directory $1 (empty when it has none).
first_entries() {
	local e n=0 out=
	for e in "$1"/* "$1"/.[!.]*; do
		[[ -e $e ]] || continue
		out+="${out:+, }${e##*/}"
		n=$((n + 1))
		if [[ $n -eq 3 ]]; then
			out+=", ..."
			break
		fi
	done
	printf '%s' "$out"
}

cmd_reset() {
	need_root reset
	local failed=0 f bdf n target got node_state=() line what mnt files

	if [[ $PERSIST -eq 1 ]]; then
		persist_remove
	fi

	for f in "$STATE_DIR"/pci/*; do
		[[ -e $f ]] || continue
		bdf=${f##*/}
		restore_pci "$bdf" || failed=1
	done

	find_hp_nodes
	if [[ -r $STATE_DIR/hugepages ]]; then
		mapfile -t node_state <"$STATE_DIR/hugepages"
	fi
	for n in "${HP_NODES[@]}"; do
		target=0
		for line in "${node_state[@]}"; do
			if [[ ${line%% *} == "$n" ]]; then
				target=${line#* }
			fi
		done
		[[ $target =~ ^[0-9]+$ ]] || target=0
		if ! try_write "$(hp_nr_file "$n")" "$target"; then
			err "$WRITE_ERR"
			failed=1
			continue
		fi
		got=$(read_num "$(hp_nr_file "$n")")
		if ((got > target)); then
			warn "$(hp_node_label "$n"): $((got - target)) hugepages are still in use (files in a" \
				"hugetlbfs mount or a running process); the kernel frees them when they are released"
		fi
		info "hugepages: $(hp_node_label "$n"): set to $target x 2 MiB"
	done
	rm -f "$STATE_DIR/hugepages"

	if [[ -r $STATE_DIR/mount ]]; then
		local keep=()
		while read -r what mnt; do
			[[ $what == mounted ]] || continue
			if ! hugetlbfs_opts "$mnt" >/dev/null; then
				continue
			fi
			files=$(first_entries "$mnt")
			if [[ -n $files ]]; then
				warn "hugetlbfs at $mnt still holds files (${files}); left mounted. Remove them" \
					"once no process uses them, then run reset again"
				keep+=("mounted $mnt")
				continue
			fi
			if ! umount "$mnt"; then
				warn "cannot unmount $mnt; left mounted"
				keep+=("mounted $mnt")
				continue
			fi
			info "hugetlbfs: unmounted $mnt"
		done <"$STATE_DIR/mount"
		while read -r what mnt; do
			[[ $what == created ]] || continue
			if [[ " ${keep[*]} " == *" mounted $mnt "* ]]; then
				keep+=("created $mnt")
			elif [[ -d $mnt ]] && ! hugetlbfs_opts "$mnt" >/dev/null; then
				rmdir "$mnt" 2>/dev/null || warn "cannot remove $mnt"
			fi
		done <"$STATE_DIR/mount"
		if [[ ${#keep[@]} -gt 0 ]]; then
			printf '%s\n' "${keep[@]}" >"$STATE_DIR/mount"
		else
			rm -f "$STATE_DIR/mount"
		fi
	fi

	rmdir "$STATE_DIR/pci" "$STATE_DIR" 2>/dev/null || true
	if [[ $failed -ne 0 ]]; then
		die "reset incomplete (see the errors above)"
	fi
	info "done"
}

status_hugepages() {
	local d size nodes=0 n
	printf 'Hugepages:\n  %-8s %-12s %8s %8s\n' NODE SIZE TOTAL FREE
	for n in "$SYSFS"/devices/system/node/node[0-9]*; do
		for d in "$n"/hugepages/hugepages-*; do
			[[ -d $d ]] || continue
			nodes=1
			size=${d##*/hugepages-}
			printf '  %-8s %-12s %8s %8s\n' "${n##*/}" "$size" \
				"$(read_num "$d/nr_hugepages")" "$(read_num "$d/free_hugepages")"
		done
	done
	if [[ $nodes -eq 0 ]]; then
		for d in "$SYSFS"/kernel/mm/hugepages/hugepages-*; do
			[[ -d $d ]] || continue
			nodes=1
			size=${d##*/hugepages-}
			printf '  %-8s %-12s %8s %8s\n' all "$size" \
				"$(read_num "$d/nr_hugepages")" "$(read_num "$d/free_hugepages")"
		done
	fi
	if [[ $nodes -eq 0 ]]; then
		printf '  %-8s %-12s %8s %8s\n' all "${HP_SIZE_KB}kB" \
			"$(read_num "$PROCFS/sys/vm/nr_hugepages")" "?"
	fi
}

status_mounts() {
	local src mnt type opts _ any=0
	printf 'Hugetlbfs mounts:\n'
	if [[ -r $PROCFS/mounts ]]; then
		while read -r src mnt type opts _; do
			if [[ $type == hugetlbfs ]]; then
				printf '  %s (%s)\n' "$mnt" "$opts"
				any=1
			fi
		done <"$PROCFS/mounts"
	fi
	[[ $any -eq 1 ]] || printf '  (none)\n'
}

status_pci() {
	local d bdf drv any=0 prev ns names
	printf 'Devices bound to vfio-pci:\n'
	for d in "$SYSFS"/bus/pci/devices/*; do
		[[ -e $d ]] || continue
		bdf=${d##*/}
		[[ $(pci_driver "$bdf") == vfio-pci ]] || continue
		any=1
		prev=
		if [[ -r $STATE_DIR/pci/$bdf ]]; then
			prev=$(readf "$STATE_DIR/pci/$bdf") || prev=
			prev="  bound by setup.sh, previous driver: ${prev#driver=}"
			if [[ $prev == *": " ]]; then prev+="none"; fi
		fi
		printf '  %s  %s  iommu_group %s%s\n' "$bdf" "$(pci_ids "$bdf")" \
			"$(pci_group "$bdf")" "$prev"
	done
	[[ $any -eq 1 ]] || printf '  (none)\n'

	any=0
	printf 'NVMe controllers:\n'
	for d in "$SYSFS"/bus/pci/devices/*; do
		[[ -e $d ]] || continue
		bdf=${d##*/}
		is_nvme_class "$bdf" || continue
		any=1
		drv=$(pci_driver "$bdf")
		names=
		for ns in "$d"/nvme/nvme[0-9]*/nvme[0-9]*n[0-9]*; do
			if [[ -d $ns ]]; then names+=" ${ns##*/}"; fi
		done
		printf '  %s  %s  driver %s  numa_node %s%s\n' "$bdf" "$(pci_ids "$bdf")" \
			"${drv:-none}" "$(readf "$d/numa_node" 2>/dev/null || printf '?')" \
			"${names:+  namespaces:$names}"
	done
	[[ $any -eq 1 ]] || printf '  (none)\n'
}

cmd_status() {
	local f
	status_hugepages
	status_mounts
	status_pci
	if [[ -r $STATE_DIR/hugepages ]]; then
		printf 'Hugepage counts before config (restored by reset):'
		while read -r f; do printf ' %s=%s' "${f%% *}" "${f#* }"; done <"$STATE_DIR/hugepages"
		printf '\n'
	fi
}

# ---------------------------------------------------------------------------------------------

COMMAND=
PERSIST=0
for arg in "$@"; do
	case $arg in
	-h | --help)
		usage
		exit 0
		;;
	--persist) PERSIST=1 ;;
	-*) usage_error "unknown option: $arg" ;;
	*)
		[[ -z $COMMAND ]] || usage_error "only one command allowed, got '$COMMAND' and '$arg'"
		COMMAND=$arg
		;;
	esac
done
COMMAND=${COMMAND:-config}

case $COMMAND in
config) cmd_config ;;
reset) cmd_reset ;;
status)
	[[ $PERSIST -eq 0 ]] || usage_error "--persist applies to config and reset only"
	cmd_status
	;;
*) usage_error "unknown command: $COMMAND (expected config, status or reset)" ;;
esac
