#!/usr/bin/env python3
"""Summarises a JFR recording's CPU samples: top self frames, top inclusive frames, allocation by class.

usage: jfr-top.py FILE.jfr [--thread SUBSTRING] [--top N] [--filter PACKAGE_PREFIX]

Reads `jfr print --json` output (the JDK's own tool, found next to the JDK 25 java). Self = the top frame of a
sample; inclusive = any frame of the sample's stack (each method counted once per sample).
"""
import collections
import json
import os
import subprocess
import sys


def jfr_tool():
    for cand in (os.environ.get("JFR"), "/usr/lib/jvm/temurin-25-jdk-amd64/bin/jfr"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return "jfr"


def frames(ev):
    st = ev["values"].get("stackTrace")
    if not st:
        return []
    out = []
    for f in st["frames"]:
        m = f["method"]
        out.append(m["type"]["name"].replace("/", ".") + "." + m["name"])
    return out


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        sys.exit(2)
    path = args[0]
    thread = None
    top = 25
    filt = None
    i = 1
    while i < len(args):
        if args[i] == "--thread":
            thread = args[i + 1]; i += 2
        elif args[i] == "--top":
            top = int(args[i + 1]); i += 2
        elif args[i] == "--filter":
            filt = args[i + 1]; i += 2
        else:
            sys.exit("unknown argument " + args[i])
    raw = subprocess.run([jfr_tool(), "print", "--json", "--stack-depth", "64", "--events",
                          "jdk.ExecutionSample,jdk.ObjectAllocationSample", path],
                         check=True, capture_output=True, text=True).stdout
    events = json.loads(raw)["recording"]["events"]
    selfc = collections.Counter()
    incl = collections.Counter()
    alloc = collections.Counter()
    alloc_site = collections.Counter()
    n = 0
    for ev in events:
        t = ev["values"].get("sampledThread") or ev["values"].get("eventThread") or {}
        tname = (t or {}).get("javaName") or (t or {}).get("osName") or ""
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
