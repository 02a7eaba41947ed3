package dev.postern.tproxy;

/**
 * The BPF program's counters, summed over CPUs. They count since the counters map was created, which with pinning
 * survives Postern restarts.
 *
 * @param packetsSeen every packet the program ran on (all protocols)
 * @param matched TCP and UDP packets for a configured destination prefix, protocol and port
 * @param assignedEstablished matched packets given to the connection's own socket (established, handshake or
 *     time-wait)
 * @param assignedListener matched packets given to the transparent listener (new connections)
 * @param noListener matched packets with no connection socket and no listener
 * @param assignErrors {@code bpf_sk_assign} failures
 * @param dropped packets dropped because of {@link FailMode#CLOSED}
 * @param failedOpen packets passed on untouched because of {@link FailMode#OPEN}
 * @param unparsed IPv4/IPv6 packets whose headers could not be read (fragments, truncation); passed untouched
 * @param assignedUdp matched UDP datagrams given to Postern's UDP socket
 * @param timeWaitSyn SYNs that met a time-wait socket of the same connection (the client reused its port soon
 *     after Postern closed): marked and left to the kernel, which reopens the connection
 * @param assignedByLookup listener lookups (such reopening SYNs) that the sk_lookup program answered with the
 *     transparent listener
 */
public record TproxyCounters(long packetsSeen, long matched, long assignedEstablished, long assignedListener,
        long noListener, long assignErrors, long dropped, long failedOpen, long unparsed, long assignedUdp,
        long timeWaitSyn, long assignedByLookup) {

    static TproxyCounters of(final long[] slots) {
        return new TproxyCounters(slots[0], slots[1], slots[2], slots[3], slots[4], slots[5], slots[6], slots[7],
                slots[8], slots[9], slots[10], slots[11]);
    }

    /** The difference {@code this - earlier}, for assertions and rates. */
    public TproxyCounters minus(final TproxyCounters earlier) {
        java.util.Objects.requireNonNull(earlier, "earlier");
        return new TproxyCounters(packetsSeen - earlier.packetsSeen, matched - earlier.matched,
                assignedEstablished - earlier.assignedEstablished, assignedListener - earlier.assignedListener,
                noListener - earlier.noListener, assignErrors - earlier.assignErrors, dropped - earlier.dropped,
                failedOpen - earlier.failedOpen, unparsed - earlier.unparsed, assignedUdp - earlier.assignedUdp,
                timeWaitSyn - earlier.timeWaitSyn, assignedByLookup - earlier.assignedByLookup);
    }
}
