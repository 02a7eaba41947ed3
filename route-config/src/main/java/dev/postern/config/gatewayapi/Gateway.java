package dev.postern.config.gatewayapi;

import java.util.List;
import java.util.Map;

/**
 * A Gateway ({@code gateway.networking.k8s.io}).
 *
 * @param gatewayClassName {@code spec.gatewayClassName}
 * @param listeners {@code spec.listeners}
 * @param addresses {@code spec.addresses}, empty when absent
 * @param infrastructureParametersRef {@code spec.infrastructure.parametersRef}, or null
 */
public record Gateway(String apiVersion, ObjectMeta metadata, SourceInfo source, String gatewayClassName,
                      List<Listener> listeners, List<GatewayAddress> addresses,
                      LocalParametersReference infrastructureParametersRef) implements Resource {
    @Override
    public String kind() {
        return "Gateway";
    }

    /**
     * One listener.
     *
     * @param hostname the hostname, or null for any
     * @param tls the TLS config, or null
     * @param allowedRoutes allowed routes; never null (defaults applied: namespaces from Same)
     */
    public record Listener(String name, String hostname, int port, String protocol, TLSConfig tls,
                           AllowedRoutes allowedRoutes) {
    }

    /** {@code listeners[].tls}. */
    public record TLSConfig(String mode, List<SecretObjectReference> certificateRefs, Map<String, String> options) {
    }

    /** A reference to a Secret (or other certificate source). Namespace null means the Gateway's. */
    public record SecretObjectReference(String group, String kind, String namespace, String name) {
    }

    /**
     * {@code listeners[].allowedRoutes}.
     *
     * @param from Same, All or Selector
     * @param selector the namespace selector when {@code from} is Selector, else null
     * @param kinds allowed kinds; empty means the defaults for the listener protocol
     */
    public record AllowedRoutes(String from, LabelSelector selector, List<RouteGroupKind> kinds) {
    }

    /** A group and kind, group defaulting to {@code gateway.networking.k8s.io}. */
    public record RouteGroupKind(String group, String kind) {
    }

    /** A local reference to a parameters object. */
    public record LocalParametersReference(String group, String kind, String name) {
    }

    /** {@code spec.addresses[]}; type defaults to IPAddress. */
    public record GatewayAddress(String type, String value) {
    }
}
