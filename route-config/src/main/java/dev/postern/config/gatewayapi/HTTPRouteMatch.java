package dev.postern.config.gatewayapi;

import java.util.List;

/**
 * {@code rules[].matches[]}.
 *
 * @param path the path match; defaults to PathPrefix {@code /}
 * @param method the method, or null for any
 */
public record HTTPRouteMatch(PathMatch path, List<ValueMatch> headers, List<ValueMatch> queryParams, String method) {

    /** A path match: type Exact, PathPrefix or RegularExpression. */
    public record PathMatch(String type, String value) {
    }

    /** A header or query parameter match: type Exact or RegularExpression. */
    public record ValueMatch(String type, String name, String value) {
    }
}
