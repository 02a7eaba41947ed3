package dev.postern.config.gatewayapi;

/**
 * A GatewayClass ({@code gateway.networking.k8s.io}).
 *
 * @param controllerName {@code spec.controllerName}
 * @param parametersRef {@code spec.parametersRef}, or null
 */
public record GatewayClass(String apiVersion, ObjectMeta metadata, SourceInfo source, String controllerName,
                           ParametersReference parametersRef) implements Resource {
    @Override
    public String kind() {
        return "GatewayClass";
    }

    /** {@code spec.parametersRef}. */
    public record ParametersReference(String group, String kind, String namespace, String name) {
    }
}
