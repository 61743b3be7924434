#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# SIGTERM while a guest is connected and doing I/O: vhostd drains what is in flight, closes the
# connection, removes its socket and exits 0 promptly; data the guest wrote and flushed before
# the signal is in the backing file.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
e2e_disk "$IMG" 128M
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: disk0, type: aio, path: $IMG}
controllers:
  - {name: blk0, type: blk, backend: disk0, num_queues: 2}
EOF
)
vhostd_start "$cfg"
[ -S "$E2E_TMP/blk0" ] || fail "no socket"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
no_final_sync
wait_dev /dev/vda
result pattern=\$(write_random /dev/vda $((10 * MiB)) $MiB)
result phase=io
# Keep I/O in flight until the backend goes away; fio then fails or hangs, both are fine.
bounded 60 fio --name=load --filename=/dev/vda --rw=randwrite --bs=4k --iodepth=32 \
	--direct=1 --ioengine=libaio --size=64M --offset=32M --time_based --runtime=60 \
	--output=/tmp/fio.out >/dev/null 2>&1
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-60}
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 2)
run_guest_bg "$script" "${dev[@]}"
guest=$E2E_GUEST_PID
pattern=$(wait_guest_result pattern 40 "$guest")
wait_guest_result phase 40 "$guest" >/dev/null
sleep 2
t0=$(date +%s.%N)
vhostd_stop || fail "vhostd exited with status $? after SIGTERM"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
log "vhostd exited ${secs}s after SIGTERM"
[ ! -e "$E2E_TMP/blk0" ] || fail "socket $E2E_TMP/blk0 left behind"
vhostd_log_has "front-end disconnected|stopped" || fail "vhostd did not log its shutdown"
e2e_kill "$guest" >/dev/null || true
assert_eq "$pattern" "$(e2e_md5_range "$IMG" $((10 * MiB)) "$MiB")" "flushed data in the backing file"
pass "exit after ${secs}s"
