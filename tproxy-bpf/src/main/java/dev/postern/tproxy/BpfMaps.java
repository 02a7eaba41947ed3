package dev.postern.tproxy;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The byte layouts of the BPF program's maps, mirrored from {@code src/main/c/postern_tproxy.bpf.c}. Change both
 * together. Multi-byte fields are host order (little-endian on the platforms Postern runs on) unless the C type is
 * {@code __be16}/{@code __be32}; addresses and ports are network order.
 */
final class BpfMaps {
    static final String SERVICES = "postern_services";
    static final String CONFIG = "postern_config";
    static final String COUNTERS = "postern_counters";
    static final String ATTACH = "postern_attach";
    static final String PROGRAM_ETH = "postern_tproxy_eth";
    static final String PROGRAM_L3 = "postern_tproxy_l3";
    /** The sockmap of transparent listeners for {@link #PROGRAM_SK_LOOKUP}: slot 0 IPv4, slot 1 IPv6; u64 values. */
    static final String LISTENERS = "postern_listeners";
    static final String PROGRAM_SK_LOOKUP = "postern_sk_lookup";

    /** {@code struct postern_service_key}: prefixlen u32, family u8, protocol u8, port be16, addr[16]. */
    static final int SERVICE_KEY_SIZE = 24;
    /** {@code struct postern_listener}: addr[16], port be16, flags u16. */
    static final int LISTENER_SIZE = 20;
    /** {@code struct postern_config}: mark, mark_mask, flags, reserved (u32 each). */
    static final int CONFIG_SIZE = 16;
    /** {@code struct postern_attachment}: mode, flags, handle, priority (u32 each). */
    static final int ATTACHMENT_SIZE = 16;
    static final int COUNTER_SLOTS = 16;

    static final int FAMILY_IPV4 = 4;
    static final int FAMILY_IPV6 = 6;
    /** Bits of the key before the address: family, protocol and port. */
    static final int KEY_FIXED_BITS = 32;

    static final int CFG_ENABLED = 1;
    static final int CFG_FAIL_OPEN = 1 << 1;

    static final int ATTACH_MODE_TCX = 1;
    static final int ATTACH_MODE_TC = 2;
    static final int ATTACH_FLAG_CREATED_QDISC = 1;

    private BpfMaps() {
    }

    static byte[] serviceKey(final TproxyService service) {
        final ByteBuffer key = ByteBuffer.allocate(SERVICE_KEY_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        final InetAddress address = service.address();
        final boolean v4 = address instanceof Inet4Address;
        key.putInt(KEY_FIXED_BITS + service.prefixLength());
        key.put((byte) (v4 ? FAMILY_IPV4 : FAMILY_IPV6));
        key.put((byte) service.protocol().number);
        key.order(ByteOrder.BIG_ENDIAN).putShort((short) service.port());
        key.put(address.getAddress());
        return key.array();
    }

    static byte[] listenerValue(final InetSocketAddress listener) {
        final ByteBuffer value = ByteBuffer.allocate(LISTENER_SIZE).order(ByteOrder.BIG_ENDIAN);
        value.put(listener.getAddress().getAddress());
        value.position(16);
        value.putShort((short) listener.getPort());
        value.putShort((short) 0);
        return value.array();
    }

    /** Decodes a key and value read back from the services map. */
    static TproxyService decodeService(final byte[] key, final byte[] value) {
        final ByteBuffer k = ByteBuffer.wrap(key).order(ByteOrder.LITTLE_ENDIAN);
        final int prefixLength = k.getInt() - KEY_FIXED_BITS;
        final int family = k.get() & 0xff;
        final TproxyService.Protocol protocol = (k.get() & 0xff) == TproxyService.Protocol.UDP.number
                ? TproxyService.Protocol.UDP : TproxyService.Protocol.TCP;
        final int port = k.order(ByteOrder.BIG_ENDIAN).getShort() & 0xffff;
        final int addressLength = family == FAMILY_IPV4 ? 4 : 16;
        final byte[] address = Arrays.copyOfRange(key, 8, 8 + addressLength);
        final byte[] listenerAddress = Arrays.copyOfRange(value, 0, addressLength);
        final int listenerPort = ByteBuffer.wrap(value, 16, 2).order(ByteOrder.BIG_ENDIAN).getShort() & 0xffff;
        try {
            return new TproxyService(InetAddress.getByAddress(address), prefixLength, port,
                    new InetSocketAddress(InetAddress.getByAddress(listenerAddress), listenerPort), protocol);
        } catch (final UnknownHostException e) {
            throw new IllegalStateException("services map holds an address of " + addressLength + " bytes", e);
        }
    }

    static byte[] configValue(final int mark, final int mask, final FailMode failMode, final boolean enabled) {
        final ByteBuffer value = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.nativeOrder());
        value.putInt(mark);
        value.putInt(mask);
        value.putInt((enabled ? CFG_ENABLED : 0) | (failMode == FailMode.OPEN ? CFG_FAIL_OPEN : 0));
        value.putInt(0);
        return value.array();
    }

    static byte[] u32(final int value) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(value).array();
    }

    static byte[] u64(final long value) {
        return ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(value).array();
    }

    static byte[] attachmentValue(final int mode, final int flags, final int handle, final int priority) {
        return ByteBuffer.allocate(ATTACHMENT_SIZE).order(ByteOrder.nativeOrder())
                .putInt(mode).putInt(flags).putInt(handle).putInt(priority).array();
    }

    static int[] decodeU32s(final byte[] value) {
        final ByteBuffer buffer = ByteBuffer.wrap(value).order(ByteOrder.nativeOrder());
        final int[] out = new int[value.length / 4];
        for (int i = 0; i < out.length; i++) {
            out[i] = buffer.getInt();
        }
        return out;
    }
}
