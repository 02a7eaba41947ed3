package dev.postern.conformance;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.concurrent.Future;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLException;

/**
 * The conformance suite's client, in the shapes its round tripper uses: HTTP/1.1 with keep-alive off, HTTPS with
 * SNI, HTTP/2 over TLS by ALPN, and h2c with prior knowledge. Always sends {@code X-Echo-Set-Header}. A 10 s
 * timeout per request, as upstream.
 */
public final class ConformanceClient implements AutoCloseable {
    /** The protocols of the upstream round tripper. */
    public enum Protocol {
        /** HTTP/1.1. */
        HTTP,
        /** HTTP/1.1 over TLS. */
        HTTPS,
        /** HTTP/2 over TLS (ALPN h2). */
        H2,
        /** HTTP/2 over cleartext with prior knowledge. */
        H2C_PRIOR_KNOWLEDGE
    }

    /**
     * A request.
     *
     * @param host the Host header (may carry a port)
     * @param headers headers set in addition (Header.Set semantics)
     * @param sni the TLS server name, or null for the host without port
     * @param clientCert the client certificate to present over TLS: a suite Secret as {@code ns/name}
     *     ({@link SuiteCertificates}), or null for none
     */
    public record Request(Protocol protocol, String method, String host, String path, Map<String, String> headers,
                         String body, String sni, String clientCert) {
        /** A request without a client certificate. */
        public Request(Protocol protocol, String method, String host, String path, Map<String, String> headers,
                       String body, String sni) {
            this(protocol, method, host, path, headers, body, sni, null);
        }
    }

    /**
     * A response.
     *
     * @param headers header names lower case, values in order
     * @param proto {@code HTTP/1.1} or {@code HTTP/2.0}
     */
    public record Response(int status, Map<String, List<String>> headers, byte[] body, String proto) {
        /** The first value of a header, or null. */
        public String header(String name) {
            final List<String> v = headers.get(name.toLowerCase(Locale.ROOT));
            return v == null ? null : v.getFirst();
        }

        /** The body as UTF-8. */
        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final SslContext tlsHttp1;
    private final SslContext tlsH2;

    /** Creates a client (TLS trusts any certificate: the suite's certificates are generated per run). */
    public ConformanceClient() {
        try {
            tlsHttp1 = SslContextBuilder.forClient().trustManager(InsecureTrustManagerFactory.INSTANCE).build();
            tlsH2 = SslContextBuilder.forClient().trustManager(InsecureTrustManagerFactory.INSTANCE)
                    .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                            ApplicationProtocolNames.HTTP_2)).build();
        } catch (SSLException e) {
            throw new IllegalStateException(e);
        }
    }

    private final Map<String, SslContext> withCerts = new java.util.concurrent.ConcurrentHashMap<>();

    /** A client context presenting a suite certificate (as Go's tls.Config with Certificates). */
    private SslContext withClientCert(String key, boolean h2) {
        return withCerts.computeIfAbsent(key + (h2 ? "#h2" : ""), k -> {
            final SuiteCertificates.Issued c = SuiteCertificates.suite().identity(key);
            try {
                final SslContextBuilder b = SslContextBuilder.forClient()
                        .trustManager(InsecureTrustManagerFactory.INSTANCE)
                        .keyManager(c.bundle().getKeyPair().getPrivate(), c.bundle().getCertificatePath());
                if (h2) {
                    b.applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                            ApplicationProtocolNames.HTTP_2));
                }
                return b.build();
            } catch (SSLException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /**
     * Sends one request on a new connection and waits for the whole response.
     *
     * @throws Exception on connect failure, TLS failure, timeout or a connection closed before a response
     */
    public Response send(InetSocketAddress to, Request r) throws Exception {
        final CompletableFuture<Response> result = new CompletableFuture<>();
        final boolean tls = r.protocol() == Protocol.HTTPS || r.protocol() == Protocol.H2;
        final boolean h2 = r.protocol() == Protocol.H2 || r.protocol() == Protocol.H2C_PRIOR_KNOWLEDGE;
        final String sni = r.sni() != null ? r.sni() : hostOnly(r.host());
        final Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        if (tls) {
                            final SslContext ctx = r.clientCert() == null ? (h2 ? tlsH2 : tlsHttp1)
                                    : withClientCert(r.clientCert(), h2);
                            final SslHandler ssl = ctx.newHandler(c.alloc(), sni, to.getPort());
                            c.pipeline().addLast(ssl);
                        }
                        if (h2) {
                            c.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                                    new Http2MultiplexHandler(new SimpleChannelInboundHandler<Object>() {
                                        @Override
                                        protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
                                        }
                                    }));
                        } else {
                            c.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(16 << 20),
                                    new Collector(result, "HTTP/1.1"));
                        }
                    }
                }).connect(to).sync().channel();
        try {
            final FullHttpRequest req = request(r, h2);
            if (h2) {
                final Future<Http2StreamChannel> sf = new Http2StreamChannelBootstrap(ch)
                        .handler(new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel s) {
                                s.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false),
                                        new HttpObjectAggregator(16 << 20), new Collector(result, "HTTP/2.0"));
                            }
                        }).open().sync();
                sf.getNow().writeAndFlush(req);
            } else {
                ch.writeAndFlush(req);
            }
            ch.closeFuture().addListener(f -> result.completeExceptionally(
                    new java.io.IOException("connection closed before a response")));
            return result.get(10, TimeUnit.SECONDS);
        } finally {
            ch.close();
        }
    }

    /**
     * The WebSocket check of HTTPRouteBackendProtocolWebSocket: dial {@code ws://host/path}, send a text frame and
     * a binary frame, and return what came back, as "text|hex".
     */
    public String websocketEcho(InetSocketAddress to, String host, String path) throws Exception {
        final java.util.concurrent.LinkedBlockingQueue<Object> in = new java.util.concurrent.LinkedBlockingQueue<>();
        final io.netty.handler.codec.http.websocketx.WebSocketClientHandshaker hs =
                io.netty.handler.codec.http.websocketx.WebSocketClientHandshakerFactory.newHandshaker(
                        java.net.URI.create("ws://" + host + path),
                        io.netty.handler.codec.http.websocketx.WebSocketVersion.V13, null, false,
                        new io.netty.handler.codec.http.DefaultHttpHeaders());
        final Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        c.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20),
                                new io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler(hs),
                                new SimpleChannelInboundHandler<io.netty.handler.codec.http.websocketx.WebSocketFrame>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx,
                                            io.netty.handler.codec.http.websocketx.WebSocketFrame f) {
                                        final byte[] b = new byte[f.content().readableBytes()];
                                        f.content().readBytes(b);
                                        in.add(f instanceof io.netty.handler.codec.http.websocketx.TextWebSocketFrame
                                                ? new String(b, StandardCharsets.UTF_8) : b);
                                    }

                                    @Override
                                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                        if (evt == io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler
                                                .ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
                                            in.add(Boolean.TRUE);
                                        }
                                    }
                                });
                    }
                }).connect(to).sync().channel();
        try {
            if (in.poll(10, TimeUnit.SECONDS) != Boolean.TRUE) {
                throw new java.io.IOException("WebSocket handshake did not complete");
            }
            ch.writeAndFlush(new io.netty.handler.codec.http.websocketx.TextWebSocketFrame("Websocket Support!"));
            final Object text = in.poll(10, TimeUnit.SECONDS);
            ch.writeAndFlush(new io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame(
                    Unpooled.wrappedBuffer(new byte[] {1, 2, 3, 4, 5, 6, 7})));
            final Object bin = in.poll(10, TimeUnit.SECONDS);
            return text + "|" + (bin instanceof byte[] b ? java.util.HexFormat.of().formatHex(b) : String.valueOf(bin));
        } finally {
            ch.close();
        }
    }

    /**
     * One unary gRPC call over h2c with prior knowledge (the suite's insecure gRPC client): an empty request message,
     * the given metadata. Returns the gRPC status code (from the trailers, or mapped from the HTTP status when
     * there is none) and the response message bytes.
     */
    public GrpcResult grpc(InetSocketAddress to, String authority, String service, String method,
                           Map<String, String> metadata) throws Exception {
        final Map<String, String> h = new LinkedHashMap<>(metadata);
        h.put("content-type", "application/grpc");
        h.put("te", "trailers");
        final Response r = send(to, new Request(Protocol.H2C_PRIOR_KNOWLEDGE, "POST", authority,
                "/" + service + "/" + method, h, "\u0000\u0000\u0000\u0000\u0000", null));
        final String status = r.header("grpc-status");
        final int code;
        if (status != null) {
            code = Integer.parseInt(status);
        } else {
            code = dev.postern.proxy.http.LocalReplies.grpcStatus(r.status());
        }
        final byte[] body = r.body();
        final byte[] message = body.length >= 5 ? java.util.Arrays.copyOfRange(body, 5, body.length) : new byte[0];
        return new GrpcResult(code, message);
    }

    /** A gRPC call's status code and response message. */
    public record GrpcResult(int code, byte[] message) {
    }

    private static FullHttpRequest request(Request r, boolean h2) {
        final byte[] body = r.body() == null ? new byte[0] : r.body().getBytes(StandardCharsets.UTF_8);
        final FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1,
                HttpMethod.valueOf(r.method() == null ? "GET" : r.method()), r.path(), Unpooled.wrappedBuffer(body));
        req.headers().set(HttpHeaderNames.HOST, r.host());
        req.headers().set("X-Echo-Set-Header", "");
        for (Map.Entry<String, String> e : r.headers().entrySet()) {
            req.headers().set(e.getKey(), e.getValue());
        }
        if (body.length > 0) {
            req.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length);
        }
        if (h2) {
            req.headers().set(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text(), "https");
        } else {
            req.headers().set(HttpHeaderNames.CONNECTION, "close");
        }
        return req;
    }

    private static String hostOnly(String host) {
        if (host.startsWith("[")) {
            return host.substring(1, host.indexOf(']'));
        }
        final int c = host.lastIndexOf(':');
        return c < 0 ? host : host.substring(0, c);
    }

    private static final class Collector extends SimpleChannelInboundHandler<FullHttpResponse> {
        private final CompletableFuture<Response> result;
        private final String proto;

        Collector(CompletableFuture<Response> result, String proto) {
            this.result = result;
            this.proto = proto;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse msg) {
            final Map<String, List<String>> h = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : msg.headers()) {
                if (e.getKey().startsWith("x-http2-")) {
                    continue;
                }
                h.computeIfAbsent(e.getKey().toLowerCase(Locale.ROOT), k -> new ArrayList<>()).add(e.getValue());
            }
            for (Map.Entry<String, String> e : msg.trailingHeaders()) {
                h.computeIfAbsent(e.getKey().toLowerCase(Locale.ROOT), k -> new ArrayList<>()).add(e.getValue());
            }
            final byte[] b = new byte[msg.content().readableBytes()];
            msg.content().readBytes(b);
            result.complete(new Response(msg.status().code(), h, b, proto));
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            result.completeExceptionally(cause);
            ctx.close();
        }
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
