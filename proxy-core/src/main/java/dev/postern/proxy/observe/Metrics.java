package dev.postern.proxy.observe;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Postern's Prometheus metrics. Labels come only from bounded sets: route identities
 * ({@code httproute/<ns>/<name>}, never paths) and closed enums (status class, error kind). Meters are created once
 * per label set and then recorded without locks or allocation (Micrometer counters are LongAdders).
 *
 * <p>Thread-safety: safe from any thread.
 */
public final class Metrics {
    private static final String[] CLASSES = {"1xx", "2xx", "3xx", "4xx", "5xx"};

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    /** Route meters by listener, then by route: two lookups of table-owned strings, no key built per request. */
    private final ConcurrentHashMap<String, ConcurrentHashMap<String, RouteMeters>> routes =
            new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, UpstreamMeters> upstreams = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> connectFailures = new ConcurrentHashMap<>();
    private final Counter ejections;
    private final java.util.concurrent.atomic.LongAdder upstreamConnections = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder downstreamStreams = new java.util.concurrent.atomic.LongAdder();
    private final java.util.List<Object> strong = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Timer propagation;
    private final ConcurrentHashMap<String, Counter> errors = new ConcurrentHashMap<>();
    private final Counter retries;
    private final Counter reloadsOk;
    private final Counter reloadsRejected;
    private final Timer buildTime;
    private final AtomicLong version = new AtomicLong();
    private final AtomicLong accessLogDropped = new AtomicLong();
    private final Counter tlsFull;
    private final Counter tlsResumed;
    private final Counter tlsNoSni;
    private final Counter tlsUnknownSni;
    private final Counter[] tlsFailures = new Counter[TlsFailure.values().length];

    /** Why a downstream TLS handshake failed: a closed set, so the label stays bounded. */
    public enum TlsFailure {
        /** A client certificate was required and none was sent. */
        NO_CLIENT_CERTIFICATE,
        /** The client certificate did not verify against the configured CA bundle. */
        BAD_CLIENT_CERTIFICATE,
        /** No common protocol version or cipher, or a malformed handshake. */
        PROTOCOL,
        /** The bytes were not TLS (plain HTTP on an HTTPS port, for example). */
        NOT_TLS,
        /** The handshake did not finish in time. */
        TIMEOUT,
        /** The peer closed or reset the connection during the handshake. */
        CLOSED,
        /** Anything else. */
        OTHER;

        /** The label value. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** The meters of one route. */
    private static final class RouteMeters {
        final Counter[] byClass = new Counter[CLASSES.length];
        final Timer duration;

        RouteMeters(PrometheusMeterRegistry r, String listener, String route) {
            // listener is gateway/<ns>/<name>/listener/<name>: split into the gateway and listener labels.
            final String[] p = listener.split("/");
            final String gateway = p.length == 5 ? p[1] + "/" + p[2] : "none";
            final String name = p.length == 5 ? p[4] : "none";
            for (int i = 0; i < CLASSES.length; i++) {
                byClass[i] = Counter.builder("gateway_downstream_requests").description("Requests answered")
                        .tag("gateway", gateway).tag("listener", name).tag("route", route)
                        .tag("code_class", CLASSES[i]).register(r);
            }
            duration = Timer.builder("gateway_downstream_request_duration").description("Request to last byte")
                    .tag("gateway", gateway).tag("listener", name).tag("route", route)
                    .publishPercentileHistogram().register(r);
        }
    }

    /** The meters of one upstream cluster ({@code <ns>/<service>:<port>}). */
    private static final class UpstreamMeters {
        final Counter[] byClass = new Counter[CLASSES.length];
        final Timer duration;

        UpstreamMeters(PrometheusMeterRegistry r, String cluster) {
            for (int i = 0; i < CLASSES.length; i++) {
                byClass[i] = Counter.builder("gateway_upstream_requests").description("Upstream tries answered")
                        .tag("cluster", cluster).tag("code_class", CLASSES[i]).register(r);
            }
            duration = Timer.builder("gateway_upstream_request_duration")
                    .description("Request sent to response headers, per try").tag("cluster", cluster)
                    .publishPercentileHistogram().register(r);
        }
    }

    /** Creates the registry and the process-wide meters. */
    public Metrics() {
        retries = Counter.builder("gateway_upstream_retries").register(registry);
        reloadsOk = Counter.builder("gateway_config_reloads").tag("result", "published").register(registry);
        reloadsRejected = Counter.builder("gateway_config_reloads").tag("result", "rejected").register(registry);
        buildTime = Timer.builder("gateway_config_build").publishPercentileHistogram().register(registry);
        propagation = Timer.builder("gateway_config_propagation")
                .description("First file change of a burst to the new table published").publishPercentileHistogram()
                .register(registry);
        ejections = Counter.builder("gateway_upstream_ejections").description("Outlier ejections")
                .register(registry);
        Gauge.builder("gateway_upstream_connections_active", upstreamConnections, LongAdderSum::sum)
                .description("Open upstream connections (pooled, busy and connecting), all loops").register(registry);
        Gauge.builder("gateway_downstream_streams_active", downstreamStreams, LongAdderSum::sum)
                .description("Open downstream HTTP/2 streams").register(registry);
        Gauge.builder("gateway_config_version", version, AtomicLong::get).register(registry);
        Gauge.builder("gateway_access_log_dropped", accessLogDropped, AtomicLong::get).register(registry);
        tlsFull = Counter.builder("gateway_downstream_tls_handshakes").description("Completed TLS handshakes")
                .tag("session", "full").register(registry);
        tlsResumed = Counter.builder("gateway_downstream_tls_handshakes").description("Completed TLS handshakes")
                .tag("session", "resumed").register(registry);
        tlsNoSni = Counter.builder("gateway_downstream_tls_default_certificate")
                .description("Handshakes answered with the default certificate").tag("cause", "no_sni")
                .register(registry);
        tlsUnknownSni = Counter.builder("gateway_downstream_tls_default_certificate")
                .description("Handshakes answered with the default certificate").tag("cause", "unknown_sni")
                .register(registry);
        for (TlsFailure f : TlsFailure.values()) {
            tlsFailures[f.ordinal()] = Counter.builder("gateway_downstream_tls_handshake_errors")
                    .description("Failed TLS handshakes").tag("reason", f.label()).register(registry);
        }
    }

    /** Counts a completed downstream handshake, {@code resumed} from a session ticket or not. */
    public void onTlsHandshake(boolean resumed) {
        (resumed ? tlsResumed : tlsFull).increment();
    }

    /** Counts a failed downstream handshake. */
    public void onTlsHandshakeFailure(TlsFailure reason) {
        tlsFailures[reason.ordinal()].increment();
    }

    /** Counts a handshake answered with the default certificate: no SNI, or an SNI no certificate covers. */
    public void onTlsDefaultCertificate(boolean noSni) {
        (noSni ? tlsNoSni : tlsUnknownSni).increment();
    }

    /** Registers a gauge read on each scrape. */
    public void gauge(String name, Supplier<Number> value) {
        gauge(name, "", value);
    }

    /** Registers one of the BPF program's counters ({@code gateway_tproxy_packets_total{counter=...}}). */
    public void tproxyCounter(String counter, java.util.function.LongSupplier value) {
        functionCounter("gateway_tproxy_packets", "counter", counter, value);
    }

    /** Counts a gauge of active downstream connections. */
    public void connectionsGauge(Supplier<Number> active) {
        Gauge.builder("gateway_downstream_connections_active", active).register(registry);
    }

    /** Records an answered request of no known listener. {@code route} is null when no route matched. */
    public void onResponse(String route, int status, long durationNanos) {
        onResponse(null, route, status, durationNanos);
    }

    /**
     * Records an answered request. {@code listener} ({@code gateway/<ns>/<name>/listener/<name>}) is null when no
     * listener matched, {@code route} when no route did. No allocation once the meters exist.
     */
    public void onResponse(String listener, String route, int status, long durationNanos) {
        final String l = listener == null || listener.isEmpty() ? "none" : listener;
        final String r = route == null ? "none" : route;
        ConcurrentHashMap<String, RouteMeters> byRoute = routes.get(l);
        if (byRoute == null) {
            byRoute = routes.computeIfAbsent(l, x -> new ConcurrentHashMap<>());
        }
        RouteMeters m = byRoute.get(r);
        if (m == null) {
            m = byRoute.computeIfAbsent(r, x -> new RouteMeters(registry, l, x));
        }
        final int c = status / 100 - 1;
        if (c >= 0 && c < CLASSES.length) {
            m.byClass[c].increment();
        }
        m.duration.record(durationNanos, TimeUnit.NANOSECONDS);
    }

    /** Counts an expected failure by its Envoy response flag (a closed set). */
    public void onError(String flag) {
        Counter c = errors.get(flag);
        if (c == null) {
            c = errors.computeIfAbsent(flag, f -> Counter.builder("gateway_proxy_errors").tag("flag", f)
                    .register(registry));
        }
        c.increment();
    }

    /** Records one upstream try's response head: its status class and the time since the request was sent. */
    public void onUpstreamResponse(String cluster, int status, long nanos) {
        UpstreamMeters m = upstreams.get(cluster);
        if (m == null) {
            m = upstreams.computeIfAbsent(cluster, c -> new UpstreamMeters(registry, c));
        }
        final int c = status / 100 - 1;
        if (c >= 0 && c < CLASSES.length) {
            m.byClass[c].increment();
        }
        m.duration.record(nanos, TimeUnit.NANOSECONDS);
    }

    /** Counts a failed upstream connect by kind: refused, timeout, reset, tls, other (a closed set). */
    public void onConnectFailure(String kind) {
        Counter c = connectFailures.get(kind);
        if (c == null) {
            c = connectFailures.computeIfAbsent(kind, k -> Counter.builder("gateway_upstream_connect_failures")
                    .tag("kind", k).register(registry));
        }
        c.increment();
    }

    /** Sums a LongAdder for a gauge. */
    private static final class LongAdderSum {
        static double sum(java.util.concurrent.atomic.LongAdder a) {
            return a.sum();
        }
    }

    /** An upstream connection was opened (+1) or closed (-1). */
    public void upstreamConnections(int delta) {
        upstreamConnections.add(delta);
    }

    /** A downstream HTTP/2 stream was opened (+1) or closed (-1). */
    public void downstreamStreams(int delta) {
        downstreamStreams.add(delta);
    }

    /** Counts an outlier ejection. */
    public void onEjection() {
        ejections.increment();
    }

    /** Records the time from the first file change of a burst to the publish of the table built from it. */
    public void onPropagated(long nanos) {
        propagation.record(nanos, TimeUnit.NANOSECONDS);
    }

    /** Registers a gauge (pool sizes, HTTP/2 streams, unhealthy endpoints...) read at scrape time. */
    public void gauge(String name, String description, Supplier<Number> value) {
        Gauge.builder(name, value).description(description).register(registry);
    }

    /** Registers a counter read from a monotonic source at scrape time, with one tag. */
    public void functionCounter(String name, String tag, String tagValue, java.util.function.LongSupplier value) {
        strong.add(value); // a FunctionCounter holds its source weakly
        io.micrometer.core.instrument.FunctionCounter.builder(name, value, v -> (double) v.getAsLong())
                .tag(tag, tagValue).register(registry);
    }

    private final ConcurrentHashMap<String, Counter> timeouts = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> overflows = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> rejected = new ConcurrentHashMap<>();

    /** Counts a downstream timeout by kind: idle, stream_idle, request_headers (a closed set). */
    public void onTimeout(String kind) {
        timeouts.computeIfAbsent(kind, k -> Counter.builder("gateway_downstream_timeouts").tag("kind", k)
                .register(registry)).increment();
    }

    /**
     * Counts a circuit-breaker overflow (503 UO) by breaker: requests, connections, pending (a closed set).
     */
    public void onOverflow(String breaker) {
        overflows.computeIfAbsent(breaker, b -> Counter.builder("gateway_upstream_overflows").tag("breaker", b)
                .register(registry)).increment();
    }

    /** Counts a connection closed on accept, by reason: limit, listener_limit, overload (a closed set). */
    public void onConnectionRejected(String reason) {
        rejected.computeIfAbsent(reason, r -> Counter.builder("gateway_downstream_connections_rejected")
                .tag("reason", r).register(registry)).increment();
    }

    /** Registers the overload state gauge (1 while shedding). */
    public void overloadGauge(Supplier<Number> state) {
        Gauge.builder("gateway_overload_active", state).register(registry);
    }

    /** Counts a retry. */
    public void onRetry() {
        retries.increment();
    }

    /** Records a config build. */
    public void onConfigBuild(boolean published, long nanos, long tableVersion) {
        (published ? reloadsOk : reloadsRejected).increment();
        buildTime.record(nanos, TimeUnit.NANOSECONDS);
        if (published) {
            version.set(tableVersion);
        }
    }

    /** Counts an access log line dropped because the writer fell behind. */
    public void onAccessLogDropped() {
        accessLogDropped.incrementAndGet();
    }

    /** The Prometheus text exposition. */
    public String scrape() {
        return registry.scrape();
    }
}
