package dev.postern.config.gatewayapi;

/** A core/v1 Namespace; read for its labels (allowedRoutes selectors). */
public record Namespace(String apiVersion, ObjectMeta metadata, SourceInfo source) implements Resource {
    @Override
    public String kind() {
        return "Namespace";
    }
}
