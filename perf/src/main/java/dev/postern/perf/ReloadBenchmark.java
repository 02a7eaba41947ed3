package dev.postern.perf;

import dev.postern.config.ConfigRef;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.RouteTable;
import dev.postern.proxy.http.RequestHead;
import dev.postern.proxy.server.ConfigLoader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
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
 * Reload propagation (issue 3: a file change to the new table serving, at 1,000 routes, p99 under 50 ms): the
 * production {@link ConfigLoader} watches a directory holding the corpus; each invocation writes one file
 * (atomically: a dot-file renamed into place) whose HTTPRoute answers a new path, and returns when the published
 * table routes that path. The time therefore includes inotify, the loader's debounce
 * ({@link ConfigLoader#DEBOUNCE}), listing the directory and parsing the changed file (the others come from the
 * loader's {@code FileCache}), translation, compilation and the publish.
 *
 * <p>Asserts: the new path must be served, within 5 s; the request must match the new route by name.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 4, time = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-Dlogback.configurationFile=perf-logback.xml"})
public class ReloadBenchmark {
    /** The number of HTTPRoutes in the watched directory. */
    @Param("1000")
    public int routes;

    private static final String HOST = "churn.example.com";
    private static final String NAME = "httproute/team-00/churn/rule/0/match/0";

    private Path dir;
    private ConfigRef ref;
    private ConfigLoader loader;
    private BindKey bind;
    private int seq;
    private volatile RequestHead want;
    private volatile CountDownLatch served;

    /** Writes the corpus, loads it and starts watching. */
    @Setup
    public void setUp() throws IOException {
        final RouteCorpus corpus = RouteCorpus.of(routes);
        bind = corpus.bind();
        dir = Files.createTempDirectory("postern-reload-");
        corpus.writeTo(dir);
        ref = new ConfigRef();
        loader = new ConfigLoader(dir, Tables.SETTINGS, ref);
        Tables.check(loader.reload(), corpus);
        ref.onPublish(snap -> {
            final CountDownLatch l = served;
            final RequestHead r = want;
            if (l != null && r != null && matches(snap.table(), r)) {
                l.countDown();
            }
        });
        loader.watch();
    }

    /** Stops watching and removes the directory. */
    @TearDown
    public void tearDown() throws IOException {
        loader.close();
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private boolean matches(RouteTable t, RequestHead r) {
        final RouteEntry e = Tables.lookup(t, bind, r);
        return e != null && e.name().equals(NAME);
    }

    /** Writes a route for a new path and waits until the published table serves it. */
    @Benchmark
    public long fileChangeToServing() throws Exception {
        final int n = ++seq;
        final String path = "/churn/" + n;
        final CountDownLatch latch = new CountDownLatch(1);
        want = Tables.request(new RouteCorpus.Probe(RouteCorpus.Kind.EXACT, "GET", path, HOST, Map.of(), NAME));
        served = latch;
        final Path tmp = dir.resolve(".churn.tmp");
        Files.writeString(tmp, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: churn, namespace: team-00}
                spec:
                  parentRefs: [{name: bench, namespace: %s}]
                  hostnames: [%s]
                  rules:
                  - matches: [{path: {type: Exact, value: "%s"}}]
                    backendRefs: [{name: web, port: 80}]
                """.formatted(RouteCorpus.GATEWAY_NS, HOST, path));
        Files.move(tmp, dir.resolve("churn.yaml"), StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
        if (!latch.await(5, TimeUnit.SECONDS) && !matches(ref.table(), want)) {
            throw new AssertionError("route for " + path + " not served after 5 s; live version "
                    + ref.table().version());
        }
        return ref.table().version();
    }
}
