/**
 * Postern's own eBPF TPROXY: a tc ingress program (built from {@code src/main/c} by the Maven build and packaged in
 * the jar) that hands TCP connections for a Gateway's address and port to Postern's transparent listener with
 * {@code bpf_sk_assign}, and its loader, written against {@code libbpf.so.1} through the JDK's foreign function
 * API (no JNI, no dependencies beyond the JDK).
 *
 * <p>Starting points: {@link dev.postern.tproxy.TproxyDataplane} (load, attach, services, counters, takeover),
 * {@link dev.postern.tproxy.TproxySettings}, {@link dev.postern.tproxy.TproxyService},
 * {@link dev.postern.tproxy.NodeRouting} (the fwmark rule, the local table and the sysctls). See
 * {@code docs/tproxy.md}.
 */
package dev.postern.tproxy;
