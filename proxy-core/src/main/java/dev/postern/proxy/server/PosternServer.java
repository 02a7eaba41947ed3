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
import io.netty.channel.ChannelHandler;
import io.netty.channel.epoll.EpollChannelOption;
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
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import dev.postern.tproxy.TproxyCounters;
import dev.postern.tproxy.TproxyDataplane;
import dev.postern.tproxy.TproxyException;
import dev.postern.tproxy.TproxyService;
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
    /** The BPF steering, or null without TPROXY. */
    private final TproxyDataplane tproxy;
    /** Why TPROXY is off although the bootstrap enables it, or null. */
    private final String tproxyProblem;
    /** The transparent TCP listeners (IPv4, and IPv6 where the node has it) under TPROXY. */
    private final List<Channel> transparent = new ArrayList<>();
    /** Steered TCP destinations (Gateway address and port) to the pipeline of their listener; swapped on publish. */
    private volatile Map<InetSocketAddress, ChannelHandler> steered = Map.of();
    private final LongAdder unknownDestination = new LongAdder();
    private final LongAdder udpDropped = new LongAdder();
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
        if (!io.netty.util.internal.PlatformDependent.hasUnsafe()) {
            // Netty 4.2 leaves Unsafe alone on Java 25 unless the JVM allows it; the ./postern launcher does
            LOG.warn("Netty runs without sun.misc.Unsafe ({}): direct-buffer access is slower; start the JVM with "
                    + "--sun-misc-unsafe-memory-access=allow", String.valueOf(
                    io.netty.util.internal.PlatformDependent.getUnsafeUnavailabilityCause()));
        }
        this.bossGroup = transport.newGroup(1, new DefaultThreadFactory("postern-accept", true));
        this.workerGroup = transport.newGroup(loops, new DefaultThreadFactory("postern-io", true));
        final ForwardedHeaderPolicy policy = new ForwardedHeaderPolicy(bootstrap.xffNumTrustedHops(),
                CidrSet.parse(bootstrap.internalCidrs()), localAddress());
        this.context = new ServerContext(config, policy, bootstrap, transport);
        migrateRequestsOnClose();
        this.health = new dev.postern.proxy.upstream.HealthChecker(workerGroup.next(), transport);
        context.healthChecker(health);
        final TproxyConfig tc = bootstrap.tproxy();
        TproxyDataplane dp = null;
        String problem = null;
        if (tc.enabled()) {
            try {
                if (!"epoll".equals(transport.name())) {
                    throw new TproxyException("TPROXY needs the epoll transport (IP_TRANSPARENT), not "
                            + transport.name() + " (" + transport.reason() + ")");
                }
                dp = TproxyDataplane.start(tc.settings());
                bindTransparent(tc);
                // The kernel's listener lookup (a SYN reopening a TIME_WAIT connection to a VIP) finds these too.
                dp.setListenerSockets(socketFd(transparent.get(0)),
                        transparent.size() > 1 ? socketFd(transparent.get(1)) : -1);
                LOG.info("tproxy: steering Gateway addresses on {} to {} (fail {})", tc.interfaces(),
                        transparent.stream().map(Channel::localAddress).toList(), tc.failMode());
            } catch (TproxyException | IllegalStateException e) {
                for (Channel c : transparent) {
                    c.close().awaitUninterruptibly();
                }
                transparent.clear();
                if (dp != null) {
                    dp.close();
                    dp = null;
                }
                problem = e.getMessage();
                if (tc.required()) {
                    workerGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS);
                    bossGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS);
                    throw new IllegalStateException("tproxy.required is set and TPROXY cannot run: " + problem, e);
                }
                LOG.error("tproxy: disabled, Gateways are bound as without TPROXY: {}", problem);
            }
        }
        this.tproxy = dp;
        this.tproxyProblem = problem;
        registerMetrics();
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

    private static int socketFd(Channel listener) {
        return ((io.netty.channel.epoll.EpollServerSocketChannel) listener).fd().intValue();
    }

    /** The transparent TCP listeners: one IPv4, one IPv6 (skipped with a warning where IPv6 cannot bind). */
    private void bindTransparent(TproxyConfig tc) {
        final ChannelInitializer<Channel> dispatch = new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                // The original destination is the accepted socket's own address (sk_assign keeps it).
                final ChannelHandler h = steered.get((InetSocketAddress) ch.localAddress());
                if (h == null) {
                    unknownDestination.increment();
                    ch.close();
                    return;
                }
                ch.attr(ServerContext.ORIGINAL_DST).set((InetSocketAddress) ch.localAddress());
                ch.pipeline().addLast(h);
            }
        };
        int port = tc.listenPort();
        for (String a : List.of(tc.listenAddress(), tc.listenAddress6())) {
            final ChannelFuture f = new ServerBootstrap().group(bossGroup, workerGroup)
                    .channel(transport.serverChannel())
                    .option(ChannelOption.SO_BACKLOG, 4096)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .option(EpollChannelOption.IP_TRANSPARENT, true)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(dispatch)
                    .bind(new InetSocketAddress(InetAddress.ofLiteral(a), port));
            f.awaitUninterruptibly(10, TimeUnit.SECONDS);
            if (!f.isSuccess()) {
                final String why = "cannot bind the transparent listener " + a + ":" + port + ": "
                        + (f.cause() == null ? "timeout" : f.cause().toString());
                if (transparent.isEmpty()) {
                    throw new IllegalStateException(why);
                }
                LOG.warn("tproxy: {}; IPv6 Gateway addresses are not steered", why);
                continue;
            }
            transparent.add(f.channel());
            port = ((InetSocketAddress) f.channel().localAddress()).getPort();
        }
    }

    private void registerMetrics() {
        final var m = context.metrics();
        m.gauge("gateway_udp_datagrams_dropped", udpDropped::sum);
        if (tproxy == null) {
            return;
        }
        m.gauge("gateway_tproxy_unknown_destination", unknownDestination::sum);
        final TproxyCountersCache cache = new TproxyCountersCache(tproxy);
        m.tproxyCounter("seen", () -> cache.get().packetsSeen());
        m.tproxyCounter("matched", () -> cache.get().matched());
        m.tproxyCounter("assigned_established", () -> cache.get().assignedEstablished());
        m.tproxyCounter("assigned_listener", () -> cache.get().assignedListener());
        m.tproxyCounter("assigned_udp", () -> cache.get().assignedUdp());
        m.tproxyCounter("no_listener", () -> cache.get().noListener());
        m.tproxyCounter("assign_errors", () -> cache.get().assignErrors());
        m.tproxyCounter("dropped", () -> cache.get().dropped());
        m.tproxyCounter("failed_open", () -> cache.get().failedOpen());
        m.tproxyCounter("unparsed", () -> cache.get().unparsed());
        m.tproxyCounter("time_wait_syn", () -> cache.get().timeWaitSyn());
        m.tproxyCounter("assigned_by_lookup", () -> cache.get().assignedByLookup());
    }

    /** One read of the BPF counters map serves every meter of a scrape. */
    private static final class TproxyCountersCache {
        private final TproxyDataplane dp;
        private TproxyCounters last;
        private long at;

        TproxyCountersCache(TproxyDataplane dp) {
            this.dp = dp;
        }

        synchronized TproxyCounters get() {
            final long now = System.nanoTime();
            if (last == null || now - at > 500_000_000L) {
                try {
                    last = dp.counters();
                } catch (RuntimeException e) {
                    LOG.warn("tproxy: reading the BPF counters failed: {}", e.toString());
                    last = last == null ? new TproxyCounters(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) : last;
                }
                at = now;
            }
            return last;
        }
    }

    private static boolean wildcard(String address) {
        return InetAddress.ofLiteral(address).isAnyLocalAddress();
    }

    /** Every backend TLS setting the table uses (routes and mirrors), so unused client contexts can go. */
    private static Set<dev.postern.config.tls.UpstreamTls> upstreamTls(RouteTable table) {
        final Set<dev.postern.config.tls.UpstreamTls> out = new HashSet<>();
        table.forEachEntry(r -> {
            if (r.action() instanceof dev.postern.config.runtime.RouteAction.Forward f) {
                for (var b : f.backends()) {
                    if (b instanceof dev.postern.config.runtime.Backend.Forward bf && bf.cluster().tls() != null) {
                        out.add(bf.cluster().tls());
                    }
                }
                final List<dev.postern.config.runtime.RouteAction.Filters> fs = new ArrayList<>(f.backendFilters());
                fs.add(f.filters());
                for (var x : fs) {
                    for (var m : x.mirrors()) {
                        if (m.cluster().tls() != null) {
                            out.add(m.cluster().tls());
                        }
                    }
                }
            }
        });
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
        // Under TPROXY, a Gateway address (not the wildcard) is served through BPF: TCP-based listeners by the
        // transparent listener, chosen per connection by its original destination; UDP by a transparent socket
        // bound to the address itself, so that replies leave from it.
        final Set<BindKey> want = new HashSet<>();
        final Map<InetSocketAddress, ChannelHandler> steer = new HashMap<>();
        final List<TproxyService> services = new ArrayList<>();
        for (var e : table.ports().entrySet()) {
            final BindKey k = e.getKey();
            final String protocol = e.getValue().protocol();
            if (tproxy == null || wildcard(k.address())) {
                want.add(k);
                continue;
            }
            final InetAddress a = InetAddress.ofLiteral(k.address());
            if ("UDP".equals(protocol)) {
                want.add(k);
                services.add(TproxyService.of(TproxyService.Protocol.UDP, a, k.port(),
                        new InetSocketAddress(a, k.port())));
                continue;
            }
            final InetSocketAddress listener = transparentFor(a);
            if (listener == null) {
                LOG.warn("tproxy: no transparent listener of the family of {}; it is not served", k);
                continue;
            }
            steer.put(new InetSocketAddress(a, k.port()), initializer(k, protocol));
            services.add(TproxyService.of(a, k.port(), listener));
        }
        steered = Map.copyOf(steer);
        if (tproxy != null) {
            try {
                tproxy.setServices(services);
                LOG.info("tproxy: {} destinations steered", services.size());
            } catch (RuntimeException e) {
                LOG.error("tproxy: updating the steered destinations failed: {}", e.toString());
            }
        }
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
            final String protocol = table.port(k).protocol();
            final ChannelFuture f = ("UDP".equals(protocol) ? udpBootstrap(k, tproxy != null && !wildcard(k.address()))
                    : listenerBootstrap(k, protocol)).bind(new InetSocketAddress(InetAddress.ofLiteral(k.address()),
                    k.port()));
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

    private InetSocketAddress transparentFor(InetAddress a) {
        for (Channel c : transparent) {
            final InetSocketAddress l = (InetSocketAddress) c.localAddress();
            if ((l.getAddress() instanceof Inet4Address) == (a instanceof Inet4Address)) {
                return l;
            }
        }
        return null;
    }

    /** A UDP listener socket; under TPROXY bound to the Gateway address with IP_TRANSPARENT. */
    private io.netty.bootstrap.Bootstrap udpBootstrap(BindKey key, boolean transparentBind) {
        final io.netty.bootstrap.Bootstrap b = new io.netty.bootstrap.Bootstrap().group(workerGroup)
                .channel(transport.datagramChannel())
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.RCVBUF_ALLOCATOR, dev.postern.proxy.l4.UdpProxyHandler.DATAGRAM_BUFFERS)
                .handler(new dev.postern.proxy.l4.UdpProxyHandler(context, key, udpDropped));
        if (transparentBind) {
            b.option(EpollChannelOption.IP_TRANSPARENT, true);
        }
        return b;
    }

    private ServerBootstrap listenerBootstrap(BindKey key, String protocol) {
        final ServerBootstrap b = new ServerBootstrap().group(bossGroup, workerGroup)
                .channel(transport.serverChannel());
        // SO_REUSEPORT: a new Postern binds the same sockets while the old one still serves, then the old one
        // drains (restart without refused connections; tcp_migrate_req hands its queued connections over).
        if ("epoll".equals(transport.name())) {
            b.option(EpollChannelOption.SO_REUSEPORT, true);
        } else if ("io_uring".equals(transport.name())) {
            b.option(io.netty.channel.uring.IoUringChannelOption.SO_REUSEPORT, true);
        }
        return b
                .option(ChannelOption.SO_BACKLOG, 4096)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, false)
                // No TCP_NODELAY child option: every Netty transport already sets it on each accepted socket,
                // and setting it again is one more setsockopt per connection (perf/FINDINGS.md §2).
                .childHandler(initializer(key, protocol));
    }

    /** The pipeline of a connection to a listener of {@code protocol} on {@code key}; shareable. */
    private ChannelInitializer<Channel> initializer(BindKey key, String protocol) {
        // The listener's connection count, for its connection limit.
        final java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();
        return "TCP".equals(protocol) ? new ChannelInitializer<Channel>() {
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
                } : new HttpListenerInitializer(context, key, "HTTPS".equals(protocol), count);
    }

    /**
     * Turns on {@code net.ipv4.tcp_migrate_req} in this network namespace when it is off and writable (root or
     * CAP_NET_ADMIN): when a draining Postern closes a listening socket, the connections still in its accept
     * queue move to the new Postern's socket of the same SO_REUSEPORT group instead of being reset.
     */
    private static void migrateRequestsOnClose() {
        final java.nio.file.Path p = java.nio.file.Path.of("/proc/sys/net/ipv4/tcp_migrate_req");
        try {
            if (java.nio.file.Files.readString(p).trim().equals("1")) {
                return;
            }
            java.nio.file.Files.writeString(p, "1");
            LOG.info("net.ipv4.tcp_migrate_req set to 1: a restart hands queued connections to the new process");
        } catch (java.io.IOException | SecurityException e) {
            LOG.warn("net.ipv4.tcp_migrate_req is off and cannot be set ({}); during a restart, connections queued "
                    + "on the old process's sockets may be reset", e.toString());
        }
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
        for (Channel c : transparent) {
            c.close().awaitUninterruptibly();
        }
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

    /** The BPF steering, or null without TPROXY. */
    public TproxyDataplane tproxy() {
        return tproxy;
    }

    /** Why TPROXY is off although the bootstrap enables it, or null. */
    public String tproxyProblem() {
        return tproxyProblem;
    }

    /** The transparent TCP listeners' addresses (empty without TPROXY). */
    public List<InetSocketAddress> transparentAddresses() {
        return transparent.stream().map(c -> (InetSocketAddress) c.localAddress()).toList();
    }

    /**
     * Stops: closes the listeners and the admin socket, then the event loops. Under TPROXY the BPF program stays
     * attached (pinned), failing closed until the next Postern takes over; only this process's handles are
     * released (see docs/tproxy.md).
     */
    @Override
    public void close() {
        draining = true;
        for (Channel c : transparent) {
            c.close().awaitUninterruptibly();
        }
        if (tproxy != null) {
            try {
                tproxy.close();
            } catch (RuntimeException e) {
                LOG.warn("tproxy: close: {}", e.toString());
            }
        }
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
