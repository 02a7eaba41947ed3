package dev.postern.config.gatewayapi;

import java.util.List;

/**
 * {@code rules[].backendRefs[]}. Group defaults to {@code ""} (core), kind to Service, weight to 1; namespace and
 * port are null when absent.
 */
public record HTTPBackendRef(String group, String kind, String namespace, String name, Integer port, int weight,
                             List<HTTPRouteFilter> filters) {
}
