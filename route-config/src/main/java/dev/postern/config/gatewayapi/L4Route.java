package dev.postern.config.gatewayapi;

import java.util.List;

/**
 * A TLSRoute, TCPRoute or UDPRoute: parents, hostnames (TLSRoute only; empty otherwise) and rules of weighted
 * backends.
 *
 * @param kind TLSRoute, TCPRoute or UDPRoute
 */
public record L4Route(String apiVersion, String kind, ObjectMeta metadata, SourceInfo source,
                      List<ParentReference> parentRefs, List<String> hostnames, List<Rule> rules) implements Resource {

    /** {@code spec.rules[]}. */
    public record Rule(String name, List<HTTPBackendRef> backendRefs) {
    }
}
