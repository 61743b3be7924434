# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=dash
# Guest-side helpers of the NVMe e2e tests (busybox ash), handed to the guest as
# /tmp/files/nvme-guest.sh; source it from the guest script. vhostd runs in the guest on CPU 1
# (CPU 0 for vhost-bench and the rest), its config and log in /tmp.

SETUP=/usr/share/vhostd/setup.sh
# bash process substitution (setup.sh) needs /dev/fd, which devtmpfs does not provide.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd

# pci_driver BDF — driver bound to a PCI device, or "none".
pci_driver() {
	local l
	l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) || { echo none; return 0; }
	echo "${l##*/}"
}

# nvme_bdf — PCI address of the first NVMe controller.
nvme_bdf() {
	local d
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/class")" = 0x010802 ]; then
			echo "${d##*/}"
			return 0
		fi
	done
	fail "no NVMe controller in the guest"
}

# nvme_bind_vfio BDF — hand the controller to vfio-pci with the project's setup script, as
# docs/nvme.md tells users to (64 MiB of huge pages too). modprobe is not needed: /init
# loaded the modules.
nvme_bind_vfio() {
	NRHUGE=32 PCI_ALLOWED=$1 MODPROBE=true bash "$SETUP" config || fail "setup.sh config failed"
	[ "$(pci_driver "$1")" = vfio-pci ] || fail "$1 is not bound to vfio-pci"
}

# nvme_bind_kernel — undo nvme_bind_vfio (back to the kernel's nvme driver); waits for
# /dev/nvme0n1.
nvme_bind_kernel() {
	bash "$SETUP" reset || fail "setup.sh reset failed"
	wait_dev /dev/nvme0n1 30 || fail "/dev/nvme0n1 did not come back"
}

# vhostd_refused BDF REGEX — vhostd with the nvme backend on BDF must exit with status 1 at
# start and log a line matching REGEX (grep -E); the log is printed.
vhostd_refused() {
	local rc=0
	{
		printf 'cores: "1"\nhugemem: 64\nsocket_dir: /tmp\nbackends:\n'
		printf '  - {name: nvme0, type: nvme, pci: "%s"}\n' "$1"
		printf 'controllers:\n  - {name: blk0, type: blk, backend: nvme0}\n'
	} >/tmp/refused.yaml
	timeout 60 vhostd -c /tmp/refused.yaml >/tmp/refused.log 2>&1 || rc=$?
	grep -v "^EAL\|^TELEMETRY" /tmp/refused.log
	[ "$rc" -eq 1 ] || fail "vhostd exit status $rc, not 1"
	grep -Eq "$2" /tmp/refused.log || fail "vhostd did not say: $2"
}

# vhostd_run CONFIG_BODY — start vhostd with the common keys plus CONFIG_BODY (backends:,
# controllers:); waits until ready. Sets vhostd_pid.
vhostd_run() {
	local t=600
	{
		echo 'cores: "1"'
		echo "hugemem: 64"
		echo "socket_dir: /tmp"
		echo "log_level: info"
		echo "$1"
	} >/tmp/vhostd.yaml
	vhostd -c /tmp/vhostd.yaml >>/tmp/vhostd.log 2>&1 &
	vhostd_pid=$!
	until grep -q "ready:" /tmp/vhostd.log 2>/dev/null; do
		if ! kill -0 "$vhostd_pid" 2>/dev/null; then
			cat /tmp/vhostd.log
			fail "vhostd exited before it was ready"
		fi
		t=$((t - 1))
		[ "$t" -gt 0 ] || { cat /tmp/vhostd.log; fail "vhostd not ready after 60 s"; }
		sleep 0.1
	done
	log "vhostd ready (pid $vhostd_pid)"
}

# nvme_vhostd_start BDF SERIAL [NUM_QUEUES=2] — vhostd with the nvme backend on namespace 1
# of BDF, a virtio-blk controller /tmp/blk0.
nvme_vhostd_start() {
	: >/tmp/vhostd.log
	vhostd_run "backends:
  - {name: nvme0, type: nvme, pci: \"$1\", namespace: 1}
controllers:
  - {name: blk0, type: blk, backend: nvme0, num_queues: ${3:-2}, serial: $2}"
}

# nvme_vhostd_start_aio PATH SERIAL [NUM_QUEUES=2] — the same with the aio backend on PATH.
nvme_vhostd_start_aio() {
	: >/tmp/vhostd-aio.log
	vhostd_run "backends:
  - {name: disk0, type: aio, path: $1}
controllers:
  - {name: blk0, type: blk, backend: disk0, num_queues: ${3:-2}, serial: $2}"
}

# nvme_vhostd_stop — SIGTERM, wait; sets vhostd_rc (and prints the log).
# shellcheck disable=SC2034 # vhostd_rc is read by the test script
nvme_vhostd_stop() {
	kill -TERM "$vhostd_pid"
	vhostd_rc=0
	wait "$vhostd_pid" || vhostd_rc=$?
	cat /tmp/vhostd.log
}
