package dev.postern.config.runtime;

/**
 * Everything served on one bound socket. Several listeners may share the port with different hostnames; a
 * request goes to the most specific listener for its host only (listener isolation).
 *
 * @param bind the socket
 * @param protocol HTTP (HTTPS and L4 come later)
 * @param listeners the listeners by hostname
 */
public record PortTable(BindKey bind, String protocol, HostIndex<ListenerRoutes> listeners) {

    /** Finds the virtual host for a lower-case host without port, or null (404). */
    public VirtualHost virtualHost(String host) {
        final ListenerRoutes l = listeners.find(host);
        return l == null ? null : l.hosts().find(host);
    }
}
