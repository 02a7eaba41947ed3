package dev.postern.config.model;

import dev.postern.config.tls.CertificateKeyPair;
import dev.postern.config.tls.ClientValidation;

import java.util.List;

/**
 * One accepted, programmed Gateway listener after translation.
 *
 * @param name {@code gateway/<ns>/<name>/listener/<listener>}
 * @param protocol the listener protocol (HTTP)
 * @param hostname the listener hostname (lower case), or null for any
 * @param addresses the IP literals to bind
 * @param port the port
 * @param routes the route matches attached to this listener, not yet in precedence order
 * @param certificates for HTTPS, the resolved certificates in certificateRefs order (the first is the default);
 *     empty otherwise
 * @param clientValidation for HTTPS, the client certificate validation of the listener's port (Gateway
 *     {@code spec.tls.frontend}), or null for none
 */
public record ListenerModel(String name, String protocol, String hostname, List<String> addresses, int port,
                            List<RouteModel> routes, List<CertificateKeyPair> certificates,
                            ClientValidation clientValidation) {
}
