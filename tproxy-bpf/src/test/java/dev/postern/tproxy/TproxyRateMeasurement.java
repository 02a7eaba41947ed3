package dev.postern.tproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Rough rates through the VIP path (client → BPF sk_assign → IP_TRANSPARENT listener) next to the same listener code
 * reached directly on the node's own address, in the same run and namespaces. Not part of the normal build (it
 * takes ~35 s and the numbers depend on the machine): run with
 * {@code ./mvnw -pl tproxy-bpf verify -Dtest=TproxyRateMeasurement -Dpostern.tproxy.measure=true}. The results are
 * printed and written to {@code target/tproxy-rates.txt}.
 */
class TproxyRateMeasurement {
    private static final int CLIENTS = 4;
    private static final long SECONDS = 4;

    @Test
    void connectionsAndRoundTripsThroughTheVipPathAgainstThePlainListener() throws Exception {
        Assumptions.assumeTrue(Boolean.getBoolean("postern.tproxy.measure"),
                "measurement runs only with -Dpostern.tproxy.measure=true");
        Topology.assumePrivileged();
        try (Topology topology = Topology.create()) {
            final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            topology.own(() -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly());
            final TransparentListener steered = topology.own(TransparentListener.bind(topology.node, group,
                    new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 0), "vip", true));
            final TransparentListener direct = topology.own(TransparentListener.bind(topology.node, group,
                    new InetSocketAddress(InetAddress.ofLiteral(Topology.NODE_V4), 0), "direct", true));
            final TproxyDataplane dataplane = topology.node.call(() -> TproxyDataplane.start(TproxySettings.builder()
                    .interfaces(List.of(Topology.NODE_IF)).pinRoot(topology.pinRoot("measure")).build()));
            try {
                topology.node.call(() -> {
                    dataplane.setServices(List.of(TproxyService.parse(Topology.VIP_V4 + ":80", steered.address())));
                    return null;
                });
                final List<String> lines = new ArrayList<>();
                lines.add("clients=" + CLIENTS + " seconds=" + SECONDS + " per measurement; one Netty event loop");
                // Warm-up of both paths (JIT, caches), so that the order of the measurements does not matter.
                connectionsPerSecond(topology, Topology.VIP_V4, 80);
                connectionsPerSecond(topology, Topology.NODE_V4, direct.port());
                roundTripsPerSecond(topology, Topology.VIP_V4, 80);
                roundTripsPerSecond(topology, Topology.NODE_V4, direct.port());
                final double vipConn = connectionsPerSecond(topology, Topology.VIP_V4, 80);
                final double directConn = connectionsPerSecond(topology, Topology.NODE_V4, direct.port());
                lines.add(String.format("new connections/s: vip %.0f, plain listener %.0f (ratio %.2f)", vipConn,
                        directConn, vipConn / directConn));
                final double vipRtt = roundTripsPerSecond(topology, Topology.VIP_V4, 80);
                final double directRtt = roundTripsPerSecond(topology, Topology.NODE_V4, direct.port());
                lines.add(String.format("request/response round trips/s: vip %.0f, plain listener %.0f (ratio %.2f)",
                        vipRtt, directRtt, vipRtt / directRtt));
                if (Boolean.getBoolean("postern.tproxy.measure.nstat")) {
                    lines.add("node nstat:\n" + Shell.inNs(topology.node.name, "nstat", "-a"));
                    lines.add("client nstat:\n" + Shell.inNs(topology.client.name, "nstat", "-a"));
                }
                final TproxyCounters counters = topology.node.call(dataplane::counters);
                lines.add("counters: " + counters);
                lines.forEach(System.out::println);
                Files.write(Path.of("target", "tproxy-rates.txt"), lines);
                assertEquals(0, counters.noListener() + counters.assignErrors() + counters.dropped(),
                        counters.toString());
                assertTrue(vipConn > 0 && vipRtt > 0);
            } finally {
                topology.node.call(() -> {
                    dataplane.uninstall();
                    return null;
                });
            }
        }
    }

    private static double connectionsPerSecond(final Topology topology, final String host, final int port)
            throws Exception {
        return run(topology, () -> {
            long n = 0;
            final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(SECONDS);
            while (System.nanoTime() < end) {
                try (Socket socket = new Socket()) {
                    socket.setSoLinger(true, 0); // RST on close: no TIME_WAIT pile-up on the client's ports
                    socket.connect(new InetSocketAddress(InetAddress.ofLiteral(host), port), 3000);
                    socket.setSoTimeout(3000);
                    if (socket.getInputStream().read() < 0) {
                        throw new IllegalStateException("no greeting from " + host + ":" + port);
                    }
                }
                n++;
            }
            return n;
        });
    }

    private static double roundTripsPerSecond(final Topology topology, final String host, final int port)
            throws Exception {
        return run(topology, () -> {
            long n = 0;
            try (Socket socket = new Socket()) {
                socket.setTcpNoDelay(true);
                socket.connect(new InetSocketAddress(InetAddress.ofLiteral(host), port), 3000);
                socket.setSoTimeout(3000);
                final InputStream in = socket.getInputStream();
                new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII), 1).readLine();
                final OutputStream out = socket.getOutputStream();
                final byte[] request = new byte[64];
                final byte[] response = new byte[64];
                final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(SECONDS);
                while (System.nanoTime() < end) {
                    out.write(request);
                    int read = 0;
                    while (read < response.length) {
                        final int r = in.read(response, read, response.length - read);
                        if (r < 0) {
                            throw new IllegalStateException("echo closed");
                        }
                        read += r;
                    }
                    n++;
                }
            }
            return n;
        });
    }

    /** Runs {@code work} on {@link #CLIENTS} threads in the client namespace; returns the summed count per second. */
    private static double run(final Topology topology, final Callable<Long> work) throws Exception {
        final List<NetNs> threads = new ArrayList<>();
        final ExecutorService starter = Executors.newFixedThreadPool(CLIENTS);
        try {
            final List<Future<Long>> results = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                results.add(starter.submit(() -> topology.client.callOnNewThread(work)));
            }
            long total = 0;
            for (final Future<Long> f : results) {
                total += f.get();
            }
            return total / (double) SECONDS;
        } finally {
            starter.shutdownNow();
            threads.forEach(NetNs::close);
        }
    }
}
