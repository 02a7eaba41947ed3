package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Active health checks from Service annotations: a stopped endpoint is taken out before any request fails on it,
 * comes back once it passes again, and a cluster whose endpoints all fail still serves (panic routing).
 */
class HealthCheckTest {
    private static final EventLoopGroup GROUP = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());

    private static EchoServer echo(String pod, int port) throws InterruptedException {
        return EchoServer.start(GROUP, NioServerSocketChannel.class, new InetSocketAddress("127.0.0.1", port),
                new EchoServer.Identity("default", pod, "", "", "3000"));
    }

    private static String service(String name, String annotations, int... ports) {
        return TestGateway.service(name, ports).replaceFirst("metadata: \\{name: " + name + ", namespace: default}",
                "metadata:\n  name: " + name + "\n  namespace: default\n  annotations:\n" + annotations);
    }

    @Test
    void unhealthyEndpointsAreSkippedAndReturnAndAllUnhealthyStillServes(@TempDir Path dir) throws Exception {
        EchoServer a = echo("hc-a", 0);
        final EchoServer b = echo("hc-b", 0);
        final EchoServer c = echo("hc-c", 0);
        final int portA = a.address().getPort();
        final String checks = """
                    postern.dev/health-check: http
                    postern.dev/health-check-path: /health
                    postern.dev/health-check-interval: 100ms
                    postern.dev/health-check-timeout: 500ms
                    postern.dev/health-check-unhealthy-threshold: "2"
                """;
        final String failing = """
                    postern.dev/health-check: http
                    postern.dev/health-check-path: /status/503
                    postern.dev/health-check-interval: 100ms
                """;
        try (TestGateway gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [hc.test]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: panic, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [panic.test]
                  rules: [{backendRefs: [{name: failing, port: 80}]}]
                """ + service("svc", checks, portA, b.address().getPort())
                + service("failing", failing, c.address().getPort())); RawHttp client = gw.client()) {
            assertEquals(Map.of("hc-a", 5, "hc-b", 5), pods(client, "hc.test", 10), "both healthy: round-robin");

            await(() -> gw.server.context().healthChecker().isUnhealthy(c.address()),
                    "an endpoint answering 503 to its check is unhealthy although it accepts connections");
            a.close();
            await(() -> gw.server.context().healthChecker().isUnhealthy(new InetSocketAddress("127.0.0.1", portA)),
                    "a stopped endpoint fails its checks");
            assertEquals(Map.of("hc-b", 20), pods(client, "hc.test", 20), "no request is sent to it");
            final String m = metrics(gw);
            assertTrue(m.contains("gateway_upstream_unhealthy_endpoints 2.0"), m);
            assertTrue(!m.contains("flag=\"UF\""), "no request failed on the unhealthy endpoint:\n" + m);

            a = echo("hc-a", portA);
            await(() -> !gw.server.context().healthChecker().isUnhealthy(new InetSocketAddress("127.0.0.1", portA)),
                    "the restarted endpoint passes again");
            assertEquals(Map.of("hc-a", 5, "hc-b", 5), pods(client, "hc.test", 10), "back in rotation");

            assertEquals(Map.of("hc-c", 3), pods(client, "panic.test", 3),
                    "every endpoint unhealthy: health is ignored rather than answering 503");
            final String m2 = metrics(gw);
            assertTrue(m2.contains("gateway_upstream_health_checks_total{result=\"failed\"}"), m2);
        } finally {
            a.close();
            b.close();
            c.close();
        }
    }

    private static Map<String, Integer> pods(RawHttp client, String host, int n) throws Exception {
        final Map<String, Integer> out = new HashMap<>();
        for (int i = 0; i < n; i++) {
            final RawHttp.Response r = client.get(host, "/x");
            assertEquals(200, r.status(), r::text);
            final String body = r.text();
            final int at = body.indexOf("\"pod\": \"");
            final String pod = body.substring(at + 8, body.indexOf('"', at + 8));
            out.merge(pod, 1, Integer::sum);
        }
        return out;
    }

    private static String metrics(TestGateway gw) throws Exception {
        return TestGateway.run("curl", "-sS", "http://127.0.0.1:" + gw.server.adminAddress().getPort()
                + "/stats/prometheus");
    }

    private static void await(BooleanSupplier cond, String what) throws InterruptedException {
        final long end = System.nanoTime() + 10_000_000_000L;
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("not within 10 s: " + what);
            }
            Thread.sleep(20);
        }
    }
}
