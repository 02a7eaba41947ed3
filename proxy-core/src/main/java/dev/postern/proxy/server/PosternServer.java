package dev.postern.proxy.server;

import static java.util.Objects.requireNonNull;

import dev.postern.config.ConfigRef;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.RouteTable;
import dev.postern.proxy.admin.AdminHandler;
import dev.postern.proxy.http.CidrSet;
import dev.postern.proxy.http.ForwardedHeaderPolicy;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running gateway: event loops, one bound socket per {@link BindKey} of the published table (bound and
 * unbound as tables change), and the admin server.
 *
 * <p>Threading: sockets are bound from the config thread (the caller of {@link ConfigRef#offer}); connection
 * handlers run on the event loops.
 */
public final class PosternServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PosternServer.class);

    private final Bootstrap bootstrap;
    private final ConfigRef config;
    private final Transport transport;
    private final EventLoopGroup bossGroup;
    private final EventLoopGroup workerGroup;
    private final ServerContext context;
    private final Map<BindKey, Channel> bound = new ConcurrentHashMap<>();
    private final Set<BindKey> failed = ConcurrentHashMap.newKeySet();
    private final Channel admin;
    private volatile boolean draining;
    private volatile boolean healthFailed;

    /** {@code /healthcheck/fail} and {@code /healthcheck/ok}: take the node out of the load balancer and back. */
    public void healthFailed(boolean failed) {
        this.healthFailed = failed;
        LOG.info("health check set to {}", failed ? "failing" : "passing");
    }

    private final dev.postern.proxy.upstream.HealthChecker health;

    private PosternServer(Bootstrap bootstrap, ConfigRef config) throws InterruptedException {
        this.bootstrap = bootstrap;
        this.config = config;
        this.transport = Transport.choose(bootstrap.transport());
        final int loops = bootstrap.eventLoops() > 0 ? bootstrap.eventLoops()
                : Runtime.getRuntime().availableProcessors();
        LOG.info("transport {} ({}), {} event loops", transport.name(), transport.reason(), loops);
        this.bossGroup = transport.newGroup(1, new DefaultThreadFactory("postern-accept", true));
        this.workerGroup = transport.newGroup(loops, new DefaultThreadFactory("postern-io", true));
        final ForwardedHeaderPolicy policy = new ForwardedHeaderPolicy(bootstrap.xffNumTrustedHops(),
                CidrSet.parse(bootstrap.internalCidrs()), localAddress());
        this.context = new ServerContext(config, policy, bootstrap, transport);
        this.health = new dev.postern.proxy.upstream.HealthChecker(workerGroup.next(), transport);
        context.healthChecker(health);
        this.admin = new ServerBootstrap().group(bossGroup, workerGroup).channel(transport.serverChannel())
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 16),
                                new AdminHandler(PosternServer.this));
                    }
                })
                .bind(new InetSocketAddress(InetAddress.ofLiteral(bootstrap.adminAddress()), bootstrap.adminPort()))
                .sync().channel();
        LOG.info("admin listening on {}", admin.localAddress());
    }

    /**
     * Starts the server: binds the admin socket and the sockets of the live table, and rebinds on each publish.
     *
     * @throws InterruptedException if interrupted while binding
     */
    public static PosternServer start(Bootstrap bootstrap, ConfigRef config) throws InterruptedException {
        requireNonNull(bootstrap, "bootstrap");
        requireNonNull(config, "config");
        final PosternServer s = new PosternServer(bootstrap, config);
        s.sync(config.table());
        config.onPublish(snap -> s.sync(snap.table()));
        return s;
    }

    /** Every backend TLS setting the table uses (routes and mirrors), so unused client contexts can go. */
    private static Set<dev.postern.config.tls.UpstreamTls> upstreamTls(RouteTable table) {
        final Set<dev.postern.config.tls.UpstreamTls> out = new HashSet<>();
        for (var pt : table.ports().values()) {
            for (var l : pt.listeners().entries().values()) {
                for (var vh : l.hosts().entries().values()) {
                    for (var r : vh.routes()) {
                        if (r.action() instanceof dev.postern.config.runtime.RouteAction.Forward f) {
                            for (var b : f.backends()) {
                                if (b instanceof dev.postern.config.runtime.Backend.Forward bf
                                        && bf.cluster().tls() != null) {
                                    out.add(bf.cluster().tls());
                                }
                            }
                            final List<dev.postern.config.runtime.RouteAction.Filters> fs = new ArrayList<>(
                                    f.backendFilters());
                            fs.add(f.filters());
                            for (var x : fs) {
                                for (var m : x.mirrors()) {
                                    if (m.cluster().tls() != null) {
                                        out.add(m.cluster().tls());
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    /** Binds the sockets the table needs and closes the ones it no longer has. */
    private synchronized void sync(RouteTable table) {
        health.sync(table);
        final Set<dev.postern.config.tls.CertificateKeyPair> certs = new HashSet<>();
        final Set<dev.postern.config.tls.ClientValidation> validations = new HashSet<>();
        for (var pt : table.ports().values()) {
            if (pt.tls() != null) {
                for (var l : pt.tls().listeners().entries().values()) {
                    certs.addAll(l.certificates());
                    if (l.clientValidation() != null) {
                        validations.add(l.clientValidation());
                    }
                }
                certs.addAll(pt.tls().fallback().certificates());
                if (pt.tls().fallback().clientValidation() != null) {
                    validations.add(pt.tls().fallback().clientValidation());
                }
            }
        }
        context.serverTls().retain(certs, validations);
        context.clientTls().retain(upstreamTls(table));
        final Set<BindKey> want = new HashSet<>(table.ports().keySet());
        for (Map.Entry<BindKey, Channel> e : bound.entrySet()) {
            if (!want.contains(e.getKey())) {
                LOG.info("closing listener {}", e.getKey());
                e.getValue().close();
                bound.remove(e.getKey());
            }
        }
        failed.retainAll(want);
        for (BindKey k : want) {
            if (bound.containsKey(k)) {
                continue;
            }
            final ChannelFuture f = listenerBootstrap(k, table.port(k).protocol()).bind(new InetSocketAddress(InetAddress.ofLiteral(
                    k.address()), k.port()));
            f.awaitUninterruptibly(10, TimeUnit.SECONDS);
            if (f.isSuccess()) {
                bound.put(k, f.channel());
                failed.remove(k);
                LOG.info("listening on {} ({})", k, table.port(k).protocol());
            } else {
                failed.add(k);
                LOG.error("cannot bind {}: {}", k, f.cause() == null ? "timeout" : f.cause().toString());
            }
        }
    }

    private ServerBootstrap listenerBootstrap(BindKey key, String protocol) {
        final java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();
        return new ServerBootstrap().group(bossGroup, workerGroup).channel(transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 4096)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler("TCP".equals(protocol) ? new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (!context.admit(ch, count)) {
                            return;
                        }
                        ch.pipeline().addLast(new dev.postern.proxy.l4.TcpRouteHandler(context, key));
                    }
                } : "TLS".equals(protocol) ? new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (!context.admit(ch, count)) {
                            return;
                        }
                        ch.config().setAutoRead(true); // read the ClientHello; the relay turns it off
                        ch.pipeline().addLast(new dev.postern.proxy.l4.TlsPassthroughHandler(context, key));
                    }
                } : new HttpListenerInitializer(context, key, "HTTPS".equals(protocol), count));
    }

    /** Envoy appends its own local address (the host's first non-loopback IP) for loopback peers. */
    public static String localAddress() {
        try {
            for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (!ni.isUp() || ni.isLoopback()) {
                    continue;
                }
                for (InetAddress a : Collections.list(ni.getInetAddresses())) {
                    if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
                        return a.getHostAddress();
                    }
                }
            }
        } catch (SocketException e) {
            LOG.warn("cannot list network interfaces: {}", e.toString());
        }
        return "127.0.0.1";
    }

    /** The admin socket's address. */
    public InetSocketAddress adminAddress() {
        return (InetSocketAddress) admin.localAddress();
    }

    /** The sockets bound now, by key. */
    public Map<BindKey, InetSocketAddress> boundAddresses() {
        final Map<BindKey, InetSocketAddress> m = new LinkedHashMap<>();
        bound.forEach((k, v) -> m.put(k, (InetSocketAddress) v.localAddress()));
        return m;
    }

    /** True when a first config is published, every listener it needs is bound, and the server is not draining. */
    public boolean isReady() {
        return config.isPublished() && failed.isEmpty() && !draining && !healthFailed;
    }

    /** The published config. */
    public ConfigRef config() {
        return config;
    }

    /** The bootstrap in use. */
    public Bootstrap bootstrap() {
        return bootstrap;
    }

    /** The shared context (for tests). */
    public ServerContext context() {
        return context;
    }

    /**
     * Drains: stops accepting, tells HTTP/2 connections GOAWAY (their streams finish), answers HTTP/1.1 requests in
     * flight with {@code Connection: close} and closes idle kept-alive connections, then waits up to
     * {@code timeout} for every connection to end. {@code /ready} answers 503 from the start.
     *
     * @return true when every connection ended in time
     */
    public boolean drain(java.time.Duration timeout) {
        draining = true;
        context.startDraining();
        LOG.info("draining: {} connections, up to {} ms", context.connections().size(), timeout.toMillis());
        for (Channel c : bound.values()) {
            c.close().awaitUninterruptibly();
        }
        bound.clear();
        for (Channel c : context.connections()) {
            if (c.pipeline().get(io.netty.handler.codec.http2.Http2FrameCodec.class) != null) {
                c.close(); // Http2ConnectionHandler: GOAWAY, then close when the active streams are done
            } else {
                c.pipeline().fireUserEventTriggered(ServerContext.DRAIN);
            }
        }
        final boolean done = context.connections().newCloseFuture().awaitUninterruptibly(timeout.toMillis());
        if (!done) {
            LOG.warn("drain timeout: closing {} connections", context.connections().size());
            context.connections().close().awaitUninterruptibly(1000);
        }
        return done;
    }

    @Override
    public void close() {
        draining = true;
        for (Channel c : bound.values()) {
            c.close().awaitUninterruptibly();
        }
        admin.close().awaitUninterruptibly();
        health.close();
        context.close();
        workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
        bossGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
        context.serverTls().close();
    }
}
