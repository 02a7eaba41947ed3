package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Upstream policy (issue 4): least-request balancing chosen per Service by annotation, the max-connections and
 * max-pending-requests circuit breakers (503 UO), and Envoy's timeout headers, against real backends.
 */
class UpstreamPolicyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static EchoServer fast;
    /** A backend that holds every request until {@link #gate} opens, counting what it received. */
    private static HttpServer slow;
    private static volatile CountDownLatch gate = new CountDownLatch(0);
    private static final AtomicInteger slowHits = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        fast = TestGateway.echo("fast-1");
        slow = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 100);
        slow.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        slow.createContext("/", ex -> {
            slowHits.incrementAndGet();
            try {
                gate.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            final byte[] b = "slow".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        slow.start();
    }

    @AfterAll
    static void stop() {
        fast.close();
        slow.stop(0);
    }

    /** A Service with one endpoint per port, and the lb-policy annotation when {@code lb} is not null. */
    private static String service(String name, String lb, int... ports) {
        final String svc = TestGateway.service(name, ports);
        return lb == null ? svc : svc.replaceFirst("metadata: \\{name: " + name + ", namespace: default}",
                "metadata: {name: " + name + ", namespace: default, annotations: {postern.dev/lb-policy: " + lb
                        + "}}");
    }

    private static String routes() {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /lr}}]
                    backendRefs: [{name: svc-lr, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /rr}}]
                    backendRefs: [{name: svc-rr, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /slow}}]
                    backendRefs: [{name: svc-slow, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /both}}]
                    timeouts: {request: 5s, backendRequest: 2s}
                    backendRefs: [{name: svc-fast, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /request}}]
                    timeouts: {request: 3s}
                    backendRefs: [{name: svc-fast, port: 80}]
                  - backendRefs: [{name: svc-fast, port: 80}]
                """
                + service("svc-lr", "least_request", fast.address().getPort(), slow.getAddress().getPort())
                + service("svc-rr", null, fast.address().getPort(), slow.getAddress().getPort())
                + service("svc-slow", null, slow.getAddress().getPort())
                + service("svc-fast", null, fast.address().getPort());
    }

    /** Sends {@code n} requests for {@code path}, 40 ms apart, each on its own connection; returns their statuses. */
    private static List<Future<Integer>> fire(TestGateway gw, ExecutorService pool, String path, int n)
            throws InterruptedException {
        final List<Future<Integer>> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(pool.submit(() -> {
                try (RawHttp c = gw.client()) {
                    return c.get("lb.test", path).status();
                }
            }));
            Thread.sleep(40); // time for a fast exchange to finish even on a loaded CI core
        }
        return out;
    }

    @Test
    void leastRequestAvoidsTheBusyEndpointRoundRobinDoesNot(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes(), Bootstrap.defaults().withEventLoops(1));
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (String path : new String[] {"/lr", "/rr"}) {
                gate = new CountDownLatch(1);
                slowHits.set(0);
                final List<Future<Integer>> rs = fire(gw, pool, path, 20);
                Thread.sleep(300);
                final int toSlow = slowHits.get();
                gate.countDown();
                for (Future<Integer> f : rs) {
                    assertEquals(200, f.get(10, TimeUnit.SECONDS));
                }
                if (path.equals("/lr")) {
                    // The slow endpoint holds its requests: power of two choices sends the rest to the idle one.
                    assertTrue(toSlow <= 5, "least request sent " + toSlow + " of 20 to the busy endpoint");
                } else {
                    assertTrue(toSlow >= 8, "round-robin sent " + toSlow + " of 20 to the busy endpoint");
                }
            }
        }
    }

    @Test
    void connectionAndPendingBreakersAnswer503Overflow(@TempDir Path dir) throws Exception {
        final Bootstrap b = Bootstrap.defaults().withEventLoops(1).withAccessLog(false)
                .withUpstreamPolicy(new Bootstrap.UpstreamPolicy("round_robin", 1, 1));
        try (TestGateway gw = TestGateway.start(dir, routes(), b);
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            gate = new CountDownLatch(1);
            slowHits.set(0);
            // A takes the cluster's only connection and is held by the backend.
            final Future<Integer> a = pool.submit(() -> {
                try (RawHttp c = gw.client()) {
                    return c.get("cb.test", "/slow/a").status();
                }
            });
            while (slowHits.get() < 1) {
                Thread.sleep(10);
            }
            // B waits for a connection (pending 1 of 1).
            final Future<Integer> bReq = pool.submit(() -> {
                try (RawHttp c = gw.client()) {
                    return c.get("cb.test", "/slow/b").status();
                }
            });
            Thread.sleep(300);
            // C finds the pending queue full: 503 UO at once.
            try (RawHttp c = gw.client()) {
                final RawHttp.Response r = c.get("cb.test", "/slow/c");
                assertEquals(503, r.status());
                assertEquals("upstream connect error or disconnect/reset before headers. reset reason: overflow",
                        r.text());
            }
            assertEquals(1, slowHits.get(), "B and C never reached the backend while A held the connection");
            gate.countDown();
            assertEquals(200, a.get(10, TimeUnit.SECONDS));
            assertEquals(200, bReq.get(10, TimeUnit.SECONDS), "B got the connection A released");
            final String m = gw.server.context().metrics().scrape();
            assertTrue(m.contains("gateway_upstream_overflows_total{breaker=\"pending\"} 1.0"), m);
            assertTrue(m.contains("gateway_upstream_overflows_total{breaker=\"connections\"} 1.0"), m);
            assertTrue(m.contains("gateway_proxy_errors_total{flag=\"UO\"} 1.0"), m);
        }
    }

    /**
     * Pooled upstream connections are closed after upstream.idleTimeout: a raw backend answers one keep-alive
     * response and then watches for Postern to close the connection.
     */
    @Test
    void idlePooledUpstreamConnectionsAreClosed(@TempDir Path dir) throws Exception {
        try (java.net.ServerSocket raw = new java.net.ServerSocket(0, 10, java.net.InetAddress.getLoopbackAddress());
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            final Future<Long> closedAfter = pool.submit(() -> {
                try (java.net.Socket s = raw.accept()) {
                    final java.io.InputStream in = s.getInputStream();
                    final byte[] buf = new byte[8192];
                    final StringBuilder head = new StringBuilder();
                    while (!head.toString().contains("\r\n\r\n")) {
                        final int n = in.read(buf);
                        head.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
                    }
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                            .getBytes(StandardCharsets.US_ASCII));
                    final long t0 = System.nanoTime();
                    s.setSoTimeout(10_000);
                    final int eof = in.read(buf);
                    assertEquals(-1, eof, "nothing but a close after the response");
                    return (System.nanoTime() - t0) / 1_000_000;
                }
            });
            final String yaml = """
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: HTTPRoute
                    metadata: {name: r, namespace: default}
                    spec:
                      parentRefs: [{name: gw}]
                      rules: [{backendRefs: [{name: svc-raw, port: 80}]}]
                    """ + service("svc-raw", null, raw.getLocalPort());
            try (TestGateway gw = TestGateway.start(dir, yaml, Bootstrap.defaults()
                    .withUpstreamIdleTimeout(java.time.Duration.ofMillis(500)));
                 RawHttp c = gw.client()) {
                assertEquals(200, c.get("idle.test", "/").status());
                final long ms = closedAfter.get(10, TimeUnit.SECONDS);
                assertTrue(ms >= 400 && ms < 3000, "pooled connection closed after " + ms + " ms idle");
            }
        }
    }

    @Test
    void expectedTimeoutAndServiceTimeHeaders(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes()); RawHttp c = gw.client()) {
            // Per-try timeout below the request timeout: the per-try one.
            RawHttp.Response r = c.get("t.test", "/both");
            JsonNode h = JSON.readTree(r.body()).get("headers");
            assertEquals("2000", h.get("X-Envoy-Expected-Rq-Timeout-Ms").get(0).asText());
            assertTrue(Long.parseLong(r.header("x-envoy-upstream-service-time")) >= 0);
            // Only a request timeout: what is left of it.
            r = c.get("t.test", "/request");
            h = JSON.readTree(r.body()).get("headers");
            final long left = Long.parseLong(h.get("X-Envoy-Expected-Rq-Timeout-Ms").get(0).asText());
            assertTrue(left > 2900 && left <= 3000, "expected timeout " + left);
            // No timeout: no header.
            r = c.get("t.test", "/none");
            h = JSON.readTree(r.body()).get("headers");
            assertNull(h.get("X-Envoy-Expected-Rq-Timeout-Ms"));
            assertTrue(r.header("x-envoy-upstream-service-time") != null);
        }
    }
}
