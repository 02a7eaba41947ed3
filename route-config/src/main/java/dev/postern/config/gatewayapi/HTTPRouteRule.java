package dev.postern.config.gatewayapi;

import java.util.List;

/**
 * {@code spec.rules[]}. A rule with no matches gets the default match (PathPrefix {@code /}).
 *
 * @param name the optional rule name, or null
 * @param timeouts the timeouts, or null
 * @param retry the retry policy, or null
 */
public record HTTPRouteRule(String name, List<HTTPRouteMatch> matches, List<HTTPRouteFilter> filters,
                            List<HTTPBackendRef> backendRefs, Timeouts timeouts, Retry retry) {

    /** {@code rules[].timeouts}: Gateway API durations as written, or null. */
    public record Timeouts(String request, String backendRequest) {
    }

    /** {@code rules[].retry}; attempts and backoff null when absent. */
    public record Retry(List<Integer> codes, Integer attempts, String backoff) {
    }
}
