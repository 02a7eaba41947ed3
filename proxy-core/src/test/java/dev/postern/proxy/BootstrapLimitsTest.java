package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.server.Bootstrap;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bootstrap's limit sections: defaults, reading, and errors that name the file, the field and the reason. */
class BootstrapLimitsTest {
    @Test
    void defaultsAreEnvoys() {
        final Bootstrap b = Bootstrap.defaults();
        assertEquals(Duration.ofHours(1), b.downstream().idleTimeout());
        assertEquals(Duration.ofMinutes(5), b.downstream().streamIdleTimeout());
        assertEquals(Duration.ofSeconds(10), b.downstream().requestHeadersTimeout());
        assertEquals(100, b.http2().maxConcurrentStreams());
        assertEquals(1024, b.upstreamPolicy().maxConnections());
        assertEquals(1024, b.upstreamPolicy().maxPendingRequests());
        assertEquals("round_robin", b.upstreamPolicy().lbPolicy());
    }

    @Test
    void readsEverySection(@TempDir Path dir) throws Exception {
        final Path f = dir.resolve("bootstrap.yaml");
        Files.writeString(f, """
                transport: io_uring
                downstream: {maxConnections: 5000, maxConnectionsPerListener: 1000, idleTimeout: 30m,
                             streamIdleTimeout: 1m, requestHeadersTimeout: 5s}
                http2: {maxConcurrentStreams: 50, maxHeaderListSize: 32768, maxRstFramesPerWindow: 100,
                        rstWindowSeconds: 10, maxQueuedControlFrames: 500, maxConsecutiveEmptyDataFrames: 2,
                        maxSmallContinuationFrames: 8}
                upstream: {maxRequests: 2048, lbPolicy: least_request, maxConnections: 64, maxPendingRequests: 32}
                overload: {heapThreshold: 0.9, directThreshold: 0.8, checkInterval: 250ms}
                """);
        final Bootstrap b = Bootstrap.read(f);
        assertEquals("io_uring", b.transport());
        assertEquals(new Bootstrap.Downstream(5000, 1000, Duration.ofMinutes(30), Duration.ofMinutes(1),
                Duration.ofSeconds(5)), b.downstream());
        assertEquals(new Bootstrap.Http2(50, 32768, 100, 10, 500, 2, 8), b.http2());
        assertEquals(new Bootstrap.UpstreamPolicy("least_request", 64, 32), b.upstreamPolicy());
        assertEquals(2048, b.maxRequests());
        assertEquals(new Bootstrap.Overload(0.9, 0.8, Duration.ofMillis(250)), b.overload());
    }

    @Test
    void errorsNameTheField(@TempDir Path dir) throws Exception {
        final Path f = dir.resolve("bootstrap.yaml");
        for (String[] c : new String[][] {
            {"downstream: {idleTimout: 5m}", "downstream.idleTimout: unknown field"},
            {"downstream: {requestHeadersTimeout: 0s}", "downstream.requestHeadersTimeout: must be positive"},
            {"upstream: {lbPolicy: random}", "upstream.lbPolicy: must be round_robin or least_request"},
            {"upstream: {maxPendingRequests: 0}", "upstream.maxPendingRequests: must be positive"},
            {"http2: {maxConcurrentStreams: -1}", "http2.maxConcurrentStreams: must be positive"},
            {"overload: {heapThreshold: 1.5}", "overload.heapThreshold: must be a number in (0, 1]"},
        }) {
            Files.writeString(f, c[0]);
            final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bootstrap.read(f));
            assertTrue(e.getMessage().startsWith(f + ": " + c[1]), e.getMessage());
        }
    }
}
