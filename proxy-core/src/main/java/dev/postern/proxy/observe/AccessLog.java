package dev.postern.proxy.observe;

import org.jctools.queues.MpscArrayQueue;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.locks.LockSupport;

/**
 * Access log lines in Envoy's default format, written off the event loops: exchanges offer a finished line to a
 * bounded lock-free queue, a writer thread drains it to stdout. When the writer falls behind, lines are dropped
 * and counted, never blocking the request path.
 *
 * <pre>[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
 * %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
 * "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"</pre>
 */
public final class AccessLog implements AutoCloseable {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
            .withZone(ZoneOffset.UTC);

    /** One finished exchange. Absent values are null and print as {@code -}. */
    public record Entry(long startMillis, String method, String path, String protocol, int status, String flags,
                        long bytesReceived, long bytesSent, long durationMs, String upstreamServiceTime,
                        String xForwardedFor, String userAgent, String requestId, String authority,
                        String upstreamHost, String originalDestination) {
    }

    private final MpscArrayQueue<Entry> queue = new MpscArrayQueue<>(16384);
    private final Metrics metrics;
    private final Writer out;
    private final Thread writer;
    private volatile boolean closed;

    /** Starts a writer to stdout. */
    public AccessLog(Metrics metrics) {
        this.metrics = metrics;
        this.out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
        this.writer = Thread.ofPlatform().name("postern-access-log").daemon().start(this::drain);
    }

    /** Offers a line; drops it (and counts the drop) when the queue is full. */
    public void log(Entry e) {
        if (!queue.offer(e)) {
            metrics.onAccessLogDropped();
        }
    }

    private void drain() {
        final StringBuilder sb = new StringBuilder(256);
        while (!closed || !queue.isEmpty()) {
            final Entry e = queue.poll();
            if (e == null) {
                try {
                    out.flush();
                } catch (IOException ignored) {
                    // stdout is gone; nothing to do
                }
                LockSupport.parkNanos(2_000_000);
                continue;
            }
            sb.setLength(0);
            format(sb, e);
            try {
                out.write(sb.toString());
            } catch (IOException ignored) {
                // stdout is gone; nothing to do
            }
        }
    }

    /** Formats one line (with its newline). */
    public static void format(StringBuilder sb, Entry e) {
        sb.append('[').append(TIME.format(Instant.ofEpochMilli(e.startMillis()))).append("] \"")
                .append(dash(e.method())).append(' ').append(dash(e.path())).append(' ').append(dash(e.protocol()))
                .append("\" ").append(e.status()).append(' ').append(dash(e.flags())).append(' ')
                .append(e.bytesReceived()).append(' ').append(e.bytesSent()).append(' ').append(e.durationMs())
                .append(' ').append(dash(e.upstreamServiceTime())).append(" \"").append(dash(e.xForwardedFor()))
                .append("\" \"").append(dash(e.userAgent())).append("\" \"").append(dash(e.requestId()))
                .append("\" \"").append(dash(e.authority())).append("\" \"").append(dash(e.upstreamHost()))
                .append('"');
        if (e.originalDestination() != null) {
            // Only for connections steered by TPROXY: the Gateway address and port the client connected to.
            sb.append(" \"").append(e.originalDestination()).append('"');
        }
        sb.append('\n');
    }

    private static String dash(String s) {
        return s == null || s.isEmpty() ? "-" : s;
    }

    @Override
    public void close() {
        closed = true;
        try {
            writer.join(1000);
            out.flush();
        } catch (InterruptedException | IOException e) {
            Thread.currentThread().interrupt();
        }
    }
}
