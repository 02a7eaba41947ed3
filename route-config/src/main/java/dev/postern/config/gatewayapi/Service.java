package dev.postern.config.gatewayapi;

import java.util.List;

/** A core/v1 Service; used only to discover endpoints. */
public record Service(String apiVersion, ObjectMeta metadata, SourceInfo source, String type,
                      List<ServicePort> ports) implements Resource {
    @Override
    public String kind() {
        return "Service";
    }

    /**
     * {@code spec.ports[]}.
     *
     * @param name the port name, {@code ""} when absent
     * @param targetPort the target port as written (a number or a name); the port number when absent
     * @param appProtocol the appProtocol, or null
     */
    public record ServicePort(String name, int port, String targetPort, String protocol, String appProtocol) {
    }
}
