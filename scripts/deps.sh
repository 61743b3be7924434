#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Install every Debian 12 package vhostd needs to build, run and test.
# Usage: sudo ./scripts/deps.sh [--build|--runtime-only]
#   (default) everything: build, run and test;  --build: build and run;  --runtime-only: run
set -eu

BUILD_PKGS="build-essential pkg-config meson ninja-build libdpdk-dev libaio-dev libnuma-dev
libyaml-dev libjansson-dev libcriterion-dev"
RUNTIME_PKGS="dpdk kmod util-linux"
TEST_PKGS="qemu-system-x86 qemu-utils linux-image-amd64 busybox-static fio sg3-utils cpio
xz-utils python3 procps iproute2 e2fsprogs shellcheck dpdk-dev gnuplot-nox linux-perf valgrind
strace"

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: must run as root (it calls apt-get)" >&2
	exit 1
fi
case "${1:-}" in
"") pkgs="$BUILD_PKGS $RUNTIME_PKGS $TEST_PKGS" ;;
--build) pkgs="$BUILD_PKGS $RUNTIME_PKGS" ;;
--runtime-only) pkgs="$RUNTIME_PKGS" ;;
*)
	echo "deps.sh: unknown option '$1' (use --build or --runtime-only)" >&2
	exit 2
	;;
esac

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps.sh: all packages present"
	exit 0
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
