#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Build the e2e guest kit into OUTDIR from the installed Debian packages:
#   OUTDIR/vmlinux          uncompressed kernel ELF (PVH entry; fast under TCG), or
#   OUTDIR/bzImage          the packaged kernel when the ELF cannot be extracted
#   OUTDIR/initramfs.cpio   uncompressed newc: busybox, drivers, fio, sg3-utils, e2fsprogs,
#                           /init (tests/e2e/guest/init), /lib/vhd-guest.sh
#   OUTDIR/kit.env          KVER=, KERNEL=, BOOT= (sourced by common.sh)
#   OUTDIR/stamp            hash of every input; the kit is rebuilt only when it changes
# Usage: build-guest.sh OUTDIR      (env: E2E_KVER to pick a kernel, E2E_KIT_MODULES for
#                                     extra modules loaded before virtio_pci, E2E_KIT_FORCE=1,
#                                     E2E_KIT_FLAVOUR)
# Flavours (E2E_KIT_FLAVOUR):
#   base     (default) what the tests of a vhostd running on the host need
#   vhostd   base plus vhostd, vhost-bench and vub-io from $BUILD_DIR with their libraries,
#            bash and scripts/setup.sh (/usr/share/vhostd/setup.sh), lsblk, and the nvme and
#            vfio-pci/vfio_iommu_type1 drivers: for tests that run vhostd inside the guest
#            (the userspace NVMe backend on an emulated drive behind an emulated IOMMU)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_SRC=$(cd "$HERE/../guest" && pwd)
OUT=${1:?usage: build-guest.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

say() { echo "build-guest: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Modules the guest loads, in this order (dependencies resolved by kit.py). Disk drivers come
# before virtio_pci so that devices are probed by a driver that is already there.
FLAVOUR=${E2E_KIT_FLAVOUR:-base}
FLAVOUR_MODULES=""
# Extra programs (and their libraries) besides busybox.
PROGS="/usr/bin/fio /usr/sbin/mke2fs /usr/sbin/e2fsck /usr/sbin/blkdiscard"
PKGS="busybox-static fio sg3-utils e2fsprogs util-linux libc6"
# vhostd flavour: programs from the build tree, installed as /usr/bin/NAME.
BUILD_BINS=""
case "$FLAVOUR" in
base) ;;
vhostd)
	: "${BUILD_DIR:?E2E_KIT_FLAVOUR=vhostd needs BUILD_DIR (the build tree with vhostd)}"
	FLAVOUR_MODULES="nvme vfio_pci vfio_iommu_type1"
	PROGS="$PROGS /bin/bash /usr/bin/lsblk"
	PKGS="$PKGS bash"
	BUILD_BINS="$BUILD_DIR/src/vhostd $BUILD_DIR/src/tools/vhost-bench/vhost-bench"
	BUILD_BINS="$BUILD_BINS $BUILD_DIR/tests/e2e/tools/vub-io"
	for b in $BUILD_BINS; do
		[ -x "$b" ] || die "$b missing (build first: ninja -C $BUILD_DIR)"
	done
	;;
*) die "unknown E2E_KIT_FLAVOUR '$FLAVOUR' (base or vhostd)" ;;
esac
MODULES="virtio_blk virtio_scsi sd_mod sg qemu_fw_cfg ext4 ${E2E_KIT_MODULES:-} $FLAVOUR_MODULES virtio_pci"

pick_kver() {
	local k best=""
	if [ -n "${E2E_KVER:-}" ]; then
		echo "$E2E_KVER"
		return
	fi
	for k in $(find /lib/modules -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V); do
		[ -r "/boot/vmlinuz-$k" ] && [ -r "/lib/modules/$k/modules.dep" ] && best=$k
	done
	[ -n "$best" ] || die "no kernel with both /boot/vmlinuz-K and /lib/modules/K (install linux-image-amd64)"
	echo "$best"
}

KVER=$(pick_kver)
VMLINUZ=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
[ -r "$VMLINUZ" ] || die "$VMLINUZ not readable"
for t in busybox fio sg_inq mke2fs python3 ldd; do
	command -v "$t" >/dev/null || die "$t missing (run scripts/deps.sh)"
done
BUSYBOX=$(command -v busybox)
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
file_is_static "$BUSYBOX" || die "$BUSYBOX is dynamic; install busybox-static"

stamp() {
	{
		echo "kver=$KVER modules=$MODULES progs=$PROGS flavour=$FLAVOUR"
		stat -Lc 'vmlinuz %s %Y' "$VMLINUZ"
		stat -Lc 'modules.dep %s %Y' "$MODDIR/modules.dep"
		# shellcheck disable=SC2086
		dpkg-query -W -f='${Package}=${Version}\n' $PKGS 2>/dev/null || true
		sha256sum "$HERE/build-guest.sh" "$HERE/kit.py" "$GUEST_SRC"/* | cut -d' ' -f1
		if [ -n "$BUILD_BINS" ]; then
			# shellcheck disable=SC2086
			sha256sum $BUILD_BINS "$HERE/../../../scripts/setup.sh" | cut -d' ' -f1
		fi
	} | sha256sum | cut -d' ' -f1
}
STAMP=$(stamp)

exec 9>"$OUT/.lock"
flock 9
if [ "${E2E_KIT_FORCE:-0}" != 1 ] && [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] &&
	[ -f "$OUT/initramfs.cpio" ] && [ -f "$OUT/kit.env" ]; then
	say "kit in $OUT is up to date ($KVER)"
	exit 0
fi

t0=$(date +%s.%N)
say "building kit for $KVER in $OUT"
rm -f "$OUT/stamp"
WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root

# merged-/usr layout, like the host, so the paths ldd prints resolve inside the guest too
mkdir -p "$R"/usr/{bin,sbin,lib,lib64} "$R"/{proc,sys,dev,tmp,run,root,etc,mnt}
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
chmod 1777 "$R/tmp"

cp "$BUSYBOX" "$R/usr/bin/busybox"
for a in $("$BUSYBOX" --list-full); do
	[ -e "$R/$a" ] || [ -L "$R/$a" ] || ln -s /usr/bin/busybox "$R/$a"
done

declare -A copied=()
# copy_file SRC — copy SRC (dereferenced) to the same path in the image (replacing a
# busybox applet link of that name).
copy_file() {
	local src=$1 dst=$R$1
	[ -z "${copied[$src]:-}" ] || return 0
	copied[$src]=1
	mkdir -p "$(dirname "$dst")"
	rm -f "$dst"
	cp -L "$src" "$dst"
}
# copy_elf BIN — copy BIN plus the interpreter and every library ldd lists.
copy_elf() {
	local bin=$1 lib
	copy_file "$bin"
	for lib in $(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		copy_file "$lib"
	done
}

for p in $PROGS; do
	[ -x "$p" ] || die "$p missing"
	copy_elf "$p"
done
for b in $BUILD_BINS; do
	install -m 0755 "$b" "$R/usr/bin/${b##*/}"
	for lib in $(ldd "$b" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		copy_file "$lib"
	done
done
if [ "$FLAVOUR" = vhostd ]; then
	install -D -m 0755 "$HERE/../../../scripts/setup.sh" "$R/usr/share/vhostd/setup.sh"
	# DPDK's runtime directory lives under /var/run; vhostd's defaults use /var/tmp.
	mkdir -p "$R/var/tmp"
	ln -s ../run "$R/var/run"
fi
ln -sf mke2fs "$R/usr/sbin/mkfs.ext4"
ln -sf e2fsck "$R/usr/sbin/fsck.ext4"
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$R/etc/"
nsg=0
for p in $(dpkg -L sg3-utils | grep -E '^/usr/bin/sg' | sort); do
	if [ -f "$p" ] && head -c4 "$p" | grep -q ELF; then
		copy_elf "$p"
		nsg=$((nsg + 1))
	fi
done
[ "$nsg" -gt 0 ] || die "no sg3-utils binaries found"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"

mkdir -p "$R/lib/vhd"
# shellcheck disable=SC2086
python3 "$HERE/kit.py" modules "$MODDIR" "$R/lib/vhd/modules" $MODULES >"$R/lib/vhd/modules.load" ||
	die "module resolution failed"
install -m 0755 "$GUEST_SRC/init" "$R/init"
install -m 0644 "$GUEST_SRC/vhd-guest.sh" "$R/lib/vhd-guest.sh"

if python3 "$HERE/kit.py" vmlinux "$VMLINUZ" "$WORK/vmlinux" >&2; then
	KERNEL=vmlinux BOOT=pvh
else
	say "warning: cannot extract the kernel ELF; falling back to the bzImage (slower boot)"
	cp "$VMLINUZ" "$WORK/bzImage"
	KERNEL=bzImage BOOT=bzimage
fi

python3 "$HERE/kit.py" cpio "$R" "$WORK/initramfs.cpio" \
	dev/console:c:5:1:600 dev/null:c:1:3:666 dev/ttyS0:c:4:64:600 dev/ttyS1:c:4:65:600

rm -f "$OUT/vmlinux" "$OUT/bzImage"
mv "$WORK/$KERNEL" "$OUT/$KERNEL"
mv "$WORK/initramfs.cpio" "$OUT/initramfs.cpio"
cp "$R/lib/vhd/modules.load" "$OUT/modules.load"
printf 'KVER=%s\nKERNEL=%s\nBOOT=%s\n' "$KVER" "$KERNEL" "$BOOT" >"$OUT/kit.env"
echo "$STAMP" >"$OUT/stamp"
t1=$(date +%s.%N)
say "kit ready: $KERNEL ($BOOT), initramfs $(($(stat -c %s "$OUT/initramfs.cpio") / 1048576)) MiB," \
	"$(wc -l <"$OUT/modules.load") modules, $nsg sg3-utils tools, built in" \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
