package dev.postern.proxy.l4;

import dev.postern.config.runtime.Backend;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.Endpoint;
import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.RouteAction;
import dev.postern.config.runtime.VirtualHost;
import dev.postern.proxy.server.ServerContext;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.AbstractSniHandler;
import io.netty.util.concurrent.Future;

import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A TLS listener in Passthrough mode: reads the ClientHello's SNI without terminating, picks the TLSRoute for that
 * hostname (exact, then wildcard) from the live table, picks a backend by weight and an endpoint round-robin, and
 * hands the connection, ClientHello included, to a {@link TcpRelayHandler}. No route (or no SNI) closes the
 * connection.
 */
public final class TlsPassthroughHandler extends AbstractSniHandler<Endpoint> {
    private final ServerContext sc;
    private final BindKey bind;

    /** Creates the handler of one connection on {@code bind}. */
    public TlsPassthroughHandler(ServerContext sc, BindKey bind) {
        super(10_000L);
        this.sc = sc;
        this.bind = bind;
    }

    @Override
    protected Future<Endpoint> lookup(ChannelHandlerContext ctx, String hostname) {
        return ctx.executor().newSucceededFuture(choose(hostname));
    }

    private Endpoint choose(String hostname) {
        if (hostname == null) {
            return null;
        }
        return choose(sc, bind, hostname);
    }

    /** The endpoint for a connection to {@code bind} with this host name ({@code *} for TCP), or null. */
    static Endpoint choose(ServerContext sc, BindKey bind, String hostname) {
        final PortTable port = sc.config().table().port(bind);
        final VirtualHost vh = port == null ? null : port.virtualHost(hostname.toLowerCase(Locale.ROOT));
        if (vh == null || vh.routes().isEmpty() || !(vh.routes().getFirst().action() instanceof RouteAction.Forward f)
                || f.totalWeight() <= 0) {
            return null;
        }
        if (!(f.backends().get(f.pick(ThreadLocalRandom.current().nextInt(f.totalWeight())))
                instanceof Backend.Forward b) || b.cluster().endpoints().isEmpty()) {
            return null;
        }
        final int n = b.cluster().endpoints().size();
        return b.cluster().endpoints().get(ThreadLocalRandom.current().nextInt(n));
    }

    @Override
    protected void onLookupComplete(ChannelHandlerContext ctx, String hostname, Future<Endpoint> future) {
        final Endpoint ep = future.isSuccess() ? future.getNow() : null;
        if (ep == null) {
            ctx.close(); // no route for this SNI: reset, as Envoy does without a matching filter chain
            return;
        }
        // Replacing this decoder hands its buffered bytes (the ClientHello) to the relay.
        ctx.pipeline().replace(this, "tcp-relay", new TcpRelayHandler(ep.socketAddress(), sc.transport(),
                (int) sc.bootstrap().connectTimeout().toMillis()));
    }
}
