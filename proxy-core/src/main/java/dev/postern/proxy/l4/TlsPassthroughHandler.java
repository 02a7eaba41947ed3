package dev.postern.proxy.l4;

import dev.postern.config.runtime.Backend;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.Endpoint;
import dev.postern.config.runtime.ListenerRoutes;
import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.TlsTable;
import dev.postern.config.runtime.RouteAction;
import dev.postern.config.runtime.VirtualHost;
import dev.postern.proxy.server.ServerContext;
import dev.postern.proxy.tls.ClientHelloCapabilities;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.AbstractSniHandler;
import io.netty.util.concurrent.Future;

import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A TLS listener: reads the ClientHello's SNI, picks the TLSRoute for that hostname (exact, then wildcard) from the
 * live table, a backend by weight and an endpoint at random. When the listener the SNI selects is in Passthrough
 * mode, the connection, ClientHello included, goes to a {@link TcpRelayHandler} untouched. When it is in Terminate
 * mode (it has certificates), an {@link io.netty.handler.ssl.SslHandler} with the listener's certificate for the
 * SNI ends TLS first and the relay carries the decrypted stream to the backend over plain TCP. Both modes can
 * share a port. No route (or no SNI) closes the connection.
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

    /** What the client can verify (ECDSA or RSA certificates), for Terminate mode; from the ClientHello. */
    private ClientHelloCapabilities hello = ClientHelloCapabilities.UNKNOWN;

    @Override
    protected Future<Endpoint> lookup(ChannelHandlerContext ctx, io.netty.buffer.ByteBuf clientHello)
            throws Exception {
        if (clientHello != null) {
            hello = ClientHelloCapabilities.parse(clientHello);
        }
        return super.lookup(ctx, clientHello);
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
        TcpRouteHandler.idle(ctx, sc);
        final TcpRelayHandler relay = new TcpRelayHandler(ep.socketAddress(), sc.transport(),
                (int) sc.bootstrap().connectTimeout().toMillis());
        final TlsTable.ListenerCerts terminate = terminating(hostname);
        if (terminate == null) {
            // Replacing this decoder hands its buffered bytes (the ClientHello) to the relay.
            ctx.pipeline().replace(this, "tcp-relay", relay);
            return;
        }
        final io.netty.handler.ssl.SslHandler ssl = sc.serverTls()
                .context(terminate.select(hostname.toLowerCase(Locale.ROOT), hello::score)).newHandler(ctx.alloc());
        ctx.pipeline().addAfter(ctx.name(), "tcp-relay", relay);
        ctx.pipeline().replace(this, "tls-terminate", ssl); // the buffered ClientHello goes to the SslHandler
    }

    /** The certificates of the SNI's listener when that listener is in Terminate mode; null for Passthrough. */
    private TlsTable.ListenerCerts terminating(String hostname) {
        final PortTable port = sc.config().table().port(bind);
        if (port == null || port.tls() == null) {
            return null;
        }
        final String host = hostname.toLowerCase(Locale.ROOT);
        final ListenerRoutes listener = port.listeners().find(host);
        final TlsTable.ListenerCerts certs = port.tls().listeners().find(host);
        return listener != null && certs != null && certs.listener().equals(listener.name()) ? certs : null;
    }
}
