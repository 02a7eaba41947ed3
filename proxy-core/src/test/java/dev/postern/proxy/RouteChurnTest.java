package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Routes and endpoints change every 100 ms while two clients (HTTP/1.1 keep-alive and HTTP/2) send requests
 * without pause, for 60 s ({@code -Dchurn.seconds}): not one request may fail. The public gateway-api-bench saw
 * Cilium and Envoy Gateway answer 503s in exactly this situation.
 *
 * <p>Each tick rewrites files the way a user would (a temporary file renamed into place): it adds a route, removes
 * the oldest added one, changes the header filter of the route the clients use, and moves that route's Service
 * between two EndpointSlices (two live backends). The churner also checks that each added route answers 200
 * once published, so the churn is real, not rejected builds.
 */
class RouteChurnTest {
    private static final int SECONDS = Integer.getInteger("churn.seconds", 60);
    private static final AtomicLong SEEN_A = new AtomicLong();
    private static final AtomicLong SEEN_B = new AtomicLong();

    @Test
    void noRequestFailsWhileRoutesAndEndpointsChange(@TempDir Path root) throws Exception {
        final EchoServer a = TestGateway.echo("churn-a");
        final EchoServer b = TestGateway.echo("churn-b");
        final Path dir = Files.createDirectories(root.resolve("config"));
        try (TestGateway gw = TestGateway.start(dir, stable(0, a.address().getPort()))) {
            final AtomicBoolean stop = new AtomicBoolean();
            final ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
            final AtomicLong h1 = new AtomicLong();
            final AtomicLong h2 = new AtomicLong();
            final Thread c1 = Thread.ofPlatform().name("churn-h1").start(() -> http1(gw, stop, h1, failures));
            final Thread c2 = Thread.ofPlatform().name("churn-h2").start(() -> http2(gw, stop, h2, failures));

            final List<Integer> live = new ArrayList<>();
            int published = 0;
            final long end = System.nanoTime() + Duration.ofSeconds(SECONDS).toNanos();
            final HttpClient probe = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(2)).build();
            for (int tick = 1; System.nanoTime() < end && failures.isEmpty(); tick++) {
                write(root, dir.resolve("churn-" + tick + ".yaml"), churnRoute(tick));
                live.add(tick);
                if (live.size() > 20) {
                    Files.delete(dir.resolve("churn-" + live.removeFirst() + ".yaml"));
                }
                write(root, dir.resolve("routes.yaml"),
                        stable(tick, (tick % 2 == 0 ? a : b).address().getPort()));
                Thread.sleep(100);
                if (tick % 10 == 0) {
                    // The route added 10 ticks ago must be served by now (1 s, far beyond the reload latency).
                    final int t = tick - 9;
                    final HttpResponse<String> r = probe.send(HttpRequest.newBuilder(
                            URI.create(gw.url("/churn-" + t)))
                            .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                    assertEquals(200, r.statusCode(), "added route churn-" + t + " is served");
                    published++;
                }
            }
            stop.set(true);
            c1.join(10_000);
            c2.join(10_000);
            assertTrue(failures.isEmpty(), () -> failures.size() + " requests failed, first: " + failures.peek());
            assertTrue(published >= SECONDS / 2, "the churn published routes: " + published);
            assertTrue(SEEN_A.get() > 0 && SEEN_B.get() > 0, "the endpoint moves took effect: a "
                    + SEEN_A.get() + ", b " + SEEN_B.get());
            // Both clients were busy the whole time (hundreds of requests a second even on a loaded CI core).
            assertTrue(h1.get() > SECONDS * 50L, "HTTP/1.1 requests: " + h1.get());
            assertTrue(h2.get() > SECONDS * 50L, "HTTP/2 requests: " + h2.get());
            System.out.printf("route churn: %d s, %d HTTP/1.1 + %d HTTP/2 requests, 0 failed, %d ticks checked%n",
                    SECONDS, h1.get(), h2.get(), published);
        } finally {
            a.close();
            b.close();
        }
    }

    /** HTTP/1.1 keep-alive on one connection (reopened only if the gateway closed it, which counts as failure). */
    private static void http1(TestGateway gw, AtomicBoolean stop, AtomicLong n, ConcurrentLinkedQueue<String> fail) {
        try (RawHttp c = gw.client()) {
            while (!stop.get()) {
                final RawHttp.Response r = c.get("churn.test", "/stable/" + n.get());
                if (r.status() != 200) {
                    fail.add("HTTP/1.1 status " + r.status() + ": " + r.text());
                    return;
                }
                final String body = r.text();
                if (body.contains("\"churn-a\"")) {
                    SEEN_A.incrementAndGet();
                } else if (body.contains("\"churn-b\"")) {
                    SEEN_B.incrementAndGet();
                }
                n.incrementAndGet();
            }
        } catch (Exception e) {
            fail.add("HTTP/1.1: " + e);
        }
    }

    /** HTTP/2 (h2c after the Upgrade of the first request) on one connection, Java's HttpClient. */
    private static void http2(TestGateway gw, AtomicBoolean stop, AtomicLong n, ConcurrentLinkedQueue<String> fail) {
        final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2)
                .connectTimeout(Duration.ofSeconds(2)).build();
        try {
            while (!stop.get()) {
                final HttpResponse<String> r = client.send(HttpRequest.newBuilder(
                        URI.create(gw.url("/stable/h2/" + n.get())))
                        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 200) {
                    fail.add("HTTP/2 status " + r.statusCode() + ": " + r.body());
                    return;
                }
                if (n.get() > 0 && r.version() != HttpClient.Version.HTTP_2) {
                    fail.add("not HTTP/2 after the upgrade: " + r.version());
                    return;
                }
                n.incrementAndGet();
            }
        } catch (Exception e) {
            fail.add("HTTP/2: " + e);
        } finally {
            client.close();
        }
    }

    /** The route the clients use, with a header value that changes each tick, over Service svc at {@code port}. */
    private static String stable(int tick, int port) {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: stable, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /stable}}]
                    filters:
                    - type: RequestHeaderModifier
                      requestHeaderModifier: {set: [{name: x-churn-tick, value: "%d"}]}
                    backendRefs: [{name: svc, port: 80}]
                """.formatted(tick) + TestGateway.service("svc", port);
    }

    /** A route added by the churn: {@code /churn-<tick>}, an Exact path. (Hostname-less routes: Java's HttpClient
     * cannot set Host.) */
    private static String churnRoute(int tick) {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: churn-%d, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules:
                  - matches: [{path: {type: Exact, value: /churn-%d}}]
                    backendRefs: [{name: svc, port: 80}]
                """.formatted(tick, tick);
    }

    private static void write(Path scratch, Path target, String yaml) throws Exception {
        final Path tmp = Files.createTempFile(scratch, "churn", ".tmp");
        Files.writeString(tmp, yaml);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
