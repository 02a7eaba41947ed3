package dev.postern.proxy.http;

import dev.postern.config.runtime.Endpoint;
import dev.postern.config.runtime.RouteAction;
import dev.postern.proxy.server.ServerContext;
import dev.postern.proxy.upstream.PoolKey;
import dev.postern.proxy.upstream.UpstreamListener;
import dev.postern.proxy.upstream.UpstreamPool;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;

import java.util.ArrayDeque;

/**
 * A fire-and-forget copy of a request to a mirror cluster (RequestMirror). It never affects the main exchange: its
 * response is read and dropped, its failures are ignored, and a request body larger than 64 KiB is not mirrored
 * past that point (the mirror is abandoned). As Envoy does, the mirrored Host gets a {@code -shadow} suffix.
 *
 * <p>Threading: runs on the downstream connection's event loop, like the exchange that made it.
 */
final class MirrorExchange implements UpstreamListener, UpstreamPool.Callback {
    private static final long BODY_LIMIT = 64 * 1024;

    private final UpstreamPool pool;
    private final HttpRequest head;
    private final ArrayDeque<HttpContent> queued = new ArrayDeque<>(2);
    private Channel up;
    private long bytes;
    private boolean sentAll;
    private boolean done;

    private MirrorExchange(UpstreamPool pool, HttpRequest head) {
        this.pool = pool;
        this.head = head;
    }

    /**
     * Starts a mirror of {@code req} (already prepared for upstream) if the mirror's fraction says so.
     *
     * @return the mirror, to be fed the request body; null when this request is not mirrored
     */
    static MirrorExchange start(ServerContext sc, EventLoop loop, RouteAction.Mirror m, HttpRequest req) {
        if (m.cluster().endpoints().isEmpty() || (m.numerator() < m.denominator()
                && java.util.concurrent.ThreadLocalRandom.current().nextInt(m.denominator()) >= m.numerator())) {
            return null;
        }
        final ServerContext.LoopState ls = sc.loop(loop);
        final Endpoint ep = m.cluster().endpoints().get(ls.nextIndex(m.cluster().name(),
                m.cluster().endpoints().size()));
        final HttpRequest copy = new DefaultHttpRequest(req.protocolVersion(), req.method(), req.uri(),
                req.headers().copy());
        final String host = copy.headers().get(HttpHeaderNames.HOST);
        if (host != null) {
            final int colon = host.lastIndexOf(':');
            copy.headers().set(HttpHeaderNames.HOST, colon > 0 && host.indexOf(']') < colon
                    ? host.substring(0, colon) + "-shadow" + host.substring(colon) : host + "-shadow");
        }
        final MirrorExchange x = new MirrorExchange(ls.pool(), copy);
        if (!ls.pool().acquire(PoolKey.of(ep.socketAddress(), m.cluster()), m.cluster().name(), x, x)) {
            return null; // the cluster's pending breaker is open: no mirror
        }
        return x;
    }

    /** A chunk of the request body; the mirror takes ownership of {@code c}. */
    void onContent(HttpContent c) {
        if (done) {
            c.release();
            return;
        }
        bytes += c.content().readableBytes();
        if (bytes > BODY_LIMIT) {
            c.release();
            abandon();
            return;
        }
        if (up == null) {
            queued.add(c);
        } else {
            up.writeAndFlush(c);
            sentAll |= c instanceof LastHttpContent;
        }
    }

    /** The main exchange ended without a full request (the client went away): stop mirroring. */
    void abandonIfIncomplete() {
        if (!sentAll && !queuedLast()) {
            abandon();
        }
    }

    private boolean queuedLast() {
        for (HttpContent c : queued) {
            if (c instanceof LastHttpContent) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void onAcquired(Channel ch, boolean reused) {
        if (done) {
            pool.discard(ch);
            return;
        }
        up = ch;
        ch.write(head);
        HttpContent c;
        while ((c = queued.poll()) != null) {
            sentAll |= c instanceof LastHttpContent;
            ch.write(c);
        }
        ch.flush();
        ch.read();
    }

    @Override
    public void onFailed(Throwable cause) {
        abandon();
    }

    @Override
    public void onUpstreamRead(HttpObject msg) {
        final boolean last = msg instanceof LastHttpContent;
        final boolean keepAlive = !(msg instanceof io.netty.handler.codec.http.HttpResponse r) || HttpUtil.isKeepAlive(r);
        ReferenceCountUtil.release(msg);
        if (!keepAlive) {
            sentAll = false; // the peer closes this connection: do not pool it
        }
        if (last && !done) {
            done = true;
            if (sentAll) {
                pool.release(up);
            } else {
                pool.discard(up);
            }
            up = null;
        } else if (up != null) {
            up.read();
        }
    }

    @Override
    public void onUpstreamBytes(ByteBuf buf) {
        buf.release();
    }

    @Override
    public void onUpstreamClosed(Throwable cause) {
        up = null;
        abandon();
    }

    private void abandon() {
        done = true;
        HttpContent c;
        while ((c = queued.poll()) != null) {
            c.release();
        }
        if (up != null) {
            pool.discard(up);
            up = null;
        }
    }
}
