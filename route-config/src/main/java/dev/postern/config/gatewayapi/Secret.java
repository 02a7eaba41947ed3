package dev.postern.config.gatewayapi;

import java.util.Map;

/**
 * A core/v1 Secret: {@code data} (base64, decoded here) merged with {@code stringData}.
 *
 * @param type the Secret type, such as {@code kubernetes.io/tls}
 */
public record Secret(String apiVersion, ObjectMeta metadata, SourceInfo source, String type,
                     Map<String, byte[]> data) implements Resource {
    @Override
    public String kind() {
        return "Secret";
    }
}
