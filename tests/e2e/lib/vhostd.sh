# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# vhostd helpers for e2e tests; source after common.sh:
#
#   . "$(dirname "$0")/lib/common.sh"
#   . "$(dirname "$0")/lib/vhostd.sh"
#
# Env: VHOSTD (binary, default $BUILD_DIR/src/vhostd), VHOSTD_CORES (default: the last CPU),
# VHOSTD_IDLE_SLEEP_US (default 0: busy polling, as in production), VHOSTCTL (default
# $BUILD_DIR/src/tools/vhostctl).

VHOSTD=${VHOSTD:-$BUILD_DIR/src/vhostd}
VHOSTCTL=${VHOSTCTL:-$BUILD_DIR/src/tools/vhostctl}
# The control socket of the configs vhostd_config writes (one per test: instances differ).
VHOSTD_RPC=$E2E_TMP/vhostd.sock
VHOSTD_CORES=${VHOSTD_CORES:-$(($(nproc) - 1))}
VHOSTD_IDLE_SLEEP_US=${VHOSTD_IDLE_SLEEP_US:-0}
[ -x "$VHOSTD" ] || fail "vhostd binary not found at $VHOSTD (build first)"

# vhostd_config FILE — write a config: the global keys (cores, hugemem, socket_dir $E2E_TMP,
# rpc_socket $VHOSTD_RPC, log_level info, idle_sleep_us) followed by stdin (backends:,
# controllers: ...). Prints FILE.
vhostd_config() {
	local file=$1
	{
		echo "cores: \"$VHOSTD_CORES\""
		echo "hugemem: 64"
		echo "socket_dir: $E2E_TMP"
		echo "rpc_socket: $VHOSTD_RPC"
		echo "log_level: info"
		echo "idle_sleep_us: $VHOSTD_IDLE_SLEEP_US"
		cat
	} >"$file"
	echo "$file"
}

# vhostd_start CONFIG [NAME=vhostd] — start vhostd in the background and wait until it reports
# ready; sets VHOSTD_PID and VHOSTD_LOG. Fails the test if it exits first.
vhostd_start() {
	local config=$1 name=${2:-vhostd} t=200
	e2e_spawn "$name" "$VHOSTD" -c "$config"
	VHOSTD_PID=$E2E_PID
	VHOSTD_LOG=$E2E_LOGDIR/$name.log
	until grep -q "ready:" "$VHOSTD_LOG" 2>/dev/null; do
		if ! kill -0 "$VHOSTD_PID" 2>/dev/null; then
			tail -n 20 "$VHOSTD_LOG" >&2 || true
			fail "vhostd exited before it was ready"
		fi
		t=$((t - 1))
		[ "$t" -gt 0 ] || fail "vhostd not ready after 10 s"
		sleep 0.05
	done
	log "vhostd ready (pid $VHOSTD_PID)"
}

# vhostd_stop [PID=$VHOSTD_PID] [SIGNAL=TERM] — signal vhostd, wait up to 20 s, return its exit
# status (fails the test if it does not exit).
vhostd_stop() {
	local pid=${1:-$VHOSTD_PID} sig=${2:-TERM} t=400 rc=0
	kill "-$sig" "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		t=$((t - 1))
		[ "$t" -gt 0 ] || fail "vhostd (pid $pid) still running 20 s after SIG$sig"
		sleep 0.05
	done
	wait "$pid" 2>/dev/null || rc=$?
	_e2e_forget "$pid"
	return "$rc"
}

# vhostd_log_has REGEX — true when the vhostd log matches REGEX.
vhostd_log_has() {
	grep -Eq "$1" "$VHOSTD_LOG"
}

# vhostctl ARGS... — run vhostctl against the test's vhostd (docs/rpc.md).
vhostctl() {
	"$VHOSTCTL" -s "$VHOSTD_RPC" "$@"
}

# vhostd_rpc METHOD [PARAMS_JSON] — one JSON-RPC call; prints the result as JSON, fails
# (status 1, the error on stderr) when vhostd answers with an error.
vhostd_rpc() {
	"$VHOSTCTL" -s "$VHOSTD_RPC" call "$@"
}
