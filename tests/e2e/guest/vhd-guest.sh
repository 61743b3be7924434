# shellcheck shell=dash
# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=dash  # busybox ash: POSIX sh plus local
# Helpers for e2e guest test scripts. /init sources this file before the script, so a script
# just calls them. Busybox ash: POSIX sh plus `local`. Output goes to the console (ttyS0);
# only `result`/`result_file` write to the result port (ttyS1) that the host parses.

VHD_RESULT_TTY=${VHD_RESULT_TTY:-/dev/ttyS1}
_vhd_fio_seq=0

# log MSG... — a timestamped line on the console.
log() {
	echo "[$(cut -d' ' -f1 /proc/uptime)] $*"
}

# result KEY=VALUE... — report values to the host (read there with `e2e_result KEY`).
result() {
	local kv
	for kv in "$@"; do
		case "$kv" in
		*=*) ;;
		*) echo "result: '$kv' is not KEY=VALUE" >&2; return 2 ;;
		esac
		echo "VHD-RESULT $kv" >"$VHD_RESULT_TTY"
		log "result $kv"
	done
}

# fail MSG... — log, report fail=MSG and end the script with status 1.
fail() {
	log "FAIL: $*"
	echo "VHD-RESULT fail=$*" >"$VHD_RESULT_TTY"
	exit 1
}

# no_final_sync — /init skips its bounded `sync` after the script (for tests that break
# the backend on purpose).
no_final_sync() {
	: >/tmp/.vhd-nosync
}

# wait_dev PATH [TIMEOUT_S=10] — wait until PATH exists (block device, sysfs node …).
wait_dev() {
	local path=$1 t=$(( ${2:-10} * 10 ))
	while [ ! -e "$path" ]; do
		t=$((t - 1))
		[ "$t" -gt 0 ] || { log "wait_dev: $path did not appear"; return 1; }
		sleep 0.1
	done
}

# disk_serial NAME — serial of /sys/block/NAME: virtio-blk `serial`, or the SCSI unit serial
# number (VPD page 0x80) for sd devices.
disk_serial() {
	local n=$1 f
	if [ -r "/sys/block/$n/serial" ]; then
		cat "/sys/block/$n/serial" 2>/dev/null
		return
	fi
	f=/sys/block/$n/device/vpd_pg80
	if [ -r "$f" ]; then
		# 4-byte header, then the serial (ASCII, may be space padded)
		dd if="$f" bs=1 skip=4 2>/dev/null | tr -d '\000' | sed 's/^ *//; s/ *$//'
	fi
}

# find_disk_by_serial SERIAL [TIMEOUT_S=10] — print /dev/NAME of the disk with that serial.
find_disk_by_serial() {
	local want=$1 t=$(( ${2:-10} * 10 )) d n s
	while :; do
		for d in /sys/block/*; do
			[ -e "$d" ] || continue
			n=${d##*/}
			s=$(disk_serial "$n")
			if [ -n "$s" ] && [ "$s" = "$want" ]; then
				echo "/dev/$n"
				return 0
			fi
		done
		t=$((t - 1))
		[ "$t" -gt 0 ] || break
		sleep 0.1
	done
	log "find_disk_by_serial: no disk with serial '$want'"
	return 1
}

# list_disks — one line per block device: name, size in bytes, serial.
list_disks() {
	local d n
	for d in /sys/block/*; do
		[ -e "$d/size" ] || continue
		n=${d##*/}
		case "$n" in loop*|ram*) continue ;; esac
		echo "$n $(($(cat "$d/size") * 512)) $(disk_serial "$n")"
	done
}

# disk_size DEV — size in bytes.
disk_size() {
	blockdev --getsize64 "$1"
}

# fio_verify DEV [FIO_OPTS...] — write then verify DEV with crc32c checksums (O_DIRECT,
# libaio). Defaults: randwrite, bs=4k, size=32M, iodepth=16; later options override.
# Prints fio's report; returns non-zero on any error or verify failure.
fio_verify() {
	local dev=$1 out rc
	shift
	_vhd_fio_seq=$((_vhd_fio_seq + 1))
	out=/tmp/fio-$_vhd_fio_seq.txt
	fio --name=verify --filename="$dev" --ioengine=libaio --direct=1 \
		--rw=randwrite --bs=4k --size=32M --iodepth=16 \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --verify_backlog=0 \
		--group_reporting=1 --eta=never --output="$out" "$@"
	rc=$?
	cat "$out"
	if [ "$rc" -ne 0 ] || grep -q 'verify: bad\|crc32c: verify failed\|err=[ ]*[1-9]' "$out"; then
		log "fio_verify $dev: FAILED (rc=$rc)"
		return 1
	fi
	log "fio_verify $dev: ok"
}

# fio_run DEV [FIO_OPTS...] — plain fio job (no verify) with the same defaults; report printed.
fio_run() {
	local dev=$1 out rc
	shift
	_vhd_fio_seq=$((_vhd_fio_seq + 1))
	out=/tmp/fio-$_vhd_fio_seq.txt
	fio --name=run --filename="$dev" --ioengine=libaio --direct=1 \
		--rw=randrw --bs=4k --size=32M --iodepth=16 --group_reporting=1 --eta=never \
		--output="$out" "$@"
	rc=$?
	cat "$out"
	[ "$rc" -eq 0 ] || log "fio_run $dev: FAILED (rc=$rc)"
	return "$rc"
}

# md5_range DEV OFFSET LEN — md5 of LEN bytes at OFFSET (both multiples of 4096), read with
# O_DIRECT so the page cache cannot hide what the device returns.
md5_range() {
	local dev=$1 off=$2 len=$3
	if [ $((off % 4096)) -ne 0 ] || [ $((len % 4096)) -ne 0 ]; then
		echo "md5_range: offset and length must be multiples of 4096" >&2
		return 2
	fi
	dd if="$dev" bs=4096 skip=$((off / 4096)) count=$((len / 4096)) iflag=direct 2>/dev/null |
		md5sum | cut -d' ' -f1
}

# write_random DEV OFFSET LEN — write LEN random bytes at OFFSET (multiples of 4096) with
# O_DIRECT + fsync, and print their md5.
write_random() {
	local dev=$1 off=$2 len=$3 tmp=/tmp/vhd-pattern.$$
	if [ $((off % 4096)) -ne 0 ] || [ $((len % 4096)) -ne 0 ]; then
		echo "write_random: offset and length must be multiples of 4096" >&2
		return 2
	fi
	dd if=/dev/urandom of="$tmp" bs=4096 count=$((len / 4096)) 2>/dev/null || return 1
	if ! dd if="$tmp" of="$dev" bs=4096 seek=$((off / 4096)) oflag=direct conv=notrunc,fsync \
		2>/dev/null; then
		rm -f "$tmp"
		echo "write_random: write to $dev failed" >&2
		return 1
	fi
	md5sum "$tmp" | cut -d' ' -f1
	rm -f "$tmp"
}

# bounded SECS CMD... — run CMD, kill it after SECS (e.g. `bounded 10 sync` on a disk whose
# backend may be gone). Returns CMD's status, or 124/143 when it was killed.
bounded() {
	local s=$1
	shift
	timeout "$s" "$@"
}

# scsi_sense DEV CDB_BYTE... — send a CDB with sg_raw (DEV: /dev/sgN or /dev/sdX) and print
# "GOOD" or the sense as hex KEY/ASC/ASCQ (e.g. "05/20/00" = illegal request, invalid
# opcode); "ERR" when no sense could be read. The sg_raw report is kept in /tmp/sg_raw.out.
# Extra sg_raw options (e.g. -r 512, -s 512 -i FILE) go before DEV: `scsi_sense -r 512 /dev/sg0 28 ...`.
scsi_sense() {
	local out=/tmp/sg_raw.out
	if sg_raw -v "$@" >"$out" 2>&1; then
		echo GOOD
		return 0
	fi
	awk '
		/[Rr]aw sense data/ { grab = 1; next }
		grab && /^[ \t]*([0-9a-fA-F][0-9a-fA-F][ \t]*)+$/ {
			for (i = 1; i <= NF; i++) b[n++] = tolower($i)
			next
		}
		grab { grab = 0 }
		END {
			if (n >= 14 && (b[0] == "70" || b[0] == "71"))
				printf "0%s/%s/%s\n", substr(b[2], 2, 1), b[12], b[13]
			else if (n >= 4 && (b[0] == "72" || b[0] == "73"))
				printf "0%s/%s/%s\n", substr(b[1], 2, 1), b[2], b[3]
			else
				print "ERR"
		}' "$out"
}
