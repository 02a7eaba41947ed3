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
    private final boolean json;
    private volatile boolean closed;

    /** Starts a writer to stdout in Envoy's default format. */
    public AccessLog(Metrics metrics) {
        this(metrics, "envoy", "");
    }

    /**
     * Starts a writer.
     *
     * @param format {@code envoy} (Envoy's default line) or {@code json} (one object per line)
     * @param path the file to append to (created if missing), or empty for stdout
     * @throws java.io.UncheckedIOException when the file cannot be opened
     */
    public AccessLog(Metrics metrics, String format, String path) {
        this.metrics = metrics;
        this.json = "json".equals(format);
        try {
            this.out = path == null || path.isEmpty()
                    ? new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16)
                    : java.nio.file.Files.newBufferedWriter(java.nio.file.Path.of(path), StandardCharsets.UTF_8,
                            java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND,
                            java.nio.file.StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot open the access log " + path, e);
        }
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
            if (json) {
                formatJson(sb, e);
            } else {
                format(sb, e);
            }
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

    /**
     * Formats one line as a JSON object (with its newline), with the keys of Envoy's command operators in lower
     * case: start_time, method, path, protocol, response_code, response_flags, bytes_received, bytes_sent,
     * duration, upstream_service_time, x_forwarded_for, user_agent, request_id, authority, upstream_host and, for
     * connections steered by TPROXY, downstream_local_address. Absent values are null.
     */
    public static void formatJson(StringBuilder sb, Entry e) {
        sb.append("{\"start_time\":");
        str(sb, TIME.format(Instant.ofEpochMilli(e.startMillis())));
        sb.append(",\"method\":");
        str(sb, e.method());
        sb.append(",\"path\":");
        str(sb, e.path());
        sb.append(",\"protocol\":");
        str(sb, e.protocol());
        sb.append(",\"response_code\":").append(e.status()).append(",\"response_flags\":");
        str(sb, e.flags() == null || e.flags().isEmpty() ? "-" : e.flags());
        sb.append(",\"bytes_received\":").append(e.bytesReceived()).append(",\"bytes_sent\":")
                .append(e.bytesSent()).append(",\"duration\":").append(e.durationMs())
                .append(",\"upstream_service_time\":");
        str(sb, e.upstreamServiceTime());
        sb.append(",\"x_forwarded_for\":");
        str(sb, e.xForwardedFor());
        sb.append(",\"user_agent\":");
        str(sb, e.userAgent());
        sb.append(",\"request_id\":");
        str(sb, e.requestId());
        sb.append(",\"authority\":");
        str(sb, e.authority());
        sb.append(",\"upstream_host\":");
        str(sb, e.upstreamHost());
        if (e.originalDestination() != null) {
            sb.append(",\"downstream_local_address\":");
            str(sb, e.originalDestination());
        }
        sb.append("}\n");
    }

    /** A JSON string (escaped), or null. */
    private static void str(StringBuilder sb, String s) {
        if (s == null) {
            sb.append("null");
            return;
        }
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
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
