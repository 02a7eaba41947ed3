package dev.postern.config.runtime;

import dev.postern.config.tls.UpstreamTls;

import java.util.List;

/**
 * The endpoints behind one Service port, ready or not.
 *
 * @param name {@code ns/service:port}, used in logs and metrics
 * @param protocol the upstream protocol the data plane speaks to the endpoints
 * @param endpoints the ready endpoints, in a stable order; empty means 503 (no healthy upstream)
 * @param loadBalancing how an endpoint is chosen: the Service's {@code postern.dev/lb-policy} annotation, or
 *     {@link LoadBalancing#DEFAULT} (the bootstrap's {@code upstream.lbPolicy})
 * @param tls TLS to the endpoints (a BackendTLSPolicy targets the Service), or null for cleartext
 * @param healthCheck the active health check from the Service's annotations, or null for none
 */
public record Cluster(String name, Protocol protocol, List<Endpoint> endpoints, LoadBalancing loadBalancing,
                      UpstreamTls tls, HealthCheck healthCheck) {

    /** The Service annotation that chooses the load-balancing policy: round_robin or least_request. */
    public static final String LB_POLICY_ANNOTATION = "postern.dev/lb-policy";

    /** How an endpoint of the cluster is chosen for each try. */
    public enum LoadBalancing {
        /** The bootstrap's default policy. */
        DEFAULT,
        /** Round-robin, skipping ejected endpoints. */
        ROUND_ROBIN,
        /** Least request, power of two choices. */
        LEAST_REQUEST
    }

    /** A cleartext cluster with the default load balancing and no active health check. */
    public Cluster(String name, Protocol protocol, List<Endpoint> endpoints) {
        this(name, protocol, endpoints, LoadBalancing.DEFAULT, null, null);
    }

    /** A cluster with the default load balancing and no active health check. */
    public Cluster(String name, Protocol protocol, List<Endpoint> endpoints, UpstreamTls tls) {
        this(name, protocol, endpoints, LoadBalancing.DEFAULT, tls, null);
    }

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
        loadBalancing = loadBalancing == null ? LoadBalancing.DEFAULT : loadBalancing;
    }
}
