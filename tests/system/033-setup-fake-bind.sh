#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# setup.sh binds an NVMe controller to vfio-pci and gives it back, against a fake sysfs tree
# where a background loop (fake_kernel in lib.sh) plays the kernel's part: it honours
# writes to drivers/*/unbind and drivers_probe, binding to driver_override when set, and
# creates /dev/vfio/<group>. This checks the sequence of writes, the state kept for reset,
# the /dev/vfio node permissions, status, the refusal to unbind a group that a process has
# open, and the rollback when the kernel never binds. Real VFIO is not exercised.
set -euo pipefail
# shellcheck source=tests/system/lib.sh
source "$(dirname "$0")/lib.sh"
require_root

work=$(mktemp -d)
kpid=
cleanup() {
	local rc=$?
	if [[ -n $kpid ]]; then
		kill "$kpid" 2>/dev/null || true
		wait "$kpid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
r=$work/root
unset NRHUGE HUGEMEM UPDATE_GRUB VFIO_OWNER HUGEPAGE_MOUNT
NVME=0000:01:00.0
DEV=$r/sys/bus/pci/devices/$NVME
make_fake_root "$r"
# The NIC shares IOMMU group 7 with the NVMe controller: config must warn about it.
ln -s "$r/sys/bus/pci/devices/0000:02:00.0" "$r/sys/kernel/iommu_groups/7/devices/0000:02:00.0"

fake_kernel "$r" &
kpid=$!

expect_ok in_fake_root "$r" PCI_ALLOWED=$NVME HUGEMEM=4 VFIO_OWNER=nobody "$SETUP" config
out=$LAST_OUT
[[ $(readlink "$DEV/driver") == */vfio-pci ]] || fail "not bound to vfio-pci:"$'\n'"$out"
[[ $(<"$DEV/driver_override") == vfio-pci ]] || fail "driver_override is '$(<"$DEV/driver_override")'"
grep -qx "unbind $NVME from nvme" "$r/kernel.log" || fail "nvme was not unbound: $(cat "$r/kernel.log")"
grep -qx "probe $NVME -> vfio-pci" "$r/kernel.log" || fail "no drivers_probe: $(cat "$r/kernel.log")"
[[ $(<"$r/state/pci/$NVME") == driver=nvme ]] || fail "state does not remember nvme"
[[ $(stat -c '%a %U' "$r/dev/vfio/7") == "660 nobody" ]] ||
	fail "/dev/vfio/7 is $(stat -c '%a %U' "$r/dev/vfio/7"), expected 660 nobody"
grep -q "bound to vfio-pci (was: nvme)" <<<"$out" || fail "config does not report the bind: $out"
grep -q "IOMMU group 7 of $NVME also holds 0000:02:00.0 (driver e1000e)" <<<"$out" ||
	fail "no warning about the shared IOMMU group: $out"
pass "config binds $NVME: unbind from nvme, driver_override + drivers_probe, /dev/vfio/7 0660 nobody"

expect_ok in_fake_root "$r" "$SETUP" status
grep -Eq "^  $NVME  1b36:0010  iommu_group 7  bound by setup.sh, previous driver: nvme" \
	<<<"$LAST_OUT" || fail "status does not show the vfio-pci device:"$'\n'"$LAST_OUT"
grep -Eq "^  $NVME  1b36:0010  driver vfio-pci" <<<"$LAST_OUT" ||
	fail "status does not list the NVMe controller with its driver:"$'\n'"$LAST_OUT"
pass "status lists the device under vfio-pci (BDF, ids, group, previous driver) and as NVMe"

expect_ok in_fake_root "$r" PCI_ALLOWED=$NVME HUGEMEM=4 "$SETUP" config
grep -q "$NVME: already bound to vfio-pci" <<<"$LAST_OUT" || fail "second config: $LAST_OUT"
[[ $(<"$r/state/pci/$NVME") == driver=nvme ]] || fail "a second config overwrote the state"
pass "a second config leaves the device and the remembered driver alone"

# A process holding the group open blocks reset (the kernel would hang in unbind).
mkdir -p "$r/proc/4242/fd"
echo vhostd >"$r/proc/4242/comm"
ln -s /dev/vfio/7 "$r/proc/4242/fd/12"
expect_fail "$NVME is in use: /dev/vfio/7 is open by pid 4242 \(vhostd\)" \
	in_fake_root "$r" "$SETUP" reset
[[ $(readlink "$DEV/driver") == */vfio-pci ]] || fail "reset unbound a device in use"
[[ -e $r/state/pci/$NVME ]] || fail "reset forgot a device it could not give back"
pass "reset refuses to unbind a device whose group is open"

rm -rf "$r/proc/4242"
expect_ok in_fake_root "$r" "$SETUP" reset
[[ $(readlink "$DEV/driver") == */nvme ]] || fail "not back on nvme:"$'\n'"$LAST_OUT"
[[ -z $(<"$DEV/driver_override") ]] || fail "driver_override not cleared"
grep -qx "unbind $NVME from vfio-pci" "$r/kernel.log" || fail "vfio-pci was not unbound"
grep -qx "probe $NVME -> nvme" "$r/kernel.log" || fail "no drivers_probe back to nvme"
[[ ! -e $r/state ]] || fail "reset left state behind: $(ls -R "$r/state")"
grep -q "$NVME: unbound from vfio-pci, back on nvme" <<<"$LAST_OUT" || fail "reset: $LAST_OUT"
pass "reset unbinds from vfio-pci, clears driver_override and rebinds nvme"

# The kernel never binds: config gives up, clears driver_override, forgets the device.
kill "$kpid"
wait "$kpid" 2>/dev/null || true
kpid=
expect_fail "$NVME did not bind to vfio-pci within 1s" \
	in_fake_root "$r" PCI_ALLOWED=$NVME HUGEMEM=4 BIND_TIMEOUT=1 "$SETUP" config
[[ -z $(<"$DEV/driver_override") ]] || fail "driver_override left set after a failed bind"
[[ ! -e $r/state/pci/$NVME ]] || fail "a failed bind was recorded"
pass "a bind that never happens fails with a message and undoes driver_override"
