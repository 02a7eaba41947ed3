package dev.postern.proxy.http;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * A set of CIDR ranges, IPv4 and IPv6, checked without allocation.
 */
public final class CidrSet {
    private final byte[][] nets;
    private final int[] bits;
    private final List<String> text;

    private CidrSet(byte[][] nets, int[] bits, List<String> text) {
        this.nets = nets;
        this.bits = bits;
        this.text = text;
    }

    /**
     * Parses ranges such as {@code 10.0.0.0/8} or {@code ::1} (a bare address is a single host).
     *
     * @throws IllegalArgumentException naming the bad entry
     */
    public static CidrSet parse(List<String> cidrs) {
        final byte[][] nets = new byte[cidrs.size()][];
        final int[] bits = new int[cidrs.size()];
        for (int i = 0; i < cidrs.size(); i++) {
            final String c = cidrs.get(i).trim();
            final int slash = c.indexOf('/');
            final InetAddress a;
            try {
                a = InetAddress.ofLiteral(slash < 0 ? c : c.substring(0, slash));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("not a CIDR range: \"" + c + "\"");
            }
            nets[i] = a.getAddress();
            final int max = nets[i].length * 8;
            try {
                bits[i] = slash < 0 ? max : Integer.parseInt(c.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a CIDR range: \"" + c + "\"");
            }
            if (bits[i] < 0 || bits[i] > max) {
                throw new IllegalArgumentException("prefix length out of range in \"" + c + "\"");
            }
        }
        return new CidrSet(nets, bits, List.copyOf(new ArrayList<>(cidrs)));
    }

    /** Returns true when the address is inside any range. */
    public boolean contains(InetAddress address) {
        final byte[] a = address.getAddress();
        for (int i = 0; i < nets.length; i++) {
            if (nets[i].length == a.length && prefixEquals(nets[i], a, bits[i])) {
                return true;
            }
        }
        return false;
    }

    private static boolean prefixEquals(byte[] net, byte[] a, int bits) {
        int i = 0;
        for (; bits >= 8; bits -= 8, i++) {
            if (net[i] != a[i]) {
                return false;
            }
        }
        if (bits == 0) {
            return true;
        }
        final int mask = (0xff << (8 - bits)) & 0xff;
        return (net[i] & mask) == (a[i] & mask);
    }

    @Override
    public String toString() {
        return text.toString();
    }
}
