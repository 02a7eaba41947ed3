package dev.postern.proxy.echo;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.HttpServerUpgradeHandler;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.codec.http2.CleartextHttp2ServerUpgradeHandler;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An echo backend compatible with the upstream Gateway API conformance suite's {@code echo-basic}: it answers
 * every request with JSON describing what it received ({@code path} as the raw request URI, {@code host},
 * {@code method}, {@code proto}, {@code headers} with Go-canonical names and without Host, {@code namespace},
 * {@code ingress}, {@code service}, {@code pod}, {@code httpPort}), honours {@code X-Echo-Set-Header}, and serves
 * {@code /health} and {@code /status/NNN}. Request bodies are read and dropped as they stream, so any size works.
 *
 * <p>The quickstart runs it in-process, and the conformance harness starts one per replica.
 */
public final class EchoServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EchoServer.class);
    /** Indented like Go's {@code json.MarshalIndent(v, "", " ")}. */
    private static final ObjectWriter JSON = new ObjectMapper().writer(
            new DefaultPrettyPrinter(Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                    .withArrayEmptySeparator("").withObjectEmptySeparator(""))
                    .withObjectIndenter(new DefaultIndenter(" ", "\n"))
                    .withArrayIndenter(new DefaultIndenter(" ", "\n")));
    private static final Pattern STATUS = Pattern.compile("^/status/(\\d\\d\\d)$");

    /**
     * Who this instance says it is.
     *
     * @param namespace env NAMESPACE
     * @param pod env POD_NAME
     * @param service env SERVICE_NAME
     * @param ingress env INGRESS_NAME
     * @param httpPort env HTTP_PORT as reported in the JSON
     */
    public record Identity(String namespace, String pod, String service, String ingress, String httpPort) {
    }

    private final Channel channel;
    private final Identity id;
    private final java.util.concurrent.atomic.AtomicInteger connections;

    private EchoServer(Channel channel, Identity id, java.util.concurrent.atomic.AtomicInteger connections) {
        this.channel = channel;
        this.id = id;
        this.connections = connections;
    }

    /** How many connections this server has accepted (tests use it to see upstream connection reuse). */
    public int connectionsAccepted() {
        return connections.get();
    }

    /**
     * Starts an echo server on {@code address} (port 0 picks one) using the given event loop group.
     *
     * @throws InterruptedException if interrupted while binding
     */
    public static EchoServer start(EventLoopGroup group, Class<? extends io.netty.channel.ServerChannel> channelClass,
                                   InetSocketAddress address, Identity id) throws InterruptedException {
        return start(group, channelClass, address, id, uri -> { });
    }

    /**
     * Starts an echo server that also reports every echoed request URI to {@code echoLog} (what the upstream
     * suite reads from the pod log as "Echoing back request made to ...").
     *
     * @throws InterruptedException if interrupted while binding
     */
    public static EchoServer start(EventLoopGroup group, Class<? extends io.netty.channel.ServerChannel> channelClass,
                                   InetSocketAddress address, Identity id, java.util.function.Consumer<String> echoLog)
            throws InterruptedException {
        return start(group, channelClass, address, id, echoLog, null);
    }

    /**
     * Starts an echo server, HTTPS when {@code tls} is not null (the echo then reports the {@code tls} block:
     * version, serverName, negotiatedProtocol, cipherSuite), as echo-basic does on its HTTPS port.
     *
     * @throws InterruptedException if interrupted while binding
     */
    public static EchoServer start(EventLoopGroup group, Class<? extends io.netty.channel.ServerChannel> channelClass,
                                   InetSocketAddress address, Identity id, java.util.function.Consumer<String> echoLog,
                                   io.netty.handler.ssl.SslContext tls) throws InterruptedException {
        requireNonNull(id, "id");
        requireNonNull(echoLog, "echoLog");
        final java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();
        final Map<String, Integer> retries = new java.util.concurrent.ConcurrentHashMap<>();
        final Channel ch = new ServerBootstrap().group(group).channel(channelClass)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        count.incrementAndGet();
                        if (tls != null) {
                            c.pipeline().addLast(new io.netty.handler.ssl.SniHandler(
                                    (io.netty.util.Mapping<String, io.netty.handler.ssl.SslContext>) h -> tls));
                        }
                        // HTTP/1.1, and h2c with prior knowledge on the same port.
                        // Heads up to 1 MiB, as Go's net/http (echo-basic) accepts: a backend must never be stricter
                        // than the gateway in front of it (Postern allows 60 KiB of headers).
                        final HttpServerCodec http1 = new HttpServerCodec(new io.netty.handler.codec.http
                                .HttpDecoderConfig().setMaxInitialLineLength(1 << 20).setMaxHeaderSize(1 << 20));
                        c.pipeline().addLast(new CleartextHttp2ServerUpgradeHandler(http1,
                                new HttpServerUpgradeHandler(http1, p -> null), new ChannelInitializer<Channel>() {
                                    @Override
                                    protected void initChannel(Channel h2) {
                                        h2.pipeline().addLast(Http2FrameCodecBuilder.forServer().build(),
                                                new Http2MultiplexHandler(new ChannelInitializer<Channel>() {
                                                    @Override
                                                    protected void initChannel(Channel stream) {
                                                        stream.pipeline().addLast(
                                                                new Http2StreamFrameToHttpObjectCodec(true),
                                                                new Handler(id, retries, echoLog));
                                                    }
                                                }));
                                    }
                                }), new WebSocketRouter(), new Handler(id, retries, echoLog));
                    }
                }).bind(address).sync().channel();
        return new EchoServer(ch, id, count);
    }

    /** The bound address. */
    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    /** The identity. */
    public Identity identity() {
        return id;
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly();
    }

    /** Go's {@code textproto.CanonicalMIMEHeaderKey}: {@code x-foo-bar} becomes {@code X-Foo-Bar}. */
    static String canonical(String name) {
        final char[] c = name.toCharArray();
        boolean upper = true;
        for (int i = 0; i < c.length; i++) {
            final char ch = c[i];
            if (ch == ' ' || ch > 127) {
                return name; // Go leaves names with spaces or non-ASCII alone
            }
            c[i] = upper ? Character.toUpperCase(ch) : Character.toLowerCase(ch);
            upper = ch == '-';
        }
        return new String(c);
    }

    /**
     * Sends WebSocket upgrades for {@code /ws} to a WebSocket echo (text and binary frames come back as sent), and
     * everything else on to the HTTP echo. Removes itself after the first request.
     */
    private static final class WebSocketRouter extends io.netty.channel.ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof HttpRequest r && r.uri().startsWith("/ws")
                    && r.headers().containsValue(HttpHeaderNames.UPGRADE, "websocket", true)) {
                final io.netty.channel.ChannelPipeline p = ctx.pipeline();
                p.addAfter(ctx.name(), "ws-echo", new SimpleChannelInboundHandler<WebSocketFrame>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext c, WebSocketFrame f) {
                        if (f instanceof TextWebSocketFrame || f instanceof BinaryWebSocketFrame) {
                            c.writeAndFlush(f.retainedDuplicate());
                        }
                    }
                });
                p.addAfter(ctx.name(), "ws-protocol", new WebSocketServerProtocolHandler(
                        io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig.newBuilder()
                                .websocketPath("/ws").checkStartsWith(true).maxFramePayloadLength(16 << 20)
                                .build()));
                p.addAfter(ctx.name(), "ws-aggregator", new io.netty.handler.codec.http.HttpObjectAggregator(65536));
                p.remove(Handler.class);
                LOG.info("Echoing back request made to {} to client ({})", r.uri(), ctx.channel().remoteAddress());
            }
            ctx.pipeline().remove(this);
            ctx.fireChannelRead(msg);
        }
    }

    private static final class Handler extends SimpleChannelInboundHandler<HttpObject> {
        private final Identity id;
        /** The /retry/ simulator's attempts per uuid, shared by every connection of this server. */
        private final Map<String, Integer> retries;
        private final java.util.function.Consumer<String> echoLog;
        private HttpRequest req;

        Handler(Identity id, Map<String, Integer> retries, java.util.function.Consumer<String> echoLog) {
            this.id = id;
            this.retries = retries;
            this.echoLog = echoLog;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) throws JsonProcessingException {
            if (msg instanceof HttpRequest r) {
                if (r.decoderResult().isFailure()) {
                    respond(ctx, r, HttpResponseStatus.BAD_REQUEST, new byte[0], null);
                    return;
                }
                req = r;
            }
            if (msg instanceof LastHttpContent && req != null) {
                final HttpRequest r = req;
                req = null;
                answer(ctx, r);
            }
        }

        private void answer(ChannelHandlerContext ctx, HttpRequest r) throws JsonProcessingException {
            if (r.uri().startsWith("/retry/") && retry(ctx, r)) {
                return;
            }
            final String delay = queryParam(r.uri(), "delay");
            if (delay != null) {
                final long nanos = goDuration(delay);
                if (nanos < 0) {
                    respond(ctx, r, HttpResponseStatus.INTERNAL_SERVER_ERROR, ("{\"message\":\"invalid delay "
                            + delay + "\"}").getBytes(java.nio.charset.StandardCharsets.UTF_8), "application/json");
                    return;
                }
                ctx.executor().schedule(() -> {
                    try {
                        echo(ctx, r);
                    } catch (JsonProcessingException e) {
                        ctx.close();
                    }
                }, nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
                return;
            }
            echo(ctx, r);
        }

        /**
         * The /retry/ simulator: the first {@code succeedAfter} attempts with one {@code uuid} answer
         * {@code responseCode}, or without one are reset (TCP RST); later attempts are echoed. Returns true when it
         * answered.
         */
        private boolean retry(ChannelHandlerContext ctx, HttpRequest r) {
            final String uuid = queryParam(r.uri(), "uuid");
            final String after = queryParam(r.uri(), "succeedAfter");
            if (uuid == null || after == null) {
                return false;
            }
            final int n = retries.merge(uuid, 1, Integer::sum);
            final int succeedAfter;
            try {
                succeedAfter = Integer.parseInt(after);
            } catch (NumberFormatException e) {
                respond(ctx, r, HttpResponseStatus.BAD_REQUEST, new byte[0], null);
                return true;
            }
            if (n > succeedAfter) {
                return false;
            }
            final String code = queryParam(r.uri(), "responseCode");
            if (code != null) {
                respond(ctx, r, HttpResponseStatus.valueOf(Integer.parseInt(code)), new byte[0], null);
            } else {
                ctx.channel().config().setOption(io.netty.channel.ChannelOption.SO_LINGER, 0);
                ctx.close();
            }
            return true;
        }

        /** The first value of a query parameter, or null. */
        private static String queryParam(String uri, String name) {
            final int q = uri.indexOf('?');
            if (q < 0) {
                return null;
            }
            for (String kv : uri.substring(q + 1).split("&")) {
                final int eq = kv.indexOf('=');
                if (eq > 0 && kv.substring(0, eq).equals(name)) {
                    return kv.substring(eq + 1);
                }
            }
            return null;
        }

        /** Go's time.ParseDuration for the common forms (1s, 500ms, 1.5s, 2m, 1h10m); -1 when invalid. */
        static long goDuration(String s) {
            final Matcher m = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(ns|us|µs|ms|s|m|h)").matcher(s);
            double total = 0;
            int pos = 0;
            while (m.find() && m.start() == pos) {
                final double v = Double.parseDouble(m.group(1));
                total += v * switch (m.group(2)) {
                    case "ns" -> 1;
                    case "us", "µs" -> 1e3;
                    case "ms" -> 1e6;
                    case "s" -> 1e9;
                    case "m" -> 60e9;
                    default -> 3600e9;
                };
                pos = m.end();
            }
            return pos == s.length() && pos > 0 ? (long) total : -1;
        }

        private void echo(ChannelHandlerContext ctx, HttpRequest r) throws JsonProcessingException {
            final String uri = r.uri();
            final String path = collapse(uri.contains("?") ? uri.substring(0, uri.indexOf('?')) : uri);
            if (path.equals("/health")) {
                respond(ctx, r, HttpResponseStatus.OK, "OK".getBytes(java.nio.charset.StandardCharsets.UTF_8),
                        "text/plain; charset=utf-8");
                return;
            }
            if (path.startsWith("/status/")) {
                final Matcher m = STATUS.matcher(path);
                final HttpResponseStatus s = m.matches() ? HttpResponseStatus.valueOf(Integer.parseInt(m.group(1)))
                        : HttpResponseStatus.BAD_REQUEST;
                respond(ctx, r, s, new byte[0], null);
                return;
            }
            final Map<String, List<String>> headers = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : r.headers()) {
                if (e.getKey().equalsIgnoreCase("host") || e.getKey().startsWith("x-http2-")) {
                    continue;
                }
                headers.computeIfAbsent(canonical(e.getKey()), k -> new ArrayList<>()).add(e.getValue());
            }
            final Map<String, Object> body = new LinkedHashMap<>();
            body.put("path", uri);
            body.put("host", r.headers().get(HttpHeaderNames.HOST, ""));
            body.put("method", r.method().name());
            body.put("proto", ctx.channel() instanceof Http2StreamChannel ? "HTTP/2.0" : r.protocolVersion().text());
            body.put("headers", headers);
            body.put("namespace", id.namespace());
            body.put("ingress", id.ingress());
            body.put("service", id.service());
            body.put("pod", id.pod());
            body.put("httpPort", id.httpPort());
            // An HTTP/2 stream's TLS is on its parent connection.
            final io.netty.handler.ssl.SslHandler ssl = (ctx.channel() instanceof Http2StreamChannel s
                    ? s.parent().pipeline() : ctx.pipeline()).get(io.netty.handler.ssl.SslHandler.class);
            if (ssl != null) {
                final javax.net.ssl.SSLSession session = ssl.engine().getSession();
                final Map<String, Object> t = new LinkedHashMap<>();
                t.put("version", session.getProtocol());
                String serverName = "";
                if (session instanceof javax.net.ssl.ExtendedSSLSession ex) {
                    for (javax.net.ssl.SNIServerName n : ex.getRequestedServerNames()) {
                        if (n instanceof javax.net.ssl.SNIHostName h) {
                            serverName = h.getAsciiName();
                        }
                    }
                }
                t.put("serverName", serverName);
                if (ssl.applicationProtocol() != null) {
                    t.put("negotiatedProtocol", ssl.applicationProtocol());
                }
                t.put("cipherSuite", session.getCipherSuite());
                // The client's chain as echo-basic reports it: PEM, 64-column base64, leaf first.
                try {
                    final java.util.List<String> peers = new java.util.ArrayList<>();
                    for (java.security.cert.Certificate c : session.getPeerCertificates()) {
                        peers.add("-----BEGIN CERTIFICATE-----\n" + java.util.Base64.getMimeEncoder(64,
                                new byte[] {'\n'}).encodeToString(c.getEncoded()) + "\n-----END CERTIFICATE-----\n");
                    }
                    t.put("peerCertificates", peers);
                } catch (javax.net.ssl.SSLPeerUnverifiedException | java.security.cert.CertificateEncodingException e) {
                    // no client certificate
                }
                body.put("tls", t);
            }
            LOG.info("Echoing back request made to {} to client ({})", uri, ctx.channel().remoteAddress());
            echoLog.accept(uri);
            final FullHttpResponse resp = response(HttpResponseStatus.OK, JSON.writeValueAsBytes(body),
                    "application/json");
            resp.headers().set("X-Content-Type-Options", "nosniff");
            final String set = r.headers().get("X-Echo-Set-Header");
            if (set != null && !set.isEmpty()) {
                final Map<String, String> extra = new LinkedHashMap<>();
                for (String pair : set.split(",")) {
                    final int colon = pair.indexOf(':');
                    if (colon <= 0) {
                        continue;
                    }
                    final String n = pair.substring(0, colon).trim();
                    final String v = pair.substring(colon + 1).trim();
                    extra.merge(n, v, (a, b) -> a + "," + b);
                }
                extra.forEach((n, v) -> resp.headers().set(n, v));
            }
            send(ctx, r, resp);
        }

        private static String collapse(String p) {
            String s = p;
            while (s.contains("//")) {
                s = s.replace("//", "/");
            }
            return s;
        }

        private static FullHttpResponse response(HttpResponseStatus s, byte[] body, String type) {
            final FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, s,
                    Unpooled.wrappedBuffer(body));
            if (type != null) {
                resp.headers().set(HttpHeaderNames.CONTENT_TYPE, type);
            }
            resp.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length);
            return resp;
        }

        private static void respond(ChannelHandlerContext ctx, HttpRequest r, HttpResponseStatus s, byte[] body,
                                    String type) {
            send(ctx, r, response(s, body, type));
        }

        private static void send(ChannelHandlerContext ctx, HttpRequest r, FullHttpResponse resp) {
            final boolean keepAlive = HttpUtil.isKeepAlive(r) && !r.decoderResult().isFailure();
            HttpUtil.setKeepAlive(resp, keepAlive);
            final var f = ctx.writeAndFlush(resp);
            if (!keepAlive) {
                f.addListener(ChannelFutureListener.CLOSE);
            }
        }
    }
}
