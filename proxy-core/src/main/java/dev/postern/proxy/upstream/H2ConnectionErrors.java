package dev.postern.proxy.upstream;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AttributeKey;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last handler of an upstream HTTP/2 connection: a connection error (the backend broke the protocol, such as
 * a backend reached over TLS that does not speak HTTP/2 and answers the preface with an HTTP/1.1 response) is
 * logged once for the connection, naming the backend, the BackendTLSPolicy and the ALPN result, and kept on the
 * connection so that the exchanges on its streams answer 502 with flag UPE rather than a bare reset.
 */
@ChannelHandler.Sharable
final class H2ConnectionErrors extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(H2ConnectionErrors.class);
    /** The protocol error that ended the connection, if one did. */
    static final AttributeKey<UpstreamProtocolException> FAILURE = AttributeKey.valueOf("postern.h2Failure");
    static final H2ConnectionErrors INSTANCE = new H2ConnectionErrors();

    private H2ConnectionErrors() {
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof Http2Exception) || ctx.channel().hasAttr(FAILURE)) {
            ctx.close();
            return;
        }
        final PoolKey key = ctx.channel().attr(UpstreamPool.KEY).get();
        final SslHandler ssl = ctx.pipeline().get(SslHandler.class);
        final String where = (key == null ? String.valueOf(ctx.channel().remoteAddress()) : key.address().toString())
                + (key != null && key.tls() != null ? " (" + key.tls().policy() + ", TLS, ALPN "
                + (ssl == null || ssl.applicationProtocol() == null ? "not negotiated" : ssl.applicationProtocol())
                + ")" : " (h2c)");
        final UpstreamProtocolException e = new UpstreamProtocolException("HTTP/2 to " + where
                + " failed: the backend does not speak HTTP/2: " + cause.getMessage(), cause);
        ctx.channel().attr(FAILURE).set(e);
        LOG.warn("{}", e.getMessage());
        ctx.close();
    }
}
