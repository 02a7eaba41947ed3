package dev.postern.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.NetUtil;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;

/**
 * Jazzer fuzz target (issue 9) for {@link ForwardedHeaderPolicy}: fuzzed request headers (X-Forwarded-For lists,
 * Connection tokens, x-envoy-* control headers, TE...), peer address, trusted hop count, TLS and upgrade flags.
 * The policy's result is checked against a small model of Envoy's algorithm written here independently:
 *
 * <ul>
 *   <li>it never throws;</li>
 *   <li>there is one X-Forwarded-For afterwards: the incoming list (all lines, joined) followed by the appended
 *       address, which is the peer's, or the local address when the peer is loopback;</li>
 *   <li>the trusted client is the N-th entry from the right (N = trusted hops) when that entry is an IP literal,
 *       else the peer;</li>
 *   <li>internal iff no X-Forwarded-For came in and the peer is in the internal ranges; an internal request carries
 *       {@code x-envoy-internal: true}, an external one none of Envoy's internal-only {@code x-envoy-*} headers, its
 *       {@code x-envoy-external-address} is the trusted client and its {@code x-request-id} is a fresh UUID;</li>
 *   <li>no hop-by-hop header survives (Connection and what it names, Keep-Alive, Proxy-Connection,
 *       Transfer-Encoding, Upgrade unless upgrading, TE unless exactly {@code trailers});</li>
 *   <li>X-Forwarded-Proto is the connection's scheme unless hops are trusted and the client sent one.</li>
 * </ul>
 */
class ForwardedHeaderFuzzTest {
    private static final CidrSet INTERNAL = ForwardedHeaderPolicy.defaultInternal();
    private static final String LOCAL = "192.0.2.10";
    private static final String[] NAMES = {"x-forwarded-for", "X-Forwarded-For", "x-forwarded-proto", "connection",
        "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "x-envoy-internal",
        "x-envoy-external-address", "x-request-id", "x-envoy-retry-on", "x-envoy-max-retries",
        "x-envoy-upstream-rq-timeout-ms", "x-envoy-original-url", "x-envoy-decorator-operation",
        "x-envoy-downstream-service-node", "x-envoy-force-trace", "x-envoy-ip-tags", "host", "x-other"};
    /** Envoy's internal-only and edge-only request headers: none survives on an external request. */
    private static final List<String> STRIPPED_WHEN_EXTERNAL = List.of("x-envoy-retriable-status-codes",
            "x-envoy-retriable-header-names", "x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries",
            "x-envoy-upstream-alt-stat-name", "x-envoy-upstream-rq-timeout-ms",
            "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response",
            "x-envoy-expected-rq-timeout-ms", "x-envoy-force-trace", "x-envoy-ip-tags", "x-envoy-original-url",
            "x-envoy-hedge-on-per-try-timeout", "x-envoy-decorator-operation",
            "x-envoy-downstream-service-cluster", "x-envoy-downstream-service-node", "x-envoy-internal");
    /** Set by the policy itself after hop-by-hop removal, so a Connection token naming them does not stick. */
    private static final Set<String> SET_BY_POLICY = Set.of("x-forwarded-for", "x-forwarded-proto",
            "x-envoy-internal", "x-envoy-external-address", "x-request-id");

    @FuzzTest(maxDuration = "10s")
    void apply(FuzzedDataProvider data) throws UnknownHostException {
        final int hops = data.consumeInt(0, 4);
        final boolean tls = data.consumeBoolean();
        final boolean upgrade = data.consumeBoolean();
        final InetAddress peer = peer(data);
        final HttpHeaders h = new DefaultHttpHeaders(); // validating, as the decoder's headers are
        final int n = data.consumeInt(0, 10);
        for (int i = 0; i < n; i++) {
            final String name = data.consumeBoolean() ? data.pickValue(NAMES) : data.consumeString(12);
            final String value = data.consumeString(64);
            try {
                h.add(name, value);
            } catch (IllegalArgumentException invalid) {
                // the decoder never delivers such a header
            }
        }
        final HttpHeaders in = h.copy();

        final ForwardedHeaderPolicy policy = new ForwardedHeaderPolicy(hops, INTERNAL, LOCAL);
        final ForwardedHeaderPolicy.Outcome out = policy.apply(h, peer, tls, upgrade);

        // The model: which names the Connection header made hop-by-hop.
        final Set<String> named = new HashSet<>();
        if (!upgrade) {
            for (String c : in.getAll("connection")) {
                for (String t : c.split(",")) {
                    named.add(t.trim().toLowerCase(Locale.ROOT));
                }
            }
        }
        final List<String> xffLines = named.contains("x-forwarded-for") ? List.of() : in.getAll("x-forwarded-for");
        final String xffIn = xffLines.isEmpty() ? null : String.join(",", xffLines);
        final String peerIp = NetUtil.toAddressString(peer);
        final String appended = peer.isLoopbackAddress() ? LOCAL : peerIp;

        final List<String> xffOut = h.getAll("x-forwarded-for");
        assertEquals(1, xffOut.size(), "one X-Forwarded-For");
        assertEquals(xffIn == null ? appended : xffIn + "," + appended, xffOut.getFirst());
        assertTrue(xffOut.getFirst().endsWith(appended));

        final String expectTrusted = hops > 0 && xffIn != null ? nthFromRight(xffIn, hops) : null;
        assertEquals(expectTrusted == null ? peerIp : expectTrusted, out.trustedClient(), "trusted client");

        final boolean expectInternal = xffIn == null && INTERNAL.contains(peer);
        assertEquals(expectInternal, out.internal(), "internal");
        if (expectInternal) {
            assertEquals("true", h.get("x-envoy-internal"));
            assertTrue(h.contains("x-request-id"));
        } else {
            for (String s : STRIPPED_WHEN_EXTERNAL) {
                assertFalse(h.contains(s), () -> s + " survived on an external request");
            }
            assertEquals(out.trustedClient(), h.get("x-envoy-external-address"));
            final String id = h.get("x-request-id");
            assertEquals(id, UUID.fromString(id).toString(), "x-request-id is a UUID");
            assertFalse(id.equals(in.get("x-request-id")), "an external x-request-id is replaced");
            assertEquals(1, h.getAll("x-request-id").size());
        }

        for (String hop : List.of("keep-alive", "proxy-connection", "transfer-encoding")) {
            assertFalse(h.contains(hop), hop);
        }
        if (!upgrade) {
            assertFalse(h.contains("connection"));
            assertFalse(h.contains("upgrade"));
            for (String t : named) {
                if (!t.isEmpty() && !t.equals("close") && !t.equals("keep-alive") && !SET_BY_POLICY.contains(t)) {
                    assertFalse(h.contains(t), () -> "the Connection-named header " + t + " survived");
                }
            }
        }
        final String te = h.get("te");
        assertTrue(te == null || te.trim().equalsIgnoreCase("trailers"), "TE: " + te);

        final List<String> protoIn = named.contains("x-forwarded-proto") ? List.of() : in.getAll("x-forwarded-proto");
        if (hops == 0 || protoIn.isEmpty()) {
            assertEquals(tls ? "https" : "http", h.get("x-forwarded-proto"));
            assertEquals(1, h.getAll("x-forwarded-proto").size());
        } else {
            assertEquals(protoIn, h.getAll("x-forwarded-proto"));
        }
    }

    /** IPv4, IPv6 (loopback, RFC 1918, mapped and random addresses all come up), from the input. */
    private static InetAddress peer(FuzzedDataProvider data) throws UnknownHostException {
        return switch (data.consumeInt(0, 4)) {
            case 0 -> InetAddress.getByAddress(new byte[] {127, 0, 0, (byte) data.consumeInt(0, 255)});
            case 1 -> InetAddress.getByAddress(new byte[] {10, data.consumeByte(), data.consumeByte(), 1});
            case 2 -> InetAddress.getByAddress(pad(data.consumeBytes(16), 16));
            default -> InetAddress.getByAddress(pad(data.consumeBytes(4), 4));
        };
    }

    private static byte[] pad(byte[] b, int len) {
        return b.length == len ? b : java.util.Arrays.copyOf(b, len);
    }

    /** The model of Envoy's getLastAddressFromXFF: entries split on commas, the n-th from the right, trimmed. */
    private static String nthFromRight(String xff, int n) {
        final List<String> entries = new ArrayList<>(List.of(xff.split(",", -1)));
        if (entries.size() < n) {
            return null;
        }
        final String t = trimSpTab(entries.get(entries.size() - n));
        if (t.isEmpty()) {
            return null;
        }
        try {
            InetAddress.ofLiteral(t);
            return t;
        } catch (IllegalArgumentException notIp) {
            return null;
        }
    }

    private static String trimSpTab(String s) {
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
}
