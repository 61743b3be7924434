#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Graceful restart: the same scenario as 030 with SIGTERM instead of SIGKILL (vhostd finishes
# in-flight I/O, exits 0, and the restarted instance takes over the reconnecting front-end).
E2E_NAME=031-recovery-sigterm SIG=TERM exec "$(dirname "$0")/030-recovery-sigkill.sh" "$@"
