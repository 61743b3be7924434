#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# setup.sh on the real host: reserve 32 more 2 MiB hugepages than the host has, check
# /proc/meminfo, the hugetlbfs mount at /dev/hugepages and "status", then give them back with
# "reset". Whatever happens, the host's hugepage counts and mounts are restored at exit.
set -euo pipefail
# shellcheck source=tests/system/lib.sh
source "$(dirname "$0")/lib.sh"
require_root

MNT=/dev/hugepages
work=$(mktemp -d)
export SETUP_STATE_DIR=$work/state # never touch the real /run/vhostd-setup
unset NRHUGE PCI_ALLOWED SYSFS_ROOT PROCFS_ROOT DEVFS_ROOT SETUP_ROOT HUGEPAGE_MOUNT

meminfo_hp_total() {
	local key val _
	while read -r key val _; do
		if [[ $key == HugePages_Total: ]]; then
			printf '%s' "$val"
			return 0
		fi
	done </proc/meminfo
	fail "no HugePages_Total in /proc/meminfo"
}

# Record the host's state.
declare -A orig=()
nr_files=()
for f in /sys/devices/system/node/node[0-9]*/hugepages/hugepages-2048kB/nr_hugepages; do
	[[ -e $f ]] || continue
	nr_files+=("$f")
	orig[$f]=$(<"$f")
done
if [[ ${#nr_files[@]} -eq 0 ]]; then
	nr_files=(/proc/sys/vm/nr_hugepages)
	orig[/proc/sys/vm/nr_hugepages]=$(</proc/sys/vm/nr_hugepages)
fi
total0=$(meminfo_hp_total)
mounted0=0
if hugetlbfs_mounted "$MNT"; then
	mounted0=1
fi
dir0=0
if [[ -d $MNT ]]; then
	dir0=1
fi

cleanup() {
	local rc=$? f
	for f in "${nr_files[@]}"; do
		echo "${orig[$f]}" >"$f" || echo "cleanup: cannot restore $f" >&2
	done
	if [[ $mounted0 -eq 0 ]] && hugetlbfs_mounted "$MNT"; then
		umount "$MNT" || echo "cleanup: cannot unmount $MNT" >&2
	fi
	if [[ $dir0 -eq 0 && -d $MNT ]]; then
		rmdir "$MNT" || echo "cleanup: cannot remove $MNT" >&2
	fi
	if hugetlbfs_mounted "$work/hp"; then
		umount "$work/hp" || echo "cleanup: cannot unmount $work/hp" >&2
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

want=$((total0 + 32))
hugemem=$((want * 2))

# config (the default command)
expect_ok env HUGEMEM="$hugemem" "$SETUP"
got=$(meminfo_hp_total)
[[ $got -eq $want ]] || fail "HugePages_Total is $got after HUGEMEM=$hugemem, expected $want"
pass "HUGEMEM=$hugemem: HugePages_Total $total0 -> $got"

hugetlbfs_mounted "$MNT" || fail "$MNT is not a hugetlbfs mount after config"
grep -Eq "^[^ ]+ $MNT hugetlbfs [^ ]*pagesize=2M" /proc/mounts ||
	fail "$MNT is not mounted with pagesize=2M: $(grep " $MNT " /proc/mounts)"
pass "$MNT is a hugetlbfs mount (pagesize=2M)"

# status shows the pages and the mount
expect_ok "$SETUP" status
status=$LAST_OUT
sum=0
while read -r node size total _; do
	[[ $node == node* || $node == all ]] || continue
	[[ $size == 2048kB ]] && sum=$((sum + total))
done <<<"$status"
[[ $sum -eq $want ]] || fail "status shows $sum 2 MiB pages, expected $want:"$'\n'"$status"
grep -Eq "^  $MNT \(.*pagesize=2M" <<<"$status" ||
	fail "status does not list the hugetlbfs mount $MNT:"$'\n'"$status"
pass "status shows $want 2 MiB pages and $MNT"

# config again changes nothing and does not mount twice
expect_ok env HUGEMEM="$hugemem" "$SETUP" config
got=$(meminfo_hp_total)
[[ $got -eq $want ]] || fail "HugePages_Total is $got after a second config, expected $want"
mounts=$(grep -c " $MNT hugetlbfs " /proc/mounts || true)
[[ $mounts -eq 1 ]] || fail "$MNT is mounted $mounts times after a second config"
pass "a second config is idempotent"

# reset gives the pages back and undoes the mount it made
expect_ok "$SETUP" reset
got=$(meminfo_hp_total)
[[ $got -eq $total0 ]] || fail "HugePages_Total is $got after reset, expected $total0"
if [[ $mounted0 -eq 0 ]]; then
	! hugetlbfs_mounted "$MNT" || fail "reset left $MNT mounted although config mounted it"
fi
if [[ $dir0 -eq 0 && -d $MNT ]]; then
	fail "reset left $MNT behind although config created it"
fi
[[ ! -e $SETUP_STATE_DIR ]] || fail "reset left its state dir: $(ls -R "$SETUP_STATE_DIR")"
pass "reset: HugePages_Total back to $total0, mounts as before"

# A reset with nothing recorded sets 0, so only try these when 0 is what the host had.
if [[ $total0 -eq 0 ]]; then
	expect_ok "$SETUP" reset
	pass "a second reset is harmless"

	# A hugetlbfs that still holds files is reported and left mounted, and a later reset
	# unmounts it. Uses a mount point of its own, not /dev/hugepages.
	expect_ok env HUGEMEM=4 HUGEPAGE_MOUNT="$work/hp" "$SETUP" config
	hugetlbfs_mounted "$work/hp" || fail "HUGEPAGE_MOUNT=$work/hp was not mounted"
	touch "$work/hp/rtemap_0" "$work/hp/rtemap_1"
	expect_ok env HUGEPAGE_MOUNT="$work/hp" "$SETUP" reset
	grep -q "hugetlbfs at $work/hp still holds files (rtemap_0, rtemap_1); left mounted" \
		<<<"$LAST_OUT" || fail "reset does not report the files left in $work/hp: $LAST_OUT"
	hugetlbfs_mounted "$work/hp" || fail "reset unmounted a hugetlbfs that holds files"
	rm -f "$work/hp"/rtemap_*
	expect_ok env HUGEPAGE_MOUNT="$work/hp" "$SETUP" reset
	! hugetlbfs_mounted "$work/hp" || fail "a later reset did not unmount $work/hp"
	[[ ! -e $work/hp ]] || fail "a later reset did not remove $work/hp, which config created"
	[[ $(meminfo_hp_total) -eq 0 ]] || fail "HugePages_Total is not 0 after the last reset"
	pass "reset leaves a hugetlbfs with files mounted and reports it; a later reset unmounts it"
fi
