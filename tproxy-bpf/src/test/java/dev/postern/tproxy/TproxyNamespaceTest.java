package dev.postern.tproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;

/**
 * The real BPF program, attached by the Java loader to the node namespace's interface, steering real TCP
 * connections from the client namespace to a VIP that no interface on the node owns, into a Netty epoll
 * IP_TRANSPARENT listener. See {@link Topology} for the namespaces and addresses.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TproxyNamespaceTest {
    private static final int TIMEOUT_MS = 3000;
    /** Shorter than the client's first SYN retransmission (1 s), so a dropped SYN is seen as a timeout. */
    private static final int DROP_TIMEOUT_MS = 800;

    private Topology topology;
    private EventLoopGroup group;
    private TransparentListener http;
    private TransparentListener https;
    private TransparentListener http6;

    @BeforeAll
    void setUp() {
        Topology.assumePrivileged();
        topology = Topology.create();
        group = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        topology.own(() -> group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly());
        http = topology.own(TransparentListener.bind(topology.node, group,
                new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 0), "http"));
        https = topology.own(TransparentListener.bind(topology.node, group,
                new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 0), "https"));
        http6 = topology.own(TransparentListener.bind(topology.node, group,
                new InetSocketAddress(InetAddress.ofLiteral("::1"), 0), "http6"));
        topology.own(new Peers.PlainServer(topology.fallback, "fallback", 80, 81, 443));
    }

    @AfterAll
    void tearDown() {
        if (topology != null) {
            topology.close();
        }
    }

    private TproxySettings.Builder settings(final TestInfo test) {
        return TproxySettings.builder()
                .interfaces(List.of(Topology.NODE_IF))
                .pinRoot(topology.pinRoot(test.getTestMethod().orElseThrow().getName()));
    }

    private TproxyDataplane start(final TproxySettings settings) {
        return topology.node.call(() -> TproxyDataplane.start(settings));
    }

    private List<TproxyService> gatewayServices() {
        return List.of(
                TproxyService.parse(Topology.VIP_V4 + ":80", http.address()),
                TproxyService.parse(Topology.VIP_V4 + ":443", https.address()),
                TproxyService.parse("198.51.100.0/24:8080", http.address()),
                TproxyService.parse("[" + Topology.VIP_V6 + "]:80", http6.address()));
    }

    private void uninstall(final TproxyDataplane dataplane) {
        topology.node.call(() -> {
            dataplane.uninstall();
            return null;
        });
    }

    @Test
    void ipv4ConnectionToVipReachesTransparentListenerWithClientAndOriginalDestination(final TestInfo test)
            throws IOException {
        final TproxyDataplane dataplane = start(settings(test).build());
        try {
            topology.node.call(() -> {
                dataplane.setServices(gatewayServices());
                return null;
            });
            final TproxyCounters before = topology.node.call(dataplane::counters);

            final String[] reply = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t");

            // The listener saw the VIP as its local address and the client's own address and port as the peer.
            assertEquals("http local=" + Topology.VIP_V4 + ":80 remote=" + reply[1], reply[0]);
            assertTrue(reply[1].startsWith(Topology.CLIENT_V4 + ":"), reply[1]);
            final TproxyCounters delta = topology.node.call(dataplane::counters).minus(before);
            assertEquals(1, delta.assignedListener(), delta.toString());   // the SYN
            assertTrue(delta.assignedEstablished() >= 2, delta.toString()); // handshake ACK, data, FIN
            assertEquals(delta.matched(), delta.assignedListener() + delta.assignedEstablished(), delta.toString());
            assertEquals(0, delta.noListener() + delta.assignErrors() + delta.dropped(), delta.toString());
        } finally {
            uninstall(dataplane);
        }
    }

    /**
     * The server closes first (an HTTP server after {@code Connection: close}), so the node keeps the connection in
     * TIME_WAIT; the client reconnects at once from the same port. The SYN meets the time-wait socket: the program
     * leaves it to the kernel, which kills that socket and asks the sk_lookup program for a listener. Without that,
     * the SYN was dropped and the client could not connect from that port for the 60 s of TIME_WAIT.
     */
    @Test
    void clientReusingItsPortWithinTimeWaitReconnectsAtOnce(final TestInfo test) throws Exception {
        final TransparentListener closing = TransparentListener.bindClosingFirst(topology.node, group,
                new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 0), "closing");
        final TproxyDataplane dataplane = start(settings(test).build());
        try {
            topology.node.call(() -> {
                dataplane.setServices(List.of(TproxyService.parse(Topology.VIP_V4 + ":80", closing.address())));
                dataplane.setListenerSockets(closing.fd(), -1);
                return null;
            });
            assertTrue(topology.node.call(dataplane::listenerLookupAttached), "sk_lookup link on this kernel");
            final TproxyCounters before = topology.node.call(dataplane::counters);
            final int port = 40000 + (int) (ProcessHandle.current().pid() % 20000);
            final long[] millis = new long[3];
            for (int i = 0; i < millis.length; i++) {
                final long t0 = System.nanoTime();
                final String greeting = topology.client.call(() -> {
                    try (java.net.Socket s = new java.net.Socket()) {
                        s.setReuseAddress(true);
                        s.bind(new InetSocketAddress(InetAddress.ofLiteral(Topology.CLIENT_V4), port));
                        s.connect(new InetSocketAddress(InetAddress.ofLiteral(Topology.VIP_V4), 80), TIMEOUT_MS);
                        s.setSoTimeout(TIMEOUT_MS);
                        final java.io.InputStream in = s.getInputStream();
                        final String line = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
                        return line.strip(); // read to the server's FIN: the node side goes to TIME_WAIT
                    }
                });
                millis[i] = (System.nanoTime() - t0) / 1_000_000;
                assertEquals("closing local=" + Topology.VIP_V4 + ":80 remote=" + Topology.CLIENT_V4 + ":" + port,
                        greeting);
            }
            // A dropped SYN would cost at least the 1 s retransmission.
            for (final long ms : millis) {
                assertTrue(ms < 900, "connections from the same port took " + java.util.Arrays.toString(millis)
                        + " ms");
            }
            final TproxyCounters delta = topology.node.call(dataplane::counters).minus(before);
            assertEquals(1, delta.assignedListener(), delta.toString()); // the first SYN only
            assertEquals(2, delta.timeWaitSyn(), delta.toString());
            assertTrue(delta.assignedByLookup() >= 2, delta.toString()); // the kernel may ask more than once
            assertEquals(0, delta.noListener() + delta.assignErrors() + delta.dropped(), delta.toString());
        } finally {
            uninstall(dataplane);
            closing.close();
        }
    }

    @Test
    void ipv6ConnectionToVipReachesTransparentListener(final TestInfo test) throws IOException {
        final TproxyDataplane dataplane = start(settings(test).build());
        try {
            topology.node.call(() -> {
                dataplane.setServices(gatewayServices());
                return null;
            });
            final TproxyCounters before = topology.node.call(dataplane::counters);

            final String[] reply = Peers.exchange(topology.client, Topology.VIP_V6, 80, TIMEOUT_MS).split("\t");

            assertEquals("http6 local=" + canonical(Topology.VIP_V6) + ":80 remote=" + reply[1], reply[0]);
            assertTrue(reply[1].startsWith(canonical(Topology.CLIENT_V6) + ":"), reply[1]);
            final TproxyCounters delta = topology.node.call(dataplane::counters).minus(before);
            assertEquals(1, delta.assignedListener(), delta.toString());
            assertTrue(delta.assignedEstablished() >= 2, delta.toString());
        } finally {
            uninstall(dataplane);
        }
    }

    @Test
    void udpDatagramToVipReachesTheTransparentUdpSocketAndTheReplyComesFromTheVip(final TestInfo test)
            throws Exception {
        final TproxyDataplane dataplane = start(settings(test).build());
        // Postern's way for UDP: an IP_TRANSPARENT socket bound to the VIP itself, which no interface owns.
        final InetSocketAddress vip = new InetSocketAddress(InetAddress.ofLiteral(Topology.VIP_V4), 5353);
        final io.netty.channel.Channel udp = topology.node.call(() -> new io.netty.bootstrap.Bootstrap().group(group)
                .channel(io.netty.channel.epoll.EpollDatagramChannel.class)
                .option(io.netty.channel.epoll.EpollChannelOption.IP_TRANSPARENT, true)
                .handler(new io.netty.channel.SimpleChannelInboundHandler<io.netty.channel.socket.DatagramPacket>() {
                    @Override
                    protected void channelRead0(final io.netty.channel.ChannelHandlerContext ctx,
                                                final io.netty.channel.socket.DatagramPacket p) {
                        final String text = "udp got " + p.content().toString(java.nio.charset.StandardCharsets.UTF_8)
                                + " from " + p.sender().getAddress().getHostAddress();
                        ctx.writeAndFlush(new io.netty.channel.socket.DatagramPacket(io.netty.buffer.Unpooled
                                .copiedBuffer(text, java.nio.charset.StandardCharsets.UTF_8), p.sender()));
                    }
                }).bind(vip).sync().channel());
        try {
            topology.node.call(() -> {
                dataplane.setServices(List.of(TproxyService.of(TproxyService.Protocol.UDP, vip.getAddress(), 5353,
                        vip)));
                return null;
            });
            final TproxyCounters before = topology.node.call(dataplane::counters);

            final String[] got = topology.client.call(() -> {
                try (java.net.DatagramSocket s = new java.net.DatagramSocket()) {
                    s.setSoTimeout(TIMEOUT_MS);
                    final byte[] ping = "ping".getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    s.send(new java.net.DatagramPacket(ping, ping.length, vip));
                    final java.net.DatagramPacket r = new java.net.DatagramPacket(new byte[512], 512);
                    s.receive(r);
                    return new String[] {new String(r.getData(), 0, r.getLength(),
                            java.nio.charset.StandardCharsets.UTF_8), r.getSocketAddress().toString()};
                }
            });

            assertEquals("udp got ping from " + Topology.CLIENT_V4, got[0]);
            assertEquals(vip.toString(), got[1]); // the reply's source is the VIP and port
            final TproxyCounters delta = topology.node.call(dataplane::counters).minus(before);
            assertEquals(1, delta.assignedUdp(), delta.toString());
            assertEquals(0, delta.noListener() + delta.assignErrors() + delta.dropped(), delta.toString());
            assertEquals(Set.of(TproxyService.of(TproxyService.Protocol.UDP, vip.getAddress(), 5353, vip)),
                    Set.copyOf(topology.node.call(dataplane::services)));
        } finally {
            udp.close().syncUninterruptibly();
            uninstall(dataplane);
        }
    }

    @Test
    void portAndPrefixSelectTheListener(final TestInfo test) throws IOException {
        final TproxyDataplane dataplane = start(settings(test).build());
        try {
            topology.node.call(() -> {
                dataplane.setServices(gatewayServices());
                return null;
            });

            final String tls = Peers.exchange(topology.client, Topology.VIP_V4, 443, TIMEOUT_MS).split("\t")[0];
            assertTrue(tls.startsWith("https local=" + Topology.VIP_V4 + ":443 "), tls);
            // 198.51.100.77 is covered only by the /24 entry on port 8080.
            final String prefix = Peers.exchange(topology.client, "198.51.100.77", 8080, TIMEOUT_MS).split("\t")[0];
            assertTrue(prefix.startsWith("http local=198.51.100.77:8080 "), prefix);
            assertEquals(Set.copyOf(gatewayServices()), Set.copyOf(topology.node.call(dataplane::services)));
        } finally {
            uninstall(dataplane);
        }
    }

    @Test
    void trafficWithoutAServiceEntryPassesUntouched(final TestInfo test) throws IOException {
        final TproxyDataplane dataplane = start(settings(test).build());
        try {
            topology.node.call(() -> {
                dataplane.setServices(gatewayServices());
                return null;
            });
            final TproxyCounters before = topology.node.call(dataplane::counters);

            // Port 81 of the VIP has no entry: the node forwards it to where the VIP lives without Postern.
            final String reply = Peers.exchange(topology.client, Topology.VIP_V4, 81, TIMEOUT_MS).split("\t")[0];

            assertTrue(reply.startsWith("fallback local=" + Topology.VIP_V4 + ":81 remote=" + Topology.CLIENT_V4),
                    reply);
            final TproxyCounters delta = topology.node.call(dataplane::counters).minus(before);
            assertTrue(delta.packetsSeen() >= 3, delta.toString());
            assertEquals(0, delta.matched(), delta.toString());
        } finally {
            uninstall(dataplane);
        }
    }

    @Test
    void withoutListenerFailClosedDropsAndFailOpenPassesUntouched(final TestInfo test) throws IOException {
        final TproxyDataplane dataplane = start(settings(test).build());
        final TransparentListener gone = TransparentListener.bind(topology.node, group,
                new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 0), "gone");
        final InetSocketAddress nobody = gone.address();
        gone.close();
        try {
            topology.node.call(() -> {
                dataplane.setServices(List.of(TproxyService.parse(Topology.VIP_V4 + ":443", nobody)));
                return null;
            });
            final TproxyCounters before = topology.node.call(dataplane::counters);

            assertThrows(SocketTimeoutException.class,
                    () -> Peers.exchange(topology.client, Topology.VIP_V4, 443, DROP_TIMEOUT_MS));
            final TproxyCounters closed = topology.node.call(dataplane::counters).minus(before);
            assertEquals(1, closed.noListener(), closed.toString());
            assertEquals(1, closed.dropped(), closed.toString());
            assertEquals(0, closed.assignedListener(), closed.toString());

            topology.node.call(() -> {
                dataplane.setFailMode(FailMode.OPEN);
                return null;
            });
            final String reply = Peers.exchange(topology.client, Topology.VIP_V4, 443, TIMEOUT_MS).split("\t")[0];
            assertTrue(reply.startsWith("fallback local=" + Topology.VIP_V4 + ":443 "), reply);
            final TproxyCounters open = topology.node.call(dataplane::counters).minus(before);
            assertTrue(open.failedOpen() >= 1, open.toString());
            assertEquals(1, open.dropped(), open.toString());
        } finally {
            uninstall(dataplane);
        }
    }

    @Test
    void restartTakesOverPinnedStateWithoutAGapAndStoppedPosternFailsClosed(final TestInfo test)
            throws Exception {
        final TproxySettings settings = settings(test).build();
        final TproxyDataplane first = start(settings);
        TproxyDataplane second = null;
        final AtomicBoolean running = new AtomicBoolean(true);
        final AtomicInteger ok = new AtomicInteger();
        final AtomicInteger failed = new AtomicInteger();
        final StringBuffer failures = new StringBuffer();
        Thread load = null;
        try {
            topology.node.call(() -> {
                first.setServices(gatewayServices());
                return null;
            });
            final int firstProgram = topology.node.call(first::attachments).getFirst().programId();
            load = Thread.ofPlatform().start(() -> {
                while (running.get()) {
                    try {
                        Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS);
                        ok.incrementAndGet();
                    } catch (final IOException | RuntimeException e) {
                        failed.incrementAndGet();
                        failures.append(e).append('\n');
                    }
                }
            });
            waitFor(() -> ok.get() >= 20);
            final TproxyCounters beforeRestart = topology.node.call(first::counters);

            // Postern stops (the pinned program stays attached) and a new one starts and takes over.
            topology.node.call(() -> {
                first.close();
                return null;
            });
            second = start(settings);
            final TproxyDataplane taken = second;
            final int okAtRestart = ok.get();
            waitFor(() -> ok.get() >= okAtRestart + 20);
            running.set(false);
            load.join();

            assertEquals(0, failed.get(), failures.toString());
            assertEquals(Set.copyOf(gatewayServices()), Set.copyOf(topology.node.call(taken::services)),
                    "the services map survives the restart");
            final List<TproxyDataplane.Attachment> attachments = topology.node.call(taken::attachments);
            assertEquals(1, attachments.size(), attachments.toString());
            assertNotEquals(firstProgram, attachments.getFirst().programId(), "the new program replaced the old");
            final TproxyCounters afterRestart = topology.node.call(taken::counters);
            assertTrue(afterRestart.assignedListener() >= beforeRestart.assignedListener() + 20,
                    "counters continue across the restart: " + beforeRestart + " then " + afterRestart);
            assertTrue(topology.node.call(taken::notes).stream().anyMatch(n -> n.startsWith("took over the tcx")),
                    topology.node.call(taken::notes).toString());

            // With Postern's listener gone but the program attached, new connections are dropped (fail closed)...
            final InetSocketAddress address = http.address();
            http.close();
            assertThrows(SocketTimeoutException.class,
                    () -> Peers.exchange(topology.client, Topology.VIP_V4, 80, DROP_TIMEOUT_MS));
            // ...and a listener bound again on the same address restores traffic.
            http = topology.own(TransparentListener.bind(topology.node, group, address, "http"));
            final String reply = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t")[0];
            assertTrue(reply.startsWith("http local=" + Topology.VIP_V4 + ":80 "), reply);
        } finally {
            running.set(false);
            if (load != null) {
                load.join();
            }
            if (second != null) {
                uninstall(second);
            } else {
                topology.node.call(() -> {
                    // first may be closed already: uninstall through a fresh instance on the same pins
                    TproxyDataplane.start(settings).uninstall();
                    return null;
                });
            }
        }
        assertFalse(Files.exists(settings.pinRoot().orElseThrow()), "uninstall removes the pins");
    }

    private static String canonical(final String literal) {
        return InetAddress.ofLiteral(literal).getHostAddress();
    }

    private static void waitFor(final java.util.function.BooleanSupplier condition) throws InterruptedException {
        final long deadline = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 20 s");
            }
            Thread.sleep(10);
        }
    }

    @Test
    void tcModeRemovesOnlyTheQdiscItCreated(final TestInfo test) throws IOException {
        final TproxySettings settings = settings(test).attachMode(AttachMode.TC).build();
        // 1. No clsact before: Postern creates it and removes it again.
        TproxyDataplane dataplane = start(settings);
        try {
            topology.node.call(() -> {
                dataplane.setServices(gatewayServices());
                return null;
            });
            final List<TproxyDataplane.Attachment> attachments = topology.node.call(dataplane::attachments);
            assertEquals(AttachMode.TC, attachments.getFirst().mode(), attachments.toString());
            assertTrue(attachments.getFirst().createdQdisc(), attachments.toString());
            assertTrue(attachments.getFirst().programId() > 0, attachments.toString());
            assertTrue(qdiscs().contains("clsact"), qdiscs());
            final String reply = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t")[0];
            assertTrue(reply.startsWith("http local=" + Topology.VIP_V4 + ":80 "), reply);
        } finally {
            uninstall(dataplane);
        }
        assertFalse(qdiscs().contains("clsact"), qdiscs());

        // 2. Another component's clsact and filter exist: Postern adds its filter and leaves theirs alone.
        Shell.inNs(topology.node.name, "tc", "qdisc", "add", "dev", Topology.NODE_IF, "clsact");
        Shell.inNs(topology.node.name, "tc", "filter", "add", "dev", Topology.NODE_IF, "ingress", "prio", "200",
                "protocol", "all", "u32", "match", "u32", "0", "0", "flowid", "1:1");
        try {
            final TproxyDataplane shared = start(settings);
            try {
                assertFalse(topology.node.call(shared::attachments).getFirst().createdQdisc());
                topology.node.call(() -> {
                    shared.setServices(gatewayServices());
                    return null;
                });
                final String reply = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t")[0];
                assertTrue(reply.startsWith("http local="), reply);
            } finally {
                uninstall(shared);
            }
            assertTrue(qdiscs().contains("clsact"), qdiscs());
            final String filters = Shell.inNs(topology.node.name, "tc", "filter", "show", "dev", Topology.NODE_IF,
                    "ingress");
            assertTrue(filters.contains("u32"), filters);
            assertFalse(filters.contains("postern"), filters);
        } finally {
            Shell.tryRun("ip", "netns", "exec", topology.node.name, "tc", "qdisc", "del", "dev", Topology.NODE_IF,
                    "clsact");
        }
    }

    private String qdiscs() {
        return Shell.inNs(topology.node.name, "tc", "qdisc", "show", "dev", Topology.NODE_IF);
    }

    @Test
    void nodeRoutingIsIdempotentAndRemovable() {
        final RoutingSettings routing = RoutingSettings.defaults();
        topology.node.call(() -> {
            NodeRouting.ensure(routing);
            return NodeRouting.ensure(routing);
        });
        try {
            final NodeRouting.Status status = topology.node.call(() -> NodeRouting.status(routing));
            assertTrue(status.complete(routing), status.toString());
            assertEquals(List.of("40:\tfrom all fwmark 0x2000/0xf000 lookup 2100"), ruleLines("-4"));
            assertEquals(List.of("40:\tfrom all fwmark 0x2000/0xf000 lookup 2100"), ruleLines("-6"));
            assertEquals("local default dev lo proto kernel scope host",
                    topology.node.ip("-4", "route", "show", "table", "2100").strip());
            assertTrue(topology.node.ip("-6", "route", "show", "table", "2100").startsWith("local default dev lo"),
                    topology.node.ip("-6", "route", "show", "table", "2100"));
        } finally {
            topology.node.call(() -> {
                NodeRouting.remove(routing);
                return null;
            });
        }
        assertEquals(List.of(), ruleLines("-4"));
        assertEquals(List.of(), ruleLines("-6"));
        final NodeRouting.Status gone = topology.node.call(() -> NodeRouting.status(routing));
        assertFalse(gone.ipv4Rule() || gone.ipv4Route() || gone.ipv6Rule() || gone.ipv6Route(), gone.toString());
    }

    private List<String> ruleLines(final String family) {
        return topology.node.ip(family, "rule", "show").lines().filter(l -> l.contains("fwmark"))
                .collect(Collectors.toList());
    }

    @Test
    void srcValidMarkIsReportedAndFixedOnlyWhenAsked(final TestInfo test) {
        topology.node.sysctl("net.ipv4.conf." + Topology.NODE_IF + ".src_valid_mark", "1");
        try {
            final TproxyException refused = assertThrows(TproxyException.class, () -> start(settings(test).build()));
            assertTrue(refused.getMessage().contains("net.ipv4.conf.nc.src_valid_mark=1"), refused.getMessage());
            assertTrue(refused.getMessage().contains("sysctl -w net.ipv4.conf.nc.src_valid_mark=0"),
                    refused.getMessage());
            assertEquals("1", topology.node.readSysctl("net.ipv4.conf." + Topology.NODE_IF + ".src_valid_mark"));

            final List<NodeRouting.SysctlFinding> fixed = topology.node.call(
                    () -> NodeRouting.checkSysctls(List.of(Topology.NODE_IF), true));
            assertEquals(1, fixed.size(), fixed.toString());
            assertTrue(fixed.getFirst().fixed(), fixed.toString());
            assertEquals("0", topology.node.readSysctl("net.ipv4.conf." + Topology.NODE_IF + ".src_valid_mark"));
            assertEquals(List.of(), topology.node.call(() -> NodeRouting.checkSysctls(List.of(Topology.NODE_IF),
                    false)));
        } finally {
            topology.node.sysctl("net.ipv4.conf." + Topology.NODE_IF + ".src_valid_mark", "0");
        }
    }

    @Test
    void unknownInterfaceIsNamedInTheError(final TestInfo test) {
        final TproxyException e = assertThrows(TproxyException.class,
                () -> start(settings(test).interfaces(List.of("nosuch0")).manageRouting(false).build()));
        assertTrue(e.getMessage().contains("nosuch0"), e.getMessage());
    }

    @Test
    void withoutPinningCloseDetachesEverything(final TestInfo test) throws IOException {
        final TproxyDataplane dataplane = start(TproxySettings.builder().interfaces(List.of(Topology.NODE_IF))
                .noPinning().build());
        try {
            topology.node.call(() -> {
                dataplane.setServices(gatewayServices());
                return null;
            });
            final String steered = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t")[0];
            assertTrue(steered.startsWith("http local="), steered);
        } finally {
            topology.node.call(() -> {
                dataplane.close();
                return null;
            });
        }
        // No program any more: the VIP's traffic goes where the node routes it.
        final String reply = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t")[0];
        assertTrue(reply.startsWith("fallback local="), reply);
        topology.node.call(() -> {
            NodeRouting.remove(RoutingSettings.defaults());
            return null;
        });
    }

    @Test
    void unhandledTrafficGoesOnToTheNextTcxProgram(final TestInfo test) throws IOException {
        // Another program on the same hook, standing in for a CNI's and attached before Postern: a second copy of
        // the object that drops whatever reaches it for VIP:81 (fail closed, no listener behind it). Postern
        // attaches with attachFirst, so it runs before it.
        final TproxyDataplane next = start(TproxySettings.builder().interfaces(List.of(Topology.NODE_IF))
                .attachFirst(false).manageRouting(false)
                .pinRoot(topology.pinRoot(test.getTestMethod().orElseThrow().getName() + "-next")).build());
        final TproxyDataplane ours;
        try {
            ours = start(settings(test).build());
        } catch (final RuntimeException e) {
            uninstall(next);
            throw e;
        }
        try {
            topology.node.call(() -> {
                ours.setServices(gatewayServices());
                next.setServices(List.of(TproxyService.parse(Topology.VIP_V4 + ":81",
                        new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 9))));
                return null;
            });
            final TproxyCounters oursBefore = topology.node.call(ours::counters);
            final TproxyCounters nextBefore = topology.node.call(next::counters);

            // Steered by ours: TC_ACT_OK ends the chain, the next program never sees these packets.
            final String steered = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t")[0];
            assertTrue(steered.startsWith("http local="), steered);
            assertTrue(topology.node.call(ours::counters).minus(oursBefore).matched() >= 3);
            assertEquals(0, topology.node.call(next::counters).minus(nextBefore).packetsSeen());

            // Not ours: TC_ACT_UNSPEC (TCX_NEXT) hands the packet to the next program, which drops it.
            assertThrows(SocketTimeoutException.class,
                    () -> Peers.exchange(topology.client, Topology.VIP_V4, 81, DROP_TIMEOUT_MS));
            final TproxyCounters nextDelta = topology.node.call(next::counters).minus(nextBefore);
            assertEquals(1, nextDelta.dropped(), nextDelta.toString());
        } finally {
            uninstall(next);
            uninstall(ours);
        }
    }

    @Test
    void reusePortListenersShareTheSteeredConnections(final TestInfo test) throws IOException {
        // Kernel 6.5+ re-selects within a SO_REUSEPORT group by the packet's real tuple.
        final TransparentListener a = TransparentListener.bind(topology.node, group,
                new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 0), "a", false, true);
        final TransparentListener b = TransparentListener.bind(topology.node, group, a.address(), "b", false, true);
        final TproxyDataplane dataplane = start(settings(test).build());
        try {
            topology.node.call(() -> {
                dataplane.setServices(List.of(TproxyService.parse(Topology.VIP_V4 + ":80", a.address())));
                return null;
            });
            for (int i = 0; i < 40; i++) {
                final String reply = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS);
                assertTrue(reply.contains(" local=" + Topology.VIP_V4 + ":80 "), reply);
            }
            assertEquals(40, a.accepted.size() + b.accepted.size());
            assertTrue(a.accepted.size() > 0 && b.accepted.size() > 0,
                    "both listeners get connections: " + a.accepted.size() + "/" + b.accepted.size());
        } finally {
            uninstall(dataplane);
            a.close();
            b.close();
        }
    }

    @Test
    void detachAndAttachAgainAtRuntime(final TestInfo test) throws IOException {
        final TproxyDataplane dataplane = start(settings(test).build());
        try {
            topology.node.call(() -> {
                dataplane.setServices(gatewayServices());
                dataplane.detach(Topology.NODE_IF);
                return null;
            });
            assertEquals(List.of(), topology.node.call(dataplane::attachments));
            final String untouched = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t")[0];
            assertTrue(untouched.startsWith("fallback local="), untouched);

            topology.node.call(() -> {
                dataplane.attach(Topology.NODE_IF);
                dataplane.attach(Topology.NODE_IF); // idempotent
                return null;
            });
            assertEquals(1, topology.node.call(dataplane::attachments).size());
            final String steered = Peers.exchange(topology.client, Topology.VIP_V4, 80, TIMEOUT_MS).split("\t")[0];
            assertTrue(steered.startsWith("http local="), steered);
        } finally {
            uninstall(dataplane);
        }
    }
}
