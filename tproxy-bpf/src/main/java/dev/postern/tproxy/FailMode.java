package dev.postern.tproxy;

/**
 * What the BPF program does with a packet for a configured destination when no socket takes it (Postern's
 * listener is not running) or when the kernel refuses the assignment.
 */
public enum FailMode {
    /**
     * Drop the packet. Clients retransmit their SYN (after 1 s, then 2 s, ...), so a Postern restart costs latency,
     * not connections, and traffic never leaks to whatever else the node would do with the address. The default.
     */
    CLOSED,
    /**
     * Pass the packet on untouched, as if the program were not there: the node routes it as usual (for example
     * forwards it, or hands it to another proxy). Use when another path can serve the address.
     */
    OPEN
}
