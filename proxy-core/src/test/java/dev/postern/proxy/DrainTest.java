package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import java.net.ConnectException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Graceful drain (what SIGTERM runs): in-flight exchanges finish with Connection: close, idle ones close. */
class DrainTest {
    @Test
    void inFlightFinishesIdleClosesNewRefused(@TempDir Path dir) throws Exception {
        final EchoServer echo = TestGateway.echo("drain-1");
        try (TestGateway gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort()));
             RawHttp busy = gw.client(); RawHttp idle = gw.client()) {
            assertEquals(200, idle.get("d.test", "/first").status());
            busy.send("GET /slow?delay=800ms HTTP/1.1\r\nHost: d.test\r\n\r\n");
            Thread.sleep(200); // the slow request is now in flight
            final CompletableFuture<Boolean> drained = CompletableFuture.supplyAsync(
                    () -> gw.server.drain(Duration.ofSeconds(5)));
            final RawHttp.Response r = busy.read(false);
            assertEquals(200, r.status(), "the in-flight exchange completes");
            assertEquals("close", r.header("connection"));
            assertTrue(busy.closedByPeer());
            assertTrue(idle.closedByPeer(), "an idle kept-alive connection is closed");
            assertTrue(drained.get(), "every connection ended before the drain timeout");
            assertThrows(ConnectException.class, () -> new RawHttp(gw.address()).close(), "no longer accepting");
        } finally {
            echo.close();
        }
    }
}
