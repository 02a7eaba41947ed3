package dev.postern.config.gatewayapi;

import java.util.List;
import java.util.Map;

/** A BackendTLSPolicy: TLS from Postern to the pods of the target Services. */
public record BackendTLSPolicy(String apiVersion, ObjectMeta metadata, SourceInfo source, List<TargetRef> targetRefs,
                               Validation validation, Map<String, String> options) implements Resource {
    @Override
    public String kind() {
        return "BackendTLSPolicy";
    }

    /** {@code spec.targetRefs[]}; sectionName null when absent. */
    public record TargetRef(String group, String kind, String name, String sectionName) {
    }

    /**
     * {@code spec.validation}.
     *
     * @param wellKnownCACertificates {@code System} or null
     */
    public record Validation(List<CARef> caCertificateRefs, String wellKnownCACertificates, String hostname,
                             List<SubjectAltName> subjectAltNames) {
    }

    /** A CA certificate reference (a ConfigMap by default). */
    public record CARef(String group, String kind, String name) {
    }

    /** A subject alt name: type Hostname or URI. */
    public record SubjectAltName(String type, String hostname, String uri) {
    }
}
