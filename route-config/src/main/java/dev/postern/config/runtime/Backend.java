package dev.postern.config.runtime;

/** One weighted backend of a rule: a cluster to forward to, or an invalid reference answered directly. */
public sealed interface Backend {

    /** Forward to a cluster. */
    record Forward(Cluster cluster) implements Backend {
    }

    /**
     * An invalid backendRef: the share of requests that would go to it gets {@code status} (500).
     *
     * @param reason the Gateway API reason, such as BackendNotFound
     */
    record Invalid(int status, String reason, String message) implements Backend {
    }
}
