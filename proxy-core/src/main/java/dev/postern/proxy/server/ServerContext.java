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
    private final ServerTls serverTls;
    private final dev.postern.proxy.tls.ClientTls clientTls;
    private final dev.postern.proxy.observe.Metrics metrics;
    private final dev.postern.proxy.observe.AccessLog accessLog;
    private final io.netty.channel.group.ChannelGroup connections = new io.netty.channel.group.DefaultChannelGroup(
            "postern-connections", io.netty.util.concurrent.GlobalEventExecutor.INSTANCE);
    private volatile boolean draining;
    private final int maxRequestsPerLoop;
    private final int maxConnectionsPerLoop;
    private final int maxPendingPerLoop;
    private final boolean leastRequestDefault;
    private final OverloadMonitor overload;
    private final java.util.concurrent.atomic.AtomicInteger downstreamConnections =
            new java.util.concurrent.atomic.AtomicInteger();

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
        this.serverTls = new ServerTls(bootstrap.tls().sessionTicketKeyRotation(),
                bootstrap.tls().rsaSigner());
        this.clientTls = new dev.postern.proxy.tls.ClientTls(serverTls.provider());
        final int loops = bootstrap.eventLoops() > 0 ? bootstrap.eventLoops()
                : Runtime.getRuntime().availableProcessors();
        this.maxRequestsPerLoop = Math.max(1, (bootstrap.maxRequests() + loops - 1) / loops);
        final Bootstrap.UpstreamPolicy up = bootstrap.upstreamPolicy();
        this.maxConnectionsPerLoop = Math.max(1, (up.maxConnections() + loops - 1) / loops);
        this.maxPendingPerLoop = Math.max(1, (up.maxPendingRequests() + loops - 1) / loops);
        this.leastRequestDefault = "least_request".equals(up.lbPolicy());
        this.metrics = new dev.postern.proxy.observe.Metrics();
        this.metrics.connectionsGauge(downstreamConnections::get);
        this.metrics.functionCounter("gateway_tls_private_key_signatures", "signer", "libcrypto",
                serverTls::libcryptoSignatures);
        this.overload = new OverloadMonitor(bootstrap.overload());
        this.metrics.overloadGauge(() -> overload.overloaded() ? 1 : 0);
        this.accessLog = bootstrap.accessLog() ? new dev.postern.proxy.observe.AccessLog(metrics,
                bootstrap.accessLogFormat(), bootstrap.accessLogPath()) : null;
    }

    /**
     * The max-requests circuit breaker per cluster for one event loop: Envoy's per-cluster default (1024, or the
     * bootstrap's upstream.maxRequests) shared out over the loops.
     */
    public int maxRequestsPerLoop() {
        return maxRequestsPerLoop;
    }

    /**
     * Admits a connection just accepted on a listener, or closes it: while overloaded, past the global
     * {@code downstream.maxConnections}, or past the listener's {@code downstream.maxConnectionsPerListener}.
     * Call from the listener's channel initializer; the counts go down when the connection closes.
     *
     * @param perListener the listener's connection count
     * @return false when the connection was closed
     */
    public boolean admit(io.netty.channel.Channel ch, java.util.concurrent.atomic.AtomicInteger perListener) {
        final Bootstrap.Downstream d = bootstrap.downstream();
        final String reason;
        if (overload.overloaded()) {
            reason = "overload";
        } else if (downstreamConnections.incrementAndGet() > d.maxConnections()) {
            downstreamConnections.decrementAndGet();
            reason = "limit";
        } else if (perListener.incrementAndGet() > d.maxConnectionsPerListener()
                && d.maxConnectionsPerListener() > 0) {
            perListener.decrementAndGet();
            downstreamConnections.decrementAndGet();
            reason = "listener_limit";
        } else {
            reason = null;
        }
        if (reason != null) {
            metrics.onConnectionRejected(reason);
            ch.close();
            return false;
        }
        ch.closeFuture().addListener(f -> {
            downstreamConnections.decrementAndGet();
            perListener.decrementAndGet();
        });
        connections.add(ch);
        return true;
    }

    /** The number of open downstream connections. */
    public int downstreamConnections() {
        return downstreamConnections.get();
    }

    /** True while memory is past an overload threshold: new requests answer 503 and close. */
    public boolean overloaded() {
        return overload.overloaded();
    }

    /** Stops the overload sampler. */
    void close() {
        overload.close();
    }

    /** Whether a cluster balances by least request (its Service's annotation, else the bootstrap default). */
    public boolean leastRequest(dev.postern.config.runtime.Cluster c) {
        return switch (c.loadBalancing()) {
            case ROUND_ROBIN -> false;
            case LEAST_REQUEST -> true;
            case DEFAULT -> leastRequestDefault;
        };
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
        private final java.util.function.Supplier<dev.postern.proxy.upstream.HealthChecker> checker;

        LoopState(UpstreamPool pool, java.util.function.Supplier<dev.postern.proxy.upstream.HealthChecker> checker) {
            this.pool = pool;
            this.checker = checker;
        }

        /** True when active health checking marked {@code ep} unhealthy (one volatile read when none is). */
        private boolean unhealthy(dev.postern.config.runtime.Endpoint ep) {
            final dev.postern.proxy.upstream.HealthChecker h = checker.get();
            return h != null && h.isUnhealthy(ep.socketAddress());
        }

        /** True when some endpoint of the cluster passes its health checks (else health is ignored: panic). */
        private boolean anyHealthy(dev.postern.config.runtime.Cluster cluster) {
            if (cluster.healthCheck() == null) {
                return true;
            }
            for (dev.postern.config.runtime.Endpoint ep : cluster.endpoints()) {
                if (!unhealthy(ep)) {
                    return true;
                }
            }
            return false;
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
            final boolean checkHealth = cluster.healthCheck() != null && anyHealthy(cluster);
            for (int tries = 0; tries < n; tries++) {
                final dev.postern.config.runtime.Endpoint ep = eps.get(nextIndex(cluster.name(), n));
                final Health h = health.get(ep.socketAddress());
                if ((h == null || h.ejectedUntil - now <= 0) && !(checkHealth && unhealthy(ep))) {
                    return ep;
                }
            }
            if (checkHealth) {
                // Every endpoint this loop has not ejected failed its health checks: take the healthy ones anyway.
                for (int tries = 0; tries < n; tries++) {
                    final dev.postern.config.runtime.Endpoint ep = eps.get(nextIndex(cluster.name(), n));
                    if (!unhealthy(ep)) {
                        return ep;
                    }
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

        /** Tries in flight to each endpoint from this loop (least-request balancing). */
        private final Map<java.net.InetSocketAddress, int[]> endpointActive = new HashMap<>();

        /** A try to {@code ep} started. */
        public void tryStarted(dev.postern.config.runtime.Endpoint ep) {
            endpointActive.computeIfAbsent(ep.socketAddress(), k -> new int[1])[0]++;
        }

        /** A try to {@code ep} ended. */
        public void tryEnded(dev.postern.config.runtime.Endpoint ep) {
            final int[] n = endpointActive.get(ep.socketAddress());
            if (n != null && n[0] > 0) {
                n[0]--;
            }
        }

        /** Tries in flight from this loop to an endpoint. */
        public int active(dev.postern.config.runtime.Endpoint ep) {
            final int[] n = endpointActive.get(ep.socketAddress());
            return n == null ? 0 : n[0];
        }

        /**
         * Least request, Envoy's power of two choices: two distinct endpoints at random, the one with fewer tries
         * in flight from this loop wins (the first on a tie). Ejected endpoints are not chosen while another is
         * available; when both draws are ejected, round-robin over the healthy ones decides.
         */
        public dev.postern.config.runtime.Endpoint pickLeastRequest(dev.postern.config.runtime.Cluster cluster) {
            final java.util.List<dev.postern.config.runtime.Endpoint> eps = cluster.endpoints();
            final int n = eps.size();
            if (n == 1) {
                return eps.getFirst();
            }
            final java.util.concurrent.ThreadLocalRandom rnd = java.util.concurrent.ThreadLocalRandom.current();
            final int i = rnd.nextInt(n);
            final int j = (i + 1 + rnd.nextInt(n - 1)) % n;
            final dev.postern.config.runtime.Endpoint a = eps.get(i);
            final dev.postern.config.runtime.Endpoint b = eps.get(j);
            final long now = System.nanoTime();
            final boolean checkHealth = cluster.healthCheck() != null && anyHealthy(cluster);
            final boolean ea = ejected(a, now) || checkHealth && unhealthy(a);
            final boolean eb = ejected(b, now) || checkHealth && unhealthy(b);
            if (ea && eb) {
                return pick(cluster);
            }
            if (ea) {
                return b;
            }
            if (eb) {
                return a;
            }
            return active(b) < active(a) ? b : a;
        }

        private boolean ejected(dev.postern.config.runtime.Endpoint ep, long now) {
            final Health h = health.get(ep.socketAddress());
            return h != null && h.ejectedUntil - now > 0;
        }

        /** The next round-robin index for a cluster of {@code size} endpoints. */
        public int nextIndex(String cluster, int size) {
            final int[] c = cursors.computeIfAbsent(cluster, k -> new int[] {
                java.util.concurrent.ThreadLocalRandom.current().nextInt(1 << 16)});
            final int i = Math.floorMod(c[0]++, size);
            return i;
        }
    }

    /** Active health checks; set once by the server at start. */
    private volatile dev.postern.proxy.upstream.HealthChecker healthChecker;

    /** Installs the active health checker (the server's, on one of its loops) and its metrics. */
    public void healthChecker(dev.postern.proxy.upstream.HealthChecker h) {
        this.healthChecker = h;
        metrics.gauge("gateway_upstream_unhealthy_endpoints", "Endpoints failing their active health checks",
                h::unhealthyCount);
        metrics.functionCounter("gateway_upstream_health_checks", "result", "passed", h::passed);
        metrics.functionCounter("gateway_upstream_health_checks", "result", "failed", h::failed);
    }

    /** The active health checker, or null before the server installed it. */
    public dev.postern.proxy.upstream.HealthChecker healthChecker() {
        return healthChecker;
    }

    /** Returns the state of the calling event loop, creating it on first use. Call from {@code loop} only. */
    public LoopState loop(EventLoop loop) {
        assert loop.inEventLoop();
        LoopState s = loopState.get();
        if (s == null) {
            s = new LoopState(new UpstreamPool(loop, transport, bootstrap.connectTimeout(),
                    bootstrap.upstreamIdleTimeout(), maxConnectionsPerLoop, maxPendingPerLoop, metrics, clientTls),
                    () -> healthChecker);
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

    /** The TLS contexts for backends. */
    public dev.postern.proxy.tls.ClientTls clientTls() {
        return clientTls;
    }

    /** The transport. */
    public Transport transport() {
        return transport;
    }
}
