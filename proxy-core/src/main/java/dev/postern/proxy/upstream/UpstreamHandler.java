package dev.postern.proxy.upstream;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpObject;
import io.netty.util.ReferenceCountUtil;

/**
 * The last handler of an upstream connection: hands decoded response parts to the owning exchange, and closes
 * the connection when it says anything while idle in the pool.
 */
final class UpstreamHandler extends ChannelInboundHandlerAdapter {
    private UpstreamListener owner;
    private boolean closedNotified;
    /** The pool key of an HTTP/1.1 connection, set by the pool when it connects; null on HTTP/2 streams. */
    PoolKey key;
    /** The breaker state of the connection's cluster on its loop, set with {@link #key}. */
    UpstreamPool.ClusterState cluster;
    /** When the connection last went idle in the pool ({@link System#nanoTime()}). */
    long idleSince;

    void owner(UpstreamListener l) {
        this.owner = l;
    }

    UpstreamListener owner() {
        return owner;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        final UpstreamListener o = owner;
        if (o != null && msg instanceof io.netty.buffer.ByteBuf b) {
            o.onUpstreamBytes(b); // a tunnel after 101 Switching Protocols
            return;
        }
        if (o == null || !(msg instanceof HttpObject h)) {
            // Bytes on an idle connection: the peer is not speaking HTTP to us any more. Drop it.
            ReferenceCountUtil.release(msg);
            ctx.close();
            return;
        }
        o.onUpstreamRead(h);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        final UpstreamListener o = owner;
        if (o != null) {
            o.onUpstreamReadComplete();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        // A stream of an HTTP/2 connection the backend broke: the exchange learns why.
        notifyClosed(ctx.channel() instanceof io.netty.handler.codec.http2.Http2StreamChannel s
                ? s.parent().attr(H2ConnectionErrors.FAILURE).get() : null);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
        notifyClosed(cause);
    }

    private void notifyClosed(Throwable cause) {
        final UpstreamListener o = owner;
        if (o != null && !closedNotified) {
            closedNotified = true;
            owner = null;
            o.onUpstreamClosed(cause);
        }
    }
}
