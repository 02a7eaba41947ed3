package dev.postern.conformance;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The suite's UDP echo ({@code UDP_ECHO_SERVER=1}): each datagram is answered with a JSON object of the request
 * text and the pod context ({@code request}, {@code namespace}, {@code service}, {@code pod}), which
 * udp.ExpectEchoResponseFromBackend decodes.
 */
public final class UdpEchoServer implements AutoCloseable {
    private final DatagramSocket socket;

    private UdpEchoServer(DatagramSocket socket, Map<String, String> context) {
        this.socket = socket;
        Thread.ofPlatform().daemon().name("udp-echo-" + socket.getLocalSocketAddress()).start(() -> {
            final byte[] buf = new byte[65535];
            final ObjectMapper json = new ObjectMapper();
            while (!socket.isClosed()) {
                try {
                    final DatagramPacket p = new DatagramPacket(buf, buf.length);
                    socket.receive(p);
                    final Map<String, String> answer = new LinkedHashMap<>();
                    answer.put("request", new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8));
                    answer.putAll(context);
                    final byte[] out = json.writeValueAsBytes(answer);
                    socket.send(new DatagramPacket(out, out.length, p.getSocketAddress()));
                } catch (IOException e) {
                    if (socket.isClosed()) {
                        return;
                    }
                }
            }
        });
    }

    static UdpEchoServer start(InetAddress ip, int port, String namespace, String service, String pod)
            throws IOException {
        final Map<String, String> ctx = new LinkedHashMap<>();
        ctx.put("namespace", namespace);
        ctx.put("service", service);
        ctx.put("pod", pod);
        return new UdpEchoServer(new DatagramSocket(new InetSocketAddress(ip, port)), ctx);
    }

    @Override
    public void close() {
        socket.close();
    }
}
