package dev.postern.config.gatewayapi;

import java.util.List;

/** A ReferenceGrant: lets resources in {@code from} namespaces refer to resources in this namespace. */
public record ReferenceGrant(String apiVersion, ObjectMeta metadata, SourceInfo source, List<From> from,
                             List<To> to) implements Resource {
    @Override
    public String kind() {
        return "ReferenceGrant";
    }

    /** {@code spec.from[]}. */
    public record From(String group, String kind, String namespace) {
    }

    /** {@code spec.to[]}; name null means any. */
    public record To(String group, String kind, String name) {
    }
}
