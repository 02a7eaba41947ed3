package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.pkitesting.X509Bundle;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLSRoute with a TLS listener in Terminate mode (Postern ends TLS, the backend gets plain TCP) next to one in
 * Passthrough mode (the backend ends TLS) on the same port, chosen by SNI; real TLS clients and backends.
 */
class TlsTerminateTest {

    /** A line echo that first says who it is (and, over TLS, the SNI it was asked for). */
    private static Thread serve(ServerSocket server, String name) {
        return Thread.ofVirtual().start(() -> {
            while (!server.isClosed()) {
                try {
                    final Socket s = server.accept();
                    Thread.ofVirtual().start(() -> {
                        try (s) {
                            String hello = name;
                            if (s instanceof SSLSocket tls) {
                                tls.startHandshake();
                                hello += " sni=" + ((javax.net.ssl.ExtendedSSLSession) tls.getSession())
                                        .getRequestedServerNames().stream().map(n -> ((SNIHostName) n).getAsciiName())
                                        .findFirst().orElse("-");
                            }
                            final OutputStream out = s.getOutputStream();
                            out.write((hello + "\n").getBytes(StandardCharsets.UTF_8));
                            out.flush();
                            s.getInputStream().transferTo(out);
                        } catch (java.io.IOException e) {
                            // client gone
                        }
                    });
                } catch (java.io.IOException e) {
                    return;
                }
            }
        });
    }

    private static String[] talk(int port, String sni, X509Bundle trust) throws Exception {
        final SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, trust.toTrustManagerFactory().getTrustManagers(), null);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port)) {
            final SSLParameters p = s.getSSLParameters();
            p.setServerNames(List.of(new SNIHostName(sni)));
            p.setEndpointIdentificationAlgorithm("HTTPS"); // the certificate must cover the SNI
            s.setSSLParameters(p);
            s.setSoTimeout(5000);
            final InputStream in = s.getInputStream();
            final String hello = line(in);
            s.getOutputStream().write("PING\n".getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            return new String[] {hello, line(in)};
        }
    }

    private static String line(InputStream in) throws java.io.IOException {
        final StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0 && c != '\n') {
            sb.append((char) c);
        }
        return sb.toString();
    }

    @Test
    void terminateAndPassthroughShareAPortBySni(@TempDir Path dir) throws Exception {
        final X509Bundle gatewayCert = TestCerts.selfSigned("tls.test");
        final X509Bundle backendCert = TestCerts.selfSigned("pass.test");
        final SSLContext backendTls = SSLContext.getInstance("TLS");
        backendTls.init(backendCert.toKeyManagerFactory().getKeyManagers(), null, null);
        try (ServerSocket plain = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             SSLServerSocket tls = (SSLServerSocket) backendTls.getServerSocketFactory().createServerSocket(0, 50,
                     InetAddress.getLoopbackAddress())) {
            serve(plain, "plain-backend");
            serve(tls, "tls-backend");
            final int port = TestGateway.freePort();
            Files.writeString(dir.resolve("all.yaml"), TestGateway.GATEWAY_HEAD + """
                      listeners:
                      - {name: term, protocol: TLS, port: %1$d, hostname: tls.test,
                         tls: {mode: Terminate, certificateRefs: [{name: term-cert}]}}
                      - {name: pass, protocol: TLS, port: %1$d, hostname: pass.test, tls: {mode: Passthrough}}
                    ---
                    apiVersion: gateway.networking.k8s.io/v1alpha2
                    kind: TLSRoute
                    metadata: {name: term, namespace: default}
                    spec:
                      parentRefs: [{name: gw, sectionName: term}]
                      hostnames: [tls.test]
                      rules: [{backendRefs: [{name: plain, port: 80}]}]
                    ---
                    apiVersion: gateway.networking.k8s.io/v1alpha2
                    kind: TLSRoute
                    metadata: {name: pass, namespace: default}
                    spec:
                      parentRefs: [{name: gw, sectionName: pass}]
                      hostnames: [pass.test]
                      rules: [{backendRefs: [{name: secure, port: 80}]}]
                    """.formatted(port) + TestCerts.secret("default", "term-cert", gatewayCert)
                    + TestGateway.service("plain", plain.getLocalPort())
                    + TestGateway.service("secure", tls.getLocalPort()));
            try (TestGateway gw = TestGateway.startRaw(dir, port)) {
                // Terminate: the client verifies Postern's certificate; the backend speaks plain TCP.
                final String[] t = talk(port, "tls.test", gatewayCert);
                assertEquals("plain-backend", t[0]);
                assertEquals("PING", t[1]);
                // Passthrough on the same port: the client verifies the backend's certificate and SNI.
                final String[] p = talk(port, "pass.test", backendCert);
                assertEquals("tls-backend sni=pass.test", p[0]);
                assertEquals("PING", p[1]);
            }
        }
    }
}
