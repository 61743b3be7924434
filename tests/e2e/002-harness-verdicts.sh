#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Harness self-test: run_guest must tell a failing guest script from a guest that hung,
# crashed, was killed by the host timeout or never started, and must always come back.
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

# expect VERDICT RC WHAT — run the last prepared guest and check how it was classified.
expect() {
	local verdict=$1 want_rc=$2 what=$3 rc=0
	shift 3
	E2E_TAIL_LINES=5 run_guest "$E2E_TMP/g.sh" "$@" 2>/dev/null || rc=$?
	assert_eq "$verdict/$want_rc" "$E2E_GUEST_VERDICT/$rc" "$what"
}
g() { cat >"$E2E_TMP/g.sh"; }

g <<'GUEST'
result stage=before
exit 3
GUEST
E2E_TIMEOUT=30 expect script-failed 3 "script exiting with 3"
assert_eq before "$(e2e_result stage)" "results emitted before the failure"

g <<'GUEST'
echo c >/proc/sysrq-trigger
GUEST
E2E_TIMEOUT=30 expect crashed 125 "kernel panic in the guest"
grep -q 'Kernel panic' "$E2E_GUEST_DIR/console.log" || fail "no panic in the console log"

g <<'GUEST'
sleep 600
GUEST
# The guest watchdog fires at guest uptime E2E_TIMEOUT - 5 s - E2E_TIMEOUT/10.
E2E_TIMEOUT=18 expect watchdog 125 "script hanging (guest watchdog)"
[ "${E2E_GUEST_SECS%.*}" -lt 18 ] || fail "watchdog came too late: ${E2E_GUEST_SECS}s"

# A guest whose watchdog is disarmed (as if the kernel itself hung) is killed by the host.
E2E_APPEND=vhd.timeout=999 E2E_TIMEOUT=10 expect timeout 125 "guest hung with no watchdog"

g <<'GUEST'
true
GUEST
E2E_TIMEOUT=30 expect qemu-error 125 "QEMU refusing its command line" -device no-such-device
pass "every outcome classified"
