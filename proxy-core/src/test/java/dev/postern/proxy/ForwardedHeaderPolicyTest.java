package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.http.ForwardedHeaderPolicy;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;

import java.net.InetAddress;
import java.util.UUID;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Envoy's client-address algorithm, row by row: ../shared/reference/envoy-and-cilium-semantics.md §1.3 and more.
 * Columns: trusted hops, peer, incoming XFF ("-" none), incoming XFP, TLS, expected XFF, expected XEEA ("-" none),
 * expected internal, expected XFP.
 */
class ForwardedHeaderPolicyTest {
    private static final String LOCAL = "192.0.2.10";

    @ParameterizedTest(name = "[{index}] hops={0} peer={1} xff={2}")
    @CsvSource(delimiter = '|', textBlock = """
            0 | 203.0.113.7 | -                | -     | false | 203.0.113.7                  | 203.0.113.7  | false | http
            0 | 203.0.113.7 | 1.2.3.4          | -     | false | 1.2.3.4,203.0.113.7          | 203.0.113.7  | false | http
            0 | 10.0.5.9    | -                | -     | false | 10.0.5.9                     | -            | true  | http
            1 | 10.0.5.9    | 198.51.100.9     | https | false | 198.51.100.9,10.0.5.9        | 198.51.100.9 | false | https
            0 | 10.0.5.9    | 198.51.100.9     | https | false | 198.51.100.9,10.0.5.9        | 10.0.5.9     | false | http
            0 | 203.0.113.7 | -                | http  | true  | 203.0.113.7                  | 203.0.113.7  | false | https
            2 | 10.0.5.9    | 1.1.1.1, 2.2.2.2 | -     | false | 1.1.1.1, 2.2.2.2,10.0.5.9    | 1.1.1.1      | false | http
            2 | 10.0.5.9    | 2.2.2.2          | -     | false | 2.2.2.2,10.0.5.9             | 10.0.5.9     | false | http
            1 | 10.0.5.9    | 1.2.3.4:80       | -     | false | 1.2.3.4:80,10.0.5.9          | 10.0.5.9     | false | http
            0 | 127.0.0.1   | -                | -     | false | 192.0.2.10                   | -            | true  | http
            0 | 127.0.0.2   | -                | -     | false | 192.0.2.10                   | 127.0.0.2    | false | http
            0 | ::1         | -                | -     | false | 192.0.2.10                   | -            | true  | http
            0 | 2001:db8::1 | -                | -     | false | 2001:db8::1                  | 2001:db8::1  | false | http
            0 | 172.16.0.1  | 8.8.8.8          | -     | false | 8.8.8.8,172.16.0.1           | 172.16.0.1   | false | http
            """)
    void clientAddressTable(int hops, String peer, String xff, String xfp, boolean tls, String wantXff,
                            String wantXeea, boolean wantInternal, String wantXfp) throws Exception {
        final ForwardedHeaderPolicy p = new ForwardedHeaderPolicy(hops, ForwardedHeaderPolicy.defaultInternal(), LOCAL);
        final HttpHeaders h = new DefaultHttpHeaders();
        if (!xff.equals("-")) {
            h.set("X-Forwarded-For", xff);
        }
        if (!xfp.equals("-")) {
            h.set("X-Forwarded-Proto", xfp);
        }
        final ForwardedHeaderPolicy.Outcome o = p.apply(h, InetAddress.getByName(peer), tls, false);
        assertEquals(wantXff, h.get("x-forwarded-for"));
        assertEquals(wantXeea.equals("-") ? null : wantXeea, h.get("x-envoy-external-address"));
        assertEquals(wantInternal, o.internal());
        assertEquals(wantInternal ? "true" : null, h.get("x-envoy-internal"));
        assertEquals(wantXfp, h.get("x-forwarded-proto"));
        assertEquals(4, UUID.fromString(h.get("x-request-id")).version());
    }

    @Test
    void externalRequestsLoseControlHeadersAndGetAFreshRequestId() throws Exception {
        final ForwardedHeaderPolicy p = new ForwardedHeaderPolicy(0, ForwardedHeaderPolicy.defaultInternal(), LOCAL);
        final HttpHeaders h = new DefaultHttpHeaders();
        h.set("x-envoy-retry-on", "5xx").set("x-envoy-upstream-rq-timeout-ms", "1").set("x-envoy-internal", "true")
                .set("x-envoy-decorator-operation", "op").set("x-request-id", "client-chosen")
                .set("x-envoy-external-address", "6.6.6.6");
        p.apply(h, InetAddress.getByName("203.0.113.7"), false, false);
        assertNull(h.get("x-envoy-retry-on"));
        assertNull(h.get("x-envoy-upstream-rq-timeout-ms"));
        assertNull(h.get("x-envoy-internal"));
        assertNull(h.get("x-envoy-decorator-operation"));
        assertNotEquals("client-chosen", h.get("x-request-id"));
        assertEquals("203.0.113.7", h.get("x-envoy-external-address"));
    }

    @Test
    void internalRequestsKeepControlHeadersAndRequestId() throws Exception {
        final ForwardedHeaderPolicy p = new ForwardedHeaderPolicy(0, ForwardedHeaderPolicy.defaultInternal(), LOCAL);
        final HttpHeaders h = new DefaultHttpHeaders();
        h.set("x-envoy-retry-on", "5xx").set("x-request-id", "client-chosen");
        p.apply(h, InetAddress.getByName("10.1.2.3"), false, false);
        assertEquals("5xx", h.get("x-envoy-retry-on"));
        assertEquals("client-chosen", h.get("x-request-id"));
        assertEquals("true", h.get("x-envoy-internal"));
    }

    @Test
    void hopByHopHeadersAreRemoved() throws Exception {
        final ForwardedHeaderPolicy p = new ForwardedHeaderPolicy(0, ForwardedHeaderPolicy.defaultInternal(), LOCAL);
        final HttpHeaders h = new DefaultHttpHeaders();
        h.set("Connection", "keep-alive, X-Secret").set("X-Secret", "s").set("Keep-Alive", "timeout=5")
                .set("Proxy-Connection", "x").set("Transfer-Encoding", "chunked").set("Upgrade", "foo")
                .set("TE", "gzip").set("X-Kept", "k");
        p.apply(h, InetAddress.getByName("203.0.113.7"), false, false);
        for (String n : new String[] {"connection", "x-secret", "keep-alive", "proxy-connection",
                "transfer-encoding", "upgrade", "te"}) {
            assertFalse(h.contains(n), n);
        }
        assertTrue(h.contains("x-kept"));
        final HttpHeaders t = new DefaultHttpHeaders().set("TE", "trailers");
        p.apply(t, InetAddress.getByName("203.0.113.7"), false, false);
        assertEquals("trailers", t.get("te"));
    }

    @Test
    void repeatedXffLinesAreOneList() throws Exception {
        final ForwardedHeaderPolicy p = new ForwardedHeaderPolicy(2, ForwardedHeaderPolicy.defaultInternal(), LOCAL);
        final HttpHeaders h = new DefaultHttpHeaders();
        h.add("X-Forwarded-For", "1.1.1.1").add("X-Forwarded-For", "2.2.2.2");
        p.apply(h, InetAddress.getByName("10.0.0.1"), false, false);
        assertEquals("1.1.1.1,2.2.2.2,10.0.0.1", h.get("x-forwarded-for"));
        assertEquals("1.1.1.1", h.get("x-envoy-external-address"));
    }
}
