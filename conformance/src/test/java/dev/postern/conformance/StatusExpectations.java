package dev.postern.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.status.ResourceStatus;
import dev.postern.config.yaml.YamlReader;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The upstream suite's status assertions (conformance/utils/kubernetes/helpers.go at v1.6.1), re-stated over
 * Postern's computed statuses: conditions compared by type, status and reason as a subset; listeners by name with
 * an exact count, exact attachedRoutes and supportedKinds as a subset (or exactly empty); observedGeneration on
 * Gateway-level, GatewayClass and route-parent conditions. See docs/conformance-status-expectations.md.
 */
final class StatusExpectations {
    static final String INFRA = "gateway-conformance-infra";
    static final String HR = "HTTPRoute";

    final ConfigPipeline.Build build;

    private StatusExpectations(ConfigPipeline.Build build) {
        this.build = build;
    }

    /** Builds base + setup objects + the given YAML texts, as the suite applies them. */
    static StatusExpectations of(String... yamls) {
        final List<Resource> all = new ArrayList<>();
        int i = 0;
        for (String y : yamls) {
            final YamlReader.Result r = YamlReader.read("manifest-" + i++ + ".yaml", y);
            assertFalse(r.hasErrors(), () -> r.diagnostics().toString());
            all.addAll(r.resources());
        }
        final ConfigPipeline.Build b = ConfigPipeline.fromResources(all, new ConfigPipeline.Settings(
                SuiteManifests.CONTROLLER, "0.0.0.0"), 1);
        assertFalse(b.rejected(), () -> b.diagnostics().toString());
        return new StatusExpectations(b);
    }

    /** The statuses of a build made elsewhere (the watcher's). */
    static StatusExpectations of(ConfigPipeline.Build build) {
        return new StatusExpectations(build);
    }

    /** base + setup + one test manifest. */
    static StatusExpectations forTest(String manifest) {
        final SuiteManifests m = SuiteManifests.locate();
        return of(m.base(), SuiteCertificates.setupObjects(), m.test(manifest));
    }

    ResourceStatus status(String kind, String ns, String name) {
        for (ResourceStatus s : build.statuses()) {
            if (s.kind().equals(kind) && s.namespace().equals(ns) && s.name().equals(name)) {
                return s;
            }
        }
        return fail("no status for " + kind + " " + ns + "/" + name);
    }

    /** A condition expectation; reason null means any. */
    record Cond(String type, String status, String reason) {
    }

    static Cond cond(String type, String status, String reason) {
        return new Cond(type, status, reason);
    }

    static Cond cond(String type, String status) {
        return new Cond(type, status, null);
    }

    /** A listener expectation: supportedKinds null means "must be empty". */
    record Listener(String name, String supportedKind, int attachedRoutes, List<Cond> conditions) {
    }

    static Listener listener(String name, String kind, int attached, Cond... conds) {
        return new Listener(name, kind, attached, List.of(conds));
    }

    @SuppressWarnings("unchecked")
    static void conditionsMatch(String what, Object actual, List<Cond> expected) {
        final List<Map<String, Object>> cs = (List<Map<String, Object>>) actual;
        for (Cond e : expected) {
            final boolean found = cs.stream().anyMatch(c -> c.get("type").equals(e.type())
                    && c.get("status").equals(e.status()) && (e.reason() == null || c.get("reason").equals(e.reason())));
            assertTrue(found, () -> what + ": expected " + e + " in " + cs);
        }
    }

    @SuppressWarnings("unchecked")
    static void latestGeneration(String what, Object conditions, long generation) {
        for (Map<String, Object> c : (List<Map<String, Object>>) conditions) {
            assertEquals(generation, c.get("observedGeneration"), () -> what + ": stale condition " + c);
        }
    }

    /** GatewayMustHaveLatestConditions + GatewayMustHaveCondition. */
    StatusExpectations gatewayCondition(String ns, String name, Cond c) {
        final ResourceStatus s = status("Gateway", ns, name);
        latestGeneration("Gateway " + name, s.status().get("conditions"), s.generation());
        conditionsMatch("Gateway " + name, s.status().get("conditions"), List.of(c));
        return this;
    }

    /** GatewayStatusMustHaveListeners. */
    StatusExpectations listeners(String ns, String name, Listener... expected) {
        return listenersOf("Gateway", ns, name, expected);
    }

    /**
     * The listeners of a Gateway or ListenerSet: exact count, and per listener supportedKinds (a subset, or empty
     * when the expectation names none), exact attachedRoutes and conditions as a subset.
     */
    @SuppressWarnings("unchecked")
    private StatusExpectations listenersOf(String kind, String ns, String name, Listener... expected) {
        final ResourceStatus s = status(kind, ns, name);
        latestGeneration(kind + " " + name, s.status().get("conditions"), s.generation());
        final List<Map<String, Object>> ls = (List<Map<String, Object>>) s.status().get("listeners");
        assertEquals(expected.length, ls.size(), () -> "listener count of " + name + ": " + ls);
        for (Listener e : expected) {
            final Map<String, Object> l = ls.stream().filter(x -> x.get("name").equals(e.name())).findFirst()
                    .orElseGet(() -> fail("no listener " + e.name() + " in " + ls));
            final List<Map<String, Object>> kinds = (List<Map<String, Object>>) l.get("supportedKinds");
            if (e.supportedKind() == null) {
                assertTrue(kinds.isEmpty(), () -> name + "/" + e.name() + ": supportedKinds must be empty: " + kinds);
            } else {
                assertTrue(kinds.stream().anyMatch(k -> k.get("kind").equals(e.supportedKind())
                        && k.get("group").equals("gateway.networking.k8s.io")), () -> name + "/" + e.name()
                        + ": supportedKinds " + kinds);
            }
            assertEquals(e.attachedRoutes(), l.get("attachedRoutes"), () -> name + "/" + e.name() + " attachedRoutes");
            conditionsMatch(name + "/" + e.name(), l.get("conditions"), e.conditions());
        }
        return this;
    }

    @SuppressWarnings("unchecked")
    List<Map<String, Object>> parents(String ns, String route) {
        return parents(HR, ns, route);
    }

    /** The parents of a route of {@code kind} (HTTPRoute, TCPRoute, UDPRoute, TLSRoute). */
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> parents(String kind, String ns, String route) {
        final ResourceStatus s = status(kind, ns, route);
        final List<Map<String, Object>> ps = (List<Map<String, Object>>) s.status().get("parents");
        for (Map<String, Object> p : ps) {
            latestGeneration(kind + " " + route, p.get("conditions"), s.generation());
            assertEquals(SuiteManifests.CONTROLLER, p.get("controllerName"));
            final Map<String, Object> ref = (Map<String, Object>) p.get("parentRef");
            assertEquals("gateway.networking.k8s.io", ref.get("group"));
            assertTrue(ref.get("kind").equals("Gateway") || ref.get("kind").equals("ListenerSet"),
                    () -> "parent kind " + ref.get("kind"));
        }
        return ps;
    }

    /** HTTPRouteMustHaveCondition: some parent for the Gateway has the condition. */
    @SuppressWarnings("unchecked")
    StatusExpectations routeCondition(String ns, String route, String gwNs, String gw, Cond c) {
        return routeCondition(HR, ns, route, gwNs, gw, c);
    }

    /** TCPRouteMustHaveCondition, UDPRouteMustHaveCondition, ...: the same for a route of {@code kind}. */
    @SuppressWarnings("unchecked")
    StatusExpectations routeCondition(String kind, String ns, String route, String gwNs, String gw, Cond c) {
        final List<Map<String, Object>> ps = parents(kind, ns, route);
        final boolean ok = ps.stream().anyMatch(p -> {
            final Map<String, Object> ref = (Map<String, Object>) p.get("parentRef");
            final Object pns = ref.get("namespace");
            if (!ref.get("name").equals(gw) || (pns != null && !pns.equals(gwNs))) {
                return false;
            }
            try {
                conditionsMatch("", p.get("conditions"), List.of(c));
                return true;
            } catch (AssertionError e) {
                return false;
            }
        });
        assertTrue(ok, () -> kind + " " + route + ": no parent " + gw + " with " + c + " in " + ps);
        return this;
    }

    /** HTTPRouteMustHaveNoAcceptedParents: exactly one parent, Accepted=False. */
    StatusExpectations noAcceptedParents(String ns, String route) {
        return noAcceptedParents(HR, ns, route);
    }

    /** TLSRouteMustHaveNoAcceptedParents (and the other kinds): exactly one parent, Accepted=False. */
    StatusExpectations noAcceptedParents(String kind, String ns, String route) {
        final List<Map<String, Object>> ps = parents(kind, ns, route);
        assertEquals(1, ps.size(), () -> "parents of " + route + ": " + ps);
        conditionsMatch(route, ps.getFirst().get("conditions"), List.of(cond("Accepted", "False")));
        return this;
    }

    /** GatewayMustHaveZeroRoutes. */
    @SuppressWarnings("unchecked")
    StatusExpectations zeroRoutes(String ns, String gw) {
        final List<Map<String, Object>> ls = (List<Map<String, Object>>) status("Gateway", ns, gw).status()
                .get("listeners");
        assertTrue(ls.isEmpty() || (ls.size() == 1 && ls.getFirst().get("attachedRoutes").equals(0)),
                () -> gw + " listeners: " + ls);
        return this;
    }

    /** GatewayAndHTTPRoutesMustBeAccepted: every listener True x3, each route Accepted/True/Accepted. */
    @SuppressWarnings("unchecked")
    StatusExpectations accepted(String gwNs, String gw, String... routes) {
        return acceptedRoutes(HR, gwNs, gw, routes);
    }

    /** GatewayAndTCPRoutesMustBeAccepted (UDP, TLS): the same for routes of {@code kind}. */
    @SuppressWarnings("unchecked")
    StatusExpectations acceptedRoutes(String kind, String gwNs, String gw, String... routes) {
        final ResourceStatus s = status("Gateway", gwNs, gw);
        latestGeneration(gw, s.status().get("conditions"), s.generation());
        assertFalse(((List<?>) s.status().get("addresses")).isEmpty(), "Gateway has a typed address");
        for (Map<String, Object> l : (List<Map<String, Object>>) s.status().get("listeners")) {
            conditionsMatch(gw + "/" + l.get("name"), l.get("conditions"), List.of(cond("ResolvedRefs", "True"),
                    cond("Accepted", "True"), cond("Programmed", "True")));
        }
        for (String r : routes) {
            routeCondition(kind, gwNs, r, gwNs, gw, cond("Accepted", "True", "Accepted"));
        }
        return this;
    }

    /** GatewayMustHaveAttachedListeners: {@code status.attachedListenerSets}. */
    StatusExpectations attachedListenerSets(String ns, String gw, int expected) {
        final ResourceStatus s = status("Gateway", ns, gw);
        latestGeneration("Gateway " + gw, s.status().get("conditions"), s.generation());
        assertEquals(expected, s.status().getOrDefault("attachedListenerSets", 0), () -> gw
                + " attachedListenerSets");
        return this;
    }

    /** GatewayListenersMustHaveConditions for the named listeners. */
    @SuppressWarnings("unchecked")
    StatusExpectations gatewayListenerConditions(String ns, String gw, String listener, Cond... conds) {
        final ResourceStatus s = status("Gateway", ns, gw);
        latestGeneration("Gateway " + gw, s.status().get("conditions"), s.generation());
        final Map<String, Object> l = ((List<Map<String, Object>>) s.status().get("listeners")).stream()
                .filter(x -> x.get("name").equals(listener)).findFirst()
                .orElseGet(() -> fail("no listener " + listener + " on Gateway " + gw));
        conditionsMatch(gw + "/" + listener, l.get("conditions"), List.of(conds));
        return this;
    }

    /** ListenerSetMustHaveCondition (conditions at the latest generation). */
    StatusExpectations listenerSetCondition(String ns, String name, Cond c) {
        final ResourceStatus s = status("ListenerSet", ns, name);
        latestGeneration("ListenerSet " + name, s.status().get("conditions"), s.generation());
        conditionsMatch("ListenerSet " + name, s.status().get("conditions"), List.of(c));
        return this;
    }

    /** ListenerSetListenersMustHaveConditions for the named listeners. */
    @SuppressWarnings("unchecked")
    StatusExpectations listenerSetListenerConditions(String ns, String name, String listener, Cond... conds) {
        final ResourceStatus s = status("ListenerSet", ns, name);
        latestGeneration("ListenerSet " + name, s.status().get("conditions"), s.generation());
        final Map<String, Object> l = ((List<Map<String, Object>>) s.status().get("listeners")).stream()
                .filter(x -> x.get("name").equals(listener)).findFirst()
                .orElseGet(() -> fail("no listener " + listener + " on ListenerSet " + name));
        conditionsMatch(name + "/" + listener, l.get("conditions"), List.of(conds));
        return this;
    }

    /**
     * ListenerSetStatusMustHaveListeners: exact listener count, and per listener supportedKinds as a subset,
     * exact attachedRoutes and conditions as a subset.
     */
    StatusExpectations listenerSetListeners(String ns, String name, Listener... expected) {
        return listenersOf("ListenerSet", ns, name, expected);
    }

    /**
     * RoutesAndParentMustBeAccepted with a ListenerSet parent: each route has a parent of kind ListenerSet with
     * that name and namespace, Accepted=True (Accepted); every listener of the set is ResolvedRefs, Accepted and
     * Programmed.
     */
    @SuppressWarnings("unchecked")
    StatusExpectations acceptedByListenerSet(String lsNs, String ls, String... nsSlashRoutes) {
        for (String nr : nsSlashRoutes) {
            final String rns = nr.substring(0, nr.indexOf('/'));
            final String route = nr.substring(nr.indexOf('/') + 1);
            final List<Map<String, Object>> ps = parents(rns, route);
            assertTrue(ps.stream().anyMatch(p -> {
                final Map<String, Object> ref = (Map<String, Object>) p.get("parentRef");
                if (!"ListenerSet".equals(ref.get("kind")) || !ls.equals(ref.get("name"))
                        || !lsNs.equals(ref.get("namespace"))) {
                    return false;
                }
                try {
                    conditionsMatch("", p.get("conditions"), List.of(cond("Accepted", "True", "Accepted")));
                    return true;
                } catch (AssertionError e) {
                    return false;
                }
            }), () -> "HTTPRoute " + route + ": no accepted ListenerSet parent " + lsNs + "/" + ls + " in " + ps);
        }
        final ResourceStatus s = status("ListenerSet", lsNs, ls);
        for (Map<String, Object> l : (List<Map<String, Object>>) s.status().get("listeners")) {
            conditionsMatch(ls + "/" + l.get("name"), l.get("conditions"), List.of(cond("ResolvedRefs", "True"),
                    cond("Accepted", "True"), cond("Programmed", "True")));
        }
        return this;
    }

    /** HTTPRouteMustHaveParents (namespace required): a parent of that kind, name and namespace, Accepted=True. */
    @SuppressWarnings("unchecked")
    StatusExpectations routeParent(String ns, String route, String kind, String parentNs, String parent) {
        final List<Map<String, Object>> ps = parents(ns, route);
        assertTrue(ps.stream().anyMatch(p -> {
            final Map<String, Object> ref = (Map<String, Object>) p.get("parentRef");
            if (!kind.equals(ref.get("kind")) || !parent.equals(ref.get("name"))
                    || !parentNs.equals(ref.get("namespace"))) {
                return false;
            }
            try {
                conditionsMatch("", p.get("conditions"), List.of(cond("Accepted", "True")));
                return true;
            } catch (AssertionError e) {
                return false;
            }
        }), () -> "HTTPRoute " + route + ": no accepted parent " + kind + " " + parentNs + "/" + parent + " in " + ps);
        return this;
    }

    static void assertGenerationsDiffer(long a, long b) {
        assertNotEquals(a, b);
    }
}
