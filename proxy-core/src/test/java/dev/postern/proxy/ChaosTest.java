package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Backends failing in the ways real ones do (issue 9), each with a defined client-visible result, an access log
 * flag, and no leak: after every case the downstream connection count and the upstream connection gauge return to
 * their baseline, and Netty's leak detector (PARANOID in tests) reports nothing over the whole class.
 *
 * <table>
 *   <caption>What the client sees</caption>
 *   <tr><th>backend</th><th>HTTP/1.1</th><th>HTTP/2</th><th>flag</th></tr>
 *   <tr><td>killed mid-response</td><td>head and part of the body, then the connection closes</td>
 *       <td>RST_STREAM (curl exit 92)</td><td>UC</td></tr>
 *   <tr><td>resets before answering</td><td>502</td><td>502</td><td>UC</td></tr>
 *   <tr><td>refuses connections</td><td>502</td><td>502</td><td>UF</td></tr>
 *   <tr><td>never answers</td><td>504 after the route's request timeout</td><td>504</td><td>UT</td></tr>
 *   <tr><td>answers garbage</td><td>502</td><td>502</td><td>UPE</td></tr>
 *   <tr><td>endpoints flapping under load</td><td colspan="2">no failed request while every endpoint in each
 *       published set is alive</td><td>-</td></tr>
 * </table>
 */
class ChaosTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    private static Path accessLog;
    private static RawBackend raw;
    private static int deadPort;
    private static final List<EchoServer> flap = new ArrayList<>();
    private static TestGateway gw;
    private static LogCapture leaks;
    /** The upstream connection gauge before the current case (idle pooled connections of earlier ones count). */
    private static double upstreamBaseline;
    /** Idle pooled connections the current case may leave behind (keep-alive responses). */
    private static int pooledAllowed;

    @BeforeAll
    static void start() throws Exception {
        leaks = new LogCapture("io.netty.util.ResourceLeakDetector");
        raw = new RawBackend();
        deadPort = TestGateway.freePort(); // nothing listens there
        for (int i = 0; i < 3; i++) {
            flap.add(TestGateway.echo("flap-" + i));
        }
        accessLog = dir.resolve("access.log");
        final Path conf = Files.createDirectories(dir.resolve("conf"));
        Files.writeString(conf.resolve("flap.yaml"), flapSlice(0, 1));
        gw = TestGateway.start(conf, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: chaos, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [chaos.test]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /silent}}]
                    timeouts: {request: 1s}
                    backendRefs: [{name: raw, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /refused}}]
                    backendRefs: [{name: dead, port: 80}]
                  - backendRefs: [{name: raw, port: 80}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: flap, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [flap.test]
                  rules: [{backendRefs: [{name: flap, port: 80}]}]
                """ + TestGateway.service("raw", raw.port()) + TestGateway.service("dead", deadPort),
                Bootstrap.defaults().withAccessLog("json", accessLog.toString()));
        raw.on("/killed", new RawBackend.Reset(("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + "x".repeat(100))
                .getBytes(StandardCharsets.US_ASCII), 100));
        raw.on("/reset", new RawBackend.Reset(new byte[0], 0));
        raw.on("/silent", new RawBackend.Silent());
        raw.on("/garbage", RawBackend.Write.of("\0\1\2 this is not HTTP \r\n\r\n\u00ff\u00fe", true));
    }

    @BeforeEach
    void baseline() {
        upstreamBaseline = gauge("gateway_upstream_connections_active");
        pooledAllowed = 0;
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            // Leaks are reported when a tracked buffer is collected and another one is tracked later.
            for (int i = 0; i < 3; i++) {
                System.gc();
                Thread.sleep(100);
                try (RawHttp c = gw.client()) {
                    c.get("flap.test", "/gc");
                }
            }
            assertTrue(leaks.messages().stream().noneMatch(m -> m.contains("LEAK")), () -> leaks.messages()
                    .toString());
        } finally {
            leaks.close();
            gw.close();
            raw.close();
            for (EchoServer e : flap) {
                e.close();
            }
        }
    }

    /**
     * After each case: no downstream connection left, and no upstream connection beyond the baseline and the
     * idle keep-alive connections the case may pool. A connection a failure broke is never pooled.
     */
    @AfterEach
    void backToBaseline() throws Exception {
        final double max = upstreamBaseline + pooledAllowed;
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while ((gw.server.context().downstreamConnections() > 0
                || gauge("gateway_upstream_connections_active") > max) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(0, gw.server.context().downstreamConnections(), "downstream connections back to baseline");
        final double up = gauge("gateway_upstream_connections_active");
        assertTrue(up <= max, () -> "upstream connections " + up + ", at most " + max);
    }

    private static double gauge(String name) {
        for (String line : gw.server.context().metrics().scrape().split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError(name + " not scraped");
    }

    /** The access log line of the request for {@code path} (waits for the asynchronous writer). */
    private static JsonNode logged(String path) throws Exception {
        for (int i = 0; i < 250; i++) {
            if (Files.exists(accessLog)) {
                for (String l : Files.readAllLines(accessLog)) {
                    final JsonNode j = JSON.readTree(l);
                    if (j.get("path").asText().equals(path)) {
                        return j;
                    }
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no access log line for " + path);
    }

    /** One HTTP/1.1 request with Connection: close; everything read until the server closes. */
    private static String h1(String path) throws IOException {
        try (Socket s = new Socket("127.0.0.1", gw.port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: chaos.test\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            final ByteArrayOutputStream out = new ByteArrayOutputStream();
            final InputStream in = s.getInputStream();
            final byte[] b = new byte[4096];
            try {
                int n;
                while ((n = in.read(b)) >= 0) {
                    out.write(b, 0, n);
                }
            } catch (java.net.SocketException reset) {
                // a cut connection may end with a reset
            }
            return out.toString(StandardCharsets.ISO_8859_1);
        }
    }

    /** One HTTP/2 request with curl (prior knowledge): its exit code and what it printed (status on success). */
    private static Map.Entry<Integer, String> h2(String path) throws Exception {
        final Process p = new ProcessBuilder("curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                "%{http_code}", "-H", "Host: chaos.test", gw.url(path)).redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "curl finished");
        return Map.entry(p.exitValue(), out);
    }

    @Test
    void backendKilledMidResponse() throws Exception {
        final String got = h1("/killed");
        assertTrue(got.startsWith("HTTP/1.1 200 OK\r\n"), got);
        final String body = got.substring(got.indexOf("\r\n\r\n") + 4);
        assertTrue(body.length() < 1000, "the client sees fewer bytes than the Content-Length: " + body.length());
        assertEquals("UC", logged("/killed").get("response_flags").asText());

        final Map.Entry<Integer, String> h2 = h2("/killed?h2");
        // 92: "HTTP/2 stream was not closed cleanly" (RST_STREAM); 18: partial file. Never success.
        assertTrue(h2.getKey() == 92 || h2.getKey() == 18, () -> "curl " + h2);
        assertEquals("UC", logged("/killed?h2").get("response_flags").asText());
    }

    @Test
    void backendResetsBeforeAnswering() throws Exception {
        assertTrue(h1("/reset").startsWith("HTTP/1.1 502 "));
        assertEquals("UC", logged("/reset").get("response_flags").asText());
        assertEquals(Map.entry(0, "502"), h2("/reset?h2"));
    }

    @Test
    void backendRefusesConnections() throws Exception {
        assertTrue(h1("/refused").startsWith("HTTP/1.1 502 "));
        assertEquals("UF", logged("/refused").get("response_flags").asText());
        assertEquals(Map.entry(0, "502"), h2("/refused?h2"));
    }

    @Test
    void backendNeverAnswers() throws Exception {
        final long t0 = System.nanoTime();
        assertTrue(h1("/silent").startsWith("HTTP/1.1 504 "));
        final long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(ms >= 900 && ms < 5000, "after the route's 1 s request timeout: " + ms + " ms");
        assertEquals("UT", logged("/silent").get("response_flags").asText());
        assertEquals(Map.entry(0, "504"), h2("/silent?h2"));
    }

    @Test
    void backendAnswersGarbage() throws Exception {
        assertTrue(h1("/garbage").startsWith("HTTP/1.1 502 "));
        assertEquals("UPE", logged("/garbage").get("response_flags").asText());
        assertEquals(Map.entry(0, "502"), h2("/garbage?h2"));
    }

    /** The EndpointSlice of {@code flap} with the given echo backends. */
    private static String flapSlice(int... which) {
        final StringBuilder sb = new StringBuilder("""
                apiVersion: v1
                kind: Service
                metadata: {name: flap, namespace: default}
                spec: {ports: [{name: http, port: 80}]}
                """);
        for (int w : which) {
            sb.append("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: flap-")
                    .append(w).append(", namespace: default, labels: {kubernetes.io/service-name: flap}}\n")
                    .append("addressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]\nports: [{name: http, port: ")
                    .append(flap.get(w).address().getPort()).append("}]\n");
        }
        return sb.toString();
    }

    /**
     * Endpoints flapping under load: the Service's EndpointSlices are rewritten every 30 ms, cycling through sets
     * of two of three live echo backends, while four keep-alive clients loop requests. Every request succeeds
     * (the endpoints that leave a set are still alive, and in-flight requests finish on them), and over the run
     * every backend serves.
     */
    @Test
    void endpointsFlappingUnderLoad() throws Exception {
        final Path file = gw.dir.resolve("flap.yaml");
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicInteger rewrites = new AtomicInteger();
        final Thread writer = new Thread(() -> {
            final int[][] sets = {{0, 1}, {1, 2}, {0, 2}, {2}, {0}};
            try {
                for (int i = 0; !stop.get(); i++) {
                    final Path tmp = dir.resolve("flap.tmp"); // outside the watched directory
                    Files.writeString(tmp, flapSlice(sets[i % sets.length]));
                    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                    rewrites.incrementAndGet();
                    Thread.sleep(Long.getLong("chaos.flapMillis", 30));
                }
            } catch (InterruptedException e) {
                // stopped
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        writer.start();
        final Map<String, Integer> byStatus = new TreeMap<>();
        final Map<String, Integer> byPod = new ConcurrentHashMap<>();
        final List<Thread> clients = new ArrayList<>();
        final long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        final List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        final int clientCount = 4;
        // Each sequential client leaves at most one idle pooled connection per endpoint.
        pooledAllowed = clientCount * flap.size();
        for (int t = 0; t < clientCount; t++) {
            final Thread c = new Thread(() -> {
                try (RawHttp http = gw.client()) {
                    while (System.nanoTime() < until) {
                        final RawHttp.Response r = http.get("flap.test", "/flap");
                        synchronized (byStatus) {
                            byStatus.merge(Integer.toString(r.status()), 1, Integer::sum);
                        }
                        if (r.status() == 200) {
                            byPod.merge(JSON.readTree(r.body()).get("pod").asText(), 1, Integer::sum);
                        } else {
                            failures.add(r.status() + " " + r.text());
                        }
                    }
                } catch (IOException e) {
                    failures.add(e.toString());
                }
            });
            c.start();
            clients.add(c);
        }
        for (Thread c : clients) {
            c.join();
        }
        stop.set(true);
        writer.interrupt();
        writer.join();
        System.out.printf("endpoint flapping: %d rewrites, statuses %s, pods %s%n", rewrites.get(), byStatus,
                new TreeMap<>(byPod));
        assertTrue(failures.isEmpty(), () -> failures.size() + " failed: " + failures.subList(0,
                Math.min(5, failures.size())));
        assertTrue(rewrites.get() >= 20, "the slices were rewritten: " + rewrites.get());
        assertEquals(3, byPod.size(), () -> "every backend served: " + byPod);
        assertFalse(byStatus.isEmpty());
    }
}
