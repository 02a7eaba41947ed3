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
 * @param accessLog whether to write access log lines
 * @param accessLogFormat {@code envoy} (Envoy's default line) or {@code json} (one object per line)
 * @param accessLogPath the file lines are appended to; empty for stdout
 * @param drainTimeout how long a SIGTERM waits for connections to finish (default 10 s)
 * @param maxRequests the max-requests circuit breaker per cluster (default 1024, Envoy's), shared out over the
 *     event loops; past it requests answer 503 UO
 * @param tproxy the {@code tproxy} section: Postern's own BPF steering of Gateway addresses (off by default)
 * @param udpIdleTimeout a UDPRoute session (one per client address and port) ends after this long without a
 *     datagram either way (default 60 s, Envoy's UDP proxy default)
 * @param udpMaxSessions the most UDP sessions per listener socket; datagrams that would open one more are
 *     dropped and counted (default 16384)
 * @param tls the {@code tls} section: session ticket key rotation, the RSA signer
 * @param tcpSplice {@code tcp.splice}: relay plain TCPRoute connections with splice(2) through a pipe (zero-copy,
 *     epoll only) instead of copying through the JVM (default false; see docs/decisions.md)
 */
public record Bootstrap(String adminAddress, int adminPort, String controllerName, String defaultBindAddress,
                        int xffNumTrustedHops, List<String> internalCidrs, String transport, int eventLoops,
                        Duration connectTimeout, Duration upstreamIdleTimeout, boolean accessLog,
                        String accessLogFormat, String accessLogPath, Duration drainTimeout, int maxRequests, Downstream downstream, Http2 http2,
                        UpstreamPolicy upstreamPolicy, Overload overload,
                        TproxyConfig tproxy, Duration udpIdleTimeout, int udpMaxSessions, Tls tls,
                        boolean tcpSplice) {

    /**
     * Downstream TLS settings that Gateway API does not carry.
     *
     * @param sessionTicketKeyRotation how often a new session ticket key is made (default 1 h); the previous key
     *     still decrypts, so a ticket resumes for one to two periods
     * @param rsaSigner who makes the RSA signatures of full handshakes: {@code libcrypto} (default; the system's
     *     OpenSSL 3, when it loads and passes a self-check per key) or {@code boringssl}
     */
    public record Tls(Duration sessionTicketKeyRotation, dev.postern.proxy.tls.ServerTls.RsaSigner rsaSigner) {
        /** The defaults. */
        public static final Tls DEFAULTS = new Tls(Duration.ofHours(1),
                dev.postern.proxy.tls.ServerTls.RsaSigner.LIBCRYPTO);
    }

    /** Returns a copy with other TLS settings. */
    public Bootstrap withTls(Tls t) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat,
                accessLogPath, drainTimeout, maxRequests, downstream, http2, upstreamPolicy, overload, tproxy,
                udpIdleTimeout, udpMaxSessions, t, tcpSplice);
    }

    private static Tls tls(Path file, Map<?, ?> m) {
        known(file, "tls", m, Set.of("sessionTicketKeyRotation", "rsaSigner"));
        final Duration r = duration(file, m, "tls.sessionTicketKeyRotation", "sessionTicketKeyRotation",
                Tls.DEFAULTS.sessionTicketKeyRotation());
        if (r.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new IllegalArgumentException(file + ": tls.sessionTicketKeyRotation: must be at least 1s, got "
                    + m.get("sessionTicketKeyRotation"));
        }
        final String signer = str(m, "rsaSigner", Tls.DEFAULTS.rsaSigner().label());
        final dev.postern.proxy.tls.ServerTls.RsaSigner rs = switch (signer) {
            case "libcrypto" -> dev.postern.proxy.tls.ServerTls.RsaSigner.LIBCRYPTO;
            case "boringssl" -> dev.postern.proxy.tls.ServerTls.RsaSigner.BORINGSSL;
            default -> throw new IllegalArgumentException(file + ": tls.rsaSigner: must be libcrypto or boringssl, "
                    + "got " + signer);
        };
        return new Tls(r, rs);
    }

    /**
     * Downstream connection limits and timeouts (issue 9), Envoy's defaults where Envoy has one.
     *
     * @param maxConnections connections over all listeners; past it new connections are closed on accept
     * @param maxConnectionsPerListener connections per bound socket; 0 means only the global limit applies
     * @param idleTimeout an HTTP connection without a request in flight is closed after this (Envoy: 1 h)
     * @param streamIdleTimeout an exchange with no byte read or written for this long ends: 408 before the
     *     response started, else the connection is cut (Envoy's stream_idle_timeout: 5 min)
     * @param requestHeadersTimeout the longest a request head may take from its first byte to its end
     *     (Envoy's request_headers_timeout; slowloris defence); 408 and close past it
     * @param paths the path normalization policy: {@code mergeSlashes} and {@code pathWithEscapedSlashesAction}
     *     (Envoy's merge_slashes and path_with_escaped_slashes_action); dot segments are always removed
     */
    public record Downstream(int maxConnections, int maxConnectionsPerListener, Duration idleTimeout,
                             Duration streamIdleTimeout, Duration requestHeadersTimeout,
                             dev.postern.proxy.http.PathNormalizer.Policy paths) {
        /** The defaults. */
        public static final Downstream DEFAULTS = new Downstream(100_000, 0, Duration.ofHours(1),
                Duration.ofMinutes(5), Duration.ofSeconds(10));

        /** The limits with the default path policy. */
        public Downstream(int maxConnections, int maxConnectionsPerListener, Duration idleTimeout,
                          Duration streamIdleTimeout, Duration requestHeadersTimeout) {
            this(maxConnections, maxConnectionsPerListener, idleTimeout, streamIdleTimeout, requestHeadersTimeout,
                    dev.postern.proxy.http.PathNormalizer.Policy.DEFAULTS);
        }

        /** A copy with another path policy. */
        public Downstream withPaths(dev.postern.proxy.http.PathNormalizer.Policy p) {
            return new Downstream(maxConnections, maxConnectionsPerListener, idleTimeout, streamIdleTimeout,
                    requestHeadersTimeout, p);
        }
    }

    /**
     * HTTP/2 limits and flood mitigations, applied through Netty's codec knobs.
     *
     * @param maxConcurrentStreams SETTINGS_MAX_CONCURRENT_STREAMS (Envoy's default 100)
     * @param maxHeaderListSize SETTINGS_MAX_HEADER_LIST_SIZE, also the HPACK-bomb and CONTINUATION bound
     * @param maxRstFramesPerWindow RST_STREAM frames a client may send per window before GOAWAY
     *     ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487)
     * @param rstWindowSeconds that window
     * @param maxQueuedControlFrames control frames (SETTINGS/PING acks, RST) queued unflushed towards a client
     *     that does not read before the connection is closed (Envoy's max_outbound_control_frames: 1000)
     * @param maxConsecutiveEmptyDataFrames empty DATA frames in a row without END_STREAM (Envoy: 1)
     * @param maxSmallContinuationFrames CONTINUATION frames with tiny payloads in one header block
     */
    public record Http2(int maxConcurrentStreams, int maxHeaderListSize, int maxRstFramesPerWindow,
                        int rstWindowSeconds, int maxQueuedControlFrames, int maxConsecutiveEmptyDataFrames,
                        int maxSmallContinuationFrames) {
        /** The defaults. */
        public static final Http2 DEFAULTS = new Http2(100, 60 * 1024, 200, 30, 1000, 1, 16);
    }

    /**
     * Upstream load balancing and the connection/pending circuit breakers.
     *
     * @param lbPolicy round_robin (default) or least_request; a Service annotation
     *     {@code postern.dev/lb-policy} overrides it per Service
     * @param maxConnections upstream connections per cluster (Envoy's 1024), shared out over the event loops
     * @param maxPendingRequests requests waiting for an upstream connection per cluster (Envoy's 1024), shared
     *     out over the event loops; past it 503 UO
     */
    public record UpstreamPolicy(String lbPolicy, int maxConnections, int maxPendingRequests) {
        /** The defaults. */
        public static final UpstreamPolicy DEFAULTS = new UpstreamPolicy("round_robin", 1024, 1024);
    }

    /**
     * Overload shedding: when heap or direct memory use passes its fraction of the maximum, new connections are
     * closed on accept and new requests answered 503 with {@code Connection: close}.
     *
     * @param heapThreshold fraction of the max heap (0 &lt; t &le; 1; default 0.95)
     * @param directThreshold fraction of the max direct memory (default 0.95)
     * @param checkInterval how often memory is sampled (default 100 ms)
     */
    public record Overload(double heapThreshold, double directThreshold, Duration checkInterval) {
        /** The defaults. */
        public static final Overload DEFAULTS = new Overload(0.95, 0.95, Duration.ofMillis(100));
    }

    /** The defaults. */
    public static Bootstrap defaults() {
        return new Bootstrap("127.0.0.1", 9901, ConfigPipeline.Settings.DEFAULT_CONTROLLER, "0.0.0.0", 0,
                List.of("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.1/32", "::1/128"), "auto", 0,
                Duration.ofSeconds(5), Duration.ofSeconds(60), false, "envoy", "", Duration.ofSeconds(10), 1024,
                Downstream.DEFAULTS, Http2.DEFAULTS, UpstreamPolicy.DEFAULTS, Overload.DEFAULTS,
                TproxyConfig.disabled(), Duration.ofSeconds(60), 16384, Tls.DEFAULTS, false);
    }

    /** Returns a copy with another admin port. */
    public Bootstrap withAdminPort(int port) {
        return new Bootstrap(adminAddress, port, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with another trusted-hops count. */
    public Bootstrap withTrustedHops(int hops) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, hops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with another connect timeout. */
    public Bootstrap withConnectTimeout(Duration d) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, d, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with another number of event loops. */
    public Bootstrap withEventLoops(int n) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, n, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with another max-requests circuit breaker. */
    public Bootstrap withMaxRequests(int n) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                n, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with access logging on or off. */
    public Bootstrap withAccessLog(boolean on) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, on, accessLogFormat,
                accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with other downstream limits. */
    public Bootstrap withDownstream(Downstream d) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, d, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with other HTTP/2 limits. */
    public Bootstrap withHttp2(Http2 h) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, h, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with another upstream policy. */
    public Bootstrap withUpstreamPolicy(UpstreamPolicy u) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, u, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with other overload thresholds. */
    public Bootstrap withOverload(Overload o) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, o, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with another idle timeout for pooled upstream connections. */
    public Bootstrap withUpstreamIdleTimeout(Duration d) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, d, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with another transport (auto, epoll, io_uring, nio). */
    public Bootstrap withTransport(String t) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, t, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout, udpMaxSessions, tls, tcpSplice);
    }

    /** Returns a copy with another {@code tproxy} section. */
    public Bootstrap withTproxy(TproxyConfig t) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, t, udpIdleTimeout, udpMaxSessions, tls,
                tcpSplice);
    }

    /** Returns a copy with TCPRoute relaying by splice(2) on or off. */
    public Bootstrap withTcpSplice(boolean splice) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat,
                accessLogPath, drainTimeout, maxRequests, downstream, http2, upstreamPolicy, overload, tproxy,
                udpIdleTimeout, udpMaxSessions, tls, splice);
    }

    private static boolean tcpSplice(Path file, Map<?, ?> tcp) {
        known(file, "tcp", tcp, Set.of("splice"));
        final Object v = tcp.get("splice");
        if (v == null) {
            return false;
        }
        if (!(v instanceof Boolean b)) {
            throw new IllegalArgumentException(file + ": tcp.splice: must be true or false, got " + v);
        }
        return b;
    }

    /** Returns a copy with other UDP session limits. */
    public Bootstrap withUdp(Duration idle, int maxSessions) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, accessLog, accessLogFormat, accessLogPath, drainTimeout,
                maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, idle, maxSessions, tls, tcpSplice);
    }

    private static final Set<String> KEYS = Set.of("admin", "controllerName", "defaultBindAddress", "clientAddress",
            "transport", "eventLoops", "upstream", "accessLog", "drainTimeout", "downstream", "http2", "overload",
            "tproxy", "udp", "tls", "tcp");

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
                accessLogOn(file, m.get("accessLog"), d.accessLog()),
                accessLogField(file, m.get("accessLog"), "format", d.accessLogFormat()),
                accessLogField(file, m.get("accessLog"), "path", d.accessLogPath()),
                duration(file, m, "drainTimeout", "drainTimeout", d.drainTimeout()),
                integer(file, up, "upstream.maxRequests", "maxRequests", d.maxRequests()),
                downstream(file, map(file, m, "downstream")), http2(file, map(file, m, "http2")),
                upstreamPolicy(file, up), overload(file, map(file, m, "overload")),
                TproxyConfig.read(file, map(file, m, "tproxy")),
                duration(file, udp, "udp.idleTimeout", "idleTimeout", d.udpIdleTimeout()),
                positive(file, integer(file, udp, "udp.maxSessions", "maxSessions", d.udpMaxSessions()),
                        "udp.maxSessions"),
                tls(file, map(file, m, "tls")),
                tcpSplice(file, map(file, m, "tcp")));
    }

    /** {@code accessLog: true|false}, or a map ({@code enabled}, {@code format}, {@code path}) that turns it on. */
    private static boolean accessLogOn(Path file, Object v, boolean def) {
        if (v == null) {
            return def;
        }
        if (v instanceof Map<?, ?> m) {
            known(file, "accessLog", m, Set.of("enabled", "format", "path"));
            return !Boolean.FALSE.equals(m.get("enabled"));
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw new IllegalArgumentException(file + ": accessLog: must be true, false or a map with enabled, format "
                + "and path, got " + v);
    }

    private static String accessLogField(Path file, Object v, String key, String def) {
        if (!(v instanceof Map<?, ?> m) || m.get(key) == null) {
            return def;
        }
        final String s = String.valueOf(m.get(key));
        if (key.equals("format") && !Set.of("envoy", "json").contains(s)) {
            throw new IllegalArgumentException(file + ": accessLog.format: must be envoy or json, got " + s);
        }
        if (key.equals("path") && !s.isEmpty() && !s.startsWith("/")) {
            throw new IllegalArgumentException(file + ": accessLog.path: must be an absolute path, got " + s);
        }
        return s;
    }

    /** Returns a copy with access logging on, in {@code format}, to {@code path} (empty: stdout). */
    public Bootstrap withAccessLog(String format, String path) {
        return new Bootstrap(adminAddress, adminPort, controllerName, defaultBindAddress, xffNumTrustedHops,
                internalCidrs, transport, eventLoops, connectTimeout, upstreamIdleTimeout, true, format, path,
                drainTimeout, maxRequests, downstream, http2, upstreamPolicy, overload, tproxy, udpIdleTimeout,
                udpMaxSessions, tls, tcpSplice);
    }

    private static Downstream downstream(Path file, Map<?, ?> m) {
        known(file, "downstream", m, Set.of("maxConnections", "maxConnectionsPerListener", "idleTimeout",
                "streamIdleTimeout", "requestHeadersTimeout", "mergeSlashes", "pathWithEscapedSlashesAction"));
        final Downstream d = Downstream.DEFAULTS;
        return new Downstream(
                positive(file, "downstream.maxConnections", integer(file, m, "downstream.maxConnections",
                        "maxConnections", d.maxConnections())),
                nonNegative(file, "downstream.maxConnectionsPerListener", integer(file, m,
                        "downstream.maxConnectionsPerListener", "maxConnectionsPerListener",
                        d.maxConnectionsPerListener())),
                positive(file, "downstream.idleTimeout", duration(file, m, "downstream.idleTimeout", "idleTimeout",
                        d.idleTimeout())),
                positive(file, "downstream.streamIdleTimeout", duration(file, m, "downstream.streamIdleTimeout",
                        "streamIdleTimeout", d.streamIdleTimeout())),
                positive(file, "downstream.requestHeadersTimeout", duration(file, m,
                        "downstream.requestHeadersTimeout", "requestHeadersTimeout", d.requestHeadersTimeout())),
                new dev.postern.proxy.http.PathNormalizer.Policy(
                        bool(file, m, "downstream.mergeSlashes", "mergeSlashes", d.paths().mergeSlashes()),
                        escapedSlashes(file, m.get("pathWithEscapedSlashesAction"), d.paths().escapedSlashes())));
    }

    private static dev.postern.proxy.http.PathNormalizer.EscapedSlashes escapedSlashes(Path file, Object v,
            dev.postern.proxy.http.PathNormalizer.EscapedSlashes def) {
        if (v == null) {
            return def;
        }
        try {
            return dev.postern.proxy.http.PathNormalizer.EscapedSlashes.valueOf(String.valueOf(v));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": downstream.pathWithEscapedSlashesAction: \"" + v
                    + "\" is not one of " + java.util.Arrays.toString(
                    dev.postern.proxy.http.PathNormalizer.EscapedSlashes.values()));
        }
    }

    private static Http2 http2(Path file, Map<?, ?> m) {
        known(file, "http2", m, Set.of("maxConcurrentStreams", "maxHeaderListSize", "maxRstFramesPerWindow",
                "rstWindowSeconds", "maxQueuedControlFrames", "maxConsecutiveEmptyDataFrames",
                "maxSmallContinuationFrames"));
        final Http2 d = Http2.DEFAULTS;
        return new Http2(
                positive(file, "http2.maxConcurrentStreams", integer(file, m, "http2.maxConcurrentStreams",
                        "maxConcurrentStreams", d.maxConcurrentStreams())),
                positive(file, "http2.maxHeaderListSize", integer(file, m, "http2.maxHeaderListSize",
                        "maxHeaderListSize", d.maxHeaderListSize())),
                positive(file, "http2.maxRstFramesPerWindow", integer(file, m, "http2.maxRstFramesPerWindow",
                        "maxRstFramesPerWindow", d.maxRstFramesPerWindow())),
                positive(file, "http2.rstWindowSeconds", integer(file, m, "http2.rstWindowSeconds",
                        "rstWindowSeconds", d.rstWindowSeconds())),
                positive(file, "http2.maxQueuedControlFrames", integer(file, m, "http2.maxQueuedControlFrames",
                        "maxQueuedControlFrames", d.maxQueuedControlFrames())),
                positive(file, "http2.maxConsecutiveEmptyDataFrames", integer(file, m,
                        "http2.maxConsecutiveEmptyDataFrames", "maxConsecutiveEmptyDataFrames",
                        d.maxConsecutiveEmptyDataFrames())),
                positive(file, "http2.maxSmallContinuationFrames", integer(file, m,
                        "http2.maxSmallContinuationFrames", "maxSmallContinuationFrames",
                        d.maxSmallContinuationFrames())));
    }

    private static UpstreamPolicy upstreamPolicy(Path file, Map<?, ?> m) {
        known(file, "upstream", m, Set.of("connectTimeout", "idleTimeout", "maxRequests", "lbPolicy",
                "maxConnections", "maxPendingRequests"));
        final UpstreamPolicy d = UpstreamPolicy.DEFAULTS;
        final String lb = str(m, "lbPolicy", d.lbPolicy());
        if (!LB_POLICIES.contains(lb)) {
            throw new IllegalArgumentException(file + ": upstream.lbPolicy: must be round_robin or least_request, "
                    + "got " + lb);
        }
        return new UpstreamPolicy(lb,
                positive(file, "upstream.maxConnections", integer(file, m, "upstream.maxConnections",
                        "maxConnections", d.maxConnections())),
                positive(file, "upstream.maxPendingRequests", integer(file, m, "upstream.maxPendingRequests",
                        "maxPendingRequests", d.maxPendingRequests())));
    }

    /** The load-balancing policies. */
    public static final Set<String> LB_POLICIES = Set.of("round_robin", "least_request");

    private static Overload overload(Path file, Map<?, ?> m) {
        known(file, "overload", m, Set.of("heapThreshold", "directThreshold", "checkInterval"));
        final Overload d = Overload.DEFAULTS;
        return new Overload(fraction(file, m, "heapThreshold", d.heapThreshold()),
                fraction(file, m, "directThreshold", d.directThreshold()),
                positive(file, "overload.checkInterval", duration(file, m, "overload.checkInterval", "checkInterval",
                        d.checkInterval())));
    }

    private static double fraction(Path file, Map<?, ?> m, String key, double def) {
        final Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Number n) || n.doubleValue() <= 0 || n.doubleValue() > 1) {
            throw new IllegalArgumentException(file + ": overload." + key + ": must be a number in (0, 1], got "
                    + v);
        }
        return n.doubleValue();
    }

    private static void known(Path file, String section, Map<?, ?> m, Set<String> keys) {
        for (Object k : m.keySet()) {
            if (!keys.contains(String.valueOf(k))) {
                throw new IllegalArgumentException(file + ": " + section + "." + k + ": unknown field; known: "
                        + new java.util.TreeSet<>(keys));
            }
        }
    }

    private static int positive(Path file, int v, String path) {
        if (v < 1) {
            throw new IllegalArgumentException(file + ": " + path + ": must be at least 1, got " + v);
        }
        return v;
    }

    private static int positive(Path file, String path, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(file + ": " + path + ": must be positive, got " + v);
        }
        return v;
    }

    private static int nonNegative(Path file, String path, int v) {
        if (v < 0) {
            throw new IllegalArgumentException(file + ": " + path + ": must not be negative, got " + v);
        }
        return v;
    }

    private static Duration positive(Path file, String path, Duration v) {
        if (v.isZero() || v.isNegative()) {
            throw new IllegalArgumentException(file + ": " + path + ": must be positive, got " + v);
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

    private static boolean bool(Path file, Map<?, ?> m, String path, String key, boolean def) {
        final Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Boolean b)) {
            throw new IllegalArgumentException(file + ": " + path + ": must be true or false, got " + v);
        }
        return b;
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
