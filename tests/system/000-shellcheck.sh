#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Every shell script in scripts/ and tests/ passes shellcheck. Since scripts/deps.sh
# installs the linter (TEST_PKGS), its absence is a failure, not a skip.
set -euo pipefail
# shellcheck source=tests/system/lib.sh
source "$(dirname "$0")/lib.sh"

command -v shellcheck >/dev/null || fail "shellcheck is not installed (scripts/deps.sh installs it)"
cd "$REPO_ROOT"
mapfile -t files < <(find scripts tests -type f -name '*.sh' | sort)
[[ ${#files[@]} -gt 0 ]] || fail "no shell scripts found under scripts/ and tests/"
# -x follows "source" lines, so tests are checked together with lib.sh.
if ! out=$(shellcheck -x "${files[@]}" 2>&1); then
	fail "shellcheck found problems:"$'\n'"$out"
fi
pass "shellcheck is clean on ${#files[@]} scripts"
