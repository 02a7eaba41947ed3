package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Request smuggling and malformed framing, over raw sockets (issue 9; RFC 9110, RFC 9112 §2-§7). Shapes come from
 * Netty's HttpRequestDecoder tests and the published desync research (CL.TE, TE.CL, TE.TE obfuscation, header
 * name and value tricks, chunk-size tricks, request-line tricks).
 *
 * <p>Every vector carries a request for {@code /smuggled}, either after the vector (where a parser that got the
 * framing wrong would read it as the next request) or inside its body (where only a desynchronised parser would
 * see a request). The echo backend reports every request target it serves; no vector may ever make it serve
 * {@code /smuggled}. Rejected vectors get 400 and a closed connection; accepted ones get 200 and the connection
 * stays in step (a following request is served).
 *
 * <p>The upstream side is held to the same standard with a raw-socket backend writing exact bytes: a malformed
 * response head gives 502; a malformed body after a good head cuts the client's connection so that the response
 * is visibly incomplete; never a complete-looking corrupted response.
 */
class RequestSmugglingTest {
    private static final String H = "Host: s.test\r\n";
    private static final String SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: s.test\r\n\r\n";
    /** {@link #SMUGGLED} as one chunk. */
    private static final String SMUGGLED_CHUNK = Integer.toHexString(SMUGGLED.length()) + "\r\n" + SMUGGLED + "\r\n";
    private static final String AFTER = "GET /after HTTP/1.1\r\nHost: s.test\r\n\r\n";

    private static final List<String> served = new CopyOnWriteArrayList<>();
    private static EchoServer echo;
    private static RawBackend raw;
    @TempDir
    static Path dir;
    private static TestGateway gw;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("smuggle-1", served::add);
        raw = new RawBackend();
        gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: up, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [up.test]
                  rules: [{backendRefs: [{name: raw, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort())
                + TestGateway.service("raw", raw.port()));
    }

    @AfterAll
    static void stop() throws Exception {
        gw.close();
        echo.close();
        raw.close();
    }

    private static Arguments v(String name, String raw) {
        return Arguments.of(Named.of(name, raw));
    }

    /** Shapes answered 400 with the connection closed; {@link #SMUGGLED} follows each on the same connection. */
    static Stream<Arguments> rejected() {
        final String post = "POST / HTTP/1.1\r\n" + H;
        return Stream.of(
            // CL.TE and TE.CL (RFC 9112 §6.3: both present is treated as an error here, as Envoy does)
            v("CL.TE", post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX"),
            v("TE.CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + SMUGGLED_CHUNK
                    + "0\r\n\r\n"),
            v("CL.TE with CL 0", post + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            // Content-Length shapes (RFC 9110 §8.6: 1*DIGIT; duplicates rejected rather than merged)
            v("two different CLs", post + "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
            v("two identical CLs", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nabcde"),
            v("CL list 5, 5", post + "Content-Length: 5, 5\r\n\r\nabcde"),
            v("CL list 5,6", post + "Content-Length: 5,6\r\n\r\nabcdef"),
            v("CL +5", post + "Content-Length: +5\r\n\r\nabcde"),
            v("CL -1", post + "Content-Length: -1\r\n\r\n"),
            v("CL 0x5", post + "Content-Length: 0x5\r\n\r\nabcde"),
            v("CL 5 5", post + "Content-Length: 5 5\r\n\r\nabcde"),
            v("CL empty", post + "Content-Length: \r\n\r\n"),
            v("CL overflow", post + "Content-Length: 99999999999999999999\r\n\r\nabcde"),
            // Transfer-Encoding obfuscation (TE.TE): anything but exactly one "chunked"
            v("TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
            v("TE chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
            v("TE identity", post + "Transfer-Encoding: identity\r\n\r\n"),
            v("TE gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
            v("TE chunked twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            v("TE chunked, chunked", post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
            v("TE with VT before the value", post + "Transfer-Encoding:\013chunked\r\n\r\n0\r\n\r\n"),
            v("TE with FF before the value", post + "Transfer-Encoding:\014chunked\r\n\r\n0\r\n\r\n"),
            v("TE with HTAB before the colon", post + "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n"),
            v("TE with SP before the colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
            v("TE as a leading folded line", "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\n" + H
                    + "\r\n0\r\n\r\n"),
            v("TE hidden in obs-fold", post + "X-A: a\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            v("TE quoted", post + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n"),
            v("HTTP/1.0 with TE", "POST / HTTP/1.0\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n"
                    + SMUGGLED_CHUNK + "0\r\n\r\n"),
            // header names and values
            v("space in a name", "GET / HTTP/1.1\r\n" + H + "X Bad: a\r\n\r\n"),
            v("space before the colon", "GET / HTTP/1.1\r\nHost : s.test\r\n\r\n"),
            v("NUL in a value", "GET / HTTP/1.1\r\n" + H + "X-A: a\0b\r\n\r\n"),
            v("NUL in a name", "GET / HTTP/1.1\r\n" + H + "X-\0A: b\r\n\r\n"),
            v("DEL in a name", "GET / HTTP/1.1\r\n" + H + "X-\177A: b\r\n\r\n"),
            v("no colon", "GET / HTTP/1.1\r\n" + H + "X-A b\r\n\r\n"),
            v("empty name", "GET / HTTP/1.1\r\n" + H + ": b\r\n\r\n"),
            v("obs-fold with SP", "GET / HTTP/1.1\r\n" + H + "X-A: a\r\n b\r\n\r\n"),
            v("bare CR in a value", "GET / HTTP/1.1\r\n" + H + "X-A: a\rTransfer-Encoding: chunked\r\n\r\n"),
            v("bare CR ending a line", "GET / HTTP/1.1\r" + H + "\r\n"),
            v("bare LF ending every line", "GET / HTTP/1.1\n" + "Host: s.test\n\n"),
            v("bare LF ending one header", "GET / HTTP/1.1\r\n" + H + "X-A: b\n\r\n"),
            v("two Hosts", "GET / HTTP/1.1\r\n" + H + "Host: other.test\r\n\r\n"),
            v("no Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n"),
            v("empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n"),
            v("Host with userinfo", "GET / HTTP/1.1\r\nHost: evil@s.test\r\n\r\n"),
            v("Host with a path", "GET / HTTP/1.1\r\nHost: s.test/x\r\n\r\n"),
            v("Host with a bad port", "GET / HTTP/1.1\r\nHost: s.test:8o\r\n\r\n"),
            // chunked bodies
            v("chunk size zz", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
            v("chunk size 0x5", post + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
            v("chunk size -5", post + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
            v("chunk size overflow", post + "Transfer-Encoding: chunked\r\n\r\n1000000000000000005\r\nhello\r\n"
                    + "0\r\n\r\n"),
            v("chunk size with leading SP", post + "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n"),
            v("chunk size with trailing junk", post + "Transfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n"
                    + "0\r\n\r\n"),
            v("chunk extension with bare CR", post + "Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n"
                    + "0\r\n\r\n"),
            v("chunk size line with bare LF", post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
            v("no CRLF after chunk data", post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
            v("chunk data longer than its size", post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n"
                    + "0\r\n\r\n"),
            v("very long chunk-size line", post + "Transfer-Encoding: chunked\r\n\r\n5;" + "a".repeat(70_000)
                    + "\r\nhello\r\n0\r\n\r\n"),
            v("last chunk with bare LF trailer end", post + "Transfer-Encoding: chunked\r\n\r\n0\r\n\n"),
            // request line
            v("method with @", "G@T / HTTP/1.1\r\n" + H + "\r\n"),
            v("method with NUL", "GE\0T / HTTP/1.1\r\n" + H + "\r\n"),
            v("SP after the version", "GET / HTTP/1.1 \r\n" + H + "\r\n"),
            v("version HTTP/9.9", "GET / HTTP/9.9\r\n" + H + "\r\n"),
            v("version HTTP/2.0 on HTTP/1", "GET / HTTP/2.0\r\n" + H + "\r\n"),
            v("version HTTP/1.10", "GET / HTTP/1.10\r\n" + H + "\r\n"),
            v("no version", "GET /\r\n" + H + "\r\n"),
            v("control in the target", "GET /a\001b HTTP/1.1\r\n" + H + "\r\n"),
            v("DEL in the target", "GET /a\177b HTTP/1.1\r\n" + H + "\r\n"),
            v("non-ASCII in the target", "GET /a\u00e9 HTTP/1.1\r\n" + H + "\r\n"),
            v("fragment in the target", "GET /a#frag HTTP/1.1\r\n" + H + "\r\n"),
            v("target without a leading slash", "GET s.test/ HTTP/1.1\r\n" + H + "\r\n"),
            v("absolute form with userinfo", "GET http://evil@s.test/ HTTP/1.1\r\n" + H + "\r\n"),
            v("absolute form without authority", "GET http:///a HTTP/1.1\r\n" + H + "\r\n"),
            v("absolute form with a bad port", "GET http://s.test:x/ HTTP/1.1\r\n" + H + "\r\n"),
            v("absolute form with another scheme", "GET ftp://s.test/ HTTP/1.1\r\n" + H + "\r\n"),
            v("asterisk form with GET", "GET * HTTP/1.1\r\n" + H + "\r\n"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void rejected(String raw) throws Exception {
        final int before = served.size();
        try (RawHttp c = gw.client()) {
            c.send(raw + SMUGGLED);
            final RawHttp.Response r = c.read(false);
            assertEquals(400, r.status(), () -> "for " + show(raw) + ": " + r.text());
            assertTrue(c.closedByPeer(), "the connection closes after a framing error");
        }
        final List<String> got = served.subList(before, served.size());
        assertFalse(got.contains("/smuggled"), () -> "smuggled request served: " + got);
    }

    /**
     * Shapes that are valid, if odd: 200, and the connection stays in step ({@link #AFTER} follows and is served),
     * except where HTTP/1.0 closes. {@link #SMUGGLED} inside a body must stay body.
     */
    static Stream<Arguments> accepted() {
        final String chunked = "POST /v HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n";
        return Stream.of(
            v("request in a CL body", "POST /v HTTP/1.1\r\n" + H + "Content-Length: " + SMUGGLED.length()
                    + "\r\n\r\n" + SMUGGLED),
            v("request in a chunked body", chunked + "\r\n" + SMUGGLED_CHUNK + "0\r\n\r\n"),
            v("TE Chunked in another case", "POST /v HTTP/1.1\r\n" + H + "Transfer-Encoding: Chunked\r\n\r\n"
                    + SMUGGLED_CHUNK + "0\r\n\r\n"),
            v("TE with HTAB as OWS", "POST /v HTTP/1.1\r\n" + H + "Transfer-Encoding:\tchunked\t\r\n\r\n"
                    + SMUGGLED_CHUNK + "0\r\n\r\n"),
            v("chunk extensions", chunked + "\r\n5;name=value;q=\"a b\"\r\nhello\r\n0;x=y\r\n\r\n"),
            v("upper-case hex chunk size", chunked + "\r\nA\r\n0123456789\r\n0\r\n\r\n"),
            v("leading zeros in a chunk size", chunked + "\r\n0005\r\nhello\r\n0000\r\n\r\n"),
            v("trailer fields", chunked + "\r\n5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n"),
            v("framing fields as trailers", chunked + "\r\n5\r\nhello\r\n0\r\nContent-Length: 50\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n"),
            v("CL with leading zeros", "POST /v HTTP/1.1\r\n" + H + "Content-Length: 05\r\n\r\nhello"),
            v("CL with OWS", "POST /v HTTP/1.1\r\n" + H + "Content-Length: \t5 \r\n\r\nhello"),
            v("GET with a body", "GET /v HTTP/1.1\r\n" + H + "Content-Length: 5\r\n\r\nhello"),
            v("empty lines before the request line", "\r\n\r\nGET /v HTTP/1.1\r\n" + H + "\r\n"),
            v("absolute form", "GET http://s.test/v HTTP/1.1\r\n" + H + "\r\n"),
            v("absolute form without a path", "GET http://s.test HTTP/1.1\r\n" + H + "\r\n"),
            v("absolute form with another Host", "GET http://s.test/v HTTP/1.1\r\nHost: other.test\r\n\r\n"),
            v("Host with a port and a trailing dot", "GET /v HTTP/1.1\r\nHost: S.Test.:8080\r\n\r\n"),
            v("IPv6 Host", "GET /v HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
            // RFC 9112 §3 lets a recipient split the request line on any whitespace, and the version is read
            // case-insensitively by Netty; Postern always sends its own single-spaced "HTTP/1.1" line upstream.
            v("two spaces after the method", "GET  /v HTTP/1.1\r\n" + H + "\r\n"),
            v("two spaces before the version", "GET /v  HTTP/1.1\r\n" + H + "\r\n"),
            v("HTAB as a separator", "GET\t/v\tHTTP/1.1\r\n" + H + "\r\n"),
            v("VT as a separator", "GET\013/v HTTP/1.1\r\n" + H + "\r\n"),
            v("lower-case version", "GET /v http/1.1\r\n" + H + "\r\n"),
            v("header value with obs-text", "GET /v HTTP/1.1\r\n" + H + "X-A: caf\u00e9\r\n\r\n"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void accepted(String raw) throws Exception {
        final int before = served.size();
        try (RawHttp c = gw.client()) {
            c.send(raw + AFTER);
            final RawHttp.Response r = c.read(false);
            assertEquals(200, r.status(), () -> "for " + show(raw) + ": " + r.text());
            assertEquals(200, c.read(false).status(), "the connection stays in step");
        }
        final List<String> got = served.subList(before, served.size());
        assertEquals("/after", got.getLast(), got::toString);
        assertFalse(got.contains("/smuggled"), () -> "smuggled request served: " + got);
    }

    /** HTTP/1.0 with a Content-Length body: served, then closed (no keep-alive asked). */
    @Test
    void http10BodyThenClose() throws Exception {
        final int before = served.size();
        try (RawHttp c = gw.client()) {
            c.send("POST /v HTTP/1.0\r\n" + H + "Content-Length: " + SMUGGLED.length() + "\r\n\r\n" + SMUGGLED);
            assertEquals(200, c.read(false).status());
            assertTrue(c.closedByPeer());
        }
        assertFalse(served.subList(before, served.size()).contains("/smuggled"));
    }

    /** In absolute form the target's authority wins (RFC 9112 §3.2.2): routing and the upstream Host agree. */
    @Test
    void absoluteFormAuthorityIsTheHostForwarded() throws Exception {
        try (RawHttp c = gw.client()) {
            final RawHttp.Response r = c.send("GET http://s.test/abs HTTP/1.1\r\nHost: other.test\r\n\r\n")
                    .read(false);
            assertEquals(200, r.status());
            final JsonNode echoed = new ObjectMapper().readTree(r.body());
            assertEquals("s.test", echoed.get("host").asText(), r::text);
            assertEquals("/abs", echoed.get("path").asText());
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

    /** Request trailers are forwarded without the fields RFC 9110 §6.5.1 keeps out of trailers. */
    @Test
    void forbiddenTrailerFieldsAreNotForwarded() throws Exception {
        final int before = raw.requests.size();
        try (RawHttp c = gw.client()) {
            c.send("POST /trailers HTTP/1.1\r\nHost: up.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                    + "0\r\nX-Checksum: 1\r\nHost: evil.test\r\nContent-Length: 50\r\nAuthorization: x\r\n"
                    + "Connection: close\r\n\r\n");
            assertEquals(200, c.read(false).status());
        }
        final String got = raw.requests.get(before).toLowerCase(java.util.Locale.ROOT);
        final String trailers = got.substring(got.indexOf("\r\n0\r\n") + 5);
        assertTrue(trailers.contains("x-checksum: 1"), got);
        for (String f : List.of("host", "content-length", "authorization", "connection")) {
            assertFalse(trailers.contains(f + ":"), () -> f + " forwarded as a trailer: " + got);
        }
    }

    // ---- upstream ---------------------------------------------------------------------------------------------

    /** What the client must see for a backend response. */
    enum Seen {
        /** 502 from Postern. */
        BAD_GATEWAY,
        /** The connection closes before a complete response: nothing, or the head and part of the body. */
        CUT,
        /** A complete 200 (the response is valid, if odd). */
        OK
    }

    static Stream<Arguments> upstream() {
        final String ok = "HTTP/1.1 200 OK\r\n";
        return Stream.of(
            Arguments.of(Named.of("bad status code", "HTTP/1.1 2x0 OK\r\ncontent-length: 2\r\n\r\nok"),
                    Seen.BAD_GATEWAY),
            Arguments.of(Named.of("no status code", "HTTP/1.1\r\ncontent-length: 2\r\n\r\nok"), Seen.BAD_GATEWAY),
            Arguments.of(Named.of("not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n"), Seen.BAD_GATEWAY),
            Arguments.of(Named.of("version HTTP/9.9", "HTTP/9.9 200 OK\r\ncontent-length: 2\r\n\r\nok"),
                    Seen.BAD_GATEWAY),
            Arguments.of(Named.of("CL and TE", ok + "content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n"
                    + "2\r\nok\r\n0\r\n\r\n"), Seen.BAD_GATEWAY),
            Arguments.of(Named.of("two CLs", ok + "content-length: 2\r\ncontent-length: 3\r\n\r\nok!"),
                    Seen.BAD_GATEWAY),
            Arguments.of(Named.of("CL +2", ok + "content-length: +2\r\n\r\nok"), Seen.BAD_GATEWAY),
            Arguments.of(Named.of("TE xchunked", ok + "transfer-encoding: xchunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
                    Seen.BAD_GATEWAY),
            Arguments.of(Named.of("obs-fold", ok + "content-length: 2\r\nx-a: a\r\n b\r\n\r\nok"),
                    Seen.BAD_GATEWAY),
            Arguments.of(Named.of("bare LF", "HTTP/1.1 200 OK\ncontent-length: 2\n\nok"), Seen.BAD_GATEWAY),
            Arguments.of(Named.of("bare CR in a value", ok + "content-length: 2\r\nx-a: a\rb\r\n\r\nok"),
                    Seen.BAD_GATEWAY),
            Arguments.of(Named.of("NUL in a value", ok + "content-length: 2\r\nx-a: a\0b\r\n\r\nok"),
                    Seen.BAD_GATEWAY),
            Arguments.of(Named.of("oversized head", ok + "content-length: 2\r\nx-big: " + "a".repeat(70_000)
                    + "\r\n\r\nok"), Seen.BAD_GATEWAY),
            Arguments.of(Named.of("closed before a response", ""), Seen.BAD_GATEWAY),
            Arguments.of(Named.of("bad chunk size", ok + "transfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"),
                    Seen.CUT),
            Arguments.of(Named.of("no CRLF after chunk data", ok + "transfer-encoding: chunked\r\n\r\n"
                    + "2\r\nokXX0\r\n\r\n"), Seen.CUT),
            Arguments.of(Named.of("body shorter than CL", ok + "content-length: 10\r\n\r\nok"), Seen.CUT),
            Arguments.of(Named.of("chunked body never ended", ok + "transfer-encoding: chunked\r\n\r\n2\r\nok\r\n"),
                    Seen.CUT),
            Arguments.of(Named.of("no reason phrase", "HTTP/1.1 200 \r\ncontent-length: 2\r\n\r\nok"), Seen.OK),
            Arguments.of(Named.of("SP before a colon", ok + "content-length: 2\r\nx-a : b\r\n\r\nok"), Seen.OK),
            Arguments.of(Named.of("100 Continue first", "HTTP/1.1 100 Continue\r\n\r\n" + ok
                    + "content-length: 2\r\n\r\nok"), Seen.OK),
            Arguments.of(Named.of("HTTP/1.0 delimited by close", "HTTP/1.0 200 OK\r\n\r\nok"), Seen.OK),
            Arguments.of(Named.of("extra bytes after the body", ok + "content-length: 2\r\n\r\nok"
                    + "HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled"), Seen.OK));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void upstream(String response, Seen expected) throws Exception {
        final String path = "/u" + Integer.toHexString(response.hashCode());
        final boolean close = !response.contains("content-length") || expected == Seen.CUT
                || response.startsWith("HTTP/1.0");
        raw.on(path, RawBackend.Write.of(response, close));
        final byte[] got;
        try (Socket s = new Socket("127.0.0.1", gw.port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: up.test\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            got = readToEnd(s.getInputStream());
        }
        final String text = new String(got, StandardCharsets.ISO_8859_1);
        switch (expected) {
            case BAD_GATEWAY -> assertTrue(text.startsWith("HTTP/1.1 502 "), () -> show(text));
            case OK -> {
                assertTrue(text.startsWith("HTTP/1.1 200 "), () -> show(text));
                assertTrue(text.endsWith("\r\n\r\nok") || text.endsWith("\r\n2\r\nok\r\n0\r\n\r\n"),
                        () -> show(text));
                assertFalse(text.contains("smuggled"), () -> show(text));
            }
            case CUT -> {
                // Either nothing (the head was not flushed yet) or the head and part of the body, then EOF.
                assertTrue(text.isEmpty() || text.startsWith("HTTP/1.1 200 "), () -> show(text));
                assertFalse(text.endsWith("\r\n0\r\n\r\n"), () -> "a cut response must not end cleanly: "
                        + show(text));
            }
        }
        // The next request through the same pool gets its own, clean response.
        raw.on("/next", RawBackend.Write.of("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext", false));
        try (RawHttp c = gw.client()) {
            final RawHttp.Response r = c.get("up.test", "/next");
            assertEquals(200, r.status());
            assertEquals("next", r.text());
        }
    }

    private static byte[] readToEnd(InputStream in) throws java.io.IOException {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final byte[] b = new byte[8192];
        try {
            int n;
            while ((n = in.read(b)) >= 0) {
                out.write(b, 0, n);
            }
        } catch (java.net.SocketException reset) {
            // a cut connection may end with a reset
        }
        return out.toByteArray();
    }

    private static String show(String s) {
        final String t = s.length() > 300 ? s.substring(0, 300) + "...(" + s.length() + " chars)" : s;
        return t.replace("\r", "\\r").replace("\n", "\\n").replace("\0", "\\0");
    }
}
