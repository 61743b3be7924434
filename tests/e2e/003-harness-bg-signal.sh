#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Harness self-test of background guests: while the guest runs fio verify against
# qemu-storage-daemon, the host freezes the daemon (SIGSTOP) for 2 s and thaws it; the I/O
# must stall and then complete with every block verified.
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

e2e_require qemu-storage-daemon
IMG=$E2E_DIRECT/disk.img
SOCK=$E2E_TMP/qsd.sock
e2e_disk "$IMG" 128M
e2e_qsd_blk "$IMG" "$SOCK" 2
QSD=$E2E_PID

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<'GUEST'
set -e
wait_dev /dev/vda
result phase=io
fio_verify /dev/vda --rw=randwrite --bs=4k --size=64M --iodepth=16
result fio=ok
GUEST
)

mapfile -t dev < <(vhost_user_blk_args c0 "$SOCK" 2)
E2E_TIMEOUT=${E2E_TIMEOUT:-45} run_guest_bg "$script" "${dev[@]}"
wait_guest_result phase 30 >/dev/null
sleep 1
log "freezing qemu-storage-daemon"
kill -STOP "$QSD"
sleep 2
log "thawing qemu-storage-daemon"
kill -CONT "$QSD"
wait_guest || fail "guest run: $E2E_GUEST_VERDICT"
assert_eq ok "$(e2e_result fio)" "fio verify across the freeze"
# the freeze must show up in fio's latency histogram as completions of 2 s or more
grep -Eq 'lat \(msec\).* (>=)?2000=' "$E2E_GUEST_DIR/console.log" ||
	fail "no I/O took 2 s or more: the freeze did not hit fio's I/O"
log "ok: the freeze stalled I/O ($(grep -Eo '(>=)?2000=[0-9.]+%' "$E2E_GUEST_DIR/console.log" | head -n1))"
e2e_kill "$QSD" || fail "qemu-storage-daemon exited with status $?"
pass "I/O survived a 2 s freeze of the daemon"
