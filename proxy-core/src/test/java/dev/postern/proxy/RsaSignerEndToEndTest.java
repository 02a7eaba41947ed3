package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.tls.ServerTls;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 12: full handshakes with an RSA certificate signed by the system's OpenSSL 3 libcrypto (bootstrap
 * {@code tls.rsaSigner}), checked with real openssl s_client and curl: TLS 1.3 (RSA-PSS) and TLS 1.2 (PKCS#1 v1.5)
 * with each digest, the signature count, BoringSSL when the switch is off, and ECDSA keys left to BoringSSL.
 * s_client verifies every signature against the certificate, so a wrong one fails the handshake.
 */
class RsaSignerEndToEndTest {
    private static final String METRIC = "gateway_tls_private_key_signatures_total{signer=\"libcrypto\"}";
    private static EchoServer echo;

    @BeforeAll
    static void start() throws Exception {
        echo = TestGateway.echo("rsa-signer-1");
    }

    @AfterAll
    static void stop() {
        echo.close();
    }

    private static String config(int port, X509Bundle cert) {
        return TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: https, protocol: HTTPS, port: %d, tls: {certificateRefs: [{name: cert}]}}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [sign.test]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """.formatted(port) + TestGateway.service("svc", echo.address().getPort())
                + TestCerts.secret("default", "cert", cert);
    }

    /** One full handshake and request with s_client; returns its output after checking the 200 and the chain. */
    private static String sClient(int port, Path ca, String... options) throws Exception {
        final List<String> cmd = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + port,
                "-servername", "sign.test", "-CAfile", ca.toString(), "-verify_return_error", "-ign_eof"));
        cmd.addAll(List.of(options));
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().write("GET / HTTP/1.1\r\nHost: sign.test\r\nConnection: close\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII));
        p.getOutputStream().close();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "s_client timed out");
        assertTrue(out.contains("HTTP/1.1 200") && out.contains("Verify return code: 0 (ok)"), out);
        return out;
    }

    private static double signatures(TestGateway gw) throws Exception {
        final String scrape = TestGateway.run("curl", "-sS", "http://127.0.0.1:"
                + gw.server.adminAddress().getPort() + "/stats/prometheus");
        for (String line : scrape.split("\n")) {
            if (line.startsWith(METRIC)) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError("no " + METRIC + " in\n" + scrape);
    }

    private static String curl(int port, Path ca) throws Exception {
        return TestGateway.run("curl", "-sS", "--max-time", "10", "--http2", "--cacert", ca.toString(), "--resolve",
                "sign.test:" + port + ":127.0.0.1", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                "https://sign.test:" + port + "/");
    }

    @Test
    void libcryptoSignsEveryRsaScheme(@TempDir Path dir) throws Exception {
        final X509Bundle cert = TestCerts.selfSigned("sign.test");
        final Path ca = TestCerts.pemFile(Files.createTempDirectory("ca"), "ca.pem", cert);
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), config(port, cert));
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            assertEquals(ServerTls.RsaSigner.LIBCRYPTO, gw.server.context().serverTls().rsaSigner());
            assertEquals(0, signatures(gw));
            int expected = 0;
            // TLS 1.3: RSA-PSS with each digest (the default offer picks SHA-256).
            for (String[] c : new String[][] {{"", "SHA256"}, {"rsa_pss_rsae_sha384", "SHA384"},
                    {"rsa_pss_rsae_sha512", "SHA512"}}) {
                final String out = c[0].isEmpty() ? sClient(port, ca, "-tls1_3")
                        : sClient(port, ca, "-tls1_3", "-sigalgs", c[0]);
                assertTrue(out.contains("TLSv1.3") && out.contains("Peer signature type: RSA-PSS")
                        && out.contains("Peer signing digest: " + c[1]), out);
                assertEquals(++expected, signatures(gw), out);
            }
            // TLS 1.2 with ECDHE_RSA: PKCS#1 v1.5 when the client offers only that.
            for (String d : List.of("SHA256", "SHA384", "SHA512")) {
                final String out = sClient(port, ca, "-tls1_2", "-sigalgs", "RSA+" + d);
                assertTrue(out.contains("TLSv1.2") && out.contains("Peer signature type: RSA\n")
                        && out.contains("Peer signing digest: " + d), out);
                assertEquals(++expected, signatures(gw), out);
            }
            // curl over HTTP/2.
            assertEquals("200 2", curl(port, ca));
            assertEquals(++expected, signatures(gw));
        }
    }

    @Test
    void boringsslSignsWhenTheSwitchIsOff(@TempDir Path dir) throws Exception {
        final X509Bundle cert = TestCerts.selfSigned("sign.test");
        final Path ca = TestCerts.pemFile(Files.createTempDirectory("ca"), "ca.pem", cert);
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), config(port, cert));
        final Path bootstrap = Files.createTempFile("bootstrap", ".yaml");
        Files.writeString(bootstrap, "tls: {rsaSigner: boringssl}\n");
        final Bootstrap b = Bootstrap.read(bootstrap).withAdminPort(0);
        Files.delete(bootstrap);
        try (TestGateway gw = TestGateway.startRaw(dir, port, b)) {
            assertEquals(ServerTls.RsaSigner.BORINGSSL, gw.server.context().serverTls().rsaSigner());
            assertTrue(sClient(port, ca, "-tls1_3").contains("Peer signature type: RSA-PSS"));
            assertTrue(sClient(port, ca, "-tls1_2", "-sigalgs", "RSA+SHA256").contains("Peer signature type: RSA\n"));
            assertEquals("200 2", curl(port, ca));
            assertEquals(0, signatures(gw));
        }
    }

    @Test
    void ecdsaKeysStayWithBoringssl(@TempDir Path dir) throws Exception {
        final X509Bundle cert = new CertificateBuilder().ecp256().subject("CN=sign.test").addSanDnsName("sign.test")
                .notBefore(Instant.now().minus(1, ChronoUnit.DAYS)).notAfter(Instant.now().plus(1, ChronoUnit.DAYS))
                .setIsCertificateAuthority(true).buildSelfSigned();
        final Path ca = TestCerts.pemFile(Files.createTempDirectory("ca"), "ca.pem", cert);
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("all.yaml"), config(port, cert));
        try (TestGateway gw = TestGateway.startRaw(dir, port)) {
            assertEquals(ServerTls.RsaSigner.LIBCRYPTO, gw.server.context().serverTls().rsaSigner());
            assertTrue(sClient(port, ca, "-tls1_3").contains("Peer signature type: ECDSA"));
            assertEquals("200 2", curl(port, ca));
            assertEquals(0, signatures(gw));
        }
    }
}
