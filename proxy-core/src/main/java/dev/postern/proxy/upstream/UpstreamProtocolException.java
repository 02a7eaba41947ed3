package dev.postern.proxy.upstream;

/**
 * The backend broke the upstream protocol, such as a backend that does not speak HTTP/2 where the cluster needs
 * it. Answered 502 with flag UPE; not retried.
 */
public final class UpstreamProtocolException extends Exception {
    private static final long serialVersionUID = 1L;

    /** The reason, and the codec's error. */
    public UpstreamProtocolException(String message, Throwable cause) {
        super(message, cause, false, false);
    }
}
