package dev.postern.proxy.server;

import dev.postern.config.ConfigPipeline;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * What Gateway API does not say: the bootstrap settings, read from an optional YAML file. Every field has a
 * default, so no file is needed.
 *
 * @param adminAddress the admin server's IP literal (default 127.0.0.1)
 * @param adminPort the admin port (default 9901; 0 picks a free one)
 * @param controllerName the GatewayClass controllerName served
 * @param defaultBindAddress what Gateways without {@code spec.addresses} bind (default 0.0.0.0)
 * @param xffNumTrustedHops Envoy's {@code xff_num_trusted_hops} (default 0)
 * @param internalCidrs the internal address ranges (default RFC 1918, 127.0.0.1/32, ::1)
 * @param transport auto, epoll, io_uring or nio
 * @param eventLoops the number of event loops; 0 means one per core
 * @param connectTimeout the upstream connect timeout (default 5 s, Envoy's)
 * @param upstreamIdleTimeout how long an idle pooled upstream connection is kept (default 60 s)
 * @param accessLog whether to write access log lines to stdout
 * @param drainTimeout how long a SIGTERM waits for connections to finish (default 10 s)
 * @param maxRequests the max-requests circuit breaker per cluster (default 1024, Envoy's), shared out over the
 *     event loops; past it requests answer 503 UO
 * @param tproxy the {@code tproxy} section: Postern's own BPF steering of Gateway addresses (off by default)
 * @param udpIdleTimeout a UDPRoute session (one per client address and port) ends after this long without a
 *     datagram either way (default 60 s, Envoy's UDP proxy default)
 * @param udpMaxSessions the most UDP sessions per listener socket; datagrams that would open one more are
 *     dropped and counted (default 16384)
 */
public record Bootstrap(String adminAddress, int adminPort, String controllerName, String defaultBindAddress,
                        int xffNumTrustedHops, List<String> internalCidrs, String transport, int eventLoops,
                        Duration connectTimeout, Duration upstreamIdleTimeout, boolean accessLog,
                        Duration drainTimeout, int maxRequests, TproxyConfig tproxy, Duration udpIdleTimeout,
                        int udpMaxSessions) {

    /** The defaults. */
    public static Bootstrap defaults() {
        return new Bootstrap("127.0.0.1", 9901, ConfigPipeline.Settings.DEFAULT_CONTROLLER, "0.0.0.0", 0,
                List.of("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.1/32", "::1/128"), "auto", 0,
                Duration.ofSeconds(5), Duration.ofSeconds(60), false, Duration.ofSeconds(10), 1024, TproxyConfig.disabled(),
                Duration.ofSeconds(60), 16384);
    }

    /** Returns a copy with another admin port. */
    public Bootstrap withAdminPort(int port) {
        return new Bootstrap(adminAddress, port, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, drainTimeout, maxRequests, tproxy, udpIdleTimeout, udpMaxSessions);
    }

    /** Returns a copy with another trusted-hops count. */
    public Bootstrap withTrustedHops(int hops) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, hops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, drainTimeout, maxRequests, tproxy, udpIdleTimeout, udpMaxSessions);
    }

    /** Returns a copy with another connect timeout. */
    public Bootstrap withConnectTimeout(Duration d) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, d, upstreamIdleTimeout, accessLog, drainTimeout, maxRequests, tproxy, udpIdleTimeout, udpMaxSessions);
    }

    /** Returns a copy with another number of event loops. */
    public Bootstrap withEventLoops(int n) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, n, connectTimeout, upstreamIdleTimeout, accessLog, drainTimeout,
                maxRequests, tproxy, udpIdleTimeout, udpMaxSessions);
    }

    /** Returns a copy with another max-requests circuit breaker. */
    public Bootstrap withMaxRequests(int n) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, drainTimeout, n, tproxy, udpIdleTimeout, udpMaxSessions);
    }

    /** Returns a copy with access logging on or off. */
    public Bootstrap withAccessLog(boolean on) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, on, drainTimeout,
                maxRequests, tproxy, udpIdleTimeout, udpMaxSessions);
    }

    /** Returns a copy with another transport (auto, epoll, io_uring or nio). */
    public Bootstrap withTransport(String t) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, t, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, drainTimeout,
                maxRequests, tproxy, udpIdleTimeout, udpMaxSessions);
    }

    /** Returns a copy with another {@code tproxy} section. */
    public Bootstrap withTproxy(TproxyConfig t) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, drainTimeout,
                maxRequests, t, udpIdleTimeout, udpMaxSessions);
    }

    /** Returns a copy with other UDP session limits. */
    public Bootstrap withUdp(Duration idle, int maxSessions) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, drainTimeout,
                maxRequests, tproxy, idle, maxSessions);
    }

    private static final Set<String> KEYS = Set.of("admin", "controllerName", "defaultBindAddress", "clientAddress",
            "transport", "eventLoops", "upstream", "accessLog", "drainTimeout", "tproxy", "udp");

    /**
     * Reads a bootstrap file (SnakeYAML safe loading); absent fields keep their defaults.
     *
     * @throws IllegalArgumentException naming the file, the field and the reason
     */
    public static Bootstrap read(Path file) {
        final String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read bootstrap file: " + e.getMessage(), e);
        }
        final LoaderOptions opts = new LoaderOptions();
        opts.setMaxAliasesForCollections(10);
        final Object root;
        try {
            root = new Yaml(new SafeConstructor(opts)).load(text);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(file + ": invalid YAML: " + e.getMessage(), e);
        }
        final Bootstrap d = defaults();
        if (root == null) {
            return d;
        }
        if (!(root instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException(file + ": the bootstrap must be a YAML object");
        }
        for (Object k : m.keySet()) {
            if (!KEYS.contains(String.valueOf(k))) {
                throw new IllegalArgumentException(file + ": " + k + ": unknown field; known: " + KEYS);
            }
        }
        final Map<?, ?> admin = map(file, m, "admin");
        final Map<?, ?> ca = map(file, m, "clientAddress");
        final Map<?, ?> up = map(file, m, "upstream");
        final Map<?, ?> udp = map(file, m, "udp");
        final List<String> cidrs = ca.containsKey("internalCidrs")
                ? ((List<?>) ca.get("internalCidrs")).stream().map(String::valueOf).toList() : d.internalCidrs();
        final String transport = str(m, "transport", d.transport());
        if (!Set.of("auto", "epoll", "io_uring", "nio").contains(transport)) {
            throw new IllegalArgumentException(file + ": transport: must be auto, epoll, io_uring or nio");
        }
        return new Bootstrap(str(admin, "address", d.adminAddress()), integer(file, admin, "admin.port",
                "port", d.adminPort()), str(m, "controllerName", d.controllerName()),
                str(m, "defaultBindAddress", d.defaultBindAddress()),
                integer(file, ca, "clientAddress.xffNumTrustedHops", "xffNumTrustedHops", d.xffNumTrustedHops()),
                cidrs, transport, integer(file, m, "eventLoops", "eventLoops", d.eventLoops()),
                duration(file, up, "upstream.connectTimeout", "connectTimeout", d.connectTimeout()),
                duration(file, up, "upstream.idleTimeout", "idleTimeout", d.upstreamIdleTimeout()),
                Boolean.parseBoolean(str(m, "accessLog", String.valueOf(d.accessLog()))),
                duration(file, m, "drainTimeout", "drainTimeout", d.drainTimeout()),
                integer(file, up, "upstream.maxRequests", "maxRequests", d.maxRequests()),
                TproxyConfig.read(file, map(file, m, "tproxy")),
                duration(file, udp, "udp.idleTimeout", "idleTimeout", d.udpIdleTimeout()),
                positive(file, integer(file, udp, "udp.maxSessions", "maxSessions", d.udpMaxSessions()),
                        "udp.maxSessions"));
    }

    private static int positive(Path file, int v, String path) {
        if (v < 1) {
            throw new IllegalArgumentException(file + ": " + path + ": must be at least 1, got " + v);
        }
        return v;
    }

    private static Map<?, ?> map(Path file, Map<?, ?> m, String key) {
        final Object v = m.get(key);
        if (v == null) {
            return Map.of();
        }
        if (!(v instanceof Map<?, ?> mm)) {
            throw new IllegalArgumentException(file + ": " + key + ": must be an object");
        }
        return mm;
    }

    private static String str(Map<?, ?> m, String key, String def) {
        final Object v = m.get(key);
        return v == null ? def : String.valueOf(v);
    }

    private static int integer(Path file, Map<?, ?> m, String path, String key, int def) {
        final Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Integer i)) {
            throw new IllegalArgumentException(file + ": " + path + ": must be an integer, got " + v);
        }
        return i;
    }

    private static Duration duration(Path file, Map<?, ?> m, String path, String key, Duration def) {
        final Object v = m.get(key);
        if (v == null) {
            return def;
        }
        try {
            return parseDuration(String.valueOf(v));
        } catch (IllegalArgumentException | DateTimeParseException e) {
            throw new IllegalArgumentException(file + ": " + path + ": " + e.getMessage());
        }
    }

    /** Parses a Gateway API style duration such as {@code 500ms}, {@code 5s}, {@code 1m} or {@code 1h30m}. */
    public static Duration parseDuration(String s) {
        final java.util.regex.Matcher mm = java.util.regex.Pattern.compile("(\\d+)(ms|s|m|h)").matcher(s);
        Duration d = Duration.ZERO;
        int pos = 0;
        while (mm.find() && mm.start() == pos) {
            final long n = Long.parseLong(mm.group(1));
            d = d.plus(switch (mm.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofHours(n);
            });
            pos = mm.end();
        }
        if (pos != s.length() || s.isEmpty()) {
            throw new IllegalArgumentException("not a duration: \"" + s + "\" (use e.g. 500ms, 5s, 1m)");
        }
        return d;
    }
}
