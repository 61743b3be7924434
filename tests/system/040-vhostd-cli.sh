#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The vhostd command line and start/stop without a guest: --help, --version, --check, bad
# options, a bad config reported as FILE:LINE:COL with nothing started, stale socket files
# replaced, a live socket or a regular file at the socket path refused, two instances side by
# side, SIGTERM/SIGINT exit 0 and remove the sockets.
# Usage: tests/system/040-vhostd-cli.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${1:-${BUILD_DIR:-build}}
VHOSTD=$BUILD_DIR/src/vhostd
[ -x "$VHOSTD" ] || fail "$VHOSTD not built"
tmp=$(mktemp -d /tmp/vhd-cli.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cpu=$(($(nproc) - 1))

# config DIR NAME... — a config with one RAM disk per NAME, sockets in DIR.
config() {
	local dir=$1 n
	shift
	echo "cores: \"$cpu\""
	echo "hugemem: 64"
	echo "socket_dir: $dir"
	echo "rpc_socket: $dir/rpc.sock"
	echo "idle_sleep_us: 100"
	echo "backends:"
	for n in "$@"; do echo "  - {name: ram-$n, type: malloc, size: 16MiB}"; done
	echo "controllers:"
	for n in "$@"; do echo "  - {name: $n, type: blk, backend: ram-$n}"; done
}

# start CONFIG LOG — start vhostd and wait for "ready"; sets PID.
start() {
	local t=200
	"$VHOSTD" -c "$1" >"$2" 2>&1 &
	PID=$!
	pids+=("$PID")
	until grep -q "ready:" "$2"; do
		kill -0 "$PID" 2>/dev/null || fail "vhostd exited early: $(tail -5 "$2")"
		t=$((t - 1))
		[ "$t" -gt 0 ] || fail "vhostd not ready after 10 s"
		sleep 0.05
	done
}

# stop PID SIG — signal and wait; the exit status is left in STOP_RC.
stop() {
	STOP_RC=0
	kill "-$2" "$1"
	wait "$1" || STOP_RC=$?
}

expect_ok "$VHOSTD" --help
grep -q -- "--config" <<<"$LAST_OUT" || fail "--help does not list --config"
expect_ok "$VHOSTD" --version
grep -Eq '^vhostd [0-9]+\.[0-9]+\.[0-9]+ \(DPDK 22\.11' <<<"$LAST_OUT" || fail "--version: $LAST_OUT"
pass "--help and --version"

expect_fail "no configuration file" "$VHOSTD"
expect_fail "unrecognized option|invalid option" "$VHOSTD" --bogus
expect_fail "invalid log level 'loud'" "$VHOSTD" -c x.yaml -l loud
pass "usage errors"

mkdir -p "$tmp/a"
config "$tmp/a" d0 >"$tmp/good.yaml"
expect_ok "$VHOSTD" -c "$tmp/good.yaml" --check
assert_out="$tmp/good.yaml: OK (1 backends, 1 controllers)"
[ "$LAST_OUT" = "$assert_out" ] || fail "--check printed '$LAST_OUT'"
pass "--check on a valid config"

# A bad config: every problem reported with its position, exit 1, nothing created.
cat >"$tmp/bad.yaml" <<EOF
cores: "$cpu"
socket_dir: $tmp/a
backends:
  - {name: ram0, type: malloc, size: 12345}
controllers:
  - {name: c0, type: blk, backend: nope}
EOF
rc=0
out=$("$VHOSTD" -c "$tmp/bad.yaml" 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "bad config: exit status $rc, want 1"
grep -Eq "^$tmp/bad.yaml:4:[0-9]+: backends\[0\]\.size: " <<<"$out" || fail "no size error: $out"
grep -Eq "^$tmp/bad.yaml:6:[0-9]+: controllers\[0\]\.backend: .*nope" <<<"$out" ||
	fail "no unknown-backend error: $out"
[ -z "$(ls -A "$tmp/a")" ] || fail "bad config left files in socket_dir: $(ls "$tmp/a")"
rc=0
"$VHOSTD" -c "$tmp/bad.yaml" --check >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "--check on a bad config: exit status $rc, want 1"
pass "bad config refused with positions, nothing started"

# Stale socket from a crashed run is replaced; SIGTERM exits 0 and removes the socket.
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$tmp/a/d0"
[ -S "$tmp/a/d0" ] || fail "could not create a stale socket"
start "$tmp/good.yaml" "$tmp/a.log"
[ -S "$tmp/a/d0" ] || fail "socket missing while running"
grep -q "attach with: -chardev socket,id=d0,path=$tmp/a/d0 -device vhost-user-blk-pci" "$tmp/a.log" ||
	fail "no QEMU attach hint in the log"
pass "stale socket replaced, attach hint printed"

# A second instance on the same socket is refused (the first one is live). It gets its own
# control socket, or that one would be refused first.
rc=0
out=$("$VHOSTD" -c "$tmp/good.yaml" -r "$tmp/other-rpc.sock" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "a second vhostd on a live socket started"
grep -q "another process listens on $tmp/a/d0" <<<"$out" || fail "second instance: $out"
[ -S "$tmp/a/d0" ] || fail "the refused instance removed the live socket"
pass "live socket of another instance refused"

# Two instances side by side with different sockets.
mkdir -p "$tmp/b"
config "$tmp/b" e0 e1 >"$tmp/b.yaml"
start "$tmp/b.yaml" "$tmp/b.log"
pid_b=$PID
if [ ! -S "$tmp/b/e0" ] || [ ! -S "$tmp/b/e1" ]; then
	fail "second instance sockets missing"
fi
pass "two instances side by side"

stop "$pid_b" INT
[ "$STOP_RC" -eq 0 ] || fail "SIGINT: exit status $STOP_RC"
if [ -e "$tmp/b/e0" ] || [ -e "$tmp/b/e1" ]; then
	fail "SIGINT left sockets behind"
fi
stop "${pids[0]}" TERM
[ "$STOP_RC" -eq 0 ] || fail "SIGTERM: exit status $STOP_RC"
[ ! -e "$tmp/a/d0" ] || fail "SIGTERM left the socket behind"
pass "SIGINT/SIGTERM exit 0 and remove the sockets"

# A regular file where the socket goes is not ours to delete.
echo keep >"$tmp/a/d0"
rc=0
out=$("$VHOSTD" -c "$tmp/good.yaml" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "started over a regular file"
grep -q "$tmp/a/d0 exists and is not a socket" <<<"$out" || fail "regular file: $out"
[ "$(cat "$tmp/a/d0")" = keep ] || fail "the regular file was modified"
pass "regular file at the socket path refused and kept"
