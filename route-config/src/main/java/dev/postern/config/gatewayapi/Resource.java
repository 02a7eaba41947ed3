package dev.postern.config.gatewayapi;

/** A Kubernetes object as written in the input. */
public sealed interface Resource
        permits GatewayClass, Gateway, HTTPRoute, GRPCRoute, L4Route, Service, EndpointSlice, ReferenceGrant, Namespace,
        BackendTLSPolicy, Secret, ConfigMap, ListenerSet {
    /** Returns the {@code apiVersion} as written. */
    String apiVersion();

    /** Returns the kind. */
    String kind();

    /** Returns the metadata. */
    ObjectMeta metadata();

    /** Returns where the resource was read from. */
    SourceInfo source();
}
