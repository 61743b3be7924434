#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# SCSI controllers over the JSON-RPC socket, without a guest, with a client framed like SPDK's
# rpc.py (indented JSON objects, no delimiter, read until a value parses): every scsi method's
# happy path and its errors (missing, wrong-typed and unknown params, unknown or non-scsi
# controller, duplicate target or LUN, numbers out of range, backend written twice, backend in
# use), the SPDK layout of vhost_get_controllers, per-LUN statistics, save_config replayed into
# a second vhostd the way rpc.py load_config does (and SPDK's own scsi form), reloads with LUNs
# changed at run time, vhostctl's scsi commands, and no descriptor left on a removed LUN's file.
# Usage: tests/system/051-rpc-scsi.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${1:-${BUILD_DIR:-build}}
VHOSTD=$BUILD_DIR/src/vhostd
VHOSTCTL=$BUILD_DIR/src/tools/vhostctl
[ -x "$VHOSTD" ] || fail "$VHOSTD not built"
[ -x "$VHOSTCTL" ] || fail "$VHOSTCTL not built"
command -v python3 >/dev/null || fail "python3 is needed"

tmp=$(mktemp -d /tmp/vhd-rpcscsi.XXXXXX)
# O_DIRECT needs a real filesystem; /tmp may be tmpfs.
img=$(mktemp /var/tmp/vhd-051.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
	rm -f "$img"
}
trap cleanup EXIT
cpu=$(($(nproc) - 1))
sock=$tmp/rpc.sock sock2=$tmp/rpc2.sock
mkdir -p "$tmp/s" "$tmp/s2"
truncate -s 32M "$img"

cat >"$tmp/vhostd.yaml" <<EOF
cores: "$cpu"
hugemem: 64
socket_dir: $tmp/s
idle_sleep_us: 1000
rpc_socket: $sock
backends:
  - {name: fb0, type: malloc, size: 8MiB}
  - {name: fb1, type: malloc, size: 8MiB}
controllers:
  - {name: fsc, type: scsi, targets: [{id: 0, luns: [{lun: 0, backend: fb0}]}]}
EOF
cat >"$tmp/second.yaml" <<EOF
cores: "$cpu"
hugemem: 64
socket_dir: $tmp/s2
idle_sleep_us: 1000
rpc_socket: $sock2
EOF

# start CONFIG LOG — start vhostd and wait for "ready"; sets PID.
start() {
	local t=200
	"$VHOSTD" -c "$1" >"$2" 2>&1 &
	PID=$!
	pids+=("$PID")
	until grep -q "ready:" "$2" 2>/dev/null; do
		kill -0 "$PID" 2>/dev/null || fail "vhostd exited early: $(tail -5 "$2")"
		t=$((t - 1))
		[ "$t" -gt 0 ] || fail "vhostd not ready after 10 s"
		sleep 0.05
	done
}
start "$tmp/vhostd.yaml" "$tmp/vhostd.log"
PID1=$PID
start "$tmp/second.yaml" "$tmp/second.log"
PID2=$PID

cat >"$tmp/client.py" <<'PYTHON'
"""SCSI JSON-RPC checks against vhostd, framed like SPDK's rpc.py."""
import os
import socket
import sys

from rpc_client import Client, check, section

SOCK, SOCK2, TMP, IMG, CPU = sys.argv[1:5] + [int(sys.argv[5])]
C = Client(SOCK)
call = C.call
expect_error = C.expect_error


def luns(ctrlr, client=None):
    """{(target, lun): (bdev, readonly)} from backend_specific.scsi."""
    c = (client or C).call("vhost_get_controllers", {"name": ctrlr})[0]
    out = {}
    for t in c["backend_specific"]["scsi"]:
        check(t["scsi_dev_num"] == t["id"] and t["target_name"] == "Target %d" % t["id"],
              "target fields %r" % t)
        check([lun["id"] for lun in t["luns"]] == sorted(lun["id"] for lun in t["luns"]),
              "LUNs not sorted %r" % t)
        for lun in t["luns"]:
            out[(t["id"], lun["id"])] = (lun["bdev_name"], lun["readonly"])
    return out


def fds_on(path, pid):
    d = "/proc/%d/fd" % pid
    return [f for f in os.listdir(d) if os.readlink(os.path.join(d, f)) == path]


PID = call("vhostd_get_info")["pid"]
methods = call("rpc_get_methods")
for m in ["vhost_create_scsi_controller", "vhost_start_scsi_controller",
          "vhost_scsi_controller_add_target", "vhost_scsi_controller_remove_target",
          "vhostd_scsi_add_lun", "vhostd_scsi_remove_lun"]:
    check(m in methods, "rpc_get_methods lacks %s" % m)

# ---- backends for the LUNs ------------------------------------------------------------
for n in ["m0", "m1", "m2", "m3", "m4"]:
    call("bdev_malloc_create", {"name": n, "num_blocks": 16384, "block_size": 512})
call("bdev_aio_create", {"name": "a0", "filename": IMG})
call("vhost_create_blk_controller", {"ctrlr": "blk0", "dev_name": "m3"})

# ---- vhost_create_scsi_controller ------------------------------------------------------
mask = "0x%x" % (1 << CPU)
check(call("vhost_create_scsi_controller", {"ctrlr": "vs0", "cpumask": mask}) is True,
      "create vs0")
check(os.path.exists(TMP + "/s/vs0"), "no socket for vs0")
check(call("vhost_create_scsi_controller", {"ctrlr": "vs1", "delay": True,
                                            "num_queues": 4}) is True, "create vs1")
c = call("vhost_get_controllers", {"name": "vs1"})[0]
check(c["backend_specific"] == {"scsi": []} and c["vhostd"]["type"] == "scsi" and
      c["vhostd"]["num_queues"] == 4 and c["sessions"] == [] and c["cpumask"] == mask,
      "empty scsi controller %r" % c)
check(call("vhost_get_controllers", {"name": "vs0"})[0]["vhostd"]["num_queues"] == 128,
      "RPC default num_queues")
expect_error("vhost_create_scsi_controller", {}, -32602, "missing parameter 'ctrlr'")
expect_error("vhost_create_scsi_controller", {"ctrlr": 7}, -32602, "parameter 'ctrlr'")
expect_error("vhost_create_scsi_controller", {"ctrlr": "x/y"}, -32602,
             "parameter 'ctrlr': 'x/y' is not a valid name")
expect_error("vhost_create_scsi_controller", {"ctrlr": "vs2", "delay": "no"}, -32602,
             "parameter 'delay': expected a boolean")
expect_error("vhost_create_scsi_controller", {"ctrlr": "vs2", "num_queues": 0}, -32602,
             "parameter 'num_queues': 0 is out of range (1..128)")
expect_error("vhost_create_scsi_controller", {"ctrlr": "vs2", "num_queues": 129}, -32602,
             "num_queues")
expect_error("vhost_create_scsi_controller", {"ctrlr": "vs2", "cpumask": "0x%x" %
                                              (1 << (CPU + 1))}, -32602, "not polled by vhostd")
expect_error("vhost_create_scsi_controller", {"ctrlr": "vs2", "dev_name": "m0"}, -32602,
             "unknown parameter 'dev_name'")
expect_error("vhost_create_scsi_controller", {"ctrlr": "vs0"}, -17,
             "controller 'vs0' already exists")
expect_error("vhost_create_scsi_controller", {"ctrlr": "blk0"}, -17, "already exists")
check(not os.path.exists(TMP + "/s/vs2"), "a refused controller left a socket")
check(call("vhost_start_scsi_controller", {"ctrlr": "vs1"}) is True, "start vs1")
expect_error("vhost_start_scsi_controller", {"ctrlr": "nope"}, -19,
             "controller 'nope' does not exist")
expect_error("vhost_start_scsi_controller", {"ctrlr": "blk0"}, -22,
             "controller 'blk0' is a blk controller, not scsi")
expect_error("vhost_start_scsi_controller", {}, -32602, "missing parameter 'ctrlr'")
section("vhost_create_scsi_controller")

# ---- vhost_scsi_controller_add_target ----------------------------------------------------
check(call("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": -1,
                                                "bdev_name": "m0"}) == 0, "first free: 0")
check(call("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 5,
                                                "bdev_name": "m1"}) == 5, "target 5")
check(call("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 255,
                                                "bdev_name": "a0"}) == 255, "target 255")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 5,
                                                  "bdev_name": "m2"}, -17,
             "controller 'vs0': target 5 already exists")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 256,
                                                  "bdev_name": "m2"}, -32602,
             "parameter 'scsi_target_num': 256 is out of range")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": -2,
                                                  "bdev_name": "m2"}, -32602,
             "parameter 'scsi_target_num'")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": "1",
                                                  "bdev_name": "m2"}, -32602,
             "parameter 'scsi_target_num': expected an integer")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 1},
             -32602, "missing parameter 'bdev_name'")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "bdev_name": "m2"},
             -32602, "missing parameter 'scsi_target_num'")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 1,
                                                  "bdev_name": "m2", "lun": 0}, -32602,
             "unknown parameter 'lun'")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "nope", "scsi_target_num": 1,
                                                  "bdev_name": "m2"}, -19,
             "controller 'nope' does not exist")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "blk0", "scsi_target_num": 1,
                                                  "bdev_name": "m2"}, -22,
             "controller 'blk0' is a blk controller, not scsi")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 1,
                                                  "bdev_name": "nope"}, -19,
             "controller 'vs0': LUN 1:0: backend 'nope' does not exist")
# One writer per backend: another controller's backend, another LUN's backend.
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 1,
                                                  "bdev_name": "m3"}, -16,
             "controller 'vs0': LUN 1:0: backend 'm3' is already written by controller 'blk0'")
expect_error("vhost_scsi_controller_add_target", {"ctrlr": "vs1", "scsi_target_num": -1,
                                                  "bdev_name": "m0"}, -16,
             "backend 'm0' is already written by controller 'vs0'")
expect_error("vhost_create_blk_controller", {"ctrlr": "blk1", "dev_name": "m1"}, -16,
             "backend 'm1' is already written by controller 'vs0'")
section("vhost_scsi_controller_add_target")

# ---- vhostd_scsi_add_lun -----------------------------------------------------------------
check(call("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "lun": 3, "bdev_name": "m2",
                                   "readonly": False}) is True, "LUN 0:3")
check(call("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "lun": 16383,
                                   "bdev_name": "m2", "readonly": True}) is True,
      "read-only LUN next to the writer")
check(call("vhostd_scsi_add_lun", {"ctrlr": "vs1", "target": 7, "lun": 2,
                                   "bdev_name": "m0", "readonly": True}) is True,
      "read-only LUN of another controller")
check(call("vhostd_scsi_add_lun", {"ctrlr": "vs1", "target": 7, "lun": 0,
                                   "bdev_name": "m3", "readonly": True}) is True,
      "read-only LUN on a blk controller's backend")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "lun": 3, "bdev_name": "m2",
                                     "readonly": True}, -17,
             "controller 'vs0': LUN 0:3 already exists")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "lun": 4, "bdev_name": "m2"},
             -16, "controller 'vs0': LUN 0:4: backend 'm2' is already written by its LUN 0:3")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs1", "target": 0, "lun": 0, "bdev_name": "m2"},
             -16, "backend 'm2' is already written by controller 'vs0'")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 256, "lun": 0,
                                     "bdev_name": "m2"}, -32602,
             "parameter 'target': 256 is out of range (0..255)")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "lun": 16384,
                                     "bdev_name": "m2"}, -32602,
             "parameter 'lun': 16384 is out of range (0..16383)")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": -1, "lun": 0,
                                     "bdev_name": "m2"}, -32602, "parameter 'target'")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "lun": 9, "bdev_name": "m2",
                                     "readonly": 1}, -32602,
             "parameter 'readonly': expected a boolean")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "bdev_name": "m2"}, -32602,
             "missing parameter 'lun'")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "lun": 9}, -32602,
             "missing parameter 'bdev_name'")
expect_error("vhostd_scsi_add_lun", {"target": 0, "lun": 9, "bdev_name": "m2"}, -32602,
             "missing parameter 'ctrlr'")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "nope", "target": 0, "lun": 9,
                                     "bdev_name": "m2"}, -19, "controller 'nope' does not exist")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "blk0", "target": 0, "lun": 9,
                                     "bdev_name": "m2"}, -22, "is a blk controller, not scsi")
expect_error("vhostd_scsi_add_lun", {"ctrlr": "vs0", "target": 0, "lun": 9,
                                     "bdev_name": "nope"}, -19, "backend 'nope' does not exist")
check(luns("vs0") == {(0, 0): ("m0", False), (0, 3): ("m2", False),
                      (0, 16383): ("m2", True), (5, 0): ("m1", False),
                      (255, 0): ("a0", False)}, "vs0 LUNs %r" % luns("vs0"))
check(luns("vs1") == {(7, 0): ("m3", True), (7, 2): ("m0", True)}, "vs1 LUNs")
section("vhostd_scsi_add_lun")

# ---- a backend used by LUNs ------------------------------------------------------------
bd = {b["name"]: b for b in call("bdev_get_bdevs")}
check(bd["m1"]["claimed"] and bd["m1"]["vhostd"]["user"] == "vs0" and
      bd["m1"]["vhostd"]["users"] == 1, "m1 %r" % bd["m1"]["vhostd"])
check(bd["m0"]["vhostd"]["users"] == 2 and bd["m2"]["vhostd"]["users"] == 1, "m0/m2 users")
expect_error("bdev_malloc_delete", {"name": "m1"}, -16,
             "backend 'm1' is used by controller 'vs0' (LUN 5:0)")
expect_error("bdev_aio_delete", {"name": "a0"}, -16,
             "backend 'a0' is used by controller 'vs0' (LUN 255:0)")
# Statistics: every LUN's backend is reported, per LUN too.
io = {b["name"]: b for b in call("bdev_get_iostat")["bdevs"]}
check(set(io) >= {"m0", "m1", "m2", "a0"} and io["m1"]["num_read_ops"] == 0 and
      io["m1"]["queue_depth"] == 0, "iostat %r" % io.get("m1"))
st = call("vhostd_get_stats", {"name": "vs0"})["controllers"][0]
check([(x["target"], x["lun"], x["backend"], x["readonly"]) for x in st["luns"]] ==
      [(0, 0, "m0", False), (0, 3, "m2", False), (0, 16383, "m2", True), (5, 0, "m1", False),
       (255, 0, "a0", False)] and "reads" in st["luns"][0]["io"], "stats luns %r" % st)
check("luns" not in call("vhostd_get_stats", {"name": "blk0"})["controllers"][0],
      "a blk controller has no luns")
section("backends in use, statistics")

# ---- removal ---------------------------------------------------------------------------
check(call("vhostd_scsi_remove_lun", {"ctrlr": "vs0", "target": 255, "lun": 0}) is True,
      "remove 255:0")
check(call("bdev_aio_delete", {"name": "a0"}) is True, "backend of a removed LUN deleted")
check(not fds_on(IMG, PID), "an fd on the removed LUN's file is still open")
expect_error("vhostd_scsi_remove_lun", {"ctrlr": "vs0", "target": 255, "lun": 0}, -19,
             "controller 'vs0' has no LUN 255:0")
expect_error("vhostd_scsi_remove_lun", {"ctrlr": "vs0", "target": 0, "lun": 1}, -19,
             "has no LUN 0:1")
expect_error("vhostd_scsi_remove_lun", {"ctrlr": "nope", "target": 0, "lun": 0}, -19,
             "controller 'nope' does not exist")
expect_error("vhostd_scsi_remove_lun", {"ctrlr": "blk0", "target": 0, "lun": 0}, -22,
             "not scsi")
expect_error("vhostd_scsi_remove_lun", {"ctrlr": "vs0", "target": 0, "lun": 70000}, -32602,
             "parameter 'lun': 70000 is out of range")
expect_error("vhostd_scsi_remove_lun", {"ctrlr": "vs0", "target": 0}, -32602,
             "missing parameter 'lun'")
expect_error("vhostd_scsi_remove_lun", {"ctrlr": "vs0", "target": 0, "lun": 0, "x": 1},
             -32602, "unknown parameter 'x'")
# remove_target takes every LUN of the target.
check(call("vhost_scsi_controller_remove_target", {"ctrlr": "vs1", "scsi_target_num": 7})
      is True, "remove target 7")
check(luns("vs1") == {}, "vs1 LUNs left %r" % luns("vs1"))
expect_error("vhost_scsi_controller_remove_target", {"ctrlr": "vs1", "scsi_target_num": 7},
             -19, "controller 'vs1' has no target 7")
expect_error("vhost_scsi_controller_remove_target", {"ctrlr": "vs1", "scsi_target_num": 256},
             -32602, "parameter 'scsi_target_num': 256 is out of range")
expect_error("vhost_scsi_controller_remove_target", {"ctrlr": "vs1", "scsi_target_num": -1},
             -32602, "parameter 'scsi_target_num'")
expect_error("vhost_scsi_controller_remove_target", {"ctrlr": "vs1"}, -32602,
             "missing parameter 'scsi_target_num'")
expect_error("vhost_scsi_controller_remove_target", {"ctrlr": "zz", "scsi_target_num": 0},
             -19, "controller 'zz' does not exist")
# A removed target's number is free again; -1 finds the lowest free one.
check(call("vhost_scsi_controller_add_target", {"ctrlr": "vs1", "scsi_target_num": -1,
                                                "bdev_name": "m4"}) == 0, "target 0 again")
section("removal")

# ---- save_config, and load_config into a second vhostd ---------------------------------
saved = call("save_config")
subs = {s["subsystem"]: s["config"] for s in saved["subsystems"]}
check(list(subs) == ["bdev", "vhost_blk", "vhost_scsi"], "subsystems %r" % list(subs))
check(subs["vhost_scsi"] == [
    {"method": "vhost_create_scsi_controller",
     "params": {"ctrlr": "fsc", "cpumask": mask, "num_queues": 1}},
    {"method": "vhost_scsi_controller_add_target",
     "params": {"ctrlr": "fsc", "scsi_target_num": 0, "bdev_name": "fb0"}},
    {"method": "vhost_create_scsi_controller",
     "params": {"ctrlr": "vs0", "cpumask": mask, "num_queues": 128}},
    {"method": "vhost_scsi_controller_add_target",
     "params": {"ctrlr": "vs0", "scsi_target_num": 0, "bdev_name": "m0"}},
    {"method": "vhostd_scsi_add_lun",
     "params": {"ctrlr": "vs0", "target": 0, "lun": 3, "bdev_name": "m2", "readonly": False}},
    {"method": "vhostd_scsi_add_lun",
     "params": {"ctrlr": "vs0", "target": 0, "lun": 16383, "bdev_name": "m2",
                "readonly": True}},
    {"method": "vhost_scsi_controller_add_target",
     "params": {"ctrlr": "vs0", "scsi_target_num": 5, "bdev_name": "m1"}},
    {"method": "vhost_create_scsi_controller",
     "params": {"ctrlr": "vs1", "cpumask": mask, "num_queues": 4}},
    {"method": "vhost_scsi_controller_add_target",
     "params": {"ctrlr": "vs1", "scsi_target_num": 0, "bdev_name": "m4"}}],
      "vhost_scsi config %r" % subs["vhost_scsi"])
check(call("framework_get_config", {"name": "vhost_scsi"}) == subs["vhost_scsi"],
      "framework_get_config(vhost_scsi) differs from save_config")
# rpc.py load_config: every element of every subsystem, in order, as one call each.
C2 = Client(SOCK2)
for sub in saved["subsystems"]:
    for e in sub["config"]:
        C2.call(e["method"], e["params"])
check(C2.call("save_config") == saved, "the second vhostd's save_config differs")
check(luns("vs0", C2) == luns("vs0"), "LUNs differ after load_config")
# SPDK's own form: delayed creation, targets, then the start call.
for e in [{"method": "bdev_malloc_create",
           "params": {"name": "sp", "num_blocks": 2048, "block_size": 4096}},
          {"method": "vhost_create_scsi_controller",
           "params": {"ctrlr": "sp0", "cpumask": mask, "delay": True}},
          {"method": "vhost_scsi_controller_add_target",
           "params": {"ctrlr": "sp0", "scsi_target_num": 1, "bdev_name": "sp"}},
          {"method": "vhost_start_scsi_controller", "params": {"ctrlr": "sp0"}}]:
    C2.call(e["method"], e["params"])
check(luns("sp0", C2) == {(1, 0): ("sp", False)}, "SPDK form: %r" % luns("sp0", C2))
section("save_config and load_config")

# ---- reload with LUNs changed at run time ----------------------------------------------
cfg_path = TMP + "/vhostd.yaml"
orig = open(cfg_path).read()


def reload_with(text):
    open(cfg_path, "w").write(text)
    r = call("vhostd_reload")
    return {(i["kind"], i["name"]): i["action"] for i in r["items"]}, r


# A LUN added to a file controller is a change: the idle controller goes back to the file.
call("vhostd_scsi_add_lun", {"ctrlr": "fsc", "target": 0, "lun": 1, "bdev_name": "fb1"})
check(luns("fsc") == {(0, 0): ("fb0", False), (0, 1): ("fb1", False)}, "fsc + 0:1")
acts, r = reload_with(orig)
check(acts[("controller", "fsc")] == "replaced" and r["ok"] and
      ("controller", "vs0") not in acts, "reload with a LUN added %r" % r)
check(luns("fsc") == {(0, 0): ("fb0", False)}, "fsc after reload %r" % luns("fsc"))
# Removed over RPC: a change as well.
call("vhostd_scsi_remove_lun", {"ctrlr": "fsc", "target": 0, "lun": 0})
acts, r = reload_with(orig)
check(acts[("controller", "fsc")] == "replaced" and luns("fsc") == {(0, 0): ("fb0", False)},
      "reload with a LUN removed %r" % r)
# The same LUN set as the file, however it came about: unchanged.
call("vhostd_scsi_remove_lun", {"ctrlr": "fsc", "target": 0, "lun": 0})
call("vhostd_scsi_add_lun", {"ctrlr": "fsc", "target": 0, "lun": 0, "bdev_name": "fb0"})
acts, r = reload_with(orig)
check(acts[("controller", "fsc")] == "unchanged", "same LUN set %r" % r)
# An RPC-made controller whose LUN is on a backend the file changes comes back with all its
# LUNs, on the new backend.
call("vhost_create_scsi_controller", {"ctrlr": "vs3"})
call("vhostd_scsi_add_lun", {"ctrlr": "vs3", "target": 2, "lun": 0, "bdev_name": "fb1"})
call("vhostd_scsi_add_lun", {"ctrlr": "vs3", "target": 2, "lun": 6, "bdev_name": "m0",
                             "readonly": True})
before = luns("vs3")
acts, r = reload_with(orig.replace("fb1, type: malloc, size: 8MiB}",
                                   "fb1, type: malloc, size: 8MiB, block_size: 4096}"))
check(acts[("backend", "fb1")] == "replaced" and acts[("controller", "vs3")] == "replaced" and
      r["ok"], "backend under an RPC scsi controller %r" % r)
check(luns("vs3") == before, "vs3 LUNs after the reload %r" % luns("vs3"))
check(call("bdev_get_bdevs", {"name": "fb1"})[0]["block_size"] == 4096, "fb1 not replaced")
acts, r = reload_with(orig)
check(acts[("controller", "vs3")] == "replaced" and luns("vs3") == before, "back %r" % r)
section("reload")
PYTHON

PYTHONPATH="$TESTS_SYSTEM_DIR" python3 "$tmp/client.py" "$sock" "$sock2" "$tmp" "$img" "$cpu" || fail "JSON-RPC checks failed"
pass "scsi methods: results and errors; save_config/load_config; reload"

# vhostctl: scsi commands, tables, --json, errors and exit codes.
ctl() { "$VHOSTCTL" -s "$sock" "$@"; }
expect_ok ctl bdev create-malloc d0 16MiB
expect_ok ctl bdev create-malloc d1 8MiB
expect_ok ctl ctrlr create-scsi vc --num-queues 2 --cpumask "[$cpu]"
[ "$LAST_OUT" = "created scsi controller 'vc'" ] || fail "ctrlr create-scsi: $LAST_OUT"
[ -S "$tmp/s/vc" ] || fail "no socket for vc"
expect_ok ctl ctrlr list vc
grep -Eq "^vc +scsi +0 LUNs +$cpu +2 +- +$tmp/s/vc$" <<<"$LAST_OUT" || fail "ctrlr list: $LAST_OUT"
expect_ok ctl scsi add-target vc d0
[ "$LAST_OUT" = "added target 0 to controller 'vc' (LUN 0: backend 'd0')" ] ||
	fail "scsi add-target: $LAST_OUT"
expect_ok ctl --json scsi add-target vc d1 --target 9
[ "$LAST_OUT" = 9 ] || fail "scsi add-target --json: $LAST_OUT"
expect_ok ctl scsi add-lun vc 0 300 d1 --readonly
[ "$LAST_OUT" = "added LUN 0:300 to controller 'vc' (backend 'd1', read-only)" ] ||
	fail "scsi add-lun: $LAST_OUT"
expect_ok ctl scsi list vc
[ "$(head -1 <<<"$LAST_OUT")" = "CONTROLLER  TARGET  LUN  BACKEND  MODE" ] ||
	fail "scsi list header: $LAST_OUT"
grep -Eq '^vc +0 +0 +d0 +read-write$' <<<"$LAST_OUT" || fail "scsi list 0:0: $LAST_OUT"
grep -Eq '^vc +0 +300 +d1 +read-only$' <<<"$LAST_OUT" || fail "scsi list 0:300: $LAST_OUT"
grep -Eq '^vc +9 +0 +d1 +read-write$' <<<"$LAST_OUT" || fail "scsi list 9:0: $LAST_OUT"
expect_ok ctl ctrlr list vc
grep -Eq '^vc +scsi +3 LUNs ' <<<"$LAST_OUT" || fail "ctrlr list with LUNs: $LAST_OUT"
expect_ok ctl stats vc
grep -Eq '^vc \(scsi\) +0 +0 ' <<<"$LAST_OUT" || fail "stats vc: $LAST_OUT"
grep -Eq '^  lun 0:300 \(d1\) +0 +0 ' <<<"$LAST_OUT" || fail "stats of LUN 0:300: $LAST_OUT"
expect_ok ctl scsi list
grep -q '^vs0 ' <<<"$LAST_OUT" || fail "scsi list of every controller: $LAST_OUT"
expect_fail "vhostd_scsi_add_lun: controller 'vc': LUN 0:300 already exists \(code -17\)" \
	ctl scsi add-lun vc 0 300 d1
expect_fail "bdev_malloc_delete: backend 'd0' is used by controller 'vc' \(LUN 0:0\) \(code -16\)" \
	ctl bdev delete d0
expect_fail "controller 'vc' has no LUN 0:1 \(code -19\)" ctl scsi remove-lun vc 0 1
for args in "scsi bogus" "scsi add-lun vc 0 1" "scsi add-lun vc x 1 d0" \
	"scsi add-target vc d0 --target" "scsi remove-target vc" "ctrlr create-scsi"; do
	rc=0
	# shellcheck disable=SC2086 # one word per argument
	ctl $args >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || fail "vhostctl $args: exit $rc, want 2 (usage)"
done
expect_ok ctl scsi remove-lun vc 0 0
[ "$LAST_OUT" = "removed LUN 0:0 of controller 'vc'" ] || fail "scsi remove-lun: $LAST_OUT"
expect_ok ctl bdev delete d0
expect_ok ctl scsi remove-target vc 9
[ "$LAST_OUT" = "removed target 9 of controller 'vc'" ] || fail "scsi remove-target: $LAST_OUT"
expect_ok ctl scsi list vc
grep -Eq '^vc +0 +300 +d1 +read-only$' <<<"$LAST_OUT" || fail "scsi list after removals: $LAST_OUT"
expect_ok ctl ctrlr delete vc
[ ! -e "$tmp/s/vc" ] || fail "vc socket left behind"
expect_ok ctl bdev delete d1
pass "vhostctl ctrlr create-scsi, scsi add-target/add-lun/list/remove-lun/remove-target"

# Deleting scsi controllers with LUNs frees their backends; SIGTERM removes every socket.
for c in vs0 vs1 vs3; do
	expect_ok ctl ctrlr delete "$c"
done
for b in m0 m1 m2 m4; do
	expect_ok ctl bdev delete "$b"
done
for p in "$PID1" "$PID2"; do
	kill -TERM "$p"
	rc=0
	wait "$p" || rc=$?
	[ "$rc" -eq 0 ] || fail "SIGTERM: exit status $rc"
done
left=$(find "$tmp/s" "$tmp/s2" -mindepth 1)
[ -z "$left" ] || fail "sockets left behind: $left"
pass "scsi controllers deleted with their LUNs; clean exit"
