#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Live recovery: QEMU attaches with reconnect=1 and the guest runs fio randwrite with crc32c
# verify; vhostd is killed with SIGKILL at random moments during the write phase and started
# again, several times. The requests it had taken are recorded in QEMU's inflight region and
# resubmitted on reconnect: fio finishes with no error and its verify passes, the guest kernel
# logs no I/O error, and a pattern the guest wrote is in the backing file. The time from each
# restart to the queues running again is reported.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
KILLS=${KILLS:-3}
SIG=${SIG:-KILL}
IMG=$E2E_DIRECT/disk.img
e2e_disk "$IMG" 256M
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: disk0, type: aio, path: $IMG}
controllers:
  - {name: blk0, type: blk, backend: disk0, num_queues: 2}
EOF
)
vhostd_start "$cfg" vhostd-0

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
wait_dev /dev/vda
result phase=io
fio_verify /dev/vda --rw=randwrite --bs=4k --size=96M --iodepth=16 --numjobs=2 \
	--offset_increment=96M
result fio=ok
result pattern=\$(write_random /dev/vda $((200 * MiB)) $MiB)
result ioerrors=\$(dmesg | grep -ci 'I/O error' || true)
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-200}
run_guest_bg "$script" -chardev "socket,id=c0,path=$E2E_TMP/blk0,reconnect=1" \
	-device vhost-user-blk-pci,chardev=c0,num-queues=2
guest=$E2E_GUEST_PID
wait_guest_result phase 60 "$guest" >/dev/null

restarts=()
for i in $(seq 1 "$KILLS"); do
	# Somewhere in the write phase: let I/O flow for a random 1-3 s first.
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 1 + (r % 200) / 100 }')"
	kill -0 "$guest" 2>/dev/null || fail "guest exited before kill $i"
	n_before=$(grep -c "started on cpu" "$VHOSTD_LOG" || true)
	if [ "$SIG" = KILL ]; then
		kill -KILL "$VHOSTD_PID"
		wait "$VHOSTD_PID" 2>/dev/null || true
		_e2e_forget "$VHOSTD_PID"
	else
		vhostd_stop "$VHOSTD_PID" "$SIG" || fail "vhostd exited with status $? on SIG$SIG"
	fi
	log "kill $i: vhostd SIG$SIG after ${n_before} queue starts"
	t0=$(date +%s.%N)
	vhostd_start "$cfg" "vhostd-$i"
	# Both queues running again on the new instance.
	t=0
	until [ "$(grep -c "started on cpu" "$VHOSTD_LOG" || true)" -ge 2 ]; do
		t=$((t + 1))
		[ "$t" -lt 400 ] || fail "restart $i: queues not running 20 s after restart"
		sleep 0.05
	done
	secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	resub=$(grep -o "[0-9]* resubmitted" "$VHOSTD_LOG" | awk '{ s += $1 } END { print s + 0 }')
	log "restart $i: queues running again after ${secs}s, ${resub} requests resubmitted"
	restarts+=("${secs}s/${resub}")
done

wait_guest "$guest" || fail "guest: $E2E_GUEST_VERDICT"
vhostd_stop || fail "final vhostd exited with status $?"
assert_eq ok "$(e2e_result fio)" "fio verify across $KILLS restarts"
assert_eq 0 "$(e2e_result ioerrors)" "I/O errors in the guest kernel log"
assert_eq "$(e2e_result pattern)" "$(e2e_md5_range "$IMG" $((200 * MiB)) "$MiB")" \
	"guest pattern in the backing file"
pass "restart to running (s/resubmitted): ${restarts[*]}"
