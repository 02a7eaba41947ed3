package dev.postern.perf;

import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.VirtualHost;

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
 * Hostname match in the 10,000-route table: {@code PortTable.virtualHost(host)}, that is listener isolation and
 * then the virtual host (exact map, wildcard suffixes along the host's labels, default). Asserts the virtual
 * host found by identity.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class HostnameMatchBenchmark {
    /** The number of HTTPRoutes in the table. */
    @Param("10000")
    public int routes;

    /**
     * The host: {@code exact} (an exact hostname), {@code wildcard1} and {@code wildcard3} (one and three labels
     * under a wildcard), {@code fallback} (no hostname matches: the hostname-less routes).
     */
    @Param({"exact", "wildcard1", "wildcard3", "fallback"})
    public String host;

    private PortTable port;
    private String name;
    private VirtualHost expected;

    /** Compiles the corpus and resolves the expected virtual host. */
    @Setup
    public void setUp() {
        final RouteCorpus corpus = RouteCorpus.of(routes);
        port = Tables.compile(corpus).port(corpus.bind());
        // Fresh strings, equal to the table's keys but not the same instances, so that equals() compares bytes.
        // Their hash codes are cached after the first call; a request's host is hashed once per request (about
        // 10 ns for 20 characters), which this leaves out.
        final String want;
        switch (host) {
            case "exact" -> {
                name = new String("app-4242.example.com".toCharArray());
                want = "app-4242.example.com";
            }
            case "wildcard1" -> {
                name = new String("shop.tenant-4270.example.net".toCharArray());
                want = "*.tenant-4270.example.net";
            }
            case "wildcard3" -> {
                name = new String("a.b.shop.tenant-4270.example.net".toCharArray());
                want = "*.tenant-4270.example.net";
            }
            case "fallback" -> {
                name = new String("nobody.example.com".toCharArray());
                want = "*";
            }
            default -> throw new IllegalArgumentException(host);
        }
        expected = port.virtualHost(name);
        if (expected == null || !expected.hostname().equals(want)) {
            throw new IllegalStateException(host + ": found " + (expected == null ? null : expected.hostname()));
        }
    }

    /** One hostname lookup; fails if it found another virtual host. */
    @Benchmark
    public VirtualHost virtualHost() {
        final VirtualHost vh = port.virtualHost(name);
        if (vh != expected) {
            throw new AssertionError(name + " found " + (vh == null ? null : vh.hostname()));
        }
        return vh;
    }
}
