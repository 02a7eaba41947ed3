package dev.postern.config;

import static dev.postern.config.PipelineTest.condition;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.gatewayapi.Gateway;
import dev.postern.config.gatewayapi.ListenerSet;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.VirtualHost;
import dev.postern.config.status.ResourceStatus;
import dev.postern.config.yaml.YamlReader;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * ListenerSets (GEP-1713): reading, admission by {@code spec.allowedListeners}, the merge into the parent Gateway's
 * data plane with the Gateway's listeners first and the sets oldest first, ListenerSet parentRefs, and statuses.
 */
class ListenerSetTest {
    private static final String GATEWAY = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: team-a, labels: {listeners: allowed}}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: shared, namespace: infra}
            spec:
              gatewayClassName: postern
              addresses: [{type: IPAddress, value: 127.0.0.7}]
              allowedListeners:
                namespaces:
                  from: Selector
                  selector: {matchLabels: {listeners: allowed}}
              listeners:
              - {name: main, protocol: HTTP, port: 9200, hostname: main.example, allowedRoutes: {namespaces: {from: All}}}
            """;

    private static ConfigPipeline.Build build(String extra) {
        return PipelineTest.build(GATEWAY + "---\n" + extra);
    }

    private static ResourceStatus status(ConfigPipeline.Build b, String kind, String ns, String name) {
        return b.statuses().stream().filter(s -> s.kind().equals(kind) && s.namespace().equals(ns)
                && s.name().equals(name)).findFirst().orElse(null);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> listener(ResourceStatus s, String name) {
        return ((List<Map<String, Object>>) s.status().get("listeners")).stream()
                .filter(l -> l.get("name").equals(name)).findFirst().orElseThrow();
    }

    private static String backendOf(ConfigPipeline.Build b, int port, String host, String path) {
        final PortTable pt = b.table().port(new BindKey("127.0.0.7", port));
        if (pt == null) {
            return null;
        }
        final VirtualHost vh = pt.virtualHost(host);
        final RouteEntry e = vh == null ? null : vh.match(TestRequests.get(path));
        return e == null ? null : e.routeKey();
    }

    private static String set(String name, String ns, String created, String listeners) {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: ListenerSet
                metadata: {name: %s, namespace: %s, creationTimestamp: "%s"}
                spec:
                  parentRef: {name: shared, namespace: infra}
                  listeners:
                %s
                """.formatted(name, ns, created, listeners.indent(2).stripTrailing());
    }

    private static String route(String name, String ns, String parentRef) {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: %s, namespace: %s}
                spec:
                  parentRefs: [%s]
                  rules: [{backendRefs: [{name: svc, namespace: app, port: 80}]}]
                """.formatted(name, ns, parentRef);
    }

    @Test
    void readsListenerSetsAndAllowedListeners() {
        final YamlReader.Result r = YamlReader.read("t.yaml", PipelineTest.BASE + "---\n" + GATEWAY + "---\n"
                + set("s", "team-a", "2026-01-01T00:00:00Z", "- {name: l, protocol: HTTP, port: 9201}"));
        assertFalse(r.hasErrors(), r.diagnostics()::toString);
        assertTrue(r.diagnostics().stream().noneMatch(d -> d.reason().equals("UnsupportedKind")));
        final ListenerSet ls = r.resources().stream().filter(ListenerSet.class::isInstance)
                .map(ListenerSet.class::cast).findFirst().orElseThrow();
        assertEquals(new ListenerSet.ParentGatewayReference("gateway.networking.k8s.io", "Gateway", "infra",
                "shared"), ls.parentRef());
        assertEquals("Same", ls.listeners().getFirst().allowedRoutes().from());
        final Gateway shared = r.resources().stream().filter(Gateway.class::isInstance).map(Gateway.class::cast)
                .filter(g -> g.metadata().name().equals("shared")).findFirst().orElseThrow();
        assertEquals("Selector", shared.allowedListeners().from());
        final Gateway gw = r.resources().stream().filter(Gateway.class::isInstance).map(Gateway.class::cast)
                .filter(g -> g.metadata().name().equals("gw")).findFirst().orElseThrow();
        assertEquals(Gateway.AllowedListeners.NONE, gw.allowedListeners());
    }

    @Test
    void admittedSetServesItsOwnPortAndRoutesAttachByListenerSetParentRef() {
        final ConfigPipeline.Build b = build(set("extra", "team-a", "2026-01-01T00:00:00Z", """
                - {name: web, protocol: HTTP, port: 9201, hostname: team-a.example}
                """) + "---\n" + route("on-set", "team-a", "{kind: ListenerSet, name: extra}") + "---\n"
                + route("on-gateway", "team-a", "{name: shared, namespace: infra}"));
        assertFalse(b.rejected());
        assertEquals("httproute/team-a/on-set", backendOf(b, 9201, "team-a.example", "/"));
        assertEquals("httproute/team-a/on-gateway", backendOf(b, 9200, "main.example", "/"));
        assertNull(backendOf(b, 9200, "team-a.example", "/"), "a Gateway parentRef does not reach set listeners");
        final VirtualHost vh = b.table().port(new BindKey("127.0.0.7", 9201)).virtualHost("team-a.example");
        assertEquals("gateway/infra/shared/listener/listenerset:team-a:extra:web", vh.listener());
        final ResourceStatus ls = status(b, "ListenerSet", "team-a", "extra");
        assertNotNull(ls);
        assertEquals(1, listener(ls, "web").get("attachedRoutes"));
        assertEquals(1, status(b, "Gateway", "infra", "shared").status().get("attachedListenerSets"));
        final Map<?, ?> parent = PipelineTest.routeParent(b, "on-set", 0);
        assertEquals("ListenerSet", ((Map<?, ?>) parent.get("parentRef")).get("kind"));
        assertEquals("True", condition(parent, "Accepted").get("status"));
    }

    @Test
    void olderSetWinsAConflictWhateverItsName() {
        // "a-newer" sorts first by name but was created later: "z-older" keeps the hostname.
        final ConfigPipeline.Build b = build(set("a-newer", "team-a", "2026-02-01T00:00:00Z", """
                - {name: web, protocol: HTTP, port: 9201, hostname: dup.example}
                - {name: other, protocol: HTTP, port: 9201, hostname: other.example}
                """) + "---\n" + set("z-older", "team-a", "2026-01-01T00:00:00Z", """
                - {name: web, protocol: HTTP, port: 9201, hostname: dup.example}
                """) + "---\n" + route("r-newer", "team-a", "{kind: ListenerSet, name: a-newer}") + "---\n"
                + route("r-older", "team-a", "{kind: ListenerSet, name: z-older}"));
        final ResourceStatus newer = status(b, "ListenerSet", "team-a", "a-newer");
        final Map<?, ?> conflicted = condition(listener(newer, "web"), "Conflicted");
        assertEquals("True", conflicted.get("status"));
        assertEquals("HostnameConflict", conflicted.get("reason"));
        assertEquals("False", condition(listener(newer, "web"), "Accepted").get("status"));
        assertEquals("True", condition(listener(status(b, "ListenerSet", "team-a", "z-older"), "web"),
                "Accepted").get("status"));
        assertEquals("httproute/team-a/r-older", backendOf(b, 9201, "dup.example", "/"));
        assertEquals("httproute/team-a/r-newer", backendOf(b, 9201, "other.example", "/"));
        assertEquals(2, status(b, "Gateway", "infra", "shared").status().get("attachedListenerSets"));
        assertTrue(b.diagnostics().stream().anyMatch(d -> d.name().equals("a-newer")
                && d.reason().equals("HostnameConflict") && d.field().equals("spec.listeners[0]")));
    }

    @Test
    void setOutsideTheSelectorIsNotAllowedAndItsRoutesAreNotServed() {
        final ConfigPipeline.Build b = build(set("outsider", "app", "2026-01-01T00:00:00Z", """
                - {name: web, protocol: HTTP, port: 9201}
                """) + "---\n" + route("r", "app", "{kind: ListenerSet, name: outsider}"));
        final ResourceStatus ls = status(b, "ListenerSet", "app", "outsider");
        assertEquals("NotAllowed", condition(ls.status(), "Accepted").get("reason"));
        assertEquals("False", condition(ls.status(), "Programmed").get("status"));
        assertNull(b.table().port(new BindKey("127.0.0.7", 9201)), "a set that is not admitted binds nothing");
        assertEquals("NotAllowedByListeners", condition(PipelineTest.routeParent(b, "r", 0), "Accepted")
                .get("reason"));
        assertEquals(0, status(b, "Gateway", "infra", "shared").status().get("attachedListenerSets"));
        assertTrue(b.diagnostics().stream().anyMatch(d -> d.name().equals("outsider")
                && d.reason().equals("NotAllowed") && d.field().equals("spec.parentRef")));
    }

    @Test
    void setOfAnotherControllersGatewayGetsNoStatus() {
        final ConfigPipeline.Build b = build(set("elsewhere", "team-a", "2026-01-01T00:00:00Z", """
                - {name: web, protocol: HTTP, port: 9201}
                """).replace("name: shared, namespace: infra", "name: not-ours, namespace: infra"));
        assertNull(status(b, "ListenerSet", "team-a", "elsewhere"));
        assertNull(b.table().port(new BindKey("127.0.0.7", 9201)));
    }

    @Test
    void setOfAGatewayThatIsNotAcceptedIsParentNotAccepted() {
        final ConfigPipeline.Build b = build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: broken, namespace: infra}
                spec:
                  gatewayClassName: postern
                  addresses: [{type: IPAddress, value: 127.0.0.7}]
                  infrastructure: {parametersRef: {group: example.com, kind: Params, name: missing}}
                  allowedListeners: {namespaces: {from: All}}
                  listeners: [{name: http, protocol: HTTP, port: 9300}]
                ---
                """ + set("orphan", "team-a", "2026-01-01T00:00:00Z", """
                - {name: web, protocol: HTTP, port: 9301}
                """).replace("name: shared, namespace: infra", "name: broken, namespace: infra"));
        final ResourceStatus ls = status(b, "ListenerSet", "team-a", "orphan");
        assertEquals("ParentNotAccepted", condition(ls.status(), "Accepted").get("reason"));
        assertEquals("False", condition(ls.status(), "Programmed").get("status"));
        assertNull(b.table().port(new BindKey("127.0.0.7", 9301)));
    }
}
