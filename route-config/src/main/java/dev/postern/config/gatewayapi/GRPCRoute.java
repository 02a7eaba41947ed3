package dev.postern.config.gatewayapi;

import java.util.List;

/** A GRPCRoute. Lists are empty, never null, when absent. */
public record GRPCRoute(String apiVersion, ObjectMeta metadata, SourceInfo source, List<ParentReference> parentRefs,
                        List<String> hostnames, List<Rule> rules) implements Resource {
    @Override
    public String kind() {
        return "GRPCRoute";
    }

    /** {@code spec.rules[]}; filters share the HTTPRoute filter shapes. */
    public record Rule(String name, List<Match> matches, List<HTTPRouteFilter> filters,
                       List<HTTPBackendRef> backendRefs) {
    }

    /**
     * {@code rules[].matches[]}.
     *
     * @param method the method match, or null for any
     */
    public record Match(MethodMatch method, List<HTTPRouteMatch.ValueMatch> headers) {
    }

    /** A method match: type Exact or RegularExpression; service and method null when absent. */
    public record MethodMatch(String type, String service, String method) {
    }
}
