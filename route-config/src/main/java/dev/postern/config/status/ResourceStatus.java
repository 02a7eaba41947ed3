package dev.postern.config.status;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The computed status of one resource, with the {@code status} stanza exactly as Kubernetes mode writes it.
 *
 * @param status the stanza: plain maps, lists, strings and numbers
 */
public record ResourceStatus(String apiVersion, String kind, String namespace, String name, long generation,
                             Map<String, Object> status) {

    /** The JSON-shaped object served by {@code /status}. */
    public Map<String, Object> toMap() {
        final Map<String, Object> meta = new LinkedHashMap<>();
        if (!namespace.isEmpty()) {
            meta.put("namespace", namespace);
        }
        meta.put("name", name);
        meta.put("generation", generation);
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("apiVersion", apiVersion);
        m.put("kind", kind);
        m.put("metadata", meta);
        m.put("status", status);
        return m;
    }
}
