package dev.postern.proxy.upstream;

/**
 * TLS to a backend failed: the handshake (an untrusted chain, a name mismatch, no shared protocol) or a
 * BackendTLSPolicy that cannot be used. Carries the reason for the access log and the local reply.
 */
public final class UpstreamTlsException extends Exception {
    private static final long serialVersionUID = 1L;

    /** Wraps the cause; the message is the innermost cause's message. */
    public UpstreamTlsException(Throwable cause) {
        super(reason(cause), cause, false, false);
    }

    private static String reason(Throwable t) {
        Throwable c = t;
        String m = String.valueOf(t.getMessage());
        while (c != null) {
            if (c.getMessage() != null) {
                m = c.getMessage();
            }
            c = c.getCause() == c ? null : c.getCause();
        }
        return m;
    }
}
