#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Guests come and go on one socket: a first guest checks the geometry of a 4 KiB-block RAM
# disk (size, logical block size, serial), writes a pattern and powers off; a second guest
# attaches to the same socket of the same vhostd and reads the pattern back. A second
# front-end connecting while one is attached is refused.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: ram0, type: malloc, size: 96MiB, block_size: 4096}
controllers:
  - {name: blk0, type: blk, backend: ram0, num_queues: 2, serial: geometry-check-013}
EOF
)
vhostd_start "$cfg"
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 2)

first=$(e2e_guest_script "$E2E_TMP/first.sh" <<GUEST
set -e
wait_dev /dev/vda
result size=\$(disk_size /dev/vda)
result lbs=\$(cat /sys/block/vda/queue/logical_block_size)
result serial=\$(cat /sys/block/vda/serial)
result pattern=\$(write_random /dev/vda $((50 * MiB)) $MiB)
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-60}
E2E_GUEST_NAME=first run_guest_bg "$first" "${dev[@]}"
first_pid=$E2E_GUEST_PID
wait_guest_result size 40 "$first_pid" >/dev/null
# While the first guest is attached, a second front-end must be turned away.
E2E_GUEST_NAME=intruder E2E_TIMEOUT=20 run_guest_bg "$first" "${dev[@]}"
intruder_pid=$E2E_GUEST_PID
wait_guest "$first_pid" || fail "first guest: $E2E_GUEST_VERDICT"
size=$(e2e_result size) lbs=$(e2e_result lbs) serial=$(e2e_result serial)
pattern=$(e2e_result pattern)
wait_guest "$intruder_pid" && fail "a second front-end was served while one was attached"
vhostd_log_has "refusing a second front-end" || fail "no refusal logged for the second front-end"

second=$(e2e_guest_script "$E2E_TMP/second.sh" <<GUEST
set -e
wait_dev /dev/vda
result pattern=\$(md5_range /dev/vda $((50 * MiB)) $MiB)
GUEST
)
E2E_GUEST_NAME=second run_guest "$second" "${dev[@]}" || fail "second guest: $E2E_GUEST_VERDICT"
vhostd_stop || fail "vhostd exited with status $?"

assert_eq $((96 * MiB)) "$size" "disk size"
assert_eq 4096 "$lbs" "logical block size"
assert_eq geometry-check-013 "$serial" "serial (GET_ID)"
assert_eq "$pattern" "$(e2e_result pattern)" "pattern written by the first guest, read by the second"
pass
