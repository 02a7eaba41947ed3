package dev.postern.tproxy;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Node routing for TPROXY: the fwmark rule, the {@code local} default routes of its table, and the sysctls that
 * decide whether a marked packet survives the source check. Talks rtnetlink directly (no {@code ip} binary).
 *
 * <p>Every method acts on the network namespace of the calling thread (on a node: the host's, as Postern runs
 * with host networking) and needs CAP_NET_ADMIN. All changes are idempotent: running {@link #ensure} twice leaves
 * one rule and one route per family.
 *
 * <p>Thread safety: stateless; concurrent calls with the same settings are harmless.
 */
public final class NodeRouting {
    private static final int FR_ACT_TO_TBL = 1;
    private static final int FRA_DST = 1;
    private static final int FRA_SRC = 2;
    private static final int FRA_IIFNAME = 3;
    private static final int FRA_PRIORITY = 6;
    private static final int FRA_FWMARK = 10;
    private static final int FRA_TABLE = 15;
    private static final int FRA_FWMASK = 16;
    private static final int FRA_OIFNAME = 17;
    private static final int FRA_PROTOCOL = 21;
    private static final int FRA_IP_PROTO = 22;
    private static final int FRA_SPORT_RANGE = 23;
    private static final int FRA_DPORT_RANGE = 24;
    private static final int RTA_DST = 1;
    private static final int RTA_OIF = 4;
    private static final int RTA_TABLE = 15;
    private static final int RTN_LOCAL = 2;
    private static final int RT_SCOPE_HOST = 254;
    /** Like Cilium: "kernel" protocol, so that systemd-networkd does not treat the entries as foreign. */
    private static final int RTPROT_KERNEL = 2;
    private static final int ENOENT = 2;
    private static final int ESRCH = 3;
    private static final int EEXIST = 17;
    private static final int EAFNOSUPPORT = 97;

    private NodeRouting() {
    }

    /**
     * What is installed for one set of settings.
     *
     * @param ipv4Rule the IPv4 fwmark rule is present
     * @param ipv4Route the IPv4 {@code local 0.0.0.0/0 dev lo} route is present in the table
     * @param ipv6Rule the IPv6 fwmark rule is present
     * @param ipv6Route the IPv6 {@code local ::/0 dev lo} route is present in the table
     * @param notes anything else worth telling an operator: conflicting rules, foreign routes in the table,
     *     a family the node does not have
     */
    public record Status(boolean ipv4Rule, boolean ipv4Route, boolean ipv6Rule, boolean ipv6Route,
            List<String> notes) {
        /** Copies the notes. */
        public Status {
            notes = List.copyOf(notes);
        }

        /** True when every family the settings ask for has both its rule and its route. */
        public boolean complete(final RoutingSettings settings) {
            requireNonNull(settings, "settings");
            return (!settings.ipv4() || (ipv4Rule && ipv4Route)) && (!settings.ipv6() || (ipv6Rule && ipv6Route));
        }
    }

    /**
     * One sysctl that breaks steering, and whether it was fixed.
     *
     * @param name the sysctl, e.g. {@code net.ipv4.conf.all.src_valid_mark}
     * @param value its value when checked
     * @param required the value steering needs
     * @param fixed true when {@link #checkSysctls} wrote the required value
     * @param reason why it matters, and how to fix it by hand
     */
    public record SysctlFinding(String name, String value, String required, boolean fixed, String reason) {
    }

    /**
     * Installs the rule and the {@code local} default route for each family in {@code settings}, unless present.
     *
     * @return the state afterwards
     * @throws TproxyException naming the rule or route and the kernel's reason when an install fails
     */
    public static Status ensure(final RoutingSettings settings) {
        requireNonNull(settings, "settings");
        try (RtNetlink netlink = RtNetlink.open()) {
            final int lo = netlink.link("lo").index();
            final List<String> notes = new ArrayList<>();
            if (settings.ipv4()) {
                ensureFamily(netlink, settings, RtNetlink.AF_INET, lo, notes);
            }
            if (settings.ipv6()) {
                ensureFamily(netlink, settings, RtNetlink.AF_INET6, lo, notes);
            }
            return status(netlink, settings, lo, notes);
        }
    }

    /** Reads what is installed, without changing anything. */
    public static Status status(final RoutingSettings settings) {
        requireNonNull(settings, "settings");
        try (RtNetlink netlink = RtNetlink.open()) {
            return status(netlink, settings, netlink.link("lo").index(), new ArrayList<>());
        }
    }

    /**
     * Removes the rule and route of each family in {@code settings}. Absent entries are not an error. Other rules
     * and routes, even in the same table, are left alone.
     */
    public static void remove(final RoutingSettings settings) {
        requireNonNull(settings, "settings");
        try (RtNetlink netlink = RtNetlink.open()) {
            final int lo = netlink.link("lo").index();
            for (final int family : families(settings)) {
                // A rule added twice by hand would be listed twice; remove every copy of ours.
                for (int i = 0; i < 16 && hasRule(netlink, settings, family, new ArrayList<>()); i++) {
                    final int rc = netlink.request(RtNetlink.RTM_DELRULE, 0, rulePayload(settings, family));
                    if (rc < 0 && -rc != ENOENT) {
                        throw TproxyException.errno("removing " + ruleText(settings, family), rc);
                    }
                }
                final int rc = netlink.request(RtNetlink.RTM_DELROUTE, 0, routePayload(settings, family, lo));
                if (rc < 0 && -rc != ENOENT && -rc != ESRCH && -rc != EAFNOSUPPORT) {
                    throw TproxyException.errno("removing " + routeText(settings, family), rc);
                }
            }
        }
    }

    /**
     * Checks the sysctls that decide whether a marked packet passes the kernel's source check on each interface:
     * {@code src_valid_mark} must be 0 on {@code all} and the interface (the kernel ORs them), unless
     * {@code accept_local=1} with an {@code rp_filter} other than 1. With {@code src_valid_mark=1} the source check
     * uses the mark, finds the local default route and drops the packet as a martian.
     *
     * @param interfaces the interfaces that receive steered traffic
     * @param fix write 0 where the value is wrong (this also affects, for example, WireGuard set-ups that rely on
     *     {@code src_valid_mark=1})
     * @return the findings; empty when everything is right. With {@code fix}, each finding says it was fixed
     * @throws TproxyException when a sysctl cannot be read or written
     */
    public static List<SysctlFinding> checkSysctls(final List<String> interfaces, final boolean fix) {
        requireNonNull(interfaces, "interfaces");
        final List<SysctlFinding> findings = new ArrayList<>();
        final int svmAll = readConf("all", "src_valid_mark");
        final int acceptLocalAll = readConf("all", "accept_local");
        final int rpAll = readConf("all", "rp_filter");
        for (final String name : interfaces) {
            TproxySettings.validateInterfaceName(name);
            final int svmDev = readConf(name, "src_valid_mark");
            if (svmAll == 0 && svmDev == 0) {
                continue;
            }
            final boolean acceptLocal = acceptLocalAll != 0 || readConf(name, "accept_local") != 0;
            final int rp = Math.max(rpAll, readConf(name, "rp_filter"));
            if (acceptLocal && rp != 1) {
                continue; // the one combination that works with src_valid_mark=1
            }
            for (final String scope : svmAll != 0 && svmDev != 0 ? List.of("all", name)
                    : svmAll != 0 ? List.of("all") : List.of(name)) {
                final String sysctl = "net.ipv4.conf." + scope + ".src_valid_mark";
                if (findings.stream().anyMatch(f -> f.name().equals(sysctl))) {
                    continue;
                }
                if (fix) {
                    writeConf(scope, "src_valid_mark", "0");
                }
                findings.add(new SysctlFinding(sysctl, "1", "0", fix, "with src_valid_mark=1 the kernel's source "
                        + "check on " + name + " uses Postern's mark, finds the local default route and drops "
                        + "steered packets as martians; fix with: sysctl -w " + sysctl + "=0"));
            }
        }
        return findings;
    }

    private static void ensureFamily(final RtNetlink netlink, final RoutingSettings settings, final int family,
            final int lo, final List<String> notes) {
        int rc = netlink.request(RtNetlink.RTM_NEWROUTE,
                RtNetlink.NLM_F_CREATE | RtNetlink.NLM_F_REPLACE, routePayload(settings, family, lo));
        if (rc < 0 && family == RtNetlink.AF_INET6 && -rc == EAFNOSUPPORT) {
            notes.add("IPv6 is disabled on this node: no IPv6 rule or route installed");
            return;
        }
        if (rc < 0) {
            throw TproxyException.errno("installing " + routeText(settings, family), rc);
        }
        if (!hasRule(netlink, settings, family, notes)) {
            rc = netlink.request(RtNetlink.RTM_NEWRULE, RtNetlink.NLM_F_CREATE | RtNetlink.NLM_F_EXCL,
                    rulePayload(settings, family));
            if (rc < 0 && -rc != EEXIST) {
                throw TproxyException.errno("installing " + ruleText(settings, family), rc);
            }
        }
    }

    private static Status status(final RtNetlink netlink, final RoutingSettings settings, final int lo,
            final List<String> notes) {
        final boolean v4Rule = settings.ipv4() && hasRule(netlink, settings, RtNetlink.AF_INET, notes);
        final boolean v4Route = settings.ipv4() && hasRoute(netlink, settings, RtNetlink.AF_INET, lo, notes);
        boolean v6Rule = false;
        boolean v6Route = false;
        if (settings.ipv6() && Files.isDirectory(Path.of("/proc/sys/net/ipv6"))) {
            v6Rule = hasRule(netlink, settings, RtNetlink.AF_INET6, notes);
            v6Route = hasRoute(netlink, settings, RtNetlink.AF_INET6, lo, notes);
        }
        return new Status(v4Rule, v4Route, v6Rule, v6Route, notes.stream().distinct().toList());
    }

    private static List<Integer> families(final RoutingSettings settings) {
        final List<Integer> out = new ArrayList<>();
        if (settings.ipv4()) {
            out.add(RtNetlink.AF_INET);
        }
        if (settings.ipv6() && Files.isDirectory(Path.of("/proc/sys/net/ipv6"))) {
            out.add(RtNetlink.AF_INET6);
        }
        return out;
    }

    private static boolean hasRule(final RtNetlink netlink, final RoutingSettings settings, final int family,
            final List<String> notes) {
        final ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.nativeOrder());
        header.put((byte) family);
        final List<RtNetlink.Message> rules = netlink.dump(RtNetlink.RTM_GETRULE, header.array(),
                "listing " + familyName(family) + " routing rules");
        boolean found = false;
        for (final RtNetlink.Message m : rules) {
            final ByteBuffer body = m.body();
            final int dstLen = body.get(1) & 0xff;
            final int srcLen = body.get(2) & 0xff;
            final int action = body.get(7) & 0xff;
            final Map<Integer, ByteBuffer> attrs = RtNetlink.attributes(body, 12);
            final int table = attrs.containsKey(FRA_TABLE) ? attrs.get(FRA_TABLE).getInt(0) : body.get(4) & 0xff;
            final int priority = attrs.containsKey(FRA_PRIORITY) ? attrs.get(FRA_PRIORITY).getInt(0) : 0;
            final boolean hasMark = attrs.containsKey(FRA_FWMARK);
            final int mark = hasMark ? attrs.get(FRA_FWMARK).getInt(0) : 0;
            final int mask = attrs.containsKey(FRA_FWMASK) ? attrs.get(FRA_FWMASK).getInt(0) : hasMark ? -1 : 0;
            final boolean otherSelectors = dstLen != 0 || srcLen != 0 || attrs.containsKey(FRA_SRC)
                    || attrs.containsKey(FRA_DST) || attrs.containsKey(FRA_IIFNAME) || attrs.containsKey(FRA_OIFNAME)
                    || attrs.containsKey(FRA_IP_PROTO) || attrs.containsKey(FRA_SPORT_RANGE)
                    || attrs.containsKey(FRA_DPORT_RANGE);
            final boolean sameMatch = hasMark && mark == settings.mark() && mask == settings.markMask();
            if (sameMatch && action == FR_ACT_TO_TBL && table == settings.table() && !otherSelectors) {
                if (priority == settings.rulePriority()) {
                    found = true;
                } else {
                    notes.add(familyName(family) + " rule at priority " + priority + " also sends fwmark "
                            + hex(settings.mark()) + "/" + hex(settings.markMask()) + " to table "
                            + Integer.toUnsignedString(table));
                }
            } else if (hasMark && (mask & settings.markMask()) != 0
                    && ((mark ^ settings.mark()) & mask & settings.markMask()) == 0
                    && (mark & mask & ~settings.markMask()) == 0 && priority < settings.rulePriority()) {
                // A packet carrying Postern's mark (and nothing else under this rule's mask) would match it.
                notes.add(familyName(family) + " rule at priority " + priority + " (fwmark " + hex(mark) + "/"
                        + hex(mask) + ", table " + Integer.toUnsignedString(table) + ") matches packets with "
                        + "Postern's mark before Postern's rule at " + settings.rulePriority());
            }
        }
        return found;
    }

    private static boolean hasRoute(final RtNetlink netlink, final RoutingSettings settings, final int family,
            final int lo, final List<String> notes) {
        final ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.nativeOrder());
        header.put((byte) family);
        final List<RtNetlink.Message> routes = netlink.dump(RtNetlink.RTM_GETROUTE, header.array(),
                "listing " + familyName(family) + " routes");
        boolean found = false;
        for (final RtNetlink.Message m : routes) {
            final ByteBuffer body = m.body();
            final Map<Integer, ByteBuffer> attrs = RtNetlink.attributes(body, 12);
            final int table = attrs.containsKey(RTA_TABLE) ? attrs.get(RTA_TABLE).getInt(0) : body.get(4) & 0xff;
            if (table != settings.table()) {
                continue;
            }
            final int dstLen = body.get(1) & 0xff;
            final int type = body.get(7) & 0xff;
            final int oif = attrs.containsKey(RTA_OIF) ? attrs.get(RTA_OIF).getInt(0) : 0;
            if (type == RTN_LOCAL && dstLen == 0 && oif == lo && !attrs.containsKey(RTA_DST)) {
                found = true;
            } else {
                notes.add(familyName(family) + " table " + Integer.toUnsignedString(table) + " also holds a route "
                        + "(type " + type + ", /" + dstLen + ") that Postern did not install");
            }
        }
        return found;
    }

    private static byte[] rulePayload(final RoutingSettings settings, final int family) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.nativeOrder());
        header.put((byte) family).put((byte) 0).put((byte) 0).put((byte) 0);
        header.put((byte) 0 /* table: in FRA_TABLE */).put((byte) 0).put((byte) 0).put((byte) FR_ACT_TO_TBL);
        header.putInt(0);
        out.writeBytes(header.array());
        RtNetlink.attributeU32(out, FRA_PRIORITY, settings.rulePriority());
        RtNetlink.attributeU32(out, FRA_FWMARK, settings.mark());
        RtNetlink.attributeU32(out, FRA_FWMASK, settings.markMask());
        RtNetlink.attributeU32(out, FRA_TABLE, settings.table());
        RtNetlink.attribute(out, FRA_PROTOCOL, new byte[] {(byte) RTPROT_KERNEL});
        return out.toByteArray();
    }

    private static byte[] routePayload(final RoutingSettings settings, final int family, final int lo) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.nativeOrder());
        header.put((byte) family).put((byte) 0 /* dst_len */).put((byte) 0).put((byte) 0);
        header.put((byte) 0 /* table: in RTA_TABLE */).put((byte) RTPROT_KERNEL).put((byte) RT_SCOPE_HOST)
                .put((byte) RTN_LOCAL);
        header.putInt(0);
        out.writeBytes(header.array());
        RtNetlink.attributeU32(out, RTA_TABLE, settings.table());
        RtNetlink.attributeU32(out, RTA_OIF, lo);
        return out.toByteArray();
    }

    static String ruleText(final RoutingSettings settings, final int family) {
        return (family == RtNetlink.AF_INET6 ? "ip -6 rule " : "ip rule ") + "pref " + settings.rulePriority()
                + " fwmark " + hex(settings.mark()) + "/" + hex(settings.markMask()) + " lookup "
                + Integer.toUnsignedString(settings.table());
    }

    static String routeText(final RoutingSettings settings, final int family) {
        return (family == RtNetlink.AF_INET6 ? "ip -6 route local ::/0" : "ip route local 0.0.0.0/0")
                + " dev lo table " + Integer.toUnsignedString(settings.table());
    }

    private static String familyName(final int family) {
        return family == RtNetlink.AF_INET6 ? "IPv6" : "IPv4";
    }

    private static String hex(final int value) {
        return "0x" + Integer.toHexString(value);
    }

    // /proc/sys/net is per network namespace of the reading thread, like the netlink socket.
    private static Path conf(final String scope, final String name) {
        return Path.of("/proc/sys/net/ipv4/conf", scope, name);
    }

    private static int readConf(final String scope, final String name) {
        final Path path = conf(scope, name);
        try {
            return Integer.parseInt(Files.readString(path, StandardCharsets.US_ASCII).strip());
        } catch (final IOException | NumberFormatException e) {
            throw new TproxyException("reading sysctl net.ipv4.conf." + scope + "." + name + " (" + path
                    + ") failed: " + e + (scope.equals("all") ? "" : "; does interface " + scope + " exist?"), e);
        }
    }

    private static void writeConf(final String scope, final String name, final String value) {
        final Path path = conf(scope, name);
        try {
            Files.writeString(path, value, StandardCharsets.US_ASCII);
        } catch (final IOException e) {
            throw new TproxyException("writing " + value + " to sysctl net.ipv4.conf." + scope + "." + name + " ("
                    + path + ") failed: " + e + "; Postern needs CAP_NET_ADMIN and a writable /proc/sys", e);
        }
    }
}
