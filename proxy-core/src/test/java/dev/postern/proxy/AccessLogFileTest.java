package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The access log in JSON, appended to a file, as operators ship it to their log pipeline. */
class AccessLogFileTest {
    @Test
    void writesOneJsonObjectPerExchangeToTheFile(@TempDir Path dir) throws Exception {
        final EchoServer echo = TestGateway.echo("log-1");
        final Path log = dir.resolve("access.log");
        final Path cfg = Files.createDirectories(dir.resolve("config"));
        try (TestGateway gw = TestGateway.start(cfg, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [log.test]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort()),
                Bootstrap.defaults().withAccessLog("json", log.toString())); RawHttp c = gw.client()) {
            assertEquals(200, c.get("log.test", "/a?b=1", "User-Agent: q\"uote\\d").status());
            assertEquals(404, c.get("none.test", "/missing").status());
            List<String> lines = List.of();
            for (int i = 0; i < 200 && lines.size() < 2; i++) {
                Thread.sleep(20);
                lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
            }
            assertEquals(2, lines.size(), lines::toString);
            final ObjectMapper json = new ObjectMapper();
            final JsonNode ok = json.readTree(lines.get(0));
            assertEquals("GET", ok.get("method").asText());
            assertEquals("/a?b=1", ok.get("path").asText());
            assertEquals(200, ok.get("response_code").asInt());
            assertEquals("-", ok.get("response_flags").asText());
            assertEquals("q\"uote\\d", ok.get("user_agent").asText(), "escaped and read back intact");
            assertEquals("127.0.0.1:" + echo.address().getPort(), ok.get("upstream_host").asText());
            assertTrue(ok.get("request_id").asText().length() >= 32, ok.toString());
            final JsonNode miss = json.readTree(lines.get(1));
            assertEquals(404, miss.get("response_code").asInt());
            assertEquals("NR", miss.get("response_flags").asText());
            assertTrue(miss.get("upstream_host").isNull());
        } finally {
            echo.close();
        }
    }

    @Test
    void bootstrapNamesTheBadAccessLogField(@TempDir Path dir) throws Exception {
        final Path f = dir.resolve("bootstrap.yaml");
        Files.writeString(f, "accessLog: {format: xml}\n");
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bootstrap.read(f));
        assertTrue(e.getMessage().contains("accessLog.format: must be envoy or json, got xml"), e.getMessage());
        Files.writeString(f, "accessLog: {format: json, path: /var/log/postern/access.log}\n");
        final Bootstrap b = Bootstrap.read(f);
        assertTrue(b.accessLog());
        assertEquals("json", b.accessLogFormat());
        assertEquals("/var/log/postern/access.log", b.accessLogPath());
    }
}
