#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A VM started without share=on guest RAM cannot use a vhost-user disk (QEMU 7.2 does not
# refuse it; the guest's disk never works). vhostd must say so: one error line naming the
# controller and the QEMU option that fixes it. vhostd itself keeps running and serves the
# next, correctly configured guest.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: ram0, type: malloc, size: 32MiB}
controllers:
  - {name: blk0, type: blk, backend: ram0, num_queues: 1}
EOF
)
vhostd_start "$cfg"
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 1)
script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<'GUEST'
wait_dev /dev/vda 10
result size=$(disk_size /dev/vda)
GUEST
)
E2E_GUEST_NAME=private E2E_PRIVATE_MEM=1 E2E_TIMEOUT=12 run_guest "$script" "${dev[@]}" || true
vhostd_log_has "blk0: the front-end .*without sharing guest memory; QEMU needs shareable guest RAM .*share=on" ||
	fail "no share=on hint in the vhostd log"
[ "$(grep -c "without sharing guest memory" "$VHOSTD_LOG")" -eq 1 ] || fail "hint logged more than once"
kill -0 "$VHOSTD_PID" || fail "vhostd died"

E2E_GUEST_NAME=shared run_guest "$script" "${dev[@]}" || fail "guest with shared RAM: $E2E_GUEST_VERDICT"
assert_eq $((32 * 1024 * 1024)) "$(e2e_result size)" "disk size for the correctly configured guest"
vhostd_stop || fail "vhostd exited with status $?"
pass
