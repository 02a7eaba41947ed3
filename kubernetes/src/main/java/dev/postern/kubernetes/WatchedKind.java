package dev.postern.kubernetes;

import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;

import java.util.List;

/**
 * A kind Kubernetes mode watches: where it is served and whether its objects carry a status Postern writes.
 *
 * @param group the API group ({@code ""} for core)
 * @param version the served version
 * @param plural the resource name in URLs
 * @param kind the kind
 * @param namespaced true for namespaced kinds
 * @param optional true when a cluster may not serve it (experimental-channel CRDs): a 404 on the first list turns
 *                 it off with a warning instead of failing startup
 */
public record WatchedKind(String group, String version, String plural, String kind, boolean namespaced,
                          boolean optional) {

    static final String GW = "gateway.networking.k8s.io";

    /** The Gateway API kinds, read as generic resources so one code path serves every version (v1.6: v1). */
    public static final List<WatchedKind> GATEWAY_API = List.of(
            new WatchedKind(GW, "v1", "gatewayclasses", "GatewayClass", false, false),
            new WatchedKind(GW, "v1", "gateways", "Gateway", true, false),
            new WatchedKind(GW, "v1", "httproutes", "HTTPRoute", true, false),
            new WatchedKind(GW, "v1", "grpcroutes", "GRPCRoute", true, true),
            new WatchedKind(GW, "v1", "tlsroutes", "TLSRoute", true, true),
            new WatchedKind(GW, "v1", "tcproutes", "TCPRoute", true, true),
            new WatchedKind(GW, "v1", "udproutes", "UDPRoute", true, true),
            new WatchedKind(GW, "v1", "referencegrants", "ReferenceGrant", true, true),
            new WatchedKind(GW, "v1", "backendtlspolicies", "BackendTLSPolicy", true, true),
            new WatchedKind(GW, "v1", "listenersets", "ListenerSet", true, true));

    /** The core kinds (typed informers). */
    public static final WatchedKind SERVICE = new WatchedKind("", "v1", "services", "Service", true, false);
    /** EndpointSlices. */
    public static final WatchedKind ENDPOINT_SLICE = new WatchedKind("discovery.k8s.io", "v1", "endpointslices",
            "EndpointSlice", true, false);
    /** Secrets of type kubernetes.io/tls. */
    public static final WatchedKind SECRET = new WatchedKind("", "v1", "secrets", "Secret", true, false);
    /** ConfigMaps (CA bundles of BackendTLSPolicies). */
    public static final WatchedKind CONFIG_MAP = new WatchedKind("", "v1", "configmaps", "ConfigMap", true, false);
    /** Namespaces (labels for allowedRoutes selectors). */
    public static final WatchedKind NAMESPACE = new WatchedKind("", "v1", "namespaces", "Namespace", false, false);

    /** {@code group/version}, or {@code version} for core. */
    public String apiVersion() {
        return group.isEmpty() ? version : group + "/" + version;
    }

    /** True for the route kinds, whose {@code status.parents} are shared with other controllers. */
    public boolean isRoute() {
        return kind.endsWith("Route");
    }

    /** The context the generic client needs (no discovery round trip). */
    public ResourceDefinitionContext context() {
        return new ResourceDefinitionContext.Builder().withGroup(group).withVersion(version).withPlural(plural)
                .withKind(kind).withNamespaced(namespaced).build();
    }

    /** Finds a Gateway API kind by name, or null. */
    public static WatchedKind gatewayApi(String kind) {
        for (WatchedKind k : GATEWAY_API) {
            if (k.kind.equals(kind)) {
                return k;
            }
        }
        return null;
    }
}
