package dev.postern.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.runtime.Backend;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.RouteAction;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.VirtualHost;
import dev.postern.config.status.ResourceStatus;
import dev.postern.config.yaml.YamlReader;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** Translation and compilation: attachment, status, backends, and the compiled matchers' semantics. */
class PipelineTest {
    static final String BASE = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: postern}
            spec: {controllerName: postern.dev/gateway-controller}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: gw, namespace: infra}
            spec:
              gatewayClassName: postern
              addresses: [{type: IPAddress, value: 127.0.0.5}]
              listeners:
              - {name: http, protocol: HTTP, port: 8080, allowedRoutes: {namespaces: {from: All}}}
              - {name: same, protocol: HTTP, port: 8081}
              - {name: foo, protocol: HTTP, port: 8082, hostname: "*.foo.com", allowedRoutes: {namespaces: {from: All}}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: svc, namespace: app}
            spec: {ports: [{name: http, port: 80, targetPort: 3000}]}
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: svc-1, namespace: app, labels: {kubernetes.io/service-name: svc}}
            addressType: IPv4
            endpoints:
            - {addresses: [10.0.0.1], conditions: {ready: true}}
            - {addresses: [10.0.0.2], conditions: {ready: false}}
            - {addresses: [10.0.0.3]}
            ports: [{name: http, port: 3000}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: empty, namespace: app}
            spec: {ports: [{port: 80}]}
            """;

    static ConfigPipeline.Build build(String extra) {
        final YamlReader.Result r = YamlReader.read("t.yaml", BASE + "---\n" + extra);
        assertFalse(r.hasErrors(), r.diagnostics()::toString);
        return ConfigPipeline.fromResources(r.resources(), new ConfigPipeline.Settings(
                ConfigPipeline.Settings.DEFAULT_CONTROLLER, "0.0.0.0"), 1);
    }

    static Map<?, ?> routeParent(ConfigPipeline.Build b, String name, int i) {
        for (ResourceStatus s : b.statuses()) {
            if (s.kind().equals("HTTPRoute") && s.name().equals(name)) {
                return (Map<?, ?>) ((List<?>) s.status().get("parents")).get(i);
            }
        }
        throw new AssertionError("no status for " + name + " in " + b.statuses());
    }

    static Map<?, ?> condition(Map<?, ?> parent, String type) {
        for (Object o : (List<?>) parent.get("conditions")) {
            if (((Map<?, ?>) o).get("type").equals(type)) {
                return (Map<?, ?>) o;
            }
        }
        throw new AssertionError("no " + type);
    }

    static RouteEntry match(ConfigPipeline.Build b, int port, String host, TestRequests req) {
        final PortTable pt = b.table().port(new BindKey("127.0.0.5", port));
        assertNotNull(pt, "no socket for port " + port);
        final VirtualHost vh = pt.virtualHost(host);
        return vh == null ? null : vh.match(req);
    }

    @Test
    void attachesResolvesEndpointsAndSkipsUnready() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """);
        final Map<?, ?> p = routeParent(b, "r", 0);
        assertEquals("True", condition(p, "Accepted").get("status"));
        assertEquals("True", condition(p, "ResolvedRefs").get("status"));
        final RouteEntry e = match(b, 8080, "anything.example", TestRequests.get("/x"));
        final RouteAction.Forward f = assertInstanceOf(RouteAction.Forward.class, e.action());
        final Backend.Forward bf = assertInstanceOf(Backend.Forward.class, f.backends().getFirst());
        assertEquals(List.of("10.0.0.1:3000", "10.0.0.3:3000"),
                bf.cluster().endpoints().stream().map(Object::toString).toList());
    }

    @Test
    void sameNamespaceListenerRejectsOtherNamespaces() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: same}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """);
        assertEquals("NotAllowedByListeners", condition(routeParent(b, "r", 0), "Accepted").get("reason"));
        assertNull(match(b, 8081, "a", TestRequests.get("/")));
    }

    @Test
    void unknownSectionIsNoMatchingParentAndHostMismatchIsReported() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: nope}, {name: gw, namespace: infra, sectionName: foo}]
                  hostnames: [bar.com]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """);
        assertEquals("NoMatchingParent", condition(routeParent(b, "r", 0), "Accepted").get("reason"));
        assertEquals("NoMatchingListenerHostname", condition(routeParent(b, "r", 1), "Accepted").get("reason"));
    }

    @Test
    void invalidBackendsDegradeOneRuleTo500() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /missing}}]
                    backendRefs: [{name: nope, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /kind}}]
                    backendRefs: [{group: example.com, kind: Thing, name: x}]
                  - matches: [{path: {type: PathPrefix, value: /ok}}]
                    backendRefs: [{name: svc, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /empty}}]
                    backendRefs: [{name: empty, port: 80}]
                """);
        final Map<?, ?> rr = condition(routeParent(b, "r", 0), "ResolvedRefs");
        assertEquals("False", rr.get("status"));
        assertEquals("BackendNotFound", rr.get("reason"));
        final RouteAction.Forward miss = (RouteAction.Forward) match(b, 8080, "h", TestRequests.get("/missing"))
                .action();
        assertEquals("BackendNotFound", ((Backend.Invalid) miss.backends().getFirst()).reason());
        final RouteAction.Forward kind = (RouteAction.Forward) match(b, 8080, "h", TestRequests.get("/kind"))
                .action();
        assertEquals("InvalidKind", ((Backend.Invalid) kind.backends().getFirst()).reason());
        assertInstanceOf(Backend.Forward.class, ((RouteAction.Forward) match(b, 8080, "h",
                TestRequests.get("/ok/1")).action()).backends().getFirst());
        final Backend.Forward empty = (Backend.Forward) ((RouteAction.Forward) match(b, 8080, "h",
                TestRequests.get("/empty")).action()).backends().getFirst();
        assertTrue(empty.cluster().endpoints().isEmpty());
    }

    @Test
    void crossNamespaceBackendNeedsReferenceGrant() {
        final String route = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: other}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  rules: [{backendRefs: [{name: svc, namespace: app, port: 80}]}]
                """;
        assertEquals("RefNotPermitted", condition(routeParent(build(route), "r", 0), "ResolvedRefs").get("reason"));
        final ConfigPipeline.Build ok = build(route + """
                ---
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: ReferenceGrant
                metadata: {name: g, namespace: app}
                spec:
                  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: other}]
                  to: [{group: "", kind: Service}]
                """);
        assertEquals("True", condition(routeParent(ok, "r", 0), "ResolvedRefs").get("status"));
    }

    @Test
    void pathHeaderQueryAndMethodSemantics() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /foo/}}]
                    backendRefs: [{name: svc, port: 80}]
                  - matches: [{path: {type: Exact, value: /exact}}]
                    backendRefs: [{name: svc, port: 80}]
                  - matches: [{path: {type: RegularExpression, value: "/re/[0-9]+"}}]
                    backendRefs: [{name: svc, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /h}, headers: [{name: X-Ver, value: "2"}], method: POST}]
                    backendRefs: [{name: svc, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /q}, queryParams: [{name: a, value: b}]}]
                    backendRefs: [{name: svc, port: 80}]
                """);
        final String foo = "httproute/app/r/rule/0/match/0";
        assertEquals(foo, match(b, 8080, "h", TestRequests.get("/foo")).name());
        assertEquals(foo, match(b, 8080, "h", TestRequests.get("/foo/")).name());
        assertEquals(foo, match(b, 8080, "h", TestRequests.get("/foo/bar")).name());
        assertNull(match(b, 8080, "h", TestRequests.get("/foobar")));
        assertNotNull(match(b, 8080, "h", TestRequests.get("/exact")));
        assertNull(match(b, 8080, "h", TestRequests.get("/exact/")));
        assertNotNull(match(b, 8080, "h", TestRequests.get("/re/123")));
        assertNull(match(b, 8080, "h", TestRequests.get("/re/12a")));
        assertNotNull(match(b, 8080, "h", TestRequests.of("POST", "/h", Map.of("x-ver", "2"))));
        assertNull(match(b, 8080, "h", TestRequests.of("GET", "/h", Map.of("X-Ver", "2"))));
        assertNull(match(b, 8080, "h", TestRequests.of("POST", "/h", Map.of("X-Ver", "3"))));
        assertNotNull(match(b, 8080, "h", TestRequests.get("/q?x=1&a=b")));
        assertNull(match(b, 8080, "h", TestRequests.get("/q?a=c")));
        assertNull(match(b, 8080, "h", TestRequests.get("/q")));
    }

    @Test
    void precedenceAcrossRoutesAndHosts() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: b-short, namespace: app, creationTimestamp: "2024-01-01T00:00:00Z"}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: foo}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /}}]
                    backendRefs: [{name: svc, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /a}, headers: [{name: x, value: "1"}]}]
                    backendRefs: [{name: svc, port: 80}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: a-long, namespace: app, creationTimestamp: "2024-01-02T00:00:00Z"}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: foo}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /a}}]
                    backendRefs: [{name: svc, port: 80}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: exact-host, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: foo}]
                  hostnames: [x.foo.com]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /x}}]
                    backendRefs: [{name: svc, port: 80}]
                """);
        // Longest prefix wins over rule order; more headers win on equal prefix.
        assertEquals("httproute/app/a-long/rule/0/match/0", match(b, 8082, "a.foo.com",
                TestRequests.get("/a/1")).name());
        assertEquals("httproute/app/b-short/rule/1/match/0", match(b, 8082, "a.foo.com",
                TestRequests.of("GET", "/a", Map.of("x", "1"))).name());
        assertEquals("httproute/app/b-short/rule/0/match/0", match(b, 8082, "a.b.foo.com",
                TestRequests.get("/z")).name());
        // The exact hostname's route comes first, and wildcard routes still apply to that host after it.
        assertEquals("httproute/app/exact-host/rule/0/match/0", match(b, 8082, "x.foo.com",
                TestRequests.get("/x")).name());
        assertEquals("httproute/app/b-short/rule/0/match/0", match(b, 8082, "x.foo.com",
                TestRequests.get("/y")).name());
        // The listener's hostname isolates it: foo.com itself is not *.foo.com.
        assertNull(b.table().port(new BindKey("127.0.0.5", 8082)).virtualHost("foo.com"));
    }

    @Test
    void weightsAndZeroWeights() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /w}}]
                    backendRefs: [{name: svc, port: 80, weight: 3}, {name: empty, port: 80, weight: 1}]
                  - matches: [{path: {type: PathPrefix, value: /z}}]
                    backendRefs: [{name: svc, port: 80, weight: 0}]
                """);
        final RouteAction.Forward f = (RouteAction.Forward) match(b, 8080, "h", TestRequests.get("/w")).action();
        assertEquals(4, f.totalWeight());
        assertEquals(0, f.pick(0));
        assertEquals(0, f.pick(2));
        assertEquals(1, f.pick(3));
        final RouteAction.Direct d = (RouteAction.Direct) match(b, 8080, "h", TestRequests.get("/z")).action();
        assertEquals(500, d.status());
    }

    @Test
    void gatewayStatusCountsAttachedRoutes() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """);
        final ResourceStatus gw = b.statuses().stream().filter(s -> s.kind().equals("Gateway")).findFirst()
                .orElseThrow();
        final List<?> ls = (List<?>) gw.status().get("listeners");
        assertEquals(1, ((Map<?, ?>) ls.get(0)).get("attachedRoutes"));
        assertEquals(0, ((Map<?, ?>) ls.get(1)).get("attachedRoutes"));
        assertEquals(1, ((Map<?, ?>) ls.get(2)).get("attachedRoutes"));
    }

    @Test
    void invalidRegexDropsOnlyThatMatchWithANamedDiagnostic() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: bad-regex, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  hostnames: [re.example]
                  rules:
                  - matches:
                    - path: {type: RegularExpression, value: "/(unclosed"}
                    - path: {type: PathPrefix, value: /ok}
                      headers: [{type: RegularExpression, name: x-v, value: "[z-a]"}]
                    - path: {type: PathPrefix, value: /fine}
                    backendRefs: [{name: svc, port: 80}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: other, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  hostnames: [other.example]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """);
        assertFalse(b.rejected(), "an invalid regex degrades, it does not reject the build");
        final List<dev.postern.config.diag.Diagnostic> d = b.diagnostics().stream()
                .filter(x -> x.name().equals("bad-regex")).toList();
        assertEquals(2, d.size(), d::toString);
        assertEquals("spec.rules[0].matches[0].path.value", d.get(0).field());
        assertEquals("HTTPRoute", d.get(0).kind());
        assertEquals("app", d.get(0).namespace());
        assertEquals("UnsupportedValue", d.get(0).reason());
        assertTrue(d.get(0).message().contains("/(unclosed"), d.get(0).message());
        assertTrue(d.get(1).field().startsWith("spec.rules[0].matches[1].headers[0]"), d.get(1).field());
        // The dropped matches route nothing (never "match everything"); the valid match and the other route serve.
        assertNull(match(b, 8080, "re.example", TestRequests.get("/(unclosed")));
        assertNull(match(b, 8080, "re.example", TestRequests.of("GET", "/ok", Map.of("x-v", "a"))));
        assertNotNull(match(b, 8080, "re.example", TestRequests.get("/fine/x")));
        assertNotNull(match(b, 8080, "other.example", TestRequests.get("/")));
    }

    @Test
    void conflictingListenersAreNotProgrammedAndTheOthersServe() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: conflicts, namespace: infra}
                spec:
                  gatewayClassName: postern
                  addresses: [{type: IPAddress, value: 127.0.0.6}]
                  listeners:
                  - {name: a, protocol: HTTP, port: 9000, hostname: a.example}
                  - {name: a-again, protocol: HTTP, port: 9000, hostname: a.example}
                  - {name: tcp, protocol: TCP, port: 9001}
                  - {name: http-on-tcp-port, protocol: HTTP, port: 9001}
                  - {name: fine, protocol: HTTP, port: 9002}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: infra}
                spec:
                  parentRefs: [{name: conflicts}]
                  rules: [{backendRefs: [{name: svc, namespace: app, port: 80}]}]
                """);
        assertFalse(b.rejected());
        final Map<String, Map<String, Map<?, ?>>> byListener = new java.util.HashMap<>();
        for (ResourceStatus s : b.statuses()) {
            if (s.kind().equals("Gateway") && s.name().equals("conflicts")) {
                for (Object o : (List<?>) s.status().get("listeners")) {
                    final Map<?, ?> l = (Map<?, ?>) o;
                    final Map<String, Map<?, ?>> conds = new java.util.HashMap<>();
                    for (Object c : (List<?>) l.get("conditions")) {
                        conds.put((String) ((Map<?, ?>) c).get("type"), (Map<?, ?>) c);
                    }
                    byListener.put((String) l.get("name"), conds);
                }
            }
        }
        for (String l : List.of("a", "a-again")) {
            assertEquals("True", byListener.get(l).get("Conflicted").get("status"), l);
            assertEquals("HostnameConflict", byListener.get(l).get("Conflicted").get("reason"), l);
            assertEquals("False", byListener.get(l).get("Programmed").get("status"), l);
        }
        for (String l : List.of("tcp", "http-on-tcp-port")) {
            assertEquals("ProtocolConflict", byListener.get(l).get("Conflicted").get("reason"), l);
            assertEquals("False", byListener.get(l).get("Programmed").get("status"), l);
        }
        assertEquals("False", byListener.get("fine").get("Conflicted").get("status"));
        assertEquals("True", byListener.get("fine").get("Programmed").get("status"));
        assertTrue(b.diagnostics().stream().anyMatch(d -> d.name().equals("conflicts")
                && d.reason().equals("HostnameConflict") && d.field().startsWith("spec.listeners[")));
        assertNull(b.table().port(new BindKey("127.0.0.6", 9000)), "a conflicted listener is not bound");
        final PortTable fine = b.table().port(new BindKey("127.0.0.6", 9002));
        assertNotNull(fine.virtualHost("x").match(TestRequests.get("/")));
    }

    @Test
    void invalidHostnameDropsThatRouteOnlyWithANamedDiagnostic() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: bad-host, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  hostnames: [good.example, Bad_Host.example]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: good, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  hostnames: [other.example]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """);
        assertFalse(b.rejected());
        final dev.postern.config.diag.Diagnostic d = b.diagnostics().stream()
                .filter(x -> x.reason().equals("InvalidHostname")).findFirst().orElseThrow();
        assertEquals("HTTPRoute", d.kind());
        assertEquals("app", d.namespace());
        assertEquals("bad-host", d.name());
        assertEquals("spec.hostnames[1]", d.field());
        assertTrue(d.isError());
        assertNull(match(b, 8080, "good.example", TestRequests.get("/")), "the invalid route serves nothing");
        assertNotNull(match(b, 8080, "other.example", TestRequests.get("/")));
    }
}
