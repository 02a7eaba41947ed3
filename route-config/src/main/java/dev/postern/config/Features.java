package dev.postern.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Gateway API conformance features Postern claims, and those it does not with the reason. One list for the
 * GatewayClass {@code status.supportedFeatures} written in Kubernetes mode and for the conformance report of the
 * offline replay, so the two never disagree (docs/conformance.md).
 */
public final class Features {
    /** Claimed: every test of these features passes in the replay or is checked on the computed status. */
    public static final List<String> SUPPORTED = List.of("BackendTLSPolicy", "BackendTLSPolicySANValidation",
            "Gateway", "GatewayBackendClientCertificate", "GatewayFrontendClientCertificateValidation",
            "GatewayFrontendClientCertificateValidationInsecureFallback", "GatewayHTTPListenerIsolation",
            "GatewayHTTPSListenerDetectMisdirectedRequests", "GatewayPort8080", "GRPCRoute", "HTTPRoute",
            "HTTPRoute303RedirectStatusCode", "HTTPRoute307RedirectStatusCode", "HTTPRoute308RedirectStatusCode",
            "HTTPRouteBackendProtocolH2C", "HTTPRouteBackendProtocolWebSocket",
            "HTTPRouteBackendRequestHeaderModification", "HTTPRouteBackendTimeout", "HTTPRouteCORS",
            "HTTPRouteHostRewrite", "HTTPRouteMethodMatching", "HTTPRouteNamedRouteRule", "HTTPRouteParentRefPort",
            "HTTPRoutePathRedirect", "HTTPRoutePathRewrite", "HTTPRoutePortRedirect", "HTTPRouteQueryParamMatching",
            "HTTPRouteRequestMirror", "HTTPRouteRequestMultipleMirrors", "HTTPRouteRequestPercentageMirror",
            "HTTPRouteRequestTimeout", "HTTPRouteResponseHeaderModification", "HTTPRouteRetry",
            "HTTPRouteSchemeRedirect", "ListenerSet", "ReferenceGrant", "TCPRoute", "TLSRoute", "TLSRouteModeMixed",
            "TLSRouteModeTerminate", "UDPRoute");

    /** Not claimed, with the reason the conformance report gives. */
    public static final Map<String, String> UNSUPPORTED;

    static {
        final Map<String, String> m = new LinkedHashMap<>();
        m.put("GatewayStaticAddresses", "Postern serves the addresses a Gateway lists but does not own an address "
                + "pool, so it cannot tell a usable address from an unusable one (AddressNotUsable)");
        m.put("GatewayAddressEmpty", "an address entry without a value asks the implementation to allocate one; "
                + "Postern has no address pool");
        m.put("GatewayInfrastructurePropagation", "Postern is the data plane itself and creates no per-Gateway "
                + "resources to carry spec.infrastructure labels and annotations");
        m.put("HTTPRouteDestinationPortMatching", "experimental; parentRefs without a port attach to every "
                + "listener of the section, port-only parentRefs are matched by HTTPRouteParentRefPort");
        UNSUPPORTED = Map.copyOf(m);
    }

    private Features() {
    }
}
