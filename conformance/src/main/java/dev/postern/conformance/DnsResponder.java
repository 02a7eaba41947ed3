package dev.postern.conformance;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Locale;

/**
 * The suite's {@code coredns} Deployment, reduced to what its Corefile does for the zone the UDPRoute test queries:
 * a minimal RFC 1035 responder over UDP. For names in {@code foo.bar.com} it answers as CoreDNS's {@code whoami}
 * plugin does: authoritative, NOERROR, an empty answer section and, in the additional section, an A record of the
 * querier's address (TTL 0) and an SRV record {@code _udp.<qname>} carrying the querier's port (target ".").
 * Every other name would be forwarded to 8.8.8.8 by the Corefile; the replay is offline, so it gets SERVFAIL, which
 * is what CoreDNS's forward plugin answers when its upstreams are unreachable. Malformed queries get FORMERR, other
 * opcodes NOTIMP, and datagrams with the QR bit set (responses) are dropped.
 */
public final class DnsResponder implements AutoCloseable {
    /** The zone served by whoami in the suite's Corefile. */
    static final String ZONE = "foo.bar.com";
    static final int TYPE_A = 1;
    static final int TYPE_SRV = 33;
    static final int CLASS_IN = 1;
    static final int NOERROR = 0;
    static final int FORMERR = 1;
    static final int SERVFAIL = 2;
    static final int NOTIMP = 4;

    private final DatagramSocket socket;

    private DnsResponder(DatagramSocket socket) {
        this.socket = socket;
        Thread.ofPlatform().daemon().name("dns-" + socket.getLocalSocketAddress()).start(this::serve);
    }

    /** Starts a responder on {@code ip:port} (53 in the suite). */
    static DnsResponder start(InetAddress ip, int port) throws IOException {
        return new DnsResponder(new DatagramSocket(new InetSocketAddress(ip, port)));
    }

    private void serve() {
        final byte[] buf = new byte[512];
        while (!socket.isClosed()) {
            try {
                final DatagramPacket p = new DatagramPacket(buf, buf.length);
                socket.receive(p);
                final byte[] reply = answer(java.util.Arrays.copyOf(p.getData(), p.getLength()),
                        (InetSocketAddress) p.getSocketAddress());
                if (reply != null) {
                    socket.send(new DatagramPacket(reply, reply.length, p.getSocketAddress()));
                }
            } catch (IOException e) {
                if (socket.isClosed()) {
                    return;
                }
            }
        }
    }

    /** The port it listens on (the one asked for, or the kernel's choice for 0). */
    int port() {
        return socket.getLocalPort();
    }

    /** The reply to one query from {@code from}, or null when nothing is to be sent. */
    static byte[] answer(byte[] q, InetSocketAddress from) {
        if (q.length < 12 || (q[2] & 0x80) != 0) {
            return null; // too short to carry an id, or a response
        }
        final int opcode = (q[2] >> 3) & 0x0f;
        final int qdcount = u16(q, 4);
        if (opcode != 0) {
            return header(q, NOTIMP, 0, 0, 0, false);
        }
        if (qdcount != 1) {
            return header(q, FORMERR, 0, 0, 0, false);
        }
        // The question: uncompressed labels (a query has nothing to point back to), then type and class.
        final StringBuilder name = new StringBuilder();
        int i = 12;
        while (true) {
            if (i >= q.length) {
                return header(q, FORMERR, 0, 0, 0, false);
            }
            final int len = q[i] & 0xff;
            if (len == 0) {
                i++;
                break;
            }
            if (len > 63 || i + 1 + len > q.length) {
                return header(q, FORMERR, 0, 0, 0, false);
            }
            if (!name.isEmpty()) {
                name.append('.');
            }
            name.append(new String(q, i + 1, len, java.nio.charset.StandardCharsets.US_ASCII));
            i += 1 + len;
        }
        if (i + 4 > q.length) {
            return header(q, FORMERR, 0, 0, 0, false);
        }
        final byte[] question = java.util.Arrays.copyOfRange(q, 12, i + 4);
        final int qclass = u16(q, i + 2);
        final String qname = name.toString().toLowerCase(Locale.ROOT);
        final boolean inZone = qname.equals(ZONE) || qname.endsWith("." + ZONE);
        if (!inZone || qclass != CLASS_IN || !(from.getAddress() instanceof Inet4Address)) {
            final ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(header(q, SERVFAIL, 1, 0, 0, false));
            out.writeBytes(question);
            return out.toByteArray();
        }
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(header(q, NOERROR, 1, 0, 2, true));
        out.writeBytes(question);
        // A <qname> 0 IN <querier's address>, the name as a pointer to the question's (offset 12).
        out.writeBytes(new byte[] {(byte) 0xc0, 12, 0, TYPE_A, 0, CLASS_IN, 0, 0, 0, 0, 0, 4});
        out.writeBytes(from.getAddress().getAddress());
        // SRV _udp.<qname> 0 IN 0 0 <querier's port> "."
        out.writeBytes(new byte[] {4, '_', 'u', 'd', 'p', (byte) 0xc0, 12, 0, TYPE_SRV, 0, CLASS_IN, 0, 0, 0, 0,
                0, 7, 0, 0, 0, 0, (byte) (from.getPort() >> 8), (byte) from.getPort(), 0});
        return out.toByteArray();
    }

    private static byte[] header(byte[] q, int rcode, int qd, int an, int ar, boolean authoritative) {
        final byte[] h = new byte[12];
        h[0] = q[0];
        h[1] = q[1];
        // QR, the query's opcode and RD, AA when authoritative; RA clear (no recursion offered).
        h[2] = (byte) (0x80 | (q[2] & 0x79) | (authoritative ? 0x04 : 0));
        h[3] = (byte) rcode;
        h[5] = (byte) qd;
        h[7] = (byte) an;
        h[11] = (byte) ar;
        return h;
    }

    static int u16(byte[] b, int at) {
        return ((b[at] & 0xff) << 8) | (b[at + 1] & 0xff);
    }

    @Override
    public void close() {
        socket.close();
    }
}
