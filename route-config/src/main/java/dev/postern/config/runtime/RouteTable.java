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

    /** Returns the table for a bound socket, or null. */
    public PortTable port(BindKey key) {
        return ports.get(key);
    }
}
