package dev.postern.tproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

class TproxyServiceTest {
    private static final InetSocketAddress V4_LISTENER =
            new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 15001);
    private static final InetSocketAddress V6_LISTENER = new InetSocketAddress(InetAddress.ofLiteral("::1"), 15001);

    @Test
    void parsesEveryDestinationForm() {
        assertEquals(new TproxyService(InetAddress.ofLiteral("198.51.100.10"), 32, 80, V4_LISTENER),
                TproxyService.parse("198.51.100.10:80", V4_LISTENER));
        assertEquals(new TproxyService(InetAddress.ofLiteral("198.51.100.0"), 24, 443, V4_LISTENER),
                TproxyService.parse("198.51.100.0/24:443", V4_LISTENER));
        assertEquals(new TproxyService(InetAddress.ofLiteral("2001:db8::10"), 128, 443, V6_LISTENER),
                TproxyService.parse("[2001:db8::10]:443", V6_LISTENER));
        assertEquals(new TproxyService(InetAddress.ofLiteral("2001:db8::"), 64, 80, V6_LISTENER),
                TproxyService.parse("[2001:db8::]/64:80", V6_LISTENER));
    }

    @Test
    void clearsHostBitsBeyondThePrefix() {
        final TproxyService service = TproxyService.parse("198.51.100.77/24:80", V4_LISTENER);
        assertEquals(InetAddress.ofLiteral("198.51.100.0"), service.address());
        assertEquals(InetAddress.ofLiteral("2001:db8:1000::"),
                TproxyService.parse("[2001:db8:1234::1]/36:80", V6_LISTENER).address());
        assertEquals("198.51.100.0/24:80 -> 127.0.0.1:15001", service.toString());
    }

    @Test
    void rejectsWhatTheProgramCannotSteerWithTheReason() {
        assertMessage("different address families",
                () -> TproxyService.parse("198.51.100.10:80", V6_LISTENER));
        assertMessage("outside 1..65535", () -> TproxyService.parse("198.51.100.10:0", V4_LISTENER));
        assertMessage("outside 0..32", () -> TproxyService.parse("198.51.100.10/33:80", V4_LISTENER));
        assertMessage("no :port", () -> TproxyService.parse("198.51.100.10", V4_LISTENER));
        assertMessage("IP literal", () -> TproxyService.parse("gateway.example:80", V4_LISTENER));
        assertMessage("unresolved", () -> TproxyService.of(InetAddress.ofLiteral("198.51.100.10"), 80,
                InetSocketAddress.createUnresolved("localhost", 15001)));
    }

    private static void assertMessage(final String fragment, final Runnable action) {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }
}
