#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""vhostd benchmark suite: measures, writes results.json; report.py turns it into tables.

Run it through tests/bench/run.sh, which builds what it needs first. Parts:

  matrix    vhostd (null, malloc, aio) and qemu-storage-daemon (null-co, file aio=native,
            file aio=io_uring) driven by vhost-bench, plus fio libaio on the same file:
            4 KiB randread/randwrite, QD 1/32/128, 1 and 2 queues. Server on CPU 1,
            client on CPU 0.
  scaling   vhostd null: 1, 2, 4 controllers (one vhost-bench each) x 1-2 queues, on one
            polling core and on two.
  counters  system calls (perf tracepoints, else strace), heap allocations and lock calls
            (LD_PRELOAD counter) per I/O, per thread, during a run.
  profile   valgrind --tool=callgrind on the server during a run: instructions per I/O and
            where they go (perf cannot count instructions on every machine; callgrind can).

Nothing here asserts a speed: the figures are recorded with the machine and its load.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")
GIB = 1 << 30

DISK_SERVERS = ["vhostd-aio", "qsd-native", "qsd-uring", "fio-libaio"]
SERVERS = ["vhostd-null", "vhostd-malloc", "vhostd-aio", "qsd-null", "qsd-native", "qsd-uring",
           "fio-libaio"]
PARTS = ["matrix", "scaling", "counters", "profile"]

# Syscalls worth naming in the counters part (those missing on this kernel are skipped).
SYSCALLS = ["io_submit", "io_getevents", "io_pgetevents", "io_uring_enter", "write", "read",
            "writev", "readv", "pwritev2", "preadv2", "futex", "nanosleep", "clock_nanosleep",
            "ppoll", "epoll_wait", "epoll_pwait", "poll", "mmap", "munmap", "brk", "madvise"]


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# /proc sampling

def proc_cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks; None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def system_busy_ticks():
    """(busy, steal) clock ticks summed over all CPUs; busy = user nice system irq softirq
    steal. Steal is time the hypervisor gave our virtual CPUs to someone else."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    v = [int(x) for x in fields[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[7]


def involuntary_switches(pid):
    """Times the threads of pid were preempted (nonvoluntary_ctxt_switches, summed)."""
    n = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("nonvoluntary_ctxt_switches:"):
                        n += int(line.split()[1])
        except OSError:
            pass
    return n


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def threads_of(pid):
    out = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    out[int(tid)] = f.read().strip()
            except OSError:
                pass
    except OSError:
        pass
    return out


# The block device under the image (set by prepare_image); its I/O is sampled like the CPU.
DISK = {"name": None}


def disk_counts():
    """(I/Os completed, sectors) of DISK["name"] from /proc/diskstats, or (0, 0)."""
    name = DISK["name"]
    if not name:
        return 0, 0
    with open("/proc/diskstats") as f:
        for line in f:
            v = line.split()
            if len(v) >= 10 and v[2] == name:
                return int(v[3]) + int(v[7]), int(v[5]) + int(v[9])
    return 0, 0


class Window:
    """CPU use of the server, the clients and everything else, and the I/O of the image's
    disk, between start() and stop()."""

    def __init__(self, server_pids, client_pids):
        self.server_pids = [p for p in server_pids if p]
        self.client_pids = [p for p in client_pids if p]

    def _sample(self):
        return (time.monotonic(), system_busy_ticks(),
                sum(proc_cpu_ticks(p) or 0 for p in self.server_pids),
                sum(proc_cpu_ticks(p) or 0 for p in self.client_pids), disk_counts())

    def start(self):
        self.s0 = self._sample()
        self.load0 = loadavg()[0]
        self.preempt0 = sum(involuntary_switches(p) for p in self.server_pids)

    def stop(self):
        s1 = self._sample()
        t0, busy0, srv0, cli0, disk0 = self.s0
        t1, busy1, srv1, cli1, disk1 = s1
        dt = max(t1 - t0, 1e-6)
        srv = (srv1 - srv0) / CLK_TCK / dt
        cli = (cli1 - cli0) / CLK_TCK / dt
        busy = (busy1[0] - busy0[0]) / CLK_TCK / dt
        steal = (busy1[1] - busy0[1]) / CLK_TCK / dt
        return {"window_s": round(dt, 3), "server_cores": round(srv, 3),
                "client_cores": round(cli, 3),
                "foreign_cores": round(max(busy - srv - cli, 0.0), 3),
                "steal_cores": round(steal, 3),
                "server_preempted": sum(involuntary_switches(p) for p in self.server_pids) -
                self.preempt0,
                "disk_iops": round((disk1[0] - disk0[0]) / dt),
                "disk_mib_s": round((disk1[1] - disk0[1]) * 512 / dt / (1 << 20), 2),
                "load1": self.load0}


def foreign_load(seconds=1.0, our_pids=()):
    """Cores busy with other people's work (everything but our_pids: an idle polling server
    still burns its core), and the I/O others did on the image's disk meanwhile."""
    w = Window(our_pids, [])
    w.start()
    time.sleep(seconds)
    r = w.stop()
    return r["foreign_cores"], r["disk_iops"], r["disk_mib_s"]


# ---------------------------------------------------------------------------------------------
# processes

class Procs:
    """Every process the suite starts, so that all of them are stopped on the way out."""

    def __init__(self):
        self.live = []

    def spawn(self, argv, logpath, env=None):
        logf = open(logpath, "ab")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env=env,
                             stdin=subprocess.DEVNULL)
        logf.close()
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=20):
        if p is None:
            return None
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(self.live):
            self.stop(p, timeout=10)


def wait_for(cond, timeout, what, proc=None, logpath=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = ""
    if logpath and os.path.exists(logpath):
        with open(logpath, errors="replace") as f:
            tail = "".join(f.readlines()[-15:])
    raise BenchError("%s%s\n%s" % (what, " (process exited)" if proc is not None and
                                   proc.poll() is not None else " (timeout)", tail))


# ---------------------------------------------------------------------------------------------
# servers

class Server:
    """A back-end under test: vhostd or qemu-storage-daemon, serving one or more sockets."""

    def __init__(self, suite, name, proc, sockets, logpath, kind):
        self.suite, self.name, self.proc, self.sockets = suite, name, proc, sockets
        self.logpath, self.kind = logpath, kind

    @property
    def pid(self):
        return self.proc.pid

    def worker_tids(self):
        """The threads on the data path: vhostd's polling lcores; QSD's main loop (the
        export runs there when no iothread is given)."""
        th = threads_of(self.pid)
        if self.kind == "vhostd":
            return sorted(t for t, c in th.items() if c.startswith("rte-worker"))
        return [self.pid]

    def stop(self):
        rc = self.suite.procs.stop(self.proc, timeout=60)
        for s in self.sockets:
            if os.path.exists(s):
                os.unlink(s)
        return rc


class Suite:
    def __init__(self, args):
        self.args = args
        self.procs = Procs()
        self.build = os.path.abspath(args.build)
        self.bench = os.path.join(self.build, "src/tools/vhost-bench/vhost-bench")
        self.vhostd = os.path.join(self.build, "src/vhostd")
        self.out = os.path.abspath(args.out)
        os.makedirs(self.out, exist_ok=True)
        self.work = tempfile.mkdtemp(prefix="vhostd-bench.", dir=args.tmpdir)
        self.image = os.path.abspath(args.image)
        self.image_size = args.image_size
        self.server_cpu = args.server_cpu
        self.client_cpu = args.client_cpu
        self.results = {"meta": {}, "points": [], "scaling": [], "counters": [],
                        "profile": []}
        self.seq = 0
        self.waited = 0.0

    # ---- set-up ----

    def check_tools(self, servers, parts):
        for path in (self.bench, self.vhostd):
            if not os.access(path, os.X_OK):
                raise BenchError("%s is not built (tests/bench/run.sh builds it)" % path)
        need = ["taskset"]
        if any(s.startswith("qsd") for s in servers):
            need.append("qemu-storage-daemon")
        if "fio-libaio" in servers:
            need.append("fio")
        if "profile" in parts:
            need += ["valgrind", "callgrind_control"]
        missing = [t for t in need if shutil.which(t) is None]
        if missing:
            raise BenchError("missing tools: %s (sudo scripts/deps.sh installs them)"
                             % " ".join(missing))
        if os.cpu_count() < 2:
            raise BenchError("needs two CPUs (server and client on their own core)")

    def prepare_image(self):
        """A fully written file on a disk filesystem: reads reach the disk, writes never
        allocate. Reused between runs when its size matches."""
        d = os.path.dirname(self.image)
        os.makedirs(d, exist_ok=True)
        fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", d], capture_output=True,
                            text=True).stdout.strip()
        if fs == "tmpfs":
            raise BenchError("%s is on tmpfs: O_DIRECT needs a disk filesystem (--image)" % d)
        src = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "-T", d], capture_output=True,
                             text=True).stdout.strip()
        DISK["name"] = os.path.basename(os.path.realpath(src)) if src.startswith("/dev/") \
            else None
        stamp = self.image + ".written"
        if (os.path.exists(self.image) and os.path.getsize(self.image) == self.image_size
                and os.path.exists(stamp)):
            log("reusing %s (%d MiB, fully written)" % (self.image, self.image_size >> 20))
        else:
            log("writing %s (%d MiB) with dd, so no block is a hole or unwritten extent"
                % (self.image, self.image_size >> 20))
            if os.path.exists(stamp):
                os.unlink(stamp)
            subprocess.run(["dd", "if=/dev/zero", "of=" + self.image, "bs=1M",
                            "count=%d" % (self.image_size >> 20), "oflag=direct",
                            "conv=fsync", "status=none"], check=True)
            open(stamp, "w").close()
        return fs

    def machine(self, fs):
        def cmd(argv):
            try:
                return subprocess.run(argv, capture_output=True, text=True,
                                      timeout=20).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                return ""

        model = ""
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        mhz = ""
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    mhz = line.split(":", 1)[1].strip()
                    break
        hyper = False
        with open("/proc/cpuinfo") as f:
            hyper = " hypervisor" in f.read()
        hp = "0"
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("HugePages_Total"):
                    hp = line.split()[1]
        dev = cmd(["findmnt", "-n", "-o", "SOURCE", "-T", os.path.dirname(self.image)])
        return {
            "cpu_model": model, "cpu_mhz": mhz, "cpus": os.cpu_count(), "virtual": hyper,
            "kernel": platform.release(),
            "dpdk": cmd(["dpkg-query", "-W", "-f", "${Version}", "libdpdk-dev"]) or
            cmd(["pkg-config", "--modversion", "libdpdk"]),
            "qemu": (cmd(["qemu-storage-daemon", "--version"]).splitlines() or [""])[0],
            "fio": cmd(["fio", "--version"]),
            "vhostd": cmd([self.vhostd, "--version"]),
            "commit": cmd(["git", "-C", REPO, "describe", "--always", "--dirty"]),
            "build": os.path.relpath(self.build, REPO),
            "buildtype": self.buildtype(),
            "hugepages": hp,
            "image": {"path": self.image, "size": self.image_size, "fs": fs, "device": dev},
        }

    def buildtype(self):
        try:
            with open(os.path.join(self.build, "meson-info/intro-buildoptions.json")) as f:
                for o in json.load(f):
                    if o["name"] == "buildtype":
                        return o["value"]
        except (OSError, ValueError, KeyError):
            pass
        return "?"

    def quiet(self, sample):
        cores, iops, mib = sample
        return (cores <= self.args.max_foreign and iops <= self.args.max_foreign_disk / 2 and
                mib <= 4)

    def wait_quiet(self, srv=None):
        """Wait until other work on the machine leaves us the CPUs and the disk: at most
        --wait-quiet s at a time and --wait-budget s in the whole run. Nothing of ours does
        I/O meanwhile, so any disk I/O is someone else's. Returns the seconds waited."""
        a = self.args
        ours = [srv.pid] if srv is not None else []
        limit = min(a.wait_quiet, max(a.wait_budget - self.waited, 0))
        t0 = time.monotonic()
        f = foreign_load(0.5, ours)
        if self.quiet(f) or limit < 1:
            return 0.0
        log("  machine busy (others: %.2f cores, %d disk IOPS, %.1f MiB/s); waiting up to "
            "%.0f s (%.0f s of the wait budget used)" % (f + (limit, self.waited)))
        while not self.quiet(f) and time.monotonic() - t0 < limit:
            time.sleep(2)
            f = foreign_load(1.0, ours)
        waited = time.monotonic() - t0
        self.waited += waited
        log("  %s after %.0f s" % ("quiet" if self.quiet(f) else "still busy, measuring",
                                   waited))
        return waited

    # ---- servers ----

    def _name(self, base):
        self.seq += 1
        return "%s-%d" % (base, self.seq)

    def start_vhostd(self, name, backend, ncontrollers=1, num_queues=2, cores=None,
                     cpumasks=None, preload_counts=None, valgrind=None):
        tag = self._name(name)
        cores = cores or str(self.server_cpu)
        sockdir = os.path.join(self.work, tag)
        os.makedirs(sockdir)
        if backend == "null":
            bdefs = ["  - {name: d%d, type: null, size: %d, block_size: 512}" % (i, self.image_size)
                     for i in range(ncontrollers)]
        elif backend == "malloc":
            bdefs = ["  - {name: d%d, type: malloc, size: %d, block_size: 512}"
                     % (i, self.image_size) for i in range(ncontrollers)]
        elif backend == "aio":
            if ncontrollers != 1:
                raise BenchError("one aio controller only (the file is locked)")
            bdefs = ["  - {name: d0, type: aio, path: %s}" % self.image]
        else:
            raise BenchError("unknown backend " + backend)
        ctrls = []
        for i in range(ncontrollers):
            c = "  - {name: c%d, type: blk, backend: d%d, num_queues: %d" % (i, i, num_queues)
            if cpumasks:
                c += ", cpumask: \"%s\"" % cpumasks[i]
            ctrls.append(c + "}")
        cfg = os.path.join(sockdir, "vhostd.yaml")
        with open(cfg, "w") as f:
            f.write("cores: \"%s\"\nhugemem: 64\nsocket_dir: %s\nlog_level: info\n"
                    "idle_sleep_us: 0\nrpc_socket: %s\nbackends:\n%s\ncontrollers:\n%s\n"
                    % (cores, sockdir, os.path.join(sockdir, "rpc.sock"), "\n".join(bdefs),
                       "\n".join(ctrls)))
        logpath = os.path.join(self.out, "logs", tag + ".log")
        os.makedirs(os.path.dirname(logpath), exist_ok=True)
        env = dict(os.environ)
        if preload_counts:
            env["LD_PRELOAD"] = self.args.count_lib
            env["VHD_COUNT_FILE"] = preload_counts
        argv = [self.vhostd, "-c", cfg]
        if valgrind:
            argv = valgrind + argv
        p = self.procs.spawn(argv, logpath, env=env)
        socks = [os.path.join(sockdir, "c%d" % i) for i in range(ncontrollers)]

        def ready():
            with open(logpath, errors="replace") as f:
                return "ready:" in f.read() and all(os.path.exists(s) for s in socks)
        wait_for(ready, 300 if valgrind else 20, "vhostd did not become ready", p, logpath)
        return Server(self, name, p, socks, logpath, "vhostd")

    def start_qsd(self, name, preload_counts=None, valgrind=None):
        tag = self._name(name)
        sock = os.path.join(self.work, tag + ".sock")
        if name == "qsd-null":
            blockdev = "driver=null-co,node-name=n0,size=%d" % self.image_size
        elif name == "qsd-native":
            blockdev = ("driver=file,node-name=n0,filename=%s,aio=native,cache.direct=on"
                        % self.image)
        elif name == "qsd-uring":
            blockdev = ("driver=file,node-name=n0,filename=%s,aio=io_uring,cache.direct=on"
                        % self.image)
        else:
            raise BenchError("unknown server " + name)
        logpath = os.path.join(self.out, "logs", tag + ".log")
        os.makedirs(os.path.dirname(logpath), exist_ok=True)
        env = dict(os.environ)
        if preload_counts:
            env["LD_PRELOAD"] = self.args.count_lib
            env["VHD_COUNT_FILE"] = preload_counts
        argv = ["qemu-storage-daemon", "--blockdev", blockdev, "--export",
                "type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,addr.path=%s,"
                "writable=on,num-queues=2" % sock]
        if valgrind:
            argv = valgrind + argv
        argv = ["taskset", "-c", str(self.server_cpu)] + argv
        p = self.procs.spawn(argv, logpath, env=env)
        wait_for(lambda: os.path.exists(sock), 300 if valgrind else 20,
                 "qemu-storage-daemon did not create its socket", p, logpath)
        return Server(self, name, p, [sock], logpath, "qsd")

    def start_server(self, name, **kw):
        if name.startswith("vhostd-"):
            srv = self.start_vhostd(name, name.split("-", 1)[1], **kw)
            if name == "vhostd-malloc":
                self.prefill(srv)
            return srv
        return self.start_qsd(name, **kw)

    def prefill(self, srv):
        """Touch every page of a RAM disk once, so reads do not all hit the zero page."""
        bs = 128 << 10
        r = self.run_bench(srv.sockets[0], "write", 8, 1, number_ios=self.image_size // bs,
                           bs=bs, timeout=120)
        if r["returncode"] != 0:
            raise BenchError("prefill of %s failed: %s" % (srv.name, r.get("error")))

    # ---- one client run ----

    def bench_argv(self, sock, rw, qd, nq, runtime=None, ramp=None, number_ios=None, bs=4096,
                   cpu=None, extra=()):
        cpu = self.client_cpu if cpu is None else cpu
        argv = ["taskset", "-c", str(cpu), self.bench, sock, "--rw", rw, "--bs", str(bs),
                "--iodepth", str(qd), "--queues", str(nq), "--threads", "1", "--cpus",
                str(cpu), "--json", "--timeout", "60s"]
        if number_ios:
            argv += ["--number-ios", str(number_ios)]
        else:
            argv += ["--runtime", "%dms" % int(runtime * 1000)]
        if ramp:
            argv += ["--ramp", "%dms" % int(ramp * 1000)]
        return argv + list(extra)

    def run_bench(self, sock, rw, qd, nq, number_ios=None, bs=4096, timeout=120):
        argv = self.bench_argv(sock, rw, qd, nq, number_ios=number_ios, bs=bs)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        out = {"returncode": p.returncode}
        if p.returncode != 0:
            out["error"] = (p.stdout + p.stderr)[-2000:]
        return out

    def sampled(self, procs, server_pids, during=None):
        """Let the clients ramp up, measure CPU over the measured window, wait for them."""
        a = self.args
        margin = min(0.25, a.runtime / 8)
        time.sleep(a.ramp + margin)
        w = Window(server_pids, [p.pid for p in procs])
        w.start()
        extra = during(a.runtime - 2 * margin) if during else None
        if extra is None:
            time.sleep(max(a.runtime - 2 * margin, 0.05))
        cpu = w.stop()
        return cpu, extra

    def bench_once(self, srv, rw, qd, nq, sock=None, cpu=None, extra=(), during=None):
        a = self.args
        argv = self.bench_argv(sock or srv.sockets[0], rw, qd, nq, runtime=a.runtime,
                               ramp=a.ramp, cpu=cpu, extra=extra)
        outp = os.path.join(self.work, "bench.json")
        errp = os.path.join(self.work, "bench.err")
        with open(outp, "w") as fo, open(errp, "w") as fe:
            p = subprocess.Popen(argv, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
            self.procs.live.append(p)
            try:
                cpu_w, extra_out = self.sampled([p], [srv.pid], during)
                p.wait(timeout=a.runtime + a.ramp + 90)
            finally:
                self.procs.stop(p)
        return self.parse_bench(p.returncode, outp, errp, rw), cpu_w, extra_out

    def parse_bench(self, rc, outp, errp, rw):
        with open(outp) as f:
            text = f.read()
        try:
            j = json.loads(text)
        except ValueError:
            with open(errp) as f:
                raise BenchError("vhost-bench exited %d without JSON: %s" % (rc, f.read()[-1500:]))
        if rc != 0 or j.get("result") != "pass":
            with open(errp) as f:
                raise BenchError("vhost-bench exited %d (%s): %s" % (rc, j.get("result"),
                                                                     f.read()[-1500:]))
        m = j["main"]
        d = m["read" if "read" in rw else "write"]
        return {"iops": d["iops"], "ios": d["ios"], "mean": d["lat_us"]["mean"],
                "p50": d["lat_us"]["p50"], "p99": d["lat_us"]["p99"],
                "client_us_per_io": m["cpu"]["us_per_io"],
                "kicks_per_io": m.get("kicks_per_io", m.get("kicks", 0) / max(d["ios"], 1))}

    def fio_once(self, rw, qd, nq):
        a = self.args
        part = self.image_size // nq
        outp = os.path.join(self.work, "fio.json")
        argv = ["taskset", "-c", str(self.server_cpu), "fio", "--name=bench",
                "--filename=" + self.image, "--ioengine=libaio", "--direct=1", "--rw=" + rw,
                "--bs=4k", "--iodepth=%d" % qd, "--numjobs=%d" % nq, "--size=%d" % part,
                "--offset_increment=%d" % part, "--thread", "--group_reporting",
                "--time_based", "--runtime=%dms" % int(a.runtime * 1000),
                "--ramp_time=%dms" % int(a.ramp * 1000), "--cpus_allowed=%d" % self.server_cpu,
                "--norandommap", "--randrepeat=0", "--lat_percentiles=1",
                "--output-format=json", "--output=" + outp]
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        self.procs.live.append(p)
        try:
            # fio is client and server at once: its CPU is the "server" CPU here.
            w = Window([p.pid], [])
            time.sleep(a.ramp + min(0.25, a.runtime / 8) + 0.1)
            w.start()
            time.sleep(max(a.runtime - 2 * min(0.25, a.runtime / 8) - 0.1, 0.05))
            cpu = w.stop()
            _, err = p.communicate(timeout=a.runtime + a.ramp + 60)
        finally:
            self.procs.stop(p)
        if p.returncode != 0:
            raise BenchError("fio exited %d: %s" % (p.returncode, err.decode()[-1500:]))
        with open(outp) as f:
            text = f.read()
        j = json.loads(text[text.index("{"):])
        d = j["jobs"][0]["read" if "read" in rw else "write"]
        lat = d["lat_ns"]
        pct = lat.get("percentile", {})
        return {"iops": d["iops"], "ios": d["total_ios"], "mean": lat["mean"] / 1000,
                "p50": pct.get("50.000000", 0) / 1000, "p99": pct.get("99.000000", 0) / 1000,
                "client_us_per_io": None, "kicks_per_io": None}, cpu

    # ---- part: matrix ----

    def c2c(self):
        """Cache-line round trip between the client's and the server's CPU, in ns (None
        without the probe). Only meaningful while nothing polls either CPU."""
        if not self.args.c2c:
            return None
        try:
            out = subprocess.run([self.args.c2c, str(self.client_cpu), str(self.server_cpu)],
                                 capture_output=True, text=True, timeout=30, check=True)
            return round(float(out.stdout.strip()), 1)
        except (subprocess.SubprocessError, ValueError) as e:
            log("  c2c probe failed: %s" % e)
            return None

    def point_run(self, srv_name, srv, rw, qd, nq):
        """One run of one configuration (a noisy run is redone up to --retries times, the
        quietest attempt is kept)."""
        a = self.args
        best = None
        for attempt in range(a.retries + 1):
            waited = self.wait_quiet(srv)
            if srv_name == "fio-libaio":
                r, cpu = self.fio_once(rw, qd, nq)
            else:
                r, cpu, _ = self.bench_once(srv, rw, qd, nq)
            r.update(cpu)
            r["waited_s"] = round(waited, 1)
            # Our own I/O reaches the disk one to one (4 KiB, O_DIRECT); the rest is
            # someone else's. The client's IOPS and this window differ by a few percent.
            ours = r["iops"] if srv_name in DISK_SERVERS else 0
            r["foreign_disk_iops"] = round(max(r["disk_iops"] - ours, 0))
            r["noise"] = max(r["foreign_cores"] / a.max_foreign, r["foreign_disk_iops"] /
                             max(a.max_foreign_disk, 0.1 * ours))
            if best is None or r["noise"] < best["noise"]:
                best = r
            if r["noise"] <= 1 or attempt == a.retries:
                break
            log("  noisy run (others: %.2f cores, %d disk IOPS), again"
                % (r["foreign_cores"], r["foreign_disk_iops"]))
        log("  %-13s %-9s QD%-3d %dq %10.0f IOPS  mean %8.1f us  p99 %8.1f us  server %.2f"
            " cores  other %.2f" % (srv_name, rw, qd, nq, best["iops"], best["mean"],
                                    best["p99"], best["server_cores"], best["foreign_cores"]))
        return best

    @staticmethod
    def point_summary(srv_name, rw, qd, nq, runs):
        """The point as results.json has it: every run, and the run with the median IOPS."""
        runs = sorted(runs, key=lambda r: r["iops"])
        med = dict(runs[len(runs) // 2])
        med["iops_min"], med["iops_max"] = runs[0]["iops"], runs[-1]["iops"]
        med["iops_runs"] = [round(r["iops"]) for r in runs]
        med["foreign_max"] = max(r["foreign_cores"] for r in runs)
        med["noise_max"] = max(r["noise"] for r in runs)
        return {"server": srv_name, "rw": rw, "qd": qd, "queues": nq, "median": med,
                "runs": runs}

    def part_matrix(self, servers):
        """--repeat rounds; each round runs every server over every configuration once.
        Interleaving the servers spreads each one's runs over the whole suite, so slow drifts
        of the machine (vCPU placement, the disk) reach all servers alike instead of whichever
        one ran at the time."""
        a = self.args
        runs = {}
        order = [(name, rw, qd, nq) for name in servers for rw in a.rw for nq in a.queues
                 for qd in a.qd]
        for rnd in range(a.repeat):
            for name in servers:
                self.wait_quiet()
                before = self.c2c()
                log("matrix: %s, round %d of %d (CPU %d-%d round trip %s ns)"
                    % (name, rnd + 1, a.repeat, self.client_cpu, self.server_cpu, before))
                srv = None if name == "fio-libaio" else self.start_server(name)
                block = []
                try:
                    for rw in a.rw:
                        for nq in a.queues:
                            for qd in a.qd:
                                r = self.point_run(name, srv, rw, qd, nq)
                                r["round"] = rnd + 1
                                runs.setdefault((name, rw, qd, nq), []).append(r)
                                block.append(r)
                finally:
                    if srv is not None:
                        srv.stop()
                after = self.c2c()
                for r in block:
                    r["c2c_ns"] = [before, after]
                self.results["points"] = [self.point_summary(*k, runs[k]) for k in order
                                          if k in runs]
                self.save()

    # ---- part: scaling ----

    def part_scaling(self):
        a = self.args
        ncpu = os.cpu_count()
        layouts = [("1 core", str(self.server_cpu), None)]
        if ncpu >= 2 and not a.scaling_one_core:
            layouts.append(("2 cores", "%d,%d" % (self.client_cpu, self.server_cpu),
                            [self.server_cpu, self.client_cpu]))
        for label, cores, spread in layouts:
            for nctrl in a.scaling_controllers:
                for nq in a.scaling_queues:
                    masks = None
                    if spread:
                        masks = [str(spread[i % len(spread)]) for i in range(nctrl)]
                    before = self.c2c()
                    srv = self.start_vhostd("vhostd-null", "null", ncontrollers=nctrl,
                                            num_queues=2, cores=cores, cpumasks=masks)
                    runs = []
                    try:
                        for _ in range(a.repeat):
                            best = None
                            for attempt in range(a.retries + 1):
                                waited = self.wait_quiet(srv)
                                pt = self.scaling_point(srv, label, nctrl, nq, masks)
                                pt["waited_s"] = round(waited, 1)
                                pt["noise"] = max(pt["foreign_cores"] / a.max_foreign,
                                                  pt["disk_iops"] / a.max_foreign_disk)
                                if best is None or pt["noise"] < best["noise"]:
                                    best = pt
                                if pt["noise"] <= 1:
                                    break
                                if attempt < a.retries:
                                    log("  noisy run (others: %.2f cores, %d disk IOPS), "
                                        "again" % (pt["foreign_cores"], pt["disk_iops"]))
                            runs.append(best)
                    finally:
                        srv.stop()
                    runs.sort(key=lambda r: r["iops"])
                    med = dict(runs[len(runs) // 2])
                    med["iops_runs"] = [round(r["iops"]) for r in runs]
                    med["noise_max"] = max(r["noise"] for r in runs)
                    med["c2c_ns"] = [before, self.c2c()]
                    self.results["scaling"].append(med)
                    self.save()

    def scaling_point(self, srv, label, nctrl, nq, masks):
        a = self.args
        qd = a.scaling_qd
        procs, files = [], []
        for i, sock in enumerate(srv.sockets):
            # Each client on a CPU that does not poll its own controller when there is one.
            if masks:
                cpu = self.client_cpu if int(masks[i]) == self.server_cpu else self.server_cpu
            else:
                cpu = self.client_cpu
            argv = self.bench_argv(sock, "randread", qd, nq, runtime=a.runtime, ramp=a.ramp,
                                   cpu=cpu)
            fo = open(os.path.join(self.work, "scale%d.json" % i), "w")
            fe = open(os.path.join(self.work, "scale%d.err" % i), "w")
            p = subprocess.Popen(argv, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
            fo.close()
            fe.close()
            self.procs.live.append(p)
            procs.append(p)
            files.append((fo.name, fe.name))
        try:
            cpu_w, _ = self.sampled(procs, [srv.pid])
            for p in procs:
                p.wait(timeout=a.runtime + a.ramp + 90)
        finally:
            for p in procs:
                self.procs.stop(p)
        inst = [self.parse_bench(p.returncode, fo, fe, "randread")
                for p, (fo, fe) in zip(procs, files)]
        total = sum(r["iops"] for r in inst)
        pt = {"layout": label, "controllers": nctrl, "queues": nq, "qd": qd,
              "cpumasks": masks, "iops": total, "per_client": [round(r["iops"]) for r in inst],
              "mean": sum(r["mean"] for r in inst) / len(inst)}
        pt.update(cpu_w)
        log("  scaling %-7s %d controller(s) x %dq QD%d: %10.0f IOPS (server %.2f cores, "
            "other %.2f)" % (label, nctrl, nq, qd, total, cpu_w["server_cores"],
                             cpu_w["foreign_cores"]))
        return pt

    # ---- part: counters ----

    def syscall_events(self):
        if shutil.which("perf") is None:
            return None
        p = subprocess.run(["perf", "list", "--raw-dump", "tracepoint"], capture_output=True,
                           text=True)
        have = set(p.stdout.split())
        if "raw_syscalls:sys_enter" not in have:
            return None
        return ["raw_syscalls:sys_enter"] + ["syscalls:sys_enter_" + s for s in SYSCALLS
                                           if "syscalls:sys_enter_" + s in have]

    def syscall_counter(self, pid):
        """Start counting the system calls of every thread of pid; returns a stop function
        giving (method, {tid: {syscall: count}}). perf tracepoints, else strace -c."""
        events = self.syscall_events()
        if events:
            outp = os.path.join(self.work, "perf.csv")
            p = subprocess.Popen(["perf", "stat", "--per-thread", "-x", ",", "-o", outp, "-p",
                                  str(pid), "-e", ",".join(events)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            method = "perf stat --per-thread -e raw_syscalls:sys_enter,syscalls:sys_enter_*"
        else:
            outp = os.path.join(self.work, "strace.txt")
            p = subprocess.Popen(["strace", "-c", "-f", "-o", outp, "-p", str(pid)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            method = "strace -c -f -p PID (all threads together)"
        self.procs.live.append(p)
        time.sleep(1.0)  # attached before the client starts

        def stop():
            self.procs.stop(p, sig=signal.SIGINT)
            per_tid = {}
            with open(outp) as f:
                lines = f.readlines()
            if events:
                for line in lines:
                    fields = line.strip().split(",")
                    if len(fields) < 4 or line.startswith("#"):
                        continue
                    m = re.match(r"(.*)-(\d+)$", fields[0])
                    if not m or not fields[1].strip().isdigit():
                        continue
                    ev = fields[3].replace("syscalls:sys_enter_", "").replace(
                        "raw_syscalls:sys_enter", "all")
                    per_tid.setdefault(int(m.group(2)), {})[ev] = int(fields[1])
            else:
                total = {}
                for line in lines:
                    parts = line.split()
                    if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                        total[parts[-1]] = int(parts[3])
                total["all"] = sum(total.values())
                per_tid[pid] = total
            return method, per_tid
        return stop

    def counted_run(self, srv, counts, rw, qd, ios, extra):
        """One client run of exactly `ios` I/Os; what the server did meanwhile, per thread."""
        stop = self.syscall_counter(srv.pid)
        c0 = read_counts(counts)
        names = threads_of(srv.pid)
        argv = self.bench_argv(srv.sockets[0], rw, qd, 1, number_ios=ios, extra=extra)
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        finally:
            time.sleep(0.3)
            method, sc = stop()
        c1 = read_counts(counts)
        if p.returncode != 0:
            raise BenchError("vhost-bench exited %d: %s" % (p.returncode, p.stderr[-1500:]))
        j = json.loads(p.stdout)
        d = j["main"]["read" if "read" in rw else "write"]
        threads = {}
        for tid in set(sc) | set(c1):
            calls = {k: v - c0.get(tid, {}).get(k, 0) for k, v in c1.get(tid, {}).items()}
            threads[tid] = {"comm": names.get(tid, "?"),
                            "syscalls": {k: v for k, v in sc.get(tid, {}).items() if v},
                            "calls": {k: v for k, v in calls.items() if v}}
        return method, d["ios"], d["iops"], threads

    def part_counters(self, configs):
        """Each configuration twice on one server, with few and with many I/Os: what grows
        with the I/O count is per request; the rest is per connection (set-up, tear-down)."""
        for name, rw, qd, mode, n_small, n_large in configs:
            counts = os.path.join(self.work, "counts-%d.bin" % self.seq)
            srv = self.start_server(name, preload_counts=counts)
            extra = ("--wait-call",) if mode == "wait-call" else ()
            try:
                data_tids = srv.worker_tids()
                small = self.counted_run(srv, counts, rw, qd, n_small, extra)
                large = self.counted_run(srv, counts, rw, qd, n_large, extra)
            finally:
                srv.stop()
            method = large[0]
            dios = large[1] - small[1]
            entry = {"server": name, "rw": rw, "qd": qd, "queues": 1, "client": mode,
                     "ios_small": small[1], "ios_large": large[1], "iops_large": large[2],
                     "syscall_method": method, "threads": {}}
            for tid in sorted(set(small[3]) | set(large[3])):
                ts, tl = small[3].get(tid, {}), large[3].get(tid, {})
                comm = tl.get("comm") or ts.get("comm") or "?"
                t = {"comm": comm, "data_path": tid in data_tids, "small": {}, "large": {},
                     "per_io": {}}
                for kind in ("syscalls", "calls"):
                    a, b = ts.get(kind, {}), tl.get(kind, {})
                    t["small"][kind], t["large"][kind] = a, b
                    t["per_io"][kind] = {k: round((b.get(k, 0) - a.get(k, 0)) / max(dios, 1), 4)
                                         for k in set(a) | set(b)}
                if any(t["small"]["syscalls"].values()) or any(t["large"]["syscalls"].values()) \
                        or t["small"]["calls"] or t["large"]["calls"]:
                    entry["threads"][str(tid)] = t
            self.results["counters"].append(entry)
            for t in entry["threads"].values():
                if t["data_path"]:
                    log("  counters %-12s %-9s QD%-3d %-9s %s: %d/%d I/Os: syscalls %d/%d "
                        "(%.3f per I/O), alloc/lock calls %s/%s" % (
                            name, rw, qd, mode, t["comm"], small[1], large[1],
                            t["small"]["syscalls"].get("all", 0),
                            t["large"]["syscalls"].get("all", 0),
                            t["per_io"]["syscalls"].get("all", 0),
                            sum(t["small"]["calls"].values()), sum(t["large"]["calls"].values())))
            self.save()

    # ---- part: profile ----

    def part_profile(self, configs):
        a = self.args
        for name, rw, qd in configs:
            vgdir = os.path.join(self.out, "callgrind")
            os.makedirs(vgdir, exist_ok=True)
            prefix = os.path.join(vgdir, "%s-%s-qd%d" % (name, rw, qd))
            for old in os.listdir(vgdir):
                if os.path.join(vgdir, old).startswith(prefix + "."):
                    os.unlink(os.path.join(vgdir, old))
            vg = ["valgrind", "--tool=callgrind", "--fair-sched=yes", "--separate-threads=yes",
                  "--callgrind-out-file=%s.%%p" % prefix]
            log("profile: %s %s QD%d under callgrind" % (name, rw, qd))
            srv = self.start_server(name, valgrind=vg)
            try:
                real_pid = valgrind_pid(srv)
                seconds = a.profile_seconds

                def during(_):
                    time.sleep(3.0)  # the handshake is slow under valgrind
                    subprocess.run(["callgrind_control", "-z", str(real_pid)],
                                   capture_output=True, check=True)
                    w = Window([srv.pid], [])
                    w.start()
                    time.sleep(seconds)
                    subprocess.run(["callgrind_control", "-d", str(real_pid)],
                                   capture_output=True, check=True)
                    return w.stop()
                saved = (a.runtime, a.ramp)
                a.runtime, a.ramp = seconds + 6.0, 0.0
                try:
                    r, _, win = self.bench_once(srv, rw, qd, 1, during=during,
                                                extra=("--io-timeout", "120s"))
                finally:
                    a.runtime, a.ramp = saved
            finally:
                srv.stop()
            dumps = [os.path.join(vgdir, f) for f in os.listdir(vgdir)
                     if os.path.join(vgdir, f).startswith(prefix + ".") and
                     re.search(r"\.\d+\.1-\d+$", f)]
            if not dumps:
                raise BenchError("callgrind wrote no dump for " + prefix)
            parsed = [parse_callgrind(d) for d in dumps]
            worker = max(parsed, key=lambda p: p["total"])
            prof = summarise_profile(name, rw, qd, worker, parsed, r, win)
            self.results["profile"].append(prof)
            log("  %s: %.0f I/Os in the window, %.0f instructions per I/O in the polling "
                "thread" % (name, prof["ios"], prof["ir_per_io"]))
            self.save()

    def save(self):
        path = os.path.join(self.out, "results.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.results, f, indent=1)
        os.replace(path + ".tmp", path)

    def cleanup(self):
        self.procs.stop_all()
        shutil.rmtree(self.work, ignore_errors=True)


def read_counts(path):
    """{tid: {counter: value}} from a count_preload.c table."""
    try:
        with open(path, "rb") as f:
            d = f.read()
    except OSError:
        return {}
    if len(d) < 16:
        return {}
    magic, slots, nc = struct.unpack_from("<QII", d, 0)
    if magic != 0x31746e6364687600:
        return {}
    names = [d[16 + 16 * i:32 + 16 * i].rstrip(b"\0").decode() for i in range(nc)]
    off = 16 + 16 * nc
    used, = struct.unpack_from("<I", d, off)
    off += 8
    size = 8 + 8 * nc
    out = {}
    for i in range(min(used, slots)):
        tid, = struct.unpack_from("<i", d, off + i * size)
        vals = struct.unpack_from("<%dQ" % nc, d, off + i * size + 8)
        out[tid] = dict(zip(names, vals))
    return out


def valgrind_pid(srv):
    """The pid valgrind runs the server as (taskset execs, valgrind execs: same pid)."""
    return srv.pid


# ---------------------------------------------------------------------------------------------
# callgrind files

def parse_callgrind(path):
    """Self cost per function, inclusive cost of calls and call counts, from one dump."""
    names = {}
    self_cost, calls, incl_calls = {}, {}, {}
    fn = None
    cfn = None
    pending_call = None
    total = 0
    thread = None

    def name_of(spec):
        m = re.match(r"\((\d+)\)(?:\s+(.*))?", spec)
        if not m:
            return spec
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "?")

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if pending_call is not None:
                    incl_calls[(fn, pending_call[0])] = incl_calls.get(
                        (fn, pending_call[0]), 0) + cost
                    calls[pending_call[0]] = calls.get(pending_call[0], 0) + pending_call[1]
                    pending_call = None
                else:
                    self_cost[fn] = self_cost.get(fn, 0) + cost
                continue
            if line.startswith("fn="):
                fn = name_of(line[3:])
            elif line.startswith("cfn="):
                cfn = name_of(line[4:])
            elif line.startswith("calls="):
                pending_call = (cfn, int(line[6:].split()[0]))
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
            elif line.startswith("thread:"):
                thread = int(line.split()[1])
    # Inclusive cost: self plus the calls it made (recursion counted once per call site).
    incl = dict(self_cost)
    for (caller, callee), cost in incl_calls.items():
        incl[caller] = incl.get(caller, 0) + cost
    return {"path": path, "thread": thread, "total": total or sum(self_cost.values()),
            "self": self_cost, "incl": incl, "calls": calls}


# Functions whose call counts say something about the data path.
WATCH_CALLS = ["malloc", "calloc", "realloc", "free", "g_malloc", "g_malloc0", "g_free",
               "g_slice_alloc", "g_slice_free1", "rte_malloc", "rte_free",
               "pthread_mutex_lock", "pthread_mutex_unlock", "pthread_spin_lock",
               "qemu_mutex_lock_impl", "qemu_mutex_unlock_impl", "sem_post", "sem_wait",
               "io_submit", "io_getevents", "write", "read", "syscall", "ppoll",
               "io_uring_enter", "__io_uring_submit", "clock_gettime", "__clock_gettime"]


PER_REQUEST = ["vhd_vq_push", "virtio_blk_process_req", "vu_blk_virtio_process_req"]
REQUEST_PATH = ["vhd_vq_walk", "blk_submit", "vhd_bdev_io_complete"]


def summarise_profile(name, rw, qd, worker, parsed, bench, win):
    calls = worker["calls"]
    # A function called once per request: vhostd's used-ring push, QSD's request handler.
    ios, method = 0, ""
    for f in PER_REQUEST:
        if calls.get(f):
            ios, method = calls[f], "calls to %s" % f
            break
    if not ios:
        ios = bench["iops"] * (win["window_s"] if win else 0)
        method = "client IOPS x window"
    ios = max(ios, 1)
    allcalls = {}
    for p in parsed:
        for k, v in p["calls"].items():
            allcalls[k] = allcalls.get(k, 0) + v
    top_self = sorted(worker["self"].items(), key=lambda kv: -kv[1])[:15]
    top_incl = sorted(worker["incl"].items(), key=lambda kv: -kv[1])[:25]
    return {
        "server": name, "rw": rw, "qd": qd, "ios": ios, "ios_method": method,
        "threads": len(parsed), "worker_thread": worker["thread"],
        "ir_total_worker": worker["total"], "ir_per_io": worker["total"] / ios,
        "ir_per_io_all_threads": sum(p["total"] for p in parsed) / ios,
        "top_self": [[f, v / ios] for f, v in top_self],
        "top_incl": [[f, v / ios] for f, v in top_incl],
        "calls_per_io_worker": {k: calls[k] / ios for k in WATCH_CALLS if calls.get(k)},
        "calls_per_io_all": {k: allcalls[k] / ios for k in WATCH_CALLS if allcalls.get(k)},
        "poll_rounds_per_io": calls.get("vhd_queue_poll", 0) / ios,
        # vhostd: what one request costs wherever it is handled (walk the chain, the device's
        # submit down to the backend, the completion up to the used ring), without the
        # poll loop around it.
        "request_path_per_io": sum(worker["incl"].get(f, 0) for f in REQUEST_PATH) / ios,
        "request_path": [f for f in REQUEST_PATH if f in worker["incl"]],
        "client_iops_under_valgrind": bench["iops"],
        "files": [os.path.relpath(p["path"], REPO) for p in parsed],
    }


# ---------------------------------------------------------------------------------------------

def parse_size(s):
    m = re.fullmatch(r"(\d+)([kKmMgG]?)(?:i?[bB])?", s.strip())
    if not m:
        raise argparse.ArgumentTypeError("not a size: %s" % s)
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def csv_list(conv):
    return lambda s: [conv(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="short points (1.5 s + 0.5 s ramp, one run each), no profile")
    ap.add_argument("--build", default=os.path.join(REPO, "build-release"))
    ap.add_argument("--out", help="results directory [BUILD/bench-results/TIMESTAMP]")
    ap.add_argument("--tmpdir", default="/tmp", help="sockets and scratch")
    ap.add_argument("--image", default="/var/tmp/vhostd-bench/disk.img",
                    help="the file for vhostd aio, QSD file and fio (disk filesystem)")
    ap.add_argument("--image-size", type=parse_size, default=GIB,
                    help="bytes, or with a K/M/G suffix [1G]; also the null and malloc size")
    ap.add_argument("--servers", type=csv_list(str), default=SERVERS)
    ap.add_argument("--parts", type=csv_list(str))
    ap.add_argument("--rw", type=csv_list(str), default=["randread", "randwrite"])
    ap.add_argument("--qd", type=csv_list(int), default=[1, 32, 128])
    ap.add_argument("--queues", type=csv_list(int), default=[1, 2])
    ap.add_argument("--runtime", type=float, help="measured seconds per run [3; quick 1.5]")
    ap.add_argument("--ramp", type=float, help="seconds before measuring [0.5]")
    ap.add_argument("--repeat", type=int, help="runs per point, the median is kept [3; quick 1]")
    ap.add_argument("--retries", type=int, help="redo a run when others used more than "
                    "--max-foreign cores during it [3; quick 0]")
    ap.add_argument("--max-foreign", type=float, default=0.1,
                    help="CPUs others may use during a run [0.1]")
    ap.add_argument("--max-foreign-disk", type=float, default=500,
                    help="I/Os per second others may do on the image's disk during a run, or "
                    "10%% of ours if more [500]")
    ap.add_argument("--wait-quiet", type=float, help="before each run, wait up to this many "
                    "seconds for the machine to be quiet [600; quick 0]")
    ap.add_argument("--wait-budget", type=float, help="total seconds the whole suite may spend "
                    "waiting for quiet [7200; quick 0]")
    ap.add_argument("--server-cpu", type=int, default=1)
    ap.add_argument("--client-cpu", type=int, default=0)
    ap.add_argument("--scaling-controllers", type=csv_list(int), default=[1, 2, 4])
    ap.add_argument("--scaling-queues", type=csv_list(int), default=[1, 2])
    ap.add_argument("--scaling-qd", type=int, default=32)
    ap.add_argument("--scaling-one-core", action="store_true")
    ap.add_argument("--counters-scale", type=float,
                    help="multiplies the I/O counts of the counters part [4; quick 1]")
    ap.add_argument("--profile-seconds", type=float, default=4.0)
    ap.add_argument("--count-lib", help="libvhd_count.so (run.sh builds it)")
    ap.add_argument("--c2c", help="the core-to-core round trip probe (run.sh builds it)")
    a = ap.parse_args()

    q = a.quick
    a.runtime = a.runtime if a.runtime is not None else (1.5 if q else 3.0)
    a.ramp = a.ramp if a.ramp is not None else 0.5
    a.repeat = a.repeat if a.repeat is not None else (1 if q else 3)
    a.retries = a.retries if a.retries is not None else (0 if q else 3)
    a.wait_quiet = a.wait_quiet if a.wait_quiet is not None else (0 if q else 600)
    a.wait_budget = a.wait_budget if a.wait_budget is not None else (0 if q else 7200)
    if a.parts is None:
        a.parts = ["matrix", "scaling", "counters"] + ([] if q else ["profile"])
    for p in a.parts:
        if p not in PARTS:
            ap.error("unknown part %s (have %s)" % (p, ",".join(PARTS)))
    for s in a.servers:
        if s not in SERVERS:
            ap.error("unknown server %s (have %s)" % (s, ",".join(SERVERS)))
    if a.out is None:
        a.out = os.path.join(a.build, "bench-results", time.strftime("%Y%m%d-%H%M%S"))
    if "counters" in a.parts and not a.count_lib:
        ap.error("--count-lib is needed for the counters part (run.sh passes it)")

    suite = Suite(a)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    try:
        suite.check_tools(a.servers, a.parts)
        fs = suite.prepare_image()
        meta = suite.results["meta"]
        meta.update({"mode": "quick" if q else "full", "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                     "runtime_s": a.runtime, "ramp_s": a.ramp, "repeat": a.repeat,
                     "retries": a.retries, "max_foreign": a.max_foreign,
                     "server_cpu": a.server_cpu, "client_cpu": a.client_cpu,
                     "servers": a.servers, "rw": a.rw, "qd": a.qd, "queues": a.queues,
                     "parts": a.parts, "load_start": loadavg(),
                     "foreign_start": foreign_load(1.0),
                     "disk": DISK["name"], "max_foreign_disk": a.max_foreign_disk,
                     "machine": suite.machine(fs)})
        suite.save()
        log("results in %s" % a.out)
        if "counters" in a.parts:
            k = a.counters_scale if a.counters_scale is not None else (1 if q else 4)
            cfgs = [("vhostd-null", "randread", 32, "poll", 50000, 500000),
                    ("vhostd-null", "randread", 32, "wait-call", 20000, 200000),
                    ("vhostd-null", "randread", 1, "wait-call", 10000, 100000),
                    ("vhostd-malloc", "randwrite", 32, "poll", 50000, 500000),
                    ("vhostd-aio", "randread", 32, "poll", 5000, 50000),
                    ("vhostd-aio", "randwrite", 32, "poll", 5000, 50000),
                    ("vhostd-aio", "randread", 1, "poll", 1000, 10000),
                    ("qsd-null", "randread", 32, "poll", 20000, 200000),
                    ("qsd-native", "randread", 32, "poll", 5000, 50000)]
            cfgs = [c for c in cfgs if c[0] in a.servers] or cfgs[:1]
            suite.part_counters([c[:4] + (max(int(c[4] * k), 100), max(int(c[5] * k), 1000))
                                 for c in cfgs])
        if "profile" in a.parts:
            cfgs = [("vhostd-null", "randread", 32), ("vhostd-aio", "randread", 32),
                    ("qsd-null", "randread", 32)]
            cfgs = [c for c in cfgs if c[0] in a.servers] or cfgs[:1]
            suite.part_profile(cfgs)
        if "matrix" in a.parts:
            suite.part_matrix(a.servers)
        if "scaling" in a.parts:
            suite.part_scaling()
        meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
        meta["waited_s"] = round(suite.waited)
        meta["load_end"] = loadavg()
        suite.save()
        print(os.path.join(a.out, "results.json"))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except BenchError as e:
        log("error: %s" % e)
        return 1
    finally:
        suite.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
