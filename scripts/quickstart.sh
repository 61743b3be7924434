#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# From a fresh Debian 12 machine to a running vhostd: install packages, build, reserve
# hugepages and start vhostd on config/vhostd.yaml (one RAM-backed virtio-blk disk). It prints
# the QEMU options that attach the disk, then serves until Ctrl-C.
# Usage: sudo ./scripts/quickstart.sh [CONFIG]      (HUGEMEM=MiB to change the reservation)
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-config/vhostd.yaml}

./scripts/deps.sh --build
[ -f build/build.ninja ] || meson setup build
ninja -C build
HUGEMEM=${HUGEMEM:-512} ./scripts/setup.sh || echo "quickstart: no hugepages; vhostd will use ordinary memory"
./build/src/vhostd -c "$config" --check
echo "quickstart: starting vhostd (Ctrl-C stops it and removes its sockets)"
exec ./build/src/vhostd -c "$config"
