package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** HTTP/2 cleartext downstream (prior knowledge and Upgrade) and h2c upstream, with real clients. */
class Http2EndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static EchoServer echo;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("e-1");
    }

    @AfterAll
    static void stop() {
        echo.close();
    }

    private static String routes() {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [h2.test]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /h1}}]
                    backendRefs: [{name: svc-h1, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /h2c}}]
                    backendRefs: [{name: svc-h2c, port: 80}]
                """ + TestGateway.service("svc-h1", echo.address().getPort())
                + TestGateway.service("svc-h2c", "kubernetes.io/h2c", echo.address().getPort());
    }

    private static JsonNode curl(String... args) throws Exception {
        final String[] cmd = new String[args.length + 2];
        cmd[0] = "curl";
        cmd[1] = "-sS";
        System.arraycopy(args, 0, cmd, 2, args.length);
        final String out = TestGateway.run(cmd);
        final int nl = out.lastIndexOf('\n');
        final JsonNode j = JSON.readTree(out.substring(0, nl));
        ((com.fasterxml.jackson.databind.node.ObjectNode) j).put("_curl", out.substring(nl + 1));
        return j;
    }

    @Test
    void priorKnowledgeAndUpgradeReachHttp1AndH2cBackends(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes())) {
            final JsonNode a = curl("--max-time", "10", "--http2-prior-knowledge", "-w", "\n%{http_version}",
                    "-H", "Host: h2.test", gw.url("/h1/x?q=1"));
            assertEquals("2", a.get("_curl").asText(), "client spoke HTTP/2 to Postern");
            assertEquals("HTTP/1.1", a.get("proto").asText(), "plain Service: HTTP/1.1 upstream");
            assertEquals("/h1/x?q=1", a.get("path").asText());
            assertEquals("h2.test", a.get("host").asText());
            assertTrue(a.get("headers").get("X-Forwarded-For") != null);
            assertTrue(a.get("headers").findValue("X-Http2-Stream-Id") == null, "no x-http2-* leaks upstream");

            final JsonNode b = curl("--max-time", "10", "--http2-prior-knowledge", "-w", "\n%{http_version}",
                    "-H", "Host: h2.test", gw.url("/h2c/y"));
            assertEquals("HTTP/2.0", b.get("proto").asText(), "appProtocol kubernetes.io/h2c: HTTP/2 upstream");
            assertEquals("h2.test", b.get("host").asText());

            final JsonNode c = curl("--max-time", "10", "--http2", "-w", "\n%{http_version}",
                    "-H", "Host: h2.test", gw.url("/h1/upgraded"));
            assertEquals("2", c.get("_curl").asText(), "Upgrade: h2c was accepted");
            assertEquals("/h1/upgraded", c.get("path").asText());

            final String notFound = TestGateway.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    "--http2-prior-knowledge", "-H", "Host: nope.test", gw.url("/"));
            assertEquals("404", notFound);
        }
    }

    @Test
    void h2loadMultiplexedStreamsAllSucceed(@TempDir Path dir) throws Exception {
        try (TestGateway gw = TestGateway.start(dir, routes())) {
            for (String path : new String[] {"/h1/load", "/h2c/load"}) {
                final String out = TestGateway.run("h2load", "-n", "400", "-c", "4", "-m", "16",
                        "-H", ":authority: h2.test", gw.url(path));
                assertTrue(out.contains("400 succeeded, 0 failed, 0 errored"), out);
                assertTrue(out.contains("status codes: 400 2xx"), out);
            }
        }
    }
}
