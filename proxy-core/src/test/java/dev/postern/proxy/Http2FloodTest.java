package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * HTTP/2 flood attacks (issue 9), each sent as raw frames by {@code h2_attack.py} over a real socket: the attacking
 * connection gets GOAWAY or is closed, and Postern keeps serving another client over HTTP/2 meanwhile and after.
 */
class Http2FloodTest {
    private static EchoServer echo;
    @TempDir
    static Path dir;
    private static TestGateway gw;
    private static Path script;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("flood-1");
        gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort()));
        script = Files.createTempFile("h2_attack", ".py");
        try (var in = Http2FloodTest.class.getResourceAsStream("/h2_attack.py")) {
            Files.write(script, in.readAllBytes());
        }
    }

    @AfterAll
    static void stop() throws Exception {
        gw.close();
        echo.close();
        Files.deleteIfExists(script);
    }

    private static String attack(String mode) throws Exception {
        return TestGateway.run("/usr/bin/python3", script.toString(), "127.0.0.1", String.valueOf(gw.port),
                "flood.test", mode).strip();
    }

    /** A well-behaved HTTP/2 client is served. */
    private static void assertServed() throws Exception {
        final String code = TestGateway.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                "--max-time", "10", "--http2-prior-knowledge", "-H", "Host: flood.test", gw.url("/ok"));
        assertEquals("200 2", code);
    }

    @ParameterizedTest
    @ValueSource(strings = {"rapid_reset", "continuation", "small_continuation", "settings", "ping", "empty_data"})
    void floodEndsTheConnectionAndOthersAreServed(String mode) throws Exception {
        // Another client keeps making requests while the attack runs.
        final CompletableFuture<Void> other = CompletableFuture.runAsync(() -> {
            try {
                for (int i = 0; i < 5; i++) {
                    assertServed();
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        final String out = attack(mode);
        other.join();
        switch (mode) {
            // RST_STREAM flood: Netty's limit answers GOAWAY ENHANCE_YOUR_CALM (0xb).
            case "rapid_reset" -> assertEquals("GOAWAY 11", out, mode);
            // Control frames that pile up towards a client that does not read: the connection is cut (a GOAWAY
            // cannot be read by a client that reads nothing, so either outcome shows the limit worked).
            case "settings", "ping" -> assertTrue(out.startsWith("GOAWAY") || out.equals("CLOSED"), mode + ": " + out);
            default -> assertTrue(out.startsWith("GOAWAY"), mode + ": " + out);
        }
        assertServed();
    }

    @Test
    void hpackBombIsRefusedWithoutDecodingIt() throws Exception {
        final String out = attack("hpack_bomb");
        // The 4 MB header list is over SETTINGS_MAX_HEADER_LIST_SIZE (60 KiB): the stream is refused with 431 or
        // reset, or the connection goes away; it is never forwarded.
        assertTrue(out.contains("status3=431") || !out.contains("rst3=None") || out.startsWith("GOAWAY"), out);
        assertTrue(!out.contains("status3=200"), out);
        assertServed();
    }

    /** Regression for a buffer leak the wire fuzz test found: malformed pseudo-headers reset the stream. */
    @Test
    void malformedRequestHeadersResetTheStream() throws Exception {
        assertEquals("OPEN rst1=1 rst3=1", attack("bad_method"), "PROTOCOL_ERROR for a bad method and a missing :path");
        assertServed();
    }

    @Test
    void concurrentStreamsAreCappedAt100() throws Exception {
        final String out = attack("streams");
        assertTrue(out.contains("max=100"), out);
        assertTrue(out.contains("refused=50"), "streams past 100 are refused (REFUSED_STREAM): " + out);
        assertServed();
    }
}
