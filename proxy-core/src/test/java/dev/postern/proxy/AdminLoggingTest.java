package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** Runtime log levels through the admin server's {@code /logging}, with curl, as operators use Envoy's. */
class AdminLoggingTest {
    @Test
    void changesLevelsAtRuntimeAndRejectsBadInput(@TempDir Path dir) throws Exception {
        final Logger http = (Logger) LoggerFactory.getLogger("dev.postern.proxy.http");
        final Logger root = (Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
        final Level rootBefore = root.getLevel();
        try (TestGateway gw = TestGateway.start(dir, "")) {
            final String admin = "http://127.0.0.1:" + gw.server.adminAddress().getPort() + "/logging";
            assertTrue(TestGateway.run("curl", "-sS", admin).contains("ROOT: "), "GET lists the loggers");

            final String set = TestGateway.run("curl", "-sS", "-X", "POST", admin + "?dev.postern.proxy.http=debug");
            assertEquals(Level.DEBUG, http.getLevel());
            assertTrue(http.isDebugEnabled());
            assertTrue(set.contains("dev.postern.proxy.http: debug"), set);

            assertEquals("405", TestGateway.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    admin + "?level=debug"), "a GET never changes anything");
            assertEquals(Level.DEBUG, http.getLevel());

            final String bad = TestGateway.run("curl", "-s", "-w", "%{http_code}", "-X", "POST",
                    admin + "?level=loud");
            assertTrue(bad.startsWith("unknown log level \"loud\""), bad);
            assertTrue(bad.endsWith("400"), bad);

            TestGateway.run("curl", "-sS", "-X", "POST", admin + "?level=warning");
            assertEquals(Level.WARN, root.getLevel(), "level= sets every configured logger");
            assertEquals(Level.WARN, http.getLevel());
        } finally {
            http.setLevel(null);
            root.setLevel(rootBefore);
        }
    }

    @Test
    void jsonLogFormatWritesOneObjectPerLine() throws Exception {
        final java.io.PrintStream err = System.err;
        final java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            dev.postern.proxy.observe.LogLevels.useJson();
            LoggerFactory.getLogger("dev.postern.test").info("config version {} published", 7);
        } finally {
            System.setErr(err);
            // Back to the default text configuration for the other tests in this JVM.
            final var ctx = (ch.qos.logback.classic.LoggerContext) LoggerFactory.getILoggerFactory();
            ctx.reset();
            new ch.qos.logback.classic.util.ContextInitializer(ctx).autoConfig();
        }
        final String line = buf.toString(java.nio.charset.StandardCharsets.UTF_8).lines()
                .filter(l -> l.contains("dev.postern.test")).findFirst().orElseThrow(() -> new AssertionError(buf));
        final com.fasterxml.jackson.databind.JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(line);
        assertEquals("INFO", j.get("level").asText());
        assertEquals("dev.postern.test", j.get("loggerName").asText());
        assertEquals("config version 7 published", j.get("formattedMessage").asText());
        assertTrue(j.has("timestamp"), line);
    }
}
