package dev.postern.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.RouteTable;
import dev.postern.config.runtime.VirtualHost;
import dev.postern.config.yaml.YamlReader;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Jazzer fuzz target (issue 9) for the route compiler and matcher: HTTPRoutes with fuzzed hostnames and matches
 * (Exact, PathPrefix and RegularExpression paths, methods, header and query predicates, valid or not) are compiled
 * through the whole pipeline; then fuzzed requests are looked up. Invariants:
 *
 * <ul>
 *   <li>nothing throws; an invalid match degrades its route with a diagnostic, never the build;</li>
 *   <li>the indexed lookup ({@link VirtualHost#match}) returns the same entry as a plain scan of the virtual
 *       host's entries in precedence order (the first whose predicates hold);</li>
 *   <li>an Exact path match with no other condition always wins for its own path within its virtual host: the
 *       winner is an Exact match on that path;</li>
 *   <li>the same input compiles to a table that answers every lookup the same way (by entry name).</li>
 * </ul>
 */
class RouteMatchFuzzTest {
    private static final ConfigPipeline.Settings SETTINGS = new ConfigPipeline.Settings(
            ConfigPipeline.Settings.DEFAULT_CONTROLLER, "127.0.0.1");
    private static final String GATEWAY = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: postern}
            spec: {controllerName: postern.dev/gateway-controller}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: gw, namespace: default}
            spec:
              gatewayClassName: postern
              listeners: [{name: http, protocol: HTTP, port: 8080}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: svc, namespace: default}
            spec: {ports: [{name: http, port: 80}]}
            """;
    private static final String[] HOSTS = {"a.example", "b.a.example", "*.example", "*.a.example", "other.test"};
    private static final String[] PATH_PARTS = {"/", "/a", "/b", "/a/", "/ab", ".", "..", "%2F", "x", "//", "*", "?"};
    private static final String[] METHODS = {"GET", "POST", "PUT", "HEAD"};
    private static final String[] HEADER_NAMES = {"x-a", "x-b", "X-A"};
    private static final String[] VALUES = {"1", "2", "a.*", "[0-9]+", ""};
    private static final String[] TYPES = {"Exact", "PathPrefix", "RegularExpression"};

    /** One generated match, for the exact-path property: its route, rule and match index, and whether bare. */
    private record Generated(String route, int rule, int match, String exactPath) {
    }

    @FuzzTest(maxDuration = "10s")
    void compileAndMatch(FuzzedDataProvider data) {
        final StringBuilder yaml = new StringBuilder(GATEWAY);
        final List<Generated> bareExact = new ArrayList<>();
        final int routes = data.consumeInt(1, 4);
        for (int r = 0; r < routes; r++) {
            route(data, r, yaml, bareExact);
        }
        final YamlReader.Result read = YamlReader.read("fuzz.yaml", yaml.toString());
        assertTrue(!read.hasErrors(), () -> "generated YAML must read: " + read.diagnostics() + "\n" + yaml);
        final ConfigPipeline.Build build = ConfigPipeline.fromResources(read.resources(), SETTINGS, 1);
        final ConfigPipeline.Build again = ConfigPipeline.fromResources(read.resources(), SETTINGS, 2);
        assertNotNull(build.table(), () -> "route problems must not reject the build: " + build.diagnostics());
        for (Diagnostic d : build.diagnostics()) {
            assertTrue(!d.reason().isEmpty() && !d.message().isEmpty(), d::toString);
        }
        final PortTable port = only(build.table());
        final PortTable port2 = only(again.table());

        final int lookups = data.consumeInt(1, 8);
        for (int i = 0; i < lookups; i++) {
            final String host = data.consumeBoolean() ? data.pickValue(HOSTS).replace("*", "w")
                    : data.consumeString(12);
            final Map<String, String> headers = new HashMap<>();
            if (data.consumeBoolean()) {
                headers.put(data.pickValue(HEADER_NAMES).toLowerCase(java.util.Locale.ROOT), data.pickValue(VALUES));
            }
            final String query = data.consumeBoolean() ? "q=" + data.pickValue(VALUES) : null;
            final String path = data.consumeBoolean() ? path(data) : pickBare(data, bareExact);
            final TestRequests req = new TestRequests(data.pickValue(METHODS), path, query, headers);

            final VirtualHost vh = port.virtualHost(host);
            final VirtualHost vh2 = port2.virtualHost(host);
            assertEquals(vh == null, vh2 == null, "same virtual host both builds");
            if (vh == null) {
                continue;
            }
            final RouteEntry got = vh.match(req);
            assertSame(scan(vh.routes(), req), got, () -> "index and scan disagree for " + req + " on "
                    + vh.hostname());
            final RouteEntry got2 = vh2.match(req);
            assertEquals(got == null ? null : got.name(), got2 == null ? null : got2.name(), "deterministic");
            if (got != null) {
                assertTrue(got.matches(req));
            }
            final Set<String> own = new HashSet<>();
            for (RouteEntry e : vh.ownRoutes()) {
                own.add(e.name());
            }
            for (Generated g : bareExact) {
                if (g.exactPath().equals(path) && own.contains(entryName(g))) {
                    assertNotNull(got, () -> "the bare Exact match " + entryName(g) + " did not win " + path);
                    assertEquals(RouteEntry.PathKind.EXACT, got.pathKind(), () -> got.describe() + " beat "
                            + entryName(g) + " for " + path);
                    assertEquals(path, got.pathValue());
                }
            }
        }
    }

    private static PortTable only(RouteTable t) {
        assertEquals(1, t.ports().size(), () -> "one port: " + t.ports().keySet());
        return t.ports().values().iterator().next();
    }

    private static RouteEntry scan(List<RouteEntry> entries, TestRequests req) {
        for (RouteEntry e : entries) {
            if (e.matches(req)) {
                return e;
            }
        }
        return null;
    }

    private static String entryName(Generated g) {
        return "httproute/default/" + g.route() + "/rule/" + g.rule() + "/match/" + g.match();
    }

    private static String pickBare(FuzzedDataProvider data, List<Generated> bare) {
        return bare.isEmpty() ? "/" : bare.get(data.consumeInt(0, bare.size() - 1)).exactPath();
    }

    private static String path(FuzzedDataProvider data) {
        final StringBuilder sb = new StringBuilder();
        final int n = data.consumeInt(1, 4);
        for (int i = 0; i < n; i++) {
            sb.append(data.consumeBoolean() ? data.pickValue(PATH_PARTS) : data.consumeString(4));
        }
        return sb.toString();
    }

    private static void route(FuzzedDataProvider data, int r, StringBuilder yaml, List<Generated> bareExact) {
        final String name = "r" + r;
        yaml.append("---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: ")
                .append(name).append(", namespace: default}\nspec:\n  parentRefs: [{name: gw}]\n");
        final int hosts = data.consumeInt(0, 2);
        if (hosts > 0) {
            yaml.append("  hostnames: [");
            for (int i = 0; i < hosts; i++) {
                yaml.append(i > 0 ? ", " : "").append(quote(data.consumeBoolean() ? data.pickValue(HOSTS)
                        : data.consumeString(10)));
            }
            yaml.append("]\n");
        }
        yaml.append("  rules:\n");
        final int rules = data.consumeInt(1, 3);
        for (int ru = 0; ru < rules; ru++) {
            yaml.append("  - backendRefs: [{name: svc, port: 80}]\n");
            final int matches = data.consumeInt(0, 4);
            if (matches == 0) {
                continue;
            }
            yaml.append("    matches:\n");
            for (int m = 0; m < matches; m++) {
                final String type = data.pickValue(TYPES);
                final String value = path(data);
                yaml.append("    - path: {type: ").append(type).append(", value: ").append(quote(value)).append("}\n");
                boolean bare = true;
                if (data.consumeBoolean()) {
                    yaml.append("      method: ").append(data.pickValue(METHODS)).append('\n');
                    bare = false;
                }
                if (data.consumeBoolean()) {
                    yaml.append("      headers: [{type: ").append(data.consumeBoolean() ? "Exact" : "RegularExpression")
                            .append(", name: ").append(quote(data.pickValue(HEADER_NAMES))).append(", value: ")
                            .append(quote(data.pickValue(VALUES))).append("}]\n");
                    bare = false;
                }
                if (data.consumeBoolean()) {
                    yaml.append("      queryParams: [{name: q, value: ").append(quote(data.pickValue(VALUES)))
                            .append("}]\n");
                    bare = false;
                }
                if (bare && type.equals("Exact")) {
                    bareExact.add(new Generated(name, ru, m, value));
                }
            }
        }
    }

    /** A YAML double-quoted scalar (JSON escaping is valid YAML). */
    private static String quote(String s) {
        final StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            if (Character.isSurrogate(c)) {
                sb.append('?'); // keeps the generated file valid YAML; the matcher sees enough odd characters
            } else if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20 || c >= 0x7f) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }
}
