package dev.postern.conformance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import dev.postern.config.Features;

import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * Writes the replay's results as an upstream {@code ConformanceReport} (gateway.networking.k8s.io/v1): per profile
 * the core and extended results with statistics, failed and skipped tests, and the supported and unsupported
 * features (with the reasons in the summary). The test lists are upstream's (upstream-tests-v1.6.1.tsv). Results
 * come from every test class of the run (one results file each), so the report is complete whichever class
 * finishes last.
 */
public final class ConformanceReport {
    /** The profiles reported, in the upstream order. */
    static final List<String> PROFILES = List.of("GATEWAY-HTTP", "GATEWAY-TLS", "GATEWAY-GRPC", "GATEWAY-TCP",
            "GATEWAY-UDP");

    /** One upstream test: its profile column ("GATEWAY-TLS:core", "all GATEWAY-*: ext") and its features. */
    record UpstreamTest(String name, String profile, List<String> features) {
        boolean in(String p, boolean core) {
            final String level = core ? "core" : "ext";
            return profile.equals(p + ":" + level) || profile.equals("all GATEWAY-*: " + level);
        }
    }

    /** Every upstream v1.6.1 test that belongs to a GATEWAY-* profile. */
    static final List<UpstreamTest> UPSTREAM = load();

    private static List<UpstreamTest> load() {
        try (var in = ConformanceReport.class.getResourceAsStream("upstream-tests-v1.6.1.tsv")) {
            final List<UpstreamTest> out = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                final String[] f = line.split("\t", -1);
                out.add(new UpstreamTest(f[0], f[1], f.length > 2 && !f[2].isEmpty()
                        ? List.of(f[2].split(",")) : List.of()));
            }
            return List.copyOf(out);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The core tests of a profile. */
    static Set<String> core(String profile) {
        final Set<String> out = new TreeSet<>();
        for (UpstreamTest t : UPSTREAM) {
            if (t.in(profile, true)) {
                out.add(t.name());
            }
        }
        return out;
    }

    private ConformanceReport() {
    }

    /** Records one class's results ("Name: passed|failed: ...|skipped: ...") and rewrites the report. */
    public static void write(String source, Map<String, String> results, Map<String, List<String>> features,
                             Path dir) throws IOException {
        Files.createDirectories(dir);
        final StringBuilder sb = new StringBuilder();
        results.forEach((k, v) -> sb.append(k).append('\t').append(v.replace('\n', ' ').replace('\t', ' '))
                .append('\t').append(String.join(",", features.getOrDefault(k, List.of()))).append('\n'));
        Files.writeString(dir.resolve("results-" + source + ".tsv"), sb.toString());
        final Map<String, String> all = new TreeMap<>();
        try (var files = Files.list(dir)) {
            for (Path p : files.filter(f -> f.getFileName().toString().startsWith("results-")).toList()) {
                for (String line : Files.readAllLines(p)) {
                    final String[] parts = line.split("\t", -1);
                    // A test checked by several classes (traffic and status parts) passes only if all parts pass.
                    all.merge(parts[0], parts[1], (a, b) -> a.equals("passed") ? b : a);
                }
            }
        }
        final Map<String, Object> report = new LinkedHashMap<>();
        report.put("apiVersion", "gateway.networking.k8s.io/v1");
        report.put("kind", "ConformanceReport");
        report.put("date", Instant.now().toString());
        report.put("gatewayAPIVersion", "v1.6.1");
        report.put("gatewayAPIChannel", "experimental");
        report.put("implementation", Map.of("organization", "postern", "project", "postern",
                "url", "https://postern.dev", "version", "0.1.0-SNAPSHOT", "contact", new ArrayList<>()));
        report.put("mode", "static-replay");
        final List<Object> profiles = new ArrayList<>();
        for (String p : PROFILES) {
            profiles.add(profile(p, all));
        }
        report.put("profiles", profiles);
        final DumperOptions o = new DumperOptions();
        o.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        Files.writeString(dir.resolve("conformance-report.yaml"), new Yaml(o).dump(report));
        Files.writeString(dir.resolve("conformance-table.md"), table(profiles));
    }

    /** The README's result table, from the report (conformance/readme-table copies it into README.md). */
    @SuppressWarnings("unchecked")
    static String table(List<Object> profiles) {
        final StringBuilder sb = new StringBuilder("| profile | core | extended | features not claimed |\n"
                + "|---|---|---|---|\n");
        for (Object o : profiles) {
            final Map<String, Object> p = (Map<String, Object>) o;
            sb.append("| ").append(p.get("name")).append(" | ")
                    .append(cell((Map<String, Object>) p.get("core"))).append(" | ")
                    .append(cell((Map<String, Object>) p.get("extended"))).append(" | ")
                    .append(String.join(", ", (List<String>) ((Map<String, Object>) p.get("extended"))
                            .get("unsupportedFeatures"))).append(" |\n");
        }
        return sb.toString();
    }

    @SuppressWarnings("unchecked")
    private static String cell(Map<String, Object> level) {
        final Map<String, Integer> st = (Map<String, Integer>) level.get("statistics");
        final int total = st.get("Passed") + st.get("Failed") + st.get("Skipped");
        final StringBuilder sb = new StringBuilder().append(level.get("result")).append(", ")
                .append(st.get("Passed")).append('/').append(total).append(" pass");
        for (String k : List.of("failedTests", "skippedTests")) {
            if (level.get(k) instanceof List<?> l && !l.isEmpty()) {
                sb.append("; ").append(k.startsWith("failed") ? "failed: " : "not run: ")
                        .append(String.join(", ", (List<String>) l));
            }
        }
        return sb.toString();
    }

    /**
     * One profile as upstream reports it: every core test (one not run is skipped), and the extended tests of the
     * features Postern claims ({@link Features#SUPPORTED}); the extended features of the profile that Postern does
     * not claim are listed as unsupported, their tests not counted, and the summary gives each one's reason.
     */
    private static Map<String, Object> profile(String name, Map<String, String> all) {
        final Map<String, Object> p = new LinkedHashMap<>();
        p.put("name", name);
        p.put("core", level(core(name), all));
        final Set<String> ext = new TreeSet<>();
        final Set<String> supported = new TreeSet<>();
        final Set<String> unsupported = new TreeSet<>();
        for (UpstreamTest t : UPSTREAM) {
            if (!t.in(name, false)) {
                continue;
            }
            final List<String> extFeatures = t.features().stream()
                    .filter(f -> !BASE_FEATURES.contains(f)).toList();
            if (Features.SUPPORTED.containsAll(t.features())) {
                ext.add(t.name());
                supported.addAll(extFeatures);
            } else {
                for (String f : extFeatures) {
                    if (!Features.SUPPORTED.contains(f)) {
                        unsupported.add(f);
                    }
                }
            }
        }
        final Map<String, Object> e = level(ext, all);
        e.put("supportedFeatures", new ArrayList<>(supported));
        e.put("unsupportedFeatures", new ArrayList<>(unsupported));
        p.put("extended", e);
        final StringBuilder summary = new StringBuilder("Replayed offline by conformance/ (docs/conformance.md).");
        for (String f : unsupported) {
            summary.append(' ').append(f).append(": ")
                    .append(Features.UNSUPPORTED.getOrDefault(f, "not claimed")).append('.');
        }
        p.put("summary", summary.toString());
        return p;
    }

    /** Core features of some profile: not extended features of any. */
    private static final Set<String> BASE_FEATURES = Set.of("Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute",
            "ReferenceGrant", "TCPRoute", "UDPRoute");

    private static Map<String, Object> level(Set<String> tests, Map<String, String> all) {
        final List<String> failed = new ArrayList<>();
        final List<String> skipped = new ArrayList<>();
        int passed = 0;
        for (String t : tests) {
            final String r = all.get(t);
            if (r == null || r.startsWith("skipped")) {
                skipped.add(t);
            } else if (r.equals("passed")) {
                passed++;
            } else {
                failed.add(t);
            }
        }
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("result", !failed.isEmpty() ? "failure" : !skipped.isEmpty() ? "partial" : "success");
        m.put("statistics", Map.of("Passed", passed, "Failed", failed.size(), "Skipped", skipped.size()));
        if (!failed.isEmpty()) {
            m.put("failedTests", failed);
        }
        if (!skipped.isEmpty()) {
            m.put("skippedTests", skipped);
        }
        return m;
    }
}
