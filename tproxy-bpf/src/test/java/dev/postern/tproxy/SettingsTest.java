package dev.postern.tproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class SettingsTest {
    @Test
    void defaultsStayClearOfCiliumAndKubeProxyMarks() {
        final RoutingSettings routing = RoutingSettings.defaults();
        // Cilium's magic marks live in 0x0f00 (to-proxy 0x200/0xf00); kube-proxy uses 0x4000 and 0x8000.
        assertEquals(0, routing.markMask() & 0x0f00);
        assertEquals(0, routing.mark() & (0x4000 | 0x8000));
        assertTrue((0x4000 & routing.markMask()) != 0, "a kube-proxy-marked packet must not equal our mark");
        assertTrue(routing.table() != 2004 && routing.table() != 2005);
        assertEquals("fwmark 0x2000/0xf000 lookup 2100 pref 40 (IPv4+IPv6)", routing.toString());

        final TproxySettings settings = TproxySettings.builder().interfaces(List.of("eth0")).build();
        assertEquals(FailMode.CLOSED, settings.failMode());
        assertEquals(AttachMode.AUTO, settings.attachMode());
        assertEquals(Optional.of(Path.of("/sys/fs/bpf/postern")), settings.pinRoot());
    }

    @Test
    void routingSettingsNameTheirProblem() {
        assertMessage("outside its mask", () -> new RoutingSettings(0x2100, 0xf000, 2100, 40, true, true));
        assertMessage("mask is 0", () -> new RoutingSettings(0x2000, 0, 2100, 40, true, true));
        assertMessage("reserved", () -> new RoutingSettings(0x2000, 0xf000, 254, 40, true, true));
        assertMessage("before the main table", () -> new RoutingSettings(0x2000, 0xf000, 2100, 32766, true, true));
    }

    @Test
    void settingsRejectBadInterfaceNamesAndPaths() {
        assertMessage("not a valid interface name",
                () -> TproxySettings.builder().interfaces(List.of("a-name-longer-than-15")).build());
        assertMessage("name one interface twice",
                () -> TproxySettings.builder().interfaces(List.of("eth0", "eth0")).build());
        assertMessage("not an absolute path", () -> TproxySettings.builder().pinRoot(Path.of("pins")).build());
    }

    private static void assertMessage(final String fragment, final Runnable action) {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }
}
