package dev.postern.config.gatewayapi;

import java.util.Map;

/**
 * The metadata Postern reads.
 *
 * @param namespace the namespace; {@code "default"} when absent on a namespaced kind, {@code ""} on cluster kinds
 * @param name the name
 * @param labels labels, empty when absent
 * @param generation {@code metadata.generation}; 1 when absent (static mode takes it from the YAML)
 * @param creationTimestamp {@code metadata.creationTimestamp} as written (RFC 3339), or {@code ""}
 * @param annotations annotations, empty when absent
 */
public record ObjectMeta(String namespace, String name, Map<String, String> labels, long generation,
                         String creationTimestamp, Map<String, String> annotations) {

    /** Metadata without annotations. */
    public ObjectMeta(String namespace, String name, Map<String, String> labels, long generation,
                      String creationTimestamp) {
        this(namespace, name, labels, generation, creationTimestamp, Map.of());
    }
}
