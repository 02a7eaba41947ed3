package dev.postern.config.runtime;

/**
 * A socket the data plane binds: an IP literal and a port.
 *
 * @param address the IP literal ({@code 0.0.0.0} for any)
 * @param port the port
 */
public record BindKey(String address, int port) {
    @Override
    public String toString() {
        return address.indexOf(':') >= 0 ? "[" + address + "]:" + port : address + ":" + port;
    }
}
