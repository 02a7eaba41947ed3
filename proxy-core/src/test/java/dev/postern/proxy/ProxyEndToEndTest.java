package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.PosternServer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Postern in front of real echo backends: what the backend received and what the client got.
 */
class ProxyEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static EchoServer a1;
    private static EchoServer a2;
    private static EchoServer b;
    private static HttpServer sink;
    private static int closedPort;

    @BeforeAll
    static void backends() throws Exception {
        a1 = TestGateway.echo("a-1");
        a2 = TestGateway.echo("a-2");
        b = TestGateway.echo("b-1");
        closedPort = TestGateway.freePort();
        // A backend that answers with the length and SHA-256 of the body it received.
        sink = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        sink.createContext("/", ex -> {
            final MessageDigest md;
            long n = 0;
            try (InputStream in = ex.getRequestBody()) {
                md = MessageDigest.getInstance("SHA-256");
                final byte[] buf = new byte[65536];
                int r;
                while ((r = in.read(buf)) > 0) {
                    md.update(buf, 0, r);
                    n += r;
                }
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            final byte[] out = (n + " " + HexFormat.of().formatHex(md.digest())).getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, out.length);
            ex.getResponseBody().write(out);
            ex.close();
        });
        sink.start();
    }

    @AfterAll
    static void stop() {
        a1.close();
        a2.close();
        b.close();
        sink.stop(0);
    }

    private static String routes() {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: a, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [a.test]
                  rules:
                  - backendRefs: [{name: svc-a, port: 80}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: b, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [b.test]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /b}}]
                    backendRefs: [{name: svc-b, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /down}}]
                    backendRefs: [{name: svc-down, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /none}}]
                    backendRefs: [{name: svc-none, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /missing}}]
                    backendRefs: [{name: no-such-service, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /sink}}]
                    backendRefs: [{name: svc-sink, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /redirect}}]
                    filters:
                    - type: RequestRedirect
                      requestRedirect: {scheme: https, hostname: secure.test, statusCode: 301}
                  - matches: [{path: {type: PathPrefix, value: /rewrite}}]
                    filters:
                    - type: URLRewrite
                      urlRewrite: {hostname: rewritten.test, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
                    - type: ResponseHeaderModifier
                      responseHeaderModifier: {set: [{name: X-Resp, value: r1}], remove: [X-Content-Type-Options]}
                    backendRefs: [{name: svc-b, port: 80}]
                """
                + TestGateway.service("svc-a", a1.address().getPort(), a2.address().getPort())
                + TestGateway.service("svc-b", b.address().getPort())
                + TestGateway.service("svc-down", closedPort)
                + TestGateway.service("svc-none")
                + TestGateway.service("svc-sink", sink.getAddress().getPort());
    }

    private static JsonNode json(RawHttp.Response r) throws Exception {
        assertEquals("application/json", r.header("content-type"));
        return JSON.readTree(r.body());
    }

    @Test
    void routesByHostAndPathAndReportsErrors(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            final RawHttp.Response ra = c.get("a.test", "/anything?x=1");
            assertEquals(200, ra.status());
            final JsonNode ja = json(ra);
            assertTrue(ja.get("pod").asText().startsWith("a-"), ja::toString);
            assertEquals("/anything?x=1", ja.get("path").asText());
            assertEquals("a.test", ja.get("host").asText());
            assertNotNull(ra.header("x-envoy-upstream-service-time"));

            final JsonNode jb = json(c.get("B.Test:" + gw.port, "/b/1"));
            assertEquals("b-1", jb.get("pod").asText());
            assertEquals("B.Test:" + gw.port, jb.get("host").asText(), "Host is forwarded as received");

            assertEquals(404, c.get("b.test", "/nothing-here").status());
            assertEquals(404, c.get("unknown.test", "/").status());
            final RawHttp.Response down = c.get("b.test", "/down");
            assertEquals(502, down.status());
            assertTrue(down.text().contains("connection failure"), down::text);
            final RawHttp.Response none = c.get("b.test", "/none");
            assertEquals(503, none.status());
            assertEquals("no healthy upstream", none.text());
            assertEquals(500, c.get("b.test", "/missing").status());
            // The connection survived every error response.
            assertEquals(200, c.get("a.test", "/").status());
        }
    }

    @Test
    void roundRobinsAcrossEndpoints(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            final java.util.Set<String> pods = new java.util.HashSet<>();
            for (int i = 0; i < 6; i++) {
                pods.add(json(c.get("a.test", "/")).get("pod").asText());
            }
            assertEquals(java.util.Set.of("a-1", "a-2"), pods);
        }
    }

    @Test
    void appendsXffAndSetsExternalAddress(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes())) {
            final String local = PosternServer.localAddress();
            try (RawHttp c = gw.client()) {
                final JsonNode h = json(c.get("b.test", "/b", "X-Forwarded-For: 1.2.3.4",
                        "x-envoy-retry-on: 5xx")).get("headers");
                assertEquals("1.2.3.4," + local, h.get("X-Forwarded-For").get(0).asText());
                assertEquals("127.0.0.1", h.get("X-Envoy-External-Address").get(0).asText());
                assertEquals("http", h.get("X-Forwarded-Proto").get(0).asText());
                assertNull(h.get("X-Envoy-Retry-On"), "external requests lose x-envoy control headers");
                assertNull(h.get("X-Envoy-Internal"));
            }
            try (RawHttp c = gw.client()) {
                final JsonNode h = json(c.get("b.test", "/b")).get("headers");
                assertEquals(local, h.get("X-Forwarded-For").get(0).asText(), "loopback peer: local address");
                assertEquals("true", h.get("X-Envoy-Internal").get(0).asText());
                assertNull(h.get("X-Envoy-External-Address"));
            }
            // 127.0.0.2 is loopback but not in the internal ranges (127.0.0.1/32): external.
            try (RawHttp c = new RawHttp(gw.address(), "127.0.0.2")) {
                final JsonNode h = json(c.get("b.test", "/b")).get("headers");
                assertEquals("127.0.0.2", h.get("X-Envoy-External-Address").get(0).asText());
            }
        }
    }

    @Test
    void keepAliveReusesTheUpstreamConnection(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            final int before = b.connectionsAccepted();
            for (int i = 0; i < 10; i++) {
                assertEquals(200, c.get("b.test", "/b/" + i).status());
            }
            assertEquals(1, b.connectionsAccepted() - before, "ten requests, one upstream connection");
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            c.send("GET /b/first HTTP/1.1\r\nHost: b.test\r\n\r\nGET /nope HTTP/1.1\r\nHost: b.test\r\n\r\n"
                    + "GET /b/third HTTP/1.1\r\nHost: b.test\r\n\r\n");
            assertEquals("/b/first", json(c.read(false)).get("path").asText());
            assertEquals(404, c.read(false).status());
            assertEquals("/b/third", json(c.read(false)).get("path").asText());
        }
    }

    @Test
    void streamsRequestBodiesIntact(@TempDir Path dir) throws Exception {
        final byte[] body = new byte[3 * 1024 * 1024 + 17];
        ThreadLocalRandom.current().nextBytes(body);
        final String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body));
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            c.send("POST /sink HTTP/1.1\r\nHost: b.test\r\nContent-Length: " + body.length + "\r\n\r\n");
            c.sendBytes(body);
            assertEquals(body.length + " " + sha, c.read(false).text());
            // The same body again, chunked, on the same connection.
            final StringBuilder head = new StringBuilder("POST /sink HTTP/1.1\r\nHost: b.test\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n");
            c.send(head.toString());
            for (int off = 0; off < body.length; off += 100_000) {
                final int n = Math.min(100_000, body.length - off);
                c.send(Integer.toHexString(n) + "\r\n");
                c.sendBytes(java.util.Arrays.copyOfRange(body, off, off + n));
                c.send("\r\n");
            }
            c.send("0\r\n\r\n");
            assertEquals(body.length + " " + sha, c.read(false).text());
        }
    }

    @Test
    void redirectRewriteAndResponseHeaders(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            final RawHttp.Response r = c.get("b.test", "/redirect/x?q=1");
            assertEquals(301, r.status());
            assertEquals("https://secure.test/redirect/x?q=1", r.header("location"));
            final RawHttp.Response w = c.get("b.test", "/rewrite/rest?q=2");
            final JsonNode j = json(w);
            assertEquals("/new/rest?q=2", j.get("path").asText());
            assertEquals("rewritten.test", j.get("host").asText());
            assertEquals("r1", w.header("x-resp"));
            assertNull(w.header("x-content-type-options"));
        }
    }

    @Test
    void malformedRequestsGet400AndClose(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes())) {
            try (RawHttp c = gw.client()) {
                c.send("GET /b HTTP/1.1\r\n\r\n"); // no Host
                assertEquals(400, c.read(false).status());
                assertTrue(c.closedByPeer());
            }
            try (RawHttp c = gw.client()) {
                c.send("GARBAGE\r\n\r\n");
                assertEquals(400, c.read(false).status());
                assertTrue(c.closedByPeer());
            }
            try (RawHttp c = gw.client()) {
                c.send("GET /b HTTP/1.1\r\nHost: b.test\r\nX-Big: " + "x".repeat(70_000) + "\r\n\r\n");
                assertEquals(431, c.read(false).status());
            }
        }
    }

    @Test
    void hotReloadPublishesGoodConfigAndKeepsItOverBadConfig(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            assertEquals(404, c.get("new.test", "/").status());
            final long v = gw.ref.table().version();
            Files.writeString(dir.resolve("extra.yaml"), """
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: HTTPRoute
                    metadata: {name: added, namespace: default}
                    spec:
                      parentRefs: [{name: gw}]
                      hostnames: [new.test]
                      rules: [{backendRefs: [{name: svc-b, port: 80}]}]
                    """);
            awaitVersionAbove(gw, v);
            assertEquals(200, c.get("new.test", "/").status());
            final long v2 = gw.ref.table().version();
            Files.writeString(dir.resolve("broken.yaml"), "kind: HTTPRoute\nmetadata: {name: [\n");
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (gw.ref.snapshot().lastRejected().isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(gw.ref.snapshot().lastRejected().stream().anyMatch(d -> d.file().endsWith("broken.yaml")));
            assertEquals(v2, gw.ref.table().version(), "a rejected build never replaces the live table");
            assertEquals(200, c.get("new.test", "/").status());
        }
    }

    @Test
    void retriesConnectFailuresOnAnotherEndpoint(@TempDir Path dir) throws Exception {
        final String yaml = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /retry}}]
                    retry: {attempts: 1, backoff: 1ms}
                    backendRefs: [{name: svc-half, port: 80}]
                  - backendRefs: [{name: svc-half, port: 80}]
                """ + TestGateway.service("svc-half", closedPort, b.address().getPort());
        try (TestGateway gw = TestGateway.start(dir, yaml); RawHttp c = gw.client()) {
            int failures = 0;
            for (int i = 0; i < 8; i++) {
                assertEquals(200, c.get("any.test", "/retry/" + i).status(), "retried on the live endpoint");
                if (c.get("any.test", "/plain/" + i).status() == 502) {
                    failures++;
                }
            }
            assertTrue(failures > 0, "without a retry policy the dead endpoint answers 502");
        }
    }

    /**
     * {@code Expect: 100-continue} is answered by Postern and not forwarded (Envoy's default): the 100 comes
     * before any body is sent, the backend never sees the expectation, and a pipelined request's 100 comes only
     * after the response before it; curl waits for it before it sends its body.
     */
    @Test
    void expectContinueIsAnsweredByPostern(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            c.send("POST /sink HTTP/1.1\r\nHost: b.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
            assertEquals(100, c.read(false).status(), "100 Continue before the body is sent");
            c.send("hello");
            final String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest("hello".getBytes(StandardCharsets.US_ASCII)));
            assertEquals("5 " + sha, c.read(false).text());
            // Pipelined behind a GET: the GET's response first, then the 100, then the POST's response.
            c.send("GET /b/first HTTP/1.1\r\nHost: b.test\r\n\r\n"
                    + "POST /b/second HTTP/1.1\r\nHost: b.test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
            assertEquals("/b/first", json(c.read(false)).get("path").asText());
            assertEquals(100, c.read(false).status());
            c.send("ok");
            final JsonNode second = json(c.read(false));
            assertEquals("/b/second", second.get("path").asText());
            assertNull(second.get("headers").get("Expect"), "the expectation is not forwarded: " + second);
        }
        try (TestGateway gw = TestGateway.start(dir, routes())) {
            final Path body = dir.resolve("body.bin");
            java.nio.file.Files.write(body, new byte[256 * 1024]);
            final Process p = new ProcessBuilder("curl", "-sS", "-v", "--max-time", "10", "-H", "Host: b.test",
                    "-H", "Expect: 100-continue", "--expect100-timeout", "5", "--data-binary", "@" + body, "http://127.0.0.1:" + gw.port + "/sink")
                    .redirectErrorStream(true).start();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, p.waitFor(), out);
            assertTrue(out.contains("> Expect: 100-continue"), "curl asked for 100-continue: " + out);
            assertTrue(out.contains("< HTTP/1.1 100 Continue"), out);
            assertTrue(out.contains((256 * 1024) + " "), out);
        }
    }

    @Test
    void curlThroughTheGateway(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes())) {
            final Process p = new ProcessBuilder("curl", "-sS", "--max-time", "10", "-H", "Host: b.test",
                    "-H", "X-Forwarded-For: 9.9.9.9", "http://127.0.0.1:" + gw.port + "/b/curl?y=2")
                    .redirectErrorStream(true).start();
            final byte[] out = p.getInputStream().readAllBytes();
            assertEquals(0, p.waitFor(), new String(out, StandardCharsets.UTF_8));
            final JsonNode j = JSON.readTree(out);
            assertEquals("/b/curl?y=2", j.get("path").asText());
            assertTrue(j.get("headers").get("X-Forwarded-For").get(0).asText().startsWith("9.9.9.9,"));
            assertArrayEquals(new String[] {"curl"}, new String[] {j.get("headers").get("User-Agent").get(0)
                    .asText().split("/")[0]});
        }
    }

    static void awaitVersionAbove(TestGateway gw, long v) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (gw.ref.table().version() <= v && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(gw.ref.table().version() > v, "reload did not happen");
    }
}
