#!/usr/bin/env python3
"""Self-check of perf/run's report code: python3 perf/tools/test_perf_tools.py (stdlib unittest, about 10 s).

- jfrprofile.summary against a real JFR recording of a small Java program (JDK 25's java and jfr): the thread
  filter, the exact allocation figure, the allocation samples without the weight from before the recording;
- the goals table and the profile section of loadbench.render: without --profile the missed rows are as before,
  with it each profiled row links to a heading that the profile section really has;
- which scenarios --profile picks.
"""
import os
import subprocess
import sys
import tempfile
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jfrprofile  # noqa: E402
import loadbench  # noqa: E402

JAVA = os.environ.get("POSTERN_JAVA", "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java")

# Allocates 400 MiB on a thread named postern-io-test before a recording starts and 64 MiB while it runs, then
# spins for 300 ms so that the recording's CPU samples reliably land in the program's own frames.
PROGRAM = """
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import java.nio.file.Path;

public class Alloc {
    static volatile Object sink;

    static void allocate(long bytes) {
        for (long done = 0; done < bytes; done += 1024) {
            sink = new byte[1024 - 16];
        }
    }

    static volatile long spins;

    /** Runs Java code without allocating for {@code ms}, so that CPU samples land in this class. */
    static void spin(long ms) {
        final long end = System.nanoTime() + ms * 1_000_000;
        while (System.nanoTime() < end) {
            spins++;
        }
    }

    public static void main(String[] args) throws Exception {
        Thread t = new Thread(() -> {
            try {
                allocate(400L << 20);
                try (Recording r = new Recording(Configuration.getConfiguration("profile"))) {
                    r.start();
                    allocate(64L << 20);
                    spin(300);
                    Thread.sleep(200);
                    r.stop();
                    r.dump(Path.of(args[0]));
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, "postern-io-test");
        t.start();
        t.join();
    }
}
"""


@unittest.skipUnless(os.access(JAVA, os.X_OK), "needs JDK 25 (POSTERN_JAVA)")
class JfrSummaryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        src = os.path.join(cls.dir.name, "Alloc.java")
        with open(src, "w") as f:
            f.write(PROGRAM)
        cls.rec = os.path.join(cls.dir.name, "alloc.jfr")
        subprocess.run([JAVA, "-XX:+UseSerialGC", "-Xmx64m", src, cls.rec], check=True, capture_output=True,
                       timeout=120)
        cls.s = jfrprofile.summary(cls.rec, "postern-io", jfr=jfrprofile.jfr_tool(JAVA))

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_exact_allocation_covers_only_the_recording(self):
        mib = self.s["allocated_bytes"] / 2 ** 20
        self.assertEqual(["postern-io-test"], self.s["threads"])
        self.assertGreater(mib, 63)
        self.assertLess(mib, 100, "the 400 MiB allocated before the recording must not count")

    def test_allocation_samples_leave_out_the_weight_from_before(self):
        self.assertEqual("[B", self.s["alloc_classes"][0][0])
        self.assertLess(self.s["alloc_sampled_bytes"], 2 * self.s["allocated_bytes"])

    def test_cpu_samples_and_gc(self):
        self.assertGreater(self.s["samples"], 0)
        self.assertTrue(any(f.startswith("Alloc.") for f, _ in self.s["top_self"]))
        self.assertGreater(self.s["gc"]["young"], 0)  # 64 MiB through a 64 MiB heap
        self.assertEqual("other", jfrprofile.subsystem("Alloc.allocate"))

    def test_subsystems_and_durations(self):
        self.assertEqual("Netty HTTP/2 codec",
                         jfrprofile.subsystem("io.netty.handler.codec.http2.DefaultHttp2FrameReader.readFrame"))
        self.assertEqual("Netty HTTP/1.1 codec", jfrprofile.subsystem("io.netty.handler.codec.http.HttpObjectDecoder.decode"))
        self.assertEqual("Postern upstream (pools, relay)",
                         jfrprofile.subsystem("dev.postern.proxy.upstream.UpstreamPool.acquire"))
        self.assertEqual("JDK", jfrprofile.subsystem("java.util.HashMap.get"))
        self.assertAlmostEqual(62.5, jfrprofile.seconds("PT1M2.5S"))
        self.assertAlmostEqual(0.0012, jfrprofile.seconds("PT0.0012S"))


def harness(agg_cpu, profiles=None, scenarios=("h1-ka", "h2c", "scale-16")):
    """A Harness as render() sees it after the rounds, with the given CPU µs/req per (scenario, target)."""
    a = types.SimpleNamespace(section="load", key="ecdsa", scenarios=list(scenarios), targets=["postern", "haproxy"],
                              rounds=1, duration=5, java=JAVA, jvm_flags="-Xmx256m", proxy_cpus="0", load_cpus="1",
                              profile=10, profile_scenarios="", root=os.path.dirname(os.path.dirname(
                                  os.path.dirname(os.path.abspath(__file__)))))
    h = loadbench.Harness.__new__(loadbench.Harness)
    h.a, h.results, h.extra, h.commands, h.notes = a, [], {}, {}, []
    h.profiles = profiles or {}
    h.loadavg, h.started_commands = ["0.1", "0.2"], {"postern": "java -jar postern.jar"}
    agg = {}
    for (sid, t), cpu in agg_cpu.items():
        agg[(sid, t)] = {"rps": 10000.0, "p50_ms": 1.0, "p99_ms": 2.0, "cpu_us_per_req": cpu, "rss_mib": 100.0,
                         "bytes_per_s": 1e6, "proxy_core_util": 0.5, "user_us_per_req": cpu / 2,
                         "sys_us_per_req": cpu / 2, "errors": 0, "rounds": 1, "tls": ""}
    return h, agg


def fake_profile(sid):
    return {"scenario": sid, "duration_s": 10, "wall_s": 10.0, "requests": 100000, "rps": 10000.0, "non2xx": 0,
            "socket_errors": 0, "cpu_us_per_req": 30.0, "user_us_per_req": 15.0, "sys_us_per_req": 15.0,
            "loop_user_us_per_req": 14.0, "loop_sys_us_per_req": 15.0, "alloc_bytes_per_req": 3000.0,
            "recording": f"perf/target/profile/load-{sid}.jfr", "recording_s": 22.0, "load_command": "wrk …",
            "jcmd": [], "why": ["missed"], "heading": f"Profile of {sid}",
            "jfr": {"threads": ["postern-io-3-1"], "samples": 100, "top_self": [("a.B.c", 10)],
                    "subsystems": [("JDK", 100)], "native_samples": 10, "native": [("x.Native.epollWait0", 10)],
                    "allocated_bytes": 3e8, "alloc_sampled_bytes": 3e8, "alloc_classes": [("[B", 1.0)],
                    "alloc_sites": [], "gc": {"young": 3, "full": 0, "pause_ms": 3.0, "max_ms": 1.0}}}


class ReportTest(unittest.TestCase):
    CPU = {("h1-ka", "postern"): 40.0, ("h1-ka", "haproxy"): 20.0, ("h2c", "postern"): 30.0,
           ("h2c", "haproxy"): 15.0, ("scale-16", "postern"): 30.0, ("scale-16", "haproxy"): 15.0}

    def test_picks_missed_goals_and_h2c_not_scale(self):
        h, agg = harness(self.CPU)
        sids, why = h.profile_targets(agg)
        self.assertEqual(["h1-ka", "h2c"], sids)
        self.assertIn("≤ 0.75× HAProxy", why["h1-ka"][0])
        self.assertIn("2.00× HAProxy", why["h2c"][0])

    def test_met_goal_and_cheaper_h2c_are_not_profiled(self):
        cpu = dict(self.CPU)
        cpu[("h1-ka", "postern")], cpu[("h2c", "postern")] = 14.0, 14.0
        h, agg = harness(cpu)
        self.assertEqual([], h.profile_targets(agg)[0])

    def test_profile_scenarios_override(self):
        h, agg = harness(self.CPU)
        h.a.profile_scenarios = "h2c,tls-new"  # tls-new was not measured: left out
        self.assertEqual(["h2c"], h.profile_targets(agg)[0])

    def test_goals_table_unchanged_without_profiles(self):
        h, agg = harness(self.CPU)
        text = loadbench.render(h, agg, "now", "perf/run")
        self.assertIn("| HTTP/1.1 keep-alive: CPU per request | 40.0 µs = 2.00× HAProxy | ≤ 0.75× HAProxy | "
                      "**missed** | HAProxy 20.0 µs, nginx 0.0 µs |", text)
        self.assertNotIn("Profile of", text)

    def test_missed_rows_link_to_the_profile_headings(self):
        h, agg = harness(self.CPU, {sid: fake_profile(sid) for sid in ("h1-ka", "h2c")})
        text = loadbench.render(h, agg, "now", "perf/run --profile")
        self.assertIn("**missed**, why: see [Profile of h1-ka](#profile-of-h1-ka)", text)
        self.assertIn("[h2c](#profile-of-h2c)", text)
        section = loadbench.render_profiles(h, agg, "now", "perf/run --profile")
        for heading in ("Profile of h1-ka", "Profile of h2c"):
            self.assertIn(f"### {heading}\n", section)
        self.assertIn("3,000 bytes per request", section)
        self.assertIn("(FINDINGS.md#1-one-flush-per-decoded-http-object)", section)

    def test_anchor(self):
        self.assertEqual("3-http2-25-to-3-times-haproxys-cpu-even-with-the-patch",
                         loadbench.gh_anchor("3. HTTP/2: 2.5 to 3 times HAProxy's CPU, even with the patch"))
        self.assertEqual("profile-of-https-ka-tls-ecdsa", loadbench.gh_anchor("Profile of https-ka (tls-ecdsa)"))


if __name__ == "__main__":
    unittest.main()
