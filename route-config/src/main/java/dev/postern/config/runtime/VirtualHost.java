package dev.postern.config.runtime;

import java.util.List;

/**
 * The routes that apply to one hostname of one listener, in Gateway API precedence order; the first entry
 * whose predicates hold wins. Immutable.
 */
public final class VirtualHost {
    private final String hostname;
    private final RouteEntry[] routes;

    /** Builds a virtual host; {@code routes} must already be in precedence order. */
    public VirtualHost(String hostname, List<RouteEntry> routes) {
        this.hostname = hostname;
        this.routes = routes.toArray(RouteEntry[]::new);
    }

    /** Returns the first matching entry, or null (404). */
    public RouteEntry match(RequestView req) {
        for (RouteEntry r : routes) {
            if (r.matches(req)) {
                return r;
            }
        }
        return null;
    }

    /** The hostname ({@code *} for the default). */
    public String hostname() {
        return hostname;
    }

    /** The entries in precedence order. */
    public List<RouteEntry> routes() {
        return List.of(routes);
    }
}
