package dev.postern.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.ConfigSource;
import dev.postern.proxy.server.PosternServer;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kubernetes mode end to end: the fabric8 mock API server in CRUD mode (a real HTTP server with watches), a real
 * Postern fed by {@link KubernetesSource}, real echo backends on loopback, and curl. Every scenario is checked by
 * requests through Postern and by reading the status back from the API server (issue 7, "Done when").
 */
class KubernetesModeTest {
    private static final String CONTROLLER = ConfigPipeline.Settings.DEFAULT_CONTROLLER;

    private final EventLoopGroup echoGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final List<AutoCloseable> closeLast = new ArrayList<>();
    private KubernetesCrudDispatcher dispatcher;
    private KubernetesMockServer api;
    private KubernetesClient client;
    private EchoServer echoA;
    private EchoServer echoB;
    private PosternServer postern;
    private KubernetesSource source;
    private int port;

    @BeforeEach
    void setUp() throws Exception {
        dispatcher = new KubernetesCrudDispatcher();
        api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        api.init(InetAddress.getLoopbackAddress(), 0);
        client = api.createClient();
        echoA = echo("echo-a");
        echoB = echo("echo-b");
        port = freePort();
        final ConfigRef ref = new ConfigRef();
        postern = PosternServer.start(Bootstrap.defaults().withAdminPort(0), ref);
        source = startReplica(ref, "replica-1");
    }

    private KubernetesSource startReplica(ConfigRef ref, String identity) throws Exception {
        final ConfigSource.Options o = new ConfigSource.Options(Map.of(),
                new ConfigPipeline.Settings(CONTROLLER, "127.0.0.1"), ref, b -> { });
        final KubernetesSource.Tuning t = new KubernetesSource.Tuning(Duration.ofMillis(10), "default",
                "postern-status", identity, Duration.ofMillis(2000), Duration.ofMillis(1500),
                Duration.ofMillis(250), Duration.ofSeconds(20), "default/postern-lb");
        return KubernetesSource.start(api.createClient(), o, t);
    }

    @AfterEach
    void tearDown() throws Exception {
        source.close();
        postern.close();
        for (AutoCloseable c : closeLast) {
            c.close();
        }
        echoA.close();
        echoB.close();
        client.close();
        api.destroy();
        echoGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    // -------------------------------------------------------------------------------------------------------------

    @Test
    void createServesTrafficAndWritesStatus() throws Exception {
        createBaseObjects();
        await("traffic through Postern to echo-a", () -> get("/").contains("echo-a"));
        await("status written", () -> routeParentCondition("web", "Accepted") != null);
        final Map<String, Object> accepted = routeParentCondition("web", "Accepted");
        assertEquals("True", accepted.get("status"));
        assertEquals(1, ((Number) accepted.get("observedGeneration")).intValue());
        assertNotNull(accepted.get("lastTransitionTime"));
        assertEquals("True", condition(statusOf(WatchedKind.gatewayApi("GatewayClass"), null, "postern"),
                "Accepted").get("status"));
        final Map<String, Object> gcStatus = statusOf(WatchedKind.gatewayApi("GatewayClass"), null, "postern");
        assertTrue(String.valueOf(gcStatus.get("supportedFeatures")).contains("HTTPRoute"), gcStatus.toString());
        final Map<String, Object> gw = statusOf(WatchedKind.gatewayApi("Gateway"), "default", "gw");
        assertEquals("True", condition(gw, "Programmed").get("status"), gw.toString());
        assertEquals("True", condition(gw, "Accepted").get("status"), gw.toString());
        assertTrue(String.valueOf(gw.get("addresses")).contains("127.0.0.1"), gw.toString());

        // Nothing changed: nothing is written. A Service label change rebuilds but computes the same status.
        await("status settles", () -> quiet(source));
        final long patches = source.statusPatches();
        client.services().inNamespace("default").withName("svc-a")
                .edit(s -> { s.getMetadata().setLabels(Map.of("touched", "yes")); return s; });
        Thread.sleep(500);
        assertEquals(patches, source.statusPatches(), "no status patch when nothing changed");
        // The pod IP was not changed, so a second look at the route status keeps its transition time.
        assertEquals(accepted.get("lastTransitionTime"),
                routeParentCondition("web", "Accepted").get("lastTransitionTime"));
    }

    @Test
    void gatewayWithoutAddressesReportsTheLoadBalancer() throws Exception {
        createBaseObjects();
        client.resource("""
                apiVersion: v1
                kind: Service
                metadata: {name: postern-lb, namespace: default}
                spec: {type: LoadBalancer, ports: [{name: http, port: 80}]}
                status: {loadBalancer: {ingress: [{hostname: postern-nlb.elb.example.com}]}}
                """).create();
        createGeneric("Gateway", "default", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: gw-lb, namespace: default}
                spec:
                  gatewayClassName: postern
                  listeners: [{name: http, protocol: HTTP, port: %d}]
                """.formatted(freePort()));
        await(() -> "gw-lb reports the NLB: " + statusOf(WatchedKind.gatewayApi("Gateway"), "default", "gw-lb"),
                () -> String.valueOf(statusOf(WatchedKind.gatewayApi("Gateway"), "default", "gw-lb")
                        .get("addresses")).equals("[{type=Hostname, value=postern-nlb.elb.example.com}]"));
        // A Gateway with spec.addresses keeps its own.
        assertTrue(String.valueOf(statusOf(WatchedKind.gatewayApi("Gateway"), "default", "gw").get("addresses"))
                .contains("127.0.0.1"));
    }

    @Test
    void httpsListenerServesTheReferencedSecret(@TempDir Path tmp) throws Exception {
        createBaseObjects();
        final X509Bundle cert = new CertificateBuilder().rsa2048().subject("CN=tls.example.com")
                .notBefore(Instant.now().minus(1, ChronoUnit.DAYS)).notAfter(Instant.now().plus(1, ChronoUnit.DAYS))
                .setIsCertificateAuthority(true)
                .addExtensionOctetString("2.5.29.17", false, new GeneralNames(new GeneralName(GeneralName.dNSName,
                        "tls.example.com")).getEncoded())
                .buildSelfSigned();
        for (String name : List.of("site-cert", "unrelated-cert")) {
            client.resource("""
                    apiVersion: v1
                    kind: Secret
                    metadata: {name: %s, namespace: default}
                    type: kubernetes.io/tls
                    data: {tls.crt: %s, tls.key: %s}
                    """.formatted(name, b64(cert.getCertificatePEM()), b64(cert.getPrivateKeyPEM()))).create();
        }
        final int tlsPort = freePort();
        createGeneric("Gateway", "default", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: gw-tls, namespace: default}
                spec:
                  gatewayClassName: postern
                  addresses: [{type: IPAddress, value: 127.0.0.1}]
                  listeners:
                  - name: https
                    protocol: HTTPS
                    port: %d
                    hostname: tls.example.com
                    tls: {mode: Terminate, certificateRefs: [{name: site-cert}]}
                """.formatted(tlsPort));
        client.genericKubernetesResources(WatchedKind.gatewayApi("HTTPRoute").context()).inNamespace("default")
                .resource(client.getKubernetesSerialization().unmarshal("""
                        apiVersion: gateway.networking.k8s.io/v1
                        kind: HTTPRoute
                        metadata: {name: web-tls, namespace: default}
                        spec:
                          parentRefs: [{name: gw-tls}]
                          rules: [{backendRefs: [{name: svc-a, port: 80}]}]
                        """, GenericKubernetesResource.class)).create();
        final Path ca = tmp.resolve("ca.pem");
        Files.writeString(ca, cert.getCertificatePEM());
        final String url = "https://tls.example.com:" + tlsPort + "/";
        await("HTTPS with the Secret's certificate", () -> curl(url, "--cacert", ca.toString(), "--resolve",
                "tls.example.com:" + tlsPort + ":127.0.0.1").contains("echo-a"));
        final Map<String, Object> gw = statusOf(WatchedKind.gatewayApi("Gateway"), "default", "gw-tls");
        assertTrue(gw.toString().contains("ResolvedRefs, status=True"), gw.toString());
        // Only the Secret a served Gateway references reaches the pipeline (docs/decisions.md).
        assertTrue(source.lastInput().contains("Secret/default/site-cert"), source.lastInput().toString());
        assertFalse(source.lastInput().contains("Secret/default/unrelated-cert"), source.lastInput().toString());
    }

    @Test
    void listenerSetIsWatchedServedAndGetsStatus(@TempDir Path tmp) throws Exception {
        createBaseObjects();
        final int gwPort = freePort();
        final int setPort = freePort();
        final int tlsPort = freePort();
        final X509Bundle cert = new CertificateBuilder().rsa2048().subject("CN=set.example.com")
                .notBefore(Instant.now().minus(1, ChronoUnit.DAYS)).notAfter(Instant.now().plus(1, ChronoUnit.DAYS))
                .setIsCertificateAuthority(true)
                .addExtensionOctetString("2.5.29.17", false, new GeneralNames(new GeneralName(GeneralName.dNSName,
                        "set.example.com")).getEncoded())
                .buildSelfSigned();
        // The Secret a ListenerSet listener references (in the set's namespace) must reach the pipeline.
        client.resource("""
                apiVersion: v1
                kind: Secret
                metadata: {name: set-cert, namespace: default}
                type: kubernetes.io/tls
                data: {tls.crt: %s, tls.key: %s}
                """.formatted(b64(cert.getCertificatePEM()), b64(cert.getPrivateKeyPEM()))).create();
        createGeneric("Gateway", "default", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: gw-ls, namespace: default}
                spec:
                  gatewayClassName: postern
                  addresses: [{type: IPAddress, value: 127.0.0.1}]
                  allowedListeners: {namespaces: {from: Same}}
                  listeners: [{name: http, protocol: HTTP, port: %d}]
                """.formatted(gwPort));
        createGeneric("ListenerSet", "default", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: ListenerSet
                metadata: {name: team, namespace: default}
                spec:
                  parentRef: {name: gw-ls}
                  listeners:
                  - {name: extra, protocol: HTTP, port: %d}
                  - name: secure
                    protocol: HTTPS
                    port: %d
                    hostname: set.example.com
                    tls: {certificateRefs: [{name: set-cert}]}
                """.formatted(setPort, tlsPort));
        createGeneric("HTTPRoute", "default", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: web-ls, namespace: default}
                spec:
                  parentRefs: [{kind: ListenerSet, name: team}]
                  rules: [{backendRefs: [{name: svc-b, port: 80}]}]
                """);
        await("traffic on the ListenerSet's port", () -> curl("http://127.0.0.1:" + setPort + "/")
                .contains("echo-b"));
        final WatchedKind ls = WatchedKind.gatewayApi("ListenerSet");
        // Status is written after the publish that serves the route: wait for the route to be counted on both
        // listeners of the set (it has no sectionName and no hostnames).
        await(() -> "ListenerSet status: " + statusOf(ls, "default", "team"), () -> String.valueOf(
                statusOf(ls, "default", "team").get("listeners")).split("attachedRoutes=1", -1).length == 3);
        assertEquals("True", condition(statusOf(ls, "default", "team"), "Accepted").get("status"));
        assertEquals("True", condition(statusOf(ls, "default", "team"), "Programmed").get("status"));
        await(() -> "attachedListenerSets: " + statusOf(WatchedKind.gatewayApi("Gateway"), "default", "gw-ls"),
                () -> Integer.valueOf(1).equals(statusOf(WatchedKind.gatewayApi("Gateway"), "default", "gw-ls")
                        .get("attachedListenerSets")));
        // A Gateway parentRef does not reach the set's port: the Gateway's own port has no route.
        assertTrue(curl("http://127.0.0.1:" + gwPort + "/").startsWith("404"));
        final Path ca = tmp.resolve("ca.pem");
        Files.writeString(ca, cert.getCertificatePEM());
        await("HTTPS on the ListenerSet's listener with its Secret", () -> curl("https://set.example.com:" + tlsPort
                + "/", "--cacert", ca.toString(), "--resolve", "set.example.com:" + tlsPort + ":127.0.0.1")
                .contains("echo-b"));
        assertTrue(source.lastInput().contains("Secret/default/set-cert"), source.lastInput().toString());
    }

    private static String b64(String pem) {
        return Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII));
    }

    @Test
    void updateRouteChangesTrafficAndObservedGeneration() throws Exception {
        createBaseObjects();
        await("echo-a served", () -> get("/").contains("echo-a"));
        final WatchedKind hr = WatchedKind.gatewayApi("HTTPRoute");
        setBackend(client, "svc-b");
        await(() -> "traffic moves to echo-b: " + client.genericKubernetesResources(hr.context())
                .inNamespace("default").withName("web").get() + " / " + safeGet("/"),
                () -> get("/").contains("echo-b"));
        final long gen = client.genericKubernetesResources(hr.context()).inNamespace("default").withName("web")
                .get().getMetadata().getGeneration();
        assertTrue(gen > 1, "the mock bumps generation on spec changes: " + gen);
        await(() -> "observedGeneration follows " + gen + ": " + statusOf(hr, "default", "web"), () -> {
            final Map<String, Object> c = routeParentCondition("web", "Accepted");
            return c != null && ((Number) c.get("observedGeneration")).longValue() == gen;
        });
    }

    @Test
    void deleteRouteRemovesIt() throws Exception {
        createBaseObjects();
        await("served", () -> get("/").contains("echo-a"));
        client.genericKubernetesResources(WatchedKind.gatewayApi("HTTPRoute").context()).inNamespace("default")
                .withName("web").delete();
        await("route gone: 404", () -> get("/").startsWith("404"));
    }

    @Test
    void endpointsScaledToZeroAnswer503AtOnce() throws Exception {
        createBaseObjects();
        await("served", () -> get("/").contains("echo-a"));
        client.discovery().v1().endpointSlices().inNamespace("default").withName("svc-a-1").edit(s -> {
            s.setEndpoints(List.of());
            return s;
        });
        final long t0 = System.nanoTime();
        await("503 with no endpoints", () -> get("/").startsWith("503"));
        final long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("endpoint removal to 503: " + ms + " ms");
        assertTrue(ms < 2000, "took " + ms + " ms");
        // The backend still runs: a 503 means Postern stopped using the gone endpoint, not a failed connect.
        final String direct = curl("http://127.0.0.1:" + echoA.address().getPort() + "/");
        assertTrue(direct.startsWith("200"), direct);
        // And back.
        client.resource(slice("svc-a", 1, echoA.address().getPort())).update();
        await("served again", () -> get("/").contains("echo-a"));
    }

    @Test
    void droppedWatchConnectionRecovers() throws Exception {
        createBaseObjects();
        await("served", () -> get("/").contains("echo-a"));
        final int apiPort = api.getPort();
        api.destroy(); // every watch connection drops
        Thread.sleep(300);
        final KubernetesMockServer again = new KubernetesMockServer(new Context(), new MockWebServer(),
                new HashMap<>(), dispatcher, false); // same stored objects, new connections
        again.init(InetAddress.getLoopbackAddress(), apiPort);
        closeLast.add(again::destroy);
        // A change made after the reconnect reaches the data plane.
        final KubernetesClient c2 = again.createClient();
        closeLast.add(c2);
        setBackend(c2, "svc-b");
        await("traffic moves to echo-b after the watch reconnects", () -> get("/").contains("echo-b"));
        assertTrue(get("/").contains("echo-b"));
    }

    @Test
    void secondReplicaDoesNotWriteStatusUntilItLeads() throws Exception {
        createBaseObjects();
        await("replica 1 leads and writes", () -> source.isLeader() && routeParentCondition("web", "Accepted")
                != null);
        final ConfigRef ref2 = new ConfigRef();
        final KubernetesSource replica2 = startReplica(ref2, "replica-2");
        closeLast.add(replica2);
        await("replica 2 builds the same config", () -> ref2.isPublished()
                && !ref2.snapshot().statuses().isEmpty());
        // A change that needs new status: replica 1 writes it, replica 2 does not.
        final WatchedKind hr = WatchedKind.gatewayApi("HTTPRoute");
        setBackend(client, "svc-b");
        await("replica 1 writes observedGeneration 2", () -> {
            final Map<String, Object> c = routeParentCondition("web", "Accepted");
            return c != null && ((Number) c.get("observedGeneration")).longValue() == 2;
        });
        Thread.sleep(500);
        assertFalse(replica2.isLeader());
        assertEquals(0, replica2.statusPatches(), "a replica that does not hold the Lease writes nothing");

        // Replica 1 goes away (releasing the Lease); replica 2 takes over and writes the next change.
        source.close();
        await("replica 2 leads", () -> replica2.isLeader());
        setBackend(client, "svc-a");
        await("replica 2 writes observedGeneration 3", () -> {
            final Map<String, Object> c = routeParentCondition("web", "Accepted");
            return c != null && ((Number) c.get("observedGeneration")).longValue() == 3;
        });
        // The counter moves after the API server answered the write the await above saw: wait for it too.
        await("replica 2 counted its status write", () -> replica2.statusPatches() > 0);
    }

    // -------------------------------------------------------------------------------------------------------------
    // Objects

    private void createBaseObjects() {
        createGeneric("GatewayClass", null, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: postern}
                spec: {controllerName: %s}
                """.formatted(CONTROLLER));
        createGeneric("GatewayClass", null, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: someone-else}
                spec: {controllerName: example.com/other}
                """);
        createGeneric("Gateway", "default", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: default}
                spec:
                  gatewayClassName: postern
                  addresses: [{type: IPAddress, value: 127.0.0.1}]
                  listeners: [{name: http, protocol: HTTP, port: %d}]
                """.formatted(port));
        for (String svc : List.of("svc-a", "svc-b")) {
            client.resource("""
                    apiVersion: v1
                    kind: Service
                    metadata: {name: %s, namespace: default}
                    spec: {ports: [{name: http, port: 80}]}
                    """.formatted(svc)).create();
        }
        client.resource(slice("svc-a", 1, echoA.address().getPort())).create();
        client.resource(slice("svc-b", 1, echoB.address().getPort())).create();
        client.genericKubernetesResources(WatchedKind.gatewayApi("HTTPRoute").context()).inNamespace("default")
                .resource(route("svc-a")).create();
    }

    private static String slice(String svc, int endpoints, int port) {
        return """
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: %s-1, namespace: default, labels: {kubernetes.io/service-name: %s}}
                addressType: IPv4
                endpoints: %s
                ports: [{name: http, port: %d}]
                """.formatted(svc, svc, endpoints == 0 ? "[]" : "[{addresses: [127.0.0.1]}]", port);
    }

    private GenericKubernetesResource route(String backend) {
        return client.getKubernetesSerialization().unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: web, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: %s, port: 80}]}]
                """.formatted(backend), GenericKubernetesResource.class);
    }

    /** Points the route at another Service with a JSON patch (no resourceVersion: never a 409). */
    private static void setBackend(KubernetesClient c, String backend) {
        c.genericKubernetesResources(WatchedKind.gatewayApi("HTTPRoute").context()).inNamespace("default")
                .withName("web").patch(PatchContext.of(PatchType.JSON),
                        "[{\"op\":\"replace\",\"path\":\"/spec/rules\",\"value\":[{\"backendRefs\":[{\"name\":\""
                                + backend + "\",\"port\":80}]}]}]");
    }

    private void createGeneric(String kind, String ns, String yaml) {
        final GenericKubernetesResource r = client.getKubernetesSerialization().unmarshal(yaml,
                GenericKubernetesResource.class);
        final var op = client.genericKubernetesResources(WatchedKind.gatewayApi(kind).context());
        if (ns == null) {
            op.resource(r).create();
        } else {
            op.inNamespace(ns).resource(r).create();
        }
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> statusOf(WatchedKind kind, String ns, String name) {
        final var op = client.genericKubernetesResources(kind.context());
        final GenericKubernetesResource r = ns == null ? op.withName(name).get() : op.inNamespace(ns)
                .withName(name).get();
        final Object s = r == null ? null : r.getAdditionalProperties().get("status");
        return s instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> condition(Map<String, Object> status, String type) {
        if (status.get("conditions") instanceof List<?> cs) {
            for (Object c : cs) {
                if (c instanceof Map<?, ?> m && type.equals(m.get("type"))) {
                    return (Map<String, Object>) m;
                }
            }
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> routeParentCondition(String route, String type) {
        final Map<String, Object> s = statusOf(WatchedKind.gatewayApi("HTTPRoute"), "default", route);
        if (s.get("parents") instanceof List<?> ps) {
            for (Object p : ps) {
                if (p instanceof Map<?, ?> m && CONTROLLER.equals(m.get("controllerName"))) {
                    return condition((Map<String, Object>) m, type);
                }
            }
        }
        return null;
    }

    private static boolean quiet(KubernetesSource s) throws InterruptedException {
        final long before = s.statusPatches();
        Thread.sleep(300);
        return s.statusPatches() == before;
    }

    // -------------------------------------------------------------------------------------------------------------
    // Plumbing

    private EchoServer echo(String pod) throws InterruptedException {
        return EchoServer.start(echoGroup, NioServerSocketChannel.class, new InetSocketAddress("127.0.0.1", 0),
                new EchoServer.Identity("default", pod, "", "", "3000"));
    }

    /** A free port below the kernel's ephemeral range, so that no port-0 bind (the admin socket) can take it. */
    private static int freePort() throws IOException {
        final java.util.concurrent.ThreadLocalRandom rnd = java.util.concurrent.ThreadLocalRandom.current();
        for (int i = 0; i < 1000; i++) {
            try (ServerSocket s = new ServerSocket(20_000 + rnd.nextInt(12_000), 1, InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            } catch (IOException inUse) {
                // try another
            }
        }
        throw new IOException("no free port in 20000-31999");
    }

    private String safeGet(String path) {
        try {
            return get(path);
        } catch (Exception e) {
            return e.toString();
        }
    }

    /** "CODE\nBODY" from curl through Postern. */
    private String get(String path) throws IOException, InterruptedException {
        return curl("http://127.0.0.1:" + port + path);
    }

    private static String curl(String url, String... extra) throws IOException, InterruptedException {
        final List<String> cmd = new ArrayList<>(List.of("curl", "-s", "-m", "5", "-o", "/dev/stderr", "-w",
                "%{http_code}\n"));
        cmd.addAll(List.of(extra));
        cmd.add(url);
        final Process p = new ProcessBuilder(cmd).start();
        final String code = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        final String body = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(10, TimeUnit.SECONDS);
        return code + "\n" + body;
    }

    private interface Check {
        boolean ok() throws Exception;
    }

    private static void await(String what, Check c) throws Exception {
        await(() -> what, c);
    }

    private static void await(java.util.function.Supplier<String> what, Check c) throws Exception {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                if (c.ok()) {
                    return;
                }
            } catch (Exception e) {
                last = e;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("timed out waiting for: " + what.get(), last);
    }
}
