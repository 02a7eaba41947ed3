package dev.postern.tproxy;

import java.io.Serial;

/**
 * A TPROXY operation failed. The message names the operation, the object it acted on (interface, map, pin path,
 * rule) and the reason; {@link #errno()} carries the kernel's error number when there is one.
 *
 * <p>Callers that can run without TPROXY (see {@code tproxy.required} in the bootstrap) catch it at startup,
 * log {@link #getMessage()} and continue without steering.
 */
public final class TproxyException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    private final int errno;

    /** A failure without an errno: a precondition or a configuration problem. */
    public TproxyException(final String message) {
        super(message);
        this.errno = 0;
    }

    /** A failure with a cause. */
    public TproxyException(final String message, final Throwable cause) {
        super(message, cause);
        this.errno = 0;
    }

    private TproxyException(final String message, final int errno) {
        super(message);
        this.errno = errno;
    }

    /**
     * {@code "<what> failed: ENOENT (No such file or directory)"}, plus a hint when one helps.
     *
     * @param what the operation and the object it acted on, e.g. {@code "attaching tcx ingress to eth0"}
     * @param rc the negative errno (libbpf convention) or the positive errno
     */
    static TproxyException errno(final String what, final int rc) {
        final int e = Math.abs(rc);
        final StringBuilder message = new StringBuilder(what).append(" failed: ").append(Native.describe(e));
        final String hint = hint(e);
        if (!hint.isEmpty()) {
            message.append("; ").append(hint);
        }
        return new TproxyException(message.toString(), e);
    }

    /** As {@link #errno(String, int)}, followed by the tail of libbpf's own log (e.g. the verifier's). */
    static TproxyException errno(final String what, final int rc, final String libbpfLog) {
        final TproxyException base = errno(what, rc);
        if (libbpfLog.isBlank()) {
            return base;
        }
        return new TproxyException(base.getMessage() + "\nlibbpf said:\n" + libbpfLog.strip(), base.errno);
    }

    private static String hint(final int errno) {
        return switch (errno) {
            case 1 -> "needs CAP_BPF and CAP_NET_ADMIN (or root); in a container also CAP_SYS_ADMIN for bpffs";
            case 13 -> "permission denied: the kernel, an LSM or the verifier refused";
            default -> "";
        };
    }

    /** The kernel's error number (positive), or 0 when the failure did not come from a system call. */
    public int errno() {
        return errno;
    }
}
