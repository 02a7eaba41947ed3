package dev.postern.proxy.upstream;

import dev.postern.config.runtime.Backend;
import dev.postern.config.runtime.Cluster;
import dev.postern.config.runtime.Endpoint;
import dev.postern.config.runtime.HealthCheck;
import dev.postern.config.runtime.RouteAction;
import dev.postern.config.runtime.RouteTable;
import dev.postern.proxy.server.Transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Active health checks of the endpoints whose Service asks for them ({@link HealthCheck}): a TCP connect or an
 * HTTP/1.1 {@code GET} that must answer 200, every interval, from one event loop. An endpoint that fails
 * {@code unhealthyThreshold} checks in a row is skipped by endpoint selection until it passes
 * {@code healthyThreshold} in a row. When every endpoint of a cluster is unhealthy, selection ignores health (Envoy's
 * panic routing) rather than answer 503 for a cluster that may still work.
 *
 * <p>Threading: all state lives on {@code loop}; the data plane reads one volatile immutable set, without locks.
 */
public final class HealthChecker implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HealthChecker.class);
    private static final int MAX_STATUS_LINE = 256;

    private final EventLoop loop;
    private final Bootstrap bootstrap;
    private final Map<InetSocketAddress, Target> targets = new HashMap<>();
    private volatile Set<InetSocketAddress> unhealthy = Set.of();
    private final AtomicLong passed = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private boolean closed;

    /** One checked endpoint: its spec, its counters, and the next scheduled check. Loop-confined. */
    private final class Target {
        final InetSocketAddress address;
        final HealthCheck spec;
        final String host;
        int failures;
        int successes;
        boolean healthy = true;
        boolean stopped;
        ScheduledFuture<?> next;

        Target(InetSocketAddress address, HealthCheck spec, String host) {
            this.address = address;
            this.spec = spec;
            this.host = host;
        }
    }

    /** Creates a checker whose connections and timers run on {@code loop}. */
    public HealthChecker(EventLoop loop, Transport transport) {
        this.loop = loop;
        this.bootstrap = new Bootstrap().group(loop).channel(transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true).handler(new ChannelInboundHandlerAdapter());
    }

    /** True when {@code address} is checked and currently unhealthy. Lock-free; any thread. */
    public boolean isUnhealthy(InetSocketAddress address) {
        final Set<InetSocketAddress> s = unhealthy;
        return !s.isEmpty() && s.contains(address);
    }

    /** Checks passed and failed since start (for metrics). */
    public long passed() {
        return passed.get();
    }

    /** See {@link #passed()}. */
    public long failed() {
        return failed.get();
    }

    /** How many checked endpoints are unhealthy now. */
    public int unhealthyCount() {
        return unhealthy.size();
    }

    /** Starts checking the endpoints of {@code table} that ask for it, and stops checking the others. Any thread. */
    public void sync(RouteTable table) {
        final Map<InetSocketAddress, Map.Entry<HealthCheck, String>> want = collect(table);
        loop.execute(() -> apply(want));
    }

    private static Map<InetSocketAddress, Map.Entry<HealthCheck, String>> collect(RouteTable table) {
        final Map<InetSocketAddress, Map.Entry<HealthCheck, String>> out = new HashMap<>();
        table.forEachEntry(r -> {
            if (r.action() instanceof RouteAction.Forward f) {
                for (Backend b : f.backends()) {
                    if (b instanceof Backend.Forward bf) {
                        add(bf.cluster(), out);
                    }
                }
            }
        });
        return out;
    }

    private static void add(Cluster c, Map<InetSocketAddress, Map.Entry<HealthCheck, String>> out) {
        if (c.healthCheck() == null) {
            return;
        }
        // The Host header: the Service's name, as Envoy Gateway sends the cluster name.
        final String svc = c.name().contains("/") ? c.name().substring(c.name().indexOf('/') + 1) : c.name();
        final String host = svc.contains(":") ? svc.substring(0, svc.indexOf(':')) : svc;
        for (Endpoint e : c.endpoints()) {
            out.putIfAbsent(e.socketAddress(), Map.entry(c.healthCheck(), host));
        }
    }

    private void apply(Map<InetSocketAddress, Map.Entry<HealthCheck, String>> want) {
        if (closed) {
            return;
        }
        boolean changed = false;
        for (Iterator<Target> it = targets.values().iterator(); it.hasNext(); ) {
            final Target t = it.next();
            final Map.Entry<HealthCheck, String> w = want.get(t.address);
            if (w == null || !w.getKey().equals(t.spec) || !w.getValue().equals(t.host)) {
                stop(t);
                it.remove();
                changed |= !t.healthy;
            }
        }
        for (Map.Entry<InetSocketAddress, Map.Entry<HealthCheck, String>> e : want.entrySet()) {
            if (!targets.containsKey(e.getKey())) {
                final Target t = new Target(e.getKey(), e.getValue().getKey(), e.getValue().getValue());
                targets.put(t.address, t);
                // Spread the first checks over the interval, as Envoy's initial jitter does.
                schedule(t, ThreadLocalRandom.current().nextLong(Math.max(1, t.spec.intervalMs())));
            }
        }
        if (changed) {
            publish();
        }
    }

    private void stop(Target t) {
        t.stopped = true;
        if (t.next != null) {
            t.next.cancel(false);
        }
    }

    private void schedule(Target t, long delayMs) {
        t.next = loop.schedule(() -> check(t), delayMs, TimeUnit.MILLISECONDS);
    }

    private void check(Target t) {
        if (t.stopped || closed) {
            return;
        }
        final boolean[] done = new boolean[1];
        final Channel[] ch = new Channel[1];
        final ScheduledFuture<?> timeout = loop.schedule(() -> {
            if (!done[0]) {
                done[0] = true;
                if (ch[0] != null) {
                    ch[0].close();
                }
                result(t, false, "timeout after " + t.spec.timeoutMs() + " ms");
            }
        }, t.spec.timeoutMs(), TimeUnit.MILLISECONDS);
        final Bootstrap b = bootstrap.clone()
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, t.spec.timeoutMs()))
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel c) {
                        if (t.spec.kind() == HealthCheck.Kind.HTTP) {
                            c.pipeline().addLast(new StatusLineReader(status -> {
                                if (!done[0]) {
                                    done[0] = true;
                                    timeout.cancel(false);
                                    c.close();
                                    result(t, status == 200, "HTTP status " + status);
                                }
                            }));
                        }
                    }
                });
        final ChannelFuture f = b.connect(t.address);
        ch[0] = f.channel();
        f.addListener((ChannelFuture cf) -> {
            if (done[0]) {
                cf.channel().close();
                return;
            }
            if (!cf.isSuccess()) {
                done[0] = true;
                timeout.cancel(false);
                result(t, false, "connect: " + cf.cause().getMessage());
                return;
            }
            if (t.spec.kind() == HealthCheck.Kind.TCP) {
                done[0] = true;
                timeout.cancel(false);
                cf.channel().close();
                result(t, true, "connected");
            } else {
                final String req = "GET " + t.spec.path() + " HTTP/1.1\r\nHost: " + t.host
                        + "\r\nUser-Agent: postern-healthcheck\r\nConnection: close\r\n\r\n";
                cf.channel().writeAndFlush(Unpooled.copiedBuffer(req, StandardCharsets.US_ASCII));
            }
        });
    }

    private void result(Target t, boolean ok, String detail) {
        if (t.stopped || closed) {
            return;
        }
        (ok ? passed : failed).incrementAndGet();
        if (ok) {
            t.failures = 0;
            if (!t.healthy && ++t.successes >= t.spec.healthyThreshold()) {
                t.healthy = true;
                LOG.info("endpoint {} is healthy again ({})", t.address, detail);
                publish();
            }
        } else {
            t.successes = 0;
            if (t.healthy && ++t.failures >= t.spec.unhealthyThreshold()) {
                t.healthy = false;
                LOG.warn("endpoint {} failed {} health checks in a row ({}); skipped until it passes",
                        t.address, t.failures, detail);
                publish();
            }
        }
        schedule(t, t.spec.intervalMs());
    }

    private void publish() {
        final Set<InetSocketAddress> s = new HashSet<>();
        for (Target t : targets.values()) {
            if (!t.healthy) {
                s.add(t.address);
            }
        }
        unhealthy = Set.copyOf(s);
    }

    @Override
    public void close() {
        loop.execute(() -> {
            closed = true;
            targets.values().forEach(this::stop);
            targets.clear();
            unhealthy = Set.of();
        });
    }

    /** Reads the status code of the first response line, then stops reading. */
    private static final class StatusLineReader extends ChannelInboundHandlerAdapter {
        private final java.util.function.IntConsumer onStatus;
        private final StringBuilder line = new StringBuilder();
        private boolean reported;

        StatusLineReader(java.util.function.IntConsumer onStatus) {
            this.onStatus = onStatus;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (reported || !(msg instanceof ByteBuf b)) {
                    return;
                }
                while (b.isReadable() && !reported) {
                    final char c = (char) b.readByte();
                    if (c == '\n' || line.length() > MAX_STATUS_LINE) {
                        reported = true;
                        onStatus.accept(parse(line.toString().trim()));
                    } else {
                        line.append(c);
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!reported) {
                reported = true;
                onStatus.accept(-1);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }

        /** {@code HTTP/1.1 200 OK} → 200; anything else → -1. */
        static int parse(String statusLine) {
            final String[] parts = statusLine.split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
                return -1;
            }
            try {
                return Integer.parseInt(parts[1]);
            } catch (NumberFormatException e) {
                return -1;
            }
        }
    }
}
