package dev.postern.proxy.http;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import io.netty.util.NetUtil;

import java.net.InetAddress;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Envoy's request-header mutation for client addresses, with {@code use_remote_address: true} (Cilium's
 * Gateway setting), implemented literally after Envoy's {@code ConnectionManagerUtility::mutateRequestHeaders}:
 * hop-by-hop removal, X-Forwarded-For append, the trusted client address (the N-th entry from the right with
 * {@code xff_num_trusted_hops} N), X-Forwarded-Proto, internal/edge classification, {@code x-envoy-*} control header
 * stripping, X-Envoy-External-Address and x-request-id. See ../shared/reference/envoy-and-cilium-semantics.md §1.
 *
 * <p>Stateless and immutable; safe from any thread.
 */
public final class ForwardedHeaderPolicy {
    static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
    static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
    static final AsciiString X_ENVOY_INTERNAL = AsciiString.cached("x-envoy-internal");
    static final AsciiString X_ENVOY_EXTERNAL_ADDRESS = AsciiString.cached("x-envoy-external-address");
    static final AsciiString X_REQUEST_ID = AsciiString.cached("x-request-id");
    static final AsciiString PROXY_CONNECTION = AsciiString.cached("proxy-connection");
    private static final AsciiString TRUE = AsciiString.cached("true");

    /** Removed from every request that is not internal (Envoy's {@code cleanInternalHeaders}). */
    private static final List<AsciiString> INTERNAL_ONLY = names("x-envoy-retriable-status-codes",
            "x-envoy-retriable-header-names", "x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries",
            "x-envoy-upstream-alt-stat-name", "x-envoy-upstream-rq-timeout-ms",
            "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response",
            "x-envoy-expected-rq-timeout-ms", "x-envoy-force-trace", "x-envoy-ip-tags", "x-envoy-original-url",
            "x-envoy-hedge-on-per-try-timeout");
    /** Also removed from edge requests. */
    private static final List<AsciiString> EDGE_ONLY = names("x-envoy-decorator-operation",
            "x-envoy-downstream-service-cluster", "x-envoy-downstream-service-node");

    private final int trustedHops;
    private final CidrSet internal;
    private final String localAddress;

    /**
     * Creates the policy.
     *
     * @param trustedHops {@code xff_num_trusted_hops}; 0 trusts nothing in X-Forwarded-For
     * @param internal the internal address ranges
     * @param localAddress what to append to X-Forwarded-For when the peer is loopback (Envoy appends its own
     *     local address: the host's first non-loopback IP)
     */
    public ForwardedHeaderPolicy(int trustedHops, CidrSet internal, String localAddress) {
        if (trustedHops < 0) {
            throw new IllegalArgumentException("trustedHops must be >= 0: " + trustedHops);
        }
        this.trustedHops = trustedHops;
        this.internal = requireNonNull(internal, "internal");
        this.localAddress = requireNonNull(localAddress, "localAddress");
    }

    /** Cilium's defaults: no trusted hops, RFC 1918 plus 127.0.0.1 and ::1 internal. */
    public static CidrSet defaultInternal() {
        return CidrSet.parse(List.of("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.1/32", "::1/128"));
    }

    /** The outcome, for logs: the trusted client address and whether the request was internal. */
    public record Outcome(String trustedClient, boolean internal) {
    }

    /**
     * Mutates the request headers in place.
     *
     * @param h the request headers
     * @param peer the downstream socket's remote address
     * @param tls whether the downstream connection is TLS
     * @param upgrade whether this is an upgrade request whose Connection/Upgrade headers must be kept
     * @return the trusted client address and whether the request is internal
     */
    public Outcome apply(HttpHeaders h, InetAddress peer, boolean tls, boolean upgrade) {
        removeHopByHop(h, upgrade);
        h.remove(X_ENVOY_INTERNAL);

        final String xff = joinedXff(h);
        final boolean allowTrusted = xff == null;
        String trusted = null;
        if (trustedHops > 0 && xff != null) {
            trusted = nthFromRight(xff, trustedHops);
        }
        final String peerIp = NetUtil.toAddressString(peer);
        if (trusted == null) {
            trusted = peerIp;
        }
        final String appended = peer.isLoopbackAddress() ? localAddress : peerIp;
        h.set(X_FORWARDED_FOR, xff == null ? appended : xff + "," + appended);
        if (trustedHops == 0 || !h.contains(X_FORWARDED_PROTO)) {
            h.set(X_FORWARDED_PROTO, tls ? "https" : "http");
        }
        final boolean isInternal = allowTrusted && internal.contains(peer);
        final boolean edge = !isInternal;
        if (isInternal) {
            h.set(X_ENVOY_INTERNAL, TRUE);
        } else {
            for (AsciiString n : INTERNAL_ONLY) {
                h.remove(n);
            }
            for (AsciiString n : EDGE_ONLY) {
                h.remove(n);
            }
        }
        if (edge) {
            h.set(X_ENVOY_EXTERNAL_ADDRESS, trusted);
            h.set(X_REQUEST_ID, randomUuid());
        } else if (!h.contains(X_REQUEST_ID)) {
            h.set(X_REQUEST_ID, randomUuid());
        }
        return new Outcome(trusted, isInternal);
    }

    /** Several X-Forwarded-For header lines are one list, in order. */
    private static String joinedXff(HttpHeaders h) {
        final List<String> all = h.getAll(X_FORWARDED_FOR);
        if (all.isEmpty()) {
            return null;
        }
        return all.size() == 1 ? all.getFirst() : String.join(",", all);
    }

    /**
     * Envoy's {@code getLastAddressFromXFF} with {@code skip = n - 1}: the n-th entry from the right, trimmed of
     * spaces and tabs; null when there are fewer than n entries or the entry is not a bare IP literal.
     */
    static String nthFromRight(String xff, int n) {
        int end = xff.length();
        for (int i = 1; i <= n; i++) {
            final int comma = xff.lastIndexOf(',', end - 1);
            if (i == n) {
                final String entry = trim(xff.substring(comma + 1, end));
                return isIpLiteral(entry) ? entry : null;
            }
            if (comma < 0) {
                return null;
            }
            end = comma;
        }
        return null;
    }

    private static String trim(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && (s.charAt(a) == ' ' || s.charAt(a) == '\t')) {
            a++;
        }
        while (b > a && (s.charAt(b - 1) == ' ' || s.charAt(b - 1) == '\t')) {
            b--;
        }
        return s.substring(a, b);
    }

    private static boolean isIpLiteral(String s) {
        if (s.isEmpty()) {
            return false;
        }
        try {
            InetAddress.ofLiteral(s);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * Removes hop-by-hop headers: those named in Connection, Connection itself, Keep-Alive, Proxy-Connection,
     * Transfer-Encoding (the codec re-frames the body), Upgrade unless this is an upgrade, and TE unless it is
     * exactly {@code trailers}.
     */
    public static void removeHopByHop(HttpHeaders h, boolean upgrade) {
        if (!upgrade) {
            for (String c : h.getAll(HttpHeaderNames.CONNECTION)) {
                for (String token : c.split(",")) {
                    final String t = token.trim().toLowerCase(Locale.ROOT);
                    if (!t.isEmpty() && !t.equals("close") && !t.equals("keep-alive")) {
                        h.remove(t);
                    }
                }
            }
            h.remove(HttpHeaderNames.CONNECTION);
            h.remove(HttpHeaderNames.UPGRADE);
        }
        h.remove(HttpHeaderNames.KEEP_ALIVE);
        h.remove(PROXY_CONNECTION);
        h.remove(HttpHeaderNames.TRANSFER_ENCODING);
        final String te = h.get(HttpHeaderNames.TE);
        if (te != null && !HttpHeaderValues.TRAILERS.contentEqualsIgnoreCase(te.trim())) {
            h.remove(HttpHeaderNames.TE);
        }
    }

    /** A random (version 4) UUID, drawn from the thread's own generator: no contention. */
    static String randomUuid() {
        final ThreadLocalRandom r = ThreadLocalRandom.current();
        long msb = r.nextLong();
        long lsb = r.nextLong();
        msb = (msb & ~0xF000L) | 0x4000L;
        lsb = (lsb & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
        return new UUID(msb, lsb).toString();
    }

    private static List<AsciiString> names(String... n) {
        return java.util.Arrays.stream(n).map(AsciiString::cached).toList();
    }
}
