package dev.postern.proxy.upstream;

import dev.postern.config.runtime.Cluster;
import dev.postern.proxy.server.Transport;
import dev.postern.proxy.tls.ClientTls;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.Future;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The upstream connections of one event loop: idle HTTP/1.1 connections by {@link PoolKey}, one multiplexed
 * HTTP/2 connection per key for h2c and gRPC upstreams (over TLS when a BackendTLSPolicy applies), and new
 * connections made on the same loop. Confined to its loop: no locks, and every method asserts it runs there.
 */
public final class UpstreamPool {
    /**
     * The key of a multiplexed HTTP/2 connection (for its error log); an HTTP/1.1 connection keeps its key in its
     * {@link UpstreamHandler}.
     */
    static final AttributeKey<PoolKey> KEY = AttributeKey.valueOf("postern.poolKey");

    private final int maxConnections;
    private final int maxPending;
    private final dev.postern.proxy.observe.Metrics metrics;
    /** The circuit-breaker state of each cluster this loop has used. */
    private final Map<String, ClusterState> clusters = new HashMap<>();

    /**
     * The connection and pending-request counts of one cluster on this loop, and the requests waiting for a
     * connection because the cluster is at its connection limit (oldest first).
     */
    static final class ClusterState {
        int connections;
        int pending;
        final ArrayDeque<Waiter> waiters = new ArrayDeque<>(0);
    }

    /** A request waiting for a connection of its cluster. */
    private record Waiter(PoolKey key, UpstreamListener owner, Callback done) {
    }

    private final EventLoop loop;
    private final Bootstrap bootstrap;
    private final Map<PoolKey, ArrayDeque<Channel>> idle = new HashMap<>();
    private final Bootstrap h2Bootstrap;
    private final ChannelInitializer<Http2StreamChannel> streamInit;
    /** One multiplexed HTTP/2 connection per key (h2c upstreams), connecting or connected. */
    private final Map<PoolKey, ChannelFuture> h2 = new HashMap<>();
    private final ClientTls clientTls;
    /** How long a pooled HTTP/1.1 connection may stay idle, in nanoseconds. */
    private final long idleNanos;
    /** A sweep of idle connections is scheduled. */
    private boolean sweepScheduled;

    /**
     * Creates the pool of one loop.
     *
     * @param loop the event loop that owns every connection
     * @param transport the transport (for the socket channel class)
     * @param connectTimeout the connect timeout
     * @param idleTimeout how long a connection may sit idle before it is closed
     * @param maxConnections the HTTP/1.1 connections one cluster may have open from this loop
     * @param maxPending the requests of one cluster that may wait for a connection on this loop
     * @param clientTls the TLS contexts for backends with a BackendTLSPolicy
     */
    public UpstreamPool(EventLoop loop, Transport transport, Duration connectTimeout, Duration idleTimeout,
                        int maxConnections, int maxPending, dev.postern.proxy.observe.Metrics metrics,
                        ClientTls clientTls) {
        this.loop = loop;
        this.maxConnections = maxConnections;
        this.maxPending = maxPending;
        this.metrics = metrics;
        this.clientTls = clientTls;
        this.idleNanos = Math.max(1, idleTimeout.toNanos());
        this.bootstrap = new Bootstrap().group(loop).channel(transport.socketChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE,
                        connectTimeout.toMillis()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // No IdleStateHandler: the pool times idle connections itself (sweepIdle), which costs
                        // one clock read per release instead of one per read and write and a listener per write.
                        ch.pipeline().addLast(new UpstreamCodec(64 * 1024))
                                .addLast(new UpstreamHandler());
                    }
                });
        this.h2Bootstrap = new Bootstrap().group(loop).channel(transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE,
                        connectTimeout.toMillis()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().validateHeaders(true).build(),
                                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()),
                                H2ConnectionErrors.INSTANCE);
                    }
                });
        this.streamInit = new ChannelInitializer<Http2StreamChannel>() {
            @Override
            protected void initChannel(Http2StreamChannel ch) {
                ch.config().setAutoRead(false);
                ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false)).addLast(new UpstreamHandler());
            }
        };
    }

    /**
     * Gets a connection for {@code key}, reused when one is idle or newly connected, and hands it to
     * {@code done}. {@code owner} receives the connection's events from then on.
     *
     * <p>Circuit breakers (Envoy's max_connections and max_pending_requests, per loop share): when the cluster
     * has all its connections open and none is idle, the request waits for one to be released or closed; when
     * too many requests wait or connect already, nothing is done and false is returned (the caller answers 503
     * UO).
     *
     * @param cluster the cluster's name, whose breakers apply
     * @return false when the pending-requests breaker is open
     */
    public boolean acquire(PoolKey key, String cluster, UpstreamListener owner, Callback done) {
        assert loop.inEventLoop();
        final ClusterState cs = clusters.computeIfAbsent(cluster, k -> new ClusterState());
        if (key.protocol() == Cluster.Protocol.H2C) {
            acquireStream(key, owner, done);
            return true;
        }
        final ArrayDeque<Channel> q = idle.get(key);
        if (q != null) {
            Channel ch;
            while ((ch = q.pollLast()) != null) {
                if (ch.isActive()) {
                    handler(ch).owner(owner);
                    done.onAcquired(ch, true);
                    return true;
                }
            }
        }
        if (cs.pending >= maxPending) {
            metrics.onOverflow("pending");
            return false;
        }
        if (cs.connections >= maxConnections) {
            metrics.onOverflow("connections");
            cs.pending++;
            cs.waiters.addLast(new Waiter(key, owner, done));
            return true;
        }
        connect(key, cs, owner, done);
        return true;
    }

    /** Gives up waiting for a connection (the exchange ended first). */
    public void cancel(String cluster, UpstreamListener owner) {
        final ClusterState cs = clusters.get(cluster);
        if (cs == null) {
            return;
        }
        if (cs.waiters.removeIf(w -> w.owner() == owner)) {
            cs.pending--;
        }
    }

    private void connect(PoolKey key, ClusterState cs, UpstreamListener owner, Callback done) {
        final SslHandler ssl;
        if (key.tls() != null) {
            try {
                ssl = clientTls.context(key.tls()).newHandler(io.netty.buffer.ByteBufAllocator.DEFAULT,
                        key.tls().sni(), key.address().getPort());
            } catch (javax.net.ssl.SSLException | RuntimeException e) {
                done.onFailed(new UpstreamTlsException(e));
                return;
            }
        } else {
            ssl = null;
        }
        cs.connections++;
        cs.pending++; // a request waiting for its new connection is pending, as in Envoy
        final ChannelFuture f = bootstrap.connect(key.address());
        final Channel ch = f.channel();
        metrics.upstreamConnections(1);
        if (ssl != null) {
            // Before the connection is active, so the handshake starts as soon as it is; the pipeline's HTTP
            // handlers then read and write plaintext.
            ch.pipeline().addFirst("tls", ssl);
        }
        ch.closeFuture().addListener(x -> {
            metrics.upstreamConnections(-1);
            final ArrayDeque<Channel> dq = idle.get(key);
            if (dq != null) {
                dq.remove(ch);
            }
            cs.connections--;
            serveWaiters(cs);
        });
        f.addListener(x -> {
            cs.pending--;
            if (x.isSuccess()) {
                final UpstreamHandler uh = handler(ch); // registered, so the initializer has run
                uh.key = key;
                uh.cluster = cs;
            }
            if (!x.isSuccess()) {
                done.onFailed(x.cause());
            } else if (ssl == null) {
                handler(ch).owner(owner);
                done.onAcquired(ch, false);
            } else {
                ssl.handshakeFuture().addListener(h -> {
                    if (h.isSuccess()) {
                        handler(ch).owner(owner);
                        done.onAcquired(ch, false);
                    } else {
                        ch.close();
                        done.onFailed(new UpstreamTlsException(h.cause()));
                    }
                });
            }
        });
    }

    /** Connects for waiting requests while the cluster has connections to spare. */
    private void serveWaiters(ClusterState cs) {
        Waiter w;
        while (cs.connections < maxConnections && (w = cs.waiters.pollFirst()) != null) {
            cs.pending--;
            connect(w.key(), cs, w.owner(), w.done());
        }
    }

    /** Opens a stream on the key's HTTP/2 connection, connecting it first when there is none. */
    private void acquireStream(PoolKey key, UpstreamListener owner, Callback done) {
        ChannelFuture parent = h2.get(key);
        if (parent == null || (parent.isDone() && !parent.channel().isActive())) {
            SslHandler ssl = null;
            if (key.tls() != null) {
                try {
                    ssl = clientTls.context(key.tls(), true).newHandler(io.netty.buffer.ByteBufAllocator.DEFAULT,
                            key.tls().sni(), key.address().getPort());
                } catch (javax.net.ssl.SSLException | RuntimeException e) {
                    done.onFailed(new UpstreamTlsException(e));
                    return;
                }
            }
            parent = connectH2(key, ssl);
        }
        final boolean reused = parent.isDone();
        final ChannelFuture p = parent;
        p.addListener(x -> {
            if (!x.isSuccess()) {
                done.onFailed(x.cause());
                return;
            }
            new Http2StreamChannelBootstrap(p.channel()).handler(streamInit).open().addListener(
                    (Future<Http2StreamChannel> s) -> {
                        if (s.isSuccess()) {
                            final Http2StreamChannel ch = s.getNow();
                            handler(ch).owner(owner);
                            done.onAcquired(ch, reused);
                        } else {
                            done.onFailed(s.cause());
                        }
                    });
        });
    }

    /**
     * Connects the key's HTTP/2 connection, with {@code ssl} first in its pipeline when not null. Over TLS (a BackendTLSPolicy on an h2c or gRPC backend) ALPN offers
     * {@code h2}, the policy's hostname is the SNI, and the returned future completes when the handshake did: a
     * failed handshake fails it with an {@link UpstreamTlsException}. A backend that selects no ALPN protocol is
     * spoken HTTP/2 all the same (as Envoy does with its HTTP/2 codec); if it does not speak it, the connection
     * fails with a protocol error that the exchange answers 502 (flag UPE) and that is logged once per
     * connection ({@link H2ConnectionErrors}).
     */
    private ChannelFuture connectH2(PoolKey key, SslHandler ssl) {
        final ChannelFuture f = h2Bootstrap.connect(key.address());
        final Channel ch = f.channel();
        ch.attr(KEY).set(key);
        metrics.upstreamConnections(1);
        if (ssl != null) {
            ch.pipeline().addFirst("tls", ssl);
        }
        final ChannelFuture ready;
        if (ssl == null) {
            ready = f;
        } else {
            final io.netty.channel.ChannelPromise p = ch.newPromise();
            f.addListener(x -> {
                if (!x.isSuccess()) {
                    p.tryFailure(x.cause());
                    return;
                }
                ssl.handshakeFuture().addListener(hs -> {
                    if (!hs.isSuccess()) {
                        ch.close();
                        p.tryFailure(new UpstreamTlsException(hs.cause()));
                        return;
                    }
                    final String alpn = ssl.applicationProtocol();
                    if (alpn != null && !io.netty.handler.ssl.ApplicationProtocolNames.HTTP_2.equals(alpn)) {
                        ch.close(); // cannot happen with a conforming server: we offered h2 only
                        p.tryFailure(new UpstreamTlsException(new javax.net.ssl.SSLException(
                                "the backend selected ALPN protocol " + alpn + ", not h2")));
                        return;
                    }
                    p.trySuccess();
                });
            });
            ready = p;
        }
        h2.put(key, ready);
        ch.closeFuture().addListener(x -> {
            metrics.upstreamConnections(-1);
            h2.remove(key, ready);
        });
        return ready;
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
        if (ch instanceof Http2StreamChannel) {
            if (ch.isActive()) {
                ch.close(); // streams are not reused; the connection under them is
            }
            return;
        }
        final UpstreamHandler uh = handler(ch);
        final PoolKey key = uh.key;
        if (!ch.isActive() || key == null) {
            ch.close();
            return;
        }
        final ClusterState cs = uh.cluster;
        if (cs != null && !cs.waiters.isEmpty()) {
            // A request waits for a connection of this cluster: hand this one over when it suits, else close it
            // so that the waiter can connect.
            for (java.util.Iterator<Waiter> it = cs.waiters.iterator(); it.hasNext(); ) {
                final Waiter w = it.next();
                if (w.key().equals(key)) {
                    it.remove();
                    cs.pending--;
                    handler(ch).owner(w.owner());
                    w.done().onAcquired(ch, true);
                    return;
                }
            }
            ch.close();
            return;
        }
        ArrayDeque<Channel> q = idle.get(key);
        if (q == null) {
            q = new ArrayDeque<>();
            idle.put(key, q);
        }
        uh.idleSince = System.nanoTime();
        q.addLast(ch);
        if (!sweepScheduled) {
            sweepScheduled = true;
            loop.schedule(this::sweepIdle, sweepDelayNanos(), TimeUnit.NANOSECONDS);
        }
        // Keep a read pending so that a close by the peer is seen at once, not on the next request.
        ch.read();
    }

    /** The sweep runs every half idle timeout, so a connection is closed after 1 to 1.5 times the timeout. */
    private long sweepDelayNanos() {
        return Math.max(TimeUnit.MILLISECONDS.toNanos(5), idleNanos / 2);
    }

    /**
     * Closes the pooled connections idle for the idle timeout or longer (Envoy's upstream idle_timeout). Each
     * queue is in release order (reuse takes the newest), so a queue's expired connections are at its head.
     * Reschedules itself while any connection is idle.
     */
    private void sweepIdle() {
        sweepScheduled = false;
        final long now = System.nanoTime();
        boolean any = false;
        for (java.util.Iterator<ArrayDeque<Channel>> it = idle.values().iterator(); it.hasNext(); ) {
            final ArrayDeque<Channel> q = it.next();
            Channel ch;
            while ((ch = q.peekFirst()) != null && now - handler(ch).idleSince >= idleNanos) {
                q.pollFirst();
                ch.close();
            }
            if (q.isEmpty()) {
                it.remove();
            } else {
                any = true;
            }
        }
        if (any) {
            sweepScheduled = true;
            loop.schedule(this::sweepIdle, sweepDelayNanos(), TimeUnit.NANOSECONDS);
        }
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

    /** The connection's {@link UpstreamHandler}: the last handler of every upstream pipeline. */
    private static UpstreamHandler handler(Channel ch) {
        return ch.pipeline().last() instanceof UpstreamHandler h ? h : ch.pipeline().get(UpstreamHandler.class);
    }
}
