package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.observe.AccessLog;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Metrics by route and status class at /stats/prometheus, and the access log line format. */
class ObservabilityTest {
    @Test
    void countsRequestsByRouteAndStatusClass(@TempDir Path dir) throws Exception {
        final EchoServer echo = TestGateway.echo("obs-1");
        try (TestGateway gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [obs.test]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort())); RawHttp c = gw.client()) {
            for (int i = 0; i < 3; i++) {
                assertEquals(200, c.get("obs.test", "/ok").status());
            }
            assertEquals(404, c.get("nothing.test", "/").status());
            final String admin = "http://127.0.0.1:" + gw.server.adminAddress().getPort();
            final String m = TestGateway.run("curl", "-sS", admin + "/stats/prometheus");
            assertTrue(m.contains("gateway_downstream_requests_total{code_class=\"2xx\",gateway=\"default/gw\",listener=\"http\",route=\"httproute/default/r\"} 3.0"), m);
            assertTrue(m.contains("gateway_downstream_requests_total{code_class=\"4xx\",gateway=\"default/gw\",listener=\"http\",route=\"none\"} 1.0"), m);
            assertTrue(m.contains("gateway_proxy_errors_total{flag=\"NR\"} 1.0"), m);
            assertTrue(m.contains("gateway_downstream_connections_active"), m);
        } finally {
            echo.close();
        }
    }

    @Test
    void circuitBreakerAndHealthcheckFail(@TempDir Path dir) throws Exception {
        final EchoServer echo = TestGateway.echo("cb-1");
        try (TestGateway gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort()),
                dev.postern.proxy.server.Bootstrap.defaults().withEventLoops(1).withMaxRequests(1));
             RawHttp slow = gw.client(); RawHttp fast = gw.client()) {
            slow.send("GET /slow?delay=700ms HTTP/1.1\r\nHost: cb.test\r\n\r\n");
            Thread.sleep(200);
            final RawHttp.Response over = fast.get("cb.test", "/fast");
            assertEquals(503, over.status(), "one request in flight is the limit");
            assertTrue(over.text().contains("overflow"), over::text);
            assertEquals(200, slow.read(false).status());
            assertEquals(200, fast.get("cb.test", "/again").status(), "the slot is free again");
            final String admin = "http://127.0.0.1:" + gw.server.adminAddress().getPort();
            assertEquals("200", TestGateway.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    admin + "/ready"));
            TestGateway.run("curl", "-s", admin + "/healthcheck/fail");
            assertEquals("503", TestGateway.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    admin + "/ready"), "/healthcheck/fail takes the node out");
            TestGateway.run("curl", "-s", admin + "/healthcheck/ok");
            assertEquals("200", TestGateway.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    admin + "/ready"));
        } finally {
            echo.close();
        }
    }

    @Test
    void formatsEnvoysDefaultLine() {
        final StringBuilder sb = new StringBuilder();
        AccessLog.format(sb, new AccessLog.Entry(0, "GET", "/a?b=1", "HTTP/1.1", 503, "UH", 0, 19, 2, null,
                "1.2.3.4", "curl/8", "id-1", "h.test", null, null));
        assertEquals("[1970-01-01T00:00:00.000Z] \"GET /a?b=1 HTTP/1.1\" 503 UH 0 19 2 - \"1.2.3.4\" \"curl/8\" "
                + "\"id-1\" \"h.test\" \"-\"\n", sb.toString());
    }
}
