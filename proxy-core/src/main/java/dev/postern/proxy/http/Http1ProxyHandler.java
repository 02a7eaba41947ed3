package dev.postern.proxy.http;

import dev.postern.config.runtime.Backend;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.Cluster;
import dev.postern.config.runtime.CorsPolicy;
import dev.postern.config.runtime.Endpoint;
import dev.postern.config.runtime.HeaderMutation;
import dev.postern.config.runtime.ListenerRoutes;
import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.RouteAction;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.RouteTable;
import dev.postern.config.runtime.VirtualHost;
import dev.postern.proxy.server.HttpListenerInitializer;
import dev.postern.proxy.server.ServerContext;
import dev.postern.proxy.upstream.PoolKey;
import dev.postern.proxy.upstream.UpstreamListener;
import dev.postern.proxy.upstream.UpstreamPool;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;

import java.net.InetSocketAddress;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The terminal handler of an HTTP/1.1 downstream connection: one exchange at a time, in order (pipelined requests
 * wait in the {@code FlowControlHandler} in front of it until the previous exchange is done).
 *
 * <p>The exchange pins the published route table once, applies the client-address policy, matches a route,
 * runs the route's filters, picks a backend by weight and an endpoint round-robin, takes an upstream connection
 * from this event loop's pool, and relays both bodies with backpressure: the next chunk is read only after the
 * previous write completed. Expected failures are {@link ProxyError} values answered by {@link LocalReplies}.
 *
 * <p>Threading: every method runs on the downstream channel's event loop, which also owns the upstream
 * connection; there are no locks.
 */
public final class Http1ProxyHandler extends ChannelInboundHandlerAdapter {

    /**
     * Whether an HTTP/1.1 request head passes the checks this handler applies before routing (the decoder's own
     * validation of names and values, framing, one Host, a well-formed target and authority). The h2c upgrade takes only such a request: one it would refuse must
     * get its 400 here rather than be converted to HTTP/2 (found by RequestHeadFuzzTest).
     */
    public static boolean acceptableHead(HttpRequest r) {
        return r.decoderResult().isSuccess() && Exchange.framingValid(r) && RequestHead.parse(r.method().name(), r.uri(),
                r.headers().get(HttpHeaderNames.HOST), r.headers()) != null;
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Http1ProxyHandler.class);
    private static final AsciiString UPSTREAM_SERVICE_TIME = AsciiString.cached("x-envoy-upstream-service-time");
    private static final AsciiString EXPECTED_TIMEOUT = AsciiString.cached("x-envoy-expected-rq-timeout-ms");
    /** The interim response to {@code Expect: 100-continue}. */
    private static final FullHttpResponse CONTINUE = new io.netty.handler.codec.http.DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE, io.netty.buffer.Unpooled.EMPTY_BUFFER);

    static {
        CONTINUE.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
    }
    /** How much of a request body is read and dropped after a local reply before the connection is closed. */
    private static final long DRAIN_LIMIT = 1 << 20;

    /** The metrics kind of a failed upstream connect: refused, timeout, reset, tls or other. */
    static String connectFailureKind(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof io.netty.channel.ConnectTimeoutException) {
                return "timeout";
            }
            if (t instanceof java.net.ConnectException) {
                return "refused";
            }
            if (t instanceof javax.net.ssl.SSLException) {
                return "tls";
            }
            if (t instanceof java.net.SocketException || t instanceof java.io.IOException
                    && String.valueOf(t.getMessage()).contains("reset")) {
                return "reset";
            }
        }
        return "other";
    }

    private final ServerContext sc;
    private final BindKey bind;
    private final boolean tls;
    private ChannelHandlerContext ctx;

    /** The Gateway address and port of a connection steered by TPROXY, for the access log; null otherwise. */
    private String originalDestination() {
        final io.netty.channel.Channel c = ctx.channel() instanceof Http2StreamChannel s ? s.parent() : ctx.channel();
        final InetSocketAddress a = c.attr(ServerContext.ORIGINAL_DST).get();
        if (a == null) {
            return null;
        }
        final String h = a.getAddress().getHostAddress();
        return (h.indexOf(':') >= 0 ? "[" + h + "]" : h) + ":" + a.getPort();
    }
    /** This connection's event-loop state (upstream pool, breakers, balancers); looked up once. */
    private ServerContext.LoopState loopState;

    private ServerContext.LoopState loopState() {
        ServerContext.LoopState s = loopState;
        if (s == null) {
            s = sc.loop(ctx.channel().eventLoop());
            loopState = s;
        }
        return s;
    }

    private Exchange ex;
    private boolean started;
    /** True from a read() until a message arrives; see {@link #channelReadComplete}. */
    private boolean awaitingRead;
    /** The next pipelined request head, when one was released while the current exchange was finishing. */
    private HttpRequest deferred;
    /** The connection's timeouts and obs-fold check; null on HTTP/2 streams. */
    private ConnectionGuard guard;

    /**
     * Creates the handler of one connection.
     *
     * @param sc the shared context
     * @param bind the socket the connection was accepted on, to find its port table
     * @param tls whether the connection is TLS
     */
    public Http1ProxyHandler(ServerContext sc, BindKey bind, boolean tls) {
        this.sc = sc;
        this.bind = bind;
        this.tls = tls;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.guard = ctx.pipeline().get(ConnectionGuard.class);
        if (ctx.channel().isActive() && ctx.channel().isRegistered()) {
            start(); // added after the connection became active (after a TLS handshake)
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        start();
        ctx.fireChannelActive();
    }

    /** Asks for the first message, once. */
    private void start() {
        if (!started) {
            started = true;
            read();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        awaitingRead = false;
        if (msg instanceof ByteBuf b && !(msg instanceof HttpContent)) {
            if (ex != null && ex.tunnel) {
                ex.onTunnelBytes(b);
            } else {
                b.release();
            }
            return;
        }
        if (msg instanceof HttpRequest req) {
            if (ex != null) {
                // The next pipelined request; it waits until the current exchange is done. No further read is
                // issued meanwhile, so at most one head waits here.
                if (deferred != null || msg instanceof HttpContent) {
                    ReferenceCountUtil.release(msg);
                    ctx.close();
                    return;
                }
                deferred = req;
                return;
            }
            startExchange(req);
        } else if (msg instanceof HttpContent c) {
            if (ex == null) {
                c.release();
                read();
                return;
            }
            ex.onContent(c);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    /** Asks for the next message (one message: the FlowControlHandler in front releases one per read). */
    private void read() {
        awaitingRead = true;
        ctx.read();
    }

    /**
     * A read cycle ended. Netty's contract lets a read() be satisfied by a read-complete without any message (the
     * FlowControlHandler collapses outstanding reads this way), so ask again while a message is still wanted.
     */
    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (awaitingRead) {
            ctx.read();
        }
    }

    private void startExchange(HttpRequest msg) {
        HttpRequest req = msg;
        LastHttpContent last = null;
        if (msg instanceof FullHttpRequest full && !full.decoderResult().isFailure()) {
            // HTTP/2 streams that end with their headers arrive whole: handle the head and the (empty) body apart,
            // so that the head alone is what goes upstream.
            req = new DefaultHttpRequest(full.protocolVersion(), full.method(), full.uri(), full.headers());
            last = new DefaultLastHttpContent(full.content(), full.trailingHeaders());
        } else if (msg instanceof HttpContent c) {
            c.release();
        }
        if (guard != null) {
            guard.onHead();
        }
        if (req.decoderResult().isSuccess() && HttpUtil.is100ContinueExpected(req)) {
            // Envoy's default (proxy_100_continue off): Postern answers 100 Continue itself and does not forward
            // the expectation. Done here rather than by a handler of its own in front of the queue of pipelined
            // requests: one handler less for every message, and a pipelined request's 100 can no longer land in
            // the middle of the response before it.
            ctx.writeAndFlush(CONTINUE.retainedDuplicate()).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
            req.headers().remove(HttpHeaderNames.EXPECT);
        }
        ex = new Exchange();
        try {
            ex.onHead(req);
        } catch (RuntimeException e) {
            if (last != null) {
                last.release(); // the body part of a whole HTTP/2 request; the close below cleans the rest up
            }
            throw e;
        }
        if (last != null) {
            if (ex != null) {
                ex.onContent(last);
            } else {
                last.release();
            }
        }
    }

    /** Continues with the next request after an exchange completed on a connection kept alive. */
    private void next() {
        if (guard != null) {
            guard.onExchangeDone();
        }
        final HttpRequest d = deferred;
        if (d != null) {
            deferred = null;
            startExchange(d);
        } else {
            read();
        }
    }

    /** Draining: an idle connection closes now; a busy one closes after its response (Connection: close). */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == ConnectionGuard.STREAM_IDLE) {
            if (ex != null) {
                ex.onStreamIdle();
            }
            return;
        }
        if (evt == ServerContext.DRAIN) {
            if (ex == null) {
                ctx.close();
            } else {
                ex.keepAlive = false;
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (deferred != null) {
            ReferenceCountUtil.release(deferred);
            deferred = null;
        }
        if (ex != null) {
            ex.onDownstreamClosed();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Bad input a codec rejected, or the peer went away: expected, and not worth a log line each (an attacker
        // would fill the log). Anything else is a bug in Postern.
        if (cause instanceof java.io.IOException || cause instanceof io.netty.handler.codec.DecoderException
                || cause instanceof io.netty.handler.codec.http2.Http2Exception
                || cause instanceof io.netty.handler.codec.PrematureChannelClosureException) {
            // (an HTTP/2 stream error such as two content-length fields: the codec resets the stream itself)
            LOG.debug("closing {}: {}", ctx.channel(), cause.toString());
        } else {
            LOG.warn("closing {} after an unexpected error", ctx.channel(), cause);
        }
        ctx.close();
    }

    /** One request/response exchange. */
    private final class Exchange implements UpstreamListener, UpstreamPool.Callback {
        private final long startNanos = System.nanoTime();
        private final long startMillis = System.currentTimeMillis();
        private String routeKey;
        /** The listener whose virtual host answered, for metrics labels; null when none. */
        private String listenerName;
        private int status;
        private String flags;
        private long bytesIn;
        private long bytesOut;
        private boolean recorded;
        private String serviceTime;
        private HttpRequest req;
        boolean keepAlive;
        private RequestHead head;
        private RouteAction.Filters routeFilters = RouteAction.Filters.NONE;
        private RouteAction.Filters backendFilters = RouteAction.Filters.NONE;
        private Cluster cluster;
        private PoolKey poolKey;
        private Channel up;
        private boolean reusedConnection;
        private boolean requestHasBody;
        private boolean bodyForwarded;
        private boolean requestDone;
        private boolean responseStarted;
        private boolean responseDone;
        private boolean draining;
        private long drained;
        private boolean headRequest;
        private long upstreamSentNanos;
        private boolean finished;
        /** An Upgrade: websocket request was forwarded. */
        private boolean upgrade;
        /** After 101 Switching Protocols: both connections carry raw bytes. */
        boolean tunnel;
        /** The 101 was received; the tunnel opens once it has been written downstream. */
        private boolean switching;
        /** Upstream bytes that came right behind the 101, before the tunnel opened. */
        private java.util.ArrayDeque<ByteBuf> earlyBytes;
        private RouteAction.Timeouts timeouts = RouteAction.Timeouts.NONE;
        private RouteAction.Retry retry = RouteAction.Retry.NONE;
        private int retriesDone;
        /** Retained copies of the request body for retries; null when there is no retry policy or too much body. */
        private java.util.ArrayList<HttpContent> replay;
        private long replayBytes;
        /** A circuit-breaker request slot is held for {@link #cluster}. */
        private boolean slotHeld;

        private void releaseSlot() {
            if (slotHeld) {
                slotHeld = false;
                loopState().releaseRequest(cluster.name());
            }
        }

        /** The endpoint of the current try. */
        private Endpoint endpoint;

        /** Feeds passive outlier detection with the current try's outcome. */
        private void outcome(boolean failure) {
            if (endpoint != null && cluster != null && loopState().outcome(cluster, endpoint,
                    failure)) {
                sc.metrics().onEjection();
            }
        }

        /** Some of the request (even its empty end) has been written to an upstream. */
        private boolean forwardedAny;
        /** The allowed CORS origin of an actual (not preflight) request, added to the response; else null. */
        private String corsOrigin;
        /** Active request mirrors, fed copies of the request body; null when none. */
        private java.util.ArrayList<MirrorExchange> mirrors;
        private ScheduledFuture<?> requestTimer;
        private ScheduledFuture<?> tryTimer;
        /** Request chunks that arrived while the upstream connection was being made. */
        private java.util.ArrayDeque<HttpContent> pendingBody;

        // ------------------------------------------------------------------------------------------------------
        // Downstream side

        void onHead(HttpRequest r) {
            this.req = r;
            final DecoderResult dr = r.decoderResult();
            if (dr.isFailure()) {
                keepAlive = false;
                final Throwable c = dr.cause();
                final ProxyError e = c instanceof TooLongHttpLineException ? ProxyError.URI_TOO_LONG
                        : c instanceof TooLongHttpHeaderException || c instanceof TooLongFrameException
                        ? ProxyError.HEADERS_TOO_LARGE : ProxyError.BAD_REQUEST;
                localReply(LocalReplies.of(e, false, ctx.alloc()), true);
                return;
            }
            keepAlive = HttpUtil.isKeepAlive(r) && !sc.draining();
            if (sc.overloaded()) {
                keepAlive = false;
                error(ProxyError.OVERLOADED);
                return;
            }
            if (!(ctx.channel() instanceof Http2StreamChannel) && !framingValid(r)) {
                keepAlive = false;
                localReply(LocalReplies.of(ProxyError.BAD_REQUEST, false, ctx.alloc()), true);
                return;
            }
            headRequest = r.method().equals(HttpMethod.HEAD);
            requestHasBody = HttpUtil.isTransferEncodingChunked(r) || HttpUtil.getContentLength(r, 0L) > 0;
            final HttpHeaders h = r.headers();
            head = RequestHead.parse(r.method().name(), r.uri(), h.get(HttpHeaderNames.HOST), h,
                    sc.bootstrap().downstream().paths());
            if (head == null) {
                keepAlive = false;
                localReply(LocalReplies.of(ProxyError.BAD_REQUEST, false, ctx.alloc()), true);
                return;
            }
            if (head.slashRedirect()) {
                // path_with_escaped_slashes_action UNESCAPE_AND_REDIRECT: the client asks again for the plain path
                final FullHttpResponse rd = LocalReplies.of(HttpResponseStatus.TEMPORARY_REDIRECT, "", keepAlive,
                        ctx.alloc());
                rd.headers().set(HttpHeaderNames.LOCATION, head.pathAndQuery());
                localReply(rd, true);
                return;
            }
            // Pin the table once for the whole exchange.
            final RouteTable table = sc.config().table();
            final PortTable port = table.port(bind);
            if (tls && port != null && port.tls() != null && misdirected(port)) {
                error(ProxyError.MISDIRECTED);
                return;
            }
            final VirtualHost vh = port == null ? null : port.virtualHost(head.host());
            if (vh != null) {
                listenerName = vh.listener();
            } else if (port != null) {
                // No virtual host (a 404): the listener still counts it.
                final dev.postern.config.runtime.ListenerRoutes l = port.listeners().find(head.host());
                listenerName = l == null ? null : l.name();
            }
            final RouteEntry route = vh == null ? null : vh.match(head);
            if (route == null) {
                error(ProxyError.NO_ROUTE);
                return;
            }
            routeKey = route.routeKey();
            switch (route.action()) {
                case RouteAction.Direct d -> localReply(isGrpc()
                        ? LocalReplies.grpc(HttpResponseStatus.valueOf(d.status()), d.body(), ctx.alloc())
                        : LocalReplies.of(HttpResponseStatus.valueOf(d.status()), d.body(), keepAlive, ctx.alloc()),
                        true);
                case RouteAction.Redirect rd -> redirect(rd);
                case RouteAction.Forward f -> forward(f);
            }
        }

        /**
         * What the HTTP/1.1 decoder lets through but RFC 9112 (and request-smuggling defence) does not: a version
         * other than 1.0/1.1, more than one Host, any Transfer-Encoding other than exactly {@code chunked}, and any
         * Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1: the framing is faulty).
         */
        private static boolean framingValid(HttpRequest r) {
            final HttpVersion v = r.protocolVersion();
            if (v.majorVersion() != 1 || v.minorVersion() > 1) {
                return false;
            }
            final HttpHeaders h = r.headers();
            if (h.getAll(HttpHeaderNames.HOST).size() > 1) {
                return false;
            }
            if (h.contains(HttpHeaderNames.CONTENT_LENGTH)) {
                // One Content-Length of digits only, in HTTP/1.0 too (the decoder let two differing ones through
                // on an HTTP/1.0 request; found by RequestHeadFuzzTest).
                final java.util.List<String> cl = h.getAll(HttpHeaderNames.CONTENT_LENGTH);
                if (cl.size() != 1 || !digits(cl.getFirst().trim())) {
                    return false;
                }
            }
            final java.util.List<String> te = h.getAll(HttpHeaderNames.TRANSFER_ENCODING);
            return te.isEmpty() || (te.size() == 1 && v.minorVersion() == 1
                    && te.getFirst().trim().equalsIgnoreCase("chunked")
                    && !h.contains(HttpHeaderNames.CONTENT_LENGTH));
        }

        private static boolean digits(String v) {
            if (v.isEmpty() || v.length() > 18) {
                return false;
            }
            for (int i = 0; i < v.length(); i++) {
                if (v.charAt(i) < '0' || v.charAt(i) > '9') {
                    return false;
                }
            }
            return true;
        }

        /** True when the SNI chose one listener and the Host belongs to another. */
        private boolean misdirected(PortTable port) {
            final Channel conn = ctx.channel() instanceof Http2StreamChannel ? ctx.channel().parent() : ctx.channel();
            final String sni = conn.attr(HttpListenerInitializer.SNI).get();
            if (sni == null) {
                return false;
            }
            final ListenerRoutes byHost = port.listeners().find(head.host());
            return byHost != null && !byHost.name().equals(port.tls().listenerFor(sni).listener());
        }

        private void forward(RouteAction.Forward f) {
            final int total = f.totalWeight();
            if (total <= 0) {
                error(ProxyError.INVALID_BACKEND);
                return;
            }
            final int idx = f.pick(ThreadLocalRandom.current().nextInt(total));
            routeFilters = f.filters();
            backendFilters = f.backendFilters().get(idx);
            final CorsPolicy cors = routeFilters.cors();
            final String origin = cors == null ? null : req.headers().get(HttpHeaderNames.ORIGIN);
            if (origin != null) {
                if (req.method().equals(HttpMethod.OPTIONS)
                        && req.headers().contains(HttpHeaderNames.ACCESS_CONTROL_REQUEST_METHOD)) {
                    preflight(cors, origin);
                    return;
                }
                if (cors.allows(origin)) {
                    corsOrigin = origin;
                }
            }
            final Backend b = f.backends().get(idx);
            if (!(b instanceof Backend.Forward bf)) {
                error(ProxyError.INVALID_BACKEND);
                return;
            }
            cluster = bf.cluster();
            timeouts = f.timeouts();
            if (timeouts.requestMs() > 0) {
                requestTimer = ctx.executor().schedule(() -> onTimeout(false), timeouts.requestMs(),
                        TimeUnit.MILLISECONDS);
            }
            final int n = cluster.endpoints().size();
            if (n == 0) {
                error(ProxyError.NO_HEALTHY_UPSTREAM);
                return;
            }
            final ServerContext.LoopState ls = loopState();
            if (!ls.tryAcquireRequest(cluster.name(), sc.maxRequestsPerLoop())) {
                sc.metrics().onOverflow("requests");
                error(ProxyError.UPSTREAM_OVERFLOW);
                return;
            }
            slotHeld = true;
            retry = f.retry();
            if (retry.attempts() > 0) {
                replay = new java.util.ArrayList<>(2);
            }
            prepareUpstreamRequest();
            startMirrors();
            startTry();
        }

        /** Starts the route's and the backend's request mirrors (fire and forget). */
        private void startMirrors() {
            for (RouteAction.Filters fs : new RouteAction.Filters[] {routeFilters, backendFilters}) {
                for (RouteAction.Mirror m : fs.mirrors()) {
                    final MirrorExchange x = MirrorExchange.start(sc, ctx.channel().eventLoop(), m, req);
                    if (x != null) {
                        if (mirrors == null) {
                            mirrors = new java.util.ArrayList<>(1);
                        }
                        mirrors.add(x);
                    }
                }
            }
        }

        /**
         * Answers a CORS preflight itself: the allowed origin, methods, headers, exposed headers, max age and
         * credentials when the origin is allowed; a plain 200 without CORS headers when it is not.
         */
        private void preflight(CorsPolicy cors, String origin) {
            final FullHttpResponse r = LocalReplies.of(HttpResponseStatus.OK, "", keepAlive, ctx.alloc());
            if (cors.allows(origin)) {
                final HttpHeaders h = r.headers();
                h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                h.add(HttpHeaderNames.VARY, HttpHeaderNames.ORIGIN);
                final String wantMethod = req.headers().get(HttpHeaderNames.ACCESS_CONTROL_REQUEST_METHOD);
                h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_METHODS, cors.allowMethods().contains("*")
                        ? wantMethod : String.join(", ", cors.allowMethods()));
                final String wantHeaders = req.headers().get(HttpHeaderNames.ACCESS_CONTROL_REQUEST_HEADERS);
                if (cors.allowHeaders().contains("*")) {
                    if (wantHeaders != null) {
                        h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_HEADERS, wantHeaders);
                    }
                } else if (!cors.allowHeaders().isEmpty()) {
                    h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_HEADERS, String.join(", ", cors.allowHeaders()));
                }
                if (!cors.exposeHeaders().isEmpty()) {
                    h.set(HttpHeaderNames.ACCESS_CONTROL_EXPOSE_HEADERS, String.join(", ", cors.exposeHeaders()));
                }
                if (cors.maxAgeSeconds() >= 0) {
                    h.set(HttpHeaderNames.ACCESS_CONTROL_MAX_AGE, cors.maxAgeSeconds());
                }
                if (cors.allowCredentials()) {
                    h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
                }
            }
            localReply(r, true);
        }

        /** One try: the next endpoint round-robin, a connection from this loop's pool. */
        private void startTry() {
            if (finished) {
                return;
            }
            final ServerContext.LoopState loop = loopState();
            endTry();
            final Endpoint ep = sc.leastRequest(cluster) ? loop.pickLeastRequest(cluster) : loop.pick(cluster);
            endpoint = ep;
            loop.tryStarted(ep);
            tryActive = true;
            poolKey = PoolKey.of(ep.socketAddress(), cluster);
            acquire();
        }

        /** Takes a connection from the pool; 503 UO when the cluster's pending-requests breaker is open. */
        private void acquire() {
            acquiring = true;
            if (!loopState().pool().acquire(poolKey, cluster.name(), this, this)) {
                acquiring = false;
                error(ProxyError.UPSTREAM_OVERFLOW);
            }
        }

        /** The current try is counted as active on its endpoint (least request). */
        private boolean tryActive;
        /** Waiting for a connection from the pool. */
        private boolean acquiring;

        private void endTry() {
            if (tryActive) {
                tryActive = false;
                loopState().tryEnded(endpoint);
            }
            if (acquiring) {
                acquiring = false;
                loopState().pool().cancel(cluster.name(), this);
            }
        }

        /**
         * Envoy's stream idle timeout: nothing was read or written for the bootstrap's streamIdleTimeout. Before
         * the response: 408 (flag SI) and close; during it: the connection is cut.
         */
        void onStreamIdle() {
            if (finished) {
                return;
            }
            keepAlive = false;
            if (responseStarted) {
                dropUpstream();
                ctx.close();
                return;
            }
            error(ProxyError.STREAM_IDLE_TIMEOUT);
        }

        /**
         * Whether another try may be made: retries left, no response sent yet, and the request can be sent again
         * (nothing of it forwarded yet, or all of it kept for replay).
         */
        private boolean canRetry() {
            return !finished && !responseStarted && retriesDone < retry.attempts()
                    && (!forwardedAny || (requestDone && replay != null));
        }

        /** Drops the current try and starts the next one after the back-off. */
        private void retryLater() {
            retriesDone++;
            sc.metrics().onRetry();
            dropUpstream();
            cancel(tryTimer);
            ctx.executor().schedule(this::startTry, retry.backoffMs(), TimeUnit.MILLISECONDS);
        }

        /** Mutates the received request into the one sent upstream. */
        private void prepareUpstreamRequest() {
            final HttpHeaders h = req.headers();
            final boolean chunked = HttpUtil.isTransferEncodingChunked(req);
            for (HttpConversionUtil.ExtensionHeaderNames n : HttpConversionUtil.ExtensionHeaderNames.values()) {
                h.remove(n.text()); // x-http2-*: the HTTP/2 conversion's own bookkeeping, never forwarded
            }
            final InetSocketAddress peer = (InetSocketAddress) ctx.channel().remoteAddress();
            upgrade = cluster.protocol() != Cluster.Protocol.H2C && !(ctx.channel() instanceof Http2StreamChannel)
                    && h.containsValue(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true)
                    && h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true);
            sc.forwardedPolicy().apply(h, peer.getAddress(), tls, upgrade);
            if (upgrade) {
                h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
            }
            if (chunked) {
                h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
                h.remove(HttpHeaderNames.CONTENT_LENGTH);
            }
            if (head.absoluteForm()) {
                h.set(HttpHeaderNames.HOST, head.authority()); // RFC 9112 §3.2.2: the target's authority wins
            }
            String pathAndQuery = head.pathAndQuery();
            for (RouteAction.Filters fs : new RouteAction.Filters[] {routeFilters, backendFilters}) {
                if (fs == RouteAction.Filters.NONE) {
                    continue;
                }
                mutate(h, fs.requestHeaders());
                if (fs.hostRewrite() != null) {
                    h.set(HttpHeaderNames.HOST, fs.hostRewrite());
                }
                if (fs.pathRewrite() != null) {
                    final String p = fs.pathRewrite().apply(head.path());
                    pathAndQuery = head.query() == null ? p : p + "?" + head.query();
                }
            }
            if (!h.contains(HttpHeaderNames.HOST)) {
                h.set(HttpHeaderNames.HOST, head.authority());
            }
            req.setUri(pathAndQuery);
            req.setProtocolVersion(HttpVersion.HTTP_1_1);
        }

        private void redirect(RouteAction.Redirect rd) {
            final String scheme = rd.scheme() != null ? rd.scheme() : tls ? "https" : "http";
            final String host = rd.hostname() != null ? rd.hostname() : head.host();
            final int port;
            if (rd.port() != null) {
                port = rd.port();
            } else if (rd.scheme() != null) {
                port = scheme.equals("https") ? 443 : 80;
            } else {
                port = bind.port();
            }
            final boolean defaultPort = (scheme.equals("http") && port == 80) || (scheme.equals("https")
                    && port == 443);
            final String path = rd.path() == null ? head.path() : rd.path().apply(head.path());
            final String location = scheme + "://" + host + (defaultPort ? "" : ":" + port) + path
                    + (head.query() == null ? "" : "?" + head.query());
            final FullHttpResponse r = LocalReplies.of(HttpResponseStatus.valueOf(rd.statusCode()), "", keepAlive,
                    ctx.alloc());
            r.headers().set(HttpHeaderNames.LOCATION, location);
            mutate(r.headers(), rd.responseHeaders());
            localReply(r, true);
        }

        void onContent(HttpContent c) {
            if (c.decoderResult().isFailure()) {
                // A malformed body (a bad chunk size, say): nothing more of this connection is trusted.
                c.release();
                keepAlive = false;
                if (responseStarted) {
                    dropUpstream();
                    ctx.close();
                } else {
                    requestDone = true;
                    localReply(LocalReplies.of(ProxyError.BAD_REQUEST, false, ctx.alloc()), true);
                }
                return;
            }
            final boolean last = c instanceof LastHttpContent;
            bytesIn += c.content().readableBytes();
            if (!draining && up == null) {
                // Still connecting (a read was already pending): keep the chunk until the upstream is there.
                if (pendingBody == null) {
                    pendingBody = new java.util.ArrayDeque<>(2);
                }
                pendingBody.add(c);
                return;
            }
            if (draining) {
                drained += c.content().readableBytes();
                c.release();
                if (drained > DRAIN_LIMIT) {
                    keepAlive = false;
                    ctx.close();
                    return;
                }
                if (last) {
                    requestDone = true;
                    maybeFinish();
                } else {
                    read();
                }
                return;
            }
            if (last && !((LastHttpContent) c).trailingHeaders().isEmpty()) {
                stripForbiddenTrailers(((LastHttpContent) c).trailingHeaders());
            }
            if (c.content().isReadable()) {
                bodyForwarded = true;
            }
            forwardedAny = true;
            keepForReplay(c);
            if (mirrors != null) {
                for (MirrorExchange m : mirrors) {
                    m.onContent(c.retainedDuplicate());
                }
            }
            final Channel u = up;
            u.writeAndFlush(c).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    return; // the upstream handler reports the close
                }
                if (last) {
                    requestDone = true;
                    maybeFinish();
                } else {
                    read();
                }
            });
        }

        /** The most of a request body kept for retries; a larger body is not retried. */
        private static final long REPLAY_LIMIT = 64 * 1024;

        private void keepForReplay(HttpContent c) {
            if (replay == null) {
                return;
            }
            replayBytes += c.content().readableBytes();
            if (replayBytes > REPLAY_LIMIT) {
                releaseReplay();
                return;
            }
            replay.add(c.retainedDuplicate());
        }

        private void releaseReplay() {
            if (replay != null) {
                replay.forEach(HttpContent::release);
                replay = null;
            }
        }

        private void releasePending() {
            if (pendingBody != null) {
                HttpContent c;
                while ((c = pendingBody.poll()) != null) {
                    if (c instanceof LastHttpContent) {
                        requestDone = true;
                    }
                    c.release();
                }
            }
        }

        void onDownstreamClosed() {
            if (!finished) {
                flags = flags == null ? "DC" : flags;
                record();
            }
            cancelTimers();
            if (mirrors != null) {
                mirrors.forEach(MirrorExchange::abandonIfIncomplete);
            }
            if (earlyBytes != null) {
                earlyBytes.forEach(ByteBuf::release);
                earlyBytes.clear();
            }
            releasePending();
            if (up != null) {
                loopState().pool().discard(up);
                up = null;
            }
            finished = true;
            ex = null;
        }

        // ------------------------------------------------------------------------------------------------------
        // Upstream side

        @Override
        public void onAcquired(Channel ch, boolean reused) {
            acquiring = false;
            if (finished || responseStarted || !ctx.channel().isActive()) {
                loopState().pool().discard(ch);
                return;
            }
            up = ch;
            reusedConnection = reused;
            upstreamSentNanos = System.nanoTime();
            if (timeouts.backendRequestMs() > 0) {
                cancel(tryTimer);
                tryTimer = ctx.executor().schedule(() -> onTimeout(true), timeouts.backendRequestMs(),
                        TimeUnit.MILLISECONDS);
            }
            setExpectedTimeout();
            // The head goes out with the first part of the body (one write syscall for a small request), unless
            // the body is already here or will not come.
            ch.write(req);
            ch.read();
            if (requestDone) {
                // Another try after the whole request was read: send the kept body again (or the empty end).
                if (replay != null && !replay.isEmpty()) {
                    for (HttpContent c : replay) {
                        ch.write(c.retainedDuplicate());
                    }
                    ch.flush();
                } else {
                    ch.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
                }
            } else if (pendingBody != null && !pendingBody.isEmpty()) {
                HttpContent c;
                while ((c = pendingBody.poll()) != null) {
                    onContent(c); // each write asks for the next chunk when it completes
                }
            } else {
                read(); // a bodiless request's empty end is already decoded: head and end leave in one write
            }
        }

        /**
         * Envoy's {@code x-envoy-expected-rq-timeout-ms}: the per-try timeout when there is one, else the request
         * timeout, never more than what is left of the request timeout (1 ms when none is left); not set when no
         * timeout applies.
         */
        private void setExpectedTimeout() {
            final long global = timeouts.requestMs();
            long expected = timeouts.backendRequestMs();
            if (expected <= 0) {
                expected = global;
            }
            if (expected <= 0) {
                return;
            }
            if (global > 0) {
                final long elapsed = (System.nanoTime() - startNanos) / 1_000_000;
                expected = elapsed >= global ? 1 : Math.min(expected, global - elapsed);
            }
            req.headers().set(EXPECTED_TIMEOUT, expected);
        }

        @Override
        public void onFailed(Throwable cause) {
            acquiring = false;
            if (finished) {
                return;
            }
            outcome(true);
            sc.metrics().onConnectFailure(connectFailureKind(cause));
            if (canRetry()) {
                retryLater();
                return;
            }
            if (cause instanceof dev.postern.proxy.upstream.UpstreamTlsException) {
                org.slf4j.LoggerFactory.getLogger(Http1ProxyHandler.class).debug("TLS to {} failed: {}", endpoint,
                        cause.getMessage());
                error(ProxyError.UPSTREAM_TLS_FAILURE);
                return;
            }
            error(ProxyError.UPSTREAM_CONNECT_FAILURE);
        }

        @Override
        public void onUpstreamRead(HttpObject msg) {
            if (finished || switching) {
                ReferenceCountUtil.release(msg); // after a 101: the decoder's empty last content
                return;
            }
            final Channel u = up;
            if (msg instanceof HttpResponse resp) {
                if (resp.decoderResult().isFailure()) {
                    ReferenceCountUtil.release(msg);
                    dropUpstream();
                    if (!responseStarted) {
                        error(ProxyError.UPSTREAM_PROTOCOL_ERROR);
                    } else {
                        ctx.close();
                    }
                    return;
                }
                if (upgrade && resp.status().code() == 101) {
                    switchProtocols(resp);
                    return;
                }
                if (resp.status().codeClass() == io.netty.handler.codec.http.HttpStatusClass.INFORMATIONAL) {
                    ReferenceCountUtil.release(msg); // 100 Continue is answered by Postern itself
                    u.read();
                    return;
                }
                outcome(resp.status().code() >= 500);
                sc.metrics().onUpstreamResponse(cluster.name(), resp.status().code(),
                        System.nanoTime() - upstreamSentNanos);
                if (retry.retriable(resp.status().code()) && canRetry()) {
                    ReferenceCountUtil.release(msg);
                    retryLater(); // the rest of this response is never read: the connection is closed
                    return;
                }
                responseStarted = true;
                prepareResponse(resp);
            }
            if (msg instanceof HttpContent hc) {
                bytesOut += hc.content().readableBytes();
            }
            if (msg instanceof HttpContent hc && hc.decoderResult().isFailure()) {
                // A malformed body (a bad chunk): the response cannot be completed. Nothing of this connection is
                // reused, and the client must see an incomplete response, never a clean end.
                ReferenceCountUtil.release(msg);
                dropUpstream();
                if (!responseStarted) {
                    error(ProxyError.UPSTREAM_PROTOCOL_ERROR);
                } else {
                    flags = ProxyError.UPSTREAM_PROTOCOL_ERROR.flag();
                    sc.metrics().onError(flags);
                    ctx.close();
                }
                return;
            }
            final boolean last = msg instanceof LastHttpContent;
            if (last) {
                // The upstream is free once its response is complete, and reusable if our request was too.
                final boolean reusable = requestDone && upstreamKeepAlive;
                final UpstreamPool pool = loopState().pool();
                if (reusable) {
                    pool.release(u);
                } else {
                    pool.discard(u);
                    if (!requestDone) {
                        draining = true; // drop the rest of the request body
                    }
                }
                up = null;
            }
            // Parts of a response are flushed together: the last part flushes at once, earlier ones when the
            // upstream read cycle ends (onUpstreamReadComplete), so a small response costs one write syscall.
            final ChannelFutureListener after = f -> {
                if (!f.isSuccess()) {
                    ctx.close();
                    return;
                }
                if (last) {
                    responseDone = true;
                    maybeFinish();
                } else {
                    u.read();
                }
            };
            if (last) {
                ctx.writeAndFlush(msg).addListener(after);
            } else {
                ctx.write(msg).addListener(after);
                unflushed = true;
            }
        }

        /** Set when response parts were written but not flushed yet. */
        private boolean unflushed;

        @Override
        public void onUpstreamReadComplete() {
            if (unflushed) {
                unflushed = false;
                ctx.flush();
            }
        }

        private boolean upstreamKeepAlive;

        private void prepareResponse(HttpResponse resp) {
            status = resp.status().code();
            upstreamKeepAlive = HttpUtil.isKeepAlive(resp);
            final HttpHeaders h = resp.headers();
            final boolean hasLength = h.contains(HttpHeaderNames.CONTENT_LENGTH);
            ForwardedHeaderPolicy.removeHopByHop(h, false);
            final int code = resp.status().code();
            final boolean bodyless = headRequest || code == 204 || code == 304;
            if (!hasLength && !bodyless) {
                if (req.protocolVersion().equals(HttpVersion.HTTP_1_0)) {
                    keepAlive = false; // an HTTP/1.0 client cannot take chunks: delimit by close
                } else {
                    h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
                }
            }
            mutate(h, routeFilters.responseHeaders());
            mutate(h, backendFilters.responseHeaders());
            if (corsOrigin != null) {
                final CorsPolicy cors = routeFilters.cors();
                h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, corsOrigin);
                h.add(HttpHeaderNames.VARY, HttpHeaderNames.ORIGIN);
                if (cors.allowCredentials()) {
                    h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
                }
                if (!cors.exposeHeaders().isEmpty()) {
                    h.set(HttpHeaderNames.ACCESS_CONTROL_EXPOSE_HEADERS, String.join(", ", cors.exposeHeaders()));
                }
            }
            serviceTime = Long.toString((System.nanoTime() - upstreamSentNanos) / 1_000_000);
            h.set(UPSTREAM_SERVICE_TIME, serviceTime);
            resp.setProtocolVersion(HttpVersion.HTTP_1_1);
            HttpUtil.setKeepAlive(resp, keepAlive);
            if (!keepAlive) {
                h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            }
        }

        /**
         * The upstream accepted the upgrade: send its 101 on, then turn both connections into a byte tunnel (the
         * HTTP codecs leave both pipelines), relayed with the same backpressure as bodies.
         */
        private void switchProtocols(HttpResponse resp) {
            status = 101;
            cancelTimers();
            responseStarted = true;
            switching = true;
            final Channel u = up;
            final HttpHeaders h = resp.headers();
            h.set(UPSTREAM_SERVICE_TIME, (System.nanoTime() - upstreamSentNanos) / 1_000_000);
            ctx.writeAndFlush(resp);
            ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    ctx.close();
                    return;
                }
                final io.netty.channel.ChannelPipeline dp = ctx.pipeline();
                for (Class<? extends io.netty.channel.ChannelHandler> c : java.util.List.of(
                        io.netty.handler.codec.http.HttpServerUpgradeHandler.class,
                        io.netty.handler.flow.FlowControlHandler.class,
                        io.netty.handler.codec.http.HttpServerCodec.class)) {
                    if (dp.get(c) != null) {
                        dp.remove(c);
                    }
                }
                if (u.pipeline().get(dev.postern.proxy.upstream.UpstreamCodec.class) != null) {
                    u.pipeline().remove(dev.postern.proxy.upstream.UpstreamCodec.class);
                }
                tunnel = true;
                if (earlyBytes != null) {
                    ByteBuf b;
                    while ((b = earlyBytes.poll()) != null) {
                        ctx.write(b);
                    }
                    ctx.flush();
                }
                read();
                u.read();
            });
        }

        void onTunnelBytes(ByteBuf b) {
            final Channel u = up;
            if (u == null) {
                b.release();
                return;
            }
            u.writeAndFlush(b).addListener((ChannelFutureListener) f -> {
                if (f.isSuccess()) {
                    read();
                } else {
                    ctx.close();
                }
            });
        }

        @Override
        public void onUpstreamBytes(ByteBuf b) {
            if (finished || !switching) {
                b.release();
                return;
            }
            if (!tunnel) {
                if (earlyBytes == null) {
                    earlyBytes = new java.util.ArrayDeque<>(2);
                }
                earlyBytes.add(b);
                return;
            }
            final Channel u = up;
            ctx.writeAndFlush(b).addListener((ChannelFutureListener) f -> {
                if (f.isSuccess()) {
                    if (u != null) {
                        u.read();
                    }
                } else {
                    ctx.close();
                }
            });
        }

        @Override
        public void onUpstreamClosed(Throwable cause) {
            if (finished) {
                return;
            }
            up = null;
            if (responseStarted) {
                if (!tunnel && !responseDone && flags == null) {
                    flags = ProxyError.UPSTREAM_RESET.flag(); // Envoy's UC: the backend went away mid-response
                    sc.metrics().onError(flags);
                }
                ctx.close(); // cannot tell the client anything better mid-response (or the tunnel ended)
                return;
            }
            if (!reusedConnection) {
                outcome(true); // a fresh connection reset before any response: the endpoint failed
            }
            if (cause instanceof dev.postern.proxy.upstream.UpstreamProtocolException) {
                error(ProxyError.UPSTREAM_PROTOCOL_ERROR); // logged by the pool, once per connection
                return;
            }
            if (reusedConnection && !bodyForwarded && !requestHasBody) {
                // A pooled connection the peer had closed: try once more on another, without a client-visible error.
                reusedConnection = false;
                acquire();
                return;
            }
            if (canRetry()) {
                retryLater();
                return;
            }
            error(ProxyError.UPSTREAM_RESET);
        }

        /** A request or per-try timeout fired: 504 if nothing was answered yet, else the connection is cut. */
        private void onTimeout(boolean perTry) {
            if (finished) {
                return;
            }
            if (responseStarted) {
                if (!responseDone) {
                    dropUpstream();
                    ctx.close();
                }
                return;
            }
            error(ProxyError.UPSTREAM_TIMEOUT);
        }

        /** Records the exchange once: metrics, and the access log line when it is on. */
        private void record() {
            if (recorded || req == null) {
                return;
            }
            recorded = true;
            final long nanos = System.nanoTime() - startNanos;
            sc.metrics().onResponse(listenerName, routeKey, status, nanos);
            final dev.postern.proxy.observe.AccessLog log = sc.accessLog();
            if (log != null) {
                final HttpHeaders h = req.headers();
                log.log(new dev.postern.proxy.observe.AccessLog.Entry(startMillis, req.method().name(),
                        head == null ? req.uri() : head.pathAndQuery(),
                        ctx.channel() instanceof Http2StreamChannel ? "HTTP/2" : req.protocolVersion().text(),
                        status, flags, bytesIn, bytesOut, nanos / 1_000_000,
                        serviceTime, h.get("x-forwarded-for"),
                        h.get(HttpHeaderNames.USER_AGENT), h.get("x-request-id"),
                        head == null ? null : head.authority(),
                        poolKey == null ? null : poolKey.address().getAddress().getHostAddress() + ":"
                                + poolKey.address().getPort(), originalDestination()));
            }
        }

        private void cancelTimers() {
            endTry();
            releaseSlot();
            cancel(requestTimer);
            cancel(tryTimer);
            releaseReplay();
        }

        private void dropUpstream() {
            if (up != null) {
                loopState().pool().discard(up);
                up = null;
            }
        }

        // ------------------------------------------------------------------------------------------------------
        // Completion

        private void error(ProxyError e) {
            flags = e.flag();
            sc.metrics().onError(e.flag());
            localReply(isGrpc() ? LocalReplies.grpc(e.status(), e.body(), ctx.alloc())
                    : LocalReplies.of(e, keepAlive, ctx.alloc()), true);
        }

        /** A gRPC request: its errors are answered in gRPC's own form. */
        private boolean isGrpc() {
            final String ct = req == null ? null : req.headers().get(HttpHeaderNames.CONTENT_TYPE);
            return ct != null && ct.startsWith("application/grpc");
        }

        /** Sends a response Postern made itself; the rest of the request body is read and dropped. */
        private void localReply(FullHttpResponse r, boolean last) {
            endTry(); // a request still waiting for a pooled connection stops waiting
            releaseSlot();
            status = r.status().code();
            bytesOut += r.content().readableBytes();
            dropUpstream();
            releasePending();
            responseStarted = true;
            draining = true;
            if (!keepAlive) {
                r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            }
            ctx.writeAndFlush(r).addListener((ChannelFutureListener) f -> {
                responseDone = true;
                if (!f.isSuccess() || !keepAlive) {
                    finished = true;
                    cancelTimers();
                    record();
                    ex = null;
                    ctx.close();
                    return;
                }
                maybeFinish();
            });
            if (!requestDone && req != null && !req.decoderResult().isFailure()) {
                read(); // start draining the request body
            }
        }

        private void maybeFinish() {
            if (finished || !requestDone || !responseDone) {
                return;
            }
            finished = true;
            cancelTimers();
            record();
            ex = null;
            if (keepAlive && ctx.channel().isActive()) {
                next();
            } else {
                ctx.close();
            }
        }

        private static void cancel(ScheduledFuture<?> f) {
            if (f != null) {
                f.cancel(false);
            }
        }

        /**
         * Fields a sender must not put in trailers (RFC 9110 §6.5.1: framing, routing, authentication, request
         * modifiers and controls): dropped from request trailers before they go upstream.
         */
        private static final java.util.Set<AsciiString> FORBIDDEN_TRAILERS = java.util.Set.of(
                HttpHeaderNames.CONTENT_LENGTH, HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderNames.TRAILER,
                HttpHeaderNames.HOST, HttpHeaderNames.CONNECTION, HttpHeaderNames.KEEP_ALIVE,
                HttpHeaderNames.PROXY_CONNECTION, HttpHeaderNames.TE, HttpHeaderNames.UPGRADE,
                HttpHeaderNames.AUTHORIZATION, HttpHeaderNames.PROXY_AUTHORIZATION, HttpHeaderNames.COOKIE,
                HttpHeaderNames.EXPECT, HttpHeaderNames.MAX_FORWARDS, HttpHeaderNames.RANGE,
                HttpHeaderNames.CONTENT_TYPE, HttpHeaderNames.CONTENT_ENCODING, HttpHeaderNames.CONTENT_RANGE,
                HttpHeaderNames.CACHE_CONTROL);

        private static void stripForbiddenTrailers(HttpHeaders t) {
            for (String n : new java.util.ArrayList<>(t.names())) {
                if (FORBIDDEN_TRAILERS.contains(AsciiString.of(n).toLowerCase())) {
                    t.remove(n);
                }
            }
        }

        private static void mutate(HttpHeaders h, HeaderMutation m) {
            if (m == null) {
                return;
            }
            for (String n : m.remove()) {
                h.remove(n);
            }
            for (HeaderMutation.NameValue nv : m.set()) {
                h.set(nv.name(), nv.value());
            }
            for (HeaderMutation.NameValue nv : m.add()) {
                h.add(nv.name(), nv.value());
            }
        }
    }
}
