package dev.postern.config.gatewayapi;

import java.util.List;
import java.util.Map;

/**
 * A Gateway ({@code gateway.networking.k8s.io}).
 *
 * @param gatewayClassName {@code spec.gatewayClassName}
 * @param listeners {@code spec.listeners}
 * @param addresses {@code spec.addresses}, empty when absent
 * @param infrastructureParametersRef {@code spec.infrastructure.parametersRef}, or null
 * @param frontendTls {@code spec.tls.frontend} (client certificate validation), or null
 * @param backendClientCertificateRef {@code spec.tls.backend.clientCertificateRef}: the certificate presented to
 *     backends reached over TLS (BackendTLSPolicy), or null
 * @param allowedListeners {@code spec.allowedListeners.namespaces}: which ListenerSets may attach; never null
 *     (absent means from None)
 */
public record Gateway(String apiVersion, ObjectMeta metadata, SourceInfo source, String gatewayClassName,
                      List<Listener> listeners, List<GatewayAddress> addresses,
                      LocalParametersReference infrastructureParametersRef, FrontendTLS frontendTls,
                      SecretObjectReference backendClientCertificateRef, AllowedListeners allowedListeners)
        implements Resource {
    /** A Gateway that admits no ListenerSets. */
    public Gateway(String apiVersion, ObjectMeta metadata, SourceInfo source, String gatewayClassName,
                   List<Listener> listeners, List<GatewayAddress> addresses,
                   LocalParametersReference infrastructureParametersRef, FrontendTLS frontendTls,
                   SecretObjectReference backendClientCertificateRef) {
        this(apiVersion, metadata, source, gatewayClassName, listeners, addresses, infrastructureParametersRef,
                frontendTls, backendClientCertificateRef, AllowedListeners.NONE);
    }

    @Override
    public String kind() {
        return "Gateway";
    }

    /**
     * One listener.
     *
     * @param hostname the hostname, or null for any
     * @param tls the TLS config, or null
     * @param allowedRoutes allowed routes; never null (defaults applied: namespaces from Same)
     */
    public record Listener(String name, String hostname, int port, String protocol, TLSConfig tls,
                           AllowedRoutes allowedRoutes) {
    }

    /** {@code listeners[].tls}. */
    public record TLSConfig(String mode, List<SecretObjectReference> certificateRefs, Map<String, String> options) {
    }

    /** A reference to a Secret (or other certificate source). Namespace null means the Gateway's. */
    public record SecretObjectReference(String group, String kind, String namespace, String name) {
    }

    /**
     * {@code listeners[].allowedRoutes}.
     *
     * @param from Same, All or Selector
     * @param selector the namespace selector when {@code from} is Selector, else null
     * @param kinds allowed kinds; empty means the defaults for the listener protocol
     */
    public record AllowedRoutes(String from, LabelSelector selector, List<RouteGroupKind> kinds) {
    }

    /**
     * {@code spec.allowedListeners.namespaces}.
     *
     * @param from None (the default), Same, All or Selector
     * @param selector the namespace selector when {@code from} is Selector, else null
     */
    public record AllowedListeners(String from, LabelSelector selector) {
        /** No ListenerSet may attach (the default). */
        public static final AllowedListeners NONE = new AllowedListeners("None", null);
    }

    /** A group and kind, group defaulting to {@code gateway.networking.k8s.io}. */
    public record RouteGroupKind(String group, String kind) {
    }

    /** A local reference to a parameters object. */
    public record LocalParametersReference(String group, String kind, String name) {
    }

    /** {@code spec.addresses[]}; type defaults to IPAddress. */
    public record GatewayAddress(String type, String value) {
    }

    /**
     * {@code spec.tls.frontend}: client certificate validation for the HTTPS listeners, by port.
     *
     * @param defaultValidation {@code default.validation}, or null
     * @param perPort {@code perPort[]} in order
     */
    public record FrontendTLS(FrontendValidation defaultValidation, List<PortValidation> perPort) {
        /** Copies the list. */
        public FrontendTLS {
            perPort = List.copyOf(perPort);
        }
    }

    /**
     * {@code perPort[]}: the validation of one port.
     *
     * @param validation {@code tls.validation}, or null (no validation on this port)
     */
    public record PortValidation(int port, FrontendValidation validation) {
    }

    /**
     * {@code validation}: the CA bundles and the mode.
     *
     * @param mode {@code AllowValidOnly} (the default) or {@code AllowInsecureFallback}
     */
    public record FrontendValidation(List<ObjectReference> caCertificateRefs, String mode) {
        /** Copies the list. */
        public FrontendValidation {
            caCertificateRefs = List.copyOf(caCertificateRefs);
        }
    }

    /** A reference to an object of any kind; namespace null means the Gateway's. */
    public record ObjectReference(String group, String kind, String namespace, String name) {
    }
}
