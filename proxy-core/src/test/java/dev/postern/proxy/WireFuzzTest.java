package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.postern.proxy.echo.EchoServer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bounded, deterministic wire fuzz campaign (issue 9): seeded random mutations of valid HTTP/1.1 requests and of
 * HTTP/2 frame sequences, each sent on its own real connection. Postern must answer every case with a
 * well-formed response that is not a 5xx of its own making, or close the connection, within a few seconds; and
 * afterwards still serve, with its connection count back to zero and no ByteBuf leak reported (the leak detector
 * runs at PARANOID). A failure prints the seed and case number, which replay it exactly.
 */
class WireFuzzTest {
    private static final long SEED = Long.getLong("fuzz.seed", 0x5EED_2026L);
    private static final int H1_CASES = Integer.getInteger("fuzz.h1Cases", 2500);
    private static final int H2_CASES = Integer.getInteger("fuzz.h2Cases", 1000);

    private static EchoServer echo;
    @TempDir
    static Path dir;
    private static TestGateway gw;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("fuzz-1");
        gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [fuzz.test]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort()));
    }

    @AfterAll
    static void stop() throws Exception {
        gw.close();
        echo.close();
    }

    private static final String[] H1_SEEDS = {
        "GET /a?b=c HTTP/1.1\r\nHost: fuzz.test\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n",
        "POST /post HTTP/1.1\r\nHost: fuzz.test\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
        "POST /chunked HTTP/1.1\r\nHost: fuzz.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n"
                + "0\r\nTrailer: t\r\n\r\n",
        "GET /one HTTP/1.1\r\nHost: fuzz.test\r\n\r\nGET /two HTTP/1.1\r\nHost: fuzz.test\r\nConnection: close\r\n\r\n",
        "GET http://fuzz.test/abs HTTP/1.1\r\nHost: fuzz.test\r\nX-Forwarded-For: 1.2.3.4\r\nCookie: a=b\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: fuzz.test\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: fuzz.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: fuzz.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                + "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        "GET /old HTTP/1.0\r\nHost: fuzz.test\r\n\r\n",
    };

    /** Bytes a mutation likes to insert: framing characters, controls, and the edges of ASCII. */
    private static final byte[] INTERESTING = {'\r', '\n', ' ', '\t', ':', ';', '0', 'f', ',', '\0', 0x7f,
        (byte) 0x80, (byte) 0xff, '"', '\\', '/', '%', '?', '#', '@'};

    private static byte[] mutate(byte[] in, Random r, int from) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] b = in.clone();
        final int rounds = 1 + r.nextInt(4);
        for (int i = 0; i < rounds; i++) {
            final int span = b.length - from;
            if (span <= 0) {
                break;
            }
            final int at = from + r.nextInt(span);
            out.reset();
            switch (r.nextInt(8)) {
                case 0 -> { // flip a bit
                    b[at] ^= (byte) (1 << r.nextInt(8));
                    continue;
                }
                case 1 -> { // overwrite with an interesting byte
                    b[at] = INTERESTING[r.nextInt(INTERESTING.length)];
                    continue;
                }
                case 2 -> { // insert an interesting byte
                    out.write(b, 0, at);
                    out.write(INTERESTING[r.nextInt(INTERESTING.length)]);
                    out.write(b, at, b.length - at);
                }
                case 3 -> { // delete a run
                    final int n = 1 + r.nextInt(Math.min(8, b.length - at));
                    out.write(b, 0, at);
                    out.write(b, at + n, b.length - at - n);
                }
                case 4 -> { // duplicate a run
                    final int n = 1 + r.nextInt(Math.min(32, b.length - at));
                    out.write(b, 0, at + n);
                    out.write(b, at, b.length - at);
                }
                case 5 -> { // truncate
                    out.write(b, 0, at);
                }
                case 6 -> { // a large number where a digit is
                    out.write(b, 0, at);
                    out.writeBytes(Long.toString(r.nextLong() & Long.MAX_VALUE).getBytes(StandardCharsets.US_ASCII));
                    out.write(b, at, b.length - at);
                }
                default -> { // a long run of one byte
                    out.write(b, 0, at);
                    final byte x = INTERESTING[r.nextInt(INTERESTING.length)];
                    for (int k = 0, n = r.nextInt(70_000); k < n; k++) {
                        out.write(x);
                    }
                    out.write(b, at, b.length - at);
                }
            }
            b = out.toByteArray();
        }
        return b;
    }

    /** What came back on one connection: the status codes of the responses read, and whether it ended. */
    private record Outcome(List<Integer> statuses, boolean ended, String raw) {
    }

    /** Sends {@code b}, half-closes, and reads until the server closes (at most 5 s). */
    private static Outcome exchange(byte[] b) throws IOException {
        try (Socket s = new Socket("127.0.0.1", gw.port)) {
            s.setSoTimeout(5000);
            try {
                s.getOutputStream().write(b);
                s.shutdownOutput();
            } catch (SocketException e) {
                // closed by Postern while we were still sending: fine
            }
            final InputStream in = s.getInputStream();
            final ByteArrayOutputStream got = new ByteArrayOutputStream();
            final byte[] buf = new byte[8192];
            boolean ended = false;
            try {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    got.write(buf, 0, n);
                }
                ended = true;
            } catch (SocketTimeoutException e) {
                ended = false;
            } catch (SocketException e) {
                ended = true; // reset
            }
            final String raw = got.toString(StandardCharsets.ISO_8859_1);
            final List<Integer> statuses = new ArrayList<>();
            for (String line : raw.split("\r\n")) {
                if (line.startsWith("HTTP/1.")) {
                    statuses.add(Integer.parseInt(line.substring(9, 12)));
                }
            }
            return new Outcome(statuses, ended, raw);
        }
    }

    @Test
    void http1MutationsAreAnsweredOrClosed() throws Exception {
        try (LogCapture leaks = new LogCapture("io.netty.util.ResourceLeakDetector")) {
            final Random r = new Random(SEED);
            final TreeMap<Integer, Integer> byStatus = new TreeMap<>();
            final long t0 = System.nanoTime();
            for (int i = 0; i < H1_CASES; i++) {
                final byte[] seed = H1_SEEDS[r.nextInt(H1_SEEDS.length)].getBytes(StandardCharsets.ISO_8859_1);
                final byte[] input = mutate(seed, r, 0);
                final Outcome o = exchange(input);
                final int n = i;
                if (!o.ended()) {
                    fail("seed " + SEED + " case " + n + ": connection neither answered nor closed in 5 s: "
                            + show(input));
                }
                for (int st : o.statuses()) {
                    byStatus.merge(st, 1, Integer::sum);
                    // 502/503/504 would mean the backend or pool broke; 500 is not Postern's answer to bad input.
                    assertTrue(st < 500, () -> "seed " + SEED + " case " + n + ": " + st + " for " + show(input)
                            + "\n" + o.raw());
                }
            }
            System.out.printf("wire fuzz: %d HTTP/1.1 cases in %d ms, statuses %s%n", H1_CASES,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), byStatus);
            assertStillHealthy(leaks);
        }
    }

    // ---- HTTP/2 -----------------------------------------------------------------------------------------------

    private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private static void frame(ByteArrayOutputStream out, int type, int flags, int stream, byte[] payload) {
        out.write(payload.length >>> 16);
        out.write(payload.length >>> 8);
        out.write(payload.length);
        out.write(type);
        out.write(flags);
        out.write(stream >>> 24);
        out.write(stream >>> 16);
        out.write(stream >>> 8);
        out.write(stream);
        out.writeBytes(payload);
    }

    /** HPACK literal header fields without indexing, new names, no Huffman (every length under 127). */
    private static byte[] headerBlock(String... nameValues) {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int i = 0; i < nameValues.length; i += 2) {
            b.write(0);
            b.write(nameValues[i].length());
            b.writeBytes(nameValues[i].getBytes(StandardCharsets.US_ASCII));
            b.write(nameValues[i + 1].length());
            b.writeBytes(nameValues[i + 1].getBytes(StandardCharsets.US_ASCII));
        }
        return b.toByteArray();
    }

    private static byte[] h2Seed(int kind) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PREFACE);
        frame(out, 4, 0, 0, new byte[] {0, 3, 0, 0, 0, 100, 0, 4, 0, 0, (byte) 0xff, (byte) 0xff}); // SETTINGS
        switch (kind) {
            case 0 -> frame(out, 1, 0x5, 1, headerBlock(":method", "GET", ":scheme", "http", ":path", "/h2",
                    ":authority", "fuzz.test", "user-agent", "fuzz"));
            case 1 -> {
                frame(out, 1, 0x4, 1, headerBlock(":method", "POST", ":scheme", "http", ":path", "/up",
                        ":authority", "fuzz.test", "content-length", "5"));
                frame(out, 0, 0x1, 1, "hello".getBytes(StandardCharsets.US_ASCII));
            }
            case 2 -> {
                frame(out, 1, 0x0, 1, headerBlock(":method", "GET", ":scheme", "http"));
                frame(out, 9, 0x4, 1, headerBlock(":path", "/cont", ":authority", "fuzz.test"));
                frame(out, 8, 0, 0, new byte[] {0, 0, 0x10, 0}); // WINDOW_UPDATE
                frame(out, 6, 0, 0, "pingpong".getBytes(StandardCharsets.US_ASCII));
            }
            default -> {
                frame(out, 1, 0x5, 1, headerBlock(":method", "GET", ":scheme", "http", ":path", "/a",
                        ":authority", "fuzz.test"));
                frame(out, 1, 0x5, 3, headerBlock(":method", "GET", ":scheme", "http", ":path", "/b",
                        ":authority", "fuzz.test"));
                frame(out, 3, 0, 3, new byte[] {0, 0, 0, 8}); // RST_STREAM CANCEL
                frame(out, 2, 0, 5, new byte[] {0, 0, 0, 1, 16}); // PRIORITY
            }
        }
        return out.toByteArray();
    }

    @Test
    void http2MutationsEndCleanly() throws Exception {
        try (LogCapture leaks = new LogCapture("io.netty.util.ResourceLeakDetector")) {
            final Random r = new Random(SEED ^ 0x2);
            final long t0 = System.nanoTime();
            int goaway = 0;
            for (int i = 0; i < H2_CASES; i++) {
                final byte[] seed = h2Seed(r.nextInt(4));
                // Mostly after the preface (so that the frames are what is fuzzed), sometimes the preface too.
                final byte[] input = mutate(seed, r, r.nextInt(10) == 0 ? 0 : PREFACE.length);
                final Outcome o = exchange(input);
                if (!o.ended()) {
                    fail("seed " + SEED + " h2 case " + i + ": connection did not end in 5 s: " + show(input));
                }
                if (o.raw().length() >= 9 && o.raw().indexOf("\u0007\u0000\u0000\u0000\u0000\u0000") >= 0) {
                    goaway++;
                }
            }
            System.out.printf("wire fuzz: %d HTTP/2 cases in %d ms, ~%d with GOAWAY%n", H2_CASES,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), goaway);
            assertStillHealthy(leaks);
        }
    }

    /** Still serving, every fuzz connection gone, no leak reported. */
    private static void assertStillHealthy(LogCapture leaks) throws Exception {
        try (RawHttp c = gw.client()) {
            assertEquals(200, c.get("fuzz.test", "/after").status());
        }
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (gw.server.context().downstreamConnections() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(0, gw.server.context().downstreamConnections(), "connections back to baseline");
        // Leaks are reported when a tracked buffer is collected and another one is tracked later.
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
            try (RawHttp c = gw.client()) {
                assertEquals(200, c.get("fuzz.test", "/gc").status());
            }
        }
        assertTrue(leaks.messages().stream().noneMatch(m -> m.contains("LEAK")), () -> leaks.messages().toString());
    }

    private static String show(byte[] b) {
        final String s = new String(b, 0, Math.min(b.length, 400), StandardCharsets.ISO_8859_1);
        return s.replace("\r", "\\r").replace("\n", "\\n") + (b.length > 400 ? "...(" + b.length + " bytes)" : "");
    }
}
