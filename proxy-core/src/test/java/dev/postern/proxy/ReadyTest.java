package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.ConfigLoader;
import dev.postern.proxy.server.PosternServer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code /ready} across startup, a bad config and a drain, read with curl as a kubelet or an NLB would. */
class ReadyTest {
    @Test
    void readyOnlyWithAPublishedConfigStaysReadyOnABadOneAndFailsWhileDraining(@TempDir Path dir) throws Exception {
        final EchoServer echo = TestGateway.echo("ready-1");
        final ConfigRef ref = new ConfigRef();
        final PosternServer server = PosternServer.start(Bootstrap.defaults().withAdminPort(0), ref);
        final String ready = "http://127.0.0.1:" + server.adminAddress().getPort() + "/ready";
        try {
            assertEquals("503", code(ready), "no config published yet");

            final int port = TestGateway.freePort();
            Files.writeString(dir.resolve("gateway.yaml"), TestGateway.CLASS.replace("${PORT}", String.valueOf(port)));
            Files.writeString(dir.resolve("routes.yaml"), """
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: HTTPRoute
                    metadata: {name: r, namespace: default}
                    spec:
                      parentRefs: [{name: gw}]
                      rules: [{backendRefs: [{name: svc, port: 80}]}]
                    """ + TestGateway.service("svc", echo.address().getPort()));
            final ConfigLoader loader = new ConfigLoader(dir, new ConfigPipeline.Settings(
                    ConfigPipeline.Settings.DEFAULT_CONTROLLER, "0.0.0.0"), ref);
            try (loader) {
                assertFalse(loader.reload().rejected());
                awaitCode(ready, "200", "the config is published and its listener bound");

                final LinkedBlockingQueue<ConfigPipeline.Build> builds = new LinkedBlockingQueue<>();
                loader.onBuild(builds::add);
                loader.watch();
                Files.writeString(dir.resolve("broken.yaml"), "kind: [unclosed\n");
                final ConfigPipeline.Build bad = builds.poll(5, TimeUnit.SECONDS);
                assertNotNull(bad, "the watcher rebuilt");
                assertTrue(bad.rejected());
                assertEquals("200", code(ready), "a rejected config keeps the last good one serving, and ready");
                final String diag = TestGateway.run("curl", "-sS", "http://127.0.0.1:"
                        + server.adminAddress().getPort() + "/diagnostics");
                assertTrue(diag.contains("broken.yaml") && diag.contains("InvalidYaml"), diag);
                try (RawHttp c = new RawHttp(new java.net.InetSocketAddress("127.0.0.1", port))) {
                    assertEquals(200, c.get("r.test", "/still").status());
                }

                final Thread drain = Thread.ofPlatform().start(() -> server.drain(Duration.ofSeconds(5)));
                awaitCode(ready, "503", "draining");
                drain.join(10_000);
            }
        } finally {
            server.close();
            echo.close();
        }
    }

    private static String code(String url) throws Exception {
        return TestGateway.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url);
    }

    private static void awaitCode(String url, String want, String what) throws Exception {
        final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String got;
        while (!(got = code(url)).equals(want)) {
            if (System.nanoTime() > end) {
                throw new AssertionError(what + ": /ready answered " + got + ", expected " + want);
            }
            Thread.sleep(20);
        }
    }
}
