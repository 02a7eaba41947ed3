package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bodies stream through with backpressure: a 1 GiB upload passes while the memory Postern's allocator holds stays
 * flat, and a slow backend does not make Postern buffer the body.
 */
class BackpressureTest {

    /** What Netty's default allocator holds now (Postern runs in this JVM). */
    private static long allocated() {
        return ((ByteBufAllocatorMetricProvider) ByteBufAllocator.DEFAULT).metric().usedDirectMemory()
                + ((ByteBufAllocatorMetricProvider) ByteBufAllocator.DEFAULT).metric().usedHeapMemory();
    }

    /** The probe sees the allocator: holding 16 MiB from it shows up (so a Postern that buffered would show). */
    private static void probeIsLive() {
        final long before = allocated();
        final io.netty.buffer.ByteBuf held = ByteBufAllocator.DEFAULT.directBuffer(16 << 20, 16 << 20);
        try {
            held.writeZero(16 << 20);
            assertTrue(allocated() - before >= 8L << 20, "the allocator probe does not see allocations");
        } finally {
            held.release();
        }
    }

    private static HttpServer sink(long sleepEveryMiB) throws Exception {
        final HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        s.createContext("/", ex -> {
            long n = 0;
            try (InputStream in = ex.getRequestBody()) {
                final byte[] buf = new byte[64 * 1024];
                int r;
                long nextPause = 1 << 20;
                while ((r = in.read(buf)) > 0) {
                    n += r;
                    if (sleepEveryMiB > 0 && n >= nextPause) {
                        Thread.sleep(sleepEveryMiB);
                        nextPause += 1 << 20;
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            final byte[] out = Long.toString(n).getBytes();
            ex.sendResponseHeaders(200, out.length);
            ex.getResponseBody().write(out);
            ex.close();
        });
        s.start();
        return s;
    }

    private static long upload(TestGateway gw, long size, AtomicLong peak) throws Exception {
        probeIsLive();
        final long base = allocated();
        final Thread sampler = Thread.ofVirtual().start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                peak.accumulateAndGet(allocated() - base, Math::max);
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        try (RawHttp c = gw.client()) {
            c.send("POST /up HTTP/1.1\r\nHost: b.test\r\nContent-Length: " + size + "\r\n\r\n");
            final byte[] chunk = new byte[256 * 1024];
            for (long sent = 0; sent < size; sent += chunk.length) {
                c.sendBytes(chunk);
            }
            final RawHttp.Response r = c.read(false);
            assertEquals(200, r.status());
            return Long.parseLong(r.text());
        } finally {
            sampler.interrupt();
            sampler.join();
        }
    }

    private static String route(int port) {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: sink, port: 80}]}]
                """ + TestGateway.service("sink", port);
    }

    @Test
    void oneGibibyteStreamsWithFlatMemory(@TempDir Path dir) throws Exception {
        final HttpServer s = sink(0);
        try (TestGateway gw = TestGateway.start(dir, route(s.getAddress().getPort()))) {
            final AtomicLong peak = new AtomicLong();
            final long size = 1L << 30;
            assertEquals(size, upload(gw, size, peak));
            assertTrue(peak.get() < 64L << 20, "allocator grew by " + (peak.get() >> 20) + " MiB for a 1 GiB body");
        } finally {
            s.stop(0);
        }
    }

    @Test
    void slowBackendDoesNotMakePosternBuffer(@TempDir Path dir) throws Exception {
        final HttpServer s = sink(40); // 40 ms per MiB: ~25 MiB/s
        try (TestGateway gw = TestGateway.start(dir, route(s.getAddress().getPort()))) {
            final AtomicLong peak = new AtomicLong();
            final long size = 48L << 20;
            assertEquals(size, upload(gw, size, peak));
            assertTrue(peak.get() < 16L << 20, "allocator grew by " + (peak.get() >> 20) + " MiB behind a slow "
                    + "backend for a 48 MiB body");
        } finally {
            s.stop(0);
        }
    }
}
