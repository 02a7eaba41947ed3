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

import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * Writes the replay's results as an upstream {@code ConformanceReport} (gateway.networking.k8s.io/v1): per profile
 * the core and extended results with statistics, failed and skipped tests, and the supported features. Results
 * come from every test class of the run (one results file each), so the report is complete whichever class
 * finishes last.
 */
public final class ConformanceReport {
    /** GATEWAY-HTTP core at v1.6.1: 22 traffic tests and 15 status tests. */
    static final Set<String> HTTP_CORE = Set.of("GatewayClassObservedGenerationBump", "GatewayInvalidParametersRef",
            "GatewayInvalidRouteKind", "GatewayInvalidTLSConfiguration", "GatewayListenerUnsupportedProtocol",
            "GatewayModifyListeners", "GatewayObservedGenerationBump", "GatewaySecretInvalidReferenceGrant",
            "GatewaySecretMissingReferenceGrant", "GatewaySecretReferenceGrantAllInNamespace",
            "GatewaySecretReferenceGrantSpecific", "GatewayWithAttachedRoutes",
            "HTTPRouteInvalidCrossNamespaceParentRef", "HTTPRouteInvalidParentRefNotMatchingSectionName",
            "HTTPRouteObservedGenerationBump", "HTTPRouteSimpleSameNamespace", "HTTPRouteCrossNamespace",
            "HTTPRouteExactPathMatching", "HTTPRouteHTTPSListener", "HTTPRouteHeaderMatching",
            "HTTPRouteHostnameIntersection", "HTTPRouteInvalidBackendRefUnknownKind",
            "HTTPRouteInvalidCrossNamespaceBackendRef", "HTTPRouteInvalidNonExistentBackendRef",
            "HTTPRouteInvalidReferenceGrant", "HTTPRouteListenerHostnameMatching", "HTTPRouteMatching",
            "HTTPRouteMatchingAcrossRoutes", "HTTPRouteMultipleGateways", "HTTPRouteNoBackendRefs",
            "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant", "HTTPRoutePathMatchOrder",
            "HTTPRouteRedirectHostAndStatus", "HTTPRouteReferenceGrant", "HTTPRouteRequestHeaderModifier",
            "HTTPRouteServiceTypes", "HTTPRouteWeight");
    /** The Gateway-only status tests, core in every profile. */
    static final Set<String> GATEWAY_CORE = Set.of("GatewayClassObservedGenerationBump",
            "GatewayInvalidParametersRef", "GatewayInvalidRouteKind", "GatewayInvalidTLSConfiguration",
            "GatewayListenerUnsupportedProtocol", "GatewayModifyListeners", "GatewayObservedGenerationBump",
            "GatewaySecretInvalidReferenceGrant", "GatewaySecretMissingReferenceGrant",
            "GatewaySecretReferenceGrantAllInNamespace", "GatewaySecretReferenceGrantSpecific");
    /** GATEWAY-GRPC core beyond the Gateway tests. */
    static final Set<String> GRPC_CORE = Set.of("GRPCExactMethodMatching", "GRPCRouteHeaderMatching",
            "GRPCRouteListenerHostnameMatching", "GRPCRouteWeight");

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
        final Map<String, List<String>> feats = new TreeMap<>();
        try (var files = Files.list(dir)) {
            for (Path p : files.filter(f -> f.getFileName().toString().startsWith("results-")).toList()) {
                for (String line : Files.readAllLines(p)) {
                    final String[] parts = line.split("\t", -1);
                    // A test checked by several classes (traffic and status parts) passes only if all parts pass.
                    all.merge(parts[0], parts[1], (a, b) -> a.equals("passed") ? b : a);
                    if (parts.length > 2 && !parts[2].isEmpty()) {
                        feats.put(parts[0], List.of(parts[2].split(",")));
                    }
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
        profiles.add(profile("GATEWAY-HTTP", HTTP_CORE, all, feats, n -> n.startsWith("HTTPRoute")
                || n.startsWith("GatewayHTTP") || n.equals("GatewayWithAttachedRoutesWithPort8080")));
        final Set<String> grpcCore = new TreeSet<>(GATEWAY_CORE);
        grpcCore.addAll(GRPC_CORE);
        profiles.add(profile("GATEWAY-GRPC", grpcCore, all, feats, n -> n.startsWith("GRPC")
                && !GRPC_CORE.contains(n)));
        report.put("profiles", profiles);
        final DumperOptions o = new DumperOptions();
        o.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        Files.writeString(dir.resolve("conformance-report.yaml"), new Yaml(o).dump(report));
    }

    private static Map<String, Object> profile(String name, Set<String> core, Map<String, String> all,
                                               Map<String, List<String>> feats,
                                               java.util.function.Predicate<String> extended) {
        final Map<String, Object> p = new LinkedHashMap<>();
        p.put("name", name);
        p.put("core", level(core, all));
        final Set<String> ext = new TreeSet<>();
        for (String t : all.keySet()) {
            if (!core.contains(t) && extended.test(t)) {
                ext.add(t);
            }
        }
        final Map<String, Object> e = level(ext, all);
        final Set<String> supported = new TreeSet<>();
        final Set<String> unsupported = new TreeSet<>();
        for (String t : ext) {
            for (String f : feats.getOrDefault(t, List.of())) {
                if (!f.equals("Gateway") && !f.equals("HTTPRoute") && !f.equals("GRPCRoute")) {
                    (all.get(t).equals("passed") ? supported : unsupported).add(f);
                }
            }
        }
        unsupported.removeAll(supported);
        e.put("supportedFeatures", new ArrayList<>(supported));
        e.put("unsupportedFeatures", new ArrayList<>(unsupported));
        p.put("extended", e);
        p.put("summary", "Replayed offline by conformance/ (docs/conformance.md). Extended results cover the "
                + "ported tests only; ListenerSet and the TLS profile are not replayed yet.");
        return p;
    }

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
