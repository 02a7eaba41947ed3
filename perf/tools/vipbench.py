#!/usr/bin/env python3
"""The driver behind perf/vip: Postern through the BPF TPROXY VIP path against its plain listener, same run.

perf/vip creates the three namespaces, mounts a private bpf file system and removes all of it (and every PID recorded
in WORK/pids) when it exits. This driver:

  1. writes the configs: nginx (one worker, a 64-byte `return 200`) in the pod namespace; Postern in the node
     namespace with `tproxy.enabled` on the client-facing veth, a Gateway `vip` with the address 198.51.100.10 and an
     HTTP listener on :80 (steered, never bound), and a Gateway `plain` without addresses, HTTP on :8080 (bound as
     usual); one HTTPRoute attached to both;
  2. checks both paths answer 200 from the client namespace, and that the VIP path moves the BPF counters;
  3. warms both paths up, then runs each load in interleaved rounds (VIP, plain, VIP, plain, ...) with wrk inside the
     client namespace, reading Postern's CPU time from /proc/<pid>/stat, the busy time of every CPU from /proc/stat
     and Postern's BPF counters from its admin endpoint before and after;
  4. writes the `vip` section of RESULTS.md and the raw results as JSON in perf/target.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resultsmd  # noqa: E402
from loadbench import (SMALL_BODY, Processes, cores_busy, cpu_split, parse_wrk, rss_mib,  # noqa: E402
                       wait_until, write)

VIP, NODE, POD, CLIENT = "198.51.100.10", "203.0.113.1", "10.79.0.2", "203.0.113.7"
UP_PORT, PLAIN_PORT, ADMIN_PORT, TPROXY_PORT = 8080, 8080, 9901, 15001
PATHS = ("vip", "plain")
LABEL = {"vip": "VIP (BPF TPROXY)", "plain": "plain listener"}
LOADS = ("ka", "close")
LOAD_LABEL = {"ka": "keep-alive", "close": "new connection per request"}


def config(d, bpffs):
    write(os.path.join(d, "conf", "gateways.yaml"), f"""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: postern}}
spec: {{controllerName: postern.dev/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: vip, namespace: default}}
spec:
  gatewayClassName: postern
  addresses: [{{type: IPAddress, value: {VIP}}}]
  listeners: [{{name: http, protocol: HTTP, port: 80}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: plain, namespace: default}}
spec:
  gatewayClassName: postern
  listeners: [{{name: http, protocol: HTTP, port: {PLAIN_PORT}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: bench, namespace: default}}
spec:
  parentRefs: [{{name: vip}}, {{name: plain}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /}}}}]
    backendRefs: [{{name: upstream, port: 80}}]
---
apiVersion: v1
kind: Service
metadata: {{name: upstream, namespace: default}}
spec: {{ports: [{{name: http, port: 80, targetPort: {UP_PORT}}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: upstream-1, namespace: default, labels: {{kubernetes.io/service-name: upstream}}}}
addressType: IPv4
endpoints: [{{addresses: [{POD}], conditions: {{ready: true}}}}]
ports: [{{name: http, port: {UP_PORT}}}]
""")
    write(os.path.join(d, "bootstrap.yaml"), f"""# perf/vip: one event loop (the JVM is pinned to one core), TPROXY on the client-facing veth.
admin: {{address: 127.0.0.1, port: {ADMIN_PORT}}}
transport: epoll
eventLoops: 1
accessLog: false
tproxy:
  enabled: true
  required: true
  interfaces: [nc]
  listenPort: {TPROXY_PORT}
  pinRoot: {bpffs}/postern
""")
    os.makedirs(os.path.join(d, "nginx", "tmp"), exist_ok=True)
    write(os.path.join(d, "nginx", "nginx.conf"), f"""worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx/nginx.pid;
error_log {d}/nginx/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
  client_body_temp_path {d}/nginx/tmp;
  proxy_temp_path {d}/nginx/tmp;
  fastcgi_temp_path {d}/nginx/tmp;
  uwsgi_temp_path {d}/nginx/tmp;
  scgi_temp_path {d}/nginx/tmp;
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen {POD}:{UP_PORT} backlog=4096;
    location / {{ default_type text/plain; return 200 "{SMALL_BODY.rstrip()}\\n"; }}
  }}
}}
""")


class Bench:
    def __init__(self, a):
        self.a = a
        self.procs = Processes(a.work)
        self.urls = {"vip": f"http://{VIP}/", "plain": f"http://{NODE}:{PLAIN_PORT}/"}
        self.results = []
        self.commands = {}

    def in_ns(self, ns, cmd):
        return ["ip", "netns", "exec", ns] + cmd

    def curl(self, ns, url, timeout=5):
        p = subprocess.run(self.in_ns(ns, ["curl", "-sS", "--max-time", str(timeout), "-o", "/dev/null", "-w",
                                           "%{http_code} %{size_download}", url]),
                           capture_output=True, text=True, timeout=timeout + 10)
        return p.stdout.strip() + p.stderr.strip()

    def counters(self):
        """Postern's BPF counters (gateway_tproxy_packets_total) from its admin endpoint in the node namespace."""
        out = subprocess.run(self.in_ns(self.a.ns_node, ["curl", "-sS", "--max-time", "5",
                                                         f"http://127.0.0.1:{ADMIN_PORT}/stats/prometheus"]),
                             capture_output=True, text=True, timeout=15).stdout
        return {m.group(1): float(m.group(2)) for m in
                re.finditer(r'gateway_tproxy_packets_total\{counter="(\w+)",?\} (\S+)', out)}

    def alive_or_fail(self, name):
        if not self.procs.alive(name):
            log = open(os.path.join(self.a.work, f"{name}.log")).read()[-3000:]
            raise RuntimeError(f"{name} exited early; its log ends with:\n{log}")
        return True

    def start(self):
        a = self.a
        config(a.work, a.bpffs)
        self.procs.start("nginx", self.in_ns(a.ns_pod, ["nginx", "-c", os.path.join(a.work, "nginx", "nginx.conf")]),
                         a.load_cpus)
        self.postern_cmd = ([a.java] + shlex.split(a.jvm_flags)
                            + ["-jar", os.path.join(a.root, "proxy-core", "target", "postern.jar"), "run",
                               os.path.join(a.work, "conf"), "--bootstrap", os.path.join(a.work, "bootstrap.yaml")])
        self.procs.start("postern", self.in_ns(a.ns_node, self.postern_cmd), a.proxy_cpus)
        want = f"200 {len(SMALL_BODY)}"
        for path in PATHS:
            wait_until(f"{path} path", lambda u=self.urls[path]: self.alive_or_fail("postern")
                       and self.alive_or_fail("nginx") and self.curl(a.ns_client, u, 2) == want, 60)
        # The VIP path really goes through the program: a few requests move the listener assignments.
        before = self.counters().get("assigned_listener", 0)
        for _ in range(5):
            got = self.curl(a.ns_client, self.urls["vip"])
            if got != want:
                raise RuntimeError(f"VIP check: {got}")
        time.sleep(0.6)  # Postern reads the per-CPU map at most every 500 ms
        after = self.counters().get("assigned_listener", 0)
        if after - before < 5:
            raise RuntimeError(f"the BPF program did not assign the VIP's connections (assigned_listener "
                               f"{before} → {after})")
        print(f"perf/vip: both paths answer; assigned_listener {before:.0f} → {after:.0f}", flush=True)

    def wrk(self, path, load, duration, conns):
        cmd = ["wrk", "-t1", f"-c{conns if load == 'ka' else max(1, conns // 2)}", f"-d{duration}s", "--latency",
               "--timeout", "5s"]
        if load == "close":
            cmd += ["-H", "Connection: close"]
        return ["taskset", "-c", self.a.load_cpus] + self.in_ns(self.a.ns_client, cmd + [self.urls[path]])

    def run_once(self, path, load, rnd, duration):
        cmd = self.wrk(path, load, duration, self.a.conns)
        self.commands.setdefault(load, " ".join(shlex.quote(c) for c in cmd))
        pids = self.procs.pids("postern")
        all_cpus = list(range(os.cpu_count()))
        k0 = self.counters()
        (u0, s0), m0, t0 = cpu_split(pids), cores_busy(all_cpus), time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
        wall = time.monotonic() - t0
        (u1, s1), m1 = cpu_split(pids), cores_busy(all_cpus)
        time.sleep(0.6)
        k1 = self.counters()
        r = parse_wrk(p.stdout + p.stderr)
        n = max(1, r["requests"])
        r.update(path=path, load=load, round=rnd, wall_s=wall,
                 cpu_us_per_req=(u1 - u0 + s1 - s0) / n * 1e6, user_us_per_req=(u1 - u0) / n * 1e6,
                 sys_us_per_req=(s1 - s0) / n * 1e6, machine_us_per_req=(m1 - m0) / n * 1e6,
                 postern_util=(u1 - u0 + s1 - s0) / wall, rss_mib=rss_mib(pids),
                 assigned_listener=k1.get("assigned_listener", 0) - k0.get("assigned_listener", 0),
                 assigned_by_lookup=k1.get("assigned_by_lookup", 0) - k0.get("assigned_by_lookup", 0),
                 dropped=k1.get("dropped", 0) - k0.get("dropped", 0))
        self.alive_or_fail("postern")
        print(f"  round {rnd} {load:5} {path:5}: {r['rps']:9.0f} req/s  p99 {r['p99_ms']} ms  "
              f"Postern {r['cpu_us_per_req']:.1f} µs/req  machine {r['machine_us_per_req']:.1f} µs/req  "
              f"BPF: SYN to listener {r['assigned_listener']:.0f}, time-wait reopen {r['assigned_by_lookup']:.0f}  errors {r['socket_errors'] + r['non2xx']}",
              flush=True)
        self.results.append(r)
        return r

    def run(self):
        a = self.a
        self.loadavg = [os.getloadavg()[0]]
        # Warm-up: both paths, both loads, alternating, so the JIT sees every code path before measuring.
        step = max(2, a.warmup // 8)
        print(f"perf/vip: warm-up {a.warmup} s", flush=True)
        end = time.monotonic() + a.warmup
        while time.monotonic() < end:
            for load in LOADS:
                for path in PATHS:
                    subprocess.run(self.wrk(path, load, step, a.conns), capture_output=True, timeout=step + 30)
        for rnd in range(1, a.rounds + 1):
            for load in LOADS:
                for path in PATHS:
                    self.run_once(path, load, rnd, a.duration)
        self.loadavg.append(os.getloadavg()[0])


def med(rs, key):
    v = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(v) if v else None


def render(b, started):
    a = b.a
    agg = {}
    for load in LOADS:
        for path in PATHS:
            rs = [r for r in b.results if r["load"] == load and r["path"] == path]
            agg[(load, path)] = {k: med(rs, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req",
                                                           "user_us_per_req", "sys_us_per_req",
                                                           "machine_us_per_req", "postern_util", "rss_mib")}
            agg[(load, path)]["errors"] = sum(r["socket_errors"] + r["non2xx"] for r in rs)
            agg[(load, path)]["requests"] = sum(r["requests"] for r in rs)
            agg[(load, path)]["assigned"] = sum(r["assigned_listener"] for r in rs)
            agg[(load, path)]["reopened"] = sum(r.get("assigned_by_lookup", 0) for r in rs)
            agg[(load, path)]["dropped"] = sum(r["dropped"] for r in rs)
    L = ["## VIP path (BPF TPROXY) vs Postern's plain listener\n",
         f"{started}, `{b.command}`: {a.rounds} interleaved round(s) of {a.duration} s per load and path (VIP, "
         f"plain, VIP, plain, ...), after a {a.warmup} s warm-up of both; medians shown.\n",
         resultsmd.machine(a.java),
         f"- Other load: load average {b.loadavg[0]:.2f} at the start, {b.loadavg[-1]:.2f} at the end",
         "",
         f"- Namespaces: client `{CLIENT}` ── veth ── node (Postern, its BPF program on the client-facing veth `nc`, "
         f"`{NODE}`) ── veth ── pod `{POD}` (nginx 1 worker, a {len(SMALL_BODY)}-byte `return 200`). One Postern "
         f"process serves both paths with the same HTTPRoute and backend.",
         f"- VIP: `http://{VIP}/`: no interface owns the address; tc ingress BPF (`bpf_sk_assign`) hands each "
         f"connection to the IP_TRANSPARENT listener on 127.0.0.1:{TPROXY_PORT}. Plain: `http://{NODE}:{PLAIN_PORT}/`,"
         f" an ordinary listener on the node's address (the program sees and passes these packets unmatched).",
         f"- Layout: Postern (`eventLoops: 1`, epoll, access log off) pinned to CPU {a.proxy_cpus}; wrk (one thread, "
         f"in the client namespace) and nginx on CPU {a.load_cpus}. Postern: `{a.java} {a.jvm_flags} -jar "
         f"proxy-core/target/postern.jar run DIR --bootstrap bootstrap.yaml`.",
         "- Postern µs/req: Postern's utime+stime (/proc/<pid>/stat) over the round ÷ requests. Machine µs/req: busy "
         "time of every CPU (/proc/stat) ÷ requests: wrk, nginx, Postern and the kernel's softirq work, where the "
         "BPF program runs (in the sender's context, mostly wrk's CPU), so only this column sees the program's cost. "
         "New connections (BPF): over all rounds of that row, SYNs the tc program gave the transparent listener "
         "(`assigned_listener`) + SYNs that reopened a connection still in TIME_WAIT on the node (wrk reuses ports "
         "quickly; Postern closed first), which the kernel's time-wait code hands to the sk_lookup program "
         "(`assigned_by_lookup`).",
         ""]
    for load in LOADS:
        cmd = b.commands.get(load, "")
        L.append(f"**{LOAD_LABEL[load]}** (`{cmd}`):\n")
        L.append("| path | req/s | p50 ms | p99 ms | Postern µs/req (user+sys) | machine µs/req | Postern core busy "
                 "| new connections (BPF: listener + reopened) | errors |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for path in PATHS:
            g = agg[(load, path)]
            L.append(f"| {LABEL[path]} | {g['rps']:.0f} | {g['p50_ms']:.2f} | {g['p99_ms']:.2f} | "
                     f"{g['cpu_us_per_req']:.1f} ({g['user_us_per_req']:.1f}+{g['sys_us_per_req']:.1f}) | "
                     f"{g['machine_us_per_req']:.1f} | {g['postern_util'] * 100:.0f}% | {g['assigned']:.0f} + "
                     f"{g['reopened']:.0f} for {g['requests']} requests | {g['errors']} |")
        L.append("")
    v, p = agg[("ka", "vip")], agg[("ka", "plain")]
    cv, cp = agg[("close", "vip")], agg[("close", "plain")]
    L.append("**VIP ÷ plain** (same run; above 1 is better for rates, below 1 for CPU):\n")
    L.append("| figure | keep-alive (requests/s) | new connection per request (connections/s) |")
    L.append("|---|---|---|")
    L.append(f"| rate | {v['rps'] / p['rps']:.2f} ({v['rps']:.0f} vs {p['rps']:.0f}) | "
             f"{cv['rps'] / cp['rps']:.2f} ({cv['rps']:.0f} vs {cp['rps']:.0f}) |")
    L.append(f"| Postern CPU per request | {v['cpu_us_per_req'] / p['cpu_us_per_req']:.2f} | "
             f"{cv['cpu_us_per_req'] / cp['cpu_us_per_req']:.2f} |")
    L.append(f"| machine CPU per request | {v['machine_us_per_req'] / p['machine_us_per_req']:.2f} | "
             f"{cv['machine_us_per_req'] / cp['machine_us_per_req']:.2f} |")
    L.append("")
    L.append("Per round (req/s): " + "; ".join(
        f"{r['load']} {r['path']} r{r['round']} {r['rps']:.0f}" for r in b.results) + "\n")
    return "\n".join(L), agg


def main():
    ap = argparse.ArgumentParser()
    for k in ("work", "root", "java", "jvm-flags", "bpffs", "ns-client", "ns-node", "ns-pod", "proxy-cpus",
              "load-cpus", "results-md", "command"):
        ap.add_argument("--" + k, required=True)
    for k in ("rounds", "duration", "warmup", "conns", "hold"):
        ap.add_argument("--" + k, type=int, required=True)
    a = ap.parse_args()
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    b = Bench(a)
    b.command = a.command
    try:
        b.start()
        if a.hold:
            print(f"perf/vip: holding for {a.hold} s: ip netns exec {a.ns_client} curl {b.urls['vip']}", flush=True)
            time.sleep(a.hold)
        b.run()
    finally:
        b.procs.stop_all()
    body, agg = render(b, started)
    resultsmd.replace_section(a.results_md, "vip", body)
    os.makedirs(os.path.join(a.root, "perf", "target"), exist_ok=True)
    with open(os.path.join(a.root, "perf", "target", "vip-results.json"), "w") as f:
        json.dump({"results": b.results, "commands": b.commands}, f, indent=1)
    print(body)


if __name__ == "__main__":
    main()
