#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Smoke test of the benchmark suite (tests/bench/run.sh): one short point per server (vhostd
# null/malloc/aio, qemu-storage-daemon null-co/aio=native/aio=io_uring, fio), one scaling
# point, the counters of one configuration, and the report with its plots. It checks that
# figures were produced, never what they are: timings are not tested here.
#
# Usage: tests/system/070-bench-smoke.sh [BUILD_DIR]   (default: build)
# Needs qemu-storage-daemon, fio, gnuplot (gnuplot-nox), python3; perf or strace.
set -euo pipefail
# shellcheck source=tests/system/lib.sh
source "$(dirname "$0")/lib.sh"

BUILD=$(realpath -m "${1:-build}")
for t in qemu-storage-daemon fio gnuplot python3 taskset; do
	command -v "$t" >/dev/null || fail "$t is not installed (scripts/deps.sh installs it)"
done
command -v perf >/dev/null || command -v strace >/dev/null || fail "neither perf nor strace"
[[ -x $BUILD/src/vhostd && -x $BUILD/src/tools/vhost-bench/vhost-bench ]] ||
	fail "vhostd or vhost-bench not built in $BUILD"
[[ $(nproc) -ge 2 ]] || fail "the suite needs two CPUs"

# /var/tmp: the image is opened with O_DIRECT, which tmpfs refuses.
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/bench-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

OUT=$WORK/out
LOG=$WORK/run.log
common=(--build "$BUILD" --no-doc --image "$WORK/disk.img" --image-size 64M --tmpdir "$WORK")
if ! timeout --kill-after=10 300 "$REPO_ROOT/tests/bench/run.sh" --quick "${common[@]}" \
	--out "$OUT" --parts matrix,scaling --rw randread --qd 1 --queues 1 --runtime 0.5 \
	--ramp 0.2 --scaling-controllers 2 --scaling-queues 1 --scaling-one-core \
	>"$WORK/report.md" 2>"$LOG"; then
	tail -n 40 "$LOG" >&2
	fail "run.sh (matrix, scaling) failed"
fi
[[ -s $OUT/results.json ]] || fail "no results.json"
# The build is brought up to date before measuring, even when its binaries exist: stale ones
# would be reported under the current commit.
grep -q "ninja: Entering directory" "$LOG" || fail "run.sh did not run ninja on $BUILD"
pass "run.sh brings the build up to date before measuring"
python3 - "$OUT/results.json" <<'PY' || fail "results.json lacks figures"
import json, sys
r = json.load(open(sys.argv[1]))
servers = {p["server"] for p in r["points"]}
want = {"vhostd-null", "vhostd-malloc", "vhostd-aio", "qsd-null", "qsd-native", "qsd-uring",
        "fio-libaio"}
assert servers == want, servers
for p in r["points"]:
    m = p["median"]
    for k in ("iops", "mean", "p50", "p99", "server_cores", "foreign_cores", "load1"):
        assert isinstance(m[k], (int, float)), (p["server"], k)
    assert m["iops"] > 0, p["server"]
    c2c = p["runs"][0]["c2c_ns"]
    assert len(c2c) == 2 and all(isinstance(x, float) and x > 0 for x in c2c), c2c
assert r["scaling"] and r["scaling"][0]["iops"] > 0 and len(r["scaling"][0]["per_client"]) == 2
mc = r["meta"]["machine"]
assert mc["cpu_model"] and mc["kernel"] and mc["qemu"] and r["meta"]["load_start"]
PY
for s in "vhostd null" "vhostd malloc" "vhostd aio" "QSD null-co" "QSD file aio=native" \
	"QSD file aio=io_uring" "fio libaio"; do
	grep -q "^| $s" "$WORK/report.md" || fail "no row for '$s' in the report"
done
grep -q "^| null IOPS ≥ 4× QSD null-co at QD1 |" "$WORK/report.md" ||
	fail "the report has no target lines"
for f in iops.png latency.png scaling.png; do
	[[ -s $OUT/$f ]] || fail "plot $f was not drawn"
	[[ $(head -c 4 "$OUT/$f" | od -An -tx1 | tr -d ' ') == 89504e47 ]] || fail "$f is not a PNG"
done
pass "one point per server, a scaling point, tables and plots"

OUT=$WORK/out-counters
if ! timeout --kill-after=10 120 "$REPO_ROOT/tests/bench/run.sh" --quick "${common[@]}" \
	--out "$OUT" --parts counters --servers vhostd-null --counters-scale 0.05 \
	>"$WORK/counters.md" 2>"$LOG"; then
	tail -n 40 "$LOG" >&2
	fail "run.sh (counters) failed"
fi
python3 - "$OUT/results.json" <<'PY' || fail "counters missing"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["counters"], "no counters"
for c in r["counters"]:
    dp = [t for t in c["threads"].values() if t["data_path"]]
    assert dp, "no data-path thread counted"
    assert "syscalls" in dp[0]["per_io"] and "calls" in dp[0]["large"]
PY
grep -q "rte-worker" "$WORK/counters.md" || fail "the counters table names no polling thread"
pass "system call and allocation/lock counters per thread"
