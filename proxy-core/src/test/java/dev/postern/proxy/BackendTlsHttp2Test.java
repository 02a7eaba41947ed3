package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.echo.GrpcEchoServer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.pkitesting.X509Bundle;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * BackendTLSPolicy on HTTP/2 backends (appProtocol kubernetes.io/h2c, GRPCRoute): HTTP/2 over TLS with ALPN h2,
 * the policy hostname as SNI, the CA and SANs verified; wrong CA or SAN answer 502 (gRPC: UNAVAILABLE); a TLS
 * backend that does not speak HTTP/2 answers 502 UPE with one clear log line. Real curl, python grpcio and
 * python's http.server.
 */
class BackendTlsHttp2Test {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static EventLoopGroup group;
    private static X509Bundle ca;
    private static X509Bundle otherCa;
    private static X509Bundle cert;

    @BeforeAll
    static void start() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        ca = TestCerts.ca("backend-ca");
        otherCa = TestCerts.ca("other-ca");
        cert = TestCerts.issued(ca, "abc.example.com");
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully();
    }

    /** A server context for the backend certificate, with ALPN h2 and http/1.1 (as Go's and grpc's servers). */
    private static SslContext serverTls() throws Exception {
        return SslContextBuilder.forServer(cert.getKeyPair().getPrivate(), cert.getCertificatePath())
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2", "http/1.1"))
                .build();
    }

    /** A Service (with appProtocol) on {@code port}, and a BackendTLSPolicy for it with {@code validation}. */
    private static String backend(String name, String appProtocol, int port, String validation) {
        return TestGateway.service(name, appProtocol, port) + """
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: BackendTLSPolicy
                metadata: {name: %1$s, namespace: default}
                spec:
                  targetRefs: [{group: "", kind: Service, name: %1$s}]
                  validation:
                    hostname: abc.example.com
                    %2$s
                """.formatted(name, validation);
    }

    private static final String GOOD = "caCertificateRefs: [{group: \"\", kind: ConfigMap, name: backend-ca}]";
    private static final String WRONG_CA = "caCertificateRefs: [{group: \"\", kind: ConfigMap, name: other-ca}]";
    private static final String WRONG_SAN = GOOD + "\n    subjectAltNames: [{type: Hostname, hostname: x.example.com}]";

    @Test
    void speaksHttp2OverTlsToH2cBackends(@TempDir Path dir) throws Exception {
        final EchoServer echo = EchoServer.start(group, NioServerSocketChannel.class,
                new InetSocketAddress("127.0.0.1", 0), new EchoServer.Identity("default", "h2-tls-1", "", "", "8443"),
                u -> { }, serverTls());
        final Path key = dir.resolve("backend.key");
        final Path crt = dir.resolve("backend.crt");
        Files.writeString(key, cert.getPrivateKeyPEM());
        Files.writeString(crt, cert.getCertificatePEM());
        // An HTTPS backend that speaks only HTTP/1.x and offers no ALPN: python's http.server.
        final Process http1 = new ProcessBuilder("python3", "-c", """
                import http.server, ssl, sys
                class H(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
                        self.wfile.write(b"ok")
                s = http.server.HTTPServer(("127.0.0.1", 0), H)
                c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[1], sys.argv[2])
                s.socket = c.wrap_socket(s.socket, server_side=True)
                print(s.server_address[1], flush=True)
                s.serve_forever()
                """, crt.toString(), key.toString()).redirectErrorStream(true).start();
        final int http1Port = Integer.parseInt(new BufferedReader(new InputStreamReader(http1.getInputStream(),
                StandardCharsets.UTF_8)).readLine().strip());
        final String yaml = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules:
                  - {matches: [{path: {type: Exact, value: /ok}}], backendRefs: [{name: ok, port: 80}]}
                  - {matches: [{path: {type: Exact, value: /wrong-ca}}], backendRefs: [{name: wrong-ca, port: 80}]}
                  - {matches: [{path: {type: Exact, value: /wrong-san}}], backendRefs: [{name: wrong-san, port: 80}]}
                  - {matches: [{path: {type: Exact, value: /http1}}], backendRefs: [{name: http1, port: 80}]}
                """ + backend("ok", "kubernetes.io/h2c", echo.address().getPort(), GOOD)
                + backend("wrong-ca", "kubernetes.io/h2c", echo.address().getPort(), WRONG_CA)
                + backend("wrong-san", "kubernetes.io/h2c", echo.address().getPort(), WRONG_SAN)
                + backend("http1", "kubernetes.io/h2c", http1Port, GOOD)
                + TestCerts.caConfigMap("default", "backend-ca", ca) + TestCerts.caConfigMap("default", "other-ca",
                otherCa);
        try (LogCapture log = new LogCapture("dev.postern.proxy.upstream.H2ConnectionErrors");
             TestGateway gw = TestGateway.start(dir, yaml)) {
            final String base = "http://127.0.0.1:" + gw.port;
            // Three requests on one client connection (one event loop, so one upstream pool).
            final List<JsonNode> oks = JSON.readerFor(JsonNode.class).<JsonNode>readValues(TestGateway.run("curl",
                    "-sS", "--max-time", "10", base + "/ok", base + "/ok", base + "/ok")).readAll();
            assertEquals(3, oks.size());
            for (JsonNode ok : oks) {
                assertEquals("HTTP/2.0", ok.get("proto").asText(), ok.toString());
                assertEquals("abc.example.com", ok.get("tls").get("serverName").asText(), ok.toString());
                assertEquals("h2", ok.get("tls").path("negotiatedProtocol").asText(), ok.toString());
            }
            // One TLS connection carried the three requests as streams (the pool's HTTP/2 connection per key).
            assertEquals(1, echo.connectionsAccepted());
            for (String bad : List.of("wrong-ca", "wrong-san")) {
                final String out = TestGateway.run("curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}",
                        base + "/" + bad);
                assertTrue(out.endsWith("\n502") && out.contains("TLS error"), bad + ": " + out);
            }
            final String out = TestGateway.run("curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}",
                    base + "/http1");
            assertTrue(out.endsWith("\n502") && out.contains("upstream protocol error"), out);
            assertTrue(log.messages().stream().anyMatch(m -> m.contains("127.0.0.1:" + http1Port)
                    && m.contains("backendtlspolicy/default/http1") && m.contains("ALPN not negotiated")
                    && m.contains("does not speak HTTP/2")), log.messages().toString());
            // The good backend is unaffected.
            assertEquals("200", TestGateway.run("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                    "%{http_code}", base + "/ok"));
        } finally {
            http1.destroy();
            echo.close();
        }
    }

    @Test
    void grpcOverTlsAndUnavailableOnAFailedHandshake(@TempDir Path dir) throws Exception {
        final GrpcEchoServer grpc = GrpcEchoServer.start(group, NioServerSocketChannel.class,
                new InetSocketAddress("127.0.0.1", 0), new EchoServer.Identity("default", "grpc-tls-1", "", "",
                        "8443"), serverTls());
        final Path client = dir.resolve("grpc_echo_client.py");
        try (var in = getClass().getResourceAsStream("/grpc_echo_client.py")) {
            Files.write(client, in.readAllBytes());
        }
        final String svc = GrpcEchoServer.SERVICE;
        final String yaml = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GRPCRoute
                metadata: {name: g, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [grpc.test]
                  rules:
                  - matches: [{method: {service: %1$s, method: Echo}}]
                    backendRefs: [{name: ok, port: 80}]
                  - matches: [{method: {service: %1$s, method: EchoTwo}}]
                    backendRefs: [{name: wrong-san, port: 80}]
                  - matches: [{method: {service: %1$s, method: EchoThree}}]
                    backendRefs: [{name: wrong-ca, port: 80}]
                """.formatted(svc) + backend("ok", null, grpc.address().getPort(), GOOD)
                + backend("wrong-san", null, grpc.address().getPort(), WRONG_SAN)
                + backend("wrong-ca", null, grpc.address().getPort(), WRONG_CA)
                + TestCerts.caConfigMap("default", "backend-ca", ca) + TestCerts.caConfigMap("default", "other-ca",
                otherCa);
        try (TestGateway gw = TestGateway.start(dir, yaml)) {
            final String out = TestGateway.run("/usr/bin/python3", client.toString(), "127.0.0.1:" + gw.port,
                    "grpc.test", "grpc-tls-1", "Echo", "EchoTwo", "EchoThree", "Echo");
            assertEquals(List.of("Echo OK match", "EchoTwo UNAVAILABLE", "EchoThree UNAVAILABLE", "Echo OK match"),
                    out.lines().filter(l -> !l.isBlank()).toList(), out);
        } finally {
            grpc.close();
        }
    }
}
