package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TCPRoute: bytes spliced both ways to the backend; half-close and the backend's close pass through. */
class TcpRouteTest {
    @Test
    void relaysBytesBothWays(@TempDir Path dir) throws Exception {
        // A line-echo backend that says hello first, as the suite's TCP echo does.
        final ServerSocket backend = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        final Thread t = Thread.ofVirtual().start(() -> {
            while (!backend.isClosed()) {
                try (Socket s = backend.accept()) {
                    final OutputStream out = s.getOutputStream();
                    out.write("hello\n".getBytes(StandardCharsets.US_ASCII));
                    s.getInputStream().transferTo(out);
                } catch (java.io.IOException e) {
                    return;
                }
            }
        });
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: tcp, protocol: TCP, port: %d}]
                ---
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TCPRoute
                metadata: {name: t, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: db, port: 5432}]}]
                """.formatted(port) + TestGateway.service("db", backend.getLocalPort()).replace("port: 80",
                "port: 5432"));
        try (TestGateway gw = TestGateway.startRaw(dir, port); Socket c = new Socket()) {
            c.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            c.setSoTimeout(10_000);
            final InputStream in = c.getInputStream();
            assertEquals("hello\n", new String(in.readNBytes(6), StandardCharsets.US_ASCII));
            final byte[] big = new byte[4 << 20];
            java.util.concurrent.ThreadLocalRandom.current().nextBytes(big);
            final Thread w = Thread.ofVirtual().start(() -> {
                try {
                    c.getOutputStream().write(big);
                    c.shutdownOutput(); // half-close: the backend sees EOF, then closes its side
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            final byte[] back = in.readAllBytes();
            w.join();
            assertTrue(java.util.Arrays.equals(big, back), "4 MiB echoed intact, " + back.length + " bytes back");
        } finally {
            backend.close();
            t.join();
        }
    }
}
