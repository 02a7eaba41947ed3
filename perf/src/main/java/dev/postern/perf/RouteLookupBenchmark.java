package dev.postern.perf;

import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.RouteTable;
import dev.postern.proxy.http.RequestHead;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Route lookup at 10,000 HTTPRoutes (issue 3: median under 1 µs): the data plane's whole lookup once it has a
 * request head, {@code RouteTable.port(bind) → PortTable.virtualHost(host) → VirtualHost.match(request)}, over
 * pre-built requests of one {@link RouteCorpus.Kind} ({@link #distinct} of them), cycled.
 *
 * <p>The setup checks every probe's matched route name against the corpus; each invocation then asserts that it
 * found the same {@code RouteEntry} (by identity), so a broken lookup fails the run. Sample mode reports the
 * median and tail per lookup (each sample includes about 20 ns of timer overhead).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class RouteLookupBenchmark {
    /** The number of HTTPRoutes in the table. */
    @Param("10000")
    public int routes;

    /** Which requests; see {@link RouteCorpus.Kind}. */
    @Param({"MIXED", "EXACT", "WILDCARD", "SHARED", "CATCHALL", "MISS"})
    public RouteCorpus.Kind kind;

    /**
     * How many distinct requests are cycled (a power of two). 4,096 spreads the lookups over thousands of virtual
     * hosts, as traffic to a large gateway does, so most lookups start with cache misses; 16 keeps everything in
     * cache and shows the compute alone.
     */
    @Param("4096")
    public int distinct;

    private RouteTable table;
    private BindKey bind;
    private RequestHead[] requests;
    private RouteEntry[] expected;
    private int cursor;

    /** Compiles the corpus and checks every probe once. */
    @Setup
    public void setUp() {
        final RouteCorpus corpus = RouteCorpus.of(routes);
        table = Tables.compile(corpus);
        bind = corpus.bind();
        if (Integer.bitCount(distinct) != 1) {
            throw new IllegalArgumentException("distinct must be a power of two: " + distinct);
        }
        final RouteCorpus.Probe[] probes = corpus.probes(kind, distinct, 42);
        requests = new RequestHead[distinct];
        for (int i = 0; i < distinct; i++) {
            requests[i] = Tables.request(probes[i]);
        }
        expected = Tables.resolve(table, corpus, probes, requests);
    }

    /** One lookup; fails if it did not find the expected route. */
    @Benchmark
    public RouteEntry lookup() {
        final int i = cursor++ & (distinct - 1);
        final RouteEntry e = Tables.lookup(table, bind, requests[i]);
        if (e != expected[i]) {
            throw new AssertionError("request " + i + " matched " + (e == null ? null : e.name()));
        }
        return e;
    }
}
