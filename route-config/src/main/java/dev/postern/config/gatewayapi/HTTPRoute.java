package dev.postern.config.gatewayapi;

import java.util.List;

/**
 * An HTTPRoute ({@code gateway.networking.k8s.io}). Lists are empty, never null, when absent.
 */
public record HTTPRoute(String apiVersion, ObjectMeta metadata, SourceInfo source, List<ParentReference> parentRefs,
                        List<String> hostnames, List<HTTPRouteRule> rules) implements Resource {
    @Override
    public String kind() {
        return "HTTPRoute";
    }
}
