#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Discard, write-zeroes and the write cache on an aio disk: the guest sees discard and
# write-zeroes limits, data it discards or zeroes reads back as zeroes (in the guest and in
# the backing file), flushes work, and switching the guest's cache_type to write-through
# reaches vhostd (SET_CONFIG) while data stays intact.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
e2e_disk "$IMG" 128M
zero_md5=$(head -c $MiB /dev/zero | md5sum | cut -d' ' -f1)

cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
  - {name: disk0, type: aio, path: $IMG}
controllers:
  - {name: blk0, type: blk, backend: disk0, num_queues: 1}
EOF
)
vhostd_start "$cfg"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
wait_dev /dev/vda
q=/sys/block/vda/queue
result discard_max=\$(cat \$q/discard_max_bytes)
result wz_max=\$(cat \$q/write_zeroes_max_bytes)
result "cache=\$(cat \$q/write_cache)"
write_random /dev/vda $((8 * MiB)) $MiB >/dev/null
write_random /dev/vda $((16 * MiB)) $MiB >/dev/null
/usr/sbin/blkdiscard -o $((8 * MiB)) -l $MiB /dev/vda
/usr/sbin/blkdiscard -z -o $((16 * MiB)) -l $MiB /dev/vda
result discarded=\$(md5_range /dev/vda $((8 * MiB)) $MiB)
result zeroed=\$(md5_range /dev/vda $((16 * MiB)) $MiB)
fio_verify /dev/vda --rw=randwrite --bs=4k --size=8M --offset=32M --fsync=8
echo "write through" > /sys/block/vda/cache_type
result "cache_after=\$(cat \$q/write_cache)"
fio_verify /dev/vda --rw=randwrite --bs=4k --size=8M --offset=48M
result pattern=\$(write_random /dev/vda $((64 * MiB)) $MiB)
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 1)
run_guest "$script" "${dev[@]}" || fail "guest run: $E2E_GUEST_VERDICT"
vhostd_stop || fail "vhostd exited with status $?"

[ "$(e2e_result discard_max)" -gt 0 ] || fail "guest sees no discard support"
[ "$(e2e_result wz_max)" -gt 0 ] || fail "guest sees no write-zeroes support"
assert_eq "write back" "$(e2e_result cache)" "initial write cache mode"
assert_eq "$zero_md5" "$(e2e_result discarded)" "discarded range reads zeroes in the guest"
assert_eq "$zero_md5" "$(e2e_result zeroed)" "write-zeroes range reads zeroes in the guest"
assert_eq "$zero_md5" "$(e2e_md5_range "$IMG" $((8 * MiB)) $MiB)" "discarded range in the file"
assert_eq "$zero_md5" "$(e2e_md5_range "$IMG" $((16 * MiB)) $MiB)" "zeroed range in the file"
assert_eq "write through" "$(e2e_result cache_after)" "cache mode after the guest switched it"
vhostd_log_has "guest switched the write cache to write-through" ||
	fail "vhostd never saw the cache mode change"
assert_eq "$(e2e_result pattern)" "$(e2e_md5_range "$IMG" $((64 * MiB)) $MiB)" \
	"write-through data in the backing file"
pass
