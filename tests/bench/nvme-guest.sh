#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Figures for the userspace NVMe backend against the aio backend on the same drive: QEMU's
# emulated NVMe drive behind an emulated IOMMU, inside one TCG guest that also runs vhostd and
# vhost-bench (the e2e "vhostd" guest kit). Each vhost-bench job runs against
#   nvme   vhostd's nvme backend, the drive bound to vfio-pci (scripts/setup.sh)
#   aio    vhostd's aio backend on /dev/nvme0n1, the drive back on the kernel's nvme driver
# and, for reference, fio straight on /dev/nvme0n1 (no vhostd, no virtio).
# The emulated CPU and the emulated drive are the limit: these are figures for the record,
# comparable with each other on one machine, not absolute performance. Nothing is asserted.
#
# Usage: tests/bench/nvme-guest.sh [BUILD_DIR]   env: RUNTIME (default 3s)
# (The benchmark suite, tests/bench/run.sh, measures host-side servers; this guest-side
# comparison is separate because the drive only exists inside the guest.)
BUILD_DIR=${1:-${BUILD_DIR:-}}
[ -z "$BUILD_DIR" ] || export BUILD_DIR
E2E_KIT_FLAVOUR=vhostd
E2E_NAME=bench-nvme-guest
# shellcheck source-path=SCRIPTDIR source=../e2e/lib/common.sh
. "$(dirname "$0")/../e2e/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../e2e/lib/nvme.sh
. "$(dirname "$0")/../e2e/lib/nvme.sh"

RUNTIME=${RUNTIME:-3s}
IMG=$E2E_DIRECT/nvme.img
# Fully allocated, so reads reach the image rather than holes.
dd if=/dev/zero of="$IMG" bs=1M count=256 oflag=direct status=none

JOBS="randread:1:1 randread:32:1 randread:32:2 randwrite:32:2"
script=$(e2e_guest_script "$E2E_TMP/guest.sh" <<GUEST
set -e
. /tmp/files/nvme-guest.sh
jobs() {
	for j in $JOBS; do
		rw=\${j%%:*} rest=\${j#*:}
		qd=\${rest%%:*} nq=\${rest#*:}
		vhost-bench /tmp/blk0 --rw \$rw --bs 4k --iodepth \$qd --queues \$nq --threads 1 \
			--cpus 0 --size 64m --runtime $RUNTIME --json >/tmp/j.json 2>/tmp/j.err ||
			{ cat /tmp/j.err; fail "vhost-bench \$j on \$1"; }
		result "job_\$1_\${rw}_\${qd}_\${nq}=\$(tr -d '\n' </tmp/j.json)"
	done
}
bdf=\$(nvme_bdf)
nvme_bind_vfio \$bdf
nvme_vhostd_start \$bdf bench
jobs nvme
nvme_vhostd_stop >/dev/null
nvme_bind_kernel
for qd in 1 32; do
	fio --name=ref --filename=/dev/nvme0n1 --ioengine=libaio --direct=1 --rw=randread \
		--bs=4k --iodepth=\$qd --size=64m --runtime=$RUNTIME --time_based=1 --minimal \
		--output=/tmp/fio.txt
	result "fio_randread_\$qd=\$(cut -d';' -f8 /tmp/fio.txt)"
done
nvme_vhostd_start_aio /dev/nvme0n1 bench
jobs aio
nvme_vhostd_stop >/dev/null
GUEST
)
E2E_GUEST_FILES=$NVME_GUEST_LIB
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
mapfile -t qargs < <(nvme_qemu_args "$IMG")
run_guest "$script" "${qargs[@]}" || fail "guest run: $E2E_GUEST_VERDICT"

python3 - "$E2E_GUEST_DIR/results.log" "$RUNTIME" <<'PY'
import json, sys
res = {}
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("VHD-RESULT "):
        k, _, v = line[len("VHD-RESULT "):].rstrip("\n").partition("=")
        res[k] = v
print("4 KiB I/O inside a TCG guest, emulated NVMe drive behind an emulated IOMMU, "
      "runtime %s per job" % sys.argv[2])
print("%-6s %-9s %4s %6s %10s %10s %10s %10s" % ("backend", "rw", "QD", "queues", "IOPS",
                                                  "p50 us", "p99 us", "cpu us/io"))
for backend in ("nvme", "aio"):
    for key in sorted(k for k in res if k.startswith("job_%s_" % backend)):
        _, _, rw, qd, nq = key.split("_")
        m = json.loads(res[key])["main"]
        d = m["read"] if rw.endswith("read") else m["write"]
        print("%-7s %-9s %4s %6s %10.0f %10.1f %10.1f %10.1f" % (
            backend, rw, qd, nq, d["iops"], d["lat_us"]["p50"], d["lat_us"]["p99"],
            m["cpu"]["us_per_io"]))
for qd in ("1", "32"):
    v = res.get("fio_randread_" + qd)
    if v:
        print("%-7s %-9s %4s %6s %10.0f   (fio on /dev/nvme0n1, no vhostd)" % (
            "kernel", "randread", qd, "-", float(v)))
PY
