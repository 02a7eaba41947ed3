package dev.postern.config.runtime;

import java.util.Map;

/**
 * The whole compiled, immutable runtime config: one {@link PortTable} per bound socket. Built off the event
 * loops, published with one volatile write, and pinned by each exchange for its whole life.
 *
 * @param version a number that grows with each published table
 * @param ports the tables by socket
 */
public record RouteTable(long version, Map<BindKey, PortTable> ports) {

    /** An empty table that serves nothing. */
    public static final RouteTable EMPTY = new RouteTable(0, Map.of());

    /** Copies the map. */
    public RouteTable {
        ports = Map.copyOf(ports);
    }

    /**
     * Visits every route entry of the table once (an entry shared by several virtual hosts or listeners, such as a
     * catch-all route, is visited once). Off the request path: health checks, TLS contexts, summaries.
     */
    public void forEachEntry(java.util.function.Consumer<RouteEntry> visit) {
        final java.util.Set<RouteEntry> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (PortTable p : ports.values()) {
            for (ListenerRoutes l : p.listeners().entries().values()) {
                for (VirtualHost vh : l.hosts().entries().values()) {
                    for (RouteEntry r : vh.ownRoutes()) {
                        if (seen.add(r)) {
                            visit.accept(r);
                        }
                    }
                }
            }
        }
    }

    /** Returns the table for a bound socket, or null. */
    public PortTable port(BindKey key) {
        return ports.get(key);
    }
}
