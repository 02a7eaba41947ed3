package dev.postern.tproxy;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal rtnetlink client (NETLINK_ROUTE) over a raw socket opened through the foreign function API: requests
 * with an acknowledgement, dumps, and attribute parsing. Acts on the network namespace of the thread that
 * {@linkplain #open() opened} it.
 *
 * <p>Not thread-safe: one owner at a time.
 */
final class RtNetlink implements AutoCloseable {
    static final int NLMSG_ERROR = 2;
    static final int NLMSG_DONE = 3;
    static final int NLM_F_REQUEST = 0x1;
    static final int NLM_F_MULTI = 0x2;
    static final int NLM_F_ACK = 0x4;
    static final int NLM_F_DUMP = 0x300;
    static final int NLM_F_REPLACE = 0x100;
    static final int NLM_F_EXCL = 0x200;
    static final int NLM_F_CREATE = 0x400;

    static final int RTM_NEWLINK = 16;
    static final int RTM_GETLINK = 18;
    static final int RTM_NEWROUTE = 24;
    static final int RTM_DELROUTE = 25;
    static final int RTM_GETROUTE = 26;
    static final int RTM_NEWRULE = 32;
    static final int RTM_DELRULE = 33;
    static final int RTM_GETRULE = 34;
    static final int RTM_NEWTFILTER = 44;
    static final int RTM_GETTFILTER = 46;

    static final int AF_INET = 2;
    static final int AF_INET6 = 10;
    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_ROUTE = 0;
    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVTIMEO = 20;
    private static final int HEADER = 16;
    private static final int BUFFER = 64 * 1024;

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment kernel;
    private final MemorySegment receive;
    private int sequence = (int) (System.nanoTime() & 0x7fffffff);

    /** One received message: its type and flags, and its body after the 16-byte header (host order). */
    record Message(int type, int flags, ByteBuffer body) {
    }

    /** What {@code RTM_GETLINK} says about an interface. */
    record Link(int index, int type, String name) {
    }

    private RtNetlink(final int fd) {
        this.fd = fd;
        this.kernel = arena.allocate(12, 4);
        kernel.set(JAVA_SHORT, 0, (short) AF_NETLINK);
        this.receive = arena.allocate(BUFFER, 8);
    }

    /** Opens a NETLINK_ROUTE socket in the calling thread's network namespace. */
    static RtNetlink open() {
        final int fd = Native.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) {
            throw TproxyException.errno("opening a NETLINK_ROUTE socket", fd);
        }
        final RtNetlink netlink = new RtNetlink(fd);
        try (Arena local = Arena.ofConfined()) {
            final MemorySegment self = local.allocate(12, 4);
            self.set(JAVA_SHORT, 0, (short) AF_NETLINK);
            final int rc = Native.bind(fd, self, 12);
            if (rc < 0) {
                netlink.close();
                throw TproxyException.errno("binding a NETLINK_ROUTE socket", rc);
            }
            final MemorySegment timeout = local.allocate(16, 8);
            timeout.set(JAVA_LONG, 0, 5L);
            Native.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16);
        }
        return netlink;
    }

    /**
     * Sends a request with {@code NLM_F_ACK} and waits for the acknowledgement.
     *
     * @return 0, or the negative errno the kernel answered with
     */
    int request(final int type, final int flags, final byte[] payload) {
        final int seq = send(type, flags | NLM_F_REQUEST | NLM_F_ACK, payload);
        while (true) {
            for (final Message m : receiveBatch(seq)) {
                if (m.type() == NLMSG_ERROR) {
                    return m.body().getInt(0);
                }
            }
        }
    }

    /** Sends a request without {@code NLM_F_ACK} that is answered by one message (or an error). */
    Message get(final int type, final byte[] payload, final String what) {
        final int seq = send(type, NLM_F_REQUEST, payload);
        final List<Message> batch = receiveBatch(seq);
        final Message first = batch.getFirst();
        if (first.type() == NLMSG_ERROR) {
            final int error = first.body().getInt(0);
            throw TproxyException.errno(what, error);
        }
        return first;
    }

    /** Dumps ({@code NLM_F_DUMP}) and returns every message up to {@code NLMSG_DONE}. */
    List<Message> dump(final int type, final byte[] payload, final String what) {
        final int seq = send(type, NLM_F_REQUEST | NLM_F_DUMP, payload);
        final List<Message> out = new ArrayList<>();
        while (true) {
            for (final Message m : receiveBatch(seq)) {
                if (m.type() == NLMSG_DONE) {
                    return out;
                }
                if (m.type() == NLMSG_ERROR) {
                    final int error = m.body().getInt(0);
                    if (error == 0) {
                        return out;
                    }
                    throw TproxyException.errno(what, error);
                }
                out.add(m);
            }
        }
    }

    /** Looks an interface up by name. */
    Link link(final String name) {
        final ByteArrayOutputStream payload = new ByteArrayOutputStream();
        final ByteBuffer ifinfo = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
        ifinfo.put((byte) 0).put((byte) 0).putShort((short) 0).putInt(0).putInt(0).putInt(0);
        payload.writeBytes(ifinfo.array());
        attribute(payload, 3 /* IFLA_IFNAME */, cString(name));
        final Message reply = get(RTM_GETLINK, payload.toByteArray(),
                "looking up interface " + name + " in this network namespace");
        final ByteBuffer body = reply.body();
        return new Link(body.getInt(4), body.getShort(2) & 0xffff, name);
    }

    /** Looks an interface up by index; null when there is none. */
    Link link(final int index) {
        final ByteBuffer ifinfo = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
        ifinfo.put((byte) 0).put((byte) 0).putShort((short) 0).putInt(index).putInt(0).putInt(0);
        final int seq = send(RTM_GETLINK, NLM_F_REQUEST, ifinfo.array());
        final Message reply = receiveBatch(seq).getFirst();
        if (reply.type() == NLMSG_ERROR) {
            final int error = reply.body().getInt(0);
            if (error == -19) { // ENODEV
                return null;
            }
            throw TproxyException.errno("looking up interface index " + index, error);
        }
        final ByteBuffer name = attributes(reply.body(), 16).get(3 /* IFLA_IFNAME */);
        String text = "";
        if (name != null) {
            final byte[] bytes = new byte[name.remaining()];
            name.get(0, bytes);
            text = new String(bytes, StandardCharsets.UTF_8);
            final int nul = text.indexOf('\0');
            text = nul >= 0 ? text.substring(0, nul) : text;
        }
        return new Link(index, reply.body().getShort(2) & 0xffff, text);
    }

    /** Counts the tc filters under {@code parent} (e.g. the clsact ingress or egress hook) of an interface. */
    int countFilters(final int ifindex, final int parent) {
        final ByteBuffer tcmsg = ByteBuffer.allocate(20).order(ByteOrder.nativeOrder());
        tcmsg.put((byte) 0).put((byte) 0).putShort((short) 0).putInt(ifindex).putInt(0).putInt(parent).putInt(0);
        int count = 0;
        for (final Message m : dump(RTM_GETTFILTER, tcmsg.array(), "listing tc filters of interface " + ifindex)) {
            if (m.type() == RTM_NEWTFILTER) {
                count++;
            }
        }
        return count;
    }

    private int send(final int type, final int flags, final byte[] payload) {
        final int seq = ++sequence;
        final int length = HEADER + payload.length;
        try (Arena local = Arena.ofConfined()) {
            final MemorySegment message = local.allocate(align(length), 8);
            message.set(JAVA_INT, 0, length);
            message.set(JAVA_SHORT, 4, (short) type);
            message.set(JAVA_SHORT, 6, (short) flags);
            message.set(JAVA_INT, 8, seq);
            message.set(JAVA_INT, 12, 0);
            MemorySegment.copy(payload, 0, message, JAVA_BYTE, HEADER, payload.length);
            final long sent = Native.sendto(fd, message, length, kernel, 12);
            if (sent < 0) {
                throw TproxyException.errno("sending rtnetlink message type " + type, (int) sent);
            }
        }
        return seq;
    }

    private List<Message> receiveBatch(final int seq) {
        while (true) {
            final long n = Native.recv(fd, receive, BUFFER);
            if (n < 0) {
                throw TproxyException.errno("receiving the kernel's rtnetlink answer", (int) n);
            }
            final ByteBuffer all = receive.asSlice(0, n).asByteBuffer().order(ByteOrder.nativeOrder());
            final List<Message> out = new ArrayList<>();
            int offset = 0;
            while (offset + HEADER <= n) {
                final int length = all.getInt(offset);
                if (length < HEADER || offset + length > n) {
                    break;
                }
                final int type = all.getShort(offset + 4) & 0xffff;
                final int flags = all.getShort(offset + 6) & 0xffff;
                final int msgSeq = all.getInt(offset + 8);
                if (msgSeq == seq) {
                    final byte[] body = new byte[length - HEADER];
                    all.get(offset + HEADER, body);
                    out.add(new Message(type, flags, ByteBuffer.wrap(body).order(ByteOrder.nativeOrder())));
                }
                offset += align(length);
            }
            if (!out.isEmpty()) {
                return out;
            }
        }
    }

    static int align(final int length) {
        return (length + 3) & ~3;
    }

    static void attribute(final ByteArrayOutputStream out, final int type, final byte[] value) {
        final int length = 4 + value.length;
        final ByteBuffer header = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder());
        header.putShort((short) length).putShort((short) type);
        out.writeBytes(header.array());
        out.writeBytes(value);
        out.writeBytes(new byte[align(length) - length]);
    }

    static void attributeU32(final ByteArrayOutputStream out, final int type, final int value) {
        attribute(out, type, ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(value).array());
    }

    static byte[] cString(final String s) {
        final byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        final byte[] out = new byte[bytes.length + 1];
        System.arraycopy(bytes, 0, out, 0, bytes.length);
        return out;
    }

    /** Parses the attributes of {@code body} starting at {@code offset}; the map values are host-order views. */
    static Map<Integer, ByteBuffer> attributes(final ByteBuffer body, final int offset) {
        final Map<Integer, ByteBuffer> out = new HashMap<>();
        int at = offset;
        while (at + 4 <= body.limit()) {
            final int length = body.getShort(at) & 0xffff;
            final int type = body.getShort(at + 2) & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
            if (length < 4 || at + length > body.limit()) {
                break;
            }
            out.put(type, body.slice(at + 4, length - 4).order(ByteOrder.nativeOrder()));
            at += align(length);
        }
        return out;
    }

    @Override
    public void close() {
        Native.close(fd);
        arena.close();
    }
}
