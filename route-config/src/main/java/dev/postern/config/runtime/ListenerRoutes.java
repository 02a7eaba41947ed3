package dev.postern.config.runtime;

/**
 * The compiled routes of one Gateway listener: virtual hosts by hostname.
 *
 * @param name {@code gateway/<ns>/<name>/listener/<listener>}
 * @param hosts the virtual hosts
 */
public record ListenerRoutes(String name, HostIndex<VirtualHost> hosts) {
}
