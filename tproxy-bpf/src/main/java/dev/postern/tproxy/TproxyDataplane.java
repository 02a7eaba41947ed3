package dev.postern.tproxy;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Postern's BPF TPROXY on this node: the loaded program and its maps, its attachments to interfaces' tc ingress,
 * and the node routing that makes steered packets local. Start it with {@link #start}, publish the Gateways'
 * destinations with {@link #setServices}, read {@link #counters}.
 *
 * <p><b>Takeover.</b> With a pin root (the default, {@code /sys/fs/bpf/postern}), maps and tcx links are pinned.
 * {@link #close()} then leaves the program attached (new connections are dropped or passed as {@link FailMode}
 * says while Postern is down), and the next {@link #start} reuses the pinned maps (services, counters) and swaps
 * the new program into the existing attachment atomically ({@code bpf_link_update} for tcx, {@code
 * BPF_TC_F_REPLACE} for tc), so there is no moment without a program. {@link #uninstall()} removes everything.
 * Without a pin root, {@link #close()} detaches everything.
 *
 * <p><b>Ownership.</b> Postern only removes what it created: its own tcx links and cls_bpf filter (by handle and
 * priority), and the clsact qdisc only when Postern created it and no other filter uses it. What it created is
 * recorded in a pinned map, so a restarted Postern knows too.
 *
 * <p><b>Namespace and privileges.</b> Every call acts on the network namespace of the calling thread (Postern runs
 * with host networking, so the host's) and needs CAP_BPF and CAP_NET_ADMIN (or root). The transparent listeners
 * Postern hands connections to must set {@code IP_TRANSPARENT} (Netty: {@code EpollChannelOption.IP_TRANSPARENT}),
 * and read the original destination from the accepted channel's local address.
 *
 * <p>Thread safety: all methods are synchronized; none is on the request path.
 */
public final class TproxyDataplane implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(TproxyDataplane.class.getName());
    private static final long BPF_FS_MAGIC = 0xcafe4a11L;
    private static final int BPF_LINK_CREATE = 28;
    private static final int BPF_TCX_INGRESS = 46;
    private static final int BPF_F_BEFORE = 1 << 3;
    private static final int BPF_LINK_TYPE_TCX = 11;
    private static final int BPF_SK_LOOKUP = 36;
    private static final int BPF_LINK_TYPE_NETNS = 5;
    private static final String SK_LOOKUP_PIN = "sk-lookup-netns";
    private static final int TC_H_CLSACT_INGRESS = 0xfffffff2;
    private static final int TC_H_CLSACT_EGRESS = 0xfffffff3;
    private static final int ENOENT = 2;
    private static final int EEXIST = 17;
    private static final int EINVAL = 22;
    private static final int MAX_SERVICES = 16384;

    private final Libbpf bpf;
    private final TproxySettings settings;
    private final BpfObject object;
    private final Path linksDir;
    private final int cpus;
    private final List<String> notes;
    /** Link fds this process holds, by ifindex (tcx only). */
    private final Map<Integer, Integer> linkFds = new HashMap<>();
    /** The sk_lookup link on the node's network namespace, or -1 (the kernel refused it). */
    private int lookupLinkFd = -1;
    private FailMode failMode;
    private boolean closed;

    /**
     * One attachment of the program to an interface's ingress.
     *
     * @param interfaceName the interface's current name
     * @param ifindex its index
     * @param mode {@link AttachMode#TCX} or {@link AttachMode#TC}
     * @param programId the kernel's id of the attached program (changes when a new Postern takes over)
     * @param createdQdisc with {@link AttachMode#TC}: Postern created the clsact qdisc (and will remove it)
     */
    public record Attachment(String interfaceName, int ifindex, AttachMode mode, int programId,
            boolean createdQdisc) {
    }

    private TproxyDataplane(final Libbpf bpf, final TproxySettings settings, final BpfObject object,
            final Path linksDir, final List<String> notes) {
        this.bpf = bpf;
        this.settings = settings;
        this.object = object;
        this.linksDir = linksDir;
        this.notes = notes;
        this.cpus = bpf.numPossibleCpus();
        this.failMode = settings.failMode();
    }

    /**
     * Loads the program (reusing pinned maps), writes its configuration, checks the sysctls, installs the node
     * routing and attaches to every configured interface.
     *
     * @throws TproxyException with the exact reason when TPROXY cannot run here: libbpf missing, no privileges,
     *     no bpf file system at the pin root, a kernel that refuses the program, a wrong sysctl, an interface
     *     that does not exist. Nothing is left half-attached without a pin root.
     */
    public static TproxyDataplane start(final TproxySettings settings) {
        requireNonNull(settings, "settings");
        final Libbpf bpf = Libbpf.get();
        final List<String> notes = new ArrayList<>();
        Path mapsDir = null;
        Path linksDir = null;
        if (settings.pinRoot().isPresent()) {
            final Path root = settings.pinRoot().get();
            checkBpfFs(root);
            mapsDir = root.resolve("maps");
            linksDir = root.resolve("links");
            try {
                Files.createDirectories(mapsDir);
                Files.createDirectories(linksDir);
            } catch (final IOException e) {
                throw new TproxyException("creating the pin directories under " + root + " failed: " + e, e);
            }
        }
        if (!settings.interfaces().isEmpty()) {
            final List<NodeRouting.SysctlFinding> findings =
                    NodeRouting.checkSysctls(settings.interfaces(), settings.fixSysctls());
            final List<String> unfixed = new ArrayList<>();
            for (final NodeRouting.SysctlFinding finding : findings) {
                if (finding.fixed()) {
                    notes.add("set " + finding.name() + "=" + finding.required() + " (was " + finding.value() + ")");
                } else {
                    unfixed.add(finding.name() + "=" + finding.value() + ": " + finding.reason());
                }
            }
            if (!unfixed.isEmpty()) {
                throw new TproxyException("TPROXY cannot steer on this node: " + String.join("; ", unfixed)
                        + " (or let Postern fix it: tproxy fixSysctls)");
            }
        }
        final BpfObject object = BpfObject.load(bpf, mapsDir, notes);
        final TproxyDataplane dataplane;
        try {
            dataplane = new TproxyDataplane(bpf, settings, object, linksDir, notes);
        } catch (final RuntimeException e) {
            object.close();
            throw e;
        }
        try {
            dataplane.writeConfig();
            if (settings.manageRouting()) {
                final NodeRouting.Status status = NodeRouting.ensure(settings.routing());
                notes.addAll(status.notes());
                if (!status.complete(settings.routing())) {
                    throw new TproxyException("node routing " + settings.routing() + " is incomplete after "
                            + "installing it: " + status);
                }
            }
            dataplane.attachSkLookup();
            for (final String name : settings.interfaces()) {
                dataplane.attach(name);
            }
        } catch (final RuntimeException e) {
            try {
                dataplane.close();
            } catch (final RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        for (final String note : notes) {
            LOG.log(System.Logger.Level.INFO, "tproxy: {0}", note);
        }
        return dataplane;
    }

    /**
     * Why TPROXY cannot work in this process, or empty when it can: checks the OS, libbpf, the capabilities and
     * that the kernel accepts the program (it is loaded and unloaded again; nothing is attached or pinned).
     */
    public static Optional<String> unavailableReason() {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            return Optional.of("BPF TPROXY needs Linux; this is " + System.getProperty("os.name"));
        }
        final Libbpf bpf;
        try {
            bpf = Libbpf.get();
        } catch (final TproxyException e) {
            return Optional.of(e.getMessage());
        }
        final Optional<String> caps = missingCapabilities();
        if (caps.isPresent()) {
            return caps;
        }
        try (BpfObject probe = BpfObject.load(bpf, null, new ArrayList<>())) {
            return Optional.empty();
        } catch (final TproxyException e) {
            return Optional.of("the kernel did not load Postern's BPF program: " + e.getMessage());
        }
    }

    private static Optional<String> missingCapabilities() {
        final String status;
        try {
            status = Files.readString(Path.of("/proc/self/status"), StandardCharsets.US_ASCII);
        } catch (final IOException e) {
            return Optional.empty(); // cannot tell; the load itself will say
        }
        for (final String line : status.split("\n")) {
            if (line.startsWith("CapEff:")) {
                final long caps = Long.parseUnsignedLong(line.substring(7).strip(), 16);
                final boolean netAdmin = (caps & (1L << 12)) != 0;
                final boolean sysAdmin = (caps & (1L << 21)) != 0;
                final boolean bpfCap = (caps & (1L << 39)) != 0;
                final List<String> missing = new ArrayList<>();
                if (!netAdmin) {
                    missing.add("CAP_NET_ADMIN");
                }
                if (!bpfCap && !sysAdmin) {
                    missing.add("CAP_BPF (or CAP_SYS_ADMIN)");
                }
                if (!missing.isEmpty()) {
                    return Optional.of("this process lacks " + String.join(" and ", missing)
                            + " (effective capabilities 0x" + Long.toHexString(caps) + "); run Postern as root or "
                            + "grant them to its container");
                }
            }
        }
        return Optional.empty();
    }

    private static void checkBpfFs(final Path root) {
        Path existing = root;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            throw new TproxyException("pin root " + root + " has no existing parent directory");
        }
        final long type = Native.statfsType(existing.toString());
        if (type < 0) {
            throw TproxyException.errno("statfs(" + existing + ") for pin root " + root, (int) type);
        }
        if (type != BPF_FS_MAGIC) {
            throw new TproxyException("pin root " + root + " is not on a bpf file system (" + existing
                    + " has file system type 0x" + Long.toHexString(type) + "); mount one with "
                    + "'mount -t bpf bpf /sys/fs/bpf' (in Kubernetes: mount the host's /sys/fs/bpf), or configure "
                    + "no pinning (no takeover across restarts)");
        }
    }

    // ---- maps ----

    private void writeConfig() {
        object.update(BpfMaps.CONFIG, BpfMaps.u32(0), BpfMaps.configValue(settings.routing().mark(),
                settings.routing().markMask(), failMode, true));
    }

    /** Changes what happens to matched packets that no socket takes; effective for the next packet. */
    public synchronized void setFailMode(final FailMode mode) {
        requireNonNull(mode, "mode");
        ensureOpen();
        this.failMode = mode;
        writeConfig();
    }

    /**
     * Makes the services map hold exactly {@code services}: new and changed entries are written first, then stale
     * ones deleted, so a destination present before and after is never missing.
     *
     * @throws IllegalArgumentException when two services have the same prefix and port with different listeners,
     *     or there are more than 16384
     */
    public synchronized void setServices(final Collection<TproxyService> services) {
        requireNonNull(services, "services");
        ensureOpen();
        final Map<String, byte[]> keys = new LinkedHashMap<>();
        final Map<String, byte[]> values = new HashMap<>();
        final Map<String, TproxyService> byKey = new HashMap<>();
        for (final TproxyService service : services) {
            requireNonNull(service, "service");
            final byte[] key = BpfMaps.serviceKey(service);
            final String hex = HexFormat.of().formatHex(key);
            final TproxyService earlier = byKey.putIfAbsent(hex, service);
            if (earlier != null && !earlier.listener().equals(service.listener())) {
                throw new IllegalArgumentException("services " + earlier + " and " + service
                        + " steer the same destination to different listeners");
            }
            keys.put(hex, key);
            values.put(hex, BpfMaps.listenerValue(service.listener()));
        }
        if (keys.size() > MAX_SERVICES) {
            throw new IllegalArgumentException(keys.size() + " TPROXY destinations exceed the map's "
                    + MAX_SERVICES);
        }
        final List<byte[]> existing = object.keys(BpfMaps.SERVICES);
        for (final Map.Entry<String, byte[]> entry : keys.entrySet()) {
            object.update(BpfMaps.SERVICES, entry.getValue(), values.get(entry.getKey()));
        }
        for (final byte[] key : existing) {
            if (!keys.containsKey(HexFormat.of().formatHex(key))) {
                object.delete(BpfMaps.SERVICES, key);
            }
        }
    }

    /** What the services map holds now (after a takeover: what the previous Postern wrote). */
    public synchronized List<TproxyService> services() {
        ensureOpen();
        final List<TproxyService> out = new ArrayList<>();
        for (final byte[] key : object.keys(BpfMaps.SERVICES)) {
            final byte[] value = object.lookup(BpfMaps.SERVICES, key);
            if (value != null) {
                out.add(BpfMaps.decodeService(key, value));
            }
        }
        return out;
    }

    /**
     * Gives the kernel's listener lookup the transparent listeners' sockets (slot per family). A client that
     * reconnects from the same port within TIME_WAIT of a connection Postern closed sends a SYN that meets that
     * time-wait socket; the tc program leaves such a SYN to the kernel, which kills the time-wait socket and looks a
     * listener up for the VIP's address and port: the sk_lookup program answers with the socket given here. The
     * map holds the sockets, not the descriptors; a socket that closes leaves the map by itself.
     *
     * @param ipv4ListenerFd the IPv4 transparent listener's file descriptor, or -1 for none
     * @param ipv6ListenerFd the IPv6 one (a dual-stack socket serves both), or -1 for none
     * @throws TproxyException when the kernel refuses a socket (it must be a listening TCP socket)
     */
    public synchronized void setListenerSockets(final int ipv4ListenerFd, final int ipv6ListenerFd) {
        ensureOpen();
        final int[] fds = {ipv4ListenerFd, ipv6ListenerFd};
        for (int slot = 0; slot < 2; slot++) {
            if (fds[slot] >= 0) {
                object.update(BpfMaps.LISTENERS, BpfMaps.u32(slot), BpfMaps.u64(fds[slot]));
            } else {
                object.delete(BpfMaps.LISTENERS, BpfMaps.u32(slot));
            }
        }
    }

    /** Whether the sk_lookup program is attached to this namespace (Linux 5.9+); see {@link #setListenerSockets}. */
    public synchronized boolean listenerLookupAttached() {
        return lookupLinkFd >= 0;
    }

    /** The program's counters, summed over CPUs. */
    public synchronized TproxyCounters counters() {
        ensureOpen();
        final long[] sums = new long[BpfMaps.COUNTER_SLOTS];
        for (int slot = 0; slot < sums.length; slot++) {
            final byte[] perCpu = object.lookup(BpfMaps.COUNTERS, BpfMaps.u32(slot), 8 * cpus);
            if (perCpu == null) {
                continue;
            }
            final ByteBuffer values = ByteBuffer.wrap(perCpu).order(ByteOrder.nativeOrder());
            for (int cpu = 0; cpu < cpus; cpu++) {
                sums[slot] += values.getLong(cpu * 8);
            }
        }
        return TproxyCounters.of(sums);
    }

    /** Startup notes: reused or replaced pins, fixed sysctls, takeovers, fallbacks, routing remarks. */
    public synchronized List<String> notes() {
        return List.copyOf(notes);
    }

    /** The settings this dataplane was started with (the fail mode may have changed since). */
    public TproxySettings settings() {
        return settings;
    }

    // ---- attachments ----

    /**
     * Attaches the program to {@code interfaceName}'s ingress, or takes over an existing attachment (a pinned tcx
     * link or Postern's cls_bpf filter) by swapping the program in place. Idempotent.
     */
    public synchronized void attach(final String interfaceName) {
        TproxySettings.validateInterfaceName(interfaceName);
        ensureOpen();
        final RtNetlink.Link link;
        try (RtNetlink netlink = RtNetlink.open()) {
            link = netlink.link(interfaceName);
        }
        final int programFd = programFor(link);
        final int[] previous = attachState(link.index());
        if (settings.attachMode() != AttachMode.TC) {
            final int rc = attachTcx(link, programFd);
            if (rc == 0) {
                if (previous != null && previous[0] == BpfMaps.ATTACH_MODE_TC) {
                    detachTc(link, previous);
                    notes.add("moved " + interfaceName + " from the clsact filter to a tcx link");
                }
                object.update(BpfMaps.ATTACH, BpfMaps.u32(link.index()),
                        BpfMaps.attachmentValue(BpfMaps.ATTACH_MODE_TCX, 0, 0, 0));
                return;
            }
            if (settings.attachMode() == AttachMode.TCX) {
                throw TproxyException.errno("attaching a tcx ingress link to " + interfaceName
                        + " (tcx needs Linux 6.6 or newer)", rc);
            }
            notes.add("tcx is not available for " + interfaceName + " (" + Native.describe(rc)
                    + "); using the clsact qdisc");
        }
        final boolean created = attachTc(link, programFd, previous);
        object.update(BpfMaps.ATTACH, BpfMaps.u32(link.index()), BpfMaps.attachmentValue(BpfMaps.ATTACH_MODE_TC,
                created ? BpfMaps.ATTACH_FLAG_CREATED_QDISC : 0, settings.tcHandle(), settings.tcPriority()));
        if (previous != null && previous[0] == BpfMaps.ATTACH_MODE_TCX) {
            removeTcxLink(link.index(), interfaceName);
            notes.add("moved " + interfaceName + " from a tcx link to the clsact filter");
        }
    }

    /**
     * Detaches Postern's program from {@code interfaceName}: its tcx link, or its cls_bpf filter and the clsact
     * qdisc when Postern created it and nothing else uses it. Other components' programs are untouched.
     */
    public synchronized void detach(final String interfaceName) {
        TproxySettings.validateInterfaceName(interfaceName);
        ensureOpen();
        final RtNetlink.Link link;
        try (RtNetlink netlink = RtNetlink.open()) {
            link = netlink.link(interfaceName);
        }
        detach(link);
    }

    /** The attachments Postern has recorded (including those made by an earlier Postern process). */
    public synchronized List<Attachment> attachments() {
        ensureOpen();
        final List<Attachment> out = new ArrayList<>();
        try (RtNetlink netlink = RtNetlink.open()) {
            for (final byte[] key : object.keys(BpfMaps.ATTACH)) {
                final int ifindex = BpfMaps.decodeU32s(key)[0];
                final int[] state = attachState(ifindex);
                final RtNetlink.Link link = netlink.link(ifindex);
                if (state == null || link == null) {
                    continue;
                }
                if (state[0] == BpfMaps.ATTACH_MODE_TCX) {
                    final Integer fd = linkFds.get(ifindex);
                    final int programId = fd == null ? 0 : linkInfo(fd)[1];
                    out.add(new Attachment(link.name(), ifindex, AttachMode.TCX, programId, false));
                } else {
                    out.add(new Attachment(link.name(), ifindex, AttachMode.TC, queryTc(ifindex, state),
                            (state[1] & BpfMaps.ATTACH_FLAG_CREATED_QDISC) != 0));
                }
            }
        }
        return out;
    }

    private int programFor(final RtNetlink.Link link) {
        return switch (link.type()) {
            case 1, 772 -> object.ethProgramFd(); // ARPHRD_ETHER, ARPHRD_LOOPBACK
            // ARPHRD_NONE (tun, wireguard), RAWIP, TUNNEL (ipip), TUNNEL6, SIT, IPGRE, IP6GRE
            case 65534, 519, 768, 769, 776, 778, 823 -> object.l3ProgramFd();
            default -> throw new TproxyException("interface " + link.name() + " has link type " + link.type()
                    + " (see ARPHRD_* in if_arp.h); Postern steers Ethernet and layer-3 devices only");
        };
    }

    /** @return 0 when attached, or the negative errno of a kernel that has no tcx */
    private int attachTcx(final RtNetlink.Link link, final int programFd) {
        final Path pin = linksDir == null ? null : linksDir.resolve("tcx-ingress-" + link.name());
        try (Arena arena = Arena.ofConfined()) {
            // 1. Take over a pinned link (a previous Postern's, or our own earlier attach) by swapping the program.
            Integer held = linkFds.get(link.index());
            if (held == null && pin != null && Files.exists(pin)) {
                final int fd = Native.callInt(bpf.objGet, arena.allocateFrom(pin.toString()));
                if (fd >= 0) {
                    held = fd;
                }
            }
            if (held != null) {
                final int[] info = linkInfo(held);
                if (info[0] == BPF_LINK_TYPE_TCX && info[2] == link.index()) {
                    final int rc = Native.callInt(bpf.linkUpdate, held, programFd, MemorySegment.NULL);
                    if (rc == 0) {
                        if (!linkFds.containsKey(link.index())) {
                            notes.add("took over the tcx link on " + link.name() + " (" + pin + ")");
                        }
                        linkFds.put(link.index(), held);
                        return 0;
                    }
                    notes.add("could not update the tcx link on " + link.name() + ": " + Native.describe(rc)
                            + "; creating a new one");
                } else {
                    notes.add("pinned link " + pin + " no longer belongs to " + link.name()
                            + " (the interface was re-created); creating a new one");
                }
                linkFds.remove(link.index());
                Native.close(held);
                deletePin(pin);
            }
            // 2. A new link. Raw BPF_LINK_CREATE: libbpf 1.1 predates tcx and cannot ask to run first.
            final MemorySegment attr = arena.allocate(64, 8);
            attr.set(JAVA_INT, 0, programFd);
            attr.set(JAVA_INT, 4, link.index());
            attr.set(JAVA_INT, 8, BPF_TCX_INGRESS);
            attr.set(JAVA_INT, 12, settings.attachFirst() ? BPF_F_BEFORE : 0);
            final long fd = Native.syscall(sysBpf(), BPF_LINK_CREATE, attr, 64);
            if (fd < 0) {
                if (-fd == EINVAL) {
                    return (int) fd;
                }
                throw TproxyException.errno("attaching a tcx ingress link to " + link.name(), (int) fd);
            }
            if (pin != null) {
                final int rc = Native.callInt(bpf.objPin, (int) fd, arena.allocateFrom(pin.toString()));
                if (rc < 0) {
                    Native.close((int) fd);
                    throw TproxyException.errno("pinning the tcx link of " + link.name() + " at " + pin, rc);
                }
            }
            linkFds.put(link.index(), (int) fd);
            return 0;
        }
    }

    /**
     * Attaches postern_sk_lookup to the calling thread's network namespace, or takes over the pinned link of a
     * previous Postern (swapping the program). A kernel without sk_lookup links leaves a note: reopening SYNs then
     * get the kernel's time-wait answer, and the client's retransmission a second later connects.
     */
    private void attachSkLookup() {
        final Path pin = linksDir == null ? null : linksDir.resolve(SK_LOOKUP_PIN);
        final long netnsIno;
        try {
            netnsIno = ((Number) Files.getAttribute(Path.of("/proc/thread-self/ns/net"), "unix:ino")).longValue();
        } catch (final IOException e) {
            throw new TproxyException("reading /proc/thread-self/ns/net failed: " + e, e);
        }
        try (Arena arena = Arena.ofConfined()) {
            if (pin != null && Files.exists(pin)) {
                final int fd = Native.callInt(bpf.objGet, arena.allocateFrom(pin.toString()));
                if (fd >= 0) {
                    final int[] info = linkInfo(fd);
                    if (info[0] == BPF_LINK_TYPE_NETNS && (info[2] & 0xffffffffL) == netnsIno
                            && Native.callInt(bpf.linkUpdate, fd, object.skLookupProgramFd(), MemorySegment.NULL)
                                    == 0) {
                        notes.add("took over the sk_lookup link (" + pin + ")");
                        lookupLinkFd = fd;
                        return;
                    }
                    Native.close(fd);
                }
                notes.add("replaced the pinned sk_lookup link " + pin + " (another namespace or not updatable)");
                deletePin(pin);
            }
            final long ns = Native.syscall(SYS_OPENAT, AT_FDCWD, arena.allocateFrom("/proc/thread-self/ns/net"),
                    O_RDONLY_CLOEXEC);
            if (ns < 0) {
                throw TproxyException.errno("opening /proc/thread-self/ns/net", (int) ns);
            }
            final MemorySegment attr = arena.allocate(64, 8);
            attr.set(JAVA_INT, 0, object.skLookupProgramFd());
            attr.set(JAVA_INT, 4, (int) ns);
            attr.set(JAVA_INT, 8, BPF_SK_LOOKUP);
            final long fd = Native.syscall(sysBpf(), BPF_LINK_CREATE, attr, 64);
            Native.close((int) ns);
            if (fd < 0) {
                notes.add("no sk_lookup link (" + Native.describe((int) -fd) + "; Linux 5.9+): a client reusing "
                        + "its port within TIME_WAIT of a connection Postern closed connects on its SYN "
                        + "retransmission");
                LOG.log(System.Logger.Level.WARNING, "tproxy: {0}", notes.getLast());
                return;
            }
            if (pin != null) {
                final int rc = Native.callInt(bpf.objPin, (int) fd, arena.allocateFrom(pin.toString()));
                if (rc < 0) {
                    Native.close((int) fd);
                    throw TproxyException.errno("pinning the sk_lookup link at " + pin, rc);
                }
            }
            lookupLinkFd = (int) fd;
        }
    }

    private static final long SYS_OPENAT = switch (System.getProperty("os.arch", "").toLowerCase(Locale.ROOT)) {
        case "aarch64", "arm64", "riscv64" -> 56;
        default -> 257;
    };
    private static final int AT_FDCWD = -100;
    private static final int O_RDONLY_CLOEXEC = 0x80000;

    /** {@code struct bpf_link_info}: type @0, prog_id @8, tcx.ifindex (netns: netns_ino) @16. */
    private int[] linkInfo(final int fd) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment info = arena.allocate(128, 8);
            final MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, 128);
            final int rc = Native.callInt(bpf.objGetInfo, fd, info, length);
            if (rc < 0) {
                throw TproxyException.errno("reading BPF link info of fd " + fd, rc);
            }
            return new int[] {info.get(JAVA_INT, 0), info.get(JAVA_INT, 8), info.get(JAVA_INT, 16)};
        }
    }

    private static long sysBpf() {
        final String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        return switch (arch) {
            case "amd64", "x86_64" -> 321;
            case "aarch64", "arm64", "riscv64" -> 280;
            default -> throw new TproxyException("no bpf(2) syscall number known for architecture " + arch);
        };
    }

    private MemorySegment tcHook(final Arena arena, final int ifindex, final int attachPoint) {
        final MemorySegment hook = arena.allocate(Libbpf.TC_HOOK);
        hook.set(JAVA_LONG, 0, Libbpf.TC_HOOK.byteSize());
        hook.set(JAVA_INT, 8, ifindex);
        hook.set(JAVA_INT, 12, attachPoint);
        return hook;
    }

    private MemorySegment tcOpts(final Arena arena, final int handle, final int priority) {
        final MemorySegment opts = arena.allocate(Libbpf.TC_OPTS);
        opts.set(JAVA_LONG, 0, Libbpf.TC_OPTS.byteSize());
        opts.set(JAVA_INT, Libbpf.TC_OPTS_HANDLE, handle);
        opts.set(JAVA_INT, Libbpf.TC_OPTS_PRIORITY, priority);
        return opts;
    }

    /** @return whether Postern owns the clsact qdisc (created it now or in an earlier run) */
    private boolean attachTc(final RtNetlink.Link link, final int programFd, final int[] previous) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment hook = tcHook(arena, link.index(), Libbpf.BPF_TC_INGRESS);
            final StringBuilder log = new StringBuilder();
            final int created = Libbpf.withLog(() -> Native.callInt(bpf.tcHookCreate, hook), log);
            if (created < 0 && -created != EEXIST) {
                throw TproxyException.errno("creating the clsact qdisc on " + link.name(), created,
                        Libbpf.tail(log, 2000));
            }
            final MemorySegment opts = tcOpts(arena, settings.tcHandle(), settings.tcPriority());
            opts.set(JAVA_INT, Libbpf.TC_OPTS_PROG_FD, programFd);
            opts.set(JAVA_INT, Libbpf.TC_OPTS_FLAGS, Libbpf.BPF_TC_F_REPLACE);
            final int rc = Libbpf.withLog(() -> Native.callInt(bpf.tcAttach, hook, opts), log);
            if (rc < 0) {
                throw TproxyException.errno(String.format("attaching the cls_bpf filter (handle 0x%x, priority %d) "
                        + "to %s ingress", settings.tcHandle(), settings.tcPriority(), link.name()), rc,
                        Libbpf.tail(log, 2000));
            }
            final boolean ownedBefore = previous != null && previous[0] == BpfMaps.ATTACH_MODE_TC
                    && (previous[1] & BpfMaps.ATTACH_FLAG_CREATED_QDISC) != 0;
            return created == 0 || ownedBefore;
        }
    }

    private int queryTc(final int ifindex, final int[] state) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment hook = tcHook(arena, ifindex, Libbpf.BPF_TC_INGRESS);
            final MemorySegment opts = tcOpts(arena, state[2], state[3]);
            final int rc = Libbpf.withLog(() -> Native.callInt(bpf.tcQuery, hook, opts), new StringBuilder());
            return rc < 0 ? 0 : opts.get(JAVA_INT, Libbpf.TC_OPTS_PROG_ID);
        }
    }

    private void detachTc(final RtNetlink.Link link, final int[] state) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment hook = tcHook(arena, link.index(), Libbpf.BPF_TC_INGRESS);
            final MemorySegment opts = tcOpts(arena, state[2], state[3]);
            final StringBuilder log = new StringBuilder();
            final int rc = Libbpf.withLog(() -> Native.callInt(bpf.tcDetach, hook, opts), log);
            if (rc < 0 && -rc != ENOENT) {
                throw TproxyException.errno(String.format("detaching the cls_bpf filter (handle 0x%x, priority %d) "
                        + "from %s ingress", state[2], state[3], link.name()), rc, Libbpf.tail(log, 2000));
            }
            if ((state[1] & BpfMaps.ATTACH_FLAG_CREATED_QDISC) == 0) {
                return;
            }
            final int others;
            try (RtNetlink netlink = RtNetlink.open()) {
                others = netlink.countFilters(link.index(), TC_H_CLSACT_INGRESS)
                        + netlink.countFilters(link.index(), TC_H_CLSACT_EGRESS);
            }
            if (others > 0) {
                notes.add("left the clsact qdisc on " + link.name() + " in place: " + others
                        + " other filter(s) use it");
                return;
            }
            // INGRESS|EGRESS makes libbpf delete the clsact qdisc itself.
            final MemorySegment whole = tcHook(arena, link.index(), Libbpf.BPF_TC_INGRESS | Libbpf.BPF_TC_EGRESS);
            final int destroyed = Libbpf.withLog(() -> Native.callInt(bpf.tcHookDestroy, whole), log);
            if (destroyed < 0 && -destroyed != ENOENT) {
                throw TproxyException.errno("removing the clsact qdisc Postern created on " + link.name(),
                        destroyed, Libbpf.tail(log, 2000));
            }
        }
    }

    private void removeTcxLink(final int ifindex, final String name) {
        final Integer fd = linkFds.remove(ifindex);
        if (linksDir != null) {
            deletePin(linksDir.resolve("tcx-ingress-" + name));
        }
        if (fd != null) {
            Native.close(fd); // the last reference: the kernel detaches the link
        }
    }

    private void detach(final RtNetlink.Link link) {
        final int[] state = attachState(link.index());
        if (state != null && state[0] == BpfMaps.ATTACH_MODE_TC) {
            detachTc(link, state);
        }
        removeTcxLink(link.index(), link.name());
        object.delete(BpfMaps.ATTACH, BpfMaps.u32(link.index()));
    }

    private int[] attachState(final int ifindex) {
        final byte[] value = object.lookup(BpfMaps.ATTACH, BpfMaps.u32(ifindex));
        return value == null ? null : BpfMaps.decodeU32s(value);
    }

    private static void deletePin(final Path pin) {
        if (pin == null) {
            return;
        }
        try {
            Files.deleteIfExists(pin);
        } catch (final IOException e) {
            throw new TproxyException("removing the pin " + pin + " failed: " + e, e);
        }
    }

    // ---- lifecycle ----

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("this TPROXY dataplane is closed");
        }
    }

    /**
     * Releases this process's handles. With a pin root the program stays attached and the maps stay pinned, for
     * the next Postern to take over; without one, every attachment is detached first.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        RuntimeException failure = null;
        if (linksDir == null) {
            try {
                detachAll();
            } catch (final RuntimeException e) {
                failure = e;
            }
        }
        closed = true;
        for (final int fd : linkFds.values()) {
            Native.close(fd);
        }
        linkFds.clear();
        if (lookupLinkFd >= 0) {
            Native.close(lookupLinkFd); // without a pin, the last reference: the kernel detaches it
            lookupLinkFd = -1;
        }
        object.close();
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * Removes everything Postern installed: attachments (on every interface recorded, not only the configured
     * ones), the node routing (when managed), and the pins. Then closes.
     */
    public synchronized void uninstall() {
        ensureOpen();
        detachAll();
        if (settings.manageRouting()) {
            NodeRouting.remove(settings.routing());
        }
        close();
        if (settings.pinRoot().isPresent()) {
            final Path root = settings.pinRoot().get();
            for (final String name : BpfObject.MAPS) {
                deletePin(root.resolve("maps").resolve(name));
            }
            deleteDirectoryOfPins(root.resolve("links"));
            for (final Path dir : List.of(root.resolve("maps"), root)) {
                try {
                    Files.deleteIfExists(dir);
                } catch (final IOException e) {
                    notes.add("left " + dir + " in place: " + e.getMessage());
                }
            }
        }
    }

    private void detachAll() {
        try (RtNetlink netlink = RtNetlink.open()) {
            for (final byte[] key : object.keys(BpfMaps.ATTACH)) {
                final int ifindex = BpfMaps.decodeU32s(key)[0];
                final RtNetlink.Link link = netlink.link(ifindex);
                if (link == null) {
                    // The interface is gone, and with it its filters and links.
                    final Integer fd = linkFds.remove(ifindex);
                    if (fd != null) {
                        Native.close(fd);
                    }
                    object.delete(BpfMaps.ATTACH, key);
                    continue;
                }
                detach(link);
            }
        }
    }

    private static void deleteDirectoryOfPins(final Path dir) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> pins = Files.newDirectoryStream(dir)) {
            for (final Path pin : pins) {
                Files.deleteIfExists(pin);
            }
            Files.deleteIfExists(dir);
        } catch (final IOException e) {
            throw new TproxyException("removing the pins in " + dir + " failed: " + e, e);
        }
    }
}
