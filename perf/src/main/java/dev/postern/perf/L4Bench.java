package dev.postern.perf;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * TCP proxying side by side: a TCP echo backend, then the same load straight to it, through Postern's TCPRoute
 * listener and through HAProxy in {@code mode tcp}, in one run. Two measurements per target:
 *
 * <ul>
 *   <li>throughput: {@code conns} connections each writing 64 KiB and reading it back, in a loop (MiB/s echoed);</li>
 *   <li>connection rate: {@code conns} loops each opening a connection, one byte there and back, then closing
 *       (connections/s).</li>
 * </ul>
 *
 * <p>Run by {@code perf/l4}, which pins Postern and HAProxy to one core and this JVM (load and backend) to
 * another, as {@code perf/run} does. Arguments: {@code postern-jar workdir seconds conns proxyCpu}.
 */
public final class L4Bench {
    private L4Bench() {
    }

    public static void main(String[] args) throws Exception {
        final Path jar = Path.of(args[0]);
        final Path work = Path.of(args[1]);
        final int seconds = Integer.parseInt(args[2]);
        final int conns = Integer.parseInt(args[3]);
        final String proxyCpu = args[4];
        Files.createDirectories(work);
        final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        final Channel backend = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ctx.write(msg);
                            }

                            @Override
                            public void channelReadComplete(ChannelHandlerContext ctx) {
                                ctx.flush();
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                ctx.close(); // the connection-rate clients end with RST
                            }
                        });
                    }
                }).bind(new InetSocketAddress("127.0.0.2", 0)).sync().channel();
        final int up = ((InetSocketAddress) backend.localAddress()).getPort();
        final int posternPort = freePort();
        final int splicePort = freePort();
        final int haproxyPort = freePort();
        final Path cfg = work.resolve("postern");
        final Path spliceCfg = work.resolve("postern-splice");
        Files.createDirectories(cfg);
        Files.createDirectories(spliceCfg);
        final String gateway = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: postern}
                spec: {controllerName: postern.dev/gateway-controller}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: default}
                spec:
                  gatewayClassName: postern
                  addresses: [{type: IPAddress, value: 127.0.0.1}]
                  listeners: [{name: tcp, protocol: TCP, port: %d}]
                ---
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TCPRoute
                metadata: {name: echo, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: echo, port: 9000}]}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: echo, namespace: default}
                spec: {ports: [{name: tcp, port: 9000}]}
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: echo-0, namespace: default, labels: {kubernetes.io/service-name: echo}}
                addressType: IPv4
                endpoints: [{addresses: [127.0.0.2]}]
                ports: [{name: tcp, port: %d}]
                """;
        Files.writeString(cfg.resolve("all.yaml"), gateway.formatted(posternPort, up));
        Files.writeString(spliceCfg.resolve("all.yaml"), gateway.formatted(splicePort, up));
        final Path boot = work.resolve("bootstrap.yaml");
        Files.writeString(boot, "admin: {port: 0}\neventLoops: 1\n");
        // The same Postern with the splice(2) relay (bootstrap tcp.splice).
        final Path spliceBoot = work.resolve("bootstrap-splice.yaml");
        Files.writeString(spliceBoot, "admin: {port: 0}\neventLoops: 1\ntcp: {splice: true}\n");
        Files.writeString(work.resolve("haproxy.cfg"), """
                global
                  nbthread 1
                  maxconn 8000
                defaults
                  mode tcp
                  timeout connect 5s
                  timeout client 60s
                  timeout server 60s
                listen l4
                  bind 127.0.0.1:%d
                  server up 127.0.0.2:%d
                """.formatted(haproxyPort, up));
        final String java = ProcessHandle.current().info().command().orElse("java");
        final List<Process> procs = new ArrayList<>();
        try {
            procs.add(new ProcessBuilder("taskset", "-c", proxyCpu, java, "-XX:+UseParallelGC", "-Xms256m",
                    "-Xmx256m", "-jar", jar.toString(), "run", cfg.toString(), "--bootstrap", boot.toString())
                    .redirectErrorStream(true).redirectOutput(work.resolve("postern.log").toFile()).start());
            procs.add(new ProcessBuilder("taskset", "-c", proxyCpu, java, "-XX:+UseParallelGC", "-Xms256m",
                    "-Xmx256m", "-jar", jar.toString(), "run", spliceCfg.toString(), "--bootstrap",
                    spliceBoot.toString())
                    .redirectErrorStream(true).redirectOutput(work.resolve("postern-splice.log").toFile()).start());
            procs.add(new ProcessBuilder("taskset", "-c", proxyCpu, "haproxy", "-db", "-f",
                    work.resolve("haproxy.cfg").toString()).redirectErrorStream(true)
                    .redirectOutput(work.resolve("haproxy.log").toFile()).start());
            waitForPort(posternPort);
            waitForPort(splicePort);
            waitForPort(haproxyPort);
            final String[] names = {"direct", "postern", "haproxy", "postern (splice)"};
            final InetSocketAddress[] targets = {new InetSocketAddress("127.0.0.2", up),
                    new InetSocketAddress("127.0.0.1", posternPort), new InetSocketAddress("127.0.0.1", haproxyPort),
                    new InetSocketAddress("127.0.0.1", splicePort)};
            final int n = targets.length;
            final long[] pids = {-1, procs.get(0).pid(), procs.get(2).pid(), procs.get(1).pid()};
            for (int i = 0; i < n; i++) { // warm-up (the JIT of the JVMs), not recorded
                throughput(targets[i], conns, 2);
                connectionRate(targets[i], conns, 2);
            }
            // Interleaved rounds (every target once per round, then again): drift on a shared machine hits all.
            final int rounds = 3;
            final double[][] mibs = new double[n][rounds];
            final double[][] rates = new double[n][rounds];
            final double[][] cpuPerMib = new double[n][rounds];
            final double[][] cpuPerConn = new double[n][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < n; i++) {
                    double c0 = cpuSeconds(pids[i]);
                    mibs[i][r] = throughput(targets[i], conns, seconds);
                    cpuPerMib[i][r] = (cpuSeconds(pids[i]) - c0) * 1e3 / (mibs[i][r] * seconds);
                    c0 = cpuSeconds(pids[i]);
                    rates[i][r] = connectionRate(targets[i], conns, seconds);
                    cpuPerConn[i][r] = (cpuSeconds(pids[i]) - c0) * 1e6 / (rates[i][r] * seconds);
                }
            }
            final StringBuilder out = new StringBuilder();
            out.append(String.format(Locale.ROOT, "%d interleaved rounds of %d s per measurement, medians; proxy CPU "
                    + "from /proc/<pid>/stat (utime+stime, the whole process)%n%n", rounds, seconds));
            out.append("| target | echo throughput (MiB/s) | proxy CPU ms per MiB | new connections/s "
                    + "| proxy CPU µs per connection |\n|---|---|---|---|---|\n");
            for (int i = 0; i < n; i++) {
                out.append(String.format(Locale.ROOT, "| %s | %.0f | %s | %.0f | %s |%n", names[i], median(mibs[i]),
                        i == 0 ? "—" : String.format(Locale.ROOT, "%.2f", median(cpuPerMib[i])), median(rates[i]),
                        i == 0 ? "—" : String.format(Locale.ROOT, "%.0f", median(cpuPerConn[i]))));
            }
            out.append(String.format(Locale.ROOT, "%nPostern / HAProxy: throughput %.2f, connection rate %.2f, CPU "
                    + "per MiB %.2f, CPU per connection %.2f%n", median(mibs[1]) / median(mibs[2]),
                    median(rates[1]) / median(rates[2]), median(cpuPerMib[1]) / median(cpuPerMib[2]),
                    median(cpuPerConn[1]) / median(cpuPerConn[2])));
            out.append(String.format(Locale.ROOT, "Postern splice / HAProxy: throughput %.2f, connection rate %.2f, "
                    + "CPU per MiB %.2f, CPU per connection %.2f%n", median(mibs[3]) / median(mibs[2]),
                    median(rates[3]) / median(rates[2]), median(cpuPerMib[3]) / median(cpuPerMib[2]),
                    median(cpuPerConn[3]) / median(cpuPerConn[2])));
            out.append(String.format(Locale.ROOT, "Postern splice / Postern copy: throughput %.2f, CPU per MiB %.2f%n",
                    median(mibs[3]) / median(mibs[1]), median(cpuPerMib[3]) / median(cpuPerMib[1])));
            final StringBuilder perRound = new StringBuilder();
            for (int i = 0; i < n; i++) {
                perRound.append(i == 0 ? "" : "; ").append(names[i]).append(' ');
                for (int r = 0; r < rounds; r++) {
                    perRound.append(r == 0 ? "" : "/").append(Math.round(mibs[i][r]));
                }
            }
            out.append("Per round MiB/s: ").append(perRound).append('\n');
            System.out.print(out);
            Files.writeString(work.resolve("l4-results.md"), out.toString());
        } finally {
            for (Process p : procs) {
                p.destroy();
                p.waitFor(5, TimeUnit.SECONDS);
            }
            backend.close().sync();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    private static double median(double[] v) {
        final double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    /** utime + stime of a process (all threads), in seconds; 0 for -1 (the direct target has no proxy). */
    private static double cpuSeconds(long pid) throws Exception {
        if (pid < 0) {
            return 0;
        }
        final String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        final String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // USER_HZ
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        }
    }

    private static void waitForPort(int port) throws Exception {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (java.io.IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("nothing listens on " + port + " after 30 s", e);
                }
                Thread.sleep(100);
            }
        }
    }

    /** MiB/s echoed by {@code conns} connections writing and reading 64 KiB blocks. */
    static double throughput(InetSocketAddress target, int conns, int seconds) throws Exception {
        final LongAdder bytes = new LongAdder();
        final AtomicBoolean stop = new AtomicBoolean();
        final List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < conns; c++) {
            threads.add(Thread.ofPlatform().start(() -> {
                final byte[] block = new byte[64 * 1024];
                final byte[] back = new byte[64 * 1024];
                try (Socket s = new Socket()) {
                    s.setTcpNoDelay(true);
                    s.connect(target, 5000);
                    final OutputStream out = s.getOutputStream();
                    final InputStream in = s.getInputStream();
                    while (!stop.get()) {
                        out.write(block);
                        int got = 0;
                        while (got < block.length) {
                            final int n = in.read(back, got, back.length - got);
                            if (n < 0) {
                                throw new java.io.EOFException("closed after " + got + " bytes");
                            }
                            got += n;
                        }
                        bytes.add(block.length);
                    }
                } catch (java.io.IOException e) {
                    System.err.println("throughput " + target + ": " + e);
                }
            }));
        }
        final long t0 = System.nanoTime();
        Thread.sleep(seconds * 1000L);
        final long total = bytes.sum();
        final double elapsed = (System.nanoTime() - t0) / 1e9;
        stop.set(true);
        for (Thread t : threads) {
            t.join();
        }
        return total / elapsed / (1 << 20);
    }

    /** Connections per second: connect, one byte there and back, close with RST (no TIME_WAIT on the client). */
    static double connectionRate(InetSocketAddress target, int conns, int seconds) throws Exception {
        final LongAdder done = new LongAdder();
        final LongAdder failed = new LongAdder();
        final AtomicBoolean stop = new AtomicBoolean();
        final List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < conns; c++) {
            threads.add(Thread.ofPlatform().start(() -> {
                while (!stop.get()) {
                    try (Socket s = new Socket()) {
                        s.setTcpNoDelay(true);
                        s.connect(target, 5000);
                        s.setSoTimeout(5000);
                        s.getOutputStream().write(1);
                        if (s.getInputStream().read() < 0) {
                            failed.increment();
                            continue;
                        }
                        s.setSoLinger(true, 0);
                        done.increment();
                    } catch (java.io.IOException e) {
                        failed.increment();
                    }
                }
            }));
        }
        final long t0 = System.nanoTime();
        Thread.sleep(seconds * 1000L);
        final long total = done.sum();
        final double elapsed = (System.nanoTime() - t0) / 1e9;
        stop.set(true);
        for (Thread t : threads) {
            t.join();
        }
        if (failed.sum() > total / 100) {
            System.err.println("connection rate " + target + ": " + failed.sum() + " failures of " + total);
        }
        return total / elapsed;
    }
}
