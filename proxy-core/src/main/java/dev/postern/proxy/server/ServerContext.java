package dev.postern.proxy.server;

import static java.util.Objects.requireNonNull;

import dev.postern.config.ConfigRef;
import dev.postern.proxy.http.ForwardedHeaderPolicy;
import dev.postern.proxy.tls.ServerTls;
import dev.postern.proxy.upstream.UpstreamPool;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.FastThreadLocal;

import java.util.HashMap;
import java.util.Map;

/**
 * What every connection handler shares: the published config, the client-address policy, the bootstrap and the
 * transport; and the per-event-loop state (the upstream pool and load-balancer cursors), reached without locks.
 */
public final class ServerContext {
    private final ConfigRef config;
    private final ForwardedHeaderPolicy forwardedPolicy;
    private final Bootstrap bootstrap;
    private final Transport transport;
    private final FastThreadLocal<LoopState> loopState = new FastThreadLocal<>();
    private final ServerTls serverTls = new ServerTls();
    private final dev.postern.proxy.observe.Metrics metrics;
    private final dev.postern.proxy.observe.AccessLog accessLog;
    private final io.netty.channel.group.ChannelGroup connections = new io.netty.channel.group.DefaultChannelGroup(
            "postern-connections", io.netty.util.concurrent.GlobalEventExecutor.INSTANCE);
    private volatile boolean draining;
    private final int maxRequestsPerLoop;

    /** On a connection steered by TPROXY: its original destination, the Gateway address and port. */
    public static final io.netty.util.AttributeKey<java.net.InetSocketAddress> ORIGINAL_DST =
            io.netty.util.AttributeKey.valueOf("postern.originalDst");

    /** Sent through every connection's pipeline when the server starts draining. */
    public static final Object DRAIN = new Object() {
        @Override
        public String toString() {
            return "DRAIN";
        }
    };

    /** Every accepted downstream connection (they leave the group when they close). */
    public io.netty.channel.group.ChannelGroup connections() {
        return connections;
    }

    /** True once the server drains: responses say Connection: close and kept-alive connections end. */
    public boolean draining() {
        return draining;
    }

    /** Starts draining. */
    public void startDraining() {
        draining = true;
    }

    /** Creates the context. */
    public ServerContext(ConfigRef config, ForwardedHeaderPolicy forwardedPolicy, Bootstrap bootstrap,
                         Transport transport) {
        this.config = requireNonNull(config, "config");
        this.forwardedPolicy = requireNonNull(forwardedPolicy, "forwardedPolicy");
        this.bootstrap = requireNonNull(bootstrap, "bootstrap");
        this.transport = requireNonNull(transport, "transport");
        final int loops = bootstrap.eventLoops() > 0 ? bootstrap.eventLoops()
                : Runtime.getRuntime().availableProcessors();
        this.maxRequestsPerLoop = Math.max(1, (bootstrap.maxRequests() + loops - 1) / loops);
        this.metrics = new dev.postern.proxy.observe.Metrics();
        this.metrics.connectionsGauge(connections::size);
        this.accessLog = bootstrap.accessLog() ? new dev.postern.proxy.observe.AccessLog(metrics) : null;
    }

    /**
     * The max-requests circuit breaker per cluster for one event loop: Envoy's per-cluster default (1024, or the
     * bootstrap's upstream.maxRequests) shared out over the loops.
     */
    public int maxRequestsPerLoop() {
        return maxRequestsPerLoop;
    }

    /** The metrics. */
    public dev.postern.proxy.observe.Metrics metrics() {
        return metrics;
    }

    /** The access log, or null when it is off. */
    public dev.postern.proxy.observe.AccessLog accessLog() {
        return accessLog;
    }

    /** The state of one event loop: its upstream pool and its round-robin cursors. Confined to that loop. */
    public static final class LoopState {
        private final UpstreamPool pool;
        private final Map<String, int[]> cursors = new HashMap<>();

        LoopState(UpstreamPool pool) {
            this.pool = pool;
        }

        /** The loop's upstream pool. */
        public UpstreamPool pool() {
            return pool;
        }

        /** Requests in flight to each cluster from this loop (the max-requests circuit breaker). */
        private final Map<String, int[]> active = new HashMap<>();

        /** Takes a request slot for a cluster; false when the breaker is open (the limit is reached). */
        public boolean tryAcquireRequest(String cluster, int limit) {
            final int[] n = active.computeIfAbsent(cluster, k -> new int[1]);
            if (n[0] >= limit) {
                return false;
            }
            n[0]++;
            return true;
        }

        /** Gives a request slot back. */
        public void releaseRequest(String cluster) {
            final int[] n = active.get(cluster);
            if (n != null && n[0] > 0) {
                n[0]--;
            }
        }

        /** Passive health of the endpoints this loop has used (Envoy's outlier detection, per loop). */
        private final Map<java.net.InetSocketAddress, Health> health = new HashMap<>();

        /** Consecutive failures and ejection state of one endpoint. */
        private static final class Health {
            int consecutiveFailures;
            int ejections;
            long ejectedUntil;
        }

        /** Envoy's outlier-detection defaults. */
        static final int CONSECUTIVE_FAILURES = 5;
        static final long BASE_EJECTION_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        static final int MAX_EJECTION_PERCENT = 10;

        /**
         * Picks the next endpoint round-robin, skipping endpoints this loop has ejected (all ejected: round-robin
         * over all of them).
         */
        public dev.postern.config.runtime.Endpoint pick(dev.postern.config.runtime.Cluster cluster) {
            final java.util.List<dev.postern.config.runtime.Endpoint> eps = cluster.endpoints();
            final int n = eps.size();
            final long now = System.nanoTime();
            for (int tries = 0; tries < n; tries++) {
                final dev.postern.config.runtime.Endpoint ep = eps.get(nextIndex(cluster.name(), n));
                final Health h = health.get(ep.socketAddress());
                if (h == null || h.ejectedUntil - now <= 0) {
                    return ep;
                }
            }
            return eps.get(nextIndex(cluster.name(), n));
        }

        /**
         * Records the outcome of a try: a 5xx, a connect failure or a reset counts as a failure; five in a row eject
         * the endpoint for 30 s times its ejection count, unless more than 10 % of the cluster (at least one
         * endpoint) is ejected already.
         *
         * @return true when this outcome ejected the endpoint
         */
        public boolean outcome(dev.postern.config.runtime.Cluster cluster, dev.postern.config.runtime.Endpoint ep,
                               boolean failure) {
            Health h = health.get(ep.socketAddress());
            if (!failure) {
                if (h != null) {
                    h.consecutiveFailures = 0;
                }
                return false;
            }
            if (h == null) {
                h = new Health();
                health.put(ep.socketAddress(), h);
            }
            if (++h.consecutiveFailures < CONSECUTIVE_FAILURES) {
                return false;
            }
            final long now = System.nanoTime();
            int ejected = 0;
            for (dev.postern.config.runtime.Endpoint e : cluster.endpoints()) {
                final Health o = health.get(e.socketAddress());
                if (o != null && o.ejectedUntil - now > 0) {
                    ejected++;
                }
            }
            final int max = Math.max(1, cluster.endpoints().size() * MAX_EJECTION_PERCENT / 100);
            if (ejected >= max) {
                return false;
            }
            h.ejections++;
            h.consecutiveFailures = 0;
            h.ejectedUntil = now + BASE_EJECTION_NANOS * h.ejections;
            return true;
        }

        /** The next round-robin index for a cluster of {@code size} endpoints. */
        public int nextIndex(String cluster, int size) {
            final int[] c = cursors.computeIfAbsent(cluster, k -> new int[] {
                java.util.concurrent.ThreadLocalRandom.current().nextInt(1 << 16)});
            final int i = Math.floorMod(c[0]++, size);
            return i;
        }
    }

    /** Returns the state of the calling event loop, creating it on first use. Call from {@code loop} only. */
    public LoopState loop(EventLoop loop) {
        assert loop.inEventLoop();
        LoopState s = loopState.get();
        if (s == null) {
            s = new LoopState(new UpstreamPool(loop, transport, bootstrap.connectTimeout(),
                    bootstrap.upstreamIdleTimeout()));
            loopState.set(s);
        }
        return s;
    }

    /** The published config. */
    public ConfigRef config() {
        return config;
    }

    /** The client-address policy. */
    public ForwardedHeaderPolicy forwardedPolicy() {
        return forwardedPolicy;
    }

    /** The bootstrap. */
    public Bootstrap bootstrap() {
        return bootstrap;
    }

    /** The server TLS contexts. */
    public ServerTls serverTls() {
        return serverTls;
    }

    /** The transport. */
    public Transport transport() {
        return transport;
    }
}
