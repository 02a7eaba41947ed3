package dev.postern.proxy.upstream;

import dev.postern.config.runtime.Cluster;
import dev.postern.config.tls.UpstreamTls;

import java.net.InetSocketAddress;

/**
 * Everything that makes two upstream connections interchangeable: the address, the protocol, and the TLS
 * settings (SNI, trust anchors, names checked; compared by their fingerprint). Never a bare hash.
 *
 * @param tls TLS to the endpoint, or null for cleartext
 */
public record PoolKey(InetSocketAddress address, Cluster.Protocol protocol, UpstreamTls tls) {

    /** The key of a cluster's endpoint. */
    public static PoolKey of(InetSocketAddress address, Cluster cluster) {
        return new PoolKey(address, cluster.protocol(), cluster.tls());
    }
}
