package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import java.nio.file.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Request-smuggling shapes and malformed framing get 400 and a closed connection, never a forwarded request
 * (issue 9; RFC 9112 §6.1 and §6.3). Each request is followed by a second one on the same connection: it must never
 * be answered, proving nothing after the bad framing was interpreted as a request.
 */
class RequestSmugglingTest {
    private static EchoServer echo;
    @TempDir
    static Path dir;
    private static TestGateway gw;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("smuggle-1");
        gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort()));
    }

    @AfterAll
    static void stop() throws Exception {
        gw.close();
        echo.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {
        // Content-Length together with Transfer-Encoding
        "POST / HTTP/1.1\r\nHost: s.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        // conflicting Content-Length
        "POST / HTTP/1.1\r\nHost: s.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        // unknown or obfuscated Transfer-Encoding
        "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        // invalid characters in a header name, space before the colon
        "GET / HTTP/1.1\r\nHost: s.test\r\nX Bad: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : s.test\r\n\r\n",
        // a bad chunk size
        "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        // an invalid request line: method, version
        "G@T / HTTP/1.1\r\nHost: s.test\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: s.test\r\n\r\n",
        // two Host headers
        "GET / HTTP/1.1\r\nHost: s.test\r\nHost: other.test\r\n\r\n",
        // obs-fold (RFC 9112 §5.2): a header continuation line, with SP or HTAB
        "GET / HTTP/1.1\r\nHost: s.test\r\nX-A: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: s.test\r\nX-A: a\r\n\tTransfer-Encoding: chunked\r\n\r\n",
    })
    void rejectedWith400AndClosed(String raw) throws Exception {
        try (RawHttp c = gw.client()) {
            c.send(raw + "GET /smuggled HTTP/1.1\r\nHost: s.test\r\n\r\n");
            final RawHttp.Response r = c.read(false);
            assertEquals(400, r.status(), () -> "for " + raw.replace("\r\n", "\\r\\n") + ": " + r.text());
            assertTrue(c.closedByPeer(), "the connection closes after a framing error");
        }
    }

    /** The obs-fold check reads heads only: a body with folded-looking lines, in the same packet, is forwarded. */
    @Test
    void bodyBytesAreNotMistakenForObsFold() throws Exception {
        try (RawHttp c = gw.client()) {
            final String body = "line\r\n folded\r\n\tagain";
            c.send("POST /a HTTP/1.1\r\nHost: s.test\r\nContent-Length: " + body.length() + "\r\n\r\n" + body
                    + "GET /b HTTP/1.1\r\nHost: s.test\r\n\r\n");
            assertEquals(200, c.read(false).status());
            assertEquals(200, c.read(false).status(), "the pipelined request after the body is served too");
            assertEquals(200, c.get("s.test", "/c").status());
        }
    }
}
