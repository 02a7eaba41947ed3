package dev.postern.proxy.upstream;

import dev.postern.proxy.server.Transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.AttributeKey;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The upstream connections of one event loop: idle HTTP/1.1 connections by {@link PoolKey}, and new ones
 * connected on the same loop. Confined to its loop: no locks, and every method asserts it runs there.
 */
public final class UpstreamPool {
    private static final AttributeKey<PoolKey> KEY = AttributeKey.valueOf("postern.poolKey");

    private final EventLoop loop;
    private final Bootstrap bootstrap;
    private final Map<PoolKey, ArrayDeque<Channel>> idle = new HashMap<>();

    /**
     * Creates the pool of one loop.
     *
     * @param loop the event loop that owns every connection
     * @param transport the transport (for the socket channel class)
     * @param connectTimeout the connect timeout
     * @param idleTimeout how long a connection may sit idle before it is closed
     */
    public UpstreamPool(EventLoop loop, Transport transport, Duration connectTimeout, Duration idleTimeout) {
        this.loop = loop;
        final long idleMs = idleTimeout.toMillis();
        this.bootstrap = new Bootstrap().group(loop).channel(transport.socketChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE,
                        connectTimeout.toMillis()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new IdleStateHandler(0, 0, idleMs, TimeUnit.MILLISECONDS))
                                .addLast(new HttpClientCodec(new HttpDecoderConfig().setMaxHeaderSize(64 * 1024), false, false))
                                .addLast(new UpstreamHandler());
                    }
                });
    }

    /**
     * Gets a connection for {@code key}, reused when one is idle or newly connected, and hands it to
     * {@code done}. {@code owner} receives the connection's events from then on.
     */
    public void acquire(PoolKey key, UpstreamListener owner, Callback done) {
        assert loop.inEventLoop();
        final ArrayDeque<Channel> q = idle.get(key);
        if (q != null) {
            Channel ch;
            while ((ch = q.pollLast()) != null) {
                if (ch.isActive()) {
                    handler(ch).owner(owner);
                    done.onAcquired(ch, true);
                    return;
                }
            }
        }
        final ChannelFuture f = bootstrap.connect(key.address());
        final Channel ch = f.channel();
        ch.attr(KEY).set(key);
        ch.closeFuture().addListener(x -> {
            final ArrayDeque<Channel> dq = idle.get(key);
            if (dq != null) {
                dq.remove(ch);
            }
        });
        f.addListener(x -> {
            if (x.isSuccess()) {
                handler(ch).owner(owner);
                done.onAcquired(ch, false);
            } else {
                done.onFailed(x.cause());
            }
        });
    }

    /** Receives the outcome of {@link #acquire}, on the pool's loop. */
    public interface Callback {
        /** A connection, {@code reused} from the pool or newly connected. */
        void onAcquired(Channel ch, boolean reused);

        /** Connecting failed. */
        void onFailed(Throwable cause);
    }

    /** Returns a connection whose exchange completed cleanly; it is closed instead when it cannot be reused. */
    public void release(Channel ch) {
        assert loop.inEventLoop();
        handler(ch).owner(null);
        final PoolKey key = ch.attr(KEY).get();
        if (!ch.isActive() || key == null) {
            ch.close();
            return;
        }
        final ArrayDeque<Channel> q = idle.computeIfAbsent(key, k -> new ArrayDeque<>());
        q.addLast(ch);
        // Keep a read pending so that a close by the peer is seen at once, not on the next request.
        ch.read();
    }

    /** Closes a connection that must not be reused. */
    public void discard(Channel ch) {
        handler(ch).owner(null);
        ch.close();
    }

    /** The number of idle connections (for tests and metrics). */
    public int idleCount() {
        int n = 0;
        for (ArrayDeque<Channel> q : idle.values()) {
            n += q.size();
        }
        return n;
    }

    private static UpstreamHandler handler(Channel ch) {
        return ch.pipeline().get(UpstreamHandler.class);
    }
}
