#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Kata Containers vhost-user-store: with `kata: {store: DIR}` each blk controller listens on
# DIR/block/sockets/NAME and has a block device node DIR/block/devices/NAME with major 241 and
# a minor of its own (the same after a restart). A guest attached through that socket does
# I/O. Deleting a blk controller over the control socket removes its socket and node at once
# (one made over RPC gets both too), and vhostd removes the others when it stops.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

STORE=$E2E_TMP/kata/store   # does not exist yet: vhostd creates it
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
kata: {store: $STORE}
backends:
  - {name: ram0, type: malloc, size: 64MiB}
  - {name: ram1, type: malloc, size: 32MiB}
controllers:
  - {name: kata-disk0, type: blk, backend: ram0, serial: kata-disk0}
  - {name: kata-disk1, type: blk, backend: ram1}
EOF
)

# node_info NAME — "major:minor" of the device node, or nothing.
node_info() {
	local type maj min
	read -r type maj min < <(stat -c '%F|%t %T' "$STORE/block/devices/$1" 2>/dev/null |
		tr '|' ' ' | sed 's/^block special file/block/') || return 0
	[ "$type" = block ] && echo "$((16#$maj)):$((16#$min))"
}

vhostd_start "$cfg"
for n in kata-disk0 kata-disk1; do
	[ -S "$STORE/block/sockets/$n" ] || fail "no socket $STORE/block/sockets/$n"
done
n0=$(node_info kata-disk0) n1=$(node_info kata-disk1)
[ "${n0%%:*}" = 241 ] || fail "kata-disk0 node: '$n0', want a block device with major 241"
[ "${n1%%:*}" = 241 ] || fail "kata-disk1 node: '$n1', want a block device with major 241"
[ "$n0" != "$n1" ] || fail "both nodes have the same minor ($n0)"
log "device nodes: kata-disk0 $n0, kata-disk1 $n1"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<'GUEST'
set -e
dev=$(find_disk_by_serial kata-disk0)
result size=$(disk_size "$dev")
fio_verify "$dev" --rw=randwrite --bs=4k --size=8M --iodepth=8
result fio=ok
GUEST
)
mapfile -t dev < <(vhost_user_blk_args c0 "$STORE/block/sockets/kata-disk0" 1)
run_guest "$script" "${dev[@]}" || fail "guest: $E2E_GUEST_VERDICT"
assert_eq $((64 * 1024 * 1024)) "$(e2e_result size)" "disk size through the Kata socket"
assert_eq ok "$(e2e_result fio)" "fio verify through the Kata socket"

# Over RPC: a new controller gets its socket and node; deleting it, or kata-disk0 (its guest
# has powered off), removes both at once.
vhostctl bdev create-malloc ram2 16MiB >/dev/null || fail "bdev create-malloc"
out=$(vhostctl ctrlr create-blk kata-disk2 ram2) || fail "ctrlr create-blk: $out"
[ -S "$STORE/block/sockets/kata-disk2" ] || fail "no socket for kata-disk2"
n2=$(node_info kata-disk2)
[ "${n2%%:*}" = 241 ] || fail "kata-disk2 node: '$n2', want a block device with major 241"
if [ "$n2" = "$n0" ] || [ "$n2" = "$n1" ]; then fail "kata-disk2 has another's minor ($n2)"; fi
for n in kata-disk2 kata-disk0; do
	out=$(vhostctl ctrlr delete "$n") || fail "ctrlr delete $n: $out"
	[ ! -e "$STORE/block/sockets/$n" ] || fail "socket of $n left after its deletion"
	[ ! -e "$STORE/block/devices/$n" ] || fail "device node of $n left after its deletion"
done
[ -S "$STORE/block/sockets/kata-disk1" ] || fail "deleting other controllers removed kata-disk1"
assert_eq "$n1" "$(node_info kata-disk1)" "kata-disk1 node after the other deletions"
out=$(vhostctl bdev delete ram2) || fail "bdev delete ram2: $out"
log "ok: RPC-made kata-disk2 ($n2) and kata-disk0 deleted with their sockets and nodes"

vhostd_stop || fail "vhostd exited with status $?"
for n in kata-disk0 kata-disk1; do
	[ ! -e "$STORE/block/sockets/$n" ] || fail "socket of $n left after shutdown"
	[ ! -e "$STORE/block/devices/$n" ] || fail "device node of $n left after shutdown"
done

vhostd_start "$cfg" vhostd-restarted
assert_eq "$n0" "$(node_info kata-disk0)" "kata-disk0 minor after a restart"
assert_eq "$n1" "$(node_info kata-disk1)" "kata-disk1 minor after a restart"
vhostd_stop || fail "restarted vhostd exited with status $?"
pass "nodes $n0 and $n1"
