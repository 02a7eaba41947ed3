package dev.postern.perf;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.RouteTable;
import dev.postern.proxy.http.RequestHead;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The full config compile (issue 3: 10,000 routes under 2 s), one build per invocation:
 * <ul>
 *   <li>{@link #fromResources}: records already read → validate, translate with status, compile the runtime
 *       table ({@code ConfigPipeline.fromResources}, what the Kubernetes source will call);</li>
 *   <li>{@link #fromDirectory}: the same from the YAML files on disk, reading included
 *       ({@code ConfigPipeline.fromDirectory}, what a reload of a watched directory runs).</li>
 * </ul>
 * Each build is checked: published, no error diagnostics, and probes of every kind match their expected routes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3)
@Measurement(iterations = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class CompileBenchmark {
    /** The number of HTTPRoutes. */
    @Param({"1000", "10000"})
    public int routes;

    private RouteCorpus corpus;
    private List<Resource> resources;
    private Path dir;
    private RouteCorpus.Probe[] probes;
    private RequestHead[] requests;
    private long version;

    /** Generates the corpus, reads it once, writes its directory. */
    @Setup
    public void setUp() throws IOException {
        corpus = RouteCorpus.of(routes);
        resources = corpus.resources();
        dir = Files.createTempDirectory("postern-compile-");
        corpus.writeTo(dir);
        probes = corpus.probes(RouteCorpus.Kind.MIXED, 256, 7);
        requests = new RequestHead[probes.length];
        for (int i = 0; i < probes.length; i++) {
            requests[i] = Tables.request(probes[i]);
        }
    }

    /** Removes the directory. */
    @TearDown
    public void tearDown() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** Translate and compile records already read. */
    @Benchmark
    public RouteTable fromResources() {
        return check(ConfigPipeline.fromResources(resources, Tables.SETTINGS, ++version));
    }

    /** Read the directory, translate and compile. */
    @Benchmark
    public RouteTable fromDirectory() {
        return check(ConfigPipeline.fromDirectory(dir, Tables.SETTINGS, ++version));
    }

    private RouteTable check(ConfigPipeline.Build b) {
        Tables.check(b, corpus);
        for (int i = 0; i < probes.length; i++) {
            final RouteEntry e = Tables.lookup(b.table(), corpus.bind(), requests[i]);
            if (!Objects.equals(e == null ? null : e.name(), probes[i].expected())) {
                throw new AssertionError(probes[i] + " matched " + (e == null ? null : e.name()));
            }
        }
        return b.table();
    }
}
