package dev.postern.tproxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** The byte layouts must match the C structs in postern_tproxy.bpf.c. */
class BpfMapsTest {
    private static final HexFormat HEX = HexFormat.of();

    @Test
    void ipv4KeyIsPrefixBitsFamilyPortAndAddressInNetworkOrder() {
        final TproxyService service = TproxyService.parse("198.51.100.0/24:443",
                new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 15001));
        // prefixlen 32+24=56 (LE u32) | family 4 | protocol 6 (TCP) | port 443 BE | 198.51.100.0 | 12 zero bytes
        assertEquals("38000000" + "04" + "06" + "01bb" + "c6336400" + "00".repeat(12),
                HEX.formatHex(BpfMaps.serviceKey(service)));
        // listener: 127.0.0.1 then zero padding to 16 bytes | port 15001 BE | flags 0
        assertEquals("7f000001" + "00".repeat(12) + "3a99" + "0000",
                HEX.formatHex(BpfMaps.listenerValue(service.listener())));
    }

    @Test
    void ipv6KeyUsesTheWholeAddress() {
        final TproxyService service = TproxyService.parse("[2001:db8::10]:80",
                new InetSocketAddress(InetAddress.ofLiteral("::1"), 8080));
        assertEquals("a0000000" + "06" + "06" + "0050" + "20010db8000000000000000000000010",
                HEX.formatHex(BpfMaps.serviceKey(service)));
        assertEquals(service, BpfMaps.decodeService(BpfMaps.serviceKey(service),
                BpfMaps.listenerValue(service.listener())));
    }

    @Test
    void decodingReversesEncoding() {
        final TproxyService service = TproxyService.parse("203.0.113.0/28:8443",
                new InetSocketAddress(InetAddress.ofLiteral("0.0.0.0"), 15443));
        assertEquals(service, BpfMaps.decodeService(BpfMaps.serviceKey(service),
                BpfMaps.listenerValue(service.listener())));
    }

    @Test
    void udpEntriesCarryProtocol17AndDecodeBack() {
        final InetSocketAddress vip = new InetSocketAddress(InetAddress.ofLiteral("198.51.100.10"), 53);
        final TproxyService service = TproxyService.of(TproxyService.Protocol.UDP, vip.getAddress(), 53, vip);
        assertEquals("40000000" + "04" + "11" + "0035" + "c633640a" + "00".repeat(12),
                HEX.formatHex(BpfMaps.serviceKey(service)));
        assertEquals(service, BpfMaps.decodeService(BpfMaps.serviceKey(service),
                BpfMaps.listenerValue(service.listener())));
    }

    @Test
    void configCarriesMarkMaskAndFlags() {
        assertEquals("00200000" + "00f00000" + "01000000" + "00000000",
                HEX.formatHex(BpfMaps.configValue(0x2000, 0xf000, FailMode.CLOSED, true)));
        assertArrayEquals(new int[] {0x2000, 0xf000, 3, 0},
                BpfMaps.decodeU32s(BpfMaps.configValue(0x2000, 0xf000, FailMode.OPEN, true)));
    }
}
