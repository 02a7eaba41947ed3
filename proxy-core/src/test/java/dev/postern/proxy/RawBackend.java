package dev.postern.proxy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A misbehaving backend for tests: a real {@link ServerSocket} on 127.0.0.1 whose answers are exact bytes chosen by
 * the request path, written by a thread per connection. It reads each request head (and a Content-Length or chunked
 * body), records the raw request bytes, and then acts as the {@link Behavior} registered for the path says: write
 * bytes and keep the connection, write bytes and close, reset, or never answer.
 */
final class RawBackend implements AutoCloseable {
    /** What the backend does with one request. */
    sealed interface Behavior {
    }

    /** Writes {@code bytes}, then closes the connection when {@code close} (else waits for the next request). */
    record Write(byte[] bytes, boolean close) implements Behavior {
        static Write of(String raw, boolean close) {
            return new Write(raw.getBytes(StandardCharsets.ISO_8859_1), close);
        }
    }

    /** Writes {@code head}, then closes with a TCP reset (SO_LINGER 0) after {@code afterMillis}. */
    record Reset(byte[] head, long afterMillis) implements Behavior {
    }

    /** Reads the request and never answers (the connection stays open until the peer closes it). */
    record Silent() implements Behavior {
    }

    private final ServerSocket server;
    private final Map<String, Behavior> behaviors = new ConcurrentHashMap<>();
    private final List<Socket> open = new CopyOnWriteArrayList<>();
    /** The raw bytes of every request received, in arrival order. */
    final List<String> requests = new CopyOnWriteArrayList<>();
    final AtomicInteger connections = new AtomicInteger();
    private volatile Behavior fallback = Write.of("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false);
    private volatile boolean closed;

    RawBackend() throws IOException {
        server = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
        final Thread t = new Thread(this::acceptLoop, "raw-backend-accept");
        t.setDaemon(true);
        t.start();
    }

    int port() {
        return server.getLocalPort();
    }

    /** Registers the behaviour for requests whose path is {@code path} (exact, without query). */
    RawBackend on(String path, Behavior b) {
        behaviors.put(path, b);
        return this;
    }

    /** The behaviour for paths not registered. */
    RawBackend otherwise(Behavior b) {
        fallback = b;
        return this;
    }

    /** Connections currently open towards this backend. */
    int openConnections() {
        open.removeIf(Socket::isClosed);
        return open.size();
    }

    /** Closes every open connection with a reset, as a killed process's kernel would. */
    void killConnections() {
        for (Socket s : open) {
            reset(s);
        }
    }

    private void acceptLoop() {
        while (!closed) {
            final Socket s;
            try {
                s = server.accept();
            } catch (IOException e) {
                return;
            }
            connections.incrementAndGet();
            open.add(s);
            final Thread t = new Thread(() -> serve(s), "raw-backend-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(Socket s) {
        try (s) {
            final InputStream in = s.getInputStream();
            final OutputStream out = s.getOutputStream();
            while (true) {
                final String req = readRequest(in);
                if (req == null) {
                    return;
                }
                requests.add(req);
                final String target = req.substring(req.indexOf(' ') + 1, req.indexOf(' ', req.indexOf(' ') + 1));
                final int q = target.indexOf('?');
                final Behavior b = behaviors.getOrDefault(q < 0 ? target : target.substring(0, q), fallback);
                switch (b) {
                    case Write w -> {
                        out.write(w.bytes());
                        out.flush();
                        if (w.close()) {
                            return;
                        }
                    }
                    case Reset r -> {
                        out.write(r.head());
                        out.flush();
                        Thread.sleep(r.afterMillis());
                        reset(s);
                        return;
                    }
                    case Silent x -> {
                        while (in.read() >= 0) {
                            // hold the connection until the peer gives up
                        }
                        return;
                    }
                }
            }
        } catch (IOException | InterruptedException e) {
            // the peer went away
        } finally {
            open.remove(s);
        }
    }

    private static void reset(Socket s) {
        try {
            s.setSoLinger(true, 0);
            s.close();
        } catch (IOException e) {
            // already gone
        }
    }

    /** One request: the head up to the empty line and a Content-Length or chunked body; null at EOF. */
    private static String readRequest(InputStream in) throws IOException {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            b.write(c);
            final int n = b.size();
            if (n >= 4 && b.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                break;
            }
        }
        if (c < 0) {
            return null;
        }
        final String head = b.toString(StandardCharsets.ISO_8859_1);
        final String lower = head.toLowerCase(java.util.Locale.ROOT);
        final int cl = lower.indexOf("\r\ncontent-length:");
        if (cl >= 0) {
            final int end = lower.indexOf("\r\n", cl + 2);
            final int len = Integer.parseInt(head.substring(cl + 17, end).trim());
            b.write(in.readNBytes(len));
        } else if (lower.contains("\r\ntransfer-encoding: chunked")) {
            // chunks until the zero chunk, then trailers until an empty line
            while (true) {
                final String line = line(in, b);
                final int size = Integer.parseInt(line.split(";")[0].trim(), 16);
                if (size == 0) {
                    while (!line(in, b).isEmpty()) {
                        // trailers
                    }
                    break;
                }
                b.write(in.readNBytes(size));
                line(in, b);
            }
        }
        return b.toString(StandardCharsets.ISO_8859_1);
    }

    private static String line(InputStream in, ByteArrayOutputStream copy) throws IOException {
        final StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0) {
            copy.write(c);
            if (c == '\n') {
                break;
            }
            sb.append((char) c);
        }
        if (c < 0) {
            throw new IOException("EOF in a chunked body");
        }
        final int n = sb.length();
        return n > 0 && sb.charAt(n - 1) == '\r' ? sb.substring(0, n - 1) : sb.toString();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : open) {
            s.close();
        }
    }
}
