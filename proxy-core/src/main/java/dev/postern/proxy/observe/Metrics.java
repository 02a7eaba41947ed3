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
    private final ConcurrentHashMap<String, RouteMeters> routes = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> errors = new ConcurrentHashMap<>();
    private final Counter retries;
    private final Counter reloadsOk;
    private final Counter reloadsRejected;
    private final Timer buildTime;
    private final AtomicLong version = new AtomicLong();
    private final AtomicLong accessLogDropped = new AtomicLong();
    private final java.util.List<Object> strong = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** The meters of one route. */
    private static final class RouteMeters {
        final Counter[] byClass = new Counter[CLASSES.length];
        final Timer duration;

        RouteMeters(PrometheusMeterRegistry r, String route) {
            for (int i = 0; i < CLASSES.length; i++) {
                byClass[i] = Counter.builder("gateway_downstream_requests").description("Requests answered")
                        .tag("route", route).tag("code_class", CLASSES[i]).register(r);
            }
            duration = Timer.builder("gateway_downstream_request_duration").description("Request to last byte")
                    .tag("route", route).publishPercentileHistogram().register(r);
        }
    }

    /** Creates the registry and the process-wide meters. */
    public Metrics() {
        retries = Counter.builder("gateway_upstream_retries").register(registry);
        reloadsOk = Counter.builder("gateway_config_reloads").tag("result", "published").register(registry);
        reloadsRejected = Counter.builder("gateway_config_reloads").tag("result", "rejected").register(registry);
        buildTime = Timer.builder("gateway_config_build").register(registry);
        Gauge.builder("gateway_config_version", version, AtomicLong::get).register(registry);
        Gauge.builder("gateway_access_log_dropped", accessLogDropped, AtomicLong::get).register(registry);
    }

    /** Registers a gauge read on each scrape. */
    public void gauge(String name, Supplier<Number> value) {
        Gauge.builder(name, value).register(registry);
    }

    /** Registers one of the BPF program's counters ({@code gateway_tproxy_packets_total{counter=...}}). */
    public void tproxyCounter(String counter, java.util.function.LongSupplier value) {
        io.micrometer.core.instrument.FunctionCounter.builder("gateway_tproxy_packets", value,
                v -> v.getAsLong()).description("Packets the BPF TPROXY program handled, by outcome")
                .tag("counter", counter).register(registry);
        strong.add(value); // a function counter holds its object weakly; without this the lambda is collected
    }

    /** Counts a gauge of active downstream connections. */
    public void connectionsGauge(Supplier<Number> active) {
        Gauge.builder("gateway_downstream_connections_active", active).register(registry);
    }

    /** Records an answered request. {@code route} is null when no route matched. */
    public void onResponse(String route, int status, long durationNanos) {
        final RouteMeters m = routes.computeIfAbsent(route == null ? "none" : route,
                r -> new RouteMeters(registry, r));
        final int c = status / 100 - 1;
        if (c >= 0 && c < CLASSES.length) {
            m.byClass[c].increment();
        }
        m.duration.record(durationNanos, TimeUnit.NANOSECONDS);
    }

    /** Counts an expected failure by its Envoy response flag (a closed set). */
    public void onError(String flag) {
        errors.computeIfAbsent(flag, f -> Counter.builder("gateway_proxy_errors").tag("flag", f)
                .register(registry)).increment();
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
