#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The JSON-RPC control socket without a guest, driven by a client written here that frames
# requests the way SPDK's rpc.py does (one indented JSON object, no delimiter; read until a
# complete JSON value parses): every method's happy path and its errors, framing (split,
# pipelined, batches, notifications, malformed, oversized), many concurrent clients, bad
# clients that do not disturb good ones, reload over RPC, vhostctl's output, the socket's
# life cycle (stale replaced, live refused, removed at exit) and no file left open.
# Usage: tests/system/050-rpc.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${1:-${BUILD_DIR:-build}}
VHOSTD=$BUILD_DIR/src/vhostd
VHOSTCTL=$BUILD_DIR/src/tools/vhostctl
[ -x "$VHOSTD" ] || fail "$VHOSTD not built"
[ -x "$VHOSTCTL" ] || fail "$VHOSTCTL not built"
command -v python3 >/dev/null || fail "python3 is needed"

tmp=$(mktemp -d /tmp/vhd-rpc.XXXXXX)
# O_DIRECT needs a real filesystem; /tmp may be tmpfs.
img=$(mktemp /var/tmp/vhd-050.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
	rm -f "$img" "$img.2"
}
trap cleanup EXIT
cpu=$(($(nproc) - 1))
sock=$tmp/rpc.sock

config() {
	cat <<EOF
cores: "$cpu"
hugemem: 64
socket_dir: $tmp/s
idle_sleep_us: 1000
rpc_socket: $sock
backends:
  - {name: ram0, type: malloc, size: 16MiB}
  - {name: lun0, type: malloc, size: 8MiB}
controllers:
  - {name: c0, type: blk, backend: ram0}
  - {name: sc0, type: scsi, targets: [{id: 0, luns: [{lun: 0, backend: lun0}]}]}
EOF
}

# start LOG [ARGS...] — start vhostd on $tmp/vhostd.yaml and wait for "ready"; sets PID.
start() {
	local log=$1 t=200
	shift
	"$VHOSTD" -c "$tmp/vhostd.yaml" "$@" >"$log" 2>&1 &
	PID=$!
	pids+=("$PID")
	until grep -q "ready:" "$log" 2>/dev/null; do
		kill -0 "$PID" 2>/dev/null || fail "vhostd exited early: $(tail -5 "$log")"
		t=$((t - 1))
		[ "$t" -gt 0 ] || fail "vhostd not ready after 10 s"
		sleep 0.05
	done
}

mkdir -p "$tmp/s"
config >"$tmp/vhostd.yaml"
truncate -s 64M "$img"

# A stale control socket (left by a crash) is replaced.
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$sock"
start "$tmp/vhostd.log"
[ -S "$sock" ] || fail "no control socket"
[ "$(stat -c %a "$sock")" = 600 ] || fail "control socket mode $(stat -c %a "$sock"), want 600"
grep -q "control socket $sock" "$tmp/vhostd.log" || fail "control socket not logged"
pass "stale control socket replaced; mode 0600"

# A live one is refused, before anything is created.
mkdir -p "$tmp/s2"
sed "s|socket_dir: $tmp/s|socket_dir: $tmp/s2|" "$tmp/vhostd.yaml" >"$tmp/second.yaml"
expect_fail "control socket $sock: another process listens on it" \
	"$VHOSTD" -c "$tmp/second.yaml"
[ -z "$(ls -A "$tmp/s2")" ] || fail "refused instance created $(ls "$tmp/s2")"
[ -S "$sock" ] || fail "the refused instance removed the live control socket"
# Same instance name on another socket: refused too (it is the DPDK file prefix).
instance=$("$VHOSTCTL" -s "$sock" info | sed -n 's/^instance: *//p')
[ -n "$instance" ] || fail "vhostctl info shows no instance"
expect_fail "instance '$instance' is already running" \
	"$VHOSTD" -c "$tmp/second.yaml" -r "$tmp/other.sock" --instance "$instance"
pass "live control socket and running instance name refused"

cat >"$tmp/client.py" <<'PYTHON'
"""JSON-RPC checks against vhostd, framed like SPDK's rpc.py."""
import json
import os
import socket
import sys
import threading
import time

import rpc_client
from rpc_client import Client, check, fail, section

SOCK, TMP, IMG, CPU = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def connect():
    return Client(SOCK, timeout=30)


C = connect()
call = C.call
expect_error = C.expect_error


# ---- framing ----------------------------------------------------------------------------
methods = call("rpc_get_methods")
for m in ["rpc_get_methods", "spdk_get_version", "bdev_aio_create", "bdev_aio_delete",
          "bdev_aio_rescan", "bdev_malloc_create", "bdev_malloc_delete", "bdev_null_create",
          "bdev_null_delete", "bdev_null_resize", "bdev_get_bdevs", "bdev_get_iostat",
          "vhost_create_blk_controller", "vhost_delete_controller", "vhost_get_controllers",
          "save_config", "framework_get_subsystems", "framework_get_config",
          "vhostd_bdev_resize", "vhostd_reload", "vhostd_get_stats",
          "vhostd_delete_controller", "vhostd_get_info"]:
    check(m in methods, "rpc_get_methods lacks %s" % m)
check(call("rpc_get_methods", {"current": True, "include_aliases": False}) == methods,
      "rpc_get_methods(current) differs")
v = call("spdk_get_version")
check(v["version"].startswith("vhostd v") and "major" in v["fields"], "version %r" % v)
info = call("vhostd_get_info")
check(info["pid"] > 0 and info["rpc_socket"] == SOCK and info["instance"], "info %r" % info)

# One byte at a time, with pauses: answered only once complete.
c2 = connect()
req = json.dumps({"jsonrpc": "2.0", "id": 77, "method": "spdk_get_version"}, indent=2).encode()
c2.s.settimeout(0.05)
for i in range(len(req)):
    c2.send_raw(req[i:i + 1])
    if i % 16 == 0:
        try:
            early = c2.s.recv(100)
            fail("answer before the request was complete: %r" % early)
        except socket.timeout:
            pass
c2.s.settimeout(10)
r = c2.read()
check(r["id"] == 77 and "result" in r, "split request: %r" % r)
# Several requests in one write, answered in order; whitespace and newlines between them.
batch = ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"spdk_get_version\"}\n"
         "  {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}"
         "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"bdev_get_bdevs\",\"params\":{\"name\":\"ram0\"}}")
c2.send_raw(batch)
rs = [c2.read() for _ in range(3)]
check([x["id"] for x in rs] == [1, 2, 3], "pipelined order %r" % rs)
check("result" in rs[0] and rs[1]["error"]["code"] == -32601 and
      rs[2]["result"][0]["name"] == "ram0", "pipelined answers %r" % rs)
# A JSON-RPC batch and a notification.
c2.send_raw(json.dumps([{"jsonrpc": "2.0", "id": "a", "method": "spdk_get_version"},
                        {"jsonrpc": "2.0", "method": "spdk_get_version"},
                        {"jsonrpc": "2.0", "id": "b", "method": "bdev_get_bdevs",
                         "params": {"name": "nope"}}]))
r = c2.read()
check(isinstance(r, list) and len(r) == 2 and r[0]["id"] == "a" and
      r[1]["error"]["code"] == -19, "batch %r" % r)
c2.send_raw('{"jsonrpc":"2.0","method":"spdk_get_version"}')
c2.send_raw('{"jsonrpc":"2.0","id":5,"method":"spdk_get_version"}')
check(c2.read()["id"] == 5, "a notification was answered")
# Invalid requests keep the connection; malformed JSON closes it after a -32700 answer.
for bad, code in [('{"id":9,"method":"spdk_get_version"}', -32600),
                  ('{"jsonrpc":"2.0","id":9,"method":7}', -32600),
                  ('{"jsonrpc":"2.0","id":9,"method":"spdk_get_version","params":[1]}',
                   -32602),
                  ("[]", -32600)]:
    c2.send_raw(bad)
    r = c2.read()
    check(r["error"]["code"] == code, "%s -> %r" % (bad, r))
c2.send_raw('{"jsonrpc":"2.0","id":10,"method":"spdk_get_version"}')
check(c2.read()["id"] == 10, "connection unusable after invalid requests")
c2.send_raw('{"jsonrpc":"2.0","id":11,"method" "x"}')
r = c2.read()
check(r["error"]["code"] == -32700 and r["id"] is None, "malformed: %r" % r)
check(c2.closed(), "connection still open after malformed JSON")
c2.close()
# A request over 1 MiB: error, then closed, without waiting for its end.
c3 = connect()
c3.send_raw('{"jsonrpc":"2.0","id":1,"method":"spdk_get_version","params":{"x":"')
try:
    c3.send_raw("a" * (1 << 20) + "b" * 1000)
except (BrokenPipeError, ConnectionResetError):
    pass
r = c3.read()
check(r["error"]["code"] == -32600 and "larger than 1048576" in r["error"]["message"],
      "oversized: %r" % r)
check(c3.closed(), "connection still open after an oversized request")
c3.close()
# Send, then shut the sending side (socat, nc -N): answered, then closed.
c4 = connect()
c4.send_raw('{"jsonrpc":"2.0","id":4,"method":"spdk_get_version"}')
c4.s.shutdown(socket.SHUT_WR)
check(c4.read()["id"] == 4, "half-closed client not answered")
check(c4.closed(), "half-closed client not closed after its answer")
c4.close()
section("framing")

# ---- parameters ------------------------------------------------------------------------
expect_error("spdk_get_version", {"x": 1}, -32602, "unknown parameter 'x'")
expect_error("bdev_aio_create", {"name": "a"}, -32602, "missing parameter 'filename'")
expect_error("bdev_aio_create", {"name": 5, "filename": IMG}, -32602, "parameter 'name'")
expect_error("bdev_aio_create", {"name": "a", "filename": IMG, "readonly": "yes"}, -32602,
             "parameter 'readonly': expected a boolean")
expect_error("bdev_aio_create", {"name": "a", "filename": IMG, "block_size": -512}, -32602,
             "parameter 'block_size'")
expect_error("bdev_aio_create", {"name": "a/b", "filename": IMG}, -32602,
             "parameter 'name': 'a/b' is not a valid name")
expect_error("bdev_aio_create", {"name": "a" * 64, "filename": IMG}, -32602, "parameter 'name'")
expect_error("bdev_aio_create", {"name": "a", "filename": "rel.img"}, -32602,
             "not an absolute path")
expect_error("bdev_aio_create", {"name": "a", "filename": IMG, "block_size": 1000}, -32602,
             "parameter 'block_size': 1000 is not a power of two")
expect_error("bdev_aio_create", {"name": "a", "filename": IMG, "uuid": "x"}, -32602,
             "parameter 'uuid': vhostd does not support")
section("parameter errors")

# ---- backends --------------------------------------------------------------------------
check(call("bdev_aio_create", {"name": "disk0", "filename": IMG, "readonly": False,
                               "fallocate": False, "nowait": False}) == "disk0", "aio create")
expect_error("bdev_aio_create", {"name": "disk0", "filename": IMG + ".2"}, -17,
             "backend 'disk0' already exists")
expect_error("bdev_aio_create", {"name": "disk1", "filename": IMG}, -16, "locked by another")
expect_error("bdev_aio_create", {"name": "disk1", "filename": TMP + "/missing.img"}, -2,
             "cannot open")
check(call("bdev_malloc_create", {"num_blocks": 8192, "block_size": 512}) == "Malloc0",
      "malloc without a name")
check(call("bdev_malloc_create", {"num_blocks": 2048, "block_size": 4096, "name": "m1",
                                  "md_size": 0, "md_interleave": False, "numa_id": -1,
                                  "physical_block_size": 4096}) == "m1", "malloc m1")
expect_error("bdev_malloc_create", {"name": "m2", "num_blocks": 0, "block_size": 512}, -32602,
             "parameter 'num_blocks'")
expect_error("bdev_malloc_create", {"name": "m2", "num_blocks": 8, "block_size": 520}, -32602,
             "parameter 'block_size'")
expect_error("bdev_malloc_create", {"name": "m2", "num_blocks": 8, "block_size": 512,
                                    "md_size": 8}, -32602, "parameter 'md_size'")
expect_error("bdev_malloc_create", {"name": "m2", "num_blocks": 8}, -32602,
             "missing parameter 'block_size'")
check(call("bdev_null_create", {"name": "n0", "num_blocks": 2048, "block_size": 512}) == "n0",
      "null create")
expect_error("bdev_null_create", {"num_blocks": 2048, "block_size": 512}, -32602,
             "missing parameter 'name'")

bdevs = {b["name"]: b for b in call("bdev_get_bdevs")}
check(set(bdevs) == {"ram0", "lun0", "disk0", "Malloc0", "m1", "n0"}, "bdevs %r" % list(bdevs))
d = bdevs["disk0"]
check(d["product_name"] == "AIO disk" and d["num_blocks"] * d["block_size"] == 64 << 20 and
      d["driver_specific"]["aio"]["filename"] == IMG and not d["claimed"] and
      d["supported_io_types"]["unmap"], "disk0 %r" % d)
check(bdevs["ram0"]["claimed"] and bdevs["ram0"]["vhostd"]["user"] == "c0" and
      bdevs["ram0"]["vhostd"]["from_config"], "ram0 %r" % bdevs["ram0"])
check(bdevs["m1"]["block_size"] == 4096 and bdevs["n0"]["product_name"] == "Null disk",
      "m1/n0")
# A backend used by a SCSI LUN: reported, not deletable, resizable (the LUN is told).
check(bdevs["lun0"]["claimed"] and bdevs["lun0"]["vhostd"]["user"] == "sc0", "lun0 %r" %
      bdevs["lun0"])
expect_error("bdev_malloc_delete", {"name": "lun0"}, -16, "used by controller 'sc0'")
r = call("vhostd_bdev_resize", {"name": "lun0", "size": "16MiB"})
check(r["new_size"] == 16 << 20 and r["notified"] == 0, "LUN backend resize %r" % r)
check([b["name"] for b in call("bdev_get_bdevs", {"name": "m1", "timeout": 0})] == ["m1"],
      "bdev_get_bdevs by name")
expect_error("bdev_get_bdevs", {"name": "nope"}, -19, "backend 'nope' does not exist")

# Resize and rescan.
with open(IMG, "r+b") as f:
    f.truncate(96 << 20)
check(call("bdev_aio_rescan", {"name": "disk0"}) is True, "rescan")
check(call("bdev_get_bdevs", {"name": "disk0"})[0]["num_blocks"] * 512 == 96 << 20,
      "rescan did not see the new size")
r = call("vhostd_bdev_resize", {"name": "disk0"})
check(r["old_size"] == r["new_size"] == 96 << 20 and r["notified"] == 0, "aio resize %r" % r)
expect_error("bdev_aio_rescan", {"name": "m1"}, -19, "backend 'm1' is a malloc backend")
expect_error("vhostd_bdev_resize", {"name": "disk0", "size": 1 << 30}, -32602,
             "an aio backend has the size of its file")
r = call("vhostd_bdev_resize", {"name": "m1", "size": "32MiB"})
check(r["old_size"] == 8 << 20 and r["new_size"] == 32 << 20, "malloc grow %r" % r)
r = call("vhostd_bdev_resize", {"name": "m1", "size": 4 << 20})
check(r["new_size"] == 4 << 20, "malloc shrink %r" % r)
expect_error("vhostd_bdev_resize", {"name": "m1", "size": 4097}, -22, "not a multiple")
expect_error("vhostd_bdev_resize", {"name": "m1", "size": "1T"}, -28, "grows to at most")
expect_error("vhostd_bdev_resize", {"name": "n0"}, -32602, "missing parameter 'size'")
expect_error("vhostd_bdev_resize", {"name": "nope", "size": 1}, -19, "does not exist")
expect_error("vhostd_bdev_resize", {"name": "m1", "size": "12 parsecs"}, -32602,
             "parameter 'size'")
check(call("bdev_null_resize", {"name": "n0", "new_size": 4}) is True, "null resize")
check(call("bdev_get_bdevs", {"name": "n0"})[0]["num_blocks"] == 8192, "null resize size")
expect_error("bdev_null_resize", {"name": "m1", "new_size": 4}, -19, "not null")
section("backends")

# ---- controllers -----------------------------------------------------------------------
mask = "0x%x" % (1 << CPU)
check(call("vhost_create_blk_controller", {"ctrlr": "blk0", "dev_name": "disk0",
                                           "cpumask": mask, "readonly": False,
                                           "packed_ring": False}) is True, "create blk0")
check(os.path.exists(TMP + "/s/blk0"), "no socket for blk0")
check(call("vhost_create_blk_controller", {"ctrlr": "blk1", "dev_name": "m1",
                                           "cpumask": "[%d]" % CPU, "num_queues": 2,
                                           "serial": "SER-1",
                                           "transport": "vhost_user_blk"}) is True,
      "create blk1")
check(call("vhost_create_blk_controller", {"ctrlr": "ro0", "dev_name": "disk0",
                                           "readonly": True}) is True,
      "a read-only user next to the writer")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk0", "dev_name": "n0"}, -17,
             "controller 'blk0' already exists")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2", "dev_name": "nope"}, -19,
             "backend 'nope' does not exist")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2", "dev_name": "disk0"}, -16,
             "already written by controller 'blk0'")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2", "dev_name": "n0",
                                             "cpumask": "0x%x" % (1 << (CPU + 1))}, -32602,
             "not polled by vhostd")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2", "dev_name": "n0",
                                             "cpumask": "zz"}, -32602, "parameter 'cpumask'")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2", "dev_name": "n0",
                                             "packed_ring": True}, -32602, "packed_ring")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2", "dev_name": "n0",
                                             "transport": "vfio_user_virtio_blk"}, -32602,
             "parameter 'transport'")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2", "dev_name": "n0",
                                             "num_queues": 0}, -32602, "num_queues")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2", "dev_name": "n0",
                                             "serial": "x" * 21}, -32602, "serial")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk2"}, -32602,
             "missing parameter 'dev_name'")
check(not os.path.exists(TMP + "/s/blk2"), "a refused controller left a socket")

ctrlrs = {c["ctrlr"]: c for c in call("vhost_get_controllers")}
check(set(ctrlrs) == {"c0", "sc0", "blk0", "blk1", "ro0"}, "controllers %r" % list(ctrlrs))
check(ctrlrs["sc0"]["vhostd"]["type"] == "scsi" and ctrlrs["sc0"]["socket"] == TMP + "/s/sc0",
      "sc0 %r" % ctrlrs["sc0"])
b1 = ctrlrs["blk1"]
check(b1["cpumask"] == mask and b1["socket"] == TMP + "/s/blk1" and b1["sessions"] == [] and
      b1["backend_specific"]["block"] == {"readonly": False, "bdev": "m1",
                                          "transport": "vhost_user_blk"} and
      b1["vhostd"]["num_queues"] == 2 and b1["vhostd"]["serial"] == "SER-1", "blk1 %r" % b1)
check(ctrlrs["blk0"]["vhostd"]["num_queues"] == 128, "RPC default num_queues")
check(ctrlrs["ro0"]["backend_specific"]["block"]["readonly"], "ro0 not read-only")
check([c["ctrlr"] for c in call("vhost_get_controllers", {"name": "blk0"})] == ["blk0"],
      "vhost_get_controllers by name")
expect_error("vhost_get_controllers", {"name": "nope"}, -19, "controller 'nope' does not exist")

# Teardown rules.
expect_error("bdev_aio_delete", {"name": "disk0"}, -16, "used by controller 'blk0'")
expect_error("bdev_malloc_delete", {"name": "disk0"}, -19, "is a aio backend, not malloc")
expect_error("bdev_aio_delete", {"name": "nope"}, -19, "does not exist")
expect_error("vhost_delete_controller", {"ctrlr": "blk0", "force": True}, -32602,
             "unknown parameter 'force'")
expect_error("vhost_delete_controller", {"ctrlr": "nope"}, -19, "controller 'nope' does not exist")
check(call("vhost_delete_controller", {"ctrlr": "blk0"}) is True, "delete blk0")
check(not os.path.exists(TMP + "/s/blk0"), "blk0 socket left behind")
expect_error("bdev_aio_delete", {"name": "disk0"}, -16, "used by controller 'ro0'")
check(call("vhostd_delete_controller", {"ctrlr": "ro0", "force": True}) is True, "force delete")
check(call("bdev_aio_delete", {"name": "disk0"}) is True, "delete disk0")
fds = [os.readlink("/proc/%d/fd/%s" % (info["pid"], fd))
       for fd in os.listdir("/proc/%d/fd" % info["pid"])]
check(not any(IMG in f for f in fds), "an fd on the deleted backing file is still open")
check(call("bdev_malloc_delete", {"name": "Malloc0"}) is True, "delete Malloc0")
section("controllers and teardown")

# ---- configuration and statistics ------------------------------------------------------
subs = call("framework_get_subsystems")
check([s["subsystem"] for s in subs] == ["bdev", "vhost_blk", "vhost_scsi"],
      "subsystems %r" % subs)
bcfg = call("framework_get_config", {"name": "bdev", "with_batches": False})
check({e["params"]["name"]: e["method"] for e in bcfg} ==
      {"ram0": "bdev_malloc_create", "lun0": "bdev_malloc_create", "m1": "bdev_malloc_create",
       "n0": "bdev_null_create"}, "bdev config %r" % bcfg)
vcfg = call("framework_get_config", {"name": "vhost_blk"})
check(sorted(e["params"]["ctrlr"] for e in vcfg) == ["blk1", "c0"] and
      all(e["method"] == "vhost_create_blk_controller" for e in vcfg), "vhost config %r" % vcfg)
scfg = call("framework_get_config", {"name": "vhost_scsi"})
check(scfg == [{"method": "vhost_create_scsi_controller",
                "params": {"ctrlr": "sc0", "cpumask": "0x%x" % (1 << CPU), "num_queues": 1}},
               {"method": "vhost_scsi_controller_add_target",
                "params": {"ctrlr": "sc0", "scsi_target_num": 0, "bdev_name": "lun0"}}],
      "vhost_scsi config %r" % scfg)
expect_error("framework_get_config", {"name": "nvmf"}, -32602, "no subsystem 'nvmf'")
saved = call("save_config")
check(saved == {"subsystems": [{"subsystem": "bdev", "config": bcfg},
                               {"subsystem": "vhost_blk", "config": vcfg},
                               {"subsystem": "vhost_scsi", "config": scfg}]},
      "save_config differs from framework_get_config")

st = call("vhostd_get_stats")
names = [c["name"] for c in st["controllers"]]
check(names == ["c0", "sc0", "blk1"] and "reads" in st["controllers"][0]["total"] and
      st["workers"][0]["cpu"] == CPU, "stats %r" % st)
check(call("vhostd_get_stats", {"name": "blk1"})["controllers"][0]["backend"] == "m1",
      "stats by name")
expect_error("vhostd_get_stats", {"name": "nope"}, -19, "does not exist")
io = call("bdev_get_iostat")
check(io["tick_rate"] == 1000000 and
      {b["name"] for b in io["bdevs"]} == {"ram0", "lun0", "m1", "n0"}
      and "num_read_ops" in io["bdevs"][0], "iostat %r" % io)
check([b["name"] for b in call("bdev_get_iostat", {"name": "m1"})["bdevs"]] == ["m1"],
      "iostat name")
check([b["name"] for b in call("bdev_get_iostat", {"names": ["n0", "m1"]})["bdevs"]] ==
      ["n0", "m1"], "iostat names")
expect_error("bdev_get_iostat", {"names": ["nope"]}, -19, "does not exist")
expect_error("bdev_get_iostat", {"per_channel": True}, -32602, "per_channel")
section("configuration and statistics")

# ---- reload over RPC -------------------------------------------------------------------
cfg_path = TMP + "/vhostd.yaml"
orig = open(cfg_path).read().replace("size: 8MiB}", "size: 16MiB}")  # lun0 was resized
with open(cfg_path, "a") as f:
    f.write("  - {name: c1, type: blk, backend: null1}\n")
new = orig.replace("backends:\n", "backends:\n  - {name: null1, type: null, size: 1GiB}\n")
new += "  - {name: c1, type: blk, backend: null1}\n"
open(cfg_path, "w").write(new)
r = call("vhostd_reload")
acts = {(i["kind"], i["name"]): i["action"] for i in r["items"]}
check(r["ok"] and acts == {("backend", "ram0"): "unchanged", ("controller", "c0"): "unchanged",
                           ("backend", "lun0"): "unchanged", ("controller", "sc0"): "unchanged",
                           ("backend", "null1"): "created", ("controller", "c1"): "created"},
      "reload %r" % r)
check(os.path.exists(TMP + "/s/c1"), "reload did not create c1's socket")
open(cfg_path, "w").write(new + "bogus: 1\n")
msg = expect_error("vhostd_reload", None, -22, "nothing changed")
check("bogus" in msg, "reload diagnostics %r" % msg)
open(cfg_path, "w").write(orig)
r = call("vhostd_reload")
acts = {(i["kind"], i["name"]): i["action"] for i in r["items"]}
check(acts[("controller", "c1")] == "deleted" and acts[("backend", "null1")] == "deleted" and
      ("controller", "blk1") not in acts and acts[("controller", "sc0")] == "unchanged",
      "reload back %r" % r)
check(sorted(c["ctrlr"] for c in call("vhost_get_controllers")) == ["blk1", "c0", "sc0"],
      "RPC-made blk1 must survive a reload")


def reload_with(text):
    open(cfg_path, "w").write(text)
    r = call("vhostd_reload")
    return {(i["kind"], i["name"]): i["action"] for i in r["items"]}, r


# SCSI: a LUN changed in the file replaces the idle controller; a changed LUN backend too.
acts, r = reload_with(orig.replace("backend: lun0}", "backend: lun0, readonly: true}"))
check(acts[("controller", "sc0")] == "replaced" and r["ok"], "changed LUN %r" % r)
acts, r = reload_with(orig.replace("lun0, type: malloc, size: 16MiB}",
                                  "lun0, type: malloc, size: 16MiB, block_size: 4096}"))
check(acts[("backend", "lun0")] == "replaced" and acts[("controller", "sc0")] == "replaced",
      "changed LUN backend %r" % r)
acts, r = reload_with(orig)
check(acts[("backend", "lun0")] == "replaced" and acts[("controller", "sc0")] == "replaced",
      "LUN backend back %r" % r)
# Only the size of a RAM disk in use changes: resized in place, its controller untouched.
acts, r = reload_with(orig.replace("ram0, type: malloc, size: 16MiB",
                                  "ram0, type: malloc, size: 32MiB"))
check(acts[("backend", "ram0")] == "resized" and acts[("controller", "c0")] == "unchanged",
      "size-only change %r" % r)
check(call("bdev_get_bdevs", {"name": "ram0"})[0]["num_blocks"] == 65536, "ram0 not resized")
grown = orig.replace("ram0, type: malloc, size: 16MiB", "ram0, type: malloc, size: 32MiB")
# A file backend used by an RPC-made controller, then removed from the file: both kept.
with_shared = grown.replace("backends:\n",
                            "backends:\n  - {name: shared, type: malloc, size: 8MiB}\n")
acts, r = reload_with(with_shared)
check(acts[("backend", "shared")] == "created", "shared %r" % r)
call("vhost_create_blk_controller", {"ctrlr": "rpcc", "dev_name": "shared"})
acts, r = reload_with(grown)
check(acts[("backend", "shared")] == "kept" and not r["ok"] and ("controller", "rpcc") not in acts,
      "removed backend in use %r" % r)
check("controller 'rpcc' uses it" in [i for i in r["items"] if i["name"] == "shared"][0]["message"],
      "kept message %r" % r)
# The file changes it: replaced, and the idle RPC-made controller on it comes back.
acts, r = reload_with(with_shared.replace("size: 8MiB}", "size: 8MiB, block_size: 4096}"))
check(acts[("backend", "shared")] == "replaced" and acts[("controller", "rpcc")] == "replaced"
      and r["ok"], "changed backend under an RPC controller %r" % r)
check(call("bdev_get_bdevs", {"name": "shared"})[0]["block_size"] == 4096, "shared not replaced")
check(call("vhost_get_controllers", {"name": "rpcc"})[0]["backend_specific"]["block"]["bdev"] ==
      "shared", "rpcc not recreated")
# A file controller whose backend changes is replaced with it.
acts, r = reload_with(with_shared.replace("ram0, type: malloc, size: 32MiB}",
                                         "ram0, type: malloc, size: 32MiB, block_size: 4096}"))
check(acts[("backend", "ram0")] == "replaced" and acts[("controller", "c0")] == "replaced",
      "changed backend under a file controller %r" % r)
# Back to the original file; rpcc (RPC-made) goes by RPC, then shared goes with the file.
call("vhost_delete_controller", {"ctrlr": "rpcc"})
acts, r = reload_with(orig)
check(acts[("backend", "shared")] == "deleted" and acts[("backend", "ram0")] == "replaced" and
      acts[("controller", "c0")] == "replaced" and r["ok"], "back to the original %r" % r)
check({b["name"] for b in call("bdev_get_bdevs")} == {"ram0", "lun0", "m1", "n0"},
      "backends after reloads")
section("reload")

# ---- concurrency and bad clients -------------------------------------------------------
errors = []


def worker(n):
    try:
        c = connect()
        for i in range(20):
            name = "w%d_%d" % (n, i)
            if c.call("bdev_malloc_create", {"name": name, "num_blocks": 256,
                                             "block_size": 512}) != name:
                errors.append("create %s" % name)
            c.call("bdev_get_bdevs")
            c.call("vhost_get_controllers")
            c.call("bdev_malloc_delete", {"name": name})
        c.close()
    except Exception as e:  # noqa: BLE001 - any failure of a worker fails the test
        errors.append("worker %d: %r" % (n, e))


threads = [threading.Thread(target=worker, args=(n,)) for n in range(24)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(not errors, "concurrent clients: %s" % errors[:3])
check({b["name"] for b in call("bdev_get_bdevs")} == {"ram0", "lun0", "m1", "n0"},
      "concurrent clients left backends behind")

# More clients at once than the server serves: the rest wait their turn.
socks = []
for i in range(150):
    c = connect()
    c.send_raw('{"jsonrpc":"2.0","id":%d,"method":"spdk_get_version"}' % i)
    socks.append(c)
for i, c in enumerate(socks):
    check(c.read()["id"] == i, "client %d of 150" % i)
    c.close()

# Thousands of requests in one write, answers read only afterwards: more than the server
# keeps unsent at once, so it pauses and resumes as we read. All answered, in order.
flood = connect()
n = 3000
flood.send_raw("".join('{"jsonrpc":"2.0","id":%d,"method":"bdev_get_bdevs"}' % i
                       for i in range(n)))
ids = [flood.read()["id"] for _ in range(n)]
check(ids == list(range(n)), "pipelined flood: answers out of order or missing")
flood.close()

# Bad clients: stalled mid-request, never reading, garbage, gone at once. A good client
# keeps getting prompt answers meanwhile.
stalled = connect()
stalled.send_raw('{"jsonrpc":"2.0","id":1,"method":"bdev_get_bdevs","params":{"na')
deaf = connect()
deaf.s.setblocking(False)
blob = ('{"jsonrpc":"2.0","id":1,"method":"bdev_get_bdevs"}' * 200).encode()
sent = 0
deadline = time.time() + 5
while time.time() < deadline:
    try:
        sent += deaf.s.send(blob)
    except BlockingIOError:
        break
garbage = connect()
garbage.send_raw(b"\xff\xfe\x00garbage{{{")
for _ in range(20):
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    s.close()
worst = 0.0
for _ in range(50):
    t0 = time.time()
    call("vhost_get_controllers")
    worst = max(worst, time.time() - t0)
check(worst < 1.0, "a good client waited %.2f s next to bad ones" % worst)
check(sent > 0, "the deaf client could not send anything")
stalled.send_raw('me":"ram0"}}')
check(stalled.read()["result"][0]["name"] == "ram0", "stalled client not served once complete")
for c in (stalled, deaf, garbage):
    c.close()
check(call("spdk_get_version")["version"].startswith("vhostd"), "daemon unwell after bad clients")
section("concurrency and bad clients")
print("client: %d checks passed" % rpc_client.checks)
PYTHON

PYTHONPATH="$TESTS_SYSTEM_DIR" python3 "$tmp/client.py" "$sock" "$tmp" "$img" "$cpu" || fail "JSON-RPC checks failed"
pass "every method: results and errors; framing; concurrency; bad clients"

# vhostctl: readable tables, --json, errors.
ctl() { "$VHOSTCTL" -s "$sock" "$@"; }
expect_ok ctl bdev create-aio disk9 "$img" --block-size 4096
[ "$LAST_OUT" = "created backend 'disk9'" ] || fail "bdev create-aio: $LAST_OUT"
expect_ok ctl ctrlr create-blk vblk9 disk9 --cpumask "0x$(printf %x $((1 << cpu)))" --num-queues 2
expect_ok ctl bdev list
grep -Eq '^NAME +TYPE +SIZE +BLOCK +USED BY +DETAILS$' <<<"$LAST_OUT" || fail "bdev list header: $LAST_OUT"
grep -Eq "^disk9 +aio +96 MiB +4096 +vblk9 +$img$" <<<"$LAST_OUT" || fail "bdev list: $LAST_OUT"
grep -Eq '^m1 +malloc +4 MiB +4096 +blk1 ' <<<"$LAST_OUT" || fail "bdev list m1: $LAST_OUT"
expect_ok ctl ctrlr list
grep -Eq "^vblk9 +blk +disk9 +$cpu +2 +- +$tmp/s/vblk9$" <<<"$LAST_OUT" || fail "ctrlr list: $LAST_OUT"
expect_ok ctl bdev resize m1 8MiB
[ "$LAST_OUT" = "m1: 4 MiB -> 8 MiB (0 connected front-ends notified)" ] || fail "resize: $LAST_OUT"
expect_ok ctl stats
grep -Eq '^CONTROLLER/QUEUE +READS +WRITES' <<<"$LAST_OUT" || fail "stats: $LAST_OUT"
grep -Eq '^vblk9 \(disk9\) +0 +0 ' <<<"$LAST_OUT" || fail "stats row: $LAST_OUT"
expect_ok ctl bdev iostat disk9
grep -Eq '^disk9 +0 +0 +0 B +0 B ' <<<"$LAST_OUT" || fail "iostat: $LAST_OUT"
expect_ok ctl --json ctrlr list vblk9
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[0]["ctrlr"]=="vblk9"' \
	<<<"$LAST_OUT" || fail "--json output: $LAST_OUT"
expect_ok ctl call bdev_get_bdevs '{"name":"disk9"}'
grep -q '"filename": "'"$img"'"' <<<"$LAST_OUT" || fail "call: $LAST_OUT"
expect_fail "bdev_aio_delete: backend 'disk9' is used by controller 'vblk9' \(code -16\)" \
	ctl bdev delete disk9
rc=0
ctl bogus >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown command: exit $rc, want 2"
expect_fail "cannot connect to $tmp/none.sock" "$VHOSTCTL" -s "$tmp/none.sock" info
expect_ok ctl ctrlr delete vblk9
expect_ok ctl bdev delete disk9
[ "$LAST_OUT" = "deleted backend 'disk9'" ] || fail "bdev delete: $LAST_OUT"
expect_ok ctl reload
[ "$LAST_OUT" = "reloaded" ] || fail "reload: $LAST_OUT"
expect_ok ctl info
grep -q "^pid: *$PID$" <<<"$LAST_OUT" || fail "info: $LAST_OUT"
pass "vhostctl tables, --json, call, errors and exit codes"

# DPDK telemetry: the instance name is the file prefix dpdk-telemetry.py needs.
command -v dpdk-telemetry.py >/dev/null ||
	fail "dpdk-telemetry.py is not installed (package dpdk-dev; scripts/deps.sh installs it)"
out=$(printf '%s\n' /vhostd/controllers /vhostd/stats,c0 /vhostd/queues,c0 /vhostd/bdevs \
	/vhostd/workers | dpdk-telemetry.py -f "$instance" 2>&1) || fail "dpdk-telemetry.py: $out"
cat >"$tmp/telemetry.py" <<'PYTHON'
import json
import sys
replies = {}
for line in sys.stdin:
    if line.startswith("{"):
        replies.update(json.loads(line))
assert sorted(replies["/vhostd/controllers"]) == ["blk1", "c0", "sc0"], \
    replies["/vhostd/controllers"]
st = replies["/vhostd/stats"]
assert st["name"] == "c0" and st["backend"] == "ram0" and st["connected"] == 0, st
assert len(st["latency_histogram"]) == 32 and "in_flight" in st, st
assert replies["/vhostd/queues"]["fields"][0] == "reads", replies["/vhostd/queues"]
assert sorted(replies["/vhostd/bdevs"]) == ["lun0", "m1", "n0", "ram0"], replies["/vhostd/bdevs"]
assert replies["/vhostd/workers"]["worker0"][0] == int(sys.argv[1]), replies["/vhostd/workers"]
PYTHON
python3 "$tmp/telemetry.py" "$cpu" <<<"$out" || fail "telemetry output: $out"
pass "DPDK telemetry: dpdk-telemetry.py -f $instance"

# SIGTERM: exit 0, control socket and controller sockets removed.
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
[ "$rc" -eq 0 ] || fail "SIGTERM: exit status $rc"
[ ! -e "$sock" ] || fail "control socket left behind"
[ -z "$(ls -A "$tmp/s")" ] || fail "sockets left behind: $(ls "$tmp/s")"
pass "SIGTERM removes the control socket"
