package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.observe.Metrics;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/** The metrics' own contracts: recording allocates nothing, and the Grafana dashboard only queries real metrics. */
class MetricsTest {
    @Test
    void recordingAllocatesNothingOnceTheMetersExist() {
        final Metrics m = new Metrics();
        final String listener = "gateway/default/gw/listener/http";
        final String route = "httproute/default/r";
        final String cluster = "default/svc:80";
        final Runnable hot = () -> {
            m.onResponse(listener, route, 200, 1_000_000);
            m.onResponse(listener, route, 503, 2_000_000);
            m.onUpstreamResponse(cluster, 200, 900_000);
            m.onError("UF");
            m.onConnectFailure("refused");
            m.onRetry();
        };
        for (int i = 0; i < 50_000; i++) {
            hot.run(); // creates the meters, then lets the JIT compile the path
        }
        final com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        final long before = threads.getCurrentThreadAllocatedBytes();
        final int n = 100_000;
        for (int i = 0; i < n; i++) {
            hot.run();
        }
        final long bytes = threads.getCurrentThreadAllocatedBytes() - before;
        // Six recordings per round: anything per call would be at least 16 bytes × 600,000.
        assertTrue(bytes < n, "recording allocated " + bytes + " bytes over " + n + " rounds");
    }

    @Test
    void everyDashboardMetricIsOnePosternExports() throws Exception {
        final Path root = Path.of("..").toAbsolutePath().normalize();
        final String dashboard = Files.readString(root.resolve("deploy/grafana/postern.json"));
        final Set<String> queried = new TreeSet<>();
        final Matcher q = Pattern.compile("\\b(gateway_[a-z_]+)").matcher(dashboard);
        while (q.find()) {
            // Prometheus names of Micrometer meters: counters end in _total, timers in _seconds_{bucket,count,sum}.
            queried.add(q.group(1).replaceFirst("(_seconds)?_(bucket|count|sum|max)$", "")
                    .replaceFirst("_total$", ""));
        }
        final StringBuilder sources = new StringBuilder();
        try (Stream<Path> files = Files.walk(root.resolve("proxy-core/src/main/java"))) {
            for (Path p : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".java"))::iterator) {
                sources.append(Files.readString(p));
            }
        }
        final Set<String> missing = new TreeSet<>();
        for (String name : queried) {
            if (!sources.toString().contains("\"" + name + "\"")) {
                missing.add(name);
            }
        }
        assertTrue(queried.size() > 20, "the dashboard queries " + queried);
        assertTrue(missing.isEmpty(), "the dashboard queries metrics Postern does not export: " + missing);
    }
}
