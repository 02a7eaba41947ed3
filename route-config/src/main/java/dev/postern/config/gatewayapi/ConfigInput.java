package dev.postern.config.gatewayapi;

import java.util.ArrayList;
import java.util.List;

/**
 * Every resource read from a source, grouped by kind, in the order read. Immutable once built.
 */
public record ConfigInput(List<GatewayClass> gatewayClasses, List<Gateway> gateways, List<HTTPRoute> httpRoutes,
                          List<Service> services, List<EndpointSlice> endpointSlices,
                          List<ReferenceGrant> referenceGrants, List<Namespace> namespaces) {

    /** Makes the lists unmodifiable copies. */
    public ConfigInput {
        gatewayClasses = List.copyOf(gatewayClasses);
        gateways = List.copyOf(gateways);
        httpRoutes = List.copyOf(httpRoutes);
        services = List.copyOf(services);
        endpointSlices = List.copyOf(endpointSlices);
        referenceGrants = List.copyOf(referenceGrants);
        namespaces = List.copyOf(namespaces);
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
        for (Resource r : resources) {
            switch (r) {
                case GatewayClass x -> gcs.add(x);
                case Gateway x -> gws.add(x);
                case HTTPRoute x -> hrs.add(x);
                case Service x -> svcs.add(x);
                case EndpointSlice x -> eps.add(x);
                case ReferenceGrant x -> rgs.add(x);
                case Namespace x -> nss.add(x);
            }
        }
        return new ConfigInput(gcs, gws, hrs, svcs, eps, rgs, nss);
    }
}
