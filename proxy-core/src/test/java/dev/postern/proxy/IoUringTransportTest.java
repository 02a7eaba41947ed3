package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.PosternServer;

import io.netty.channel.uring.IoUring;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The io_uring transport (Netty 4.2), selected in the bootstrap, carries proxied HTTP/1.1 and h2c requests end to
 * end, and the start-up log says which transport is in use and why. Skipped, with the kernel's reason, where the
 * kernel or a seccomp profile forbids io_uring.
 */
class IoUringTransportTest {
    @Test
    void proxiedRequestsOverIoUring(@TempDir Path dir) throws Exception {
        // Skips only where the kernel forbids io_uring (saying why); -Dpostern.requireAllTests=true fails instead.
        if (Boolean.getBoolean("postern.requireAllTests")) {
            org.junit.jupiter.api.Assertions.assertTrue(IoUring.isAvailable(),
                    () -> "io_uring is not usable here: " + IoUring.unavailabilityCause());
        }
        assumeTrue(IoUring.isAvailable(), () -> "io_uring is not usable here: " + IoUring.unavailabilityCause());
        final EchoServer echo = TestGateway.echo("uring-1");
        try (LogCapture log = new LogCapture(PosternServer.class.getName());
             TestGateway gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort()),
                     Bootstrap.defaults().withTransport("io_uring"))) {
            assertEquals("io_uring", gw.server.context().transport().name());
            assertTrue(log.messages().stream().anyMatch(m -> m.startsWith("transport io_uring (asked for in the "
                    + "bootstrap)")), log.messages().toString());
            // The accepted connection and the upstream connection are both io_uring channels.
            try (RawHttp c = gw.client()) {
                final RawHttp.Response r = c.get("uring.test", "/a");
                assertEquals(200, r.status());
                assertTrue(r.text().contains("\"path\": \"/a\""), r.text());
                final var conns = gw.server.context().connections();
                assertTrue(!conns.isEmpty() && conns.stream().allMatch(ch -> ch.getClass().getSimpleName()
                        .startsWith("IoUring")), "downstream channels are io_uring channels: " + conns);
            }
            final String h2 = TestGateway.run("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                    "--max-time", "10", "--http2-prior-knowledge", "-H", "Host: uring.test", gw.url("/h2"));
            assertEquals("200 2", h2);
        } finally {
            echo.close();
        }
    }
}
