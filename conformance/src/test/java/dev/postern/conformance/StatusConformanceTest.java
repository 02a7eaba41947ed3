package dev.postern.conformance;

import static dev.postern.conformance.StatusExpectations.HR;
import static dev.postern.conformance.StatusExpectations.INFRA;
import static dev.postern.conformance.StatusExpectations.cond;
import static dev.postern.conformance.StatusExpectations.listener;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.status.ResourceStatus;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The upstream suite's status-only GATEWAY-HTTP core tests (and the status parts of the DP+ST tests), each over
 * base + setup objects + that test's manifest, exactly as docs/conformance-status-expectations.md records them.
 */
@org.junit.jupiter.api.extension.ExtendWith(StatusConformanceTest.Recorder.class)
class StatusConformanceTest {
    /** Each test method is named after its upstream test; its outcome goes to the conformance report. */
    static final class Recorder implements org.junit.jupiter.api.extension.TestWatcher,
            org.junit.jupiter.api.extension.AfterAllCallback {
        private static final Map<String, String> RESULTS = new java.util.TreeMap<>();

        private static String upstream(org.junit.jupiter.api.extension.ExtensionContext c) {
            final String m = c.getRequiredTestMethod().getName();
            final String n = Character.toUpperCase(m.charAt(0)) + m.substring(1);
            return n.replace("HttpRoute", "HTTPRoute").replace("TcpRoute", "TCPRoute").replace("UdpRoute", "UDPRoute")
                    .replace("TlsRoute", "TLSRoute").replace("TLSConfiguration", "TLSConfiguration");
        }

        @Override
        public void testSuccessful(org.junit.jupiter.api.extension.ExtensionContext c) {
            RESULTS.put(upstream(c), "passed");
        }

        @Override
        public void testFailed(org.junit.jupiter.api.extension.ExtensionContext c, Throwable cause) {
            RESULTS.put(upstream(c), "failed: " + cause.getMessage());
        }

        @Override
        public void afterAll(org.junit.jupiter.api.extension.ExtensionContext c) throws Exception {
            ConformanceReport.write("status", RESULTS, Map.of(), java.nio.file.Path.of("target", "conformance"));
        }
    }

    private static final SuiteManifests M = SuiteManifests.locate();
    private static final String WEB = "gateway-conformance-web-backend";

    @Test
    void gatewayClassObservedGenerationBump(@TempDir Path root) throws Exception {
        final java.util.function.LongFunction<String> at = gen -> M.test("gatewayclass-observed-generation-bump")
                .replace("name: gatewayclass-observed-generation-bump",
                        "name: gatewayclass-observed-generation-bump\n  generation: " + gen);
        try (WatchedConfig w = new WatchedConfig(root, M.base(), at.apply(1))) {
            long prev = 0;
            for (long gen : new long[] {1, 2}) {
                final StatusExpectations s = gen == 1 ? w.current() : w.write(1, at.apply(gen));
                final ResourceStatus gc = s.status("GatewayClass", "", "gatewayclass-observed-generation-bump");
                StatusExpectations.conditionsMatch("gc", gc.status().get("conditions"),
                        List.of(cond("Accepted", "True")));
                StatusExpectations.latestGeneration("gc", gc.status().get("conditions"), gen);
                StatusExpectations.assertGenerationsDiffer(prev, gen);
                prev = gen;
            }
        }
    }

    @Test
    void gatewayInvalidParametersRef() {
        StatusExpectations.forTest("gateway-invalid-parameters-ref")
                .gatewayCondition(INFRA, "gateway-invalid-parameters-ref",
                        cond("Accepted", "False", "InvalidParameters"));
    }

    @Test
    void gatewayInvalidRouteKind() {
        StatusExpectations.forTest("gateway-invalid-route-kind")
                .listeners(INFRA, "gateway-only-invalid-route-kind",
                        listener("http", null, 0, cond("ResolvedRefs", "False", "InvalidRouteKinds")))
                .listeners(INFRA, "gateway-supported-and-invalid-route-kind",
                        listener("http", HR, 0, cond("ResolvedRefs", "False", "InvalidRouteKinds")));
    }

    @Test
    void gatewayInvalidTLSConfiguration() {
        final StatusExpectations s = StatusExpectations.forTest("gateway-invalid-tls-configuration");
        for (String gw : new String[] {"gateway-certificate-nonexistent-secret", "gateway-certificate-unsupported-group",
            "gateway-certificate-unsupported-kind", "gateway-certificate-malformed-secret"}) {
            s.listeners(INFRA, gw, listener("https", HR, 0, cond("ResolvedRefs", "False", "InvalidCertificateRef")));
        }
    }

    // GatewayInvalidTLSBackendConfiguration: an invalid spec.tls.backend.clientCertificateRef sets the Gateway's
    // ResolvedRefs=False (InvalidClientCertificateRef, or RefNotPermitted across namespaces) and keeps it Accepted.
    @Test
    void gatewayInvalidTLSBackendConfiguration() {
        final StatusExpectations s = StatusExpectations.forTest("gateway-invalid-tls-backend-configuration");
        for (String gw : new String[] {"gateway-client-certificate-nonexistent-secret",
            "gateway-client-certificate-unsupported-group", "gateway-client-certificate-unsupported-kind",
            "gateway-client-certificate-malformed-secret"}) {
            s.gatewayCondition(INFRA, gw, cond("ResolvedRefs", "False", "InvalidClientCertificateRef"))
                    .gatewayCondition(INFRA, gw, cond("Accepted", "True", "Accepted"));
        }
        s.gatewayCondition(INFRA, "gateway-client-certificate-missing-reference-grant",
                        cond("ResolvedRefs", "False", "RefNotPermitted"))
                .gatewayCondition(INFRA, "gateway-client-certificate-missing-reference-grant",
                        cond("Accepted", "True", "Accepted"));
    }

    @Test
    void gatewayListenerUnsupportedProtocol() {
        StatusExpectations.forTest("gateway-invalid-listeners-unsupported-protocol")
                .gatewayCondition(INFRA, "gateway-only-unsupported-protocols",
                        cond("Accepted", "False", "ListenersNotValid"))
                .listeners(INFRA, "gateway-only-unsupported-protocols",
                        listener("invalid", null, 0, cond("Accepted", "False", "UnsupportedProtocol")))
                .gatewayCondition(INFRA, "gateway-supported-and-unsupported-protocols",
                        cond("Accepted", "True", "ListenersNotValid"))
                .gatewayCondition(INFRA, "gateway-supported-and-unsupported-protocols", cond("Programmed", "True"))
                .listeners(INFRA, "gateway-supported-and-unsupported-protocols",
                        listener("http", HR, 0, cond("Accepted", "True", "Accepted")),
                        listener("invalid", null, 0, cond("Accepted", "False", "UnsupportedProtocol")));
    }

    @Test
    void gatewayModifyListeners(@TempDir Path root) throws Exception {
        final String before = M.test("gateway-modify-listeners");
        try (WatchedConfig w = new WatchedConfig(root, M.base(), SuiteCertificates.setupObjects(), before)) {
            w.current()
                    .gatewayCondition(INFRA, "gateway-add-listener", cond("Programmed", "True"))
                    .gatewayCondition(INFRA, "gateway-remove-listener", cond("Programmed", "True"));
            // Add a listener to gateway-add-listener (generation 2).
            final String added = before.replaceFirst("(?s)(name: gateway-add-listener\\n  namespace: "
                    + "gateway-conformance-infra\\n)", "$1  generation: 2\n")
                    .replaceFirst("(?s)(name: gateway-add-listener.*?listeners:\\n)", "$1"
                            + "  - name: http\n    port: 80\n    protocol: HTTP\n    hostname: data.test.com\n"
                            + "    allowedRoutes:\n      namespaces:\n        from: All\n");
            w.write(2, added)
                    .gatewayCondition(INFRA, "gateway-add-listener", cond("Accepted", "True"))
                    .gatewayCondition(INFRA, "gateway-add-listener", cond("Programmed", "True"))
                    .listeners(INFRA, "gateway-add-listener",
                            listener("https", HR, 1, cond("Accepted", "True"), cond("ResolvedRefs", "True")),
                            listener("http", HR, 1, cond("Accepted", "True"), cond("ResolvedRefs", "True")));
            // Then remove the https listener of gateway-remove-listener.
            final int g = added.indexOf("name: gateway-remove-listener");
            final int https = added.indexOf("  - name: https", g);
            final int http = added.indexOf("  - name: http\n", https);
            final String removed = (added.substring(0, https) + added.substring(http))
                    .replaceFirst("(name: gateway-remove-listener\\n  namespace: gateway-conformance-infra\\n)",
                            "$1  generation: 2\n");
            final StatusExpectations r = w.write(2, removed)
                    .listeners(INFRA, "gateway-remove-listener",
                            listener("http", HR, 1, cond("Accepted", "True"), cond("ResolvedRefs", "True")));
            assertEquals(2, r.status("Gateway", INFRA, "gateway-remove-listener").generation());
        }
    }

    @Test
    void gatewayObservedGenerationBump(@TempDir Path root) throws Exception {
        final String y = M.test("gateway-observed-generation-bump");
        try (WatchedConfig w = new WatchedConfig(root, M.base(), SuiteCertificates.setupObjects(), y)) {
            w.current()
                    .gatewayCondition(INFRA, "gateway-observed-generation-bump", cond("Accepted", "True"))
                    .gatewayCondition(INFRA, "gateway-observed-generation-bump", cond("Programmed", "True"));
            final String bumped = y.replaceFirst("(name: gateway-observed-generation-bump\\n  namespace: "
                    + "gateway-conformance-infra\\n)", "$1  generation: 2\n")
                    .replaceFirst("(?s)(listeners:\\n)", "$1    - name: alternate\n      hostname: foo.com\n"
                            + "      port: 80\n      protocol: HTTP\n      allowedRoutes:\n        namespaces:\n"
                            + "          from: All\n");
            final StatusExpectations s = w.write(2, bumped)
                    .gatewayCondition(INFRA, "gateway-observed-generation-bump", cond("Accepted", "True"))
                    .gatewayCondition(INFRA, "gateway-observed-generation-bump", cond("Programmed", "True"));
            assertEquals(2, s.status("Gateway", INFRA, "gateway-observed-generation-bump").generation());
        }
    }

    @Test
    void gatewaySecretInvalidReferenceGrant() {
        StatusExpectations.forTest("gateway-secret-invalid-reference-grant")
                .listeners(INFRA, "gateway-secret-invalid-reference-grant",
                        listener("https", HR, 0, cond("ResolvedRefs", "False", "RefNotPermitted")));
    }

    @Test
    void gatewaySecretMissingReferenceGrant() {
        StatusExpectations.forTest("gateway-secret-missing-reference-grant")
                .listeners(INFRA, "gateway-secret-missing-reference-grant",
                        listener("https", HR, 0, cond("ResolvedRefs", "False", "RefNotPermitted")));
    }

    @Test
    void gatewaySecretReferenceGrantAllInNamespace() {
        StatusExpectations.forTest("gateway-secret-reference-grant-all-in-namespace")
                .listeners(INFRA, "gateway-secret-reference-grant-all-in-namespace",
                        listener("https", HR, 0, cond("Programmed", "True", "Programmed"),
                                cond("ResolvedRefs", "True")));
    }

    @Test
    void gatewaySecretReferenceGrantSpecific() {
        StatusExpectations.forTest("gateway-secret-reference-grant-specific")
                .listeners(INFRA, "gateway-secret-reference-grant-specific",
                        listener("https", HR, 0, cond("Programmed", "True", "Programmed"),
                                cond("ResolvedRefs", "True")));
    }

    @Test
    void gatewayWithAttachedRoutes() {
        StatusExpectations.forTest("gateway-with-attached-routes")
                .listeners(INFRA, "gateway-with-one-attached-route",
                        listener("http", HR, 1, cond("Accepted", "True"), cond("ResolvedRefs", "True")))
                .listeners(INFRA, "gateway-with-two-attached-routes",
                        listener("http", HR, 2, cond("Accepted", "True"), cond("ResolvedRefs", "True")))
                .routeCondition(INFRA, "http-route-not-accepted", INFRA, "gateway-with-two-attached-routes",
                        cond("Accepted", "False", "NoMatchingListenerHostname"))
                .listeners(INFRA, "unresolved-gateway-with-one-attached-unresolved-route",
                        listener("tls", HR, 1, cond("Programmed", "False"), cond("ResolvedRefs", "False")))
                .routeCondition(INFRA, "http-route-4", INFRA, "unresolved-gateway-with-one-attached-unresolved-route",
                        cond("ResolvedRefs", "False"));
    }

    @Test
    void gatewayWithAttachedRoutesWithPort8080() {
        StatusExpectations.forTest("gateway-with-attached-routes-with-port-8080")
                .listeners(INFRA, "gateway-with-two-listeners-and-one-attached-route",
                        listener("http-unattached", HR, 0, cond("Accepted", "True"), cond("ResolvedRefs", "True")),
                        listener("http", HR, 1, cond("Accepted", "True"), cond("ResolvedRefs", "True")));
    }

    @Test
    void httpRouteInvalidCrossNamespaceParentRef() {
        StatusExpectations.forTest("httproute-invalid-cross-namespace-parent-ref")
                .routeCondition(WEB, "invalid-cross-namespace-parent-ref", INFRA, "same-namespace",
                        cond("ResolvedRefs", "True", "ResolvedRefs"))
                .routeCondition(WEB, "invalid-cross-namespace-parent-ref", INFRA, "same-namespace",
                        cond("Accepted", "False", "NotAllowedByListeners"))
                .noAcceptedParents(WEB, "invalid-cross-namespace-parent-ref")
                .zeroRoutes(INFRA, "same-namespace");
    }

    @Test
    void httpRouteInvalidParentRefNotMatchingSectionName() {
        StatusExpectations.forTest("httproute-invalid-parentref-not-matching-section-name")
                .routeCondition(INFRA, "httproute-listener-not-matching-section-name", INFRA, "same-namespace",
                        cond("Accepted", "False", "NoMatchingParent"))
                .noAcceptedParents(INFRA, "httproute-listener-not-matching-section-name")
                .zeroRoutes(INFRA, "same-namespace");
    }

    @Test
    void httpRouteObservedGenerationBump(@TempDir Path root) throws Exception {
        final String y = M.test("httproute-observed-generation-bump");
        try (WatchedConfig w = new WatchedConfig(root, M.base(), SuiteCertificates.setupObjects(), y)) {
            final StatusExpectations first = w.current()
                    .routeCondition(INFRA, "observed-generation-bump", INFRA, "same-namespace",
                            cond("Accepted", "True"));
            final String bumped = y.replaceFirst("(name: observed-generation-bump\\n  namespace: "
                    + "gateway-conformance-infra\\n)", "$1  generation: 2\n")
                    .replace("name: infra-backend-v1", "name: infra-backend-v2");
            final StatusExpectations s = w.write(2, bumped)
                    .routeCondition(INFRA, "observed-generation-bump", INFRA, "same-namespace",
                            cond("Accepted", "True"))
                    .routeCondition(INFRA, "observed-generation-bump", INFRA, "same-namespace",
                            cond("ResolvedRefs", "True", "ResolvedRefs"));
            assertEquals(2, s.status("HTTPRoute", INFRA, "observed-generation-bump").generation());
            StatusExpectations.assertGenerationsDiffer(
                    first.status("HTTPRoute", INFRA, "observed-generation-bump").generation(),
                    s.status("HTTPRoute", INFRA, "observed-generation-bump").generation());
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void httpRouteHostnameIntersection() {
        final StatusExpectations s = StatusExpectations.forTest("httproute-hostname-intersection")
                .accepted(INFRA, "httproute-hostname-intersection", "specific-host-matches-listener-specific-host",
                        "specific-host-matches-listener-wildcard-host", "wildcard-host-matches-listener-specific-host",
                        "wildcard-host-matches-listener-wildcard-host")
                .routeCondition(INFRA, "no-intersecting-hosts", INFRA, "httproute-hostname-intersection",
                        cond("Accepted", "False", "NoMatchingListenerHostname"))
                .listeners(INFRA, "httproute-hostname-intersection",
                        listener("listener-1", HR, 2, cond("Accepted", "True"), cond("ResolvedRefs", "True")),
                        listener("listener-2", HR, 1, cond("Accepted", "True"), cond("ResolvedRefs", "True")),
                        listener("listener-3", HR, 1, cond("Accepted", "True"), cond("ResolvedRefs", "True")))
                .accepted(INFRA, "httproute-hostname-intersection-all", "httproute-hostname-intersection-all");
        for (String r : new String[] {"specific-host-matches-listener-specific-host",
            "wildcard-host-matches-listener-wildcard-host", "httproute-hostname-intersection-all"}) {
            final Map<String, Object> p = s.parents(INFRA, r).getFirst();
            StatusExpectations.conditionsMatch(r, p.get("conditions"),
                    List.of(cond("ResolvedRefs", "True", "ResolvedRefs")));
        }
        final Map<String, Object> ref = (Map<String, Object>) s.parents(INFRA, "no-intersecting-hosts").getFirst()
                .get("parentRef");
        assertEquals(INFRA, ref.get("namespace"));
    }

    @Test
    void invalidBackendRefsAndReferenceGrants() {
        StatusExpectations.forTest("httproute-invalid-backendref-unknown-kind")
                .accepted(INFRA, "same-namespace", "invalid-backend-ref-unknown-kind")
                .routeCondition(INFRA, "invalid-backend-ref-unknown-kind", INFRA, "same-namespace",
                        cond("ResolvedRefs", "False", "InvalidKind"));
        StatusExpectations.forTest("httproute-invalid-nonexistent-backendref")
                .accepted(INFRA, "same-namespace", "invalid-nonexistent-backend-ref")
                .routeCondition(INFRA, "invalid-nonexistent-backend-ref", INFRA, "same-namespace",
                        cond("ResolvedRefs", "False", "BackendNotFound"));
        StatusExpectations.forTest("httproute-invalid-reference-grant")
                .accepted(INFRA, "same-namespace", "reference-grant")
                .routeCondition(INFRA, "reference-grant", INFRA, "same-namespace",
                        cond("ResolvedRefs", "False", "RefNotPermitted"));
        StatusExpectations.forTest("httproute-partially-invalid-via-invalid-reference-grant")
                .accepted(INFRA, "same-namespace", "invalid-reference-grant")
                .routeCondition(INFRA, "invalid-reference-grant", INFRA, "same-namespace",
                        cond("ResolvedRefs", "False", "RefNotPermitted"));
        StatusExpectations.forTest("httproute-invalid-cross-namespace-backend-ref")
                .accepted(INFRA, "same-namespace", "invalid-cross-namespace-backend-ref")
                .routeCondition(INFRA, "invalid-cross-namespace-backend-ref", INFRA, "same-namespace",
                        cond("ResolvedRefs", "False", "RefNotPermitted"));
        StatusExpectations.forTest("httproute-reference-grant")
                .accepted(INFRA, "same-namespace", "reference-grant")
                .routeCondition(INFRA, "reference-grant", INFRA, "same-namespace",
                        cond("ResolvedRefs", "True", "ResolvedRefs"));
    }

    // Layer 4 status tests (GATEWAY-TCP/UDP, provisional in v1.6.1): TCPRouteMustHaveCondition and
    // UDPRouteMustHaveCondition on the route's parent, GatewayMustHaveZeroRoutes.

    @Test
    void tcpRouteInvalidBackendRefNonexistent() {
        StatusExpectations.forTest("tcproute-invalid-backendref-nonexistent")
                .routeCondition("TCPRoute", INFRA, "tcp-route-invalid-backend-ref-nonexistent", INFRA,
                        "tcp-gateway-invalid-backend", cond("ResolvedRefs", "False", "BackendNotFound"));
    }

    @Test
    void udpRouteInvalidBackendRefNonexistent() {
        StatusExpectations.forTest("udproute-invalid-backendref-nonexistent")
                .routeCondition("UDPRoute", INFRA, "udp-route-invalid-backend-ref-nonexistent", INFRA,
                        "udp-gateway-invalid-backend", cond("ResolvedRefs", "False", "BackendNotFound"));
    }

    @Test
    void tcpRouteInvalidCrossNamespaceBackendRef() {
        StatusExpectations.forTest("tcproute-invalid-cross-namespace-backend-ref")
                .acceptedRoutes("TCPRoute", INFRA, "tcp-invalid-cross-namespace-backend-ref-gateway",
                        "tcp-invalid-cross-namespace-backend-ref")
                .routeCondition("TCPRoute", INFRA, "tcp-invalid-cross-namespace-backend-ref", INFRA,
                        "tcp-invalid-cross-namespace-backend-ref-gateway",
                        cond("ResolvedRefs", "False", "RefNotPermitted"));
    }

    @Test
    void udpRouteInvalidCrossNamespaceBackendRef() {
        StatusExpectations.forTest("udproute-invalid-cross-namespace-backend-ref")
                .acceptedRoutes("UDPRoute", INFRA, "udp-gateway-invalid-cross-namespace-backend-ref",
                        "udp-route-invalid-cross-namespace-backend-ref")
                .routeCondition("UDPRoute", INFRA, "udp-route-invalid-cross-namespace-backend-ref", INFRA,
                        "udp-gateway-invalid-cross-namespace-backend-ref",
                        cond("ResolvedRefs", "False", "RefNotPermitted"));
    }

    @Test
    void tcpRouteInvalidNonTCPListener() {
        StatusExpectations.forTest("tcproute-invalid-non-tcp-listener")
                .routeCondition("TCPRoute", INFRA, "tcp-route", INFRA, "tcp-mixed-protocol-gateway",
                        cond("Accepted", "False", "NotAllowedByListeners"))
                .zeroRoutes(INFRA, "tcp-mixed-protocol-gateway");
    }

    @Test
    void udpRouteNotAllowedByListeners() {
        StatusExpectations.forTest("udproute-not-allowed-by-listeners")
                .routeCondition("UDPRoute", INFRA, "udproute-not-allowed-by-listeners", INFRA,
                        "udproute-tls-only-gateway", cond("Accepted", "False", "NotAllowedByListeners"))
                .zeroRoutes(INFRA, "udproute-tls-only-gateway");
    }

    // TLSRoute status tests (GATEWAY-TLS): TLSRouteMustHaveCondition, TLSRouteMustHaveNoAcceptedParents,
    // GatewayMustHaveZeroRoutes and GatewayStatusMustHaveListeners, with the v1.6.1 manifests' names.

    @Test
    void tlsRouteInvalidNoMatchingListener() {
        StatusExpectations.forTest("tlsroute-invalid-no-matching-listener")
                .routeCondition(TLS, INFRA, "tlsroute-not-allowed-protocol-http", INFRA,
                        "gateway-tlsroute-http-only", cond("Accepted", "False", "NotAllowedByListeners"))
                .routeCondition(TLS, INFRA, "tlsroute-not-allowed-protocol-https", INFRA,
                        "gateway-tlsroute-https-only", cond("Accepted", "False", "NotAllowedByListeners"))
                .routeCondition(TLS, INFRA, "tlsroute-no-matching-section-name", INFRA,
                        "gateway-tlsroute-tls-passthrough-only", cond("Accepted", "False", "NoMatchingParent"))
                .noAcceptedParents(TLS, INFRA, "tlsroute-not-allowed-protocol-http")
                .noAcceptedParents(TLS, INFRA, "tlsroute-not-allowed-protocol-https")
                .noAcceptedParents(TLS, INFRA, "tlsroute-no-matching-section-name")
                .zeroRoutes(INFRA, "gateway-tlsroute-http-only")
                .zeroRoutes(INFRA, "gateway-tlsroute-https-only");
    }

    @Test
    void tlsRouteInvalidNoMatchingListenerHostname() {
        StatusExpectations.forTest("tlsroute-invalid-no-matching-listener-hostname")
                .routeCondition(TLS, INFRA, "tlsroute-hostname-mismatch-1", INFRA, "gateway-tls-exact-hostname",
                        cond("Accepted", "False", "NoMatchingListenerHostname"))
                .routeCondition(TLS, INFRA, "tlsroute-hostname-mismatch-2", INFRA, "gateway-tls-wildcard-hostname",
                        cond("Accepted", "False", "NoMatchingListenerHostname"))
                .noAcceptedParents(TLS, INFRA, "tlsroute-hostname-mismatch-1")
                .noAcceptedParents(TLS, INFRA, "tlsroute-hostname-mismatch-2")
                .zeroRoutes(INFRA, "gateway-tls-exact-hostname")
                .zeroRoutes(INFRA, "gateway-tls-wildcard-hostname");
    }

    @Test
    void tlsRouteInvalidReferenceGrant() {
        StatusExpectations.forTest("tlsroute-invalid-reference-grant")
                .acceptedRoutes(TLS, INFRA, "gateway-tlsroute-referencegrant", "gateway-conformance-infra-test")
                .routeCondition(TLS, INFRA, "gateway-conformance-infra-test", INFRA, "gateway-tlsroute-referencegrant",
                        cond("ResolvedRefs", "False", "RefNotPermitted"));
    }

    @Test
    void tlsRouteListenerPassthroughSupportedKinds() {
        StatusExpectations.forTest("tlsroute-listener-passthrough-supported-kinds")
                .listeners(INFRA, "gateway-tlsroute-passthrough-supported-kind",
                        listener("tls-passthrough", TLS, 0, cond("ResolvedRefs", "False", "InvalidRouteKinds")));
    }

    @Test
    void tlsRouteListenerTerminateSupportedKinds() {
        StatusExpectations.forTest("tlsroute-listener-terminate-supported-kinds")
                .listeners(INFRA, "gateway-tlsroute-terminate-supported",
                        listener("tls-terminate", TLS, 0, cond("Accepted", "True", "Accepted")));
    }

    /** Upstream checks Accepted=False/UnsupportedValue only where Terminate is not claimed; Postern claims it. */
    @Test
    void tlsRouteListenerTerminateNotSupported() {
        assertTrue(dev.postern.config.Features.SUPPORTED.contains("TLSRouteModeTerminate"));
        StatusExpectations.forTest("tlsroute-listener-terminate-not-supported")
                .listeners(INFRA, "gateway-tlsroute-terminate-unsupported",
                        listener("tls-terminate", TLS, 0, cond("Accepted", "True", "Accepted")));
    }

    /** Upstream checks ProtocolConflict only where mixed termination is not claimed; Postern claims it. */
    @Test
    void tlsRouteListenerMixedTerminationNotSupported() {
        assertTrue(dev.postern.config.Features.SUPPORTED.contains("TLSRouteModeMixed"));
        StatusExpectations.forTest("tlsroute-listener-mixed-termination-not-supported")
                .listeners(INFRA, "gateway-tlsroute-mixed-termination-not-supported",
                        listener("tls-terminate", TLS, 0, cond("Accepted", "True", "Accepted")),
                        listener("tls-passthrough", TLS, 0, cond("Accepted", "True", "Accepted")));
    }

    private static final String TLS = "TLSRoute";


    // ---------------------------------------------------------------------------------------------------------
    // ListenerSet (GEP-1713). The status-only tests here; the status parts of the traffic tests
    // (ListenerSetHTTPRouting, ListenerSetAllowedRoutesNamespaces, ListenerSetDualParentRefIndependence,
    // ListenerSetGatewayParentSectionNameNotFound) too, under the same names, so the report needs both parts.

    private static final String LS_NOT_ALLOWED_NS = "gateway-api-listenerset-not-allowed-ns";

    /** generateAcceptedListenerConditions() of the upstream ListenerSet tests. */
    private static StatusExpectations.Cond[] acceptedListener() {
        return new StatusExpectations.Cond[] {cond("ResolvedRefs", "True"), cond("Accepted", "True"),
            cond("Programmed", "True")};
    }

    private static StatusExpectations.Cond[] conflicted(String reason) {
        return new StatusExpectations.Cond[] {cond("Accepted", "False", reason), cond("Programmed", "False", reason),
            cond("Conflicted", "True", reason)};
    }

    private static void notAllowed(StatusExpectations s, String ns, String name) {
        s.listenerSetCondition(ns, name, cond("Accepted", "False", "NotAllowed"))
                .listenerSetCondition(ns, name, cond("Programmed", "False", "NotAllowed"));
    }

    @Test
    void listenerSetAllowedNamespaceNone() {
        final StatusExpectations s = StatusExpectations.forTest("listenerset-allowed-namespace-none")
                .gatewayCondition(INFRA, "gateway-does-not-allow-listenerset", cond("Accepted", "True"))
                .attachedListenerSets(INFRA, "gateway-does-not-allow-listenerset", 0);
        notAllowed(s, INFRA, "listenerset-not-allowed");
    }

    @Test
    void listenerSetDefaultNotAllowed() {
        final StatusExpectations s = StatusExpectations.forTest("listenerset-default-not-allowed")
                .gatewayCondition(INFRA, "gateway-default-does-not-allow-listenerset", cond("Accepted", "True"))
                .attachedListenerSets(INFRA, "gateway-default-does-not-allow-listenerset", 0);
        notAllowed(s, INFRA, "listenerset-default-not-allowed");
    }

    @Test
    void listenerSetAllowedNamespaceSame() {
        final String gw = "gateway-allows-listenerset-in-same-namespace";
        final StatusExpectations s = StatusExpectations.forTest("listenerset-allowed-namespace-same")
                .gatewayCondition(INFRA, gw, cond("Accepted", "True"))
                .attachedListenerSets(INFRA, gw, 1)
                .listenerSetCondition(INFRA, "listenerset-in-same-namespace", cond("Accepted", "True", "Accepted"))
                .listenerSetCondition(INFRA, "listenerset-in-same-namespace",
                        cond("Programmed", "True", "Programmed"))
                .listenerSetListenerConditions(INFRA, "listenerset-in-same-namespace",
                        "listenerset-in-same-namespace-listener", acceptedListener());
        notAllowed(s, LS_NOT_ALLOWED_NS, "listenerset-in-different-namespace");
    }

    @Test
    void listenerSetAllowedNamespaceSelector() {
        final String gw = "gateway-allows-listenerset-in-selected-namespace";
        final String allowedNs = "gateway-api-listenerset-selector-allowed-ns";
        final StatusExpectations s = StatusExpectations.forTest("listenerset-allowed-namespace-selector")
                .gatewayCondition(INFRA, gw, cond("Accepted", "True"))
                .attachedListenerSets(INFRA, gw, 1)
                .listenerSetCondition(allowedNs, "listenerset-in-selected-namespace",
                        cond("Accepted", "True", "Accepted"))
                .listenerSetCondition(allowedNs, "listenerset-in-selected-namespace",
                        cond("Programmed", "True", "Programmed"))
                .listenerSetListenerConditions(allowedNs, "listenerset-in-selected-namespace",
                        "listenerset-in-selected-namespace-listener", acceptedListener());
        notAllowed(s, "gateway-api-listenerset-selector-not-allowed-ns", "listenerset-not-in-selected-namespace");
    }

    @Test
    void listenerSetAllowedRoutesSupportedKinds() {
        StatusExpectations.forTest("listenerset-allowed-routes-supported-kinds")
                .gatewayCondition(INFRA, "gateway-with-listener-sets-test-supported-route-kinds",
                        cond("Accepted", "True"))
                .listenerSetListenerConditions(INFRA, "listenerset-test-allowed-routes-supported-kinds",
                        "listener-set-listener-allowed-routes-tls-only",
                        cond("ResolvedRefs", "False", "InvalidRouteKinds"));
    }

    private static void conflictTest(String manifest, String gw, String kind, String reason) {
        final String conflictGw = kind + "-conflict-with-gateway-listener";
        final String conflictLs = kind + "-conflict-with-listener-set-listener";
        final String prefix = "listenerset-with-" + kind + "-conflict-with-";
        StatusExpectations.forTest(manifest)
                .gatewayCondition(INFRA, gw, cond("Accepted", "True"))
                .gatewayListenerConditions(INFRA, gw, "gateway-listener", acceptedListener())
                .gatewayListenerConditions(INFRA, gw, conflictGw, acceptedListener())
                .attachedListenerSets(INFRA, gw, 2)
                .listenerSetCondition(INFRA, prefix + "gateway-1", cond("Accepted", "True"))
                .listenerSetCondition(INFRA, prefix + "gateway-1", cond("Programmed", "True", "Programmed"))
                .listenerSetListenerConditions(INFRA, prefix + "gateway-1", "listener-set-1-listener",
                        acceptedListener())
                .listenerSetListenerConditions(INFRA, prefix + "gateway-1", conflictGw, conflicted(reason))
                .listenerSetListenerConditions(INFRA, prefix + "gateway-1", conflictLs, acceptedListener())
                .listenerSetCondition(INFRA, prefix + "gateway-2", cond("Accepted", "False", "ListenersNotValid"))
                .listenerSetCondition(INFRA, prefix + "gateway-2", cond("Programmed", "False", "ListenersNotValid"))
                .listenerSetListenerConditions(INFRA, prefix + "gateway-2", conflictGw, conflicted(reason))
                .listenerSetCondition(INFRA, prefix + "listener-set-1", cond("Accepted", "True"))
                .listenerSetCondition(INFRA, prefix + "listener-set-1", cond("Programmed", "True", "Programmed"))
                .listenerSetListenerConditions(INFRA, prefix + "listener-set-1", "listener-set-2-listener",
                        acceptedListener())
                .listenerSetListenerConditions(INFRA, prefix + "listener-set-1", conflictLs, conflicted(reason))
                .listenerSetCondition(INFRA, prefix + "listener-set-2",
                        cond("Accepted", "False", "ListenersNotValid"))
                .listenerSetCondition(INFRA, prefix + "listener-set-2",
                        cond("Programmed", "False", "ListenersNotValid"))
                .listenerSetListenerConditions(INFRA, prefix + "listener-set-2", conflictLs, conflicted(reason));
    }

    @Test
    void listenerSetHostnameConflict() {
        conflictTest("listenerset-hostname-conflict", "gateway-with-listenerset-hostname-conflict", "hostname",
                "HostnameConflict");
    }

    @Test
    void listenerSetProtocolConflict() {
        conflictTest("listenerset-protocol-conflict", "gateway-with-listenerset-protocol-conflict", "protocol",
                "ProtocolConflict");
    }

    @Test
    void listenerSetReferenceGrant() {
        final String otherNs = "gateway-api-listener-sets-test-reference-grant-ns";
        StatusExpectations.forTest("listenerset-reference-grant")
                .gatewayCondition(INFRA, "gateway-with-listener-sets-test-reference-grant", cond("Accepted", "True"))
                .listenerSetCondition(INFRA, "listenerset-with-reference-grant", cond("Accepted", "True"))
                .listenerSetCondition(INFRA, "listenerset-with-reference-grant", cond("Programmed", "True"))
                .listenerSetListenerConditions(INFRA, "listenerset-with-reference-grant",
                        "listenerset-with-reference-grant-listener", cond("ResolvedRefs", "True"))
                .listenerSetCondition(otherNs, "listenerset-without-reference-grant",
                        cond("Accepted", "False", "ListenersNotValid"))
                .listenerSetCondition(otherNs, "listenerset-without-reference-grant",
                        cond("Programmed", "False", "ListenersNotValid"))
                .listenerSetListenerConditions(otherNs, "listenerset-without-reference-grant",
                        "listenerset-without-reference-grant-listener",
                        cond("ResolvedRefs", "False", "RefNotPermitted"));
    }

    @Test
    void listenerSetRouteStatusScopedToParentRef() {
        final StatusExpectations s = StatusExpectations.forTest("listenerset-route-status-scoped-to-parentref")
                .gatewayCondition(INFRA, "gateway-parentref", cond("Accepted", "True"))
                .attachedListenerSets(INFRA, "gateway-parentref", 1)
                .listenerSetListeners(INFRA, "listenerset-parentref",
                        listener("listenerset-parentref-listener", HR, 1, acceptedListener()))
                .routeCondition(INFRA, "route-parentref-gwonly", INFRA, "gateway-parentref", cond("Accepted", "True"))
                .routeParent(INFRA, "route-parentref-gwonly", "Gateway", INFRA, "gateway-parentref")
                .acceptedByListenerSet(INFRA, "listenerset-parentref", INFRA + "/route-parentref-lsonly")
                .routeParent(INFRA, "route-parentref-lsonly", "ListenerSet", INFRA, "listenerset-parentref");
        // Only the declared parentRef: a route on the ListenerSet is not also reported under its Gateway.
        assertEquals(1, s.parents(INFRA, "route-parentref-gwonly").size());
        assertEquals(1, s.parents(INFRA, "route-parentref-lsonly").size());
    }

    @Test
    void listenerSetHTTPRouting() {
        final String gw = "gateway-with-listener-sets-http-routing";
        StatusExpectations.forTest("listenerset-http-routing")
                .accepted(INFRA, gw, "attaches-to-all-listeners", "gateway-route", "gateway-section-route")
                .attachedListenerSets(INFRA, gw, 2)
                .acceptedByListenerSet(INFRA, "listener-set-http-routing-1", INFRA + "/attaches-to-all-listeners",
                        INFRA + "/listener-set-http-routing-1-route",
                        INFRA + "/listener-set-http-routing-1-section-route")
                .listenerSetListeners(INFRA, "listener-set-http-routing-1",
                        listener("listener-set-http-routing-1-listener-1", HR, 3, acceptedListener()),
                        listener("listener-set-http-routing-1-listener-2", HR, 2, acceptedListener()))
                .acceptedByListenerSet(INFRA, "listener-set-http-routing-2", INFRA + "/attaches-to-all-listeners",
                        INFRA + "/listener-set-http-routing-2-route")
                .listenerSetListeners(INFRA, "listener-set-http-routing-2",
                        listener("listener-set-http-routing-2-listener-1", HR, 2, acceptedListener()),
                        listener("listener-set-http-routing-2-listener-2", HR, 2, acceptedListener()));
    }

    @Test
    void listenerSetAllowedRoutesNamespaces() {
        final String gw = "gateway-with-listener-sets-test-allowed-routes";
        final String crossNs = "gateway-api-ls-cross-ns";
        StatusExpectations.forTest("listenerset-allowed-routes-namespaces")
                .gatewayCondition(INFRA, gw, cond("Accepted", "True"))
                .attachedListenerSets(INFRA, gw, 2)
                .acceptedByListenerSet(INFRA, "listenerset-test-allowed-routes-namespaces",
                        INFRA + "/route-in-same-namespace", "gateway-api-routes-allowed-ns/route-in-selected-namespace",
                        "gateway-api-routes-not-allowed-ns/route-not-in-selected-namespace")
                .listenerSetListeners(INFRA, "listenerset-test-allowed-routes-namespaces",
                        listener("listener-set-listener-allowed-routes-all", HR, 3, acceptedListener()),
                        listener("listener-set-listener-allowed-routes-same", HR, 1, acceptedListener()),
                        listener("listener-set-listener-allowed-routes-selector", HR, 1, acceptedListener()))
                .acceptedByListenerSet(crossNs, "listenerset-test-allowed-routes-cross-ns",
                        crossNs + "/route-in-listenerset-namespace")
                .routeCondition(INFRA, "route-in-gateway-namespace", crossNs,
                        "listenerset-test-allowed-routes-cross-ns", cond("Accepted", "False", "NotAllowedByListeners"))
                .listenerSetListeners(crossNs, "listenerset-test-allowed-routes-cross-ns",
                        listener("listener-set-listener-allowed-routes-cross-ns-same", HR, 1, acceptedListener()));
    }

    @Test
    void listenerSetDualParentRefIndependence() {
        final String gw = "gateway-dual-parentref";
        StatusExpectations.forTest("listenerset-dual-parentref-independence")
                .gatewayCondition(INFRA, gw, cond("Accepted", "True"))
                .attachedListenerSets(INFRA, gw, 1)
                .listenerSetListeners(INFRA, "ls-dual-parentref",
                        listener("ls-dual-parentref-listener", HR, 2, acceptedListener()))
                .routeCondition(INFRA, "route-dual-parentref-both", INFRA, gw, cond("Accepted", "True"))
                .routeCondition(INFRA, "route-dual-parentref-both", INFRA, "ls-dual-parentref",
                        cond("Accepted", "True"))
                .routeCondition(INFRA, "route-dual-parentref-one", INFRA, gw,
                        cond("Accepted", "False", "NoMatchingParent"))
                .routeCondition(INFRA, "route-dual-parentref-one", INFRA, "ls-dual-parentref", cond("Accepted", "True"))
                .acceptedByListenerSet(INFRA, "ls-dual-parentref", INFRA + "/route-dual-parentref-one");
    }

    @Test
    void listenerSetGatewayParentSectionNameNotFound() {
        final String gw = "gateway-section-name";
        StatusExpectations.forTest("listenerset-gateway-parent-section-name-not-found")
                .gatewayCondition(INFRA, gw, cond("Accepted", "True"))
                .attachedListenerSets(INFRA, gw, 1)
                .acceptedByListenerSet(INFRA, "listenerset-section-name", INFRA + "/route-via-listenerset")
                .routeCondition(INFRA, "route-via-gateway", INFRA, gw, cond("Accepted", "False", "NoMatchingParent"));
    }

    // The last GATEWAY-HTTP extended status tests.

    @Test
    void httpRouteInvalidParentRefSectionNameNotMatchingPort() {
        StatusExpectations.forTest("httproute-invalid-parentref-section-name-not-matching-port")
                .routeCondition(INFRA, "httproute-listener-section-name-not-matching-port", INFRA,
                        "gateway-with-one-not-matching-port-and-section-name-route",
                        cond("Accepted", "False", "NoMatchingParent"))
                .noAcceptedParents(INFRA, "httproute-listener-section-name-not-matching-port")
                .zeroRoutes(INFRA, "gateway-with-one-not-matching-port-and-section-name-route");
    }

    /** GatewayListenerMustHaveConditions per listener: only the listener with the bad CA reference is affected. */
    @Test
    void gatewayInvalidFrontendClientCertificateValidation() {
        final String gw = "gateway-with-invalid-client-cert-validation";
        StatusExpectations.forTest("gateway-with-invalid-clientcertificate-validation")
                .listeners(INFRA, gw,
                        listener("https", HR, 0, cond("ResolvedRefs", "True"), cond("Accepted", "True"),
                                cond("Programmed", "True")),
                        listener("https-unresolved", HR, 0,
                                cond("ResolvedRefs", "False", "InvalidCACertificateRef"),
                                cond("Accepted", "False", "NoValidCACertificate"), cond("Programmed", "False")),
                        listener("https-invalid-kind", HR, 0,
                                cond("ResolvedRefs", "False", "InvalidCACertificateKind"),
                                cond("Accepted", "False", "NoValidCACertificate"), cond("Programmed", "False")),
                        listener("https-grant-missing", HR, 0,
                                cond("ResolvedRefs", "False", "RefNotPermitted"),
                                cond("Accepted", "False", "NoValidCACertificate"), cond("Programmed", "False")));
    }

    /**
     * BackendTLSPolicyMustHaveLatestConditions before and after a spec change (the validation hostname), and
     * Accepted=True for the Gateway ancestor.
     */
    @Test
    @SuppressWarnings("unchecked")
    void backendTLSPolicyObservedGenerationBump(@TempDir Path root) throws Exception {
        final String y = M.test("backendtlspolicy-observed-generation-bump");
        try (WatchedConfig w = new WatchedConfig(root, M.base(), SuiteCertificates.setupObjects(), y)) {
            final ResourceStatus first = w.current().status("BackendTLSPolicy", INFRA, "observed-generation-bump");
            policyLatestAndAccepted(first);
            final String bumped = y.replaceFirst("(name: observed-generation-bump\\n  namespace: "
                    + "gateway-conformance-infra\\n)(spec:\\n  targetRefs)", "$1  generation: 2\n$2")
                    .replace("hostname: \"abc.example.com\"", "hostname: \"foo.example.com\"");
            final ResourceStatus second = w.write(2, bumped).status("BackendTLSPolicy", INFRA,
                    "observed-generation-bump");
            assertEquals(2, second.generation());
            StatusExpectations.assertGenerationsDiffer(first.generation(), second.generation());
            policyLatestAndAccepted(second);
        }
    }

    @SuppressWarnings("unchecked")
    private static void policyLatestAndAccepted(ResourceStatus s) {
        final java.util.List<Map<String, Object>> ancestors =
                (java.util.List<Map<String, Object>>) s.status().get("ancestors");
        assertTrue(ancestors != null && !ancestors.isEmpty(), () -> "no ancestors: " + s.status());
        boolean gateway = false;
        for (Map<String, Object> a : ancestors) {
            StatusExpectations.latestGeneration("BackendTLSPolicy ancestor", a.get("conditions"), s.generation());
            final Map<String, Object> ref = (Map<String, Object>) a.get("ancestorRef");
            if ("same-namespace".equals(ref.get("name"))) {
                StatusExpectations.conditionsMatch("ancestor same-namespace", a.get("conditions"),
                        java.util.List.of(cond("Accepted", "True")));
                gateway = true;
            }
        }
        assertTrue(gateway, () -> "no Gateway same-namespace among the ancestors " + ancestors);
    }
}
