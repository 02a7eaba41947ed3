package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.pkitesting.X509Bundle;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Client certificates (Gateway spec.tls.frontend), BackendTLSPolicy, certificate rotation under a running client,
 * session resumption with rotated ticket keys, and the TLS metrics; real curl, openssl s_client and python ssl.
 */
class TlsEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static EchoServer echo;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("tls-e2e-1");
    }

    @AfterAll
    static void stop() {
        echo.close();
    }

    private static String route(String host) {
        return """
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [%s]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """.formatted(host) + TestGateway.service("svc", echo.address().getPort());
    }

    /** Runs a command and returns its exit code and combined output (never fails on a non-zero exit). */
    private static Result exec(String... cmd) throws Exception {
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", cmd) + " timed out");
        return new Result(p.exitValue(), out);
    }

    private record Result(int code, String out) {
    }

    private static String admin(TestGateway gw, String path) throws Exception {
        return TestGateway.run("curl", "-sS", "http://127.0.0.1:" + gw.server.adminAddress().getPort() + path);
    }

    /** The value of a Prometheus sample whose line starts with {@code prefix}, or 0. */
    private static double metric(String scrape, String prefix) {
        for (String line : scrape.split("\n")) {
            if (line.startsWith(prefix)) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }

    /** The status object of a resource in /status. */
    private static JsonNode status(TestGateway gw, String kind, String name) throws Exception {
        for (JsonNode n : JSON.readTree(admin(gw, "/status"))) {
            if (n.get("kind").asText().equals(kind) && n.get("metadata").get("name").asText().equals(name)) {
                return n.get("status");
            }
        }
        throw new AssertionError("no status for " + kind + " " + name);
    }

    private static JsonNode condition(JsonNode conditions, String type) {
        for (JsonNode c : conditions) {
            if (c.get("type").asText().equals(type)) {
                return c;
            }
        }
        return null;
    }

    // Gateway API GEP-91, spec.tls.frontend: AllowValidOnly rejects clients without a certificate from the
    // ConfigMap's CA; AllowInsecureFallback (per port) lets them in; the Gateway says it is insecure.
    @Test
    void validatesClientCertificatesPerPort(@TempDir Path dir) throws Exception {
        final X509Bundle server = TestCerts.selfSigned("mtls.test");
        final X509Bundle clientCa = TestCerts.ca("client-ca");
        final X509Bundle otherCa = TestCerts.ca("other-ca");
        final Path[] good = TestCerts.identityFiles(dir, "good", TestCerts.issued(clientCa, "client.mtls.test"));
        final Path[] bad = TestCerts.identityFiles(dir, "bad", TestCerts.issued(otherCa, "client.mtls.test"));
        final Path serverCa = TestCerts.pemFile(Files.createTempDirectory("ca"), "server.pem", server);
        final int strict = TestGateway.freePort();
        final int lax = TestGateway.freePort();
        final String config = TestGateway.GATEWAY_HEAD + """
                  tls:
                    frontend:
                      default:
                        validation:
                          caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]
                      perPort:
                      - port: %2$d
                        tls:
                          validation:
                            mode: AllowInsecureFallback
                            caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]
                  listeners:
                  - {name: strict, protocol: HTTPS, port: %1$d, tls: {certificateRefs: [{name: cert}]}}
                  - {name: lax, protocol: HTTPS, port: %2$d, tls: {certificateRefs: [{name: cert}]}}
                """.formatted(strict, lax) + route("mtls.test") + TestCerts.secret("default", "cert", server);
        Files.writeString(dir.resolve("all.yaml"), config + TestCerts.caConfigMap("default", "client-ca", clientCa));
        try (TestGateway gw = TestGateway.startRaw(dir, strict)) {
            final String resolve = "mtls.test:" + strict + ":127.0.0.1";
            final String url = "https://mtls.test:" + strict + "/m";
            // A certificate from the configured CA: accepted, over HTTP/2 and HTTP/1.1.
            for (String proto : List.of("--http2", "--http1.1")) {
                assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", proto, "--cacert",
                        serverCa.toString(), "--cert", good[0].toString(), "--key", good[1].toString(),
                        "--resolve", resolve, "-o", "/dev/null", "-w", "%{http_code}", url));
            }
            // A certificate from another CA, and none at all: the handshake fails, no response.
            final Result wrong = exec("curl", "-sS", "--max-time", "10", "--cacert", serverCa.toString(), "--cert",
                    bad[0].toString(), "--key", bad[1].toString(), "--resolve", resolve, "-w", "%{http_code}", url);
            assertNotEquals(0, wrong.code(), wrong.out());
            final Result none = exec("curl", "-sS", "--max-time", "10", "--cacert", serverCa.toString(),
                    "--resolve", resolve, "-w", "%{http_code}", url);
            assertNotEquals(0, none.code(), none.out());
            // openssl sees the server refuse the certificate it sent.
            final Result ossl = exec("sh", "-c", "printf 'GET / HTTP/1.1\\r\\nHost: mtls.test\\r\\n\\r\\n' | "
                    + "openssl s_client -connect 127.0.0.1:" + strict + " -servername mtls.test -cert " + bad[0]
                    + " -key " + bad[1] + " -ign_eof");
            assertFalse(ossl.out().contains("HTTP/1.1 200"), ossl.out());
            // The per-port AllowInsecureFallback: no certificate, or a foreign one, still gets through.
            final String laxResolve = "mtls.test:" + lax + ":127.0.0.1";
            final String laxUrl = "https://mtls.test:" + lax + "/m";
            assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", "--cacert", serverCa.toString(),
                    "--resolve", laxResolve, "-o", "/dev/null", "-w", "%{http_code}", laxUrl));
            assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", "--cacert", serverCa.toString(),
                    "--cert", bad[0].toString(), "--key", bad[1].toString(), "--resolve", laxResolve, "-o",
                    "/dev/null", "-w", "%{http_code}", laxUrl));
            final JsonNode gws = status(gw, "Gateway", "gw");
            assertEquals("True", condition(gws.get("conditions"), "InsecureFrontendValidationMode")
                    .get("status").asText());
            final String m = admin(gw, "/stats/prometheus");
            assertTrue(metric(m, "gateway_downstream_tls_handshake_errors_total{reason=\"bad_client_certificate\"}")
                    >= 2, m);
            assertTrue(metric(m, "gateway_downstream_tls_handshake_errors_total{reason=\"no_client_certificate\"}")
                    >= 1, m);
            assertTrue(metric(m, "gateway_downstream_tls_handshakes_total{session=\"full\"}") >= 4, m);
            // Rotation of the CA bundle: the next handshakes trust the new CA only.
            final long v = gw.ref.table().version();
            Files.writeString(dir.resolve("all.yaml"), config + TestCerts.caConfigMap("default", "client-ca",
                    otherCa));
            ProxyEndToEndTest.awaitVersionAbove(gw, v);
            assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", "--cacert", serverCa.toString(),
                    "--cert", bad[0].toString(), "--key", bad[1].toString(), "--resolve", resolve, "-o", "/dev/null",
                    "-w", "%{http_code}", url));
            final Result old = exec("curl", "-sS", "--max-time", "10", "--cacert", serverCa.toString(), "--cert",
                    good[0].toString(), "--key", good[1].toString(), "--resolve", resolve, "-w", "%{http_code}", url);
            assertNotEquals(0, old.code(), old.out());
        }
    }

    // Issue 12: when BoringSSL is unavailable Postern falls back to the JDK provider (forced here); TLS, ALPN and
    // client certificates work the same.
    @Test
    void fallsBackToTheJdkProvider(@TempDir Path dir) throws Exception {
        final X509Bundle server = TestCerts.selfSigned("jdk.test");
        final X509Bundle clientCa = TestCerts.ca("client-ca");
        final Path[] good = TestCerts.identityFiles(dir, "good", TestCerts.issued(clientCa, "client.jdk.test"));
        final Path serverCa = TestCerts.pemFile(Files.createTempDirectory("ca"), "server.pem", server);
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), TestGateway.GATEWAY_HEAD + """
                  tls:
                    frontend:
                      default:
                        validation:
                          caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]
                  listeners:
                  - {name: https, protocol: HTTPS, port: %d, tls: {certificateRefs: [{name: cert}]}}
                """.formatted(port) + route("jdk.test") + TestCerts.secret("default", "cert", server)
                + TestCerts.caConfigMap("default", "client-ca", clientCa));
        System.setProperty("postern.tls.forceJdk", "true");
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            assertEquals(io.netty.handler.ssl.SslProvider.JDK, gw.server.context().serverTls().provider());
            final String resolve = "jdk.test:" + port + ":127.0.0.1";
            for (String proto : List.of("--http2", "--http1.1")) {
                assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", proto, "--cacert",
                        serverCa.toString(), "--cert", good[0].toString(), "--key", good[1].toString(),
                        "--resolve", resolve, "-o", "/dev/null", "-w", "%{http_code}", "https://jdk.test:" + port
                                + "/"));
            }
            final Result none = exec("curl", "-sS", "--max-time", "10", "--cacert", serverCa.toString(),
                    "--resolve", resolve, "https://jdk.test:" + port + "/");
            assertNotEquals(0, none.code(), none.out());
        } finally {
            System.clearProperty("postern.tls.forceJdk");
        }
    }

    // The spec: a caCertificateRef that cannot be resolved makes the listener ResolvedRefs=False; when none
    // resolves, Accepted=False with NoValidCACertificate, and the listener does not serve.
    @Test
    void unresolvableClientCaStopsOnlyThatListener(@TempDir Path dir) throws Exception {
        final X509Bundle server = TestCerts.selfSigned("mtls.test");
        final int https = TestGateway.freePort();
        final int http = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), TestGateway.GATEWAY_HEAD + """
                  tls:
                    frontend:
                      default:
                        validation:
                          caCertificateRefs: [{group: "", kind: ConfigMap, name: does-not-exist}]
                  listeners:
                  - {name: https, protocol: HTTPS, port: %1$d, tls: {certificateRefs: [{name: cert}]}}
                  - {name: http, protocol: HTTP, port: %2$d}
                """.formatted(https, http) + route("mtls.test") + TestCerts.secret("default", "cert", server));
        try (TestGateway gw = TestGateway.startRaw(dir, http)) {
            assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                    "%{http_code}", "-H", "Host: mtls.test", "http://127.0.0.1:" + http + "/"));
            final Result r = exec("curl", "-sS", "--max-time", "5", "-k", "--resolve", "mtls.test:" + https
                    + ":127.0.0.1", "https://mtls.test:" + https + "/");
            assertNotEquals(0, r.code(), r.out());
            for (JsonNode l : status(gw, "Gateway", "gw").get("listeners")) {
                if (l.get("name").asText().equals("https")) {
                    assertEquals("InvalidCACertificateRef", condition(l.get("conditions"), "ResolvedRefs")
                            .get("reason").asText());
                    assertEquals("NoValidCACertificate", condition(l.get("conditions"), "Accepted")
                            .get("reason").asText());
                    assertEquals("False", condition(l.get("conditions"), "Programmed").get("status").asText());
                }
            }
        }
    }

    // BackendTLSPolicy: TLS to the pod with the policy hostname as SNI, verified against the CA ConfigMap and the
    // subject alt names; failures answer 502 with flag UTLS; the pool never shares connections across policies.
    @Test
    void originatesTlsToBackendsPerPolicy(@TempDir Path dir) throws Exception {
        final X509Bundle backendCa = TestCerts.ca("backend-ca");
        final X509Bundle otherCa = TestCerts.ca("other-ca");
        final X509Bundle backendCert = TestCerts.issued(backendCa, "abc.example.com",
                "uri:spiffe://abc.example.com/test-identity");
        final EventLoopGroup g = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        final EchoServer tlsEcho = EchoServer.start(g, NioServerSocketChannel.class,
                new InetSocketAddress("127.0.0.1", 0), new EchoServer.Identity("default", "tls-backend-1", "", "",
                        "8443"), u -> { }, SslContextBuilder.forServer(backendCert.getKeyPair().getPrivate(),
                        backendCert.getCertificatePath()).build());
        final int port = TestGateway.freePort();
        final StringBuilder yaml = new StringBuilder(TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: http, protocol: HTTP, port: %d}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules:
                """.formatted(port));
        final String[][] cases = {
            {"ok", "caCertificateRefs: [{group: \"\", kind: ConfigMap, name: backend-ca}]"},
            {"wrong-ca", "caCertificateRefs: [{group: \"\", kind: ConfigMap, name: other-ca}]"},
            {"wrong-san", "caCertificateRefs: [{group: \"\", kind: ConfigMap, name: backend-ca}]\n"
                    + "    subjectAltNames: [{type: Hostname, hostname: other.example.com}]"},
            {"san-uri", "caCertificateRefs: [{group: \"\", kind: ConfigMap, name: backend-ca}]\n"
                    + "    subjectAltNames: [{type: URI, uri: \"spiffe://abc.example.com/test-identity\"}]"},
            {"no-ca", "caCertificateRefs: [{group: \"\", kind: ConfigMap, name: missing}]"},
        };
        for (String[] c : cases) {
            yaml.append("  - matches: [{path: {type: Exact, value: /").append(c[0]).append("}}]\n")
                    .append("    backendRefs: [{name: svc-").append(c[0]).append(", port: 443}]\n");
        }
        for (String[] c : cases) {
            yaml.append("""
                    ---
                    apiVersion: v1
                    kind: Service
                    metadata: {name: svc-%1$s, namespace: default}
                    spec: {ports: [{name: https, port: 443}]}
                    ---
                    apiVersion: discovery.k8s.io/v1
                    kind: EndpointSlice
                    metadata: {name: svc-%1$s-1, namespace: default, labels: {kubernetes.io/service-name: svc-%1$s}}
                    addressType: IPv4
                    endpoints: [{addresses: [127.0.0.1]}]
                    ports: [{name: https, port: %2$d}]
                    ---
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: BackendTLSPolicy
                    metadata: {name: %1$s, namespace: default}
                    spec:
                      targetRefs: [{group: "", kind: Service, name: svc-%1$s}]
                      validation:
                        hostname: abc.example.com
                        %3$s
                    """.formatted(c[0], tlsEcho.address().getPort(), c[1]));
        }
        yaml.append(TestCerts.caConfigMap("default", "other-ca", otherCa));
        Files.writeString(dir.resolve("all.yaml"), yaml + TestCerts.caConfigMap("default", "backend-ca", backendCa));
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            final String base = "http://127.0.0.1:" + port;
            final JsonNode ok = JSON.readTree(TestGateway.run("curl", "-sS", "--max-time", "10", base + "/ok"));
            assertEquals("abc.example.com", ok.get("tls").get("serverName").asText(), ok.toString());
            assertEquals("/ok", ok.get("path").asText());
            final JsonNode uri = JSON.readTree(TestGateway.run("curl", "-sS", "--max-time", "10",
                    base + "/san-uri"));
            assertEquals("abc.example.com", uri.get("tls").get("serverName").asText());
            for (String bad : List.of("wrong-ca", "wrong-san", "no-ca")) {
                final String out = TestGateway.run("curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}",
                        base + "/" + bad);
                assertTrue(out.endsWith("\n502"), bad + ": " + out);
                assertTrue(out.contains("TLS error"), bad + ": " + out);
            }
            // The good policy still works on the same endpoint: its connections were never handed to the others.
            assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                    "%{http_code}", base + "/ok"));
            final String m = admin(gw, "/stats/prometheus");
            assertTrue(metric(m, "gateway_proxy_errors_total{flag=\"UTLS\"}") >= 3, m);
            final JsonNode okStatus = status(gw, "BackendTLSPolicy", "ok").get("ancestors").get(0);
            assertEquals("gw", okStatus.get("ancestorRef").get("name").asText());
            assertEquals("True", condition(okStatus.get("conditions"), "Accepted").get("status").asText());
            assertEquals("True", condition(okStatus.get("conditions"), "ResolvedRefs").get("status").asText());
            final JsonNode noCa = status(gw, "BackendTLSPolicy", "no-ca").get("ancestors").get(0);
            assertEquals("NoValidCACertificate", condition(noCa.get("conditions"), "Accepted").get("reason")
                    .asText());
            assertEquals("InvalidCACertificateRef", condition(noCa.get("conditions"), "ResolvedRefs").get("reason")
                    .asText());
            // Rotation: the CA ConfigMap now holds another CA; the next request needs a new connection (the pool
            // key changed) and that handshake fails; the original bundle makes it work again.
            long v = gw.ref.table().version();
            Files.writeString(dir.resolve("all.yaml"), yaml + TestCerts.caConfigMap("default", "backend-ca",
                    otherCa));
            ProxyEndToEndTest.awaitVersionAbove(gw, v);
            assertEquals("502", TestGateway.run("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                    "%{http_code}", base + "/ok"));
            v = gw.ref.table().version();
            Files.writeString(dir.resolve("all.yaml"), yaml + TestCerts.caConfigMap("default", "backend-ca",
                    backendCa));
            ProxyEndToEndTest.awaitVersionAbove(gw, v);
            assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                    "%{http_code}", base + "/ok"));
        } finally {
            tlsEcho.close();
            g.shutdownGracefully();
        }
    }

    // Gateway spec.tls.backend.clientCertificateRef (Gateway API v1.6): the Gateway that has one presents it to a
    // BackendTLSPolicy backend that requires a client certificate; another Gateway's routes to the same Service do
    // not (the handshake fails: 502). Invalid references set the Gateway's ResolvedRefs=False and keep it Accepted.
    @Test
    void presentsTheGatewayClientCertificateToBackends(@TempDir Path dir) throws Exception {
        final X509Bundle ca = TestCerts.ca("backend-ca");
        final X509Bundle backendCert = TestCerts.issued(ca, "abc.example.com");
        final X509Bundle clientCert = TestCerts.issued(ca, "gateway-client");
        final EventLoopGroup g = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        final EchoServer tlsEcho = EchoServer.start(g, NioServerSocketChannel.class,
                new InetSocketAddress("127.0.0.1", 0), new EchoServer.Identity("default", "mtls-backend-1", "", "",
                        "8443"), u -> { }, SslContextBuilder.forServer(backendCert.getKeyPair().getPrivate(),
                        backendCert.getCertificatePath()).trustManager(ca.getCertificate())
                        .clientAuth(io.netty.handler.ssl.ClientAuth.REQUIRE).build());
        final int withCert = TestGateway.freePort();
        final int without = TestGateway.freePort();
        final StringBuilder yaml = new StringBuilder("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: postern}
                spec: {controllerName: postern.dev/gateway-controller}
                """);
        final String[][] gateways = {
            {"with-cert", String.valueOf(withCert), "{group: \"\", kind: Secret, name: client-cert}"},
            {"without", String.valueOf(without), null},
            {"missing", String.valueOf(TestGateway.freePort()), "{group: \"\", kind: Secret, name: nope}"},
            {"wrong-kind", String.valueOf(TestGateway.freePort()), "{group: \"\", kind: WrongKind, name: client-cert}"},
            {"wrong-group", String.valueOf(TestGateway.freePort()), "{group: example.com, kind: Secret, name: client-cert}"},
            {"malformed", String.valueOf(TestGateway.freePort()), "{name: malformed}"},
            {"no-grant", String.valueOf(TestGateway.freePort()), "{namespace: other, name: client-cert}"},
        };
        for (String[] gw : gateways) {
            yaml.append("""
                    ---
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: Gateway
                    metadata: {name: %s, namespace: default}
                    spec:
                      gatewayClassName: postern
                      addresses: [{type: IPAddress, value: 127.0.0.1}]
                      listeners: [{name: http, protocol: HTTP, port: %s}]
                    """.formatted(gw[0], gw[1]));
            if (gw[2] != null) {
                yaml.append("  tls: {backend: {clientCertificateRef: ").append(gw[2]).append("}}\n");
            }
        }
        yaml.append("""
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: with-cert}, {name: without}]
                  rules: [{backendRefs: [{name: svc, port: 443}]}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: svc, namespace: default}
                spec: {ports: [{name: https, port: 443}]}
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: svc-1, namespace: default, labels: {kubernetes.io/service-name: svc}}
                addressType: IPv4
                endpoints: [{addresses: [127.0.0.1]}]
                ports: [{name: https, port: %d}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: BackendTLSPolicy
                metadata: {name: p, namespace: default}
                spec:
                  targetRefs: [{group: "", kind: Service, name: svc}]
                  validation:
                    hostname: abc.example.com
                    caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}]
                ---
                apiVersion: v1
                kind: Secret
                metadata: {name: malformed, namespace: default}
                type: kubernetes.io/tls
                data: {tls.crt: "", tls.key: ""}
                """.formatted(tlsEcho.address().getPort()));
        yaml.append(TestCerts.caConfigMap("default", "backend-ca", ca))
                .append(TestCerts.secret("default", "client-cert", clientCert))
                .append(TestCerts.secret("other", "client-cert", clientCert));
        Files.writeString(dir.resolve("all.yaml"), yaml);
        try (TestGateway gw = TestGateway.startRaw(dir, withCert)) {
            final JsonNode ok = JSON.readTree(TestGateway.run("curl", "-sS", "--max-time", "10",
                    "http://127.0.0.1:" + withCert + "/"));
            assertEquals("abc.example.com", ok.get("tls").get("serverName").asText(), ok.toString());
            final String presented = ok.get("tls").get("peerCertificates").get(0).asText();
            assertEquals(clientCert.getCertificatePEM().replaceAll("\\s", ""), presented.replaceAll("\\s", ""),
                    ok.toString());
            final String out = TestGateway.run("curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}",
                    "http://127.0.0.1:" + without + "/");
            // TLS 1.3: the client's handshake completes before the backend checks for a certificate, so the refusal
            // arrives as an alert after the request: a reset before the response (502 UC), not a failed handshake.
            assertTrue(out.endsWith("\n502"), out);
            final JsonNode good = status(gw, "Gateway", "with-cert").get("conditions");
            assertEquals("True", condition(good, "ResolvedRefs").get("status").asText());
            assertEquals("ResolvedRefs", condition(good, "ResolvedRefs").get("reason").asText());
            final String[][] bad = {{"missing", "InvalidClientCertificateRef"},
                {"wrong-kind", "InvalidClientCertificateRef"}, {"wrong-group", "InvalidClientCertificateRef"},
                {"malformed", "InvalidClientCertificateRef"}, {"no-grant", "RefNotPermitted"}};
            for (String[] b : bad) {
                final JsonNode c = status(gw, "Gateway", b[0]).get("conditions");
                assertEquals("False", condition(c, "ResolvedRefs").get("status").asText(), b[0] + ": " + c);
                assertEquals(b[1], condition(c, "ResolvedRefs").get("reason").asText(), b[0] + ": " + c);
                assertEquals("True", condition(c, "Accepted").get("status").asText(), b[0] + ": " + c);
            }
            // A Gateway without spec.tls.backend says nothing about it.
            assertEquals(null, condition(status(gw, "Gateway", "without").get("conditions"), "ResolvedRefs"));
        } finally {
            tlsEcho.close();
            g.shutdownGracefully();
        }
    }

    // Issue 12: a changed Secret takes effect for new handshakes within one reload, and established connections
    // keep working (a python client sends keep-alive requests on one connection throughout).
    @Test
    void rotatesCertificatesUnderARunningClient(@TempDir Path dir) throws Exception {
        final X509Bundle before = TestCerts.selfSigned("rot.test");
        final X509Bundle after = TestCerts.selfSigned("rot.test");
        final Path cas = dir.resolve("cas.pem");
        Files.writeString(cas, before.getCertificatePEM() + after.getCertificatePEM());
        final int port = TestGateway.freePort();
        final String head = TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: https, protocol: HTTPS, port: %d, tls: {certificateRefs: [{name: cert}]}}]
                """.formatted(port) + route("rot.test");
        Files.writeString(dir.resolve("all.yaml"), head + TestCerts.secret("default", "cert", before));
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            final Path script = Path.of(getClass().getResource("/tls_hold_client.py").toURI());
            final Process client = new ProcessBuilder("python3", script.toString(), "127.0.0.1",
                    String.valueOf(port), "rot.test", cas.toString(), "/held").redirectErrorStream(true).start();
            final BufferedReader lines = new BufferedReader(new InputStreamReader(client.getInputStream(),
                    StandardCharsets.UTF_8));
            final List<String> seen = new ArrayList<>();
            seen.add(lines.readLine());
            final String heldCert = seen.getFirst().split(" ")[1];
            assertEquals(sha256(before), heldCert, seen.toString());
            final long v = gw.ref.table().version();
            Files.writeString(dir.resolve("all.yaml"), head + TestCerts.secret("default", "cert", after));
            ProxyEndToEndTest.awaitVersionAbove(gw, v);
            // A new handshake gets the new certificate at once.
            final Result s = exec("sh", "-c", "openssl s_client -connect 127.0.0.1:" + port
                    + " -servername rot.test </dev/null 2>/dev/null | openssl x509 -outform DER | sha256sum");
            assertEquals(sha256(after), s.out().split(" ")[0], s.out());
            // The held connection went on, on the old certificate, through the reload and after it.
            for (int i = 0; i < 10; i++) {
                seen.add(lines.readLine());
            }
            try (Writer w = new OutputStreamWriter(client.getOutputStream(), StandardCharsets.UTF_8)) {
                w.write("stop\n");
            }
            String l;
            while ((l = lines.readLine()) != null) {
                seen.add(l);
            }
            assertEquals(0, client.waitFor(), seen.toString());
            assertTrue(seen.size() > 10, seen.toString());
            for (String line : seen) {
                assertEquals("200 " + heldCert, line, seen.toString());
            }
        }
    }

    private static String sha256(X509Bundle b) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(b.getCertificate().getEncoded()));
    }

    // Session tickets: a second connection resumes (openssl -sess_in says Reused), still after one key rotation
    // (the previous key decrypts), and no longer after two. Also the default-certificate counters.
    @Test
    void resumesSessionsWithRotatedTicketKeys(@TempDir Path dir) throws Exception {
        final X509Bundle cert = TestCerts.selfSigned("res.test");
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: https, protocol: HTTPS, port: %d, tls: {certificateRefs: [{name: cert}]}}]
                """.formatted(port) + route("res.test") + TestCerts.secret("default", "cert", cert));
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            for (String version : List.of("-tls1_3", "-tls1_2")) {
                final Path sess = dir.resolve("sess" + version + ".pem");
                final String first = sClient(port, version, "-sess_out " + sess);
                assertTrue(first.contains("New, TLSv1."), first);
                assertTrue(sClient(port, version, "-sess_in " + sess).contains("Reused, TLSv1."), version);
                gw.server.context().serverTls().rotateTicketKeys();
                assertTrue(sClient(port, version, "-sess_in " + sess).contains("Reused, TLSv1."),
                        version + ": the previous key still decrypts");
                gw.server.context().serverTls().rotateTicketKeys();
                assertTrue(sClient(port, version, "-sess_in " + sess).contains("New, TLSv1."),
                        version + ": a ticket two rotations old is refused");
            }
            exec("sh", "-c", "openssl s_client -connect 127.0.0.1:" + port + " </dev/null");
            exec("curl", "-sS", "--max-time", "5", "http://127.0.0.1:" + port + "/"); // plain HTTP on TLS
            exec("sh", "-c", "openssl s_client -connect 127.0.0.1:" + port + " -servername nope.test </dev/null");
            final String m = admin(gw, "/stats/prometheus");
            assertTrue(metric(m, "gateway_downstream_tls_handshakes_total{session=\"resumed\"}") >= 4, m);
            assertTrue(metric(m, "gateway_downstream_tls_default_certificate_total{cause=\"no_sni\"}") >= 1, m);
            assertTrue(metric(m, "gateway_downstream_tls_default_certificate_total{cause=\"unknown_sni\"}") >= 1, m);
            assertTrue(metric(m, "gateway_downstream_tls_handshake_errors_total{reason=\"not_tls\"}") >= 1, m);
        }
    }

    // Bootstrap tls.sessionTicketKeyRotation: with a 1 s period, a ticket resumes at once and is refused once two
    // rotations have passed (at most 2 s after it was issued), with no manual rotation.
    @Test
    void rotatesTicketKeysOnTheBootstrapSchedule(@TempDir Path dir) throws Exception {
        final X509Bundle cert = TestCerts.selfSigned("res.test");
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: https, protocol: HTTPS, port: %d, tls: {certificateRefs: [{name: cert}]}}]
                """.formatted(port) + route("res.test") + TestCerts.secret("default", "cert", cert));
        final Path bootstrap = Files.createTempFile("bootstrap", ".yaml");
        Files.writeString(bootstrap, "tls: {sessionTicketKeyRotation: 1s}\n");
        final dev.postern.proxy.server.Bootstrap b = dev.postern.proxy.server.Bootstrap.read(bootstrap)
                .withAdminPort(0);
        Files.delete(bootstrap);
        try (TestGateway gw = TestGateway.startRaw(dir, port, b)) {
            assertEquals(java.time.Duration.ofSeconds(1), gw.server.context().serverTls().ticketKeyRotation());
            final Path sess = dir.resolve("sess.pem");
            assertTrue(sClient(port, "-tls1_3", "-sess_out " + sess).contains("New, TLSv1.3"));
            assertTrue(sClient(port, "-tls1_3", "-sess_in " + sess).contains("Reused, TLSv1.3"));
            Thread.sleep(2300);
            assertTrue(sClient(port, "-tls1_3", "-sess_in " + sess).contains("New, TLSv1.3"),
                    "a ticket two rotation periods old is refused");
        }
    }

    // One listener with an RSA and an ECDSA certificate for the same name (RSA listed first): a client that offers
    // ECDSA signature algorithms gets the ECDSA certificate, an RSA-only one (RSA-PSS) the RSA certificate, in TLS 1.3
    // and 1.2, with and without SNI; a client offering both gets ECDSA (as nginx and Envoy prefer).
    @Test
    void choosesEcdsaOrRsaByTheClientsSignatureAlgorithms(@TempDir Path dir) throws Exception {
        final X509Bundle rsa = TestCerts.selfSigned("dual.test");
        final X509Bundle ecdsa = TestCerts.issued(TestCerts.ca("dual-ca"), "dual.test");
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: https, protocol: HTTPS, port: %d, tls: {certificateRefs: [{name: rsa}, {name: ec}]}}]
                """.formatted(port) + route("dual.test") + TestCerts.secret("default", "rsa", rsa)
                + TestCerts.secret("default", "ec", ecdsa));
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            for (String version : List.of("-tls1_3", "-tls1_2")) {
                for (String sni : List.of("-servername dual.test", "-noservername")) {
                    final String what = version + " " + sni;
                    assertEquals(sha256(ecdsa), served(port, version, sni, "-sigalgs ECDSA+SHA256"), what);
                    assertEquals(sha256(rsa), served(port, version, sni, "-sigalgs RSA-PSS+SHA256"), what);
                    assertEquals(sha256(ecdsa), served(port, version, sni, ""), what + ": both offered");
                }
            }
            // The chosen certificate also completes the exchange (curl, TLS 1.3, default algorithms: ECDSA).
            assertEquals("200", TestGateway.run("curl", "-sS", "-k", "--max-time", "10", "-o", "/dev/null", "-w",
                    "%{http_code}", "--resolve", "dual.test:" + port + ":127.0.0.1", "https://dual.test:" + port
                            + "/"));
        }
    }

    /** The SHA-256 of the certificate Postern serves to openssl s_client with these options. */
    private static String served(int port, String version, String sni, String sigalgs) throws Exception {
        final Result r = exec("sh", "-c", "openssl s_client -connect 127.0.0.1:" + port + " " + version + " " + sni
                + " " + sigalgs + " </dev/null 2>/dev/null | openssl x509 -outform DER | sha256sum");
        return r.out().split(" ")[0];
    }

    private static String sClient(int port, String version, String sessionArgs) throws Exception {
        final Result r = exec("sh", "-c", "printf 'GET / HTTP/1.1\\r\\nHost: res.test\\r\\nConnection: close"
                + "\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:" + port + " -servername res.test "
                + version + " " + sessionArgs + " -ign_eof 2>&1");
        assertTrue(r.out().contains("HTTP/1.1 200"), r.out());
        return r.out();
    }
}
