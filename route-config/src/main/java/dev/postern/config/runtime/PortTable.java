package dev.postern.config.runtime;

/**
 * Everything served on one bound socket. Several listeners may share the port with different hostnames; a
 * request goes to the most specific listener for its host only (listener isolation).
 *
 * @param bind the socket
 * @param protocol HTTP or HTTPS
 * @param listeners the listeners by hostname
 * @param tls for HTTPS, the certificate selection; null for plain HTTP
 */
public record PortTable(BindKey bind, String protocol, HostIndex<ListenerRoutes> listeners, TlsTable tls) {

    /** Finds the virtual host for a lower-case host without port, or null (404). */
    public VirtualHost virtualHost(String host) {
        final ListenerRoutes l = listeners.find(host);
        return l == null ? null : l.hosts().find(host);
    }
}
