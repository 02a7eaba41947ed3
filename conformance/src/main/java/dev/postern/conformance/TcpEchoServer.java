package dev.postern.conformance;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The suite's TCP echo ({@code TCP_ECHO_SERVER=1}, echo-basic's tcpserver): on connect it writes the welcome line
 * {@code "Gateway API Test TCP Server\n"}, then answers each line: {@code PING} with {@code PONG}, {@code IS_TLS}
 * with {@code true}/{@code false}, {@code TEST} with a JSON line of the pod context (namespace, ingress, service,
 * pod, tcpport, tlsport, isTLS, and over TLS a {@code tls} object with version, serverName and cipherSuite). Other
 * lines get no answer. The TLS port uses the suite's passthrough certificate.
 */
public final class TcpEchoServer implements AutoCloseable {
    static final String WELCOME = "Gateway API Test TCP Server\n";

    private final ServerSocket server;

    private TcpEchoServer(ServerSocket server, Map<String, Object> context) {
        this.server = server;
        Thread.ofPlatform().daemon().name("tcp-echo-" + server.getLocalSocketAddress()).start(() -> {
            while (!server.isClosed()) {
                try {
                    final Socket s = server.accept();
                    Thread.ofVirtual().start(() -> serve(s, context));
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    /** Starts the plain listener on {@code ip:tcpPort} (tls null) or the TLS listener on {@code ip:tlsPort}. */
    static TcpEchoServer start(InetAddress ip, int port, SSLContext tls, String namespace, String service,
                               String pod, int tcpPort, int tlsPort) throws IOException {
        final ServerSocket ss = tls == null ? new ServerSocket(port, 128, ip)
                : tls.getServerSocketFactory().createServerSocket(port, 128, ip);
        final Map<String, Object> ctx = new LinkedHashMap<>();
        ctx.put("namespace", namespace);
        ctx.put("ingress", "");
        ctx.put("service", service);
        ctx.put("pod", pod);
        ctx.put("tcpport", String.valueOf(tcpPort));
        ctx.put("tlsport", String.valueOf(tlsPort));
        return new TcpEchoServer(ss, ctx);
    }

    private static void serve(Socket s, Map<String, Object> context) {
        try (s) {
            final Map<String, Object> test = new LinkedHashMap<>(context);
            final boolean isTls = s instanceof SSLSocket;
            test.put("isTLS", isTls);
            if (s instanceof SSLSocket tls) {
                tls.startHandshake();
                final Map<String, Object> t = new LinkedHashMap<>();
                t.put("version", tls.getSession().getProtocol().replace("TLSv", "TLS "));
                t.put("serverName", ((ExtendedSSLSession) tls.getSession()).getRequestedServerNames().stream()
                        .filter(n -> n instanceof SNIHostName).map(n -> ((SNIHostName) n).getAsciiName())
                        .findFirst().orElse(""));
                t.put("cipherSuite", tls.getSession().getCipherSuite());
                test.put("tls", t);
            }
            final String json = new ObjectMapper().writeValueAsString(test);
            final OutputStream out = s.getOutputStream();
            out.write(WELCOME.getBytes(StandardCharsets.UTF_8));
            out.flush();
            final BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                    StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                final String answer = switch (line) {
                    case "TEST" -> json;
                    case "IS_TLS" -> String.valueOf(isTls);
                    case "PING" -> "PONG";
                    default -> null;
                };
                if (answer != null) {
                    out.write((answer + "\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            }
        } catch (IOException e) {
            // the client went away or the handshake failed
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
