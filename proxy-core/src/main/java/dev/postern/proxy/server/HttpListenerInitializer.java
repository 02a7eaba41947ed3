package dev.postern.proxy.server;


import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.PortTable;
import dev.postern.proxy.http.ConnectionGuard;
import dev.postern.proxy.http.Http1ProxyHandler;
import dev.postern.proxy.tls.ClientHelloCapabilities;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerUpgradeHandler;
import io.netty.handler.codec.http2.CleartextHttp2ServerUpgradeHandler;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ServerUpgradeCodec;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.handler.flow.FlowControlHandler;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SniHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.util.AsciiString;
import io.netty.util.AttributeKey;
import io.netty.util.Mapping;
import io.netty.util.concurrent.Future;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import io.netty.internal.tcnative.SSL;

import dev.postern.config.runtime.TlsTable;
import dev.postern.proxy.observe.Metrics;

import java.util.Locale;

import java.util.List;

/**
 * The one place where an HTTP or HTTPS listener's pipeline is assembled. A plain connection starts as HTTP/1.1;
 * it becomes HTTP/2 when it opens with the HTTP/2 preface (h2c prior knowledge, as gRPC clients do) or asks for
 * {@code Upgrade: h2c}. A TLS connection picks its certificate by SNI and its protocol by ALPN. Each HTTP/2 stream is a child channel whose frames are converted to HTTP/1-style
 * messages, so one terminal handler ({@link Http1ProxyHandler}) carries the HTTP semantics for both.
 */
public final class HttpListenerInitializer extends ChannelInitializer<Channel> {
    /** Limits Envoy applies by default: 60 KiB of request headers. */
    public static final int MAX_HEADER_BYTES = 60 * 1024;
    /** The longest request line accepted. */
    public static final int MAX_INITIAL_LINE = 16 * 1024;
    /** Envoy's default for concurrent streams per HTTP/2 connection. */
    public static final int MAX_CONCURRENT_STREAMS = 100;

    /** The SNI host name the client sent, on the connection (the parent of HTTP/2 streams); absent without SNI. */
    public static final AttributeKey<String> SNI = AttributeKey.valueOf("postern.sni");

    private final ServerContext context;
    private final BindKey key;
    private final boolean tls;
    private final java.util.concurrent.atomic.AtomicInteger connectionCount;
    /** Counts a downstream HTTP/2 stream out of the streams gauge when it closes. */
    private final io.netty.channel.ChannelFutureListener streamClosed;

    /**
     * Creates the initializer of one bound socket.
     *
     * @param tls true for HTTPS: TLS with the certificate chosen by SNI, then HTTP/2 or HTTP/1.1 by ALPN
     * @param connectionCount the listener's connection count (its connection limit)
     */
    public HttpListenerInitializer(ServerContext context, BindKey key, boolean tls,
                                   java.util.concurrent.atomic.AtomicInteger connectionCount) {
        this.context = context;
        this.streamClosed = f -> context.metrics().downstreamStreams(-1);
        this.key = key;
        this.tls = tls;
        this.connectionCount = connectionCount;
    }

    private ConnectionGuard guard(boolean http2) {
        return new ConnectionGuard(context.bootstrap().downstream(), context.metrics(), http2);
    }

    @Override
    protected void initChannel(Channel ch) {
        if (!context.admit(ch, connectionCount)) {
            return;
        }
        if (tls) {
            // Read freely during the handshake; the HTTP/1.1 handlers turn auto-read off once ALPN has chosen.
            ch.config().setAutoRead(true);
            ch.pipeline().addLast(new SniSelector(), new Alpn());
            return;
        }
        final HttpServerCodec http1 = http1Codec();
        final HttpServerUpgradeHandler upgrade = new HttpServerUpgradeHandler(http1, protocol ->
                AsciiString.contentEquals(Http2CodecUtilNames.H2C, protocol)
                        ? new Http2ServerUpgradeCodec(http2FrameCodec(), new Http2Setup(false), multiplex()) : null,
                64 * 1024) {
            /** Whether a request was seen on this connection: only the first may upgrade (RFC 7540 §3.2). */
            private boolean seen;

            @Override
            protected void decode(io.netty.channel.ChannelHandlerContext ctx,
                                  io.netty.handler.codec.http.HttpObject msg, List<Object> out) throws Exception {
                final boolean request = msg instanceof io.netty.handler.codec.http.HttpRequest;
                super.decode(ctx, msg, out); // asks shouldHandleUpgradeRequest only for requests with Upgrade
                if (request) {
                    seen = true;
                    if (!upgrading && !ctx.isRemoved()) {
                        // The first request did not upgrade, so no later one may: leave the pipeline, which saves
                        // a decoder hop for every message of the connection's life (perf/FINDINGS.md §13).
                        ctx.pipeline().remove(this);
                    }
                }
            }

            /** The first request is being upgraded: this handler aggregates it and then removes itself. */
            private boolean upgrading;

            /**
             * Only h2c upgrades are Postern's; others (WebSocket) go to the backend untouched. Only from HTTP/1.1
             * (RFC 7540 §3.2): any other version goes on to the HTTP/1.1 handler, which answers 400 (an
             * {@code HTTP/0.1} upgrade was switched and routed; found by RequestHeadFuzzTest).
             */
            @Override
            protected boolean shouldHandleUpgradeRequest(io.netty.handler.codec.http.HttpRequest req) {
                // Only a request Postern would route is upgraded: a malformed one (a NUL in the target, two Hosts)
                // stays HTTP/1.1 and gets its 400 there, instead of failing the HTTP/2 conversion of its head
                // (found by RequestHeadFuzzTest). Only the connection's first request: a pipelined upgrade behind a
                // request that was refused and is closing the connection failed inside the HTTP/2 codec.
                upgrading = !seen && req.protocolVersion().equals(io.netty.handler.codec.http.HttpVersion.HTTP_1_1)
                        && req.headers().containsValue(io.netty.handler.codec.http.HttpHeaderNames.UPGRADE,
                        Http2CodecUtilNames.H2C, true)
                        && Http1ProxyHandler.acceptableHead(req)
                        && !req.method().equals(io.netty.handler.codec.http.HttpMethod.CONNECT) // no h2 form for it
                        // and only without a body: the upgrade handler would buffer one whole (a client closing
                        // mid-body was an error in the log), and h2c upgrades carry none in practice
                        && !io.netty.handler.codec.http.HttpUtil.isTransferEncodingChunked(req)
                        && io.netty.handler.codec.http.HttpUtil.getContentLength(req, 0L) == 0;
                return upgrading;
            }
        };
        final CleartextHttp2ServerUpgradeHandler cleartext = new CleartextHttp2ServerUpgradeHandler(http1, upgrade,
                new Http2Setup(true));
        final ChannelPipeline p = ch.pipeline();
        p.addLast(guard(false), cleartext);
        http1Handlers(p);
    }

    private void http1Handlers(ChannelPipeline p) {
        p.addLast(new FlowControlHandler(),
                new Http1ProxyHandler(context, key, tls));
    }

    private static HttpServerCodec http1Codec() {
        return new HttpServerCodec(new HttpDecoderConfig()
                .setMaxInitialLineLength(MAX_INITIAL_LINE)
                .setMaxHeaderSize(MAX_HEADER_BYTES)
                .setValidateHeaders(true)
                .setStrictLineParsing(true)
                .setUseRfc9112TransferEncoding(true)
                .setAllowDuplicateContentLengths(false));
    }

    /**
     * Picks the certificate for the client's SNI from the table live at handshake time, and records the SNI on
     * the connection (for 421 Misdirected Request). When the SNI's listener has several certificates for the name
     * (ECDSA and RSA), the ClientHello's signature algorithms, groups and suites choose the one the client can
     * verify, ECDSA first ({@link ClientHelloCapabilities}).
     */
    private final class SniSelector extends SniHandler {
        /** The client's capabilities, read from the ClientHello just before the hostname lookup. */
        private ClientHelloCapabilities hello = ClientHelloCapabilities.UNKNOWN;

        SniSelector() {
            super((Mapping<String, SslContext>) sni -> {
                throw new IllegalStateException("not used: lookup is overridden");
            });
        }

        @Override
        protected Future<SslContext> lookup(ChannelHandlerContext ctx, ByteBuf clientHello) throws Exception {
            if (clientHello != null) {
                hello = ClientHelloCapabilities.parse(clientHello);
            }
            return super.lookup(ctx, clientHello);
        }

        @Override
        protected Future<SslContext> lookup(ChannelHandlerContext ctx, String sni) {
            final PortTable pt = context.config().table().port(key);
            if (pt == null || pt.tls() == null) {
                return ctx.executor().newFailedFuture(new IllegalStateException("no certificate is configured for "
                        + key));
            }
            final TlsTable tt = pt.tls();
            if (!tt.knows(sni)) {
                context.metrics().onTlsDefaultCertificate(sni == null);
            }
            final TlsTable.ListenerCerts l = tt.listenerFor(sni);
            final ClientHelloCapabilities h = hello;
            return ctx.executor().newSucceededFuture(context.serverTls().context(
                    l.select(sni == null ? null : sni.toLowerCase(Locale.ROOT), h::score), l.clientValidation()));
        }

        @Override
        protected void replaceHandler(ChannelHandlerContext ctx, String hostname, SslContext sslContext)
                throws Exception {
            if (hostname != null) {
                ctx.channel().attr(SNI).set(hostname.toLowerCase(java.util.Locale.ROOT));
            }
            super.replaceHandler(ctx, hostname, sslContext);
        }
    }

    /** After the handshake: HTTP/2 when ALPN chose h2, else HTTP/1.1. */
    private final class Alpn extends ApplicationProtocolNegotiationHandler {
        Alpn() {
            super(ApplicationProtocolNames.HTTP_1_1);
        }

        @Override
        protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
            final ChannelPipeline p = ctx.pipeline();
            context.metrics().onTlsHandshake(resumed(p.get(SslHandler.class)));
            if (ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                p.addLast(guard(true), flushConsolidation(), http2FrameCodec(), multiplex(), H2_ERRORS);
                return;
            }
            ctx.channel().config().setAutoRead(false);
            p.addLast(guard(false), http1Codec());
            http1Handlers(p);
        }

        @Override
        protected void handshakeFailure(ChannelHandlerContext ctx, Throwable cause) {
            context.metrics().onTlsHandshakeFailure(failure(cause));
            ctx.close(); // a failed handshake is the client's business; no stack trace in the log
        }
    }

    /** Whether the handshake resumed a session (BoringSSL only; the JDK provider reports full handshakes). */
    private static boolean resumed(SslHandler ssl) {
        if (ssl != null && ssl.engine() instanceof ReferenceCountedOpenSslEngine e) {
            final long p = e.sslPointer();
            return p != 0 && SSL.isSessionReused(p);
        }
        return false;
    }

    /** Classifies a handshake failure from BoringSSL's (or the JDK's) error text into a bounded reason. */
    static Metrics.TlsFailure failure(Throwable cause) {
        if (cause instanceof NotSslRecordException) {
            return Metrics.TlsFailure.NOT_TLS;
        }
        if (cause instanceof SslHandshakeTimeoutException) {
            return Metrics.TlsFailure.TIMEOUT;
        }
        final StringBuilder sb = new StringBuilder();
        for (Throwable t = cause; t != null && sb.length() < 4096; t = t.getCause() == t ? null : t.getCause()) {
            sb.append(t.getClass().getSimpleName()).append(' ').append(t.getMessage()).append('\n');
        }
        final String m = sb.toString().toUpperCase(Locale.ROOT);
        if (m.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || m.contains("EMPTY CLIENT CERTIFICATE")
                || m.contains("CERTIFICATE_REQUIRED")) {
            return Metrics.TlsFailure.NO_CLIENT_CERTIFICATE;
        }
        if (m.contains("CERTIFICATE_VERIFY_FAILED") || m.contains("CERTPATH") || m.contains("PKIX")
                || m.contains("CERTIFICATE")) {
            return Metrics.TlsFailure.BAD_CLIENT_CERTIFICATE;
        }
        if (m.contains("HTTP_REQUEST") || m.contains("WRONG_VERSION_NUMBER")) {
            return Metrics.TlsFailure.NOT_TLS;
        }
        if (m.contains("CLOSED") || m.contains("RESET") || m.contains("EOF")) {
            return Metrics.TlsFailure.CLOSED;
        }
        if (m.contains("PROTOCOL") || m.contains("CIPHER") || m.contains("VERSION") || m.contains("HANDSHAKE")) {
            return Metrics.TlsFailure.PROTOCOL;
        }
        return Metrics.TlsFailure.OTHER;
    }


    /**
     * The HTTP/2 codec with the bootstrap's flood mitigations (issue 9): SETTINGS_MAX_CONCURRENT_STREAMS and
     * SETTINGS_MAX_HEADER_LIST_SIZE (the decoder answers a larger header block, however it is split over
     * CONTINUATION frames or inflated by HPACK, with an error), a cap on RST_STREAM frames per window (rapid
     * reset: GOAWAY ENHANCE_YOUR_CALM), on control frames queued towards a client that does not read (SETTINGS
     * and PING floods), on consecutive empty DATA frames and on tiny CONTINUATION frames.
     */
    private Http2FrameCodec http2FrameCodec() {
        final Bootstrap.Http2 l = context.bootstrap().http2();
        return Http2FrameCodecBuilder.forServer()
                .initialSettings(Http2Settings.defaultSettings()
                        .maxConcurrentStreams(l.maxConcurrentStreams())
                        .maxHeaderListSize(l.maxHeaderListSize()))
                .validateHeaders(true)
                .decoderEnforceMaxRstFramesPerWindow(l.maxRstFramesPerWindow(), l.rstWindowSeconds())
                .encoderEnforceMaxQueuedControlFrames(l.maxQueuedControlFrames())
                .decoderEnforceMaxConsecutiveEmptyDataFrames(l.maxConsecutiveEmptyDataFrames())
                .decoderEnforceMaxSmallContinuationFrames(l.maxSmallContinuationFrames())
                .build();
    }

    /**
     * Coalesces an HTTP/2 connection's flushes: every stream's response is flushed when its upstream read ends,
     * and each of those would be a write syscall of its own on the shared connection. Flushes made while the
     * connection reads go out at its read-complete; the others at the end of the event-loop task batch, so the
     * streams answered in one loop iteration share one write (perf/FINDINGS.md §1 and §3).
     */
    private static FlushConsolidationHandler flushConsolidation() {
        return new FlushConsolidationHandler(FlushConsolidationHandler.DEFAULT_EXPLICIT_FLUSH_AFTER_FLUSHES, true);
    }

    /**
     * The stream multiplexer. The same initializer serves the upgrade stream: after {@code Upgrade: h2c} the
     * request that asked for it is stream 1, and without an upgrade stream handler Netty fails the connection
     * ("Client is misconfigured for upgrade requests"; found by RequestHeadFuzzTest).
     */
    private Http2MultiplexHandler multiplex() {
        final ChannelInitializer<Channel> streams = new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel stream) {
                // Each stream reads only when its exchange asks: request bodies flow with backpressure, and the
                // stream's window is returned as data is consumed.
                stream.config().setAutoRead(false);
                context.metrics().downstreamStreams(1);
                stream.closeFuture().addListener(streamClosed);
                stream.pipeline().addLast(ConnectionGuard.forStream(context.bootstrap().downstream(),
                        context.metrics()), new dev.postern.proxy.http.Http2RequestCodec());
                http1Handlers(stream.pipeline());
            }
        };
        return new Http2MultiplexHandler(streams, streams);
    }

    /**
     * Turns a connection that started as HTTP/1.1 into an HTTP/2 one: adds the frame codec and the stream
     * multiplexer right here (prior knowledge) unless the upgrade codec does, removes the HTTP/1.1 handlers, and
     * turns auto-read on (an HTTP/2 connection reads frames continuously; flow control bounds each stream).
     * Removes itself.
     */
    private final class Http2Setup extends ChannelInboundHandlerAdapter {
        private final boolean addCodecs;

        Http2Setup(boolean addCodecs) {
            this.addCodecs = addCodecs;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            final ChannelPipeline p = ctx.pipeline();
            if (addCodecs) {
                p.addAfter(ctx.name(), "h2-frame-codec", http2FrameCodec());
                p.addAfter("h2-frame-codec", "h2-multiplex", multiplex());
            }
            final ChannelHandlerContext codec = p.context(Http2FrameCodec.class);
            if (codec != null) {
                p.addBefore(codec.name(), "h2-flush", flushConsolidation());
            }
            for (Class<? extends io.netty.channel.ChannelHandler> c : List.of(FlowControlHandler.class, Http1ProxyHandler.class)) {
                if (p.get(c) != null) {
                    p.remove(c);
                }
            }
            final ConnectionGuard g = p.get(ConnectionGuard.class);
            if (g != null) {
                g.onHttp2();
            }
            if (p.get(Http2Errors.class) == null) {
                p.addLast(H2_ERRORS);
            }
            ctx.channel().config().setAutoRead(true);
            p.remove(this);
            ctx.channel().read();
        }
    }

    private static final Http2Errors H2_ERRORS = new Http2Errors();

    /**
     * The last handler of an HTTP/2 connection. The frame codec answers a connection error (a bad preface, an
     * oversized frame...) with GOAWAY and then passes the exception on; without this it reached the pipeline's
     * tail and Netty logged a warning per bad client (found by RequestHeadFuzzTest). Expected errors are logged at
     * debug (the codec closes after its GOAWAY); anything else is a bug: a warning, and the connection is closed.
     */
    @io.netty.channel.ChannelHandler.Sharable
    private static final class Http2Errors extends ChannelInboundHandlerAdapter {
        private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Http2Errors.class);

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof io.netty.handler.codec.http2.Http2Exception || cause instanceof java.io.IOException
                    || cause instanceof io.netty.handler.codec.DecoderException) {
                LOG.debug("closing {}: {}", ctx.channel(), cause.toString());
            } else {
                LOG.warn("closing {} after an unexpected error", ctx.channel(), cause);
                ctx.close();
            }
            // An Http2Exception: the codec has sent its GOAWAY (with the error's code) and closes by itself.
        }
    }

    /** The upgrade token. */
    private static final class Http2CodecUtilNames {
        static final AsciiString H2C = AsciiString.cached("h2c");
    }
}
