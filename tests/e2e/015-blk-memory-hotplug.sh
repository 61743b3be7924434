#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Guest memory changes while the disk is busy: with fio verify running in the guest, a DIMM
# is hot-plugged over QMP, so QEMU sends a new vhost-user memory table. vhostd drains the
# queues, remaps and restarts them (without dropping or repeating a request); fio finishes
# with its verify passing.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: ram0, type: malloc, size: 128MiB}
controllers:
  - {name: blk0, type: blk, backend: ram0, num_queues: 2}
EOF
)
vhostd_start "$cfg"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<'GUEST'
set -e
wait_dev /dev/vda
result phase=io
fio_verify /dev/vda --rw=randwrite --bs=4k --size=48M --iodepth=16 --numjobs=2 \
	--offset_increment=64M
result fio=ok
GUEST
)
QMP=$E2E_TMP/qmp.sock
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 2)
E2E_TIMEOUT=${E2E_TIMEOUT:-120} E2E_MEM_OPTS=slots=2,maxmem=1G run_guest_bg "$script" \
	-qmp "unix:$QMP,server=on,wait=off" "${dev[@]}"
guest=$E2E_GUEST_PID
wait_guest_result phase 60 "$guest" >/dev/null
sleep 2
"$E2E_LIB/qmp.py" "$QMP" \
	'{"execute": "object-add", "arguments": {"qom-type": "memory-backend-memfd", "id": "m1", "size": 134217728, "share": true}}' \
	'{"execute": "device_add", "arguments": {"driver": "pc-dimm", "id": "d1", "memdev": "m1"}}' \
	>/dev/null || fail "memory hotplug over QMP failed"
log "hot-plugged a 128 MiB DIMM"
wait_guest "$guest" || fail "guest: $E2E_GUEST_VERDICT"
vhostd_stop || fail "vhostd exited with status $?"

assert_eq ok "$(e2e_result fio)" "fio verify across the memory table change"
vhostd_log_has "guest memory layout changes; pausing [0-9]+ queues" ||
	fail "vhostd never saw a memory layout change while running"
pass
