package dev.postern.config.model;

import dev.postern.config.runtime.RouteAction;

import java.util.List;

/**
 * One match of one rule of one route, attached to one listener, with everything precedence needs.
 *
 * @param name provenance: {@code httproute/<ns>/<name>/rule/<i>/match/<j>}
 * @param routeKey {@code httproute/<ns>/<name>}
 * @param namespace the route namespace
 * @param routeName the route name
 * @param creationTimestamp as written, {@code ""} when absent (sorts last)
 * @param ruleIndex the rule index
 * @param matchIndex the match index within the rule
 * @param hostnames the effective hostnames (intersection with the listener), lower case; {@code *} for any
 * @param pathType Exact, PathPrefix or RegularExpression
 * @param pathValue the path value
 * @param method the method or null
 * @param headers header matches
 * @param queryParams query parameter matches
 * @param action the action, with backends resolved
 */
public record RouteModel(String name, String routeKey, String namespace, String routeName, String creationTimestamp,
                         int ruleIndex, int matchIndex, List<String> hostnames, String pathType, String pathValue,
                         String method, List<ValueMatch> headers, List<ValueMatch> queryParams, RouteAction action) {

    /** A header or query match; {@code regex} false means Exact. Header names are lower case. */
    public record ValueMatch(String name, String value, boolean regex) {
    }
}
