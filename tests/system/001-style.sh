#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The mechanical style rules (scripts/check-style.sh) hold for every C source.
set -euo pipefail
exec "$(dirname "$0")/../../scripts/check-style.sh"
