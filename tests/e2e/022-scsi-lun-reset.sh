#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# LUN reset during I/O: while fio writes and verifies a LUN, the guest resets it again and
# again (sg_reset -d: the SCSI midlayer sends a LOGICAL UNIT RESET task management function).
# Commands a reset finds in the backend complete with VIRTIO_SCSI_S_RESET before the TMF
# completes; the guest retries them, sees the 06/29/00 unit attention, and fio finishes
# without a single error or verify failure.
#
# The host's storage is far faster than a TCG guest, so commands seldom wait in the backend.
# When it can, the test throttles vhostd's block I/O with a cgroup (v2 io.max or v1 blkio) so
# that the resets are sure to catch commands there, and then requires that they did.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
CG=""
# Remove the cgroup (vhostd must have left it), then let common.sh stop the daemons and
# guests, keeping the test's status.
# shellcheck disable=SC2317 # called through the EXIT trap
on_exit() {
	local rc=$?
	set +e
	if [ -n "$CG" ]; then
		[ -z "${VHOSTD_PID:-}" ] || e2e_kill "$VHOSTD_PID" 3 >/dev/null 2>&1 || true
		rmdir "$CG" 2>/dev/null || true
	fi
	(exit "$rc")
	_e2e_cleanup
}
trap on_exit EXIT
e2e_disk "$IMG" 64M

# throttle PID BYTES_PER_S — limit PID's reads and writes on the device holding $IMG.
throttle() {
	local pid=$1 bps=$2 dev root
	dev=$(mountpoint -d "$(df --output=target "$IMG" | tail -n1)" 2>/dev/null) || return 1
	case "$dev" in 0:*|"") return 1 ;; esac
	if [ -w /sys/fs/cgroup/cgroup.subtree_control ]; then
		root=/sys/fs/cgroup
		grep -qw io "$root/cgroup.controllers" || return 1
		echo +io >"$root/cgroup.subtree_control" 2>/dev/null || return 1
		CG=$root/vhd-e2e-022.$$
		mkdir "$CG" && echo "$dev rbps=$bps wbps=$bps" >"$CG/io.max" &&
			echo "$pid" >"$CG/cgroup.procs"
	elif [ -w /sys/fs/cgroup/blkio/cgroup.procs ]; then
		CG=/sys/fs/cgroup/blkio/vhd-e2e-022.$$
		mkdir "$CG" && echo "$dev $bps" >"$CG/blkio.throttle.write_bps_device" &&
			echo "$dev $bps" >"$CG/blkio.throttle.read_bps_device" &&
			echo "$pid" >"$CG/cgroup.procs"
	else
		return 1
	fi
}

cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: disk0, type: aio, path: $IMG}
controllers:
  - name: scsi0
    type: scsi
    num_queues: 1
    targets:
      - {id: 0, luns: [{lun: 0, backend: disk0}]}
EOF
)
vhostd_start "$cfg"
throttled=0
if [ "$(id -u)" = 0 ] && throttle "$VHOSTD_PID" $((24 * MiB)) 2>/dev/null; then
	throttled=1
	log "vhostd's I/O throttled to 24 MiB/s through $CG"
else
	log "no cgroup to throttle vhostd's I/O: the resets may not catch commands in the backend"
fi

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<'GUEST'
d=$(find_disk_by_serial scsi0-t0-l0) || fail "no disk"
fio --name=reset --filename="$d" --ioengine=libaio --direct=1 --rw=randwrite --bs=256k \
	--size=12M --offset_increment=16M --numjobs=2 --loops=2 --iodepth=16 \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --eta=never --group_reporting=1 \
	--output=/tmp/fio.txt &
pid=$!
# Reset only while the disk has commands in flight (fio takes a while to start under TCG).
n=0
while kill -0 $pid 2>/dev/null && [ $n -lt 12 ]; do
	set -- $(cat /sys/block/${d#/dev/}/inflight)
	if [ $(($1 + $2)) -gt 0 ]; then
		sg_reset -d "$d" || fail "sg_reset failed"
		n=$((n + 1))
		sleep 0.2
	else
		sleep 0.02
	fi
done
result resets=$n
wait $pid
rc=$?
cat /tmp/fio.txt
[ $rc -eq 0 ] || fail "fio exited with $rc"
! grep -q 'verify: bad\|crc32c: verify failed\|err=[ ]*[1-9]' /tmp/fio.txt || fail "fio errors"
result fio=ok
dmesg | grep -ci 'device reset' | sed 's/^/guest device resets: /'
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
mapfile -t dev < <(vhost_user_scsi_args c0 "$E2E_TMP/scsi0" 1)
run_guest "$script" "${dev[@]}" || fail "guest run: $E2E_GUEST_VERDICT"
vhostd_stop || fail "vhostd exited with status $?"

assert_eq ok "$(e2e_result fio)" "fio across LUN resets"
[ "$(e2e_result resets)" -ge 3 ] || fail "only $(e2e_result resets) resets were sent during fio"
logged=$(grep -c 'LUN reset of 0:0' "$VHOSTD_LOG" || true)
assert_eq "$(e2e_result resets)" "$logged" "LUN resets seen by vhostd"
caught=$(sed -n 's/.*LUN reset of 0:0 (\([0-9]*\) commands running).*/\1/p' "$VHOSTD_LOG" |
	awk '$1 > 0 { n++; s += $1 } END { printf "%d resets caught %d commands", n, s }')
if [ "$throttled" = 1 ]; then
	case "$caught" in 0\ *) fail "no reset caught a command in the backend" ;; esac
fi
pass "$logged resets, $caught in the backend, guest run ${E2E_GUEST_SECS}s"
