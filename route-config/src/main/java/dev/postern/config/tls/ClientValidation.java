package dev.postern.config.tls;

import java.security.cert.X509Certificate;
import java.util.List;

/**
 * Client certificate validation on an HTTPS port (Gateway {@code spec.tls.frontend}, default or per port): the
 * trust anchors clients' certificates must chain to, and whether a client without a valid certificate is still
 * served ({@code AllowInsecureFallback}). Compared by value, so an unchanged CA bundle keeps its TLS contexts
 * across reloads and a changed one gets new contexts for new handshakes.
 *
 * @param source where it came from, such as {@code gateway/<ns>/<name>/port/443}
 * @param trustAnchors the CA certificates from the resolved {@code caCertificateRefs}, at least one
 * @param insecureFallback true for {@code AllowInsecureFallback}: a certificate is asked for, but a missing or
 *     invalid one does not fail the handshake
 */
public record ClientValidation(String source, List<X509Certificate> trustAnchors, boolean insecureFallback) {

    /** Copies the list. */
    public ClientValidation {
        trustAnchors = List.copyOf(trustAnchors);
    }

    @Override
    public String toString() {
        return "ClientValidation[" + source + ", " + trustAnchors.size() + " CA(s)"
                + (insecureFallback ? ", AllowInsecureFallback" : "") + "]";
    }
}
