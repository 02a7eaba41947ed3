package dev.postern.proxy.upstream;

import dev.postern.config.runtime.Cluster;

import java.net.InetSocketAddress;

/**
 * Everything that makes two upstream connections interchangeable: the address and the protocol. (TLS settings
 * join this record when backend TLS arrives.) Never a bare hash.
 */
public record PoolKey(InetSocketAddress address, Cluster.Protocol protocol) {
}
