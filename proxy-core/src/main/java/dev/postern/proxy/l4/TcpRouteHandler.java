package dev.postern.proxy.l4;

import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.Endpoint;
import dev.postern.proxy.server.ServerContext;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

/**
 * A TCP listener: each connection goes to the TCPRoute attached to the listener, a backend by weight and an
 * endpoint, through a {@link TcpRelayHandler}. No route or no endpoint closes the connection. A relayed connection
 * with no byte either way for the bootstrap's {@code downstream.idleTimeout} (1 h, Envoy's tcp_proxy default) is
 * closed on both sides. With the bootstrap's {@code tcp.splice} and the epoll transport the relay splices (see
 * {@link TcpRelayHandler#spliced}).
 */
public final class TcpRouteHandler extends ChannelInboundHandlerAdapter {
    private final ServerContext sc;
    private final BindKey bind;

    /** Creates the handler of one connection on {@code bind}. */
    public TcpRouteHandler(ServerContext sc, BindKey bind) {
        this.sc = sc;
        this.bind = bind;
    }

    /** Puts the idle timer in front of the relay (no bytes read or written for the idle timeout: close). */
    static void idle(ChannelHandlerContext ctx, ServerContext sc) {
        final long ms = sc.bootstrap().downstream().idleTimeout().toMillis();
        ctx.pipeline().addBefore(ctx.name(), "tcp-idle", new io.netty.handler.timeout.IdleStateHandler(0, 0, ms,
                java.util.concurrent.TimeUnit.MILLISECONDS));
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        final Endpoint ep = TlsPassthroughHandler.choose(sc, bind, "*");
        if (ep == null) {
            ctx.close();
            return;
        }
        final int connectMs = (int) sc.bootstrap().connectTimeout().toMillis();
        if (sc.bootstrap().tcpSplice() && ctx.channel() instanceof io.netty.channel.epoll.AbstractEpollStreamChannel
                && "epoll".equals(sc.transport().name())) {
            ctx.pipeline().replace(this, "tcp-relay", TcpRelayHandler.spliced(ep.socketAddress(), sc.transport(),
                    connectMs, sc.bootstrap().downstream().idleTimeout().toMillis()));
            return;
        }
        idle(ctx, sc);
        ctx.pipeline().replace(this, "tcp-relay", new TcpRelayHandler(ep.socketAddress(), sc.transport(),
                connectMs));
    }
}
