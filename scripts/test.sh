#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Run the whole vhostd test suite, as CI does:
#   1. install the Debian packages it needs (scripts/deps.sh),
#   2. build twice: release-like (build/) and with ASan+UBSan (build-asan/),
#   3. unit tests (Criterion) under the sanitizers, then in the plain build,
#   4. system tests (tests/system: scripts, tools, host setup),
#   5. end-to-end tests with QEMU and a real Linux guest (tests/e2e).
# Usage: sudo ./scripts/test.sh [unit|system|e2e ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(unit system e2e)
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

start=$(date +%s)
section() { printf '\n==== %s (%ds)\n' "$*" $(($(date +%s) - start)); }

section "dependencies"
./scripts/deps.sh

section "build"
[ -f build/build.ninja ] || meson setup build
ninja -C build
[ -f build-asan/build.ninja ] ||
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan

failed=()
if want unit; then
	section "unit tests (ASan+UBSan)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --suite unit --print-errorlogs || failed+=(unit-asan)
	section "unit tests"
	meson test -C build --suite unit --print-errorlogs || failed+=(unit)
fi
if want system; then
	section "system tests"
	for t in tests/system/[0-9][0-9][0-9]-*.sh; do
		echo "---- $t"
		if BUILD_DIR=build "$t" build; then
			echo "PASS $t"
		else
			echo "FAIL $t"
			failed+=("$t")
		fi
	done
fi
if want e2e; then
	section "end-to-end tests"
	BUILD_DIR=build tests/e2e/run.sh build || failed+=(e2e)
fi

section "done"
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}"
	exit 1
fi
echo "all stages passed"
