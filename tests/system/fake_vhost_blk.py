#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A tiny vhost-user-blk back-end (RAM disk) that can be told to misbehave.

Serves one front-end connection on a UNIX socket, then exits. It offers what QEMU's
storage daemon does not (PROTOCOL_F_STATUS, INFLIGHT_SHMFD) so the front-end paths that
rte_vhost-based targets use get exercised, and it can break the protocol in one chosen way
so a front-end's error handling can be tested:

  good        behave (RAM disk, split ring, indirect, EVENT_IDX)
  noreply     never answer GET_FEATURES
  badreply    answer GET_FEATURES with another request code
  noreplyflag answer GET_FEATURES without the REPLY flag
  close       close the connection after GET_PROTOCOL_FEATURES
  nack        REPLY_ACK SET_MEM_TABLE with a failure
  badconfig   answer GET_CONFIG with a short payload
  oldconfig   refuse GET_CONFIG beyond the fields its features cover (empty reply, as
              libvhost-user does for sizes above its struct)
  badid       complete the first request with used id = queue size + 5
  nothead     complete the first request with the id of a non-head descriptor
  badlen      complete the first request with a len larger than the buffers
  dupused     complete the first request twice
  shortlen    report used len 1 for reads (only the status byte)
  stall       never complete anything
  ioerr       complete every request with VIRTIO_BLK_S_IOERR
  nostatus    complete requests without writing the status byte
  badbase     answer GET_VRING_BASE with a wrong index
  corrupt     flip one byte of the data returned by the 10th read
"""
import mmap
import os
import select
import socket
import struct
import sys
import time

HDR = struct.Struct("<III")
REPLY, NEED_REPLY = 0x4, 0x8

F_SEG_MAX, F_BLK_SIZE, F_FLUSH, F_MQ = 2, 6, 9, 12
F_INDIRECT, F_EVENT_IDX, F_PROTOCOL, F_VERSION_1 = 28, 29, 30, 32
P_MQ, P_REPLY_ACK, P_CONFIG, P_INFLIGHT, P_STATUS = 0, 3, 9, 12, 16
DESC_NEXT, DESC_WRITE, DESC_INDIRECT = 1, 2, 4

FEATURES = sum(1 << b for b in (F_SEG_MAX, F_BLK_SIZE, F_FLUSH, F_MQ, F_INDIRECT,
                                F_EVENT_IDX, F_PROTOCOL, F_VERSION_1))
PROTOCOL = sum(1 << b for b in (P_MQ, P_REPLY_ACK, P_CONFIG, P_INFLIGHT, P_STATUS))
NUM_QUEUES = 2
CAPACITY = 16 << 20


class Queue:
    def __init__(self):
        self.num = 0
        self.desc = self.avail = self.used = None
        self.last_avail = 0
        self.used_idx = 0
        self.kick = self.call = None
        self.enabled = False


class Fake:
    def __init__(self, mode, conn):
        self.mode = mode
        self.conn = conn
        self.features = 0
        self.protocol = 0
        self.regions = []  # (gpa, size, uaddr, mm)
        self.queues = [Queue() for _ in range(NUM_QUEUES)]
        self.disk = bytearray(CAPACITY)
        self.reads = 0
        self.broke = False

    # ---- control channel ----
    def recv_msg(self):
        hdr, fds, _, _ = socket.recv_fds(self.conn, HDR.size, 8)
        if len(hdr) == 0:
            return None
        while len(hdr) < HDR.size:
            hdr += self.conn.recv(HDR.size - len(hdr))
        req, flags, size = HDR.unpack(hdr)
        payload = b""
        while len(payload) < size:
            chunk = self.conn.recv(size - len(payload))
            if not chunk:
                return None
            payload += chunk
        return req, flags, payload, fds

    def reply(self, req, payload, fds=(), flags=REPLY | 1):
        msg = HDR.pack(req, flags, len(payload)) + payload
        if fds:
            socket.send_fds(self.conn, [msg], list(fds))
        else:
            self.conn.sendall(msg)

    def reply_u64(self, req, v):
        self.reply(req, struct.pack("<Q", v))

    def uaddr_off(self, ua):
        for gpa, size, uaddr, mm in self.regions:
            if uaddr <= ua < uaddr + size:
                return mm, ua - uaddr
        raise ValueError("user address %#x not in any region" % ua)

    def gpa_off(self, ga):
        for gpa, size, uaddr, mm in self.regions:
            if gpa <= ga < gpa + size:
                return mm, ga - gpa
        raise ValueError("gpa %#x not in any region" % ga)

    def handle(self, req, flags, p, fds):
        m = self.mode
        if req == 1:  # GET_FEATURES
            if m == "noreply":
                time.sleep(30)
            if m == "badreply":
                return self.reply(2, struct.pack("<Q", FEATURES))
            if m == "noreplyflag":
                return self.reply(1, struct.pack("<Q", FEATURES), flags=1)
            return self.reply_u64(1, FEATURES)
        if req == 2:
            self.features = struct.unpack("<Q", p)[0]
        elif req == 15:
            self.reply_u64(15, PROTOCOL)
            if m == "close":
                raise EOFError
            return
        elif req == 16:
            self.protocol = struct.unpack("<Q", p)[0]
        elif req == 17:
            return self.reply_u64(17, NUM_QUEUES)
        elif req == 24:  # GET_CONFIG
            off, size, cflags = struct.unpack_from("<III", p)
            cfg = bytearray(256)
            struct.pack_into("<QII", cfg, 0, CAPACITY // 512, 0, 64)
            struct.pack_into("<I", cfg, 20, 4096)
            struct.pack_into("<H", cfg, 34, NUM_QUEUES)
            if m == "badconfig":
                size -= 4
            if m == "oldconfig" and off + size > 36:
                return self.reply(24, b"")
            return self.reply(24, struct.pack("<III", off, size, cflags) +
                              bytes(cfg[off:off + size]))
        elif req == 31:  # GET_INFLIGHT_FD
            mmap_size, _, nq, qsz = struct.unpack("<QQHH4x", p)
            fd = os.memfd_create("fake-inflight")
            size = nq * (64 + 16 * qsz)
            os.ftruncate(fd, size)
            self.reply(31, struct.pack("<QQHH4x", size, 0, nq, qsz), [fd])
            os.close(fd)
            return
        elif req == 32:  # SET_INFLIGHT_FD
            size = struct.unpack_from("<Q", p)[0]
            mmap.mmap(fds[0], size).close()
        elif req == 5:  # SET_MEM_TABLE
            n = struct.unpack_from("<I", p)[0]
            for i in range(n):
                gpa, size, uaddr, off = struct.unpack_from("<QQQQ", p, 8 + 32 * i)
                mm = mmap.mmap(fds[i], size + off)
                self.regions.append((gpa, size, uaddr, memoryview(mm)[off:]))
            if m == "nack" and flags & NEED_REPLY:
                return self.reply_u64(5, 1)
        elif req in (8, 10, 18):  # SET_VRING_NUM / BASE / ENABLE
            idx, num = struct.unpack("<II", p)
            q = self.queues[idx]
            if req == 8:
                q.num = num
            elif req == 10:
                q.last_avail = q.used_idx = num
            else:
                q.enabled = bool(num)
        elif req == 9:  # SET_VRING_ADDR
            idx, _, d, u, a, _ = struct.unpack("<IIQQQQ", p)
            q = self.queues[idx]
            q.desc, q.used, q.avail = self.uaddr_off(d), self.uaddr_off(u), self.uaddr_off(a)
        elif req in (12, 13):  # SET_VRING_KICK / CALL
            v = struct.unpack("<Q", p)[0]
            fd = fds[0] if fds else None
            if req == 12:
                self.queues[v & 0xff].kick = fd
            else:
                self.queues[v & 0xff].call = fd
        elif req == 11:  # GET_VRING_BASE
            idx = struct.unpack("<II", p)[0]
            q = self.queues[idx]
            base = q.last_avail + (3 if m == "badbase" else 0)
            q.kick = None
            return self.reply(11, struct.pack("<II", idx, base & 0xffff))
        elif req == 39:  # SET_STATUS
            pass
        elif req == 40:
            return self.reply_u64(40, 0xf)
        if flags & NEED_REPLY:
            self.reply_u64(req, 0)

    # ---- data path ----
    def u16(self, loc, off):
        mm, base = loc
        return struct.unpack_from("<H", mm, base + off)[0]

    def put16(self, loc, off, v):
        # One native 16-bit store: struct.pack_into() clears the target bytes before it
        # fills them, so the front-end could see a transient 0 in used->idx.
        mm, base = loc
        mm[base + off:base + off + 2].cast("H")[0] = v & 0xffff

    def chain(self, q, head):
        mm, base = q.desc
        n, i, out = q.num, head, []
        addr, ln, fl, nx = struct.unpack_from("<QIHH", mm, base + 16 * i)
        if fl & DESC_INDIRECT:
            mm, base = self.gpa_off(addr)
            n, i = ln // 16, 0
        for _ in range(n):
            addr, ln, fl, nx = struct.unpack_from("<QIHH", mm, base + 16 * i)
            out.append((addr, ln, fl))
            if not fl & DESC_NEXT:
                break
            i = nx
        return out

    def serve(self, q, head):
        descs = self.chain(q, head)
        rd = b"".join(bytes(self.mem(a, ln)) for a, ln, f in descs if not f & DESC_WRITE)
        wr = [(a, ln) for a, ln, f in descs if f & DESC_WRITE]
        typ, _, sector = struct.unpack_from("<IIQ", rd)
        wlen = sum(ln for _, ln in wr)
        status, written = 0, 1
        pos = sector * 512
        if typ == 0:
            data = bytearray(self.disk[pos:pos + wlen - 1])
            self.reads += 1
            if self.mode == "corrupt" and self.reads == 10:
                data[100] ^= 0xff
            off = 0
            for a, ln in wr:  # data only: the status byte is written below
                n = min(ln, len(data) - off)
                if n > 0:
                    self.mem(a, n)[:] = data[off:off + n]
                off += n
            written = wlen
        elif typ == 1:
            body = rd[16:]
            self.disk[pos:pos + len(body)] = body
        elif typ != 4:
            status = 2
        if self.mode == "ioerr":
            status = 1
        if self.mode != "nostatus":
            a, ln = wr[-1]
            self.mem(a, ln)[ln - 1] = status
        return written

    def mem(self, gpa, ln):
        mm, off = self.gpa_off(gpa)
        return mm[off:off + ln]

    def push(self, q, uid, ln, publish=True):
        mm, base = q.used
        struct.pack_into("<II", mm, base + 4 + 8 * (q.used_idx % q.num), uid, ln)
        q.used_idx = (q.used_idx + 1) & 0xffff
        if publish:
            self.put16(q.used, 2, q.used_idx)

    def process(self, q):
        old = q.used_idx
        while True:
            while q.last_avail != self.u16(q.avail, 2):
                head = self.u16(q.avail, 4 + 2 * (q.last_avail % q.num))
                q.last_avail = (q.last_avail + 1) & 0xffff
                if self.mode == "stall":
                    continue
                ln = self.serve(q, head)
                if self.mode == "shortlen":
                    ln = 1
                uid = head
                if not self.broke and self.mode in ("badid", "nothead", "badlen", "dupused"):
                    self.broke = True
                    if self.mode == "badid":
                        uid = q.num + 5
                    elif self.mode == "nothead":
                        uid = self.chain_next(q, head)
                    elif self.mode == "badlen":
                        ln = 1 << 30
                    else:
                        # Both entries become visible with one index update: published one
                        # by one, the client may reuse the head before the duplicate lands,
                        # and then it looks like a completion of the new request.
                        self.push(q, uid, ln, publish=False)
                self.push(q, uid, ln)
            if self.features & (1 << F_EVENT_IDX):
                self.put16(q.used, 4 + 8 * q.num, q.last_avail)
            if q.last_avail == self.u16(q.avail, 2):
                break
        if q.used_idx != old and q.call is not None:
            if self.features & (1 << F_EVENT_IDX):
                ev = self.u16(q.avail, 4 + 2 * q.num)
                need = ((q.used_idx - ev - 1) & 0xffff) < ((q.used_idx - old) & 0xffff)
            else:
                need = not self.u16(q.avail, 0) & 1
            if need:
                os.write(q.call, struct.pack("<Q", 1))

    def chain_next(self, q, head):
        mm, base = q.desc
        return struct.unpack_from("<QIHH", mm, base + 16 * head)[3]

    def run(self):
        while True:
            kicks = {q.kick: q for q in self.queues if q.kick is not None}
            r, _, _ = select.select([self.conn] + list(kicks), [], [], 30)
            if not r:
                return
            for fd in r:
                if fd is self.conn:
                    msg = self.recv_msg()
                    if msg is None:
                        return
                    self.handle(*msg)
                else:
                    try:
                        os.read(fd, 8)
                    except BlockingIOError:
                        pass
                    self.process(kicks[fd])


def main():
    mode, path = sys.argv[1], sys.argv[2]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    srv.bind(path)
    srv.listen(1)
    conn, _ = srv.accept()
    try:
        Fake(mode, conn).run()
    except (EOFError, ConnectionError):
        pass
    finally:
        conn.close()
        srv.close()
        os.unlink(path)


if __name__ == "__main__":
    main()
