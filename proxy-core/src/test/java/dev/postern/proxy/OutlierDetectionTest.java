package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.postern.proxy.echo.EchoServer;

import com.sun.net.httpserver.HttpServer;

import java.net.InetSocketAddress;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Passive outlier detection with Envoy's defaults: five consecutive 5xx eject an endpoint for 30 s. */
class OutlierDetectionTest {
    @Test
    void ejectsAnEndpointAfterFiveConsecutive5xx(@TempDir Path dir) throws Exception {
        final HttpServer broken = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        broken.createContext("/", ex -> {
            ex.sendResponseHeaders(503, -1);
            ex.close();
        });
        broken.start();
        final EchoServer healthy = TestGateway.echo("healthy-1");
        try (TestGateway gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", broken.getAddress().getPort(), healthy.address().getPort()));
             RawHttp c = gw.client()) {
            int unavailable = 0;
            for (int i = 0; i < 30; i++) {
                if (c.get("o.test", "/" + i).status() == 503) {
                    unavailable++;
                }
            }
            assertEquals(5, unavailable, "the broken endpoint answers five times, then it is ejected");
        } finally {
            broken.stop(0);
            healthy.close();
        }
    }
}
