package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.PosternServer;
import dev.postern.proxy.server.TproxyConfig;
import dev.postern.config.ConfigRef;
import dev.postern.tproxy.AttachMode;
import dev.postern.tproxy.FailMode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bootstrap's udp and tproxy sections: defaults, values, and errors that name the field. */
class BootstrapTest {

    private static Bootstrap read(Path dir, String yaml) throws Exception {
        final Path f = dir.resolve("bootstrap.yaml");
        Files.writeString(f, yaml);
        return Bootstrap.read(f);
    }

    @Test
    void defaultsLeaveTproxyOff(@TempDir Path dir) throws Exception {
        final Bootstrap b = read(dir, "accessLog: false\n");
        assertFalse(b.tproxy().enabled());
        assertEquals(Duration.ofSeconds(60), b.udpIdleTimeout());
        assertEquals(16384, b.udpMaxSessions());
        assertEquals(15001, b.tproxy().listenPort());
    }

    @Test
    void readsEveryTproxyField(@TempDir Path dir) throws Exception {
        final Bootstrap b = read(dir, """
                udp: {idleTimeout: 5s, maxSessions: 10}
                tproxy:
                  enabled: true
                  required: true
                  interfaces: [eth0, eth1]
                  listenPort: 15100
                  mark: 0x3000
                  markMask: 0xf000
                  table: 2200
                  rulePriority: 41
                  failMode: open
                  attachMode: tc
                  pinRoot: none
                  fixSysctls: true
                  manageRouting: false
                """);
        final TproxyConfig t = b.tproxy();
        assertTrue(t.enabled() && t.required() && t.fixSysctls());
        assertFalse(t.manageRouting());
        assertEquals(List.of("eth0", "eth1"), t.interfaces());
        assertEquals(0x3000, t.mark());
        assertEquals(2200, t.table());
        assertEquals(FailMode.OPEN, t.failMode());
        assertEquals(AttachMode.TC, t.attachMode());
        assertNull(t.pinRoot());
        assertTrue(t.settings().pinRoot().isEmpty());
        assertEquals(Duration.ofSeconds(5), b.udpIdleTimeout());
        assertEquals(10, b.udpMaxSessions());
    }

    @Test
    void badValuesNameTheField(@TempDir Path dir) throws Exception {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir, "tproxy: {enabled: true}\n"))
                .getMessage().contains("tproxy.interfaces"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir, "tproxy: {colour: red}\n"))
                .getMessage().contains("tproxy.colour: unknown field"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir,
                "tproxy: {failMode: sometimes}\n")).getMessage().contains("tproxy.failMode"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir,
                "tproxy: {listenAddress: localhost}\n")).getMessage().contains("tproxy.listenAddress"));
        final String mark = assertThrows(IllegalArgumentException.class, () -> read(dir,
                "tproxy: {mark: 0x10000, markMask: 0xf000}\n")).getMessage();
        assertTrue(mark.contains("tproxy") && mark.contains("outside its mask"), mark);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir, "udp: {maxSessions: 0}\n"))
                .getMessage().contains("udp.maxSessions"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir,
                "tls: {sessionTicketKeyRotation: 500ms}\n")).getMessage().contains(
                        "tls.sessionTicketKeyRotation: must be at least 1s"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir, "tls: {ticketKeys: 2}\n"))
                .getMessage().contains("tls.ticketKeys: unknown field"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir, "tcp: {splice: sometimes}\n"))
                .getMessage().contains("tcp.splice: must be true or false"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> read(dir, "tcp: {zeroCopy: true}\n"))
                .getMessage().contains("tcp.zeroCopy: unknown field"));
        assertTrue(read(dir, "tcp: {splice: true}\n").tcpSplice());
        assertTrue(!Bootstrap.defaults().tcpSplice(), "off by default");
    }

    @Test
    void readsTheTicketKeyRotation(@TempDir Path dir) throws Exception {
        assertEquals(Duration.ofHours(1), read(dir, "accessLog: false\n").tls().sessionTicketKeyRotation());
        assertEquals(Duration.ofMinutes(90), read(dir, "tls: {sessionTicketKeyRotation: 1h30m}\n").tls()
                .sessionTicketKeyRotation());
    }

    @Test
    void readsTheRsaSigner(@TempDir Path dir) throws Exception {
        assertEquals(dev.postern.proxy.tls.ServerTls.RsaSigner.LIBCRYPTO, read(dir, "accessLog: false\n").tls()
                .rsaSigner());
        assertEquals(dev.postern.proxy.tls.ServerTls.RsaSigner.BORINGSSL, read(dir, "tls: {rsaSigner: boringssl}\n")
                .tls().rsaSigner());
        assertEquals(dev.postern.proxy.tls.ServerTls.RsaSigner.LIBCRYPTO, read(dir, "tls: {rsaSigner: libcrypto}\n")
                .tls().rsaSigner());
        final String m = assertThrows(IllegalArgumentException.class, () -> read(dir, "tls: {rsaSigner: openssl}\n"))
                .getMessage();
        assertTrue(m.contains("tls.rsaSigner: must be libcrypto or boringssl, got openssl"), m);
    }

    @Test
    void requiredTproxyThatCannotRunRefusesToStartWithTheReason() {
        // The nio transport has no IP_TRANSPARENT: a reason that holds on every machine.
        final Bootstrap b = Bootstrap.defaults().withAdminPort(0).withTransport("nio")
                .withTproxy(TproxyConfig.disabled().enabledOn(List.of("lo"), null, 0));
        final IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> PosternServer.start(b, new ConfigRef()));
        assertTrue(e.getMessage().contains("tproxy.required") && e.getMessage().contains("epoll"), e.getMessage());
    }

    @Test
    void optionalTproxyThatCannotRunStartsWithoutItAndSaysWhy() throws Exception {
        final TproxyConfig t = TproxyConfig.disabled().enabledOn(List.of("lo"), null, 0);
        final Bootstrap b = Bootstrap.defaults().withAdminPort(0).withTransport("nio")
                .withTproxy(new TproxyConfig(true, false, t.interfaces(), t.listenAddress(), t.listenAddress6(), 0,
                        t.mark(), t.markMask(), t.table(), t.rulePriority(), t.failMode(), t.attachMode(), null,
                        false, true));
        try (PosternServer s = PosternServer.start(b, new ConfigRef())) {
            assertNull(s.tproxy());
            assertTrue(s.tproxyProblem().contains("epoll"), s.tproxyProblem());
            assertTrue(s.transparentAddresses().isEmpty());
        }
    }
}
