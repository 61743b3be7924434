#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# cpumask_tool: list <-> mask conversion byte for byte, masks wider than 64 CPUs, bad input
# (exit status and message), and --check against a fake sysfs tree and the real one.
# Usage: tests/system/010-cpumask-tool.sh [BUILD_DIR]   (or env BUILD_DIR; default: build)
set -euo pipefail

BUILD_DIR=${1:-${BUILD_DIR:-build}}
TOOL=$BUILD_DIR/src/tools/cpumask_tool
SRC_ROOT=$(cd "$(dirname "$0")/../.." && pwd)

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
pass() {
	echo "PASS: $*"
}

[ -x "$TOOL" ] || fail "$TOOL not found or not executable (build first: ninja -C $BUILD_DIR)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run WANT_STATUS ARGS...: runs the tool, output in $tmp/out and $tmp/err.
run() {
	local want=$1 rc=0
	shift
	"$TOOL" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq "$want" ] ||
		fail "cpumask_tool $*: exit status $rc, want $want; stderr: $(cat "$tmp/err")"
}

# same FILE TEXT: FILE holds exactly TEXT (byte for byte).
same() {
	printf '%s' "$2" | cmp -s - "$1" ||
		fail "$3: got:"$'\n'"$(cat -A "$1")"$'\n'"want:"$'\n'"$(printf '%s' "$2" | cat -A)"
}

# ok ARGS... EXPECTED_STDOUT: exit 0, exact stdout, empty stderr.
ok() {
	local want=${*: -1}
	local args=("${@:1:$#-1}")

	run 0 "${args[@]}"
	same "$tmp/out" "$want" "cpumask_tool ${args[*]}"
	same "$tmp/err" "" "cpumask_tool ${args[*]} (stderr)"
}

# bad STATUS ARGS... EXPECTED_STDERR: that exit status, exact stderr, empty stdout.
bad() {
	local status=$1 want=${*: -1}
	local args=("${@:2:$#-2}")

	run "$status" "${args[@]}"
	same "$tmp/err" "$want" "cpumask_tool ${args[*]} (stderr)"
	same "$tmp/out" "" "cpumask_tool ${args[*]} (stdout)"
}

seed=$'Hex mask:   0x1fc00000001e000\nCore list:  13-16,50-56\nCore count: 11\n'
ok -c 13-16,50-56 "$seed"
pass "-c 13-16,50-56 prints the three lines byte for byte"
ok -m 0x1fc00000001e000 "$seed"
ok --mask 1fc00000001e000 "$seed"
ok --cores 50-56,13-16 "$seed"
pass "-m converts back (with or without 0x), and list order does not matter"

# Round trip: feed each output form back in.
run 0 -c 0,3-5,9,63-65,200
hex=$(sed -n 's/^Hex mask:   //p' "$tmp/out")
list=$(sed -n 's/^Core list:  //p' "$tmp/out")
[ "$list" = "0,3-5,9,63-65,200" ] || fail "round trip list: $list"
run 0 -m "$hex"
[ "$(sed -n 's/^Core list:  //p' "$tmp/out")" = "$list" ] || fail "round trip via -m $hex"
pass "-c -> -m round trip ($hex)"

ok -c 0-127 $'Hex mask:   0xffffffffffffffffffffffffffffffff\nCore list:  0-127\nCore count: 128\n'
ok -m 0xffffffffffffffffffffffffffffffff \
	$'Hex mask:   0xffffffffffffffffffffffffffffffff\nCore list:  0-127\nCore count: 128\n'
run 0 -c 1023
[ "$(sed -n 's/^Hex mask:   //p' "$tmp/out")" = "0x8$(printf '0%.0s' $(seq 255))" ] ||
	fail "-c 1023: $(head -n 1 "$tmp/out")"
pass "masks wider than 64 CPUs (0-127, 1023)"

bad 1 -c 5-2 $'cpumask_tool: invalid core list \'5-2\': \'5-2\' is not a valid range (start is after end)\n'
bad 1 -c '1;2' $'cpumask_tool: invalid core list \'1;2\': unexpected \';2\' in cpu list\n'
bad 1 -c 1024 $'cpumask_tool: invalid core list \'1024\': CPU 1024 is beyond the supported maximum (1023)\n'
bad 1 -c 0x3 $'cpumask_tool: invalid core list \'0x3\': this is a hex mask, use -m\n'
bad 1 -c '' $'cpumask_tool: invalid core list \'\': empty cpu set\n'
bad 1 -m xyz $'cpumask_tool: invalid mask \'xyz\': \'z\' is not a hex digit\n'
bad 1 -m 0x0 $'cpumask_tool: invalid mask \'0x0\': empty cpu set\n'
bad 1 -m 0x $'cpumask_tool: invalid mask \'0x\': \'0x\' has no hex digits\n'
bad 1 -m "0x1$(printf '0%.0s' $(seq 256))" \
	$'cpumask_tool: invalid mask \'0x1'"$(printf '0%.0s' $(seq 256))"$'\': CPU 1024 is beyond the supported maximum (1023)\n'
pass "bad input: exit status 1 and a message naming the input and the reason"

run 2
grep -q '^Usage: cpumask_tool' "$tmp/err" || fail "no usage text without arguments"
run 2 -c 1 -m 2
same "$tmp/err" $'cpumask_tool: give only one of -c and -m\n' "-c with -m"
run 2 --bogus
run 2 -c 1 extra
grep -q "^cpumask_tool: unexpected argument 'extra'" "$tmp/err" || fail "extra argument"
run 0 --help
grep -q -- '--check' "$tmp/out" || fail "--help does not mention --check"
version=$(sed -n "s/^[[:space:]]*version: '\([^']*\)'.*/\1/p" "$SRC_ROOT/meson.build" | head -n 1)
ok --version "cpumask_tool (vhostd) $version"$'\n'
pass "usage errors exit 2; --help, --version ($version)"

# A fake sysfs: CPUs 0-5 exist, 0-3 online; cpu0-1 on node 1, cpu2 on node 0, cpu3 has no
# node link (a kernel without NUMA); 6 and up do not exist.
sys=$tmp/sys
mkdir -p "$sys/devices/system/node/node0" "$sys/devices/system/node/node1"
for c in 0 1 2 3 4 5; do
	mkdir -p "$sys/devices/system/cpu/cpu$c"
done
echo 0-3 >"$sys/devices/system/cpu/online"
ln -s ../../node/node1 "$sys/devices/system/cpu/cpu0/node1"
ln -s ../../node/node1 "$sys/devices/system/cpu/cpu1/node1"
ln -s ../../node/node0 "$sys/devices/system/cpu/cpu2/node0"
export VHD_SYSFS_ROOT=$sys

ok --check -c 0-2 $'Hex mask:   0x7\nCore list:  0-2\nCore count: 3\nNUMA node 0: 2\nNUMA node 1: 0-1\n'
ok -C -m 0xf \
	$'Hex mask:   0xf\nCore list:  0-3\nCore count: 4\nNUMA node 0: 2\nNUMA node 1: 0-1\nNUMA node unknown: 3\n'
pass "--check prints each NUMA node's CPUs, in node order (fake sysfs)"
bad 1 -C -c 4-5 $'cpumask_tool: CPUs 4-5 are offline (online: 0-3)\n'
bad 1 -C -c 0,5,8-9 \
	$'cpumask_tool: CPUs 8-9 do not exist on this host (online: 0-3)\ncpumask_tool: CPU 5 is offline (online: 0-3)\n'
bad 1 -C -c 6 $'cpumask_tool: CPU 6 does not exist on this host (online: 0-3)\n'
ok -c 4-5 $'Hex mask:   0x30\nCore list:  4-5\nCore count: 2\n'
pass "--check rejects offline and missing CPUs with exit 1 (and only --check looks)"
export VHD_SYSFS_ROOT=$tmp/nosys
bad 1 -C -c 0 "cpumask_tool: cannot read $tmp/nosys/devices/system/cpu/online: No such file or directory"$'\n'
pass "--check without a readable online file fails clearly"
unset VHD_SYSFS_ROOT

# The real sysfs, when there is one: the first online CPU passes the check.
if [ -r /sys/devices/system/cpu/online ]; then
	first=$(sed 's/[-,].*//' /sys/devices/system/cpu/online)
	run 0 -C -c "$first"
	[ "$(sed -n 2p "$tmp/out")" = "Core list:  $first" ] || fail "real sysfs: $(cat "$tmp/out")"
	grep -Eq "^NUMA node ([0-9]+|unknown): $first\$" "$tmp/out" ||
		fail "real sysfs: no NUMA line for CPU $first: $(cat "$tmp/out")"
	pass "--check -c $first against the real sysfs: $(sed -n 4p "$tmp/out")"
else
	echo "SKIP: /sys/devices/system/cpu/online is not readable"
fi
