package dev.postern.config.gatewayapi;

import java.util.List;

/** A discovery.k8s.io/v1 EndpointSlice; its Service is named by the label {@code kubernetes.io/service-name}. */
public record EndpointSlice(String apiVersion, ObjectMeta metadata, SourceInfo source, String addressType,
                            List<Endpoint> endpoints, List<EndpointPort> ports) implements Resource {
    /** The label naming the Service a slice belongs to. */
    public static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";

    @Override
    public String kind() {
        return "EndpointSlice";
    }

    /**
     * One endpoint. Conditions are null when absent (Kubernetes reads a null {@code ready} as ready).
     */
    public record Endpoint(List<String> addresses, Boolean ready, Boolean serving, Boolean terminating) {
    }

    /** One port; name {@code ""} matches an unnamed Service port. Port is null when absent. */
    public record EndpointPort(String name, Integer port, String protocol, String appProtocol) {
    }
}
