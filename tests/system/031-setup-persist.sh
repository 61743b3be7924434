#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# setup.sh --persist against a fake root (SETUP_ROOT, SYSFS_ROOT, PROCFS_ROOT): the GRUB
# drop-in appends the hugepage and IOMMU parameters once, however often config runs, the
# update-grub command is the one given in UPDATE_GRUB (never the host's), and
# "reset --persist" removes the drop-in. Nothing on the host changes.
set -euo pipefail
# shellcheck source=tests/system/lib.sh
source "$(dirname "$0")/lib.sh"
require_root

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/root
make_fake_root "$r"
unset NRHUGE PCI_ALLOWED HUGEMEM UPDATE_GRUB GRUB_DROPIN
printf '%s\n' '# fake /etc/default/grub' 'GRUB_DEFAULT=0' 'GRUB_TIMEOUT=5' \
	'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' 'GRUB_CMDLINE_LINUX=""' >"$r/etc/default/grub"
dropin=$r/etc/default/grub.d/vhostd.cfg
log=$work/update-grub.log
ug="echo ran >>$log"
host_dropin=/etc/default/grub.d/vhostd.cfg
host_had_dropin=0
if [[ -e $host_dropin ]]; then
	host_had_dropin=1
	host_sum=$(cksum <"$host_dropin")
fi

# The command line GRUB would see: /etc/default/grub, then every grub.d/*.cfg, like
# grub-mkconfig does.
grub_cmdline() {
	(
		# shellcheck disable=SC1090,SC1091
		. "$r/etc/default/grub"
		for f in "$r"/etc/default/grub.d/*.cfg; do
			# shellcheck disable=SC1090
			[[ -e $f ]] && . "$f"
		done
		printf '%s' "$GRUB_CMDLINE_LINUX_DEFAULT"
	)
}

ran() {
	if [[ -e $log ]]; then
		wc -l <"$log"
	else
		echo 0
	fi
}

expected="quiet hugepagesz=2M hugepages=512 intel_iommu=on iommu=pt amd_iommu=on"

expect_ok in_fake_root "$r" HUGEMEM=1024 UPDATE_GRUB="$ug" "$SETUP" config --persist
[[ -f $dropin ]] || fail "no drop-in at $dropin"$'\n'"$LAST_OUT"
lines=$(grep -c '^GRUB_CMDLINE_LINUX_DEFAULT=' "$dropin" || true)
[[ $lines -eq 1 ]] || fail "drop-in has $lines GRUB_CMDLINE_LINUX_DEFAULT lines:"$'\n'"$(cat "$dropin")"
# shellcheck disable=SC2016 # the drop-in must contain the variable name, not its value
grep -qxF 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT hugepagesz=2M hugepages=512 intel_iommu=on iommu=pt amd_iommu=on"' \
	"$dropin" || fail "drop-in does not append to the existing line:"$'\n'"$(cat "$dropin")"
[[ $(grub_cmdline) == "$expected" ]] || fail "GRUB would see '$(grub_cmdline)', expected '$expected'"
[[ $(ran) -eq 1 ]] || fail "UPDATE_GRUB ran $(ran) times, expected 1"
grep -q "wrote $dropin" <<<"$LAST_OUT" || fail "config --persist does not say what it wrote:"$'\n'"$LAST_OUT"
[[ $(<"$r/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages") -eq 512 ]] ||
	fail "config --persist did not reserve the pages in the fake sysfs"
pass "config --persist writes $dropin appending '${expected#quiet }' and runs UPDATE_GRUB"

first=$(cksum <"$dropin")
expect_ok in_fake_root "$r" HUGEMEM=1024 UPDATE_GRUB="$ug" "$SETUP" config --persist
[[ $(cksum <"$dropin") == "$first" ]] || fail "a second config --persist changed the drop-in"
[[ $(grub_cmdline) == "$expected" ]] || fail "after a second run GRUB would see '$(grub_cmdline)'"
[[ $(ls "$r/etc/default/grub.d") == vhostd.cfg ]] ||
	fail "stray files in grub.d: $(ls -A "$r/etc/default/grub.d")"
pass "a second config --persist does not duplicate anything"

expect_ok in_fake_root "$r" NRHUGE=1024 UPDATE_GRUB="$ug" "$SETUP" config --persist
[[ $(grub_cmdline) == "${expected/hugepages=512/hugepages=1024}" ]] ||
	fail "NRHUGE=1024: GRUB would see '$(grub_cmdline)'"
pass "a new size replaces the old one (NRHUGE=1024 -> hugepages=1024)"

# SETUP_ROOT without UPDATE_GRUB: the host's update-grub must not run.
n=$(ran)
expect_ok in_fake_root "$r" HUGEMEM=1024 "$SETUP" config --persist
grep -q "not running the host's update-grub" <<<"$LAST_OUT" ||
	fail "SETUP_ROOT without UPDATE_GRUB does not say it skips update-grub:"$'\n'"$LAST_OUT"
[[ $(ran) -eq $n ]] || fail "UPDATE_GRUB ran although it was not set"
pass "with SETUP_ROOT and no UPDATE_GRUB, update-grub is not run"

expect_ok in_fake_root "$r" UPDATE_GRUB="$ug" "$SETUP" reset --persist
[[ ! -e $dropin ]] || fail "reset --persist left $dropin"
[[ $(grub_cmdline) == quiet ]] || fail "after reset --persist GRUB would see '$(grub_cmdline)'"
[[ $(ran) -eq $((n + 1)) ]] || fail "reset --persist did not run UPDATE_GRUB"
grep -q "removed $dropin" <<<"$LAST_OUT" || fail "reset --persist does not say what it removed"
[[ $(<"$r/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages") -eq 0 ]] ||
	fail "reset --persist did not give the fake pages back"
pass "reset --persist removes the drop-in and runs UPDATE_GRUB"

expect_ok in_fake_root "$r" UPDATE_GRUB="$ug" "$SETUP" reset --persist
grep -q "nothing to remove" <<<"$LAST_OUT" || fail "a second reset --persist: $LAST_OUT"
pass "a second reset --persist is harmless"

# /etc/default/grub with its own hugepages=: warn, still write the drop-in.
cp "$r/etc/default/grub" "$work/grub.orig"
echo 'GRUB_CMDLINE_LINUX="hugepages=16"' >>"$r/etc/default/grub"
expect_ok in_fake_root "$r" HUGEMEM=1024 UPDATE_GRUB="$ug" "$SETUP" config --persist
grep -q "already sets hugepages=" <<<"$LAST_OUT" || fail "no warning about hugepages=: $LAST_OUT"
[[ -f $dropin ]] || fail "no drop-in written next to an existing hugepages="
cp "$work/grub.orig" "$r/etc/default/grub"
expect_ok in_fake_root "$r" UPDATE_GRUB="$ug" "$SETUP" reset --persist
pass "an existing hugepages= in /etc/default/grub is warned about"

# No /etc/default/grub: refuse and print the parameters instead.
mv "$r/etc/default/grub" "$work/grub.saved"
expect_fail "does not exist \(is GRUB installed\?\).*hugepagesz=2M hugepages=512" \
	in_fake_root "$r" HUGEMEM=1024 UPDATE_GRUB="$ug" "$SETUP" config --persist
[[ ! -e $dropin ]] || fail "a drop-in was written without /etc/default/grub"
pass "config --persist without /etc/default/grub is refused with the parameters to add"

expect_fail "--persist applies to config and reset only" "$SETUP" status --persist
pass "status --persist is refused"

if [[ $host_had_dropin -eq 1 ]]; then
	[[ $(cksum <"$host_dropin") == "$host_sum" ]] || fail "the host's $host_dropin changed"
else
	[[ ! -e $host_dropin ]] || fail "the test created the host's $host_dropin"
fi
pass "the host's GRUB configuration is untouched"
