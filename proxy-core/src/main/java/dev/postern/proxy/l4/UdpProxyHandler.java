package dev.postern.proxy.l4;

import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.Endpoint;
import dev.postern.proxy.server.ServerContext;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.util.concurrent.ScheduledFuture;

import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * A UDP listener with a UDPRoute: one session per client address and port. A session is opened by the client's
 * first datagram: a backend by weight, an endpoint at random, and a connected upstream UDP socket on the
 * listener's event loop. Datagrams go through it unchanged both ways; replies leave through the listener socket,
 * so their source is the address the listener is bound to (the Gateway's address, also under TPROXY, where this
 * socket is bound to the Gateway address with IP_TRANSPARENT).
 *
 * <p>A session ends after {@code udpIdleTimeout} without a datagram either way, or on an ICMP error from the
 * backend. The session table holds at most {@code udpMaxSessions}; a datagram that would open one more is dropped
 * and counted, as is a datagram without a route or endpoint.
 *
 * <p>Threading: everything runs on the listener's event loop; the table is a plain {@link HashMap}.
 */
public final class UdpProxyHandler extends SimpleChannelInboundHandler<DatagramPacket> {
    /** Datagrams held per session while its upstream socket is being set up. */
    private static final int MAX_EARLY = 16;
    /** Room for the largest UDP payload; Netty's datagram default (2048 bytes) would truncate larger ones. */
    public static final io.netty.channel.FixedRecvByteBufAllocator DATAGRAM_BUFFERS =
            new io.netty.channel.FixedRecvByteBufAllocator(65536);

    private final ServerContext sc;
    private final BindKey bind;
    private final long idleNanos;
    private final int maxSessions;
    private final Map<InetSocketAddress, Session> sessions = new HashMap<>();
    private final LongAdder dropped;
    private ScheduledFuture<?> sweeper;

    /**
     * Creates the handler of one bound UDP socket.
     *
     * @param dropped counts datagrams dropped (table full, no route, no endpoint)
     */
    public UdpProxyHandler(ServerContext sc, BindKey bind, LongAdder dropped) {
        this.sc = sc;
        this.bind = bind;
        this.idleNanos = sc.bootstrap().udpIdleTimeout().toNanos();
        this.maxSessions = sc.bootstrap().udpMaxSessions();
        this.dropped = dropped;
    }

    /** The number of open sessions (call on the event loop, or for tests). */
    public int sessions() {
        return sessions.size();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        final long period = Math.max(TimeUnit.MILLISECONDS.toNanos(50), idleNanos / 4);
        sweeper = ctx.executor().scheduleAtFixedRate(this::sweep, period, period, TimeUnit.NANOSECONDS);
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (sweeper != null) {
            sweeper.cancel(false);
        }
        for (Session s : sessions.values()) {
            s.close();
        }
        sessions.clear();
        ctx.fireChannelInactive();
    }

    private void sweep() {
        final long now = System.nanoTime();
        for (Iterator<Session> it = sessions.values().iterator(); it.hasNext();) {
            final Session s = it.next();
            if (now - s.lastActive >= idleNanos) {
                it.remove();
                s.close();
            }
        }
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket packet) {
        final InetSocketAddress client = packet.sender();
        Session s = sessions.get(client);
        if (s == null) {
            if (sessions.size() >= maxSessions) {
                dropped.increment();
                return;
            }
            final Endpoint ep = TlsPassthroughHandler.choose(sc, bind, "*");
            if (ep == null) {
                dropped.increment();
                return;
            }
            s = new Session(ctx, client);
            sessions.put(client, s);
            s.open(ep.socketAddress());
        }
        s.lastActive = System.nanoTime();
        s.send(packet.content().retain());
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A datagram socket's errors (an ICMP error for a reply we sent) do not end the listener.
    }

    /** One client's session: a connected upstream socket and the client to answer. */
    private final class Session extends ChannelInboundHandlerAdapter {
        final ChannelHandlerContext listener;
        final InetSocketAddress client;
        final ArrayDeque<ByteBuf> early = new ArrayDeque<>(2);
        long lastActive = System.nanoTime();
        Channel up;
        boolean connected;
        boolean closed;

        Session(ChannelHandlerContext listener, InetSocketAddress client) {
            this.listener = listener;
            this.client = client;
        }

        void open(InetSocketAddress target) {
            up = new Bootstrap().group(listener.channel().eventLoop()).channel(sc.transport().datagramChannel())
                    .option(ChannelOption.AUTO_READ, true)
                    .option(ChannelOption.RCVBUF_ALLOCATOR, DATAGRAM_BUFFERS)
                    .handler(this).connect(target).addListener((ChannelFutureListener) f -> {
                        if (!f.isSuccess()) {
                            end();
                            return;
                        }
                        connected = true;
                        ByteBuf b;
                        while ((b = early.poll()) != null) {
                            up.write(b);
                        }
                        up.flush();
                    }).channel();
        }

        void send(ByteBuf payload) {
            if (closed) {
                payload.release();
            } else if (!connected) {
                if (early.size() >= MAX_EARLY) {
                    payload.release();
                    dropped.increment();
                } else {
                    early.add(payload);
                }
            } else {
                up.writeAndFlush(payload, up.voidPromise());
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext uctx, Object msg) {
            if (!(msg instanceof DatagramPacket p)) {
                io.netty.util.ReferenceCountUtil.release(msg);
                return;
            }
            lastActive = System.nanoTime();
            listener.writeAndFlush(new DatagramPacket(p.content(), client), listener.voidPromise());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext uctx, Throwable cause) {
            end(); // ICMP port unreachable and the like: the backend is gone; the next datagram opens a new session
        }

        private void end() {
            if (sessions.get(client) == this) {
                sessions.remove(client);
            }
            close();
        }

        void close() {
            closed = true;
            ByteBuf b;
            while ((b = early.poll()) != null) {
                b.release();
            }
            if (up != null) {
                up.close();
            }
        }
    }
}
