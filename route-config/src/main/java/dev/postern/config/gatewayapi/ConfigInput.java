package dev.postern.config.gatewayapi;

import java.util.ArrayList;
import java.util.List;

/**
 * Every resource read from a source, grouped by kind, in the order read. Immutable once built.
 */
public record ConfigInput(List<GatewayClass> gatewayClasses, List<Gateway> gateways, List<HTTPRoute> httpRoutes,
                          List<GRPCRoute> grpcRoutes, List<L4Route> l4Routes, List<Service> services,
                          List<EndpointSlice> endpointSlices, List<ReferenceGrant> referenceGrants,
                          List<Namespace> namespaces, List<BackendTLSPolicy> backendTLSPolicies,
                          List<Secret> secrets, List<ConfigMap> configMaps, List<ListenerSet> listenerSets) {

    /** Makes the lists unmodifiable copies. */
    public ConfigInput {
        gatewayClasses = List.copyOf(gatewayClasses);
        gateways = List.copyOf(gateways);
        httpRoutes = List.copyOf(httpRoutes);
        grpcRoutes = List.copyOf(grpcRoutes);
        l4Routes = List.copyOf(l4Routes);
        backendTLSPolicies = List.copyOf(backendTLSPolicies);
        secrets = List.copyOf(secrets);
        configMaps = List.copyOf(configMaps);
        services = List.copyOf(services);
        endpointSlices = List.copyOf(endpointSlices);
        referenceGrants = List.copyOf(referenceGrants);
        namespaces = List.copyOf(namespaces);
        listenerSets = List.copyOf(listenerSets);
    }

    /** Groups a mixed list of resources by kind. */
    public static ConfigInput of(List<? extends Resource> resources) {
        final List<GatewayClass> gcs = new ArrayList<>();
        final List<Gateway> gws = new ArrayList<>();
        final List<HTTPRoute> hrs = new ArrayList<>();
        final List<Service> svcs = new ArrayList<>();
        final List<EndpointSlice> eps = new ArrayList<>();
        final List<ReferenceGrant> rgs = new ArrayList<>();
        final List<Namespace> nss = new ArrayList<>();
        final List<GRPCRoute> grs = new ArrayList<>();
        final List<L4Route> l4s = new ArrayList<>();
        final List<BackendTLSPolicy> btps = new ArrayList<>();
        final List<Secret> secrets = new ArrayList<>();
        final List<ConfigMap> cms = new ArrayList<>();
        final List<ListenerSet> lss = new ArrayList<>();
        for (Resource r : resources) {
            switch (r) {
                case GatewayClass x -> gcs.add(x);
                case Gateway x -> gws.add(x);
                case HTTPRoute x -> hrs.add(x);
                case Service x -> svcs.add(x);
                case EndpointSlice x -> eps.add(x);
                case ReferenceGrant x -> rgs.add(x);
                case Namespace x -> nss.add(x);
                case GRPCRoute x -> grs.add(x);
                case L4Route x -> l4s.add(x);
                case BackendTLSPolicy x -> btps.add(x);
                case Secret x -> secrets.add(x);
                case ConfigMap x -> cms.add(x);
                case ListenerSet x -> lss.add(x);
            }
        }
        return new ConfigInput(gcs, gws, hrs, grs, l4s, svcs, eps, rgs, nss, btps, secrets, cms, lss);
    }
}
