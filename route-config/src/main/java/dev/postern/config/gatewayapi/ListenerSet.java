package dev.postern.config.gatewayapi;

import java.util.List;

/**
 * A ListenerSet ({@code gateway.networking.k8s.io/v1}, GEP-1713): listeners added to a parent Gateway from outside
 * its spec. The parent merges them after its own listeners when its {@code spec.allowedListeners} admits the
 * ListenerSet's namespace.
 *
 * @param parentRef {@code spec.parentRef}
 * @param listeners {@code spec.listeners}, in the Gateway listener shape (allowedRoutes defaults applied)
 */
public record ListenerSet(String apiVersion, ObjectMeta metadata, SourceInfo source, ParentGatewayReference parentRef,
                          List<Gateway.Listener> listeners) implements Resource {
    /** Copies the list. */
    public ListenerSet {
        listeners = List.copyOf(listeners);
    }

    @Override
    public String kind() {
        return "ListenerSet";
    }

    /**
     * {@code spec.parentRef}: group defaults to {@code gateway.networking.k8s.io}, kind to Gateway; namespace null
     * means the ListenerSet's.
     */
    public record ParentGatewayReference(String group, String kind, String namespace, String name) {
    }
}
