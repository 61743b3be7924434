#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Packaging: `meson install --destdir` puts the binaries, the systemd unit, the default config,
# the setup script and the docs where docs/operations.md says (relative to the build's
# prefix), the unit runs the installed binary on the installed config and reloads with SIGHUP;
# and vhostd speaks the systemd notify protocol (READY=1 once its sockets exist, STOPPING=1).
# Usage: tests/system/060-install-systemd.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${1:-${BUILD_DIR:-build}}
tmp=$(mktemp -d /tmp/vhd-install.XXXXXX)
vpid=""
trap '[ -n "$vpid" ] && kill -9 "$vpid" 2>/dev/null; rm -rf "$tmp"' EXIT

opt() {
	meson introspect "$BUILD_DIR" --buildoptions |
		python3 -c "import json,sys; print({o['name']: o['value'] for o in json.load(sys.stdin)}['$1'])"
}
prefix=$(opt prefix)
abs() { case "$1" in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
sbindir=$(abs "$(opt sbindir)") bindir=$(abs "$(opt bindir)")
sysconfdir=$(abs "$(opt sysconfdir)") datadir=$(abs "$(opt datadir)")
unitdir=$(opt systemdunitdir)
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system

meson install -C "$BUILD_DIR" --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
	fail "meson install failed: $(tail -5 "$tmp/install.log")"
R=$tmp/root
for f in "$sbindir/vhostd" "$bindir/cpumask_tool" "$datadir/vhostd/scripts/setup.sh"; do
	[ -x "$R$f" ] || fail "not installed or not executable: $f"
done
for f in "$sysconfdir/vhostd/vhostd.yaml" "$unitdir/vhostd.service" \
	"$datadir/doc/vhostd/README.md"; do
	[ -f "$R$f" ] || fail "not installed: $f"
done
pass "files installed under $prefix (config in $sysconfdir/vhostd)"

unit=$R$unitdir/vhostd.service
grep -qx "ExecStart=$sbindir/vhostd -c $sysconfdir/vhostd/vhostd.yaml" "$unit" ||
	fail "ExecStart does not run the installed binary on the installed config"
# shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "no ExecReload with SIGHUP"
grep -qx "Type=notify" "$unit" || fail "unit is not Type=notify"
grep -qx "Restart=on-failure" "$unit" || fail "no restart policy"
"$R$sbindir/vhostd" -c "$R$sysconfdir/vhostd/vhostd.yaml" --check >/dev/null ||
	fail "the installed default config does not validate"
pass "unit file runs the installed binary, reloads with SIGHUP, restarts on failure"

# Notify protocol: a datagram socket standing in for systemd.
cat >"$tmp/notify.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "a") as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg + "\n")
        out.flush()
        if "STOPPING=1" in msg:
            break
EOF
python3 "$tmp/notify.py" "$tmp/notify.sock" "$tmp/notify.log" &
npid=$!
for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
mkdir "$tmp/s"
cat >"$tmp/cfg.yaml" <<EOF
cores: "$(($(nproc) - 1))"
hugemem: 64
socket_dir: $tmp/s
rpc_socket: $tmp/rpc.sock
idle_sleep_us: 100
backends:
  - {name: ram0, type: malloc, size: 16MiB}
controllers:
  - {name: n0, type: blk, backend: ram0}
EOF
NOTIFY_SOCKET=$tmp/notify.sock "$BUILD_DIR/src/vhostd" -c "$tmp/cfg.yaml" >"$tmp/vhostd.log" 2>&1 &
vpid=$!
for _ in $(seq 100); do grep -q READY=1 "$tmp/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -q READY=1 "$tmp/notify.log" || fail "no READY=1 from vhostd"
[ -S "$tmp/s/n0" ] || fail "READY=1 sent before the controller socket existed"
kill -TERM "$vpid"
rc=0
wait "$vpid" || rc=$?
vpid=""
[ "$rc" -eq 0 ] || fail "vhostd exit status $rc"
wait "$npid" || fail "notify listener did not see STOPPING=1"
grep -q STOPPING=1 "$tmp/notify.log" || fail "no STOPPING=1"
pass "READY=1 after the sockets exist, STOPPING=1 on SIGTERM"
