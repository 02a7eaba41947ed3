package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.server.Bootstrap;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * UDPRoute on loopback: a session per client address and port to a real UDP echo backend, replies from the Gateway
 * address and port, the idle timeout, and the bounded session table.
 */
class UdpRouteTest {

    /** A UDP backend that answers each datagram with {@code "<payload> via <sender address:port>"}. */
    static final class UdpEcho implements AutoCloseable {
        final DatagramSocket socket;
        final Thread thread;

        UdpEcho() throws Exception {
            socket = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            thread = Thread.ofVirtual().start(() -> {
                final byte[] buf = new byte[65535];
                while (!socket.isClosed()) {
                    try {
                        final DatagramPacket p = new DatagramPacket(buf, buf.length);
                        socket.receive(p);
                        final byte[] out = (new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8)
                                + " via " + p.getPort()).getBytes(StandardCharsets.UTF_8);
                        socket.send(new DatagramPacket(out, out.length, p.getSocketAddress()));
                    } catch (java.io.IOException e) {
                        return;
                    }
                }
            });
        }

        int port() {
            return socket.getLocalPort();
        }

        @Override
        public void close() throws Exception {
            socket.close();
            thread.join();
        }
    }

    static String config(int gatewayPort, int backendPort) {
        return TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: dns, protocol: UDP, port: %d}]
                ---
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: UDPRoute
                metadata: {name: u, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: dns, port: 53}]}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: dns, namespace: default}
                spec: {ports: [{name: dns, port: 53, protocol: UDP}]}
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: dns-0, namespace: default, labels: {kubernetes.io/service-name: dns}}
                addressType: IPv4
                endpoints: [{addresses: [127.0.0.1]}]
                ports: [{name: dns, port: %d, protocol: UDP}]
                """.formatted(gatewayPort, backendPort);
    }

    static String exchange(DatagramSocket s, InetSocketAddress to, String text) throws Exception {
        final byte[] b = text.getBytes(StandardCharsets.UTF_8);
        s.send(new DatagramPacket(b, b.length, to));
        final DatagramPacket r = new DatagramPacket(new byte[65535], 65535);
        s.receive(r);
        assertEquals(to, r.getSocketAddress(), "the reply comes from the Gateway address and port");
        return new String(r.getData(), 0, r.getLength(), StandardCharsets.UTF_8);
    }

    private static int freeUdpPort() throws Exception {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            return s.getLocalPort();
        }
    }

    @Test
    void sessionPerClientRepliesFromGatewayAndIdleSessionsEnd(@TempDir Path dir) throws Exception {
        try (UdpEcho backend = new UdpEcho()) {
            final int port = freeUdpPort();
            Files.writeString(dir.resolve("all.yaml"), config(port, backend.port()));
            final Bootstrap b = Bootstrap.defaults().withAdminPort(0).withUdp(Duration.ofMillis(400), 16);
            try (TestGateway gw = TestGateway.startRaw(dir, port, b);
                 DatagramSocket a = new DatagramSocket(); DatagramSocket c = new DatagramSocket()) {
                a.setSoTimeout(3000);
                c.setSoTimeout(3000);
                final InetSocketAddress to = new InetSocketAddress("127.0.0.1", port);
                final String a1 = exchange(a, to, "a1");
                final String a2 = exchange(a, to, "a2");
                final String c1 = exchange(c, to, "c1");
                assertTrue(a1.startsWith("a1 via "), a1);
                // One session per client: the same upstream socket for a's datagrams, another for c's.
                assertEquals(a1.substring(3), a2.substring(3));
                assertNotEquals(a1.substring(3), c1.substring(3));
                // 64 KiB - headers: the largest datagram passes whole.
                final String big = "x".repeat(60_000);
                final String bigBack = exchange(a, to, big);
                assertTrue(bigBack.equals(big + a1.substring(2)), "60000-byte datagram came back with "
                        + bigBack.length() + " bytes");

                Thread.sleep(1200); // > idle timeout + one sweep period
                final String a3 = exchange(a, to, "a3");
                assertNotEquals(a1.substring(3), a3.substring(3), "an idle session ended; a new one opened");
            }
        }
    }

    @Test
    void fullSessionTableDropsNewClientsAndCountsThem(@TempDir Path dir) throws Exception {
        try (UdpEcho backend = new UdpEcho()) {
            final int port = freeUdpPort();
            Files.writeString(dir.resolve("all.yaml"), config(port, backend.port()));
            final Bootstrap b = Bootstrap.defaults().withAdminPort(0).withUdp(Duration.ofSeconds(60), 1);
            try (TestGateway gw = TestGateway.startRaw(dir, port, b);
                 DatagramSocket a = new DatagramSocket(); DatagramSocket c = new DatagramSocket()) {
                a.setSoTimeout(3000);
                c.setSoTimeout(500);
                final InetSocketAddress to = new InetSocketAddress("127.0.0.1", port);
                assertTrue(exchange(a, to, "a1").startsWith("a1 via "));
                assertThrows(SocketTimeoutException.class, () -> exchange(c, to, "c1"));
                assertTrue(exchange(a, to, "a2").startsWith("a2 via "), "the existing session still works");
                assertTrue(gw.server.context().metrics().scrape().contains("gateway_udp_datagrams_dropped 1.0"),
                        gw.server.context().metrics().scrape());
            }
        }
    }
}
