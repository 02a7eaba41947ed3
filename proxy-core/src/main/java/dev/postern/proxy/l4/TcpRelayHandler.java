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
import io.netty.util.ReferenceCountUtil;

import java.net.InetSocketAddress;
import java.util.ArrayDeque;

/**
 * Relays a downstream connection's bytes to one upstream endpoint and back, with backpressure both ways and the
 * upstream connection on the downstream's event loop. What one read brings is written to the other side and
 * flushed at the end of the read; the next read is asked for only while the other side is writable (below its
 * high-water mark), and a side that becomes writable again resumes reading from its peer. So several buffers can be
 * in flight per direction, but never more than the write buffer's watermark.
 * Bytes that arrive before the upstream connection is up wait in order. Either side closing closes the other once
 * what it sent is flushed.
 */
public final class TcpRelayHandler extends ChannelInboundHandlerAdapter {
    private final InetSocketAddress target;
    private final Transport transport;
    private final int connectTimeoutMs;
    private final ArrayDeque<Object> early = new ArrayDeque<>(2);
    private ChannelHandlerContext ctx;
    private Channel up;
    /** The client finished sending (half-close), and the backend did. */
    private boolean downEof;
    private boolean upEof;

    /** Creates a relay to {@code target}. */
    public TcpRelayHandler(InetSocketAddress target, Transport transport, int connectTimeoutMs) {
        this.target = target;
        this.transport = transport;
        this.connectTimeoutMs = connectTimeoutMs;
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
            up.read();
            ctx.read();
        });
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
            if (up != null && up.isActive()) {
                up.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f ->
                        shutdownOutput(up));
            }
            closeIfDone();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    private static void shutdownOutput(Channel ch) {
        if (ch instanceof io.netty.channel.socket.DuplexChannel d && ch.isActive()) {
            d.shutdownOutput();
        } else {
            ch.close();
        }
    }

    private void closeIfDone() {
        if (downEof && upEof) {
            ctx.close();
            if (up != null) {
                up.close();
            }
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        drop();
        if (up != null && up.isActive()) {
            up.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
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
                ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f ->
                        shutdownOutput(ctx.channel()));
                closeIfDone();
                return;
            }
            uctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext uctx) {
            ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext uctx, Throwable cause) {
            uctx.close();
        }
    }
}
