package dev.postern.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replays every ported upstream test against one real Postern with echo backends on loopback, and writes the
 * report. Tests listed in {@code must-pass.txt} fail the build when they fail; every result goes to the report.
 */
class ConformanceSuiteTest {
    @TempDir
    static Path dir;
    private static ConformanceEnvironment env;
    private static ConformanceClient client;
    private static final Map<String, String> RESULTS = new LinkedHashMap<>();

    @BeforeAll
    static void start() throws Exception {
        // Gateways listen on their real ports (80, 443...) on 127.20.x.y, as in a cluster: that needs root.
        Assumptions.assumeTrue(isRoot(), "the conformance replay binds ports 80 and 443 on loopback addresses and "
                + "needs root (CI runs as root)");
        env = ConformanceEnvironment.start(dir);
        client = new ConformanceClient();
    }

    private static boolean isRoot() {
        try {
            return "0".equals(new String(new ProcessBuilder("id", "-u").start().getInputStream().readAllBytes())
                    .trim());
        } catch (IOException e) {
            return false;
        }
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (env != null) {
            env.close();
        }
        final Map<String, List<String>> features = new LinkedHashMap<>();
        for (ConformanceCase c : cases()) {
            features.put(c.name(), c.features());
        }
        ConformanceReport.write("traffic", RESULTS, features, Path.of("target", "conformance"));
    }

    static List<ConformanceCase> cases() {
        try {
            final Path d = Path.of(ConformanceSuiteTest.class.getResource("/cases").toURI());
            final List<ConformanceCase> out = new ArrayList<>();
            try (Stream<Path> s = Files.list(d)) {
                for (Path p : s.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                    out.add(ConformanceCase.parse(Files.readString(p)));
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Set<String> mustPass() throws IOException {
        final Set<String> s = new TreeSet<>();
        try (var in = ConformanceSuiteTest.class.getResourceAsStream("/must-pass.txt")) {
            for (String l : new String(in.readAllBytes()).split("\n")) {
                if (!l.isBlank() && !l.startsWith("#")) {
                    s.add(l.trim());
                }
            }
        }
        return s;
    }

    @TestFactory
    Stream<DynamicTest> upstreamTests() throws IOException {
        final Set<String> must = mustPass();
        // -Dconformance.only=A,B runs just the tests named, or whose names start with one of them (while working on
        // them); the build runs all.
        final String only = System.getProperty("conformance.only", "");
        final List<String> selected = only.isBlank() ? null : List.of(only.split(","));
        return cases().stream().filter(t -> selected == null || selected.stream().anyMatch(t.name()::startsWith))
                .map(t -> DynamicTest.dynamicTest(t.name(), () -> {
            final String result = runTest(t, must.contains(t.name()));
            RESULTS.put(t.name(), result);
            if (must.contains(t.name())) {
                assertEquals("passed", result, t.name());
            }
        }));
    }

    private static String runTest(ConformanceCase t, boolean required) throws Exception {
        if (!"http".equals(t.kind()) && !"grpc".equals(t.kind()) && !"tls".equals(t.kind())
                && !"tcp".equals(t.kind()) && !"udp".equals(t.kind()) && !Specials.handles(t.name())) {
            return "skipped: kind " + t.kind() + " is not replayed yet";
        }
        env.apply(t.manifests());
        try {
            final CaseRunner runner = new CaseRunner(env, client).withConsistencyMs(required
                    ? CaseRunner.CONSISTENCY_MS : 5_000);
            if ("tls".equals(t.kind()) || "tcp".equals(t.kind()) || "udp".equals(t.kind())) {
                final long budget = required ? 30_000 : 10_000;
                final String why = switch (t.kind()) {
                    case "tls" -> Specials.tls(t, env, budget);
                    case "tcp" -> Specials.tcp(t, env, budget);
                    default -> Specials.udp(t, env, budget);
                };
                return why == null ? "passed" : "failed: " + why;
            }
            if ("grpc".equals(t.kind())) {
                String why = Specials.grpc(t, env, client);
                if (why == null && t.name().equals("GRPCRouteWeight")) {
                    why = Specials.grpcWeights(t, env, client);
                }
                return why == null ? "passed" : "failed: " + why;
            }
            if (Specials.handles(t.name())) {
                final String why = Specials.run(t, env, runner, client);
                return why == null ? "passed" : "failed: " + why;
            }
            final List<String> failures = new ArrayList<>();
            for (int i = 0; i < t.cases().size(); i++) {
                final String why = runner.run(t, t.cases().get(i));
                if (why != null) {
                    failures.add("case " + i + " " + t.cases().get(i).request() + ": " + why);
                }
            }
            return failures.isEmpty() ? "passed" : "failed: " + String.join("; ", failures);
        } finally {
            env.delete();
        }
    }
}
