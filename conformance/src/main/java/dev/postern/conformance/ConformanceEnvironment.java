package dev.postern.conformance;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.echo.GrpcEchoServer;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.ConfigLoader;
import dev.postern.proxy.server.PosternServer;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.representer.Representer;

/**
 * What a Kubernetes cluster gives the upstream suite, made on loopback: every Deployment replica is an echo
 * backend on its own 127.10.x.y address, every Service with a selector gets the EndpointSlices Kubernetes would
 * write, every Gateway gets its own 127.20.0.n address through {@code spec.addresses}, and a real Postern serves
 * the result from a directory. Test manifests are applied (written) and deleted (removed) around each test, so
 * every test exercises a reload.
 */
public final class ConformanceEnvironment implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ConformanceEnvironment.class.getName());

    private final Path dir;
    private final SuiteManifests manifests = SuiteManifests.locate();
    private final ConfigRef ref = new ConfigRef();
    private final ConfigLoader loader;
    private final PosternServer server;
    private final EventLoopGroup echoGroup;
    private final Class<? extends io.netty.channel.ServerChannel> echoChannel;
    private final Map<String, InetAddress> gatewayAddresses = new HashMap<>();
    private final Map<String, Map<String, Object>> gateways = new LinkedHashMap<>();
    private final List<Pod> basePods = new ArrayList<>();
    private final List<Pod> testPods = new ArrayList<>();
    private List<Map<String, Object>> applied = List.of();
    private int nextPod = 1;
    private int nextGateway = 1;
    private java.time.Instant lastCreation;

    /** One running echo replica. */
    record Pod(String namespace, String deployment, String name, InetAddress ip, Map<String, String> labels,
               Map<String, Integer> namedPorts, List<AutoCloseable> servers, java.util.Queue<String> echoed) {
    }

    /** How many requests with exactly this URI the replicas of a Deployment have echoed. */
    public int echoCount(String namespace, String deployment, String uri) {
        int n = 0;
        for (List<Pod> ps : List.of(basePods, testPods)) {
            for (Pod p : ps) {
                if (p.namespace().equals(namespace) && p.deployment().equals(deployment)) {
                    for (String u : p.echoed()) {
                        n += u.equals(uri) ? 1 : 0;
                    }
                }
            }
        }
        return n;
    }

    private ConformanceEnvironment(Path dir) throws Exception {
        this.dir = dir;
        if (Epoll.isAvailable()) {
            echoGroup = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            echoChannel = EpollServerSocketChannel.class;
        } else {
            echoGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
            echoChannel = NioServerSocketChannel.class;
        }
        final List<Map<String, Object>> base = parse(manifests.base());
        basePods.addAll(startPods(base));
        write("00-base.yaml", dump(transform(base, basePods)));
        write("01-setup.yaml", SuiteCertificates.setupObjects());
        final Bootstrap b = Bootstrap.defaults().withAdminPort(0);
        loader = new ConfigLoader(dir, new ConfigPipeline.Settings(b.controllerName(), b.defaultBindAddress()), ref);
        final ConfigPipeline.Build first = loader.reload();
        if (first.rejected()) {
            throw new IllegalStateException("base config rejected: " + first.diagnostics());
        }
        server = PosternServer.start(b, ref);
        loader.watch();
    }

    /** Starts the environment in a fresh directory. */
    public static ConformanceEnvironment start(Path dir) throws Exception {
        return new ConformanceEnvironment(dir);
    }

    /** The live config (statuses, table). */
    public ConfigRef config() {
        return ref;
    }

    /** The server. */
    public PosternServer server() {
        return server;
    }

    /** Applies a test's manifests (creating its pods and endpoints) and waits until Postern serves them. */
    public void apply(List<String> testManifests) throws Exception {
        final List<Map<String, Object>> docs = new ArrayList<>();
        for (String m : testManifests) {
            docs.addAll(parse(manifests.test(m)));
        }
        testPods.addAll(startPods(docs));
        applied = docs;
        stampCreation(docs);
        rewrite();
    }

    /**
     * Sets {@code metadata.creationTimestamp} on the objects that have none, as the API server does on create: RFC
     * 3339 with second precision, every object of one apply with the same value, and objects created later (mid-test)
     * strictly later than the ones before them, so "the oldest route wins" rules see the creation order the suite
     * made (upstream sleeps a second between creates for the same reason).
     */
    @SuppressWarnings("unchecked")
    private void stampCreation(List<Map<String, Object>> docs) {
        java.time.Instant now = java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        if (lastCreation != null && !now.isAfter(lastCreation)) {
            now = lastCreation.plusSeconds(1);
        }
        boolean used = false;
        for (Map<String, Object> d : docs) {
            if (d.get("metadata") instanceof Map<?, ?> m && m.get("creationTimestamp") == null) {
                ((Map<String, Object>) m).put("creationTimestamp", now.toString());
                used = true;
            }
        }
        if (used) {
            lastCreation = now;
        }
    }

    /** Changes the applied objects, as the suite does mid-test (a patch, a delete), and waits for the reload. */
    public void update(java.util.function.UnaryOperator<List<Map<String, Object>>> change) throws Exception {
        applied = change.apply(new ArrayList<>(applied));
        stampCreation(applied);
        rewrite();
    }

    private void rewrite() throws Exception {
        final List<Pod> all = new ArrayList<>(basePods);
        all.addAll(testPods);
        final long v = ref.table().version();
        write("10-test.yaml", dump(transform(applied, all)));
        awaitReload(v);
    }

    /** The IPs of a Deployment's running replicas. */
    public List<String> podIps(String namespace, String deployment) {
        final List<String> out = new ArrayList<>();
        for (List<Pod> ps : List.of(basePods, testPods)) {
            for (Pod p : ps) {
                if (p.namespace().equals(namespace) && p.deployment().equals(deployment)) {
                    out.add(p.ip().getHostAddress());
                }
            }
        }
        return out;
    }

    /** Deletes the applied test manifests and stops their pods. */
    public void delete() throws Exception {
        final long v = ref.table().version();
        Files.deleteIfExists(dir.resolve("10-test.yaml"));
        applied = List.of();
        for (Pod p : testPods) {
            closeAll(p.servers());
        }
        testPods.clear();
        awaitReload(v);
    }

    private void awaitReload(long version) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while ((ref.table().version() <= version || !server.isReady()) && System.nanoTime() < deadline) {
            if (!ref.snapshot().lastRejected().isEmpty() && ref.table().version() <= version) {
                throw new IllegalStateException("config rejected: " + ref.snapshot().lastRejected());
            }
            Thread.sleep(10);
        }
    }

    /** The tls.mode of the TLS listener of a Gateway that an SNI selects (exact, wildcard, none), or null. */
    @SuppressWarnings("unchecked")
    public String tlsMode(String namespace, String name, String sni) {
        final Map<String, Object> gw = gateways.get(namespace + "/" + name);
        if (gw == null) {
            throw new IllegalArgumentException("no Gateway " + namespace + "/" + name);
        }
        String best = null;
        int bestRank = -1;
        for (Map<String, Object> l : (List<Map<String, Object>>) ((Map<String, Object>) gw.get("spec"))
                .get("listeners")) {
            final Object tls = l.get("tls");
            if (!"TLS".equals(l.get("protocol")) || !(tls instanceof Map<?, ?> t)) {
                continue;
            }
            final String h = l.get("hostname") == null ? null : String.valueOf(l.get("hostname"));
            final int rank = h == null ? 0 : h.equals(sni) ? 2
                    : h.startsWith("*.") && sni.endsWith(h.substring(1)) ? 1 : -1;
            if (rank > bestRank) {
                bestRank = rank;
                best = String.valueOf(((Map<?, ?>) t).get("mode") == null ? "Terminate" : t.get("mode"));
            }
        }
        return best;
    }

    /** The address of a Gateway on the port of its first listener, or of the named listener. */
    @SuppressWarnings("unchecked")
    public InetSocketAddress gatewayAddress(String namespace, String name, String listener) {
        final InetAddress ip = gatewayAddresses.get(namespace + "/" + name);
        final Map<String, Object> gw = gateways.get(namespace + "/" + name);
        if (ip == null || gw == null) {
            throw new IllegalArgumentException("no Gateway " + namespace + "/" + name);
        }
        final List<Map<String, Object>> ls = (List<Map<String, Object>>) ((Map<String, Object>) gw.get("spec"))
                .get("listeners");
        Map<String, Object> l = ls.getFirst();
        if (listener != null) {
            l = ls.stream().filter(x -> listener.equals(x.get("name"))).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no listener " + listener + " on " + name));
        }
        return new InetSocketAddress(ip, ((Number) l.get("port")).intValue());
    }

    // ---------------------------------------------------------------------------------------------------------

    @SuppressWarnings("unchecked")
    private List<Pod> startPods(List<Map<String, Object>> docs) throws Exception {
        final List<Pod> pods = new ArrayList<>();
        for (Map<String, Object> d : docs) {
            if (!"Deployment".equals(d.get("kind"))) {
                continue;
            }
            final Map<String, Object> meta = (Map<String, Object>) d.get("metadata");
            final String ns = String.valueOf(meta.getOrDefault("namespace", "default"));
            final String name = String.valueOf(meta.get("name"));
            final Map<String, Object> spec = (Map<String, Object>) d.get("spec");
            final int replicas = spec.get("replicas") instanceof Number n ? n.intValue() : 1;
            final Map<String, Object> tmpl = (Map<String, Object>) spec.get("template");
            final Map<String, String> labels = new HashMap<>();
            ((Map<String, Object>) ((Map<String, Object>) tmpl.get("metadata")).getOrDefault("labels", Map.of()))
                    .forEach((k, v) -> labels.put(k, String.valueOf(v)));
            final Map<String, Integer> namedPorts = new LinkedHashMap<>();
            final Map<String, String> env = new HashMap<>();
            boolean coredns = false;
            String tlsSecret = null;
            for (Map<String, Object> v : (List<Map<String, Object>>) ((Map<String, Object>) tmpl.get("spec"))
                    .getOrDefault("volumes", List.of())) {
                if (v.get("secret") instanceof Map<?, ?> sv && sv.get("secretName") != null) {
                    tlsSecret = String.valueOf(sv.get("secretName"));
                }
            }
            for (Map<String, Object> c : (List<Map<String, Object>>) ((Map<String, Object>) tmpl.get("spec"))
                    .get("containers")) {
                coredns |= String.valueOf(c.get("image")).contains("/coredns/coredns:");
                for (Map<String, Object> p : (List<Map<String, Object>>) c.getOrDefault("ports", List.of())) {
                    namedPorts.put(String.valueOf(p.getOrDefault("name", "port-" + p.get("containerPort"))),
                            ((Number) p.get("containerPort")).intValue());
                }
                for (Map<String, Object> e : (List<Map<String, Object>>) c.getOrDefault("env", List.of())) {
                    if (e.get("value") != null) {
                        env.put(String.valueOf(e.get("name")), String.valueOf(e.get("value")));
                    }
                }
            }
            final boolean http = !env.containsKey("GRPC_ECHO_SERVER") && !env.containsKey("TCP_ECHO_SERVER")
                    && !env.containsKey("UDP_ECHO_SERVER") && !coredns;
            for (int i = 0; i < replicas; i++) {
                final int n = nextPod++;
                final InetAddress ip = InetAddress.ofLiteral("127.10." + (n / 250) + "." + (n % 250 + 1));
                final String pod = name + "-" + Integer.toHexString(Math.abs(name.hashCode()) % 0xfffffff) + "-"
                        + "r" + i + "x" + n;
                final List<AutoCloseable> servers = new ArrayList<>();
                final java.util.Queue<String> echoed = new java.util.concurrent.ConcurrentLinkedQueue<>();
                if (http) {
                    final java.util.Set<Integer> ports = new java.util.TreeSet<>(namedPorts.values());
                    ports.add(3000);
                    ports.add(3001); // echo-basic also serves h2c on H2C_PORT (3001) whatever the manifest declares
                    for (int port : ports) {
                        if (port == 8443) {
                            continue; // TLS echo comes with backend TLS
                        }
                        servers.add(EchoServer.start(echoGroup, echoChannel, new InetSocketAddress(ip, port),
                                new EchoServer.Identity(ns, pod, "", "", "3000"), echoed::add));
                    }
                }
                if (http && env.containsKey("TLS_SERVER_CERT") && tlsSecret != null) {
                    // echo-basic serves HTTPS on HTTPS_PORT (8443) with the mounted Secret (TLS_SERVER_CERT).
                    final SuiteCertificates.Issued c = SuiteCertificates.suite().identity(ns + "/" + tlsSecret);
                    final io.netty.handler.ssl.SslContextBuilder b = io.netty.handler.ssl.SslContextBuilder.forServer(
                            c.bundle().getKeyPair().getPrivate(), c.bundle().getCertificatePath());
                    if (env.containsKey("TLS_CLIENT_CACERTS")) {
                        // echo-basic with TLS_CLIENT_CACERTS requires a client certificate from that CA bundle (the
                        // mounted tls-checks-ca-certificate ConfigMap) and reports it in tls.peerCertificates.
                        b.trustManager(SuiteCertificates.TlsChecks.CA.getCertificate())
                                .clientAuth(io.netty.handler.ssl.ClientAuth.REQUIRE);
                    }
                    servers.add(EchoServer.start(echoGroup, echoChannel, new InetSocketAddress(ip, 8443),
                            new EchoServer.Identity(ns, pod, "", "", "3000"), echoed::add, b.build()));
                }
                if (env.containsKey("TCP_ECHO_SERVER")) {
                    // echo-basic's tcpserver: plain on TCP_PORT (3000), TLS on TLS_PORT (8443) with the mounted
                    // certificate, which is the suite's passthrough certificate.
                    final javax.net.ssl.SSLContext tls = javax.net.ssl.SSLContext.getInstance("TLS");
                    tls.init(SuiteCertificates.TlsChecks.PASSTHROUGH.bundle().toKeyManagerFactory()
                            .getKeyManagers(), null, null);
                    final String svc = env.getOrDefault("SERVICE_NAME", "");
                    servers.add(TcpEchoServer.start(ip, 3000, null, ns, svc, pod, 3000, 8443));
                    servers.add(TcpEchoServer.start(ip, 8443, tls, ns, svc, pod, 3000, 8443));
                }
                if (env.containsKey("UDP_ECHO_SERVER")) {
                    final java.util.Set<Integer> ports = new java.util.TreeSet<>(namedPorts.values());
                    if (ports.isEmpty()) {
                        ports.add(8080);
                    }
                    for (int port : ports) {
                        servers.add(UdpEchoServer.start(ip, port, ns, env.getOrDefault("SERVICE_NAME", ""), pod));
                    }
                }
                if (coredns) {
                    // The suite's CoreDNS (Corefile: whoami for foo.bar.com, forward for the rest) on 53/UDP.
                    servers.add(DnsResponder.start(ip, 53));
                }
                if (env.containsKey("GRPC_ECHO_SERVER")) {
                    servers.add(GrpcEchoServer.start(echoGroup, echoChannel, new InetSocketAddress(ip, 3000),
                            new EchoServer.Identity(ns, pod, "", "", "3000")));
                }
                pods.add(new Pod(ns, name, pod, ip, labels, namedPorts, servers, echoed));
            }
        }
        return pods;
    }

    /**
     * Gives Gateways addresses, and adds EndpointSlices for Services with selectors. Deployments are left in (Postern
     * skips them).
     */
    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> transform(List<Map<String, Object>> docs, List<Pod> pods) {
        final List<Map<String, Object>> out = new ArrayList<>();
        for (Map<String, Object> d : docs) {
            out.add(d);
            final Map<String, Object> meta = (Map<String, Object>) d.get("metadata");
            final String ns = String.valueOf(meta.getOrDefault("namespace", "default"));
            final String name = String.valueOf(meta.get("name"));
            if ("Gateway".equals(d.get("kind"))) {
                final Map<String, Object> spec = (Map<String, Object>) d.get("spec");
                final String key = ns + "/" + name;
                final InetAddress ip = gatewayAddresses.computeIfAbsent(key,
                        k -> InetAddress.ofLiteral("127.20." + (nextGateway / 250) + "." + (nextGateway++ % 250 + 1)));
                if (!spec.containsKey("addresses")) {
                    spec.put("addresses", List.of(Map.of("type", "IPAddress", "value", ip.getHostAddress())));
                }
                gateways.put(key, d);
            } else if ("Service".equals(d.get("kind"))) {
                final Map<String, Object> spec = (Map<String, Object>) d.get("spec");
                final Map<String, Object> selector = (Map<String, Object>) spec.get("selector");
                if (selector != null && !selector.isEmpty()) {
                    out.add(endpointSlice(ns, name, spec, selector, pods));
                }
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> endpointSlice(String ns, String svc, Map<String, Object> spec,
                                                     Map<String, Object> selector, List<Pod> pods) {
        final List<Pod> selected = pods.stream().filter(p -> p.namespace().equals(ns) && selector.entrySet()
                .stream().allMatch(e -> String.valueOf(e.getValue()).equals(p.labels().get(e.getKey())))).toList();
        final List<Object> endpoints = new ArrayList<>();
        for (Pod p : selected) {
            endpoints.add(Map.of("addresses", List.of(p.ip().getHostAddress()),
                    "conditions", Map.of("ready", true), "targetRef", Map.of("kind", "Pod", "name", p.name())));
        }
        final List<Object> ports = new ArrayList<>();
        for (Map<String, Object> sp : (List<Map<String, Object>>) spec.getOrDefault("ports", List.of())) {
            final Object target = sp.getOrDefault("targetPort", sp.get("port"));
            int port;
            if (target instanceof Number n) {
                port = n.intValue();
            } else {
                port = selected.isEmpty() ? 0 : selected.getFirst().namedPorts().getOrDefault(String.valueOf(target), 0);
            }
            final Map<String, Object> ep = new LinkedHashMap<>();
            ep.put("name", String.valueOf(sp.getOrDefault("name", "")));
            ep.put("port", port);
            ep.put("protocol", String.valueOf(sp.getOrDefault("protocol", "TCP")));
            if (sp.get("appProtocol") != null) {
                ep.put("appProtocol", sp.get("appProtocol"));
            }
            ports.add(ep);
        }
        final Map<String, Object> slice = new LinkedHashMap<>();
        slice.put("apiVersion", "discovery.k8s.io/v1");
        slice.put("kind", "EndpointSlice");
        slice.put("metadata", Map.of("name", svc + "-harness", "namespace", ns,
                "labels", Map.of("kubernetes.io/service-name", svc)));
        slice.put("addressType", "IPv4");
        slice.put("endpoints", endpoints);
        slice.put("ports", ports);
        return slice;
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> parse(String yaml) {
        final List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(yaml)) {
            if (o instanceof Map<?, ?> m) {
                out.add((Map<String, Object>) m);
            }
        }
        return out;
    }

    private static String dump(List<Map<String, Object>> docs) {
        final DumperOptions o = new DumperOptions();
        o.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        final Yaml y = new Yaml(new Representer(o), o);
        return y.dumpAll(docs.iterator());
    }

    private void write(String name, String text) throws IOException {
        final Path tmp = dir.resolve("." + name + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void closeAll(List<AutoCloseable> servers) {
        for (AutoCloseable c : servers) {
            try {
                c.close();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "closing an echo server: " + e);
            }
        }
    }

    @Override
    public void close() throws Exception {
        loader.close();
        server.close();
        for (Pod p : basePods) {
            closeAll(p.servers());
        }
        for (Pod p : testPods) {
            closeAll(p.servers());
        }
        echoGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        LOG.log(System.Logger.Level.DEBUG, "conformance environment closed");
    }
}
