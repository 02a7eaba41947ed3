package dev.postern.proxy.http;

import dev.postern.proxy.observe.Metrics;
import dev.postern.proxy.server.Bootstrap;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.util.ByteProcessor;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The first handler of a downstream HTTP connection (after TLS, when there is TLS): it owns the connection's
 * timeouts and the one strictness check the HTTP/1.1 decoder cannot make.
 *
 * <ul>
 *   <li>Idle timeout: a connection without a request in flight is closed after {@code downstream.idleTimeout}
 *       (HTTP/2: without an active stream; the close sends GOAWAY).</li>
 *   <li>Request headers timeout (slowloris): from the first byte of a request head to its end at most
 *       {@code downstream.requestHeadersTimeout}; past it 408 and close.</li>
 *   <li>Stream idle timeout: an HTTP/1.1 exchange with no byte read or written for
 *       {@code downstream.streamIdleTimeout} gets {@link #STREAM_IDLE} (the exchange answers 408 or cuts).</li>
 *   <li>obs-fold: Netty's decoder folds header continuation lines into the previous value; RFC 9112 §5.2 lets a
 *       server reject them instead, which is what a proxy must do (the folded and unfolded readings differ). The
 *       raw bytes of each request head are scanned, up to the empty line that ends it, for a line starting
 *       with SP or HTAB, and for a field line without a colon (which Netty would read as an empty field); either
 *       answers 400 and closes. Body bytes are never scanned.</li>
 * </ul>
 *
 * <p>One timer per connection, rescheduled lazily: reads and writes only store {@code System.nanoTime()}; the timer
 * fires at the earliest deadline of the current mode, checks, and schedules itself again. A head that arrives
 * whole in one read costs no scheduling at all.
 *
 * <p>Threading: the connection's event loop only.
 */
public final class ConnectionGuard extends ChannelDuplexHandler implements ByteProcessor {
    /** Fired down the pipeline when an HTTP/1.1 exchange has been idle for the stream idle timeout. */
    public static final Object STREAM_IDLE = new Object() {
        @Override
        public String toString() {
            return "STREAM_IDLE";
        }
    };

    private static final byte[] BAD_REQUEST = ("HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\n"
            + "content-type: text/plain\r\nconnection: close\r\n\r\nBad Request").getBytes(StandardCharsets.US_ASCII);
    private static final byte[] HEADERS_TIMEOUT = ("HTTP/1.1 408 Request Timeout\r\ncontent-length: 15\r\n"
            + "content-type: text/plain\r\nconnection: close\r\n\r\nrequest timeout").getBytes(StandardCharsets.US_ASCII);

    /** What the connection is doing, which decides the deadline. */
    private enum Mode {
        /** HTTP/1.1, no request in flight and no byte of the next one yet: idle timeout. */
        AWAIT,
        /** HTTP/1.1, a request head has started but not ended: request headers timeout. */
        HEAD,
        /** HTTP/1.1, an exchange is in flight: stream idle timeout. */
        EXCHANGE,
        /** HTTP/2: idle timeout while no stream is active. */
        H2
    }

    private final long idleNanos;
    private final long streamIdleNanos;
    private final long headersNanos;
    private final Metrics metrics;
    /** Guards one HTTP/2 stream: always in {@link Mode#EXCHANGE}. */
    private final boolean stream;
    private ChannelHandlerContext ctx;
    private Mode mode;
    private long lastActivity;
    private long headStart;
    private ScheduledFuture<?> timer;
    private long timerAt;

    private static final byte[] CONTENT_LENGTH = "content-length".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    // obs-fold scan of the current head
    private boolean scanning;
    private boolean atLineStart;
    private int lineLen;
    private int lines;
    private boolean lineHasColon;
    /** Characters of "content-length" matched at the start of the current line; -1 once it cannot match. */
    private int clMatch;
    /** Content-Length field lines in this head: a second one is 400 (Netty keeps one of two in HTTP/1.0). */
    private int clLines;
    /** The head has an obs-fold line or a field line without a colon: 400 and close. */
    private boolean folded;
    /** A fixed response was sent and the connection is closing: nothing more is read. */
    private boolean rejected;

    /**
     * Creates the guard of one connection.
     *
     * @param limits the bootstrap's downstream limits
     * @param http2 true for a connection that is HTTP/2 from the start (ALPN h2)
     */
    public ConnectionGuard(Bootstrap.Downstream limits, Metrics metrics, boolean http2) {
        this(limits, metrics, http2 ? Mode.H2 : Mode.AWAIT);
    }

    private ConnectionGuard(Bootstrap.Downstream limits, Metrics metrics, Mode mode) {
        this.idleNanos = limits.idleTimeout().toNanos();
        this.streamIdleNanos = limits.streamIdleTimeout().toNanos();
        this.headersNanos = limits.requestHeadersTimeout().toNanos();
        this.metrics = metrics;
        this.mode = mode;
        this.stream = mode == Mode.EXCHANGE;
        resetScan();
        this.scanning = mode == Mode.AWAIT;
    }

    /**
     * The guard of one HTTP/2 stream (a child channel): only the stream idle timeout applies, from the stream's
     * start. One timer per stream, cancelled when the stream closes.
     */
    public static ConnectionGuard forStream(Bootstrap.Downstream limits, Metrics metrics) {
        return new ConnectionGuard(limits, metrics, Mode.EXCHANGE);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        lastActivity = System.nanoTime();
        if (ctx.channel().isActive()) {
            ensureTimer(lastActivity + (mode == Mode.EXCHANGE ? streamIdleNanos : idleNanos));
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        lastActivity = System.nanoTime();
        ensureTimer(lastActivity + (mode == Mode.EXCHANGE ? streamIdleNanos : idleNanos));
        ctx.fireChannelActive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancelTimer();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelTimer();
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (rejected) {
            io.netty.util.ReferenceCountUtil.release(msg);
            return;
        }
        final long now = System.nanoTime();
        lastActivity = now;
        if (!(msg instanceof ByteBuf b) || (mode != Mode.AWAIT && mode != Mode.HEAD)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (mode == Mode.AWAIT && b.isReadable()) {
            mode = Mode.HEAD;
            headStart = now;
        }
        if (scanning) {
            b.forEachByte(this);
            if (folded) {
                b.release();
                reject(BAD_REQUEST, null);
                return;
            }
        }
        ctx.fireChannelRead(msg);
        if (mode == Mode.HEAD) {
            ensureTimer(headStart + headersNanos); // the head did not end in this read
        }
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        lastActivity = System.nanoTime();
        ctx.write(msg, promise);
    }

    /**
     * Scans one byte of a request head: false stops at the end of the head, at an obs-fold line or at a field line
     * without a colon.
     */
    @Override
    public boolean process(byte b) {
        if (b == '\n') {
            if (lineLen == 0 && lines > 0) {
                scanning = false; // the empty line: the head ends here; what follows is body or the next request
                return false;
            }
            if (lineLen > 0) {
                if (lines > 0 && !lineHasColon) {
                    // RFC 9112 §5: a field line is name ":" value. Netty's decoder reads a line without a colon as
                    // a field with an empty value, which a backend may read differently (found by fuzzing).
                    folded = true;
                    return false;
                }
                lines++;
            }
            lineLen = 0;
            lineHasColon = false;
            clMatch = 0;
            atLineStart = true;
            return true;
        }
        if (b == ':') {
            lineHasColon = true;
        }
        if (lines > 0 && clMatch >= 0) {
            if (clMatch < CONTENT_LENGTH.length) {
                clMatch = ((b >= 'A' && b <= 'Z') ? b + 32 : b) == CONTENT_LENGTH[clMatch] ? clMatch + 1 : -1;
            } else {
                clMatch = -1;
                if (b == ':' && ++clLines > 1) {
                    folded = true; // RFC 9112 §6.3: more than one Content-Length is an invalid framing
                    return false;
                }
            }
        }
        if (b == '\r') {
            return true;
        }
        if (atLineStart && lines > 0 && (b == ' ' || b == '\t')) {
            folded = true;
            return false;
        }
        atLineStart = false;
        lineLen++;
        return true;
    }

    private void resetScan() {
        scanning = true;
        atLineStart = true;
        lineHasColon = false;
        clMatch = 0;
        clLines = 0;
        lineLen = 0;
        lines = 0;
        folded = false;
    }

    /** The terminal handler received a request head: the exchange's stream idle timeout applies now. */
    public void onHead() {
        if (stream) {
            return;
        }
        mode = Mode.EXCHANGE;
        scanning = false;
    }

    /** The exchange ended and the connection waits for the next request: the idle timeout applies again. */
    public void onExchangeDone() {
        if (stream) {
            return;
        }
        mode = Mode.AWAIT;
        lastActivity = System.nanoTime();
        resetScan();
    }

    /** The connection switched to HTTP/2 (h2c prior knowledge or upgrade). */
    public void onHttp2() {
        mode = Mode.H2;
        scanning = false;
    }

    private void ensureTimer(long at) {
        if (timer != null) {
            if (timerAt - at <= 0) {
                return;
            }
            timer.cancel(false);
        }
        timerAt = at;
        timer = ctx.executor().schedule(this::fire, Math.max(0, at - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    private void cancelTimer() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    private void fire() {
        timer = null;
        if (!ctx.channel().isActive()) {
            return;
        }
        final long now = System.nanoTime();
        final long deadline = switch (mode) {
            case AWAIT, H2 -> lastActivity + idleNanos;
            case HEAD -> headStart + headersNanos;
            case EXCHANGE -> lastActivity + streamIdleNanos;
        };
        if (now - deadline < 0) {
            ensureTimer(deadline);
            return;
        }
        switch (mode) {
            case AWAIT -> {
                metrics.onTimeout("idle");
                ctx.close();
            }
            case HEAD -> reject(HEADERS_TIMEOUT, "request_headers");
            case EXCHANGE -> {
                metrics.onTimeout("stream_idle");
                lastActivity = now; // the exchange answers or cuts; check again a full period later
                ensureTimer(now + streamIdleNanos);
                ctx.fireUserEventTriggered(STREAM_IDLE);
            }
            case H2 -> {
                final Http2FrameCodec codec = ctx.pipeline().get(Http2FrameCodec.class);
                if (codec == null || codec.connection().numActiveStreams() == 0) {
                    metrics.onTimeout("idle");
                    ctx.channel().close(); // from the tail: the HTTP/2 handler behind this one sends GOAWAY first
                } else {
                    ensureTimer(now + idleNanos);
                }
            }
        }
    }

    /** Answers with a fixed response straight onto the wire (no request is in flight) and closes. */
    private void reject(byte[] response, String timeoutKind) {
        if (timeoutKind != null) {
            metrics.onTimeout(timeoutKind);
        } else {
            metrics.onError("DPE");
        }
        scanning = false;
        rejected = true;
        mode = Mode.EXCHANGE;
        ctx.writeAndFlush(Unpooled.wrappedBuffer(response)).addListener(ChannelFutureListener.CLOSE);
    }
}
