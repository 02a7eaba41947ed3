package dev.postern.proxy.server;

import dev.postern.config.runtime.BindKey;
import dev.postern.proxy.http.Http1ProxyHandler;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerExpectContinueHandler;
import io.netty.handler.codec.http.HttpServerUpgradeHandler;
import io.netty.handler.codec.http2.CleartextHttp2ServerUpgradeHandler;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ServerUpgradeCodec;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.flow.FlowControlHandler;
import io.netty.util.AsciiString;

import java.util.List;

/**
 * The one place where a plain HTTP listener's pipeline is assembled. A connection starts as HTTP/1.1; it becomes
 * HTTP/2 when it opens with the HTTP/2 preface (h2c prior knowledge, as gRPC clients do) or asks for
 * {@code Upgrade: h2c}. Each HTTP/2 stream is a child channel whose frames are converted to HTTP/1-style
 * messages, so one terminal handler ({@link Http1ProxyHandler}) carries the HTTP semantics for both.
 */
public final class HttpListenerInitializer extends ChannelInitializer<Channel> {
    /** Limits Envoy applies by default: 60 KiB of request headers. */
    public static final int MAX_HEADER_BYTES = 60 * 1024;
    /** The longest request line accepted. */
    public static final int MAX_INITIAL_LINE = 16 * 1024;
    /** Envoy's default for concurrent streams per HTTP/2 connection. */
    public static final int MAX_CONCURRENT_STREAMS = 100;

    private final ServerContext context;
    private final BindKey key;

    /** Creates the initializer of one bound socket. */
    public HttpListenerInitializer(ServerContext context, BindKey key) {
        this.context = context;
        this.key = key;
    }

    @Override
    protected void initChannel(Channel ch) {
        final HttpDecoderConfig dc = new HttpDecoderConfig()
                .setMaxInitialLineLength(MAX_INITIAL_LINE)
                .setMaxHeaderSize(MAX_HEADER_BYTES)
                .setValidateHeaders(true);
        final HttpServerCodec http1 = new HttpServerCodec(dc);
        final HttpServerUpgradeHandler upgrade = new HttpServerUpgradeHandler(http1, protocol ->
                AsciiString.contentEquals(Http2CodecUtilNames.H2C, protocol)
                        ? new Http2ServerUpgradeCodec(http2FrameCodec(), new Http2Setup(false), multiplex()) : null,
                64 * 1024);
        final CleartextHttp2ServerUpgradeHandler cleartext = new CleartextHttp2ServerUpgradeHandler(http1, upgrade,
                new Http2Setup(true));
        final ChannelPipeline p = ch.pipeline();
        p.addLast(cleartext);
        http1Handlers(p);
    }

    private void http1Handlers(ChannelPipeline p) {
        p.addLast(new HttpServerExpectContinueHandler(), new FlowControlHandler(),
                new Http1ProxyHandler(context, key, false));
    }

    private static Http2FrameCodec http2FrameCodec() {
        return Http2FrameCodecBuilder.forServer()
                .initialSettings(Http2Settings.defaultSettings()
                        .maxConcurrentStreams(MAX_CONCURRENT_STREAMS)
                        .maxHeaderListSize(MAX_HEADER_BYTES))
                .validateHeaders(true)
                .build();
    }

    private Http2MultiplexHandler multiplex() {
        return new Http2MultiplexHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel stream) {
                // Each stream reads only when its exchange asks: request bodies flow with backpressure, and the
                // stream's window is returned as data is consumed.
                stream.config().setAutoRead(false);
                stream.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true));
                http1Handlers(stream.pipeline());
            }
        });
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
            for (Class<? extends io.netty.channel.ChannelHandler> c : List.of(HttpServerExpectContinueHandler.class,
                    FlowControlHandler.class, Http1ProxyHandler.class)) {
                if (p.get(c) != null) {
                    p.remove(c);
                }
            }
            ctx.channel().config().setAutoRead(true);
            p.remove(this);
            ctx.channel().read();
        }
    }

    /** The upgrade token. */
    private static final class Http2CodecUtilNames {
        static final AsciiString H2C = AsciiString.cached("h2c");
    }
}
