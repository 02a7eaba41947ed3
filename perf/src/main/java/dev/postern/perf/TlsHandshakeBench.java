package dev.postern.perf;

import dev.postern.config.tls.CertificateKeyPair;
import dev.postern.proxy.tls.ServerTls;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;

import java.io.ByteArrayInputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;

/**
 * CPU per full TLS handshake on the server side, in process: Postern's {@link ServerTls} context against a
 * BoringSSL client, engines talking through byte buffers (no sockets), timing only the server engine's calls with
 * the thread's CPU clock. Rounds alternate {@code tls.rsaSigner: boringssl} and {@code libcrypto}, so both see the
 * same machine noise. Issue 12.
 *
 * <p>Arguments: {@code [handshakes-per-round] [rounds] [protocol] [rsa|ecdsa]} (defaults 400, 4, TLSv1.3, rsa).
 * The certificate (RSA-2048 or ECDSA P-256; ECDSA keys always sign in BoringSSL, a reference for the rest of the
 * handshake) is made with the {@code openssl} command. Run with {@code --enable-native-access=ALL-UNNAMED}:
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp 'perf/target/benchmarks.jar:perf/target/lib/*' \
 *     dev.postern.perf.TlsHandshakeBench 400 4 TLSv1.3
 * </pre>
 */
public final class TlsHandshakeBench {
    private TlsHandshakeBench() {
    }

    /** Runs the comparison and prints µs of server CPU per handshake for each signer and round. */
    public static void main(String[] args) throws Exception {
        final int n = args.length > 0 ? Integer.parseInt(args[0]) : 400;
        final int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        final String protocol = args.length > 2 ? args[2] : "TLSv1.3";
        final boolean ecdsa = args.length > 3 && args[3].equals("ecdsa");
        final CertificateKeyPair pair = pair(ecdsa);
        final SslContext client = SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL)
                .protocols(protocol).trustManager(InsecureTrustManagerFactory.INSTANCE).build();
        final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        final double[][] results = new double[2][rounds];
        for (int r = -1; r < rounds; r++) { // round -1 warms up both
            for (ServerTls.RsaSigner s : ServerTls.RsaSigner.values()) {
                try (ServerTls tls = new ServerTls(Duration.ofHours(1), s)) {
                    final SslContext server = tls.context(pair);
                    final int count = r < 0 ? n / 2 : n;
                    long cpu = 0;
                    for (int i = 0; i < count; i++) {
                        cpu += handshake(server, client, mx);
                    }
                    if (r >= 0) {
                        results[s.ordinal()][r] = cpu / 1000.0 / count;
                        System.out.printf(Locale.ROOT, "round %d %-9s %s: %.0f µs server CPU per full handshake"
                                + " (libcrypto signatures %d)%n", r, s.label(), protocol, results[s.ordinal()][r],
                                tls.libcryptoSignatures());
                    }
                }
            }
        }
        for (ServerTls.RsaSigner s : ServerTls.RsaSigner.values()) {
            final double[] v = results[s.ordinal()].clone();
            java.util.Arrays.sort(v);
            System.out.printf(Locale.ROOT, "median %-9s %s: %.0f µs%n", s.label(), protocol, v[v.length / 2]);
        }
    }

    /** One full handshake; returns the server engine's CPU nanoseconds. */
    private static long handshake(SslContext serverCtx, SslContext clientCtx, ThreadMXBean mx) throws SSLException {
        final SSLEngine server = serverCtx.newEngine(ByteBufAllocator.DEFAULT);
        final SSLEngine client = clientCtx.newEngine(ByteBufAllocator.DEFAULT);
        final ByteBuffer empty = ByteBuffer.allocate(0);
        final ByteBuffer toServer = ByteBuffer.allocate(64 * 1024);
        final ByteBuffer toClient = ByteBuffer.allocate(64 * 1024);
        final ByteBuffer app = ByteBuffer.allocate(64 * 1024);
        long cpu = 0;
        try {
            server.beginHandshake();
            client.beginHandshake();
            for (int step = 0; step < 20 && !(done(server) && done(client)); step++) {
                client.wrap(empty, toServer);
                toServer.flip();
                final long t0 = mx.getCurrentThreadCpuTime();
                server.unwrap(toServer, app);
                runTasks(server);
                server.wrap(empty, toClient);
                runTasks(server);
                cpu += mx.getCurrentThreadCpuTime() - t0;
                toServer.compact();
                toClient.flip();
                client.unwrap(toClient, app);
                runTasks(client);
                toClient.compact();
                app.clear();
            }
            if (!done(server) || !done(client)) {
                throw new SSLException("handshake did not finish: server " + server.getHandshakeStatus()
                        + ", client " + client.getHandshakeStatus());
            }
        } finally {
            ((ReferenceCountedOpenSslEngine) server).release();
            ((ReferenceCountedOpenSslEngine) client).release();
        }
        return cpu;
    }

    private static boolean done(SSLEngine e) {
        final SSLEngineResult.HandshakeStatus s = e.getHandshakeStatus();
        return s == SSLEngineResult.HandshakeStatus.NOT_HANDSHAKING || s == SSLEngineResult.HandshakeStatus.FINISHED;
    }

    private static void runTasks(SSLEngine e) {
        for (Runnable t = e.getDelegatedTask(); t != null; t = e.getDelegatedTask()) {
            t.run();
        }
    }

    /** An RSA-2048 or ECDSA P-256 self-signed certificate made with the openssl command. */
    private static CertificateKeyPair pair(boolean ecdsa) throws Exception {
        final Path dir = Files.createTempDirectory("tls-bench");
        final Path key = dir.resolve("key.pem");
        final Path crt = dir.resolve("crt.pem");
        final List<String> cmd = new java.util.ArrayList<>(List.of("openssl", "req", "-x509", "-nodes", "-keyout",
                key.toString(), "-out", crt.toString(), "-subj", "/CN=bench.test", "-days", "1"));
        cmd.addAll(ecdsa ? List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
                : List.of("-newkey", "rsa:2048"));
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IllegalStateException("openssl req failed: " + out);
        }
        final X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(Files.readAllBytes(crt)));
        final String pem = Files.readString(key).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        final PrivateKey pk = KeyFactory.getInstance(ecdsa ? "EC" : "RSA")
                .generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
        Files.delete(key);
        Files.delete(crt);
        Files.delete(dir);
        return new CertificateKeyPair(ecdsa ? "bench/ecdsa" : "bench/rsa", List.of(cert), pk, List.of("bench.test"));
    }
}
