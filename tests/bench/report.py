#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Turn a results.json from tests/bench/suite.py into tables, plots and docs/benchmarks.md.

    tests/bench/report.py RESULTS.json                 # print the tables
    tests/bench/report.py RESULTS.json --doc           # also rewrite the generated parts of
                                                       # docs/benchmarks.md and its plots

Only the parts present in RESULTS.json are rewritten in the document; everything outside the
"generated" markers is left alone. Plots are PNGs drawn by gnuplot (package gnuplot-nox).
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DOC = os.path.join(REPO, "docs", "benchmarks.md")
IMG_DIR = os.path.join(REPO, "docs", "benchmarks")

LABELS = {
    "vhostd-null": "vhostd null",
    "vhostd-malloc": "vhostd malloc",
    "vhostd-aio": "vhostd aio",
    "qsd-null": "QSD null-co",
    "qsd-native": "QSD file aio=native",
    "qsd-uring": "QSD file aio=io_uring",
    "fio-libaio": "fio libaio (no virtio)",
}
ORDER = list(LABELS)

# (vhostd server, reference, what is compared)
PAIRS = [("vhostd-null", "qsd-null"), ("vhostd-aio", "qsd-native"), ("vhostd-aio", "qsd-uring"),
         ("vhostd-aio", "fio-libaio")]


def fmt_iops(v):
    if v is None:
        return "–"
    return "{:,.0f}".format(v)


def fmt_us(v):
    if v is None:
        return "–"
    if v < 10:
        return "%.2f" % v
    if v < 1000:
        return "%.1f" % v
    return "{:,.0f}".format(v)


def fmt_x(v):
    return "–" if v is None else "%.2f×" % v


def md_table(head, rows, align=None):
    align = align or ["---"] + ["--:"] * (len(head) - 1)
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def index_points(res):
    return {(p["server"], p["rw"], p["qd"], p["queues"]): p["median"] for p in res["points"]}


def configs(res):
    seen = []
    for p in res["points"]:
        k = (p["rw"], p["qd"], p["queues"])
        if k not in seen:
            seen.append(k)
    return sorted(seen, key=lambda k: (k[0], k[2], k[1]))


def servers_present(res):
    have = {p["server"] for p in res["points"]}
    return [s for s in ORDER if s in have]


# ---------------------------------------------------------------------------------------------

def machine_block(res):
    m = res["meta"]
    mc = m["machine"]
    img = mc["image"]
    load = lambda l: " / ".join("%.2f" % x for x in l) if l else "?"
    lines = [
        "- **When**: %s to %s, %s mode (%.1f s measured after %.1f s ramp per run, %s per "
        "point, median kept)" % (m.get("started", "?"), m.get("finished", "(unfinished)"),
                                 m["mode"], m["runtime_s"], m["ramp_s"],
                                 "%d run(s)" % m["repeat"]),
        "- **CPU**: %s, %d CPUs%s; server on CPU %d, client on CPU %d"
        % (mc["cpu_model"], mc["cpus"], " (virtual machine)" if mc.get("virtual") else "",
           m["server_cpu"], m["client_cpu"]),
        "- **Kernel** %s; **DPDK** %s; **QEMU** %s; **fio** %s" % (
            mc["kernel"], mc["dpdk"], mc["qemu"].replace("qemu-storage-daemon version ", ""),
            mc["fio"]),
        "- **vhostd** %s at `%s`, build `%s` (%s); hugepages reserved: %s" % (
            mc["vhostd"], mc["commit"], mc["build"], mc["buildtype"], mc["hugepages"]),
        "- **Image**: %d MiB file on %s (%s), fully written with dd: `%s`" % (
            img["size"] >> 20, img["device"], img["fs"], img["path"]),
        "- **Load average** (1/5/15 min) at start %s, at end %s; other processes just before "
        "the start: %s" % (load(m.get("load_start")), load(m.get("load_end")),
                           foreign_text(m.get("foreign_start", 0))),
        "- **Waiting for quiet**: %s s in total" % m.get("waited_s", "?"),
    ]
    rng = c2c_range(res)
    if rng:
        lines.append("- **CPU %d–%d cache-line round trip** (tests/bench/c2c.c, measured before "
                     "and after each server's block of runs): %.0f to %.0f ns"
                     % (m["client_cpu"], m["server_cpu"], rng[0], rng[1]))
    return "\n".join(lines)


def foreign_text(f):
    if isinstance(f, (int, float)):
        return "%.2f cores" % f
    return "%.2f cores, %d disk IOPS, %.1f MiB/s" % tuple(f)


def noisy_point(m, meta):
    if "noise_max" in m:
        return m["noise_max"] > 1
    return m.get("foreign_max", m["foreign_cores"]) > meta["max_foreign"]


def short_meta(res):
    m = res["meta"]
    mc = m["machine"]
    return ("Measured %s (%s mode, %.1f s per run) on %s, %d CPUs, kernel %s, vhostd `%s`; "
            "load average at start %s." % (
                m.get("started", "?"), m["mode"], m["runtime_s"], mc["cpu_model"], mc["cpus"],
                mc["kernel"], mc["commit"],
                " / ".join("%.2f" % x for x in m.get("load_start") or [])))


def fmt_c2c(v):
    """The core-to-core round trip before/after the block of runs, in ns."""
    if not v or any(x is None for x in v):
        return "–"
    return "%.0f/%.0f" % tuple(v)


def c2c_range(res):
    vals = [x for p in res["points"] for r in p["runs"] for x in (r.get("c2c_ns") or [])
            if x is not None]
    vals += [x for s in res.get("scaling", []) for x in (s.get("c2c_ns") or [])
             if x is not None]
    return (min(vals), max(vals)) if vals else None


def matrix_tables(res):
    idx = index_points(res)
    out = []
    head = ["server", "QD", "queues", "IOPS", "mean µs", "p50 µs", "p99 µs", "client µs/IO",
            "server µs/IO", "server cores", "IOPS / server core", "others (cores)",
            "others (disk IOPS)", "server preempted", "load", "c2c ns"]
    for rw in sorted({p["rw"] for p in res["points"]}):
        rows = []
        for s in servers_present(res):
            for (r, qd, nq) in configs(res):
                if r != rw or (s, r, qd, nq) not in idx:
                    continue
                m = idx[(s, r, qd, nq)]
                sc = m["server_cores"]
                noisy = noisy_point(m, res["meta"])
                rows.append([LABELS[s], qd, nq, fmt_iops(m["iops"]), fmt_us(m["mean"]),
                             fmt_us(m["p50"]), fmt_us(m["p99"]),
                             "–" if m["client_us_per_io"] is None else "%.2f" %
                             m["client_us_per_io"],
                             "%.2f" % (sc * 1e6 / m["iops"]) if m["iops"] else "–",
                             "%.2f" % sc, fmt_iops(m["iops"] / sc) if sc > 0.01 else "–",
                             "%.2f%s" % (m["foreign_cores"], " *" if noisy else ""),
                             m.get("foreign_disk_iops", "–"), m.get("server_preempted", "–"),
                             "%.2f" % m["load1"], fmt_c2c(m.get("c2c_ns"))])
        out.append("#### 4 KiB %s\n\n%s" % (rw, md_table(head, rows, ["---"] +
                                                         ["--:"] * (len(head) - 1))))
    return "\n\n".join(out)


def ratio(idx, a, b, key, rw, qd, nq):
    x, y = idx.get((a, rw, qd, nq)), idx.get((b, rw, qd, nq))
    if not x or not y or not y[key]:
        return None
    return x[key] / y[key]


def ratio_table(res):
    idx = index_points(res)
    head = ["rw", "QD", "queues", "null IOPS vhostd/QSD", "null mean lat vhostd/QSD",
            "aio IOPS vhostd/QSD native", "aio IOPS vhostd/QSD io_uring",
            "aio IOPS vhostd/fio", "aio mean lat vhostd − fio (µs)",
            "IOPS/server core, null vhostd/QSD"]
    rows = []
    for rw, qd, nq in configs(res):
        d = None
        a, f = idx.get(("vhostd-aio", rw, qd, nq)), idx.get(("fio-libaio", rw, qd, nq))
        if a and f:
            d = a["mean"] - f["mean"]
        pc = None
        vn, qn = idx.get(("vhostd-null", rw, qd, nq)), idx.get(("qsd-null", rw, qd, nq))
        if vn and qn and vn["server_cores"] > 0.01 and qn["server_cores"] > 0.01:
            pc = (vn["iops"] / vn["server_cores"]) / (qn["iops"] / qn["server_cores"])
        rf = ratio(idx, "vhostd-aio", "fio-libaio", "iops", rw, qd, nq)
        rows.append([rw, qd, nq, fmt_x(ratio(idx, "vhostd-null", "qsd-null", "iops", rw, qd, nq)),
                     fmt_x(ratio(idx, "vhostd-null", "qsd-null", "mean", rw, qd, nq)),
                     fmt_x(ratio(idx, "vhostd-aio", "qsd-native", "iops", rw, qd, nq)),
                     fmt_x(ratio(idx, "vhostd-aio", "qsd-uring", "iops", rw, qd, nq)),
                     "–" if rf is None else "%.0f%%" % (100 * rf),
                     "–" if d is None else "%+.1f" % d, fmt_x(pc)])
    return md_table(head, rows, ["---"] * 3 + ["--:"] * (len(head) - 3))


def targets(res):
    """[(target, measured, verdict)] for the goals of issue 6 that the results cover."""
    idx = index_points(res)
    cfg = configs(res)
    out = []

    def over(qd, key, a, b):
        vals = [(rw, nq, ratio(idx, a, b, key, rw, qd, nq)) for rw, q, nq in cfg if q == qd]
        return [(rw, nq, v) for rw, nq, v in vals if v is not None]

    def show(vals, f):
        return "; ".join("%s %dq %s" % (rw, nq, f(v)) for rw, nq, v in vals)

    for qd, want in ((1, 4.0), (32, 2.0), (128, 4.0)):
        vals = over(qd, "iops", "vhostd-null", "qsd-null")
        if vals:
            ok = all(v >= want for _, _, v in vals)
            out.append(("null IOPS ≥ %g× QSD null-co at QD%d" % (want, qd),
                        show(vals, fmt_x), "met" if ok else "**not met**"))
    vals = over(1, "mean", "vhostd-null", "qsd-null")
    if vals:
        ok = all(v <= 0.25 for _, _, v in vals)
        out.append(("null mean latency at QD1 ≤ ¼ of QSD's", show(vals, fmt_x),
                    "met" if ok else "**not met**"))
    vals = over(32, "iops", "vhostd-aio", "fio-libaio")
    if vals:
        ok = all(v >= 0.9 for _, _, v in vals)
        out.append(("aio IOPS ≥ 90% of fio libaio at QD32", show(vals, lambda v: "%.0f%%" %
                                                                  (100 * v)),
                    "met" if ok else "**not met**"))
    vals = []
    for rw, qd, nq in cfg:
        a, f = idx.get(("vhostd-aio", rw, qd, nq)), idx.get(("fio-libaio", rw, qd, nq))
        if qd == 1 and a and f:
            vals.append((rw, nq, a["mean"] - f["mean"]))
    if vals:
        ok = all(v <= 10 for _, _, v in vals)
        out.append(("aio mean latency at QD1 within 10 µs of fio libaio",
                    show(vals, lambda v: "%+.1f µs" % v), "met" if ok else "**not met**"))
    allocs, locks, futex, extra = [], [], [], 0
    for c in res.get("counters", []):
        if not c["server"].startswith("vhostd"):
            continue
        extra += c["ios_large"] - c["ios_small"]
        for t in c["threads"].values():
            if t["data_path"]:
                allocs.append(_sum(t["large"]["calls"], ALLOC) - _sum(t["small"]["calls"], ALLOC))
                locks.append(_sum(t["large"]["calls"], LOCK) - _sum(t["small"]["calls"], LOCK))
                futex.append(t["large"]["syscalls"].get("futex", 0) -
                             t["small"]["syscalls"].get("futex", 0))
    if allocs:
        # A per-request call would grow by thousands; a difference of one or two is a
        # set-up path taken once more or less.
        out.append(("zero allocations per request (vhostd polling thread)",
                    "growth over %s extra I/Os in %d configurations: %s" % (
                        fmt_iops(extra), len(allocs), ", ".join("%+d" % x for x in allocs)),
                    "met" if all(abs(x) <= 2 for x in allocs) else "**not met**"))
        out.append(("zero locks per request (vhostd polling thread)",
                    "lock calls growth %s; futex calls growth %s" % (
                        ", ".join("%+d" % x for x in locks), ", ".join("%+d" % x for x in futex)),
                    "met" if all(abs(x) <= 2 for x in locks + futex) else "**not met**"))
    return out


def targets_table(res):
    rows = targets(res)
    if not rows:
        return "(the results do not cover any target)"
    return md_table(["target", "measured", "verdict"], rows, ["---", "---", "---"])


# ---------------------------------------------------------------------------------------------

def scaling_table(res):
    rows = []
    for s in res["scaling"]:
        sc = s["server_cores"]
        rows.append([s["layout"], s["controllers"], s["queues"], s["qd"],
                     fmt_iops(s["iops"]) + (" *" if s.get("noise_max", 0) > 1 else ""),
                     " / ".join(fmt_iops(x) for x in s.get("iops_runs", [])) or "–",
                     " + ".join(fmt_iops(x) for x in s["per_client"]),
                     fmt_us(s["mean"]), "%.2f" % sc, "%.2f" % s["client_cores"],
                     "%.2f" % s["foreign_cores"], "%.2f" % s["load1"],
                     fmt_c2c(s.get("c2c_ns"))])
    return md_table(["vhostd cores", "controllers", "queues each", "QD/queue", "total IOPS",
                     "all runs", "per client (median run)", "mean µs", "server cores",
                     "client cores", "others (cores)", "load", "c2c ns"], rows,
                    ["---"] + ["--:"] * 12)


ALLOC = ("malloc", "free", "rte_malloc", "rte_free")
LOCK = ("mutex_lock", "rwlock_lock", "spin_lock", "sem_wait")


def abs0(v):
    return 0.0 if abs(v) < 0.0005 else v


def _sum(d, keys):
    return sum(d.get(k, 0) for k in keys)


def counters_table(res):
    head = ["server", "rw", "QD", "client", "thread", "I/Os", "syscalls", "syscalls / I/O",
            "by name, per I/O", "alloc calls", "lock calls", "futex"]
    rows = []
    for c in res["counters"]:
        for tid, t in sorted(c["threads"].items(), key=lambda kv: not kv[1]["data_path"]):
            sm, lg, per = t["small"], t["large"], t["per_io"]
            named = ", ".join("%s %.3f" % (k, v) for k, v in sorted(per["syscalls"].items())
                              if k != "all" and abs(v) >= 0.0005) or "–"
            rows.append([LABELS.get(c["server"], c["server"]), c["rw"], c["qd"], c["client"],
                         "**%s**" % t["comm"] if t["data_path"] else t["comm"],
                         "%s → %s" % (fmt_iops(c["ios_small"]), fmt_iops(c["ios_large"])),
                         "%d → %d" % (sm["syscalls"].get("all", 0), lg["syscalls"].get("all", 0)),
                         "%.3f" % abs0(per["syscalls"].get("all", 0)), named,
                         "%d → %d" % (_sum(sm["calls"], ALLOC), _sum(lg["calls"], ALLOC)),
                         "%d → %d" % (_sum(sm["calls"], LOCK), _sum(lg["calls"], LOCK)),
                         "%d → %d" % (sm["syscalls"].get("futex", 0),
                                      lg["syscalls"].get("futex", 0))])
    method = res["counters"][0]["syscall_method"] if res["counters"] else ""
    return md_table(head, rows, ["---"] * 5 + ["--:"] * 3 + ["---"] + ["--:"] * 3) + \
        "\n\nEach configuration ran twice on one server connection after another, with the " \
        "two I/O counts shown (`--number-ios`): a count that does not grow with the I/Os is " \
        "per connection (set-up and tear-down), the growth divided by the extra I/Os is per " \
        "request (*syscalls / I/O*, *by name*). The data-path thread is in bold (vhostd: the " \
        "polling lcore; QSD: its main loop, which runs the export). System calls: `%s`. " \
        "Calls: `tests/bench/count_preload.c` (LD_PRELOAD), *alloc* = malloc, calloc, " \
        "realloc, memalign family, free, rte_malloc family, rte_free; *lock* = " \
        "pthread_mutex_lock/trylock/timedlock, pthread_rwlock_*lock, pthread_spin_lock, " \
        "sem_wait/trywait/timedwait. Only threads that did something are listed." % method


def profile_tables(res):
    out = []
    for p in res["profile"]:
        ios = p["ios"]
        lines = ["#### %s, %s QD%d under callgrind" % (LABELS.get(p["server"], p["server"]),
                                                       p["rw"], p["qd"]),
                 "",
                 "%s I/Os in the window (%s); %.0f instructions per I/O in the busiest thread, "
                 "%.0f in all threads%s. The client ran natively at %s IOPS against the "
                 "instrumented server." % (
                     fmt_iops(ios), p["ios_method"], p["ir_per_io"], p["ir_per_io_all_threads"],
                     "; %.2f poll rounds per I/O, %.0f instructions per I/O on the request "
                     "path itself (inclusive cost of %s)" % (
                         p["poll_rounds_per_io"], p["request_path_per_io"],
                         ", ".join("`%s`" % f for f in p["request_path"]))
                     if p.get("request_path") else "",
                     fmt_iops(p["client_iops_under_valgrind"])),
                 ""]
        rows = [[f, "%.0f" % v] for f, v in p["top_incl"][:18]]
        lines.append(md_table(["function (inclusive)", "instructions / I/O"], rows,
                              ["---", "--:"]))
        lines.append("")
        rows = [[f, "%.0f" % v] for f, v in p["top_self"][:12]]
        lines.append(md_table(["function (self)", "instructions / I/O"], rows, ["---", "--:"]))
        calls = p["calls_per_io_worker"]
        if calls:
            lines.append("")
            lines.append("Calls per I/O in that thread: " + ", ".join(
                "`%s` %.3f" % (k, v) for k, v in sorted(calls.items())))
        out.append("\n".join(lines))
    return "\n\n".join(out)


# ---------------------------------------------------------------------------------------------
# plots

def gnuplot(script, cwd):
    if shutil.which("gnuplot") is None:
        print("report: gnuplot not installed, no plots (apt-get install gnuplot-nox)",
              file=sys.stderr)
        return False
    p = subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd, capture_output=True)
    if p.returncode != 0:
        print("report: gnuplot failed:\n" + p.stderr, file=sys.stderr)
        return False
    return True


def plot_matrix(res, outdir):
    idx = index_points(res)
    servers = servers_present(res)
    cfg = configs(res)
    if not servers or not cfg:
        return []
    files = []
    for key, ylabel, fname in (("iops", "IOPS (log scale)", "iops.png"),
                               ("mean", "mean latency, µs (log scale)", "latency.png")):
        rws = sorted({c[0] for c in cfg})
        for rw in rws:
            with open(os.path.join(outdir, "%s-%s.dat" % (key, rw)), "w") as f:
                f.write("config " + " ".join('"%s"' % LABELS[s] for s in servers) + "\n")
                for r, qd, nq in cfg:
                    if r != rw:
                        continue
                    vals = []
                    for s in servers:
                        m = idx.get((s, r, qd, nq))
                        vals.append("%g" % m[key] if m and m[key] > 0 else "NaN")
                    f.write('"QD%d %dq" %s\n' % (qd, nq, " ".join(vals)))
        vals = [idx[(s, r, qd, nq)][key] for s in servers for (r, qd, nq) in cfg
                if (s, r, qd, nq) in idx and idx[(s, r, qd, nq)][key] > 0]
        low = 10 ** math.floor(math.log10(min(vals))) if vals else 1
        plots = ["set yrange [%g:*]" % low]
        for rw in rws:
            plots.append('set title "4 KiB %s"\nplot for [i=2:%d] "%s-%s.dat" using i:xtic(1) '
                         'title columnheader(i)' % (rw, len(servers) + 1, key, rw))
        script = """
set terminal pngcairo size %d,560 font "sans,9" noenhanced
set output "%s"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set ylabel "%s"
set key outside bottom center horizontal font "sans,8" maxrows 2
set xtics nomirror
set multiplot layout 1,%d
%s
unset multiplot
""" % (760 * len(rws), fname, ylabel, len(rws), "\n".join(plots))
        if gnuplot(script, outdir):
            files.append(os.path.join(outdir, fname))
    return files


def plot_scaling(res, outdir):
    sc = res.get("scaling") or []
    if not sc:
        return []
    layouts = []
    for s in sc:
        if s["layout"] not in layouts:
            layouts.append(s["layout"])
    keys = []
    for s in sc:
        k = (s["controllers"], s["queues"])
        if k not in keys:
            keys.append(k)
    with open(os.path.join(outdir, "scaling.dat"), "w") as f:
        f.write("config " + " ".join('"vhostd on %s"' % l for l in layouts) + "\n")
        for c, q in keys:
            vals = []
            for l in layouts:
                m = [s for s in sc if s["layout"] == l and s["controllers"] == c and
                     s["queues"] == q]
                vals.append("%g" % m[0]["iops"] if m else "NaN")
            f.write('"%d ctrl x %dq" %s\n' % (c, q, " ".join(vals)))
    script = """
set terminal pngcairo size 760,420 font "sans,9" noenhanced
set output "scaling.png"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set grid ytics
set yrange [0:*]
set format y "%%.0s%%c"
set ylabel "total IOPS (4 KiB randread, null backend)"
set title "vhost-bench instances (one per controller) against one vhostd"
set key top left
plot for [i=2:%d] "scaling.dat" using i:xtic(1) title columnheader(i)
""" % (len(layouts) + 1)
    return [os.path.join(outdir, "scaling.png")] if gnuplot(script, outdir) else []


# ---------------------------------------------------------------------------------------------
# the document

def replace_section(text, name, body):
    begin = "<!-- generated:%s:begin (tests/bench/report.py writes this part; edit the " \
            "script, not the text) -->" % name
    end = "<!-- generated:%s:end -->" % name
    block = begin + "\n" + body.rstrip() + "\n" + end
    i = text.find("<!-- generated:%s:begin" % name)
    j = text.find(end)
    if i >= 0 and j > i:
        return text[:i] + block + text[j + len(end):]
    return text.rstrip() + "\n\n" + block + "\n"


def sections(res, imgs_rel):
    out = {}
    if res["points"]:
        body = ["### Machine and load", "", machine_block(res), "",
                "### Targets", "", targets_table(res), "",
                "### Ratios", "", ratio_table(res), ""]
        for f in imgs_rel.get("matrix", []):
            body += ["![%s](%s)" % (os.path.basename(f), f), ""]
        body += ["### All figures", "",
                 "Median of the runs by IOPS; latency and CPU from that run. *server cores*: "
                 "CPU time of the server process over the measured window divided by its "
                 "length (a polling vhostd worker is always 1.00); *others*: CPU used by "
                 "processes outside the benchmark during the window, and I/Os on the image's "
                 "disk beyond the benchmark's own (a `*` marks a point whose median run was "
                 "noisier than %.2f cores or %d disk IOPS); *server preempted*: involuntary context switches of "
                 "the server's threads in the window (each one stops a polling worker for a "
                 "time slice); *load*: 1-minute load average at the start of the "
                 "window; *c2c ns*: cache-line round trip between the client's and the "
                 "server's CPU, measured just before and just after the block of runs that "
                 "holds the median run (on a virtual machine it follows where the hypervisor "
                 "puts the vCPUs). For fio the \"server\" is fio itself (it submits and "
                 "reaps)."
                 % (res["meta"]["max_foreign"], res["meta"].get("max_foreign_disk", 500)), "",
                 matrix_tables(res)]
        out["results"] = "\n".join(body)
    if res.get("scaling"):
        body = [scaling_table(res), ""]
        for f in imgs_rel.get("scaling", []):
            body += ["![%s](%s)" % (os.path.basename(f), f), ""]
        out["scaling"] = "\n".join(body)
    if res.get("counters"):
        out["counters"] = counters_table(res)
    if res.get("profile"):
        out["profile"] = profile_tables(res)
    for k in ("scaling", "counters", "profile"):
        if k in out:
            out[k] = short_meta(res) + "\n\n" + out[k]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--doc", action="store_true", help="update docs/benchmarks.md and its plots")
    ap.add_argument("--doc-path", default=DOC)
    a = ap.parse_args()

    with open(a.results) as f:
        res = json.load(f)
    outdir = os.path.dirname(os.path.abspath(a.results))
    imgs = {"matrix": plot_matrix(res, outdir), "scaling": plot_scaling(res, outdir)}

    secs = sections(res, {k: v for k, v in imgs.items()})
    text = []
    for name in ("results", "scaling", "counters", "profile"):
        if name in secs:
            text.append("## %s\n\n%s" % (name, secs[name]))
    report = "\n\n".join(text) + "\n"
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write(report)
    sys.stdout.write(report)
    print("\nreport: %s, plots: %s" % (os.path.join(outdir, "report.md"),
                                       " ".join(sum(imgs.values(), [])) or "none"),
          file=sys.stderr)

    if a.doc:
        docdir = os.path.dirname(os.path.abspath(a.doc_path))
        imgdir = os.path.join(docdir, "benchmarks")
        os.makedirs(imgdir, exist_ok=True)
        rel = {}
        for part, files in imgs.items():
            rel[part] = []
            for f in files:
                shutil.copy(f, os.path.join(imgdir, os.path.basename(f)))
                rel[part].append("benchmarks/" + os.path.basename(f))
        secs = sections(res, rel)
        with open(a.doc_path) as f:
            doc = f.read()
        for name, body in secs.items():
            doc = replace_section(doc, name, body)
        with open(a.doc_path, "w") as f:
            f.write(doc)
        print("report: updated %s (%s)" % (a.doc_path, ", ".join(secs)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
