#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Host-side helpers for building the e2e guest kit (called by build-guest.sh).

Subcommands:
  vmlinux BZIMAGE OUT        cut the compressed payload out of a bzImage, decompress it and
                             write it to OUT if it is an x86-64 ELF; exit 1 otherwise
  modules MODDIR DEST NAME.. resolve NAMEs (module names or aliases) against MODDIR's
                             modules.dep/modules.softdep/modules.alias, copy the .ko files
                             (decompressed) into DEST and print the load order, one
                             "FILE required|optional NAME" line per module
  cpio SRCDIR OUT [NODE..]   write an uncompressed newc archive of SRCDIR (owner root) to OUT,
                             plus device nodes given as "path:c|b:major:minor:mode(octal)"
"""

import bz2
import gzip
import lzma
import os
import shutil
import stat
import subprocess
import sys
import zlib

# --------------------------------------------------------------------------------------------
# vmlinux extraction

# Magic bytes of the payload formats a bzImage may carry (the kernel's CONFIG_KERNEL_*).
MAGICS = [
    ("xz", b"\xfd7zXZ\x00"),
    ("gzip", b"\x1f\x8b\x08"),
    ("zstd", b"\x28\xb5\x2f\xfd"),
    ("bzip2", b"BZh"),
    ("lzma", b"\x5d\x00\x00\x00"),
]


def _decompress(kind, blob):
    """Decompress the stream starting at blob[0]; trailing bytes after the stream are ignored."""
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)
    if kind == "lzma":
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(blob)
    if kind == "gzip":
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(blob)
    if kind == "bzip2":
        return bz2.BZ2Decompressor().decompress(blob)
    if kind == "zstd":
        if not shutil.which("zstd"):
            raise ValueError("zstd tool not installed")
        out = subprocess.run(["zstd", "-dcq"], input=blob, capture_output=True)
        return out.stdout  # trailing garbage makes zstd complain but the frame is complete
    raise ValueError(kind)


def _is_elf64_x86(data):
    return len(data) > 64 and data[:4] == b"\x7fELF" and data[4] == 2 and data[18] == 0x3E


def cmd_vmlinux(src, out):
    with open(src, "rb") as f:
        image = f.read()
    if _is_elf64_x86(image):
        shutil.copyfile(src, out)
        print(f"{src}: already an ELF")
        return 0
    tried = []
    for kind, magic in MAGICS:
        pos = image.find(magic)
        while pos >= 0:
            try:
                data = _decompress(kind, image[pos:])
            except (lzma.LZMAError, zlib.error, OSError, ValueError, EOFError) as e:
                tried.append(f"{kind}@{pos}: {e}")
                data = b""
            if _is_elf64_x86(data):
                tmp = out + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.rename(tmp, out)
                print(f"{src}: {kind} payload at offset {pos}, ELF of {len(data)} bytes")
                return 0
            if data:
                tried.append(f"{kind}@{pos}: decompressed, not an x86-64 ELF")
            pos = image.find(magic, pos + 1)
    print(f"{src}: no ELF payload found ({'; '.join(tried[:6]) or 'no known magic'})",
          file=sys.stderr)
    return 1


# --------------------------------------------------------------------------------------------
# module resolution

# Soft dependencies the kernel expresses at run time (crypto_alloc_shash → request_module) and
# that modules.softdep does not list in a usable form for plain insmod.
EXTRA_PRE = {
    "crc_t10dif": ["crypto-crct10dif"],
    "crc64_rocksoft": ["crypto-crc64-rocksoft"],
    "ext4": ["crypto-crc32c"],
    "jbd2": ["crypto-crc32c"],
    "libcrc32c": ["crypto-crc32c"],
}


def _norm(name):
    return name.replace("-", "_")


def _modname(path):
    base = os.path.basename(path)
    for suf in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(suf):
            return _norm(base[: -len(suf)])
    return _norm(base)


class ModDB:
    def __init__(self, moddir):
        self.moddir = moddir
        self.path = {}  # name -> relpath
        self.deps = {}  # name -> [name]
        with open(os.path.join(moddir, "modules.dep")) as f:
            for line in f:
                if ":" not in line:
                    continue
                mod, rest = line.split(":", 1)
                name = _modname(mod)
                self.path[name] = mod.strip()
                self.deps[name] = [_modname(d) for d in rest.split()]
        self.alias = {}  # alias -> [name]
        with open(os.path.join(moddir, "modules.alias")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "alias":
                    self.alias.setdefault(parts[1], []).append(_norm(parts[2]))
        self.softpre = {}
        sd = os.path.join(moddir, "modules.softdep")
        if os.path.exists(sd):
            with open(sd) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) < 3 or parts[0] != "softdep":
                        continue
                    mod, mode = _norm(parts[1]), None
                    for tok in parts[2:]:
                        if tok in ("pre:", "post:"):
                            mode = tok
                        elif mode == "pre:":
                            self.softpre.setdefault(mod, []).append(tok)
        self.builtin = set()
        bi = os.path.join(moddir, "modules.builtin")
        if os.path.exists(bi):
            with open(bi) as f:
                self.builtin = {_modname(line.strip()) for line in f if line.strip()}

    def resolve(self, name):
        """Module names a name or alias stands for (possibly several, e.g. generic + asm)."""
        n = _norm(name)
        if n in self.path or n in self.builtin:
            return [n] if n in self.path else []
        out = []
        for cand in (name, n, name.replace("_", "-")):
            for m in self.alias.get(cand, []):
                if m in self.path and m not in out:
                    out.append(m)
        if not out and n not in self.builtin:
            raise KeyError(name)
        return out


def cmd_modules(moddir, dest, names):
    db = ModDB(moddir)
    order, state = [], {}  # state: name -> "visiting" | "done"
    optional = set()

    def visit(name, is_optional, stack):
        if state.get(name) == "done":
            if not is_optional:
                optional.discard(name)
            return
        if state.get(name) == "visiting":
            return  # soft dependency loop (alias resolving back): ignore
        state[name] = "visiting"
        for pre in db.softpre.get(name, []) + EXTRA_PRE.get(name, []):
            try:
                targets = db.resolve(pre)
            except KeyError:
                continue
            for t in targets:
                if t != name and t not in stack:
                    visit(t, True, stack + [name])
        for d in db.deps.get(name, []):
            visit(d, is_optional, stack + [name])
        state[name] = "done"
        order.append(name)
        if is_optional:
            optional.add(name)

    for want in names:
        try:
            targets = db.resolve(want)
        except KeyError:
            print(f"unknown module or alias: {want}", file=sys.stderr)
            return 1
        for t in targets:
            visit(t, False, [])

    os.makedirs(dest, exist_ok=True)
    for name in order:
        rel = db.path[name]
        src = os.path.join(moddir, rel)
        out = os.path.join(dest, name + ".ko")
        with open(src, "rb") as f:
            data = f.read()
        if rel.endswith(".xz"):
            data = lzma.decompress(data)
        elif rel.endswith(".gz"):
            data = gzip.decompress(data)
        elif rel.endswith(".zst"):
            data = subprocess.run(["zstd", "-dcq"], input=data, check=True,
                                  capture_output=True).stdout
        with open(out, "wb") as f:
            f.write(data)
        print(f"{name}.ko {'optional' if name in optional else 'required'} {name}")
    return 0


# --------------------------------------------------------------------------------------------
# newc cpio writer (no root needed for device nodes, every entry owned by root)


class Cpio:
    def __init__(self, out):
        self.f = open(out, "wb")
        self.ino = 1

    def _pad(self):
        n = (-self.f.tell()) % 4
        if n:
            self.f.write(b"\0" * n)

    def entry(self, name, mode, data=b"", rdev=(0, 0), mtime=0, nlink=1):
        nameb = name.encode() + b"\0"
        hdr = "070701" + "".join(
            f"{v:08X}"
            for v in (self.ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1],
                      len(nameb), 0))
        self.ino += 1
        self.f.write(hdr.encode() + nameb)
        self._pad()
        self.f.write(data)
        self._pad()

    def close(self):
        self.entry("TRAILER!!!", 0)
        self.f.close()


def cmd_cpio(src, out, nodes):
    c = Cpio(out + ".tmp")
    for root, dirs, files in os.walk(src):
        dirs.sort()
        rel_root = os.path.relpath(root, src)
        entries = sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]
        if rel_root != ".":
            st = os.lstat(root)
            c.entry(rel_root, stat.S_IFDIR | (st.st_mode & 0o7777), nlink=2)
        for name in sorted(entries):
            p = os.path.join(root, name)
            rel = os.path.normpath(os.path.join(rel_root, name))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                c.entry(rel, stat.S_IFLNK | 0o777, os.readlink(p).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    c.entry(rel, stat.S_IFREG | (st.st_mode & 0o7777), f.read())
        # symlinks to directories were emitted above; do not descend into them
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    for spec in nodes:
        path, kind, major, minor, mode = spec.split(":")
        ftype = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
        c.entry(path, ftype | int(mode, 8), rdev=(int(major), int(minor)))
    c.close()
    os.rename(out + ".tmp", out)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "vmlinux":
        return cmd_vmlinux(argv[1], argv[2])
    if len(argv) >= 4 and argv[0] == "modules":
        return cmd_modules(argv[1], argv[2], argv[3:])
    if len(argv) >= 3 and argv[0] == "cpio":
        return cmd_cpio(argv[1], argv[2], argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
