package dev.postern.tproxy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * Three throw-away network namespaces joined by veth pairs, plus a private bpf file system for pins:
 *
 * <pre>
 *  client 203.0.113.7 / 2001:db8:cafe::7          (c0)
 *     │ veth
 *  node   203.0.113.1 / 2001:db8:cafe::1          (nc: Postern's BPF program on its ingress)
 *         10.77.0.1   / 2001:db8:beef::1          (nf)   forwarding on; 198.51.100.0/24 and 2001:db8:100::/64 via fallback
 *     │ veth
 *  fallback 10.77.0.2 / 2001:db8:beef::2          (f0)   owns the VIPs 198.51.100.10 and 2001:db8:100::10 on lo:
 *                                                        where the node would send the VIP traffic without Postern
 * </pre>
 *
 * Every address lives only inside these namespaces and no route leads out of them; the root namespace is not
 * touched (the veths are created directly inside the namespaces). Names carry the JVM's pid so that parallel or
 * repeated runs do not collide, and leftovers of dead runs are removed first.
 */
final class Topology implements AutoCloseable {
    static final String CLIENT_V4 = "203.0.113.7";
    static final String NODE_V4 = "203.0.113.1";
    static final String CLIENT_V6 = "2001:db8:cafe::7";
    static final String NODE_V6 = "2001:db8:cafe::1";
    static final String VIP_V4 = "198.51.100.10";
    static final String VIP_V6 = "2001:db8:100::10";
    static final String NODE_IF = "nc";
    static final String REQUIRE_PROPERTY = "postern.tproxy.requirePrivilegedTests";

    private static final AtomicInteger COUNTER = new AtomicInteger();
    private static final Pattern OURS = Pattern.compile("pstn(\\d+)-\\d+-[a-z]+");
    private static final Pattern OUR_MOUNT = Pattern.compile("/tmp/pstn-bpffs-(\\d+)-\\d+");

    final NetNs client;
    final NetNs node;
    final NetNs fallback;
    final Path bpffs;
    private final List<AutoCloseable> owned = new ArrayList<>();
    private final Thread shutdownHook;

    private Topology(final NetNs client, final NetNs node, final NetNs fallback, final Path bpffs) {
        this.client = client;
        this.node = node;
        this.fallback = fallback;
        this.bpffs = bpffs;
        this.shutdownHook = new Thread(this::closeQuietly, "topology-cleanup");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /**
     * Skips (or fails, with {@code -Dpostern.tproxy.requirePrivilegedTests=true}) when this process cannot run BPF
     * TPROXY or create namespaces, saying exactly why.
     */
    static void assumePrivileged() {
        final String reason = privilegeProblem();
        if (reason != null) {
            final String message = "privileged TPROXY test skipped: " + reason;
            if (Boolean.getBoolean(REQUIRE_PROPERTY)) {
                throw new AssertionError(message + " (and " + REQUIRE_PROPERTY + " is set)");
            }
            Assumptions.abort(message);
        }
    }

    private static String privilegeProblem() {
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            return "not Linux";
        }
        final Shell.Result ip = Shell.tryRun("ip", "-V");
        if (ip.exit() != 0) {
            return "the 'ip' command (iproute2) is not available: " + ip.stderr().strip();
        }
        final Shell.Result tc = Shell.tryRun("tc", "-V");
        if (tc.exit() != 0) {
            return "the 'tc' command (iproute2) is not available: " + tc.stderr().strip();
        }
        final java.util.Optional<String> bpf = TproxyDataplane.unavailableReason();
        if (bpf.isPresent()) {
            return bpf.get();
        }
        final String probe = "pstn" + ProcessHandle.current().pid() + "-0-probe";
        final Shell.Result add = Shell.tryRun("ip", "netns", "add", probe);
        if (add.exit() != 0) {
            return "cannot create a network namespace: " + add.stderr().strip();
        }
        Shell.tryRun("ip", "netns", "del", probe);
        return null;
    }

    static Topology create() {
        removeLeftovers();
        final String prefix = "pstn" + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet() + "-";
        final Path bpffs = Path.of("/tmp/pstn-bpffs-" + ProcessHandle.current().pid() + "-" + COUNTER.get());
        NetNs client = null;
        NetNs node = null;
        NetNs fallback = null;
        boolean mounted = false;
        try {
            client = NetNs.create(prefix + "client");
            node = NetNs.create(prefix + "node");
            fallback = NetNs.create(prefix + "fallback");
            Files.createDirectories(bpffs);
            Shell.run("mount", "-t", "bpf", "bpf", bpffs.toString());
            mounted = true;
            final Topology topology = new Topology(client, node, fallback, bpffs);
            topology.wire();
            return topology;
        } catch (final RuntimeException | IOException e) {
            for (final NetNs ns : new NetNs[] {client, node, fallback}) {
                if (ns != null) {
                    ns.close();
                }
            }
            if (mounted) {
                Shell.tryRun("umount", bpffs.toString());
            }
            throw new IllegalStateException("building the test namespaces failed: " + e.getMessage(), e);
        }
    }

    private void wire() {
        Shell.run("ip", "link", "add", "c0", "netns", client.name, "type", "veth", "peer", "name", NODE_IF,
                "netns", node.name);
        Shell.run("ip", "link", "add", "nf", "netns", node.name, "type", "veth", "peer", "name", "f0", "netns",
                fallback.name);

        client.ip("addr", "add", CLIENT_V4 + "/24", "dev", "c0");
        client.ip("-6", "addr", "add", CLIENT_V6 + "/64", "dev", "c0", "nodad");
        client.ip("link", "set", "c0", "up");
        client.ip("route", "add", "default", "via", NODE_V4);
        client.ip("-6", "route", "add", "default", "via", NODE_V6);

        node.ip("addr", "add", NODE_V4 + "/24", "dev", NODE_IF);
        node.ip("-6", "addr", "add", NODE_V6 + "/64", "dev", NODE_IF, "nodad");
        node.ip("addr", "add", "10.77.0.1/24", "dev", "nf");
        node.ip("-6", "addr", "add", "2001:db8:beef::1/64", "dev", "nf", "nodad");
        node.ip("link", "set", NODE_IF, "up");
        node.ip("link", "set", "nf", "up");
        node.ip("route", "add", "198.51.100.0/24", "via", "10.77.0.2");
        node.ip("-6", "route", "add", "2001:db8:100::/64", "via", "2001:db8:beef::2");
        node.sysctl("net.ipv4.ip_forward", "1");
        node.sysctl("net.ipv6.conf.all.forwarding", "1");

        fallback.ip("addr", "add", "10.77.0.2/24", "dev", "f0");
        fallback.ip("-6", "addr", "add", "2001:db8:beef::2/64", "dev", "f0", "nodad");
        fallback.ip("addr", "add", VIP_V4 + "/32", "dev", "lo");
        fallback.ip("-6", "addr", "add", VIP_V6 + "/128", "dev", "lo");
        fallback.ip("link", "set", "f0", "up");
        fallback.ip("route", "add", "default", "via", "10.77.0.1");
        fallback.ip("-6", "route", "add", "default", "via", "2001:db8:beef::1");
    }

    /** Closed (in reverse order) before the namespaces go. */
    <T extends AutoCloseable> T own(final T resource) {
        owned.add(resource);
        return resource;
    }

    /** A fresh pin root on the private bpffs. */
    Path pinRoot(final String name) {
        return bpffs.resolve(name);
    }

    @Override
    public void close() {
        closeQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (final IllegalStateException e) {
            // already shutting down
        }
    }

    private synchronized void closeQuietly() {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (final Exception e) {
                System.err.println("cleanup: " + e);
            }
        }
        owned.clear();
        client.close();
        node.close();
        fallback.close();
        Shell.tryRun("umount", bpffs.toString());
        try {
            Files.deleteIfExists(bpffs);
        } catch (final IOException e) {
            System.err.println("cleanup: " + e);
        }
    }

    // Namespaces and bpffs mounts of test JVMs that died without cleaning up.
    private static void removeLeftovers() {
        for (final String line : Shell.run("ip", "netns", "list").split("\n")) {
            final String name = line.split(" ")[0];
            final Matcher m = OURS.matcher(name);
            if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).isEmpty()) {
                Shell.tryRun("ip", "netns", "del", name);
            }
        }
        try {
            for (final String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
                final String[] fields = line.split(" ");
                final Matcher m = OUR_MOUNT.matcher(fields.length > 1 ? fields[1] : "");
                if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).isEmpty()) {
                    Shell.tryRun("umount", fields[1]);
                    Files.deleteIfExists(Path.of(fields[1]));
                }
            }
        } catch (final IOException e) {
            System.err.println("leftover cleanup: " + e);
        }
    }
}
