package dev.postern.config.runtime;

/**
 * An active health check of a cluster's endpoints, from the Service's annotations (Gateway API has none; the
 * defaults are Envoy Gateway's: every 3 s, 1 s timeout, unhealthy after 3 failures, healthy again after 1
 * success). Endpoints start healthy: the EndpointSlice already says they are ready.
 *
 * @param kind TCP connect, or an HTTP/1.1 GET that must answer 200
 * @param path for HTTP, the request path
 * @param intervalMs the time between checks of one endpoint
 * @param timeoutMs how long one check may take
 * @param unhealthyThreshold consecutive failures that mark an endpoint unhealthy
 * @param healthyThreshold consecutive successes that mark it healthy again
 */
public record HealthCheck(Kind kind, String path, long intervalMs, long timeoutMs, int unhealthyThreshold,
                          int healthyThreshold) {
    /** The annotation that turns checking on: {@code tcp} or {@code http}. */
    public static final String ANNOTATION = "postern.dev/health-check";
    /** The HTTP path (default {@code /}). */
    public static final String PATH_ANNOTATION = "postern.dev/health-check-path";
    /** The interval, a Gateway API duration such as {@code 3s} or {@code 500ms}. */
    public static final String INTERVAL_ANNOTATION = "postern.dev/health-check-interval";
    /** The timeout, a Gateway API duration. */
    public static final String TIMEOUT_ANNOTATION = "postern.dev/health-check-timeout";
    /** Consecutive failures before unhealthy. */
    public static final String UNHEALTHY_ANNOTATION = "postern.dev/health-check-unhealthy-threshold";
    /** Consecutive successes before healthy. */
    public static final String HEALTHY_ANNOTATION = "postern.dev/health-check-healthy-threshold";

    /** What a check does. */
    public enum Kind {
        /** A TCP connection is established. */
        TCP,
        /** {@code GET path} answers 200. */
        HTTP
    }

    /** Checks the values. */
    public HealthCheck {
        if (intervalMs <= 0 || timeoutMs <= 0 || unhealthyThreshold <= 0 || healthyThreshold <= 0) {
            throw new IllegalArgumentException("health check values must be positive");
        }
    }
}
