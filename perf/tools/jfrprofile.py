"""Reads a JFR recording with the JDK's `jfr print --json` and summarises where a thread group's time and memory go.

Used by jfr-top.py (a recording at hand) and by loadbench.py (`perf/run --profile`: a recording of Postern under one
scenario's load). Python 3 standard library only.

summary(path, thread_prefix) returns, for the threads whose Java name starts with thread_prefix (Postern's event
loops: "postern-io"):
  - samples: jdk.ExecutionSample count (Java code running; JFR does not sample the kernel);
  - top_self: [(frame, samples)], the top frame of each sample;
  - subsystems: [(subsystem, samples)], the top frames grouped by package (SUBSYSTEMS);
  - native: [(frame, samples)], jdk.NativeMethodSample top frames (the thread inside a JNI call: epoll, writes);
  - allocated_bytes: the threads' jdk.ThreadAllocationStatistics growth over the recording (exact, not sampled);
  - alloc_classes, alloc_sites: [(name, share)] of the jdk.ObjectAllocationSample weight, by class and by the first
    dev.postern frame of the allocating stack (each thread's first sample left out: its weight reaches back to
    before the recording);
  - gc: young/full collection counts, total and longest pause (jdk.GarbageCollection), in ms.
"""
import collections
import json
import os
import re
import subprocess

# The self frame's package → subsystem; the first matching prefix wins, so the specific ones come first.
SUBSYSTEMS = (
    ("dev.postern.proxy.upstream.", "Postern upstream (pools, relay)"),
    ("dev.postern.proxy.http.", "Postern HTTP (request path, filters)"),
    ("dev.postern.proxy.server.", "Postern server (listeners, pipeline)"),
    ("dev.postern.proxy.tls.", "Postern TLS"),
    ("dev.postern.config.", "Postern route table (route-config)"),
    ("dev.postern.", "Postern, other"),
    ("io.netty.handler.codec.http2.", "Netty HTTP/2 codec"),
    ("io.netty.handler.codec.http.", "Netty HTTP/1.1 codec"),
    ("io.netty.handler.ssl.", "Netty TLS (SslHandler, tcnative)"),
    ("io.netty.internal.tcnative.", "Netty TLS (SslHandler, tcnative)"),
    ("io.netty.channel.epoll.", "Netty transport (epoll, channel, pipeline)"),
    ("io.netty.channel.unix.", "Netty transport (epoll, channel, pipeline)"),
    ("io.netty.channel.", "Netty transport (epoll, channel, pipeline)"),
    ("io.netty.buffer.", "Netty buffers"),
    ("io.netty.", "Netty, other (util, codec base)"),
    ("java.", "JDK"),
    ("jdk.", "JDK"),
    ("sun.", "JDK"),
)


def jfr_tool(java=None):
    """The jfr tool next to the given java, $JFR, the JDK 25 Temurin package's, or the one on PATH."""
    cands = [os.environ.get("JFR")]
    if java:
        cands.append(os.path.join(os.path.dirname(java), "jfr"))
    cands.append("/usr/lib/jvm/temurin-25-jdk-amd64/bin/jfr")
    for cand in cands:
        if cand and os.access(cand, os.X_OK):
            return cand
    return "jfr"


def load(path, events, depth=32, jfr=None, prefix=()):
    """The recording's events of the given types, as `jfr print --json` writes them; prefix: e.g. taskset."""
    raw = subprocess.run(list(prefix) + [jfr or jfr_tool(), "print", "--json", "--stack-depth", str(depth),
                                         "--events", ",".join(events), path],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    return json.loads(raw)["recording"]["events"]


def frames(ev):
    st = ev["values"].get("stackTrace")
    if not st:
        return []
    return [f["method"]["type"]["name"].replace("/", ".") + "." + f["method"]["name"] for f in st["frames"]]


def thread_name(ev):
    v = ev["values"]
    t = v.get("sampledThread") or v.get("eventThread") or v.get("thread") or {}
    return t.get("javaName") or t.get("osName") or ""


def subsystem(frame):
    return next((name for prefix, name in SUBSYSTEMS if frame.startswith(prefix)), "other")


def seconds(iso):
    """A JFR duration as `jfr print --json` writes it (ISO-8601, "PT0.0012S", "PT1M2.5S") in seconds."""
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", iso or "")
    if not m:
        return 0.0
    h, mi, s = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def summary(path, thread_prefix="postern-io", jfr=None, prefix=(), top=8):
    events = load(path, ("jdk.ExecutionSample", "jdk.NativeMethodSample", "jdk.ObjectAllocationSample",
                         "jdk.ThreadAllocationStatistics", "jdk.GarbageCollection"), jfr=jfr, prefix=prefix)
    selfc, subs, native = collections.Counter(), collections.Counter(), collections.Counter()
    alloc_cls, alloc_site = collections.Counter(), collections.Counter()
    allocated = {}  # thread → [lowest, highest, events] of its allocated bytes
    gc = {"young": 0, "full": 0, "pause_ms": 0.0, "max_ms": 0.0}
    threads = set()
    samples = {}  # thread → [(start time, weight, class, first Postern frame)] of jdk.ObjectAllocationSample
    n = 0
    for ev in events:
        typ = ev["type"]
        if typ == "jdk.GarbageCollection":
            v = ev["values"]
            full = v.get("name") in ("SerialOld", "G1Full", "PSMarkSweep", "ParallelOld") or "Full" in v.get(
                "name", "")
            gc["full" if full else "young"] += 1
            gc["pause_ms"] += seconds(v.get("sumOfPauses")) * 1000
            gc["max_ms"] = max(gc["max_ms"], seconds(v.get("longestPause")) * 1000)
            continue
        tname = thread_name(ev)
        if not tname.startswith(thread_prefix):
            continue
        threads.add(tname)
        if typ == "jdk.ThreadAllocationStatistics":
            b = int(ev["values"].get("allocated", 0))
            lo, hi, k = allocated.get(tname, (b, b, 0))
            allocated[tname] = (min(lo, b), max(hi, b), k + 1)
            continue
        fr = frames(ev)
        if typ == "jdk.ExecutionSample":
            n += 1
            if fr:
                selfc[fr[0]] += 1
                subs[subsystem(fr[0])] += 1
        elif typ == "jdk.NativeMethodSample":
            if fr:
                native[fr[0]] += 1
        elif typ == "jdk.ObjectAllocationSample":
            v = ev["values"]
            samples.setdefault(tname, []).append((v.get("startTime", ""), v.get("weight", 0),
                                                  v["objectClass"]["name"].replace("/", "."),
                                                  next((m for m in fr if m.startswith("dev.postern")),
                                                       fr[0] if fr else "?")))
    # A sample's weight is what its thread allocated since the thread's previous sample, so each thread's first
    # sample of a recording also carries everything allocated before the recording began (gigabytes after a
    # warm-up): it is left out.
    for per_thread in samples.values():
        per_thread.sort()
        for _, w, cls, site in per_thread[1:]:
            alloc_cls[cls] += w
            alloc_site[site] += w
    weight = sum(alloc_cls.values()) or 1
    return {
        "threads": sorted(threads),
        "samples": n,
        "top_self": selfc.most_common(top),
        "subsystems": subs.most_common(),
        "native_samples": sum(native.values()),
        "native": native.most_common(5),
        # One thread seen once (started during the recording) allocated everything it reports.
        "allocated_bytes": sum(hi - lo if k > 1 else hi for lo, hi, k in allocated.values()),
        "alloc_sampled_bytes": sum(alloc_cls.values()),
        "alloc_classes": [(c, w / weight) for c, w in alloc_cls.most_common(top)],
        "alloc_sites": [(c, w / weight) for c, w in alloc_site.most_common(5)],
        "gc": gc,
    }
