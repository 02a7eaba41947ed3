package dev.postern.config.gatewayapi;

/**
 * {@code spec.parentRefs[]}. Group defaults to {@code gateway.networking.k8s.io}, kind to Gateway; namespace,
 * sectionName and port are null when absent.
 */
public record ParentReference(String group, String kind, String namespace, String name, String sectionName,
                              Integer port) {
}
