package dev.postern.kubernetes;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.yaml.YamlReader;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns API objects into the same {@code dev.postern.config.gatewayapi} records the YAML source produces, by the
 * same reader: each object is written as JSON (which is YAML) and read by {@link YamlReader}, so defaults,
 * validation and diagnostics are exactly those of a file. The result is cached per object and resourceVersion,
 * so a rebuild reads only the objects that changed.
 *
 * <p>A reader error drops that object only (the API server has already validated it against its schema; an
 * error here means Postern reads a field more strictly), logged once per resourceVersion.
 *
 * <p>Thread-safety: confined to the source's config thread.
 */
final class InputConverter {
    private static final Logger LOG = LoggerFactory.getLogger(InputConverter.class);

    private record Entry(String resourceVersion, Resource resource) {
    }

    private final KubernetesSerialization json;
    private final Map<String, Entry> cache = new HashMap<>();
    private Map<String, Entry> seen = new HashMap<>();

    InputConverter(KubernetesSerialization json) {
        this.json = json;
    }

    /** Marks the start of a build: entries not converted during it are dropped by {@link #endBuild()}. */
    void beginBuild() {
        seen = new HashMap<>();
    }

    /** Drops the cache entries of objects that are gone. */
    void endBuild() {
        cache.keySet().retainAll(seen.keySet());
    }

    /** Returns the record for an object, or null when the reader dropped it. */
    Resource convert(WatchedKind kind, HasMetadata obj) {
        final String ns = obj.getMetadata().getNamespace();
        final String key = kind.kind() + "/" + (ns == null ? "" : ns) + "/" + obj.getMetadata().getName();
        final String rv = obj.getMetadata().getResourceVersion();
        Entry e = cache.get(key);
        if (e == null || rv == null || !rv.equals(e.resourceVersion())) {
            e = new Entry(rv, read(kind, key, obj));
            cache.put(key, e);
        }
        seen.put(key, e);
        return e.resource();
    }

    @SuppressWarnings("unchecked")
    private Resource read(WatchedKind kind, String key, HasMetadata obj) {
        final Map<String, Object> m = new LinkedHashMap<>(json.convertValue(obj, Map.class));
        // List items may lack their type; generic objects never have a default one.
        m.put("apiVersion", kind.apiVersion());
        m.put("kind", kind.kind());
        if (m.get("metadata") instanceof Map<?, ?> meta) {
            final Map<String, Object> trimmed = new LinkedHashMap<>((Map<String, Object>) meta);
            trimmed.remove("managedFields");
            trimmed.remove("annotations");
            m.put("metadata", trimmed);
        }
        final String source = "k8s:" + key;
        final YamlReader.Result r = YamlReader.read(source, json.asJson(m));
        for (Diagnostic d : r.diagnostics()) {
            if (d.isError()) {
                LOG.error("{} (resourceVersion {}): dropped: {}", key, obj.getMetadata().getResourceVersion(), d);
            } else {
                LOG.warn("{}", d);
            }
        }
        final List<Resource> rs = r.resources();
        return rs.isEmpty() ? null : rs.getFirst();
    }
}
