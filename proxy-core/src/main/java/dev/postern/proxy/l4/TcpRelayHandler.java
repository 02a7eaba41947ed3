package dev.postern.proxy.l4;

import dev.postern.proxy.server.Transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.util.ReferenceCountUtil;

import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * Relays a downstream connection's bytes to one upstream endpoint and back, with backpressure both ways and the
 * upstream connection on the downstream's event loop. What one read brings is written to the other side and
 * flushed at the end of the read; the next read is asked for only while the other side is writable (below its
 * high-water mark), and a side that becomes writable again resumes reading from its peer. So several buffers can be
 * in flight per direction, but never more than the write buffer's watermark.
 * Bytes that arrive before the upstream connection is up wait in order. Either side closing closes the other once
 * what it sent is flushed.
 *
 * <p>{@link #spliced spliced}: when both channels are epoll channels (on one event loop, as here), once the
 * upstream is connected the bytes go socket → pipe → socket with splice(2) and never enter the JVM
 * ({@code AbstractEpollStreamChannel.spliceTo}, both ways, with Netty's own backpressure: a side stops reading while
 * its pipe's bytes are not yet written). No handler sees the bytes, so the relay keeps its own idle timer, fed by
 * each read event of either side; half-close still goes through {@code ChannelInputShutdownEvent}.
 */
public final class TcpRelayHandler extends ChannelInboundHandlerAdapter {
    private final InetSocketAddress target;
    private final Transport transport;
    private final int connectTimeoutMs;
    private final ArrayDeque<Object> early = new ArrayDeque<>(2);
    /** Relay with splice(2); {@link #idleNanos} then is the relay's own idle timeout (0: none). */
    private final boolean splice;
    private final long idleNanos;
    private long lastActivity;
    /** The pending idle check (splice only); cancelled when the connection ends, so it keeps nothing alive. */
    private io.netty.util.concurrent.Future<?> idleCheck;
    private ChannelHandlerContext ctx;
    private Channel up;
    /** The client finished sending (half-close), and the backend did. */
    private boolean downEof;
    private boolean upEof;

    /** Creates a relay to {@code target}. */
    public TcpRelayHandler(InetSocketAddress target, Transport transport, int connectTimeoutMs) {
        this(target, transport, connectTimeoutMs, false, 0);
    }

    private TcpRelayHandler(InetSocketAddress target, Transport transport, int connectTimeoutMs, boolean splice,
            long idleNanos) {
        this.target = target;
        this.transport = transport;
        this.connectTimeoutMs = connectTimeoutMs;
        this.splice = splice;
        this.idleNanos = idleNanos;
    }

    /**
     * A relay that splices both ways once connected; only for an epoll downstream channel, with no handler in its
     * pipeline that needs the bytes (plain TCPRoute, not TLS).
     *
     * @param idleTimeoutMs close both sides after this long without a read on either side (0: never); this
     *     replaces the {@code IdleStateHandler}, which spliced bytes bypass
     */
    public static TcpRelayHandler spliced(InetSocketAddress target, Transport transport, int connectTimeoutMs,
            long idleTimeoutMs) {
        return new TcpRelayHandler(target, transport, connectTimeoutMs, true,
                java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(idleTimeoutMs));
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        ctx.channel().config().setAutoRead(false);
        ctx.channel().config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        final ChannelFuture f = new Bootstrap().group(ctx.channel().eventLoop()).channel(transport.socketChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMs)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .handler(new Back()).connect(target);
        up = f.channel();
        f.addListener((ChannelFutureListener) x -> {
            if (!x.isSuccess()) {
                drop();
                ctx.close();
                return;
            }
            Object m;
            while ((m = early.poll()) != null) {
                up.write(m);
            }
            up.flush();
            if (splice && up instanceof AbstractEpollStreamChannel u
                    && ctx.channel() instanceof AbstractEpollStreamChannel d) {
                startSplice(d, u);
                return;
            }
            up.read();
            ctx.read();
        });
    }

    private void startSplice(AbstractEpollStreamChannel down, AbstractEpollStreamChannel u) {
        final ChannelFutureListener failed = f -> {
            if (!f.isSuccess()) {
                ctx.close(); // a splice error (reset, broken pipe); channelInactive closes the other side
                u.close();
            }
        };
        down.spliceTo(u, Integer.MAX_VALUE).addListener(failed);
        u.spliceTo(down, Integer.MAX_VALUE).addListener(failed);
        // Netty splices on read events and pauses reading itself while a pipe's bytes wait to be written.
        down.config().setAutoRead(true);
        u.config().setAutoRead(true);
        lastActivity = System.nanoTime();
        if (idleNanos > 0 && ctx.channel().isActive()) {
            idleCheck = ctx.executor().schedule(this::checkIdle, idleNanos, TimeUnit.NANOSECONDS);
        }
    }

    private void checkIdle() {
        if (!ctx.channel().isActive()) {
            return;
        }
        final long idle = System.nanoTime() - lastActivity;
        if (idle >= idleNanos) {
            ctx.close(); // the close reaches the backend through channelInactive
            return;
        }
        idleCheck = ctx.executor().schedule(this::checkIdle, idleNanos - idle, TimeUnit.NANOSECONDS);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (up == null || !up.isActive()) {
            early.add(msg);
            return;
        }
        up.write(msg, up.voidPromise()); // a failed write reaches Back.exceptionCaught, which closes both
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (splice) {
            lastActivity = System.nanoTime(); // also fired after each splice from this side
        }
        if (up != null && up.isActive()) {
            up.flush();
            if (up.isWritable()) {
                ctx.read();
            } // else Back.channelWritabilityChanged asks for the next read
        }
    }

    /** The client drained what the backend sent: read more from the backend. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && up != null && up.isActive()) {
            up.read();
        }
        ctx.fireChannelWritabilityChanged();
    }

    /** The client half-closed: pass the EOF on once what it sent is written, keep relaying the other way. */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof io.netty.handler.timeout.IdleStateEvent) {
            ctx.close(); // idle both ways for the idle timeout: the close reaches the backend through channelInactive
            return;
        }
        if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
            downEof = true;
            if (splice && up != null) {
                drainAfterShutdown(ctx.channel(), up);
            }
            if (up != null && up.isActive()) {
                up.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f ->
                        shutdownOutput(up));
            }
            closeIfDone();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    /**
     * Netty's splice path shuts a channel's input as soon as the peer's FIN is seen (EPOLLRDHUP), even when more
     * bytes than the pipe holds still wait in the socket's receive queue: spliced up to the pipe, the rest would
     * be left unread, and closing the socket then resets the connection. Linux keeps those bytes readable after
     * SHUT_RD, and the FIN is behind them, so they are read here to the EOF and written to the other side, behind
     * what the pipe already queued there.
     */
    private static void drainAfterShutdown(Channel from, Channel to) {
        if (!(from instanceof AbstractEpollStreamChannel ch) || !to.isActive()) {
            return;
        }
        try {
            while (true) {
                final io.netty.buffer.ByteBuf buf = from.alloc().directBuffer(64 * 1024);
                final java.nio.ByteBuffer nio = buf.internalNioBuffer(0, buf.writableBytes());
                final int n = ch.fd().read(nio, nio.position(), nio.limit());
                if (n <= 0) { // -1: the EOF; 0: nothing more now
                    buf.release();
                    break;
                }
                buf.writerIndex(n);
                to.write(buf, to.voidPromise());
            }
            to.flush();
        } catch (java.io.IOException e) {
            from.close();
        }
    }

    private static void shutdownOutput(Channel ch) {
        if (ch instanceof io.netty.channel.socket.DuplexChannel d && ch.isActive()) {
            d.shutdownOutput();
        } else {
            ch.close();
        }
    }

    /**
     * Both sides sent their EOF: each connection closes once what is queued to it has been written. A plain close
     * drops the queued writes, and a slow reader lost the end of what the other side sent (TcpRouteTest saw 96 KiB
     * of a 4 MiB echo arrive, on a loaded machine).
     */
    private void closeIfDone() {
        if (downEof && upEof) {
            closeAfterWrites(ctx.channel());
            if (up != null) {
                closeAfterWrites(up);
            }
        }
    }

    private static void closeAfterWrites(Channel ch) {
        if (ch.isActive()) {
            ch.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } else {
            ch.close();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (idleCheck != null) {
            idleCheck.cancel(false);
            idleCheck = null;
        }
        drop();
        if (up != null && up.isActive()) {
            closeAfterWrites(up);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }

    private void drop() {
        Object m;
        while ((m = early.poll()) != null) {
            ReferenceCountUtil.release(m);
        }
    }

    /** The upstream side: bytes back to the client. */
    private final class Back extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext uctx, Object msg) {
            ctx.write(msg, ctx.voidPromise()); // a failed write reaches exceptionCaught, which closes both
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext uctx) {
            if (splice) {
                lastActivity = System.nanoTime();
            }
            ctx.flush();
            if (ctx.channel().isWritable()) {
                uctx.read();
            } // else channelWritabilityChanged of the downstream asks for the next read
        }

        /** The backend drained what the client sent: read more from the client. */
        @Override
        public void channelWritabilityChanged(ChannelHandlerContext uctx) {
            if (uctx.channel().isWritable()) {
                ctx.read();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext uctx, Object evt) {
            if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                upEof = true;
                if (splice) {
                    drainAfterShutdown(uctx.channel(), ctx.channel());
                }
                ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f ->
                        shutdownOutput(ctx.channel()));
                closeIfDone();
                return;
            }
            uctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext uctx) {
            closeAfterWrites(ctx.channel());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext uctx, Throwable cause) {
            uctx.close();
        }
    }
}
