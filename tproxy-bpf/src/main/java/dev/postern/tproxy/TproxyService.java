package dev.postern.tproxy;

import static java.util.Objects.requireNonNull;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * One steering entry: TCP (or UDP) traffic whose destination is inside {@code address/prefixLength} on {@code port}
 * goes to the transparent {@code listener} on this node.
 *
 * <p>The address is stored in canonical form: host bits beyond the prefix are cleared, so
 * {@code 198.51.100.7/24} and {@code 198.51.100.0/24} are the same entry. The listener has the same address family
 * as the prefix; it is usually a loopback address ({@code 127.0.0.1}, {@code ::1}) so that its port cannot be
 * reached except through the BPF program. A wildcard ({@code 0.0.0.0}, {@code ::}) listener works too.
 *
 * @param address the destination prefix's address (a Gateway address, usually a /32 or /128)
 * @param prefixLength 0..32 for IPv4, 0..128 for IPv6
 * @param port the destination port, 1..65535
 * @param listener where the connection is handed: Postern's IP_TRANSPARENT listener (for UDP: the
 *     IP_TRANSPARENT socket bound to the Gateway's address and port, usually the destination itself)
 * @param protocol TCP or UDP
 */
public record TproxyService(InetAddress address, int prefixLength, int port, InetSocketAddress listener,
                            Protocol protocol) {

    /** The transport protocol of a steering entry; the value is the IP protocol number the BPF map uses. */
    public enum Protocol {
        /** Connections, handed to the listener (or to their own socket once accepted). */
        TCP(6),
        /** Datagrams, handed to the UDP socket bound to the destination. */
        UDP(17);

        final int number;

        Protocol(final int number) {
            this.number = number;
        }
    }

    /** A TCP entry. */
    public TproxyService(final InetAddress address, final int prefixLength, final int port,
                         final InetSocketAddress listener) {
        this(address, prefixLength, port, listener, Protocol.TCP);
    }

    /** Validates and canonicalises; see the type's description. */
    public TproxyService {
        requireNonNull(address, "address");
        requireNonNull(listener, "listener");
        requireNonNull(protocol, "protocol");
        final int maxPrefix = address instanceof Inet4Address ? 32 : 128;
        if (prefixLength < 0 || prefixLength > maxPrefix) {
            throw new IllegalArgumentException("prefix length " + prefixLength + " of " + address.getHostAddress()
                    + " is outside 0.." + maxPrefix);
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " of " + address.getHostAddress() + "/"
                    + prefixLength + " is outside 1..65535");
        }
        if (listener.isUnresolved()) {
            throw new IllegalArgumentException("listener " + listener + " is unresolved; give an IP address");
        }
        if (listener.getPort() < 1) {
            throw new IllegalArgumentException("listener " + listener + " has no port");
        }
        if ((listener.getAddress() instanceof Inet4Address) != (address instanceof Inet4Address)) {
            throw new IllegalArgumentException("listener " + listener + " and destination "
                    + address.getHostAddress() + "/" + prefixLength + " are of different address families; the "
                    + "BPF program looks the listener up with the packet's own family");
        }
        address = network(address, prefixLength);
    }

    /** A TCP entry for exactly one address ({@code /32} or {@code /128}). */
    public static TproxyService of(final InetAddress address, final int port, final InetSocketAddress listener) {
        return of(Protocol.TCP, address, port, listener);
    }

    /** An entry for exactly one address ({@code /32} or {@code /128}). */
    public static TproxyService of(final Protocol protocol, final InetAddress address, final int port,
                                   final InetSocketAddress listener) {
        requireNonNull(address, "address");
        return new TproxyService(address, address instanceof Inet4Address ? 32 : 128, port, listener, protocol);
    }

    /**
     * Parses {@code "198.51.100.10/32:80"}, {@code "198.51.100.10:80"}, {@code "[2001:db8::10]/128:443"} or
     * {@code "[2001:db8::10]:443"}; the prefix length defaults to the full address.
     */
    public static TproxyService parse(final String destination, final InetSocketAddress listener) {
        requireNonNull(destination, "destination");
        final int colon = destination.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("destination '" + destination + "' has no :port");
        }
        String prefix = destination.substring(0, colon);
        final int port;
        try {
            port = Integer.parseInt(destination.substring(colon + 1));
        } catch (final NumberFormatException e) {
            throw new IllegalArgumentException("destination '" + destination + "' has a port that is not a number");
        }
        int length = -1;
        final int slash = prefix.lastIndexOf('/');
        if (slash > 0) {
            try {
                length = Integer.parseInt(prefix.substring(slash + 1));
            } catch (final NumberFormatException e) {
                throw new IllegalArgumentException("destination '" + destination + "' has a bad prefix length");
            }
            prefix = prefix.substring(0, slash);
        }
        if (prefix.startsWith("[") && prefix.endsWith("]")) {
            prefix = prefix.substring(1, prefix.length() - 1);
        }
        final InetAddress address = literal(prefix, destination);
        return new TproxyService(address, length < 0 ? (address instanceof Inet4Address ? 32 : 128) : length, port,
                listener);
    }

    private static InetAddress literal(final String text, final String context) {
        // Only literals: a host name here would mean a DNS lookup on the control path.
        if (text.isEmpty() || !(text.indexOf(':') >= 0 || Character.digit(text.charAt(0), 16) >= 0)) {
            throw new IllegalArgumentException("destination '" + context + "' does not start with an IP literal");
        }
        try {
            return InetAddress.ofLiteral(text);
        } catch (final IllegalArgumentException e) {
            throw new IllegalArgumentException("destination '" + context + "' has no valid IP literal: "
                    + e.getMessage());
        }
    }

    private static InetAddress network(final InetAddress address, final int prefixLength) {
        final byte[] bytes = address.getAddress();
        for (int bit = prefixLength; bit < bytes.length * 8; bit++) {
            bytes[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (final UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        final String a = address.getHostAddress();
        return (protocol == Protocol.UDP ? "udp " : "") + (address instanceof Inet4Address ? a : "[" + a + "]")
                + "/" + prefixLength + ":" + port + " -> "
                + listener.getAddress().getHostAddress() + ":" + listener.getPort();
    }
}
