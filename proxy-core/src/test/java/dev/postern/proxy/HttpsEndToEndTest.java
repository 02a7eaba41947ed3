package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.netty.pkitesting.X509Bundle;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS termination: certificate by SNI, ALPN h2 and http/1.1, 421 on a misdirected Host, real curl. */
class HttpsEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static EchoServer echo;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("tls-1");
    }

    @AfterAll
    static void stop() {
        echo.close();
    }

    @Test
    void passesTlsThroughBySni(@TempDir Path dir) throws Exception {
        final X509Bundle backendCert = TestCerts.selfSigned("pass.test");
        final Path ca = TestCerts.pemFile(Files.createTempDirectory("ca"), "backend.pem", backendCert);
        final io.netty.handler.ssl.SslContext backendTls = io.netty.handler.ssl.SslContextBuilder
                .forServer(backendCert.getKeyPair().getPrivate(), backendCert.getCertificatePath()).build();
        final io.netty.channel.EventLoopGroup g = new io.netty.channel.MultiThreadIoEventLoopGroup(1,
                io.netty.channel.nio.NioIoHandler.newFactory());
        final EchoServer tlsEcho = EchoServer.start(g, io.netty.channel.socket.nio.NioServerSocketChannel.class,
                new java.net.InetSocketAddress("127.0.0.1", 0), new EchoServer.Identity("default", "tls-backend-1",
                        "", "", "3000"), u -> { }, backendTls);
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), TestGateway.GATEWAY_HEAD + """
                  listeners:
                  - {name: tls, protocol: TLS, port: %d, tls: {mode: Passthrough}}
                ---
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TLSRoute
                metadata: {name: t, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [pass.test]
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
                """.formatted(port, tlsEcho.address().getPort()));
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            // The backend's own certificate verifies, so the TLS session is end to end, not terminated by Postern.
            final String out = TestGateway.run("curl", "-sS", "--max-time", "10", "--cacert", ca.toString(),
                    "--resolve", "pass.test:" + port + ":127.0.0.1", "https://pass.test:" + port + "/through");
            final JsonNode j = JSON.readTree(out);
            assertEquals("/through", j.get("path").asText());
            assertEquals("pass.test", j.get("tls").get("serverName").asText());
            assertTrue(j.get("headers").get("X-Forwarded-For") == null, "Postern never saw the HTTP inside");
            // An SNI without a route is refused.
            final Process p = new ProcessBuilder("curl", "-sS", "--max-time", "10", "-k", "--resolve",
                    "nope.test:" + port + ":127.0.0.1", "https://nope.test:" + port + "/").start();
            assertTrue(p.waitFor() != 0, "no route for nope.test: the connection is closed");
        } finally {
            tlsEcho.close();
            g.shutdownGracefully();
        }
    }

    @Test
    void terminatesBySniAndSpeaksBothProtocols(@TempDir Path dir) throws Exception {
        final X509Bundle a = TestCerts.selfSigned("*.tls.test");
        final X509Bundle b = TestCerts.selfSigned("other.test");
        final Path caA = TestCerts.pemFile(Files.createTempDirectory("ca"), "a.pem", a);
        final Path caB = TestCerts.pemFile(caA.getParent(), "b.pem", b);
        final int port = TestGateway.freePort();
        final String yaml = TestGateway.GATEWAY_HEAD + """
                  listeners:
                  - name: a
                    protocol: HTTPS
                    port: %1$d
                    hostname: "*.tls.test"
                    tls: {certificateRefs: [{name: cert-a}]}
                  - name: b
                    protocol: HTTPS
                    port: %1$d
                    hostname: other.test
                    tls: {certificateRefs: [{name: cert-b}]}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """.formatted(port) + TestCerts.secret("default", "cert-a", a) + TestCerts.secret("default", "cert-b", b)
                + TestGateway.service("svc", echo.address().getPort());
        Files.writeString(dir.resolve("all.yaml"), yaml);
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            final String base = "https://x.tls.test:" + port;
            final String resolve = "x.tls.test:" + port + ":127.0.0.1";
            // HTTP/1.1 over TLS; the CA file holds only certificate A, so verification proves it was served.
            final String out = TestGateway.run("curl", "-sS", "--max-time", "10", "--http1.1", "--cacert",
                    caA.toString(), "--resolve", resolve, "-w", "\n%{http_version}", base + "/one?x=1");
            final JsonNode j = JSON.readTree(out.substring(0, out.lastIndexOf('\n')));
            assertTrue(out.endsWith("1.1"), out);
            assertEquals("/one?x=1", j.get("path").asText());
            assertEquals("https", j.get("headers").get("X-Forwarded-Proto").get(0).asText());
            // HTTP/2 by ALPN.
            final String h2 = TestGateway.run("curl", "-sS", "--max-time", "10", "--http2", "--cacert",
                    caA.toString(), "--resolve", resolve, "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                    base + "/two");
            assertEquals("2 200", h2);
            // The other listener's name gets the other certificate.
            final String other = TestGateway.run("curl", "-sS", "--max-time", "10", "--cacert", caB.toString(),
                    "--resolve", "other.test:" + port + ":127.0.0.1", "-o", "/dev/null", "-w", "%{http_code}",
                    "https://other.test:" + port + "/");
            assertEquals("200", other);
            // SNI chose listener a, the Host names listener b: 421 Misdirected Request.
            final String mis = TestGateway.run("curl", "-sS", "--max-time", "10", "--cacert", caA.toString(),
                    "--resolve", resolve, "-H", "Host: other.test", "-o", "/dev/null", "-w", "%{http_code}",
                    base + "/");
            assertEquals("421", mis);
            final String misH1 = TestGateway.run("curl", "-sS", "--max-time", "10", "--http1.1", "--cacert",
                    caA.toString(), "--resolve", resolve, "-H", "Host: other.test", "-o", "/dev/null", "-w",
                    "%{http_code}", base + "/");
            assertEquals("421", misH1, "HTTP/1.1 too");
        }
    }
}
