package dev.postern.config.gatewayapi;

import java.util.Map;

/** A core/v1 ConfigMap, read for CA bundles ({@code ca.crt}). */
public record ConfigMap(String apiVersion, ObjectMeta metadata, SourceInfo source, Map<String, String> data)
        implements Resource {
    @Override
    public String kind() {
        return "ConfigMap";
    }
}
