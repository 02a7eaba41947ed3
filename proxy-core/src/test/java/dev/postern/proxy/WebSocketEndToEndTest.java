package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.postern.proxy.echo.EchoServer;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** WebSocket upgrades relayed both ways, with python's websocket-client as the real client. */
class WebSocketEndToEndTest {
    private static EchoServer echo;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("ws-1");
    }

    @AfterAll
    static void stop() {
        echo.close();
    }

    @Test
    void textAndBinaryFramesEchoThroughTheTunnel(@TempDir Path dir) throws Exception {
        final Path client = Files.createTempFile("ws_echo_client", ".py");
        try (var in = getClass().getResourceAsStream("/ws_echo_client.py")) {
            Files.write(client, in.readAllBytes());
        }
        try (TestGateway gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /ws}}]
                    backendRefs: [{name: svc-ws, port: 80}]
                  - backendRefs: [{name: svc-plain, port: 80}]
                """ + TestGateway.service("svc-ws", "kubernetes.io/ws", echo.address().getPort())
                + TestGateway.service("svc-plain", echo.address().getPort()))) {
            final String direct = TestGateway.run("/usr/bin/python3", client.toString(), "ws://127.0.0.1:"
                    + echo.address().getPort() + "/ws", "ws.test");
            assertEquals("OK", direct.trim(), "the echo backend itself speaks WebSocket");
            final String out = TestGateway.run("/usr/bin/python3", client.toString(), "ws://127.0.0.1:" + gw.port
                    + "/ws", "ws.test");
            assertEquals("OK", out.trim());
            // The connection that carried the tunnel is not reused for plain HTTP afterwards; HTTP still works.
            try (RawHttp c = gw.client()) {
                assertEquals(200, c.get("ws.test", "/after").status());
            }
        } finally {
            Files.deleteIfExists(client);
        }
    }
}
