# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Shared helpers for tests/e2e/NNN-*.sh. Source it first thing:
#
#   #!/bin/bash
#   . "$(dirname "$0")/lib/common.sh"
#
# Sourcing sets `set -euo pipefail`, creates a scratch dir ($E2E_TMP, removed at exit unless
# E2E_KEEP=1) and a log dir ($E2E_LOGDIR, kept), and installs a trap that stops every process
# started through e2e_spawn / run_guest_bg. See docs/testing.md.
#
# Environment (all optional):
#   BUILD_DIR      build tree (default: <repository>/build; a relative path is taken from $PWD)
#   E2E_KIT        guest kit dir (default: $BUILD_DIR/e2e-kit)
#   E2E_KIT_FLAVOUR  base (default) or vhostd (vhostd and its tools run inside the guest; see
#                  lib/build-guest.sh); a flavour's kit is $E2E_KIT-FLAVOUR. Set it before
#                  sourcing this file.
#   E2E_LOGDIR     where this test's logs go (default: $BUILD_DIR/e2e-logs/<test name>)
#   E2E_TIMEOUT    seconds one guest run may take before it is killed (default 60)
#   E2E_MEM        guest RAM (default 512M), E2E_SMP vCPUs (default 2)
#   E2E_MEM_OPTS   appended to -m (e.g. slots=2,maxmem=1G for memory hotplug)
#   E2E_PRIVATE_MEM=1  guest RAM not shareable (vhost-user cannot work; negative tests)
#   E2E_APPEND     extra kernel command line for every guest of the test
#   E2E_KEEP=1     keep $E2E_TMP (images, sockets) after the test
#   E2E_VERBOSE=1  copy the guest console to stdout after each run

set -euo pipefail

E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_DIR=$(dirname "$E2E_LIB")
E2E_ROOT=$(cd "$E2E_DIR/../.." && pwd)
E2E_NAME=${E2E_NAME:-$(basename "${0%.sh}")}
BUILD_DIR=${BUILD_DIR:-$E2E_ROOT/build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
E2E_KIT=${E2E_KIT:-$BUILD_DIR/e2e-kit}
E2E_KIT_FLAVOUR=${E2E_KIT_FLAVOUR:-base}
if [ "$E2E_KIT_FLAVOUR" != base ]; then
	E2E_KIT=$E2E_KIT-$E2E_KIT_FLAVOUR
fi
export E2E_KIT_FLAVOUR
E2E_LOGDIR=${E2E_LOGDIR:-$BUILD_DIR/e2e-logs/$E2E_NAME}
E2E_QEMU=${E2E_QEMU:-qemu-system-x86_64}
export BUILD_DIR E2E_KIT

E2E_SKIP_RC=77
# Every process this test starts inherits this tag: the exit trap stops any process carrying
# it, including daemons started inside $(...) subshells whose PIDs the test never learnt.
E2E_RUN_ID="$$.$(date +%s%N)"
export E2E_RUN_ID
E2E_T0=$(date +%s.%N)
E2E_GUEST_SEQ=0
E2E_GUEST_DIR=""       # log dir of the last guest waited for (e2e_result reads it)
E2E_GUEST_PID=""       # PID of the last guest started
E2E_GUEST_RC=""        # script status of the last guest, empty if it never reported one
E2E_GUEST_VERDICT=""   # ok | script-failed | watchdog | timeout | crashed | no-script | qemu-error
E2E_GUEST_SECS=""      # wall seconds from QEMU start to exit
declare -a _e2e_pids=()
declare -A _e2e_pid_name=() _e2e_gdir=() _e2e_gstart=()

# ---------------------------------------------------------------------------------- logging

_e2e_elapsed() {
	awk -v a="$E2E_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# log MSG... — timestamped progress line on stdout.
log() {
	echo "[$(_e2e_elapsed)s] $E2E_NAME: $*"
}

# fail MSG... — log the failure and end the test (status 1; cleanup runs).
fail() {
	echo "[$(_e2e_elapsed)s] $E2E_NAME: FAIL: $*" >&2
	exit 1
}

# skip MSG... — end the test as skipped (status 77).
skip() {
	echo "[$(_e2e_elapsed)s] $E2E_NAME: SKIP: $*"
	exit "$E2E_SKIP_RC"
}

# pass [MSG...] — end the test successfully.
pass() {
	local msg="$*"
	echo "[$(_e2e_elapsed)s] $E2E_NAME: PASS${msg:+: $msg}"
	exit 0
}

# assert_eq EXPECTED ACTUAL WHAT — fail unless equal.
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
	log "ok: $3 = $2"
}

# e2e_require CMD... — skip the test unless every command exists.
e2e_require() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not installed"
	done
}

# ------------------------------------------------------------------- scratch dir and cleanup

mkdir -p "$E2E_LOGDIR"
rm -rf "${E2E_LOGDIR:?}"/*
# Short path on purpose: unix socket paths must stay under 108 bytes.
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vhd-e2e.XXXXXX")
# Scratch on a disk filesystem for backing files opened with O_DIRECT (tmpfs has no O_DIRECT
# on this kernel); removed at exit like $E2E_TMP.
E2E_DIRECT=$(mktemp -d /var/tmp/vhd-e2e.XXXXXX)

# e2e_kill PID [GRACE_S=5] — SIGTERM, then SIGKILL after GRACE_S; reaps it; returns its status
# (0 if it was not our child or already gone).
e2e_kill() {
	local pid=$1 grace=${2:-5} i rc=0
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || rc=$?; return "$rc"; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid (${_e2e_pid_name[$pid]:-?}) ignored SIGTERM for ${grace}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	_e2e_forget "$pid"
	return "$rc"
}

_e2e_forget() {
	local p keep=()
	for p in "${_e2e_pids[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	_e2e_pids=("${keep[@]}")
}

# _e2e_strays — PIDs of live processes tagged with our E2E_RUN_ID, other than this shell.
_e2e_strays() {
	local d p v
	local -a env
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		if [ "$p" = "$$" ] || [ "$p" = "$BASHPID" ]; then
			continue
		fi
		mapfile -d '' env 2>/dev/null <"$d/environ" || continue
		for v in "${env[@]}"; do
			if [ "$v" = "E2E_RUN_ID=$E2E_RUN_ID" ]; then
				echo "$p"
				break
			fi
		done
	done
}

_e2e_reap_strays() {
	local -a strays
	local p i
	mapfile -t strays < <(_e2e_strays)
	[ ${#strays[@]} -gt 0 ] || return 0
	for p in "${strays[@]}"; do
		echo "$E2E_NAME: cleanup: stopping stray process $p: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-120)" >&2
		kill -TERM "$p" 2>/dev/null
	done
	for ((i = 0; i < 30; i++)); do
		mapfile -t strays < <(_e2e_strays)
		[ ${#strays[@]} -gt 0 ] || return 0
		sleep 0.1
	done
	kill -KILL "${strays[@]}" 2>/dev/null
}

_e2e_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	set +e
	for ((i = ${#_e2e_pids[@]} - 1; i >= 0; i--)); do
		e2e_kill "${_e2e_pids[i]}" 3 >/dev/null 2>&1
	done
	_e2e_reap_strays
	if [ "${E2E_KEEP:-0}" = 1 ]; then
		echo "$E2E_NAME: scratch kept in $E2E_TMP and $E2E_DIRECT"
	else
		rm -rf "$E2E_TMP" "$E2E_DIRECT"
	fi
	[ "$rc" -eq 0 ] || [ "$rc" -eq "$E2E_SKIP_RC" ] || echo "$E2E_NAME: logs in $E2E_LOGDIR" >&2
	exit "$rc"
}
trap _e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# e2e_spawn NAME CMD... — start CMD in the background (stdin /dev/null, output to
# $E2E_LOGDIR/NAME.log), register it for cleanup; sets E2E_PID. Call it directly, not in
# $(...): a subshell's E2E_PID is lost (the exit trap still finds the process by its tag).
e2e_spawn() {
	local name=$1
	shift
	"$@" </dev/null >>"$E2E_LOGDIR/$name.log" 2>&1 &
	E2E_PID=$!
	_e2e_pids+=("$E2E_PID")
	_e2e_pid_name[$E2E_PID]=$name
	log "started $name (pid $E2E_PID): $*"
}

# wait_for_socket PATH [TIMEOUT_S=10] [PID] — wait until a unix socket exists at PATH; fail
# early if PID dies meanwhile.
wait_for_socket() {
	local path=$1 t=$(( ${2:-10} * 20 )) pid=${3:-}
	while [ ! -S "$path" ]; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			fail "process $pid (${_e2e_pid_name[$pid]:-?}) exited before creating $path"
		fi
		t=$((t - 1))
		[ "$t" -gt 0 ] || fail "socket $path did not appear"
		sleep 0.05
	done
}

# ----------------------------------------------------------------------------- data helpers

# e2e_disk FILE SIZE — create a sparse raw image (SIZE as for truncate: 256M, 1G …).
e2e_disk() {
	rm -f "$1"
	truncate -s "$2" "$1"
}

# e2e_write_random FILE OFFSET LEN — write LEN random bytes at byte OFFSET of FILE (no
# truncation) and print their md5.
e2e_write_random() {
	local file=$1 off=$2 len=$3 tmp
	tmp=$(mktemp "$E2E_TMP/pattern.XXXXXX")
	head -c "$len" /dev/urandom >"$tmp"
	dd if="$tmp" of="$file" bs=64K oflag=seek_bytes seek="$off" conv=notrunc,fsync status=none
	md5sum <"$tmp" | cut -d' ' -f1
	rm -f "$tmp"
}

# e2e_md5_range FILE OFFSET LEN — md5 of LEN bytes at byte OFFSET of FILE.
e2e_md5_range() {
	dd if="$1" bs=64K iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none |
		md5sum | cut -d' ' -f1
}

# ------------------------------------------------------------------------------- guest kit

# e2e_guest_kit — build (or reuse) the guest kit in $E2E_KIT; sets E2E_KERNEL, E2E_INITRD.
e2e_guest_kit() {
	[ -z "${E2E_KERNEL:-}" ] || return 0
	"$E2E_LIB/build-guest.sh" "$E2E_KIT" >>"$E2E_LOGDIR/kit.log" 2>&1 ||
		{ cat "$E2E_LOGDIR/kit.log" >&2; fail "guest kit build failed"; }
	local KERNEL KVER BOOT
	# shellcheck disable=SC1091
	. "$E2E_KIT/kit.env"
	E2E_KERNEL=$E2E_KIT/$KERNEL
	E2E_INITRD=$E2E_KIT/initramfs.cpio
	export E2E_KVER=$KVER
	[ "$BOOT" = pvh ] || log "note: booting the compressed bzImage (kernel ELF extraction failed)"
}

# ------------------------------------------------------------------------------ guest runs

# vhost_user_blk_args ID SOCKET [NUM_QUEUES=2] [EXTRA_DEVICE_PROPS] — print the QEMU arguments
# (one per line; use with mapfile or $(...)) for a vhost-user-blk-pci disk on SOCKET.
vhost_user_blk_args() {
	printf '%s\n' -chardev "socket,id=$1,path=$2" \
		-device "vhost-user-blk-pci,chardev=$1,num-queues=${3:-2}${4:+,$4}"
}

# vhost_user_scsi_args ID SOCKET [NUM_QUEUES=2] [EXTRA_DEVICE_PROPS] — same for
# vhost-user-scsi-pci (note the property is spelled num_queues there).
vhost_user_scsi_args() {
	printf '%s\n' -chardev "socket,id=$1,path=$2" \
		-device "vhost-user-scsi-pci,chardev=$1,num_queues=${3:-2}${4:+,$4}"
}

# run_guest_bg SCRIPT [QEMU_ARGS...] — boot the guest in the background running SCRIPT (a
# file; helpers of guest/vhd-guest.sh are available to it). Extra QEMU args add devices.
# Env: E2E_TIMEOUT, E2E_MEM, E2E_SMP, E2E_APPEND, E2E_GUEST_NAME (log dir name),
# E2E_GUEST_FILES (space-separated host files, found in the guest as /tmp/files/BASENAME).
# Sets E2E_GUEST_PID; collect it with wait_guest. Logs: $E2E_LOGDIR/<guest>/.
run_guest_bg() {
	local script=$1 tmo=${E2E_TIMEOUT:-60} mem=${E2E_MEM:-512M} smp=${E2E_SMP:-2} dir wd
	shift
	[ -r "$script" ] || fail "run_guest: no script $script"
	e2e_guest_kit
	E2E_GUEST_SEQ=$((E2E_GUEST_SEQ + 1))
	dir=$E2E_LOGDIR/${E2E_GUEST_NAME:-guest-$E2E_GUEST_SEQ}
	mkdir -p "$dir"
	cp "$script" "$dir/script.sh"
	# guest watchdog (counted from kernel start): early enough to report before the host kill
	# even when a loaded host makes QEMU slow to reach the kernel
	wd=$((tmo - 5 - tmo / 10))
	[ "$wd" -ge 5 ] || wd=5
	# E2E_PRIVATE_MEM=1: ordinary guest RAM, which vhost-user cannot use (negative tests).
	# shellcheck disable=SC2054 # commas belong to QEMU options
	local -a memargs=(-object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem)
	[ "${E2E_PRIVATE_MEM:-0}" = 1 ] && memargs=()
	# shellcheck disable=SC2054 # commas belong to QEMU options
	local -a cmd=(timeout -k 5 "$tmo" "$E2E_QEMU"
		-nodefaults -display none -no-reboot -no-user-config
		-accel tcg -machine q35 -cpu max -smp "$smp" -m "$mem${E2E_MEM_OPTS:+,$E2E_MEM_OPTS}"
		"${memargs[@]}"
		-kernel "$E2E_KERNEL" -initrd "$E2E_INITRD"
		-append "console=ttyS0,115200 panic=-1 oops=panic quiet loglevel=3 scsi_mod.scan=sync vhd.timeout=$wd ${E2E_APPEND:-}"
		-serial "file:$dir/console.log" -serial "file:$dir/results.log" -monitor none
		-device isa-debug-exit,iobase=0xf4,iosize=0x04
		-fw_cfg "name=opt/vhd/script,file=$dir/script.sh"
		"$@")
	local f
	for f in ${E2E_GUEST_FILES:-}; do
		[ -r "$f" ] || fail "run_guest: E2E_GUEST_FILES: no file $f"
		cmd+=(-fw_cfg "name=opt/vhd/file/${f##*/},file=$f")
	done
	printf '%q ' "${cmd[@]}" >"$dir/cmdline"
	echo >>"$dir/cmdline"
	: >"$dir/console.log"
	: >"$dir/results.log"
	_e2e_gstart[$dir]=$(date +%s.%N)
	"${cmd[@]}" </dev/null >"$dir/qemu.log" 2>&1 &
	E2E_GUEST_PID=$!
	_e2e_pids+=("$E2E_GUEST_PID")
	_e2e_pid_name[$E2E_GUEST_PID]=qemu
	_e2e_gdir[$E2E_GUEST_PID]=$dir
	log "guest ${dir##*/} started (pid $E2E_GUEST_PID, timeout ${tmo}s)"
}

# wait_guest [PID] — wait for a guest started by run_guest_bg (default: the last one) and
# return the guest script's exit status. When the guest never reported one, return 125 and
# say why (E2E_GUEST_VERDICT): watchdog, timeout, crashed, no-script or qemu-error.
# Also sets E2E_GUEST_RC, E2E_GUEST_SECS, E2E_GUEST_DIR. Prints log tails on failure.
wait_guest() {
	local pid=${1:-$E2E_GUEST_PID} dir qrc=0 end rc
	dir=${_e2e_gdir[$pid]:?wait_guest: unknown guest pid $pid}
	wait "$pid" || qrc=$?
	_e2e_forget "$pid"
	end=$(date +%s.%N)
	E2E_GUEST_DIR=$dir
	E2E_GUEST_SECS=$(awk -v a="${_e2e_gstart[$dir]}" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	E2E_GUEST_RC=$(sed -n 's/^VHD-END rc=\([0-9]*\).*/\1/p' "$dir/results.log" | tail -n1)
	if [ -n "$E2E_GUEST_RC" ]; then
		if [ "$E2E_GUEST_RC" -eq 0 ]; then
			E2E_GUEST_VERDICT=ok
		else
			E2E_GUEST_VERDICT="script-failed"
		fi
	elif grep -q '^VHD-WATCHDOG' "$dir/results.log" || [ "$qrc" -eq 171 ]; then
		E2E_GUEST_VERDICT=watchdog
	elif [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
		E2E_GUEST_VERDICT=timeout
	elif grep -q '^VHD-ERROR no test script' "$dir/results.log"; then
		E2E_GUEST_VERDICT=no-script
	elif [ "$qrc" -ne 0 ] && ! grep -q . "$dir/console.log"; then
		E2E_GUEST_VERDICT=qemu-error
	else
		E2E_GUEST_VERDICT=crashed
	fi
	local up=""
	up=$(sed -n 's/^VHD-BEGIN uptime=\([0-9.]*\).*/\1/p' "$dir/results.log" | tail -n1)
	case "$E2E_GUEST_VERDICT" in
	ok)
		log "guest ${dir##*/}: script passed, ${E2E_GUEST_SECS}s from QEMU start to exit${up:+ (script started at guest uptime ${up}s)}"
		rc=0 ;;
	script-failed)
		log "guest ${dir##*/}: guest script FAILED with status $E2E_GUEST_RC after ${E2E_GUEST_SECS}s"
		rc=$E2E_GUEST_RC ;;
	*)
		log "guest ${dir##*/}: NO RESULT ($E2E_GUEST_VERDICT: $(_e2e_verdict_text "$E2E_GUEST_VERDICT" "$dir"), QEMU status $qrc) after ${E2E_GUEST_SECS}s"
		rc=125 ;;
	esac
	if [ "${E2E_VERBOSE:-0}" = 1 ]; then
		sed 's/^/  console| /' "$dir/console.log"
	fi
	if [ "$rc" -ne 0 ]; then
		_e2e_guest_tails "$dir"
	fi
	return "$rc"
}

_e2e_verdict_text() {
	case "$1" in
	watchdog) echo "the guest watchdog fired: something inside the guest hung" ;;
	timeout) echo "killed by the host timeout (E2E_TIMEOUT=${E2E_TIMEOUT:-60})" ;;
	no-script) echo "the guest found no script in fw_cfg" ;;
	qemu-error) echo "QEMU failed before the guest printed anything: see qemu.log" ;;
	crashed)
		if grep -q 'Kernel panic' "$2/console.log"; then
			echo "kernel panic"
		elif grep -q '^VHD-BEGIN' "$2/results.log"; then
			echo "the guest died while the script ran"
		else
			echo "the guest died before the script started"
		fi ;;
	esac
}

_e2e_guest_tails() {
	local dir=$1 f
	for f in qemu.log console.log results.log; do
		[ -s "$dir/$f" ] || continue
		echo "----- tail of $dir/$f" >&2
		tail -n "${E2E_TAIL_LINES:-40}" "$dir/$f" | tr -d '\r' >&2
	done
	echo "----- end of guest logs" >&2
}

# run_guest SCRIPT [QEMU_ARGS...] — run_guest_bg + wait_guest: boot, wait, return the guest
# script's status (125 = no verdict, see wait_guest). Use as `run_guest s.sh ... || fail ...`.
run_guest() {
	run_guest_bg "$@"
	wait_guest "$E2E_GUEST_PID"
}

# e2e_result KEY [GUEST_DIR] — print the last value the guest script reported with
# `result KEY=VALUE` (default: the last guest waited for); status 1 if it never did.
e2e_result() {
	local key=$1 dir=${2:-$E2E_GUEST_DIR} line
	[ -n "$dir" ] || fail "e2e_result: no guest has run yet"
	line=$(grep -a "^VHD-RESULT $key=" "$dir/results.log" | tail -n1) || return 1
	printf '%s\n' "${line#VHD-RESULT "$key"=}"
}

# wait_guest_result KEY [TIMEOUT_S=30] [PID] — while a guest started with run_guest_bg runs,
# wait until its script has reported KEY (e.g. `result phase=io`) and print the value. Fails
# the test if the guest exits or the time runs out first.
wait_guest_result() {
	local key=$1 t=$(( ${2:-30} * 10 )) pid=${3:-$E2E_GUEST_PID} dir line
	dir=${_e2e_gdir[$pid]:?wait_guest_result: unknown guest pid $pid}
	while :; do
		if line=$(grep -a "^VHD-RESULT $key=" "$dir/results.log" | tail -n1); then
			printf '%s\n' "${line#VHD-RESULT "$key"=}"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			_e2e_guest_tails "$dir"
			fail "guest ${dir##*/} exited before reporting $key"
		fi
		t=$((t - 1))
		if [ "$t" -le 0 ]; then
			_e2e_guest_tails "$dir"
			fail "guest ${dir##*/} did not report $key in ${2:-30}s"
		fi
		sleep 0.1
	done
}

# e2e_guest_script FILE — write stdin to FILE (a heredoc with the guest script) and print
# FILE; convenience for `run_guest "$(e2e_guest_script "$E2E_TMP/g.sh" <<'EOF' ... EOF)"`.
e2e_guest_script() {
	cat >"$1"
	echo "$1"
}

# --------------------------------------------------------------------- qemu-storage-daemon

# e2e_qsd_blk IMAGE SOCKET [NUM_QUEUES=2] [NAME=qsd] — export IMAGE (raw, O_DIRECT, native
# AIO) as a writable vhost-user-blk server on SOCKET; sets E2E_PID to its PID and waits for
# the socket.
e2e_qsd_blk() {
	local img=$1 sock=$2 nq=${3:-2} name=${4:-qsd}
	e2e_require qemu-storage-daemon
	rm -f "$sock"
	e2e_spawn "$name" qemu-storage-daemon \
		--blockdev "driver=file,node-name=f,filename=$img,aio=native,cache.direct=on" \
		--export "type=vhost-user-blk,id=e0,node-name=f,addr.type=unix,addr.path=$sock,writable=on,num-queues=$nq"
	wait_for_socket "$sock" 10 "$E2E_PID"
}
