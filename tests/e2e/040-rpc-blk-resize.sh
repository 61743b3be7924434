#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Online resize over the control socket. vhostd starts with no disks; an aio backend on a
# file, a malloc backend and a blk controller on each are created over JSON-RPC, and a guest
# boots on them. While fio with crc32c verify runs on both disks, the host grows the file and
# rescans it (bdev_aio_rescan) and grows the RAM disk (vhostd_bdev_resize): the guest sees
# the new capacities (/sys/block/vdX/size) without a reboot, its fio runs end without error,
# data written and verified in the new space is fine, and the kernel logs no I/O error.
# After the guest powers off, the controllers and backends are deleted over RPC at once, no
# descriptor on the backing file remains in vhostd, and the file is deleted.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
e2e_disk "$IMG" 64M
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" </dev/null)
vhostd_start "$cfg"

assert_eq '"disk0"' "$(vhostd_rpc bdev_aio_create "{\"name\":\"disk0\",\"filename\":\"$IMG\"}")" \
	"bdev_aio_create result"
assert_eq '"ram0"' "$(vhostd_rpc bdev_malloc_create \
	'{"name":"ram0","num_blocks":65536,"block_size":512}')" "bdev_malloc_create result"
# blk0 keeps the RPC default queue count (what SPDK accepts: any QEMU num-queues up to 128).
vhostd_rpc vhost_create_blk_controller '{"ctrlr":"blk0","dev_name":"disk0","serial":"rpc-aio"}' \
	>/dev/null || fail "vhost_create_blk_controller blk0"
vhostctl ctrlr create-blk blk1 ram0 --num-queues 1 --serial rpc-ram >/dev/null ||
	fail "vhostctl ctrlr create-blk blk1"
if [ ! -S "$E2E_TMP/blk0" ] || [ ! -S "$E2E_TMP/blk1" ]; then
	fail "controller sockets missing"
fi

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
a=\$(find_disk_by_serial rpc-aio)
m=\$(find_disk_by_serial rpc-ram)
result size_a0=\$(disk_size \$a) size_m0=\$(disk_size \$m)
# wait_size DEV BYTES — until the kernel shows the new capacity (30 s at most).
wait_size() {
	local t=300
	while [ "\$(disk_size \$1)" != "\$2" ]; do
		t=\$((t - 1))
		[ "\$t" -gt 0 ] || return 1
		sleep 0.1
	done
}
# I/O in flight across the resize.
fio_verify \$a --size=24M --iodepth=16 >/tmp/fio-a.log 2>&1 &
pa=\$!
fio_verify \$m --size=12M --iodepth=8 >/tmp/fio-m.log 2>&1 &
pm=\$!
result phase=io
wait_size \$a $((256 * MiB)) || fail "\$a stayed at \$(disk_size \$a) bytes"
wait_size \$m $((96 * MiB)) || fail "\$m stayed at \$(disk_size \$m) bytes"
result size_a1=\$(disk_size \$a) size_m1=\$(disk_size \$m)
result sysfs_a=\$(cat /sys/block/\${a#/dev/}/size)
if ! wait \$pa; then cat /tmp/fio-a.log; fail "fio on \$a across the resize"; fi
if ! wait \$pm; then cat /tmp/fio-m.log; fail "fio on \$m across the resize"; fi
result fio_during=ok
# The new space works.
fio_verify \$a --offset=$((224 * MiB)) --size=32M --bs=64k --iodepth=8
fio_verify \$m --offset=$((80 * MiB)) --size=16M --bs=64k --iodepth=8
result fio_new=ok
result pattern=\$(write_random \$a $((250 * MiB)) $MiB)
result ioerrors=\$(dmesg | grep -ci 'I/O error' || true)
result capacity_msgs=\$(dmesg | grep -c 'capacity change\|new size' || true)
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-180}
mapfile -t d0 < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 2)
mapfile -t d1 < <(vhost_user_blk_args c1 "$E2E_TMP/blk1" 1)
run_guest_bg "$script" "${d0[@]}" "${d1[@]}"
guest=$E2E_GUEST_PID
wait_guest_result phase 60 "$guest" >/dev/null
sleep 1

truncate -s 256M "$IMG"
out=$(vhostctl bdev rescan disk0) || fail "rescan: $out"
assert_eq "disk0: 64 MiB -> 256 MiB (1 connected front-end notified)" "$out" "vhostctl bdev rescan"
out=$(vhostctl bdev resize ram0 96MiB) || fail "resize: $out"
assert_eq "ram0: 32 MiB -> 96 MiB (1 connected front-end notified)" "$out" "vhostctl bdev resize"
t0=$(date +%s.%N)
size_seen=$(wait_guest_result size_a1 60 "$guest")
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
log "guest saw the new sizes ${secs}s after the RPCs (guest polls every 0.1 s)"

wait_guest "$guest" || fail "guest: $E2E_GUEST_VERDICT"
assert_eq $((64 * MiB)) "$(e2e_result size_a0)" "aio disk size at boot"
assert_eq $((32 * MiB)) "$(e2e_result size_m0)" "RAM disk size at boot"
assert_eq $((256 * MiB)) "$size_seen" "aio disk size after rescan"
assert_eq $((96 * MiB)) "$(e2e_result size_m1)" "RAM disk size after resize"
assert_eq $((256 * MiB / 512)) "$(e2e_result sysfs_a)" "/sys/block/vda/size after rescan"
assert_eq ok "$(e2e_result fio_during)" "fio verify across the resize"
assert_eq ok "$(e2e_result fio_new)" "fio verify in the new space"
assert_eq 0 "$(e2e_result ioerrors)" "I/O errors in the guest kernel log"
[ "$(e2e_result capacity_msgs)" -ge 1 ] || fail "the guest kernel logged no capacity change"
assert_eq "$(e2e_result pattern)" "$(e2e_md5_range "$IMG" $((250 * MiB)) "$MiB")" \
	"guest pattern in the grown part of the backing file"

# Statistics survive the disconnect: per queue over RPC, totals over DPDK telemetry.
vhostd_rpc vhostd_get_stats '{"name":"blk0"}' >"$E2E_TMP/stats.json" || fail "vhostd_get_stats"
python3 - "$E2E_TMP/stats.json" <<'PYTHON' || fail "vhostd_get_stats: $(cat "$E2E_TMP/stats.json")"
import json
import sys
c = json.load(open(sys.argv[1]))["controllers"][0]
q = {x["index"]: x["io"] for x in c["queues"]}
assert not c["connected"] and sorted(q) == [0, 1], c
assert all(q[i]["writes"] > 0 and q[i]["reads"] > 0 for i in q), q
assert c["total"]["writes"] == q[0]["writes"] + q[1]["writes"], c
assert c["total"]["errors"] == 0 and c["total"]["in_flight"] == 0, c
assert sum(b["count"] for b in c["total"]["latency_histogram"]) == sum(
    c["total"][k] for k in ("reads", "writes", "flushes", "discards", "write_zeroes", "others")), c
PYTHON
written=$(vhostd_rpc bdev_get_iostat '{"name":"disk0"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["bdevs"][0]["bytes_written"])')
[ "$written" -gt $((24 * MiB)) ] || fail "bdev_get_iostat: $written bytes written"
instance=$(vhostctl info | sed -n 's/^instance: *//p')
tel=$(echo /vhostd/stats,blk0 | dpdk-telemetry.py -f "$instance") || fail "dpdk-telemetry.py"
python3 -c 'import json,sys; d=json.loads(sys.argv[1])["/vhostd/stats"]
assert d["writes"] > 0 and d["name"] == "blk0", d' "$(grep '^{' <<<"$tel")" ||
	fail "telemetry: $tel"

# The VM is gone: everything can be deleted at once (at most the time vhostd takes to see the
# connection close).
t0=$(date +%s.%N)
until out=$(vhostctl ctrlr delete blk0 2>&1); do
	grep -q "has a connected front-end" <<<"$out" || fail "ctrlr delete blk0: $out"
	[ "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print (b - a > 5) }')" = 0 ] ||
		fail "blk0 still connected 5 s after the guest exited"
	sleep 0.05
done
del_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
vhostd_rpc vhost_delete_controller '{"ctrlr":"blk1"}' >/dev/null || fail "delete blk1"
vhostd_rpc bdev_aio_delete '{"name":"disk0"}' >/dev/null || fail "bdev_aio_delete"
vhostd_rpc bdev_malloc_delete '{"name":"ram0"}' >/dev/null || fail "bdev_malloc_delete"
if [ -e "$E2E_TMP/blk0" ] || [ -e "$E2E_TMP/blk1" ]; then
	fail "controller sockets left behind"
fi
for fd in "/proc/$VHOSTD_PID/fd/"*; do
	if [ "$(readlink "$fd")" = "$IMG" ]; then
		fail "vhostd still has $IMG open (fd ${fd##*/}) after bdev_aio_delete"
	fi
done
rm -f "$IMG"
assert_eq "[]" "$(vhostd_rpc bdev_get_bdevs | tr -d ' \n')" "backends left"
assert_eq "[]" "$(vhostd_rpc vhost_get_controllers | tr -d ' \n')" "controllers left"
vhostd_stop || fail "vhostd exited with status $?"
[ ! -e "$VHOSTD_RPC" ] || fail "control socket left behind"
pass "new size seen ${secs}s after rescan; deleted ${del_secs}s after poweroff; guest ${E2E_GUEST_SECS}s"
