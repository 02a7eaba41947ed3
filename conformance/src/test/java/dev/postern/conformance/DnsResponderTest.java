package dev.postern.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;

import org.junit.jupiter.api.Test;

/**
 * The replay's stand-in for the suite's CoreDNS ({@link DnsResponder}) and the UDPRoute answer check
 * ({@link Layer4Mutations#checkWhoami}): whoami answers for foo.bar.com over a real UDP socket, SERVFAIL for names
 * the Corefile would forward, FORMERR and NOTIMP for bad queries, silence for responses.
 */
class DnsResponderTest {
    private static final InetSocketAddress CLIENT = new InetSocketAddress(InetAddress.ofLiteral("127.0.0.7"), 40001);

    @Test
    void answersWhoamiOverUdp() throws Exception {
        final InetAddress lo = InetAddress.ofLiteral("127.0.0.1");
        try (DnsResponder dns = DnsResponder.start(lo, 0); DatagramSocket s = new DatagramSocket(0, lo)) {
            final byte[] q = Layer4Mutations.dnsQuery(0x1234, "foo.bar.com", DnsResponder.TYPE_A);
            s.connect(new InetSocketAddress(lo, dns.port()));
            s.setSoTimeout(2000);
            s.send(new DatagramPacket(q, q.length));
            final DatagramPacket r = new DatagramPacket(new byte[512], 512);
            s.receive(r);
            final byte[] reply = Arrays.copyOf(r.getData(), r.getLength());
            assertNull(Layer4Mutations.checkWhoami(reply, q, 0x1234));
            assertEquals(0x04, reply[2] & 0x04, "authoritative");
            assertEquals(0, DnsResponder.u16(reply, 6), "whoami leaves the answer section empty");
            assertEquals(2, DnsResponder.u16(reply, 10), "A and SRV in the additional section");
            // The A record carries the querier's address, the SRV record its port.
            final int a = q.length + 12; // header and question, then the A record's 12 bytes before its data
            assertArrayEquals(new byte[] {127, 0, 0, 1}, Arrays.copyOfRange(reply, a, a + 4));
            assertEquals(s.getLocalPort(), DnsResponder.u16(reply, reply.length - 3));
            // The check is not satisfied by a reply to another query.
            assertNotNull(Layer4Mutations.checkWhoami(reply, q, 0x1235));
        }
    }

    @Test
    void forwardedNamesGetServfail() {
        final byte[] q = Layer4Mutations.dnsQuery(7, "example.org", DnsResponder.TYPE_A);
        final byte[] r = DnsResponder.answer(q, CLIENT);
        assertEquals(DnsResponder.SERVFAIL, r[3] & 0x0f);
        assertEquals(1, DnsResponder.u16(r, 4), "the question is echoed");
        assertEquals("rcode 2", Layer4Mutations.checkWhoami(r, q, 7));
    }

    @Test
    void subdomainsAndCaseAreInTheZone() {
        final byte[] q = Layer4Mutations.dnsQuery(9, "A.Foo.BAR.com", DnsResponder.TYPE_A);
        final byte[] r = DnsResponder.answer(q, CLIENT);
        assertEquals(DnsResponder.NOERROR, r[3] & 0x0f);
        assertEquals(2, DnsResponder.u16(r, 10));
    }

    @Test
    void badQueries() {
        final byte[] q = Layer4Mutations.dnsQuery(3, "foo.bar.com", DnsResponder.TYPE_A);
        assertEquals(DnsResponder.FORMERR, DnsResponder.answer(Arrays.copyOf(q, q.length - 3), CLIENT)[3] & 0x0f,
                "truncated question");
        final byte[] two = q.clone();
        two[5] = 2;
        assertEquals(DnsResponder.FORMERR, DnsResponder.answer(two, CLIENT)[3] & 0x0f, "two questions");
        final byte[] status = q.clone();
        status[2] = (byte) (2 << 3);
        assertEquals(DnsResponder.NOTIMP, DnsResponder.answer(status, CLIENT)[3] & 0x0f, "opcode STATUS");
        final byte[] response = q.clone();
        response[2] |= (byte) 0x80;
        assertNull(DnsResponder.answer(response, CLIENT), "responses are not answered");
        assertNull(DnsResponder.answer(new byte[5], CLIENT), "no header");
        assertTrue(Layer4Mutations.checkWhoami(new byte[3], q, 3).contains("3-byte"));
    }
}
