package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.ConfigLoader;
import dev.postern.proxy.server.PosternServer;
import dev.postern.proxy.server.TproxyConfig;
import dev.postern.tproxy.TproxyDataplane;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.pkitesting.X509Bundle;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Postern with TPROXY, end to end, in three throw-away network namespaces:
 *
 * <pre>
 *  client 203.0.113.7 (c0) ── veth ── (nc) 203.0.113.1  node: Postern + its BPF program on nc   10.78.0.1 (np)
 *                                                                                          ── veth ── (p0) 10.78.0.2 pod
 * </pre>
 *
 * The Gateway's address, 198.51.100.10, belongs to no interface and no route leads anywhere with it: only the BPF
 * program makes it reachable. HTTP (:80), HTTPS (:443), TCPRoute (:9300) and UDPRoute (:5300) go through it to
 * backends in the pod namespace. Everything lives in the namespaces, which are deleted at the end, failure or not.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TproxyEndToEndTest {
    private static final String VIP = "198.51.100.10";
    private static final String CLIENT = "203.0.113.7";
    private static final String POD = "10.78.0.2";
    private static final String VIP6 = "2001:db8:100::10";
    private static final String CLIENT6 = "2001:db8:cafe::7";

    private final List<AutoCloseable> cleanup = new ArrayList<>();
    private Netns client;
    private Netns node;
    private Netns pod;
    private Path bpffs;
    private Path dir;
    private Path ca;
    private EventLoopGroup podGroup;
    private PosternServer server;
    private ConfigLoader loader;
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private PrintStream originalOut;

    static Optional<String> privilegeProblem() {
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            return Optional.of("not Linux");
        }
        final Optional<String> bpf = TproxyDataplane.unavailableReason();
        if (bpf.isPresent()) {
            return bpf;
        }
        try {
            Netns.sh("ip", "-V");
            Netns.sh("curl", "--version");
        } catch (Exception e) {
            return Optional.of("ip or curl is missing: " + e.getMessage());
        }
        return Optional.empty();
    }

    @BeforeAll
    void setUp() throws Exception {
        final Optional<String> problem = privilegeProblem();
        if (problem.isPresent()) {
            if (Boolean.getBoolean("postern.tproxy.requirePrivilegedTests")) {
                throw new AssertionError("privileged TPROXY test cannot run: " + problem.get());
            }
            Assumptions.abort("privileged TPROXY test skipped: " + problem.get());
        }
        final String p = "pstc" + ProcessHandle.current().pid() + "-";
        try {
            client = new Netns(p + "client");
            node = new Netns(p + "node");
            pod = new Netns(p + "pod");
            bpffs = Path.of("/tmp/pstc-bpffs-" + ProcessHandle.current().pid());
            Files.createDirectories(bpffs);
            Netns.sh("mount", "-t", "bpf", "bpf", bpffs.toString());
            Netns.sh("ip", "link", "add", "c0", "netns", client.name, "type", "veth", "peer", "name", "nc", "netns",
                    node.name);
            Netns.sh("ip", "link", "add", "np", "netns", node.name, "type", "veth", "peer", "name", "p0", "netns",
                    pod.name);
            client.exec("ip", "addr", "add", CLIENT + "/24", "dev", "c0");
            client.exec("ip", "link", "set", "c0", "up");
            client.exec("ip", "route", "add", "default", "via", "203.0.113.1");
            client.exec("ip", "-6", "addr", "add", CLIENT6 + "/64", "dev", "c0", "nodad");
            client.exec("ip", "-6", "route", "add", "default", "via", "2001:db8:cafe::1");
            node.exec("ip", "-6", "addr", "add", "2001:db8:cafe::1/64", "dev", "nc", "nodad");
            node.exec("ip", "addr", "add", "203.0.113.1/24", "dev", "nc");
            node.exec("ip", "addr", "add", "10.78.0.1/24", "dev", "np");
            node.exec("ip", "link", "set", "nc", "up");
            node.exec("ip", "link", "set", "np", "up");
            pod.exec("ip", "addr", "add", POD + "/24", "dev", "p0");
            pod.exec("ip", "link", "set", "p0", "up");
            pod.exec("ip", "route", "add", "default", "via", "10.78.0.1");
            startBackends();
            dir = Files.createTempDirectory("tproxy-e2e");
            final X509Bundle cert = TestCerts.selfSigned("vip.test");
            ca = TestCerts.pemFile(Files.createTempDirectory("tproxy-ca"), "ca.pem", cert);
            Files.writeString(dir.resolve("all.yaml"), config() + TestCerts.secret("default", "vip-cert", cert));
            originalOut = System.out;
            System.setOut(new PrintStream(new TeeStream(originalOut, stdout), true));
            startPostern();
        } catch (Exception | AssertionError e) {
            tearDown();
            throw e;
        }
    }

    /** Copies everything to the console and keeps it for assertions on the access log. */
    private static final class TeeStream extends OutputStream {
        private final OutputStream a;
        private final ByteArrayOutputStream b;

        TeeStream(OutputStream a, ByteArrayOutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int c) throws java.io.IOException {
            a.write(c);
            synchronized (b) {
                b.write(c);
            }
        }

        @Override
        public void write(byte[] buf, int off, int len) throws java.io.IOException {
            a.write(buf, off, len);
            synchronized (b) {
                b.write(buf, off, len);
            }
        }
    }

    private void startBackends() throws Exception {
        podGroup = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        cleanup.add(() -> podGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly());
        final EchoServer echo = pod.call(() -> EchoServer.start(podGroup, EpollServerSocketChannel.class,
                new InetSocketAddress(POD, 3000), new EchoServer.Identity("default", "pod-1", "", "", "3000")));
        cleanup.add(echo::close);
        // TCP: a welcome line, then every line back.
        final ServerSocket tcp = pod.call(() -> new ServerSocket(9000, 50, InetAddress.ofLiteral(POD)));
        cleanup.add(tcp);
        Thread.ofPlatform().daemon().start(() -> {
            while (!tcp.isClosed()) {
                try {
                    final Socket s = tcp.accept();
                    Thread.ofVirtual().start(() -> {
                        try (s) {
                            final OutputStream out = s.getOutputStream();
                            out.write(("welcome " + s.getRemoteSocketAddress() + "\n").getBytes(StandardCharsets.UTF_8));
                            s.getInputStream().transferTo(out);
                        } catch (java.io.IOException e) {
                            // client gone
                        }
                    });
                } catch (java.io.IOException e) {
                    return;
                }
            }
        });
        // UDP: each datagram back with the sender's port.
        final DatagramSocket udp = pod.call(() -> new DatagramSocket(new InetSocketAddress(POD, 5353)));
        cleanup.add(udp);
        Thread.ofPlatform().daemon().start(() -> {
            final byte[] buf = new byte[2048];
            while (!udp.isClosed()) {
                try {
                    final DatagramPacket d = new DatagramPacket(buf, buf.length);
                    udp.receive(d);
                    final byte[] out = (new String(d.getData(), 0, d.getLength(), StandardCharsets.UTF_8) + " via "
                            + d.getAddress().getHostAddress()).getBytes(StandardCharsets.UTF_8);
                    udp.send(new DatagramPacket(out, out.length, d.getSocketAddress()));
                } catch (java.io.IOException e) {
                    return;
                }
            }
        });
    }

    private static String config() {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: postern}
                spec: {controllerName: postern.dev/gateway-controller}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: default}
                spec:
                  gatewayClassName: postern
                  addresses: [{type: IPAddress, value: %1$s}, {type: IPAddress, value: "%2$s"}]
                  listeners:
                  - {name: http, protocol: HTTP, port: 80}
                  - {name: https, protocol: HTTPS, port: 443, tls: {certificateRefs: [{name: vip-cert}]}}
                  - {name: tcp, protocol: TCP, port: 9300}
                  - {name: udp, protocol: UDP, port: 5300}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: web, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: web, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TCPRoute
                metadata: {name: db, namespace: default}
                spec:
                  parentRefs: [{name: gw, sectionName: tcp}]
                  rules: [{backendRefs: [{name: db, port: 9000}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: UDPRoute
                metadata: {name: dns, namespace: default}
                spec:
                  parentRefs: [{name: gw, sectionName: udp}]
                  rules: [{backendRefs: [{name: dns, port: 53}]}]
                """.formatted(VIP, VIP6) + service("web", 80, 3000, "TCP") + service("db", 9000, 9000, "TCP")
                + service("dns", 53, 5353, "UDP");
    }

    private static String service(String name, int port, int target, String protocol) {
        return """
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: %1$s, namespace: default}
                spec: {ports: [{name: p, port: %2$d, protocol: %4$s}]}
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: %1$s-0, namespace: default, labels: {kubernetes.io/service-name: %1$s}}
                addressType: IPv4
                endpoints: [{addresses: [%5$s]}]
                ports: [{name: p, port: %3$d, protocol: %4$s}]
                """.formatted(name, port, target, protocol, POD);
    }

    private void startPostern() throws Exception {
        final Bootstrap b = Bootstrap.defaults().withAdminPort(0).withAccessLog(true)
                .withTproxy(TproxyConfig.disabled().enabledOn(List.of("nc"), bpffs.resolve("postern"), 15001));
        node.call(() -> {
            final ConfigRef ref = new ConfigRef();
            loader = new ConfigLoader(dir, new ConfigPipeline.Settings(b.controllerName(), b.defaultBindAddress()),
                    ref);
            final ConfigPipeline.Build first = loader.reload();
            if (first.rejected()) {
                throw new IllegalStateException("config rejected: " + first.diagnostics());
            }
            server = PosternServer.start(b, ref);
            return null;
        });
    }

    private void stopPostern() throws Exception {
        if (server != null) {
            final PosternServer s = server;
            server = null;
            node.call(() -> {
                loader.close();
                s.close();
                return null;
            });
        }
    }

    @AfterAll
    void tearDown() {
        try {
            stopPostern();
        } catch (Exception e) {
            System.err.println("cleanup: " + e);
        }
        if (originalOut != null) {
            System.setOut(originalOut);
        }
        for (int i = cleanup.size() - 1; i >= 0; i--) {
            try {
                cleanup.get(i).close();
            } catch (Exception e) {
                System.err.println("cleanup: " + e);
            }
        }
        for (Netns ns : new Netns[] {client, node, pod}) {
            if (ns != null) {
                ns.close();
            }
        }
        for (Path p : new Path[] {dir, ca == null ? null : ca.getParent()}) {
            if (p != null) {
                try (var files = Files.walk(p)) {
                    files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                } catch (java.io.IOException e) {
                    System.err.println("cleanup: " + e);
                }
            }
        }
        if (bpffs != null) {
            try {
                Netns.sh("umount", bpffs.toString());
                Files.deleteIfExists(bpffs);
            } catch (Exception e) {
                System.err.println("cleanup: " + e);
            }
        }
    }

    private JsonNode curl(String... args) throws Exception {
        final List<String> cmd = new ArrayList<>(List.of("curl", "-sS", "--max-time", "5"));
        cmd.addAll(List.of(args));
        return new ObjectMapper().readTree(client.exec(cmd.toArray(String[]::new)));
    }

    /** The counter once it reaches {@code atLeast} (the server caches the BPF map read for half a second). */
    private double counterAtLeast(String name, double atLeast) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        double v = counter(name);
        while (v < atLeast && System.nanoTime() < deadline) {
            Thread.sleep(100);
            v = counter(name);
        }
        return v;
    }

    private double counter(String name) {
        final Matcher m = Pattern.compile("gateway_tproxy_packets_total\\{counter=\"" + name + "\",?\\} (\\S+)")
                .matcher(server.context().metrics().scrape());
        assertTrue(m.find(), "no counter " + name);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void httpThroughTheVipKeepsTheClientAddress() throws Exception {
        final double before = counter("assigned_listener");
        final JsonNode echo = curl("http://" + VIP + "/hello");
        assertEquals("/hello", echo.get("path").asText());
        assertEquals(CLIENT, echo.get("headers").get("X-Forwarded-For").get(0).asText(), echo.toString());
        assertEquals(CLIENT, echo.get("headers").get("X-Envoy-External-Address").get(0).asText(), echo.toString());
        assertTrue(counterAtLeast("assigned_listener", before + 1) >= before + 1, "the SYN went to the transparent listener");
        assertTrue(counter("assigned_established") > 0);
        // The access log names the Gateway address the client connected to.
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        String log;
        do {
            Thread.sleep(50);
            synchronized (stdout) {
                log = stdout.toString(StandardCharsets.UTF_8);
            }
        } while (!log.contains("\"GET /hello HTTP/1.1\"") && System.nanoTime() < deadline);
        final String line = log.lines().filter(l -> l.contains("\"GET /hello HTTP/1.1\"")).findFirst().orElseThrow();
        assertTrue(line.endsWith("\"" + VIP + ":80\""), line);
    }

    /**
     * {@code Connection: close}: Postern closes first and keeps the TIME_WAIT; the client reconnects from the same
     * port at once (NAT gateways do this all the time). The SYN is handed over by the kernel's time-wait code and
     * Postern's sk_lookup program, not dropped for the 60 s of TIME_WAIT.
     */
    @Test
    void reconnectFromTheSamePortAfterPosternClosedIsServedAtOnce() throws Exception {
        final double before = counter("assigned_by_lookup");
        final int port = 40000 + (int) (ProcessHandle.current().pid() % 20000);
        for (int i = 0; i < 3; i++) {
            final long t0 = System.nanoTime();
            final String response = client.call(() -> {
                try (Socket s = new Socket()) {
                    s.setReuseAddress(true);
                    s.bind(new InetSocketAddress(InetAddress.ofLiteral(CLIENT), port));
                    s.connect(new InetSocketAddress(VIP, 80), 3000);
                    s.setSoTimeout(3000);
                    s.getOutputStream().write("GET /again HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                    return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                }
            });
            final long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(response.startsWith("HTTP/1.1 200"), response);
            assertTrue(ms < 900, "connection " + i + " from port " + port + " took " + ms + " ms");
        }
        assertTrue(counterAtLeast("assigned_by_lookup", before + 2) >= before + 2, "the kernel's lookup found Postern");
    }

    @Test
    void httpThroughAnIpv6GatewayAddress() throws Exception {
        final JsonNode echo = curl("http://[" + VIP6 + "]/six");
        assertEquals("/six", echo.get("path").asText());
        assertEquals(CLIENT6, echo.get("headers").get("X-Forwarded-For").get(0).asText(), echo.toString());
    }

    @Test
    void httpsThroughTheVip() throws Exception {
        final JsonNode echo = curl("--cacert", ca.toString(), "--resolve", "vip.test:443:" + VIP,
                "https://vip.test/secure");
        assertEquals("/secure", echo.get("path").asText());
        assertEquals(CLIENT, echo.get("headers").get("X-Forwarded-For").get(0).asText(), echo.toString());
    }

    @Test
    void tcpRouteThroughTheVip() throws Exception {
        final String[] got = client.call(() -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(VIP, 9300), 3000);
                s.setSoTimeout(3000);
                final InputStream in = s.getInputStream();
                final String welcome = readLine(in);
                s.getOutputStream().write("PING\n".getBytes(StandardCharsets.UTF_8));
                return new String[] {welcome, readLine(in), s.getRemoteSocketAddress().toString()};
            }
        });
        assertEquals("welcome /10.78.0.1", got[0].substring(0, got[0].lastIndexOf(':')),
                "the pod sees Postern's connection from the node");
        assertEquals("PING", got[1]);
        assertEquals("/" + VIP + ":9300", got[2]);
    }

    @Test
    void udpRouteThroughTheVipRepliesFromTheVip() throws Exception {
        final double before = counter("assigned_udp");
        final String[] got = client.call(() -> {
            try (DatagramSocket s = new DatagramSocket()) {
                s.setSoTimeout(3000);
                final byte[] q = "query".getBytes(StandardCharsets.UTF_8);
                final InetSocketAddress vip = new InetSocketAddress(VIP, 5300);
                s.send(new DatagramPacket(q, q.length, vip));
                final DatagramPacket r = new DatagramPacket(new byte[2048], 2048);
                s.receive(r);
                s.send(new DatagramPacket(q, q.length, vip));
                final DatagramPacket r2 = new DatagramPacket(new byte[2048], 2048);
                s.receive(r2);
                return new String[] {new String(r.getData(), 0, r.getLength(), StandardCharsets.UTF_8),
                        r.getSocketAddress().toString(), r2.getSocketAddress().toString()};
            }
        });
        assertEquals("query via 10.78.0.1", got[0]);
        assertEquals("/" + VIP + ":5300", got[1], "the reply's source is the Gateway address and port");
        assertEquals(got[1], got[2]);
        assertTrue(counterAtLeast("assigned_udp", before + 2) >= before + 2);
    }

    @Test
    void stoppedPosternFailsClosedAndARestartRestoresTraffic() throws Exception {
        stopPostern();
        final Process p = client.start("curl", "-sS", "--max-time", "2", "http://" + VIP + "/down");
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertNotEquals(0, p.exitValue(), out);
        assertTrue(out.contains("timed out") || out.contains("Timeout"), "dropped, not refused: " + out);
        startPostern();
        assertEquals("/up", curl("http://" + VIP + "/up").get("path").asText());
        assertTrue(counterAtLeast("dropped", 1) >= 1, "the program (pinned, still attached) counted the drop");
    }

    private static String readLine(InputStream in) throws java.io.IOException {
        final StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0 && c != '\n') {
            sb.append((char) c);
        }
        return sb.toString();
    }
}
