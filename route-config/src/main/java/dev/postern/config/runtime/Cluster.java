package dev.postern.config.runtime;

import dev.postern.config.tls.UpstreamTls;

import java.util.List;

/**
 * The endpoints behind one Service port, ready or not.
 *
 * @param name {@code ns/service:port}, used in logs and metrics
 * @param protocol the upstream protocol the data plane speaks to the endpoints
 * @param endpoints the ready endpoints, in a stable order; empty means 503 (no healthy upstream)
 * @param tls TLS to the endpoints (a BackendTLSPolicy targets the Service), or null for cleartext
 */
public record Cluster(String name, Protocol protocol, List<Endpoint> endpoints, UpstreamTls tls) {

    /** The upstream protocol, from the Service port's appProtocol. */
    public enum Protocol {
        /** HTTP/1.1 (the default). */
        HTTP1,
        /** HTTP/2 over cleartext with prior knowledge ({@code kubernetes.io/h2c}). */
        H2C,
        /** HTTP/1.1 WebSocket ({@code kubernetes.io/ws}). */
        WS
    }

    /** Copies the list. */
    public Cluster {
        endpoints = List.copyOf(endpoints);
    }

    /** A cleartext cluster. */
    public Cluster(String name, Protocol protocol, List<Endpoint> endpoints) {
        this(name, protocol, endpoints, null);
    }
}
