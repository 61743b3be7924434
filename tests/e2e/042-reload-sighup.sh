#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Configuration reload with SIGHUP while a guest runs fio with crc32c verify on its disk:
#  1. the file gains a backend and a controller and loses an idle controller and its backend,
#     the guest's ones unchanged: the new one is created (its socket appears), the idle one is
#     deleted (its socket goes), the guest's is not touched (its queues are never restarted);
#  2. the guest's controller is changed in the file: the change is refused and reported, the
#     controller is left as it was;
#  3. the file is invalid: its diagnostics are logged and nothing changes.
# The guest's fio ends without error and its kernel logs no I/O error.
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/vhostd.sh
. "$(dirname "$0")/lib/vhostd.sh"

MiB=$((1024 * 1024))
IMG=$E2E_DIRECT/disk.img
e2e_disk "$IMG" 256M
guest_part() {
	cat <<EOF
  - {name: disk0, type: aio, path: $IMG}
EOF
}
cfg=$(vhostd_config "$E2E_TMP/vhostd.yaml" <<EOF
backends:
$(guest_part)
  - {name: idle-ram, type: malloc, size: 16MiB}
controllers:
  - {name: blk0, type: blk, backend: disk0, num_queues: 2, serial: e2e-042}
  - {name: idle0, type: blk, backend: idle-ram}
EOF
)
vhostd_start "$cfg"
[ -S "$E2E_TMP/idle0" ] || fail "no idle0 socket"

script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
dev=\$(find_disk_by_serial e2e-042)
result phase=io
fio_verify \$dev --rw=randwrite --bs=4k --size=24M --iodepth=16 --numjobs=2 \
	--offset_increment=32M
result fio=ok
result pattern=\$(write_random \$dev $((200 * MiB)) $MiB)
result ioerrors=\$(dmesg | grep -ci 'I/O error' || true)
GUEST
)
E2E_TIMEOUT=${E2E_TIMEOUT:-120}
mapfile -t dev < <(vhost_user_blk_args c0 "$E2E_TMP/blk0" 2)
run_guest_bg "$script" "${dev[@]}"
guest=$E2E_GUEST_PID
wait_guest_result phase 60 "$guest" >/dev/null
sleep 1
starts=$(grep -c "blk0: q[01] started" "$VHOSTD_LOG" || true)

# reload — SIGHUP, then wait for the outcome line; prints the log lines it added.
reload() {
	local before t=200
	before=$(wc -l <"$VHOSTD_LOG")
	kill -HUP "$VHOSTD_PID"
	until tail -n +"$((before + 1))" "$VHOSTD_LOG" | grep -Eq "reloaded: |not reloaded"; do
		t=$((t - 1))
		[ "$t" -gt 0 ] || fail "no reload outcome 10 s after SIGHUP"
		sleep 0.05
	done
	tail -n +"$((before + 1))" "$VHOSTD_LOG"
}

# 1. Add new0 (+ new-ram), remove idle0 (+ idle-ram), leave blk0 and disk0 as they are.
vhostd_config "$E2E_TMP/vhostd.yaml" >/dev/null <<EOF
backends:
$(guest_part)
  - {name: new-ram, type: malloc, size: 32MiB}
controllers:
  - {name: blk0, type: blk, backend: disk0, num_queues: 2, serial: e2e-042}
  - {name: new0, type: blk, backend: new-ram}
EOF
t0=$(date +%s.%N)
out=$(reload)
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
for re in "controller 'new0': new in .*: created" "backend 'new-ram': new in .*: created" \
	"controller 'idle0': removed from .*: deleted" "backend 'idle-ram': removed from .*: deleted" \
	"controller 'blk0': unchanged" "backend 'disk0': unchanged" "reloaded: 4 changes, 0 refused"; do
	grep -q "$re" <<<"$out" || fail "reload 1: no '$re' in:"$'\n'"$out"
done
[ -S "$E2E_TMP/new0" ] || fail "new0 socket missing"
[ ! -e "$E2E_TMP/idle0" ] || fail "idle0 socket left behind"
log "reload 1 took ${secs}s"

# 2. Change the guest's controller while it is connected: refused, reported, left alone.
vhostd_config "$E2E_TMP/vhostd.yaml" >/dev/null <<EOF
backends:
$(guest_part)
  - {name: new-ram, type: malloc, size: 32MiB}
controllers:
  - {name: blk0, type: blk, backend: disk0, num_queues: 4, serial: e2e-042}
  - {name: new0, type: blk, backend: new-ram}
EOF
out=$(reload)
grep -q "controller 'blk0': changed in .*, but a front-end is connected: left as it was" \
	<<<"$out" || fail "reload 2: no refusal for blk0 in:"$'\n'"$out"
grep -q "reloaded: 0 changes, 1 refused" <<<"$out" || fail "reload 2: $out"
assert_eq 2 "$(vhostd_rpc vhost_get_controllers '{"name":"blk0"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["vhostd"]["num_queues"])')" \
	"blk0 num_queues after the refused change"

# 3. An invalid file changes nothing.
cp "$E2E_TMP/vhostd.yaml" "$E2E_TMP/good.yaml"
printf 'controllers:\n  - {name: bad0, type: blk, backend: nowhere}\n' >>"$E2E_TMP/vhostd.yaml"
out=$(reload)
grep -q "not reloaded, nothing changed" <<<"$out" || fail "reload 3: $out"
grep -Eq "vhostd.yaml:[0-9]+:[0-9]+: " <<<"$out" || fail "reload 3: no diagnostics in $out"
[ ! -e "$E2E_TMP/bad0" ] || fail "an invalid file created bad0"
assert_eq "blk0 new0" "$(vhostd_rpc vhost_get_controllers |
	python3 -c 'import json,sys; print(" ".join(c["ctrlr"] for c in json.load(sys.stdin)))')" \
	"controllers after an invalid reload"
# The reloads happened under I/O: fio had not finished yet.
if grep -aq "^VHD-RESULT fio=" "${_e2e_gdir[$guest]}/results.log"; then
	fail "the guest's fio finished before the reloads were done (make it longer)"
fi

wait_guest "$guest" || fail "guest: $E2E_GUEST_VERDICT"
assert_eq ok "$(e2e_result fio)" "guest fio verify across the reloads"
assert_eq 0 "$(e2e_result ioerrors)" "I/O errors in the guest kernel log"
assert_eq "$(e2e_result pattern)" "$(e2e_md5_range "$IMG" $((200 * MiB)) "$MiB")" \
	"guest pattern in the backing file"
assert_eq "$starts" "$(grep -c "blk0: q[01] started" "$VHOSTD_LOG" || true)" \
	"blk0 queue starts (the guest's controller must not be restarted)"
errors=$(vhostd_rpc vhostd_get_stats '{"name":"blk0"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["controllers"][0]["total"]["errors"])')
assert_eq 0 "$errors" "request errors counted by vhostd for blk0"
vhostd_stop || fail "vhostd exited with status $?"
pass "reload under I/O took ${secs}s; guest ${E2E_GUEST_SECS}s"
