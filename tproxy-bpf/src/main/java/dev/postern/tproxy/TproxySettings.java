package dev.postern.tproxy;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Everything {@link TproxyDataplane#start} needs. Build with {@link #builder()}.
 *
 * @param interfaces the interfaces whose ingress is steered (every NIC where load-balancer traffic arrives)
 * @param failMode what happens to matched packets when no socket takes them
 * @param attachMode tcx, the clsact qdisc, or whichever the kernel has
 * @param attachFirst with tcx: run before the programs already attached (a CNI's), so that ours sees the
 *     packets first; unmatched packets go on to the next program either way
 * @param tcHandle the cls_bpf filter handle used with {@link AttachMode#TC}
 * @param tcPriority the cls_bpf filter priority used with {@link AttachMode#TC} (lower runs first)
 * @param routing the fwmark rule and local table; see {@link RoutingSettings}
 * @param manageRouting install the rule and routes (and remove them on {@link TproxyDataplane#uninstall})
 * @param fixSysctls write {@code src_valid_mark=0} where it is 1 instead of refusing to start
 * @param pinRoot where maps and links are pinned so a restarted Postern takes over without a gap; empty for no
 *     pinning (then everything is detached when the dataplane is closed)
 */
public record TproxySettings(List<String> interfaces, FailMode failMode, AttachMode attachMode, boolean attachFirst,
        int tcHandle, int tcPriority, RoutingSettings routing, boolean manageRouting, boolean fixSysctls,
        Optional<Path> pinRoot) {
    /** The default pin root. */
    public static final Path DEFAULT_PIN_ROOT = Path.of("/sys/fs/bpf/postern");
    /** The default cls_bpf handle ("PT"). */
    public static final int DEFAULT_TC_HANDLE = 0x5054;
    /** The default cls_bpf priority. */
    public static final int DEFAULT_TC_PRIORITY = 1;

    /** Validates; see the parameters. */
    public TproxySettings {
        interfaces = List.copyOf(requireNonNull(interfaces, "interfaces"));
        requireNonNull(failMode, "failMode");
        requireNonNull(attachMode, "attachMode");
        requireNonNull(routing, "routing");
        requireNonNull(pinRoot, "pinRoot");
        for (final String name : interfaces) {
            validateInterfaceName(name);
        }
        if (interfaces.stream().distinct().count() != interfaces.size()) {
            throw new IllegalArgumentException("tproxy interfaces " + interfaces + " name one interface twice");
        }
        if (tcHandle == 0) {
            throw new IllegalArgumentException("tproxy tc handle must not be 0 (detach needs a fixed handle)");
        }
        if (tcPriority < 1 || tcPriority > 0xffff) {
            throw new IllegalArgumentException("tproxy tc priority " + tcPriority + " is outside 1..65535");
        }
        pinRoot.ifPresent(p -> {
            if (!p.isAbsolute()) {
                throw new IllegalArgumentException("tproxy pin root " + p + " is not an absolute path");
            }
        });
    }

    static void validateInterfaceName(final String name) {
        requireNonNull(name, "interface name");
        if (name.isEmpty() || name.length() > 15 || name.contains("/") || name.equals(".") || name.equals("..")
                || name.chars().anyMatch(c -> c <= ' ' || c == ':')) {
            throw new IllegalArgumentException("'" + name + "' is not a valid interface name (1-15 characters, "
                    + "no '/', ':' or white space)");
        }
    }

    /** A builder with the defaults described on each setter. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link TproxySettings}. Not thread-safe. */
    public static final class Builder {
        private List<String> interfaces = List.of();
        private FailMode failMode = FailMode.CLOSED;
        private AttachMode attachMode = AttachMode.AUTO;
        private boolean attachFirst = true;
        private int tcHandle = DEFAULT_TC_HANDLE;
        private int tcPriority = DEFAULT_TC_PRIORITY;
        private RoutingSettings routing = RoutingSettings.defaults();
        private boolean manageRouting = true;
        private boolean fixSysctls;
        private Optional<Path> pinRoot = Optional.of(DEFAULT_PIN_ROOT);

        private Builder() {
        }

        /** The interfaces to steer; none by default (then only the maps are loaded). */
        public Builder interfaces(final List<String> names) {
            this.interfaces = List.copyOf(requireNonNull(names, "names"));
            return this;
        }

        /** Default {@link FailMode#CLOSED}. */
        public Builder failMode(final FailMode mode) {
            this.failMode = requireNonNull(mode, "mode");
            return this;
        }

        /** Default {@link AttachMode#AUTO}. */
        public Builder attachMode(final AttachMode mode) {
            this.attachMode = requireNonNull(mode, "mode");
            return this;
        }

        /** Default true: with tcx, run before programs attached earlier. */
        public Builder attachFirst(final boolean first) {
            this.attachFirst = first;
            return this;
        }

        /** Default handle {@code 0x5054}, priority 1. */
        public Builder tcFilter(final int handle, final int priority) {
            this.tcHandle = handle;
            this.tcPriority = priority;
            return this;
        }

        /** Default {@link RoutingSettings#defaults()}. */
        public Builder routing(final RoutingSettings settings) {
            this.routing = requireNonNull(settings, "settings");
            return this;
        }

        /** Default true. */
        public Builder manageRouting(final boolean manage) {
            this.manageRouting = manage;
            return this;
        }

        /** Default false: a wrong sysctl makes {@link TproxyDataplane#start} fail with the command that fixes it. */
        public Builder fixSysctls(final boolean fix) {
            this.fixSysctls = fix;
            return this;
        }

        /** Default {@code /sys/fs/bpf/postern} (must be on a bpf file system). */
        public Builder pinRoot(final Path root) {
            this.pinRoot = Optional.of(requireNonNull(root, "root"));
            return this;
        }

        /** No pinning: closing the dataplane detaches everything, and a restart starts from empty maps. */
        public Builder noPinning() {
            this.pinRoot = Optional.empty();
            return this;
        }

        /** Validates and builds. */
        public TproxySettings build() {
            return new TproxySettings(interfaces, failMode, attachMode, attachFirst, tcHandle, tcPriority, routing,
                    manageRouting, fixSysctls, pinRoot);
        }
    }
}
