package dev.postern.proxy.server;

import dev.postern.tproxy.AttachMode;
import dev.postern.tproxy.FailMode;
import dev.postern.tproxy.RoutingSettings;
import dev.postern.tproxy.TproxySettings;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The bootstrap's {@code tproxy} section: whether Postern steers Gateway addresses to itself with its own BPF
 * program (see docs/tproxy.md), and how.
 *
 * @param enabled load and attach the BPF program and serve Gateway addresses through transparent sockets
 * @param required refuse to start when TPROXY cannot run here (otherwise: log why and bind as without TPROXY)
 * @param interfaces the interfaces whose ingress is steered
 * @param listenAddress the IPv4 address of the transparent TCP listener (loopback: reachable only through BPF)
 * @param listenAddress6 the IPv6 address of the transparent TCP listener
 * @param listenPort the transparent TCP listener's port; 0 picks a free one
 * @param mark the mark the program writes (under {@code markMask}) so the fwmark rule routes the packet local
 * @param markMask the bits of the mark Postern owns
 * @param table the routing table with the {@code local} default routes
 * @param rulePriority the {@code ip rule} preference
 * @param failMode what happens to steered packets when Postern is not listening
 * @param attachMode tcx, tc (clsact) or auto
 * @param pinRoot where the program's maps and links are pinned for a takeover without a gap; null: no pinning
 * @param fixSysctls set {@code src_valid_mark=0} where it is 1 instead of refusing
 * @param manageRouting install the fwmark rule and the local routes
 */
public record TproxyConfig(boolean enabled, boolean required, List<String> interfaces, String listenAddress,
                           String listenAddress6, int listenPort, int mark, int markMask, int table, int rulePriority,
                           FailMode failMode, AttachMode attachMode, Path pinRoot, boolean fixSysctls,
                           boolean manageRouting) {

    /** Copies the list. */
    public TproxyConfig {
        interfaces = List.copyOf(interfaces);
    }

    /** TPROXY off; the other fields hold the defaults of docs/tproxy.md. */
    public static TproxyConfig disabled() {
        return new TproxyConfig(false, false, List.of(), "127.0.0.1", "::1", 15001, RoutingSettings.DEFAULT_MARK,
                RoutingSettings.DEFAULT_MARK_MASK, RoutingSettings.DEFAULT_TABLE,
                RoutingSettings.DEFAULT_RULE_PRIORITY, FailMode.CLOSED, AttachMode.AUTO,
                TproxySettings.DEFAULT_PIN_ROOT, false, true);
    }

    /** A copy that is enabled (and required) on these interfaces, with this pin root and listener port. */
    public TproxyConfig enabledOn(List<String> ifaces, Path pins, int port) {
        return new TproxyConfig(true, true, ifaces, listenAddress, listenAddress6, port, mark, markMask, table,
                rulePriority, failMode, attachMode, pins, fixSysctls, manageRouting);
    }

    /** The loader's settings. */
    public TproxySettings settings() {
        final TproxySettings.Builder b = TproxySettings.builder().interfaces(interfaces).failMode(failMode)
                .attachMode(attachMode).fixSysctls(fixSysctls).manageRouting(manageRouting)
                .routing(new RoutingSettings(mark, markMask, table, rulePriority, true, true));
        return pinRoot == null ? b.noPinning().build() : b.pinRoot(pinRoot).build();
    }

    private static final Set<String> KEYS = Set.of("enabled", "required", "interfaces", "listenAddress",
            "listenAddress6", "listenPort", "mark", "markMask", "table", "rulePriority", "failMode", "attachMode",
            "pinRoot", "fixSysctls", "manageRouting");

    /**
     * Reads the {@code tproxy} object of a bootstrap file.
     *
     * @throws IllegalArgumentException naming the file, the field ({@code tproxy.x}) and the reason
     */
    static TproxyConfig read(Path file, Map<?, ?> m) {
        final TproxyConfig d = disabled();
        for (Object k : m.keySet()) {
            if (!KEYS.contains(String.valueOf(k))) {
                throw new IllegalArgumentException(file + ": tproxy." + k + ": unknown field; known: " + KEYS);
            }
        }
        final List<String> ifaces;
        final Object iv = m.get("interfaces");
        if (iv == null) {
            ifaces = d.interfaces();
        } else if (iv instanceof List<?> l) {
            ifaces = l.stream().map(String::valueOf).toList();
        } else {
            throw new IllegalArgumentException(file + ": tproxy.interfaces: must be a list of interface names");
        }
        final boolean enabled = bool(file, m, "enabled", d.enabled());
        if (enabled && ifaces.isEmpty()) {
            throw new IllegalArgumentException(file + ": tproxy.interfaces: name at least one interface where "
                    + "load-balancer traffic arrives when tproxy.enabled is true");
        }
        final Object pin = m.get("pinRoot");
        final TproxyConfig c = new TproxyConfig(enabled, bool(file, m, "required", d.required()), ifaces,
                literal(file, m, "listenAddress", d.listenAddress()),
                literal(file, m, "listenAddress6", d.listenAddress6()),
                integer(file, m, "listenPort", d.listenPort()), integer(file, m, "mark", d.mark()),
                integer(file, m, "markMask", d.markMask()), integer(file, m, "table", d.table()),
                integer(file, m, "rulePriority", d.rulePriority()),
                enumValue(file, m, "failMode", FailMode.class, d.failMode()),
                enumValue(file, m, "attachMode", AttachMode.class, d.attachMode()),
                pin == null ? d.pinRoot() : "none".equals(String.valueOf(pin)) ? null : Path.of(String.valueOf(pin)),
                bool(file, m, "fixSysctls", d.fixSysctls()), bool(file, m, "manageRouting", d.manageRouting()));
        if (c.listenPort() < 0 || c.listenPort() > 65535) {
            throw new IllegalArgumentException(file + ": tproxy.listenPort: must be 0..65535, got " + c.listenPort());
        }
        try {
            c.settings();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": tproxy: " + e.getMessage(), e);
        }
        return c;
    }

    private static boolean bool(Path file, Map<?, ?> m, String key, boolean def) {
        final Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Boolean b)) {
            throw new IllegalArgumentException(file + ": tproxy." + key + ": must be true or false, got " + v);
        }
        return b;
    }

    private static int integer(Path file, Map<?, ?> m, String key, int def) {
        final Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Integer i)) {
            throw new IllegalArgumentException(file + ": tproxy." + key + ": must be an integer (0x.. allowed), got "
                    + v);
        }
        return i;
    }

    private static String literal(Path file, Map<?, ?> m, String key, String def) {
        final Object v = m.get(key);
        if (v == null) {
            return def;
        }
        try {
            java.net.InetAddress.ofLiteral(String.valueOf(v));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": tproxy." + key + ": \"" + v + "\" is not an IP address");
        }
        return String.valueOf(v);
    }

    private static <E extends Enum<E>> E enumValue(Path file, Map<?, ?> m, String key, Class<E> type, E def) {
        final Object v = m.get(key);
        if (v == null) {
            return def;
        }
        try {
            return Enum.valueOf(type, String.valueOf(v).toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": tproxy." + key + ": \"" + v + "\" is not one of "
                    + java.util.Arrays.toString(type.getEnumConstants()).toLowerCase(Locale.ROOT));
        }
    }
}
