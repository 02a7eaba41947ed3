package dev.postern.tproxy;

/**
 * The node routing that makes steered packets local: {@code ip rule add pref PRIORITY fwmark MARK/MASK lookup
 * TABLE} and {@code ip route add local 0.0.0.0/0 dev lo table TABLE} (and the IPv6 pair with {@code ::/0}).
 * {@code bpf_sk_assign} does not skip routing; without this a steered packet is forwarded or dropped.
 *
 * <p>Defaults, chosen not to collide with the marks and tables of the components Postern meets on a node:
 * <ul>
 *   <li>mark {@code 0x2000} under mask {@code 0xf000}. Cilium uses the {@code 0x0f00} nibble for its magic marks
 *       ({@code 0x200} to-proxy, {@code 0xa00}/{@code 0xb00}, ...) and the upper 16 bits for identities;
 *       kube-proxy uses {@code 0x4000} (masquerade) and {@code 0x8000} (drop); Calico's iptables mark mask is
 *       {@code 0xffff0000}; the AWS VPC CNI uses {@code 0x80}; Istio uses {@code 0x539}, {@code 0x111} and
 *       {@code 0x222}. Requiring the whole {@code 0xf000} nibble to equal {@code 0x2000} also means a packet that
 *       kube-proxy marked is never taken for ours.</li>
 *   <li>table {@code 2100}: Cilium uses 200-202, 2004 and 2005; the AWS VPC CNI uses small per-ENI tables;
 *       kube-router uses 77-79.</li>
 *   <li>rule priority {@code 40}: after the kernel's {@code local} rule (0) and Cilium's rules (1, 9, 10, 20),
 *       before the AWS VPC CNI's (512 and up) and {@code main} (32766).</li>
 * </ul>
 *
 * @param mark the value the BPF program writes under {@code markMask}; non-zero, no bits outside the mask
 * @param markMask the bits Postern owns in {@code skb->mark}
 * @param table the routing table holding the {@code local} default routes; not 0, 253, 254 or 255
 * @param rulePriority the {@code ip rule} preference; 1..32765 (it must come before {@code main})
 * @param ipv4 install the IPv4 rule and route
 * @param ipv6 install the IPv6 rule and route (skipped with a note where the node has no IPv6)
 */
public record RoutingSettings(int mark, int markMask, int table, int rulePriority, boolean ipv4, boolean ipv6) {
    /** Default mark, see the type's description. */
    public static final int DEFAULT_MARK = 0x2000;
    /** Default mark mask. */
    public static final int DEFAULT_MARK_MASK = 0xf000;
    /** Default routing table. */
    public static final int DEFAULT_TABLE = 2100;
    /** Default rule priority. */
    public static final int DEFAULT_RULE_PRIORITY = 40;

    /** Validates; see the parameters. */
    public RoutingSettings {
        if (markMask == 0) {
            throw new IllegalArgumentException("tproxy mark mask is 0: Postern needs at least one bit of skb->mark");
        }
        if (mark == 0) {
            throw new IllegalArgumentException("tproxy mark is 0: an unmarked packet would match the rule");
        }
        if ((mark & ~markMask) != 0) {
            throw new IllegalArgumentException(String.format("tproxy mark 0x%x has bits outside its mask 0x%x",
                    mark, markMask));
        }
        if (table == 0 || table == 253 || table == 254 || table == 255) {
            throw new IllegalArgumentException("tproxy route table " + Integer.toUnsignedString(table)
                    + " is reserved (0 unspec, 253 default, 254 main, 255 local)");
        }
        if (rulePriority < 1 || rulePriority > 32765) {
            throw new IllegalArgumentException("tproxy rule priority " + rulePriority
                    + " is outside 1..32765 (it must come before the main table's rule at 32766)");
        }
        if (!ipv4 && !ipv6) {
            throw new IllegalArgumentException("tproxy routing needs IPv4, IPv6 or both");
        }
    }

    /** The defaults described above, for IPv4 and IPv6. */
    public static RoutingSettings defaults() {
        return new RoutingSettings(DEFAULT_MARK, DEFAULT_MARK_MASK, DEFAULT_TABLE, DEFAULT_RULE_PRIORITY, true, true);
    }

    @Override
    public String toString() {
        return String.format("fwmark 0x%x/0x%x lookup %s pref %d (%s)", mark, markMask,
                Integer.toUnsignedString(table), rulePriority, ipv4 && ipv6 ? "IPv4+IPv6" : ipv4 ? "IPv4" : "IPv6");
    }
}
