package dev.postern.config.runtime;

import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * One upstream endpoint: a pod IP and target port, resolved once (no DNS: the address is an IP literal).
 *
 * @param address the IP literal as written in the EndpointSlice
 * @param port the target port
 * @param socketAddress the resolved socket address
 */
public record Endpoint(String address, int port, InetSocketAddress socketAddress) {

    /** Makes an endpoint from an IP literal; throws IllegalArgumentException for anything that is not one. */
    public static Endpoint of(String ip, int port) {
        return new Endpoint(ip, port, new InetSocketAddress(InetAddress.ofLiteral(ip), port));
    }

    @Override
    public String toString() {
        return address.indexOf(':') >= 0 ? "[" + address + "]:" + port : address + ":" + port;
    }
}
