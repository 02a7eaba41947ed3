package dev.postern.tproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The build compiled the C program and packaged it next to the loader. */
class BpfObjectResourceTest {
    @Test
    void packagedObjectIsABpfElfWithTheProgramsAndMapsTheLoaderNames() {
        final byte[] object = BpfObject.objectBytes();
        final ByteBuffer elf = ByteBuffer.wrap(object).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0x464c457f, elf.getInt(0), "ELF magic");
        assertEquals(247, elf.getShort(18), "e_machine EM_BPF");
        final String text = new String(object, StandardCharsets.ISO_8859_1);
        for (final String name : new String[] {BpfMaps.PROGRAM_ETH, BpfMaps.PROGRAM_L3, BpfMaps.SERVICES,
                BpfMaps.CONFIG, BpfMaps.COUNTERS, BpfMaps.ATTACH, ".BTF", "license"}) {
            assertTrue(text.contains(name), "object has " + name);
        }
    }

    @Test
    void errnoMessagesNameTheErrorAndTheOperation() {
        assertEquals("ENOENT (No such file or directory)", Native.describe(-2));
        final TproxyException e = TproxyException.errno("attaching a tcx ingress link to eth0", -1);
        assertEquals(1, e.errno());
        assertTrue(e.getMessage().startsWith("attaching a tcx ingress link to eth0 failed: EPERM "), e.getMessage());
        assertTrue(e.getMessage().contains("CAP_BPF"), e.getMessage());
    }

    @Test
    void netlinkAttributesRoundTrip() {
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        RtNetlink.attributeU32(out, 6, 40);
        RtNetlink.attribute(out, 3, RtNetlink.cString("nc"));
        RtNetlink.attributeU32(out, 15, 2100);
        final byte[] bytes = out.toByteArray();
        assertEquals(8 + 8 + 8, bytes.length, "attributes are padded to 4 bytes");
        final var attrs = RtNetlink.attributes(ByteBuffer.wrap(bytes).order(ByteOrder.nativeOrder()), 0);
        assertEquals(40, attrs.get(6).getInt(0));
        assertEquals(2100, attrs.get(15).getInt(0));
        assertEquals('n', attrs.get(3).get(0));
    }
}
