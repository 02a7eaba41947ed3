#!/usr/bin/env python3
"""Summarises a JFR recording's CPU samples: top self frames, top inclusive frames, allocation by class.

usage: jfr-top.py FILE.jfr [--thread SUBSTRING] [--top N] [--filter PACKAGE_PREFIX]
       jfr-top.py FILE.jfr --summary [--thread PREFIX] [--top N]

--summary prints what `perf/run --profile` writes into RESULTS.md for each profiled scenario: the top self frames
of the threads whose name starts with PREFIX (default postern-io), the split by subsystem, native-method samples,
the bytes those threads allocated and by which classes, and the GC pauses (see jfrprofile.py).

Reads `jfr print --json` output (the JDK's own tool, found next to the JDK 25 java). Self = the top frame of a
sample; inclusive = any frame of the sample's stack (each method counted once per sample).
"""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jfrprofile import frames, load, summary, thread_name  # noqa: E402


def print_summary(path, thread, top):
    """The summary perf/run --profile writes into RESULTS.md, for a recording at hand (allocation: totals only)."""
    s = summary(path, thread or "postern-io", top=top)
    n = max(s["samples"], 1)
    print(f"{s['samples']} CPU samples on {', '.join(s['threads']) or 'no thread'}")
    print("\nself (top frame):")
    for m, c in s["top_self"]:
        print(f"  {100.0 * c / n:5.1f}%  {m}")
    print("\nby subsystem (the self frame's package):")
    for m, c in s["subsystems"]:
        print(f"  {100.0 * c / n:5.1f}%  {m}")
    print(f"\nin native methods ({s['native_samples']} samples):")
    for m, c in s["native"]:
        print(f"  {100.0 * c / max(s['native_samples'], 1):5.1f}%  {m}")
    print(f"\nallocated by these threads: {s['allocated_bytes'] / 2**20:.1f} MiB; by class (sampled):")
    for c, share in s["alloc_classes"]:
        print(f"  {100.0 * share:5.1f}%  {c}")
    g = s["gc"]
    print(f"\nGC: {g['young']} young, {g['full']} full, pauses {g['pause_ms']:.1f} ms in all, longest "
          f"{g['max_ms']:.1f} ms")


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        sys.exit(2)
    path = args[0]
    thread = None
    top = 25
    filt = None
    brief = False
    i = 1
    while i < len(args):
        if args[i] == "--thread":
            thread = args[i + 1]; i += 2
        elif args[i] == "--top":
            top = int(args[i + 1]); i += 2
        elif args[i] == "--filter":
            filt = args[i + 1]; i += 2
        elif args[i] == "--summary":
            brief = True; i += 1
        else:
            sys.exit("unknown argument " + args[i])
    if brief:
        print_summary(path, thread, top)
        return
    events = load(path, ("jdk.ExecutionSample", "jdk.ObjectAllocationSample"), depth=64)
    # Each thread's first allocation sample weighs what it allocated before the recording too: left out.
    events.sort(key=lambda ev: ev["values"].get("startTime", ""))
    first_seen = set()
    selfc = collections.Counter()
    incl = collections.Counter()
    alloc = collections.Counter()
    alloc_site = collections.Counter()
    n = 0
    for ev in events:
        tname = thread_name(ev)
        if thread and thread not in tname:
            continue
        fr = frames(ev)
        if ev["type"] == "jdk.ExecutionSample":
            n += 1
            if fr:
                selfc[fr[0]] += 1
            for m in set(fr):
                if not filt or m.startswith(filt):
                    incl[m] += 1
        elif ev["type"] == "jdk.ObjectAllocationSample":
            if tname not in first_seen:
                first_seen.add(tname)
                continue
            w = ev["values"].get("weight", 0)
            cls = ev["values"]["objectClass"]["name"].replace("/", ".")
            alloc[cls] += w
            site = next((m for m in fr if m.startswith("dev.postern")), fr[0] if fr else "?")
            alloc_site[site] += w
    print(f"{n} CPU samples" + (f" on threads matching '{thread}'" if thread else ""))
    print("\nself (top frame):")
    for m, c in selfc.most_common(top):
        print(f"  {100.0 * c / max(n, 1):5.1f}%  {m}")
    print("\ninclusive" + (f" ({filt}*)" if filt else "") + ":")
    for m, c in incl.most_common(top):
        print(f"  {100.0 * c / max(n, 1):5.1f}%  {m}")
    total = sum(alloc.values())
    if total:
        print(f"\nallocation (sampled weight {total / 2**20:.0f} MiB) by class:")
        for c, w in alloc.most_common(12):
            print(f"  {100.0 * w / total:5.1f}%  {c}")
        print("by first dev.postern frame:")
        for c, w in alloc_site.most_common(12):
            print(f"  {100.0 * w / total:5.1f}%  {c}")


if __name__ == "__main__":
    main()
