package dev.postern.tproxy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The client side of the tests, and the plain server that stands where the node would route a VIP without us. */
final class Peers {
    private Peers() {
    }

    /**
     * Connects from {@code ns} to {@code target}, reads the server's one-line greeting, sends a line back (a data
     * segment on the established connection) and closes.
     *
     * @return the greeting and, after a tab, this client's own local address ("ip:port")
     * @throws IOException when the connection times out or is refused
     */
    static String exchange(final NetNs ns, final String host, final int port, final int timeoutMillis)
            throws IOException {
        try {
            return ns.call(() -> {
                try (Socket socket = new Socket()) {
                    socket.connect(new InetSocketAddress(InetAddress.ofLiteral(host), port), timeoutMillis);
                    socket.setSoTimeout(timeoutMillis);
                    final BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                            StandardCharsets.US_ASCII));
                    final String greeting = in.readLine();
                    final OutputStream out = socket.getOutputStream();
                    out.write("bye\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    return greeting + "\t" + TransparentListener.text(socket.getLocalSocketAddress());
                }
            });
        } catch (final IllegalStateException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw e;
        }
    }

    /** A blocking server on every address of {@code ns} (dual-stack) that greets with its addresses and closes. */
    static final class PlainServer implements AutoCloseable {
        private final List<ServerSocket> sockets = new ArrayList<>();

        PlainServer(final NetNs ns, final String banner, final int... ports) {
            for (final int port : ports) {
                final ServerSocket server = ns.call(() -> {
                    final ServerSocket s = new ServerSocket();
                    s.setReuseAddress(true);
                    s.bind(new InetSocketAddress(InetAddress.ofLiteral("::"), port));
                    return s;
                });
                sockets.add(server);
                Thread.ofPlatform().daemon().name("plain-server-" + port).start(() -> serve(server, banner));
            }
        }

        private static void serve(final ServerSocket server, final String banner) {
            while (!server.isClosed()) {
                try (Socket s = server.accept()) {
                    final String line = banner + " local=" + TransparentListener.text(s.getLocalSocketAddress())
                            + " remote=" + TransparentListener.text(s.getRemoteSocketAddress()) + "\n";
                    s.getOutputStream().write(line.getBytes(StandardCharsets.US_ASCII));
                    s.getOutputStream().flush();
                    s.setSoTimeout(2000);
                    s.getInputStream().read(); // wait for the client's line or close
                } catch (final IOException e) {
                    // closed, or a client went away
                }
            }
        }

        @Override
        public void close() throws IOException {
            for (final ServerSocket s : sockets) {
                s.close();
            }
        }
    }
}
