package dev.postern.config.tls;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.List;

/**
 * TLS from Postern to a backend, from a BackendTLSPolicy: the SNI to send, the trust anchors, and the names the
 * backend's certificate must carry. Two values with the same settings are equal (by a fingerprint of all of them,
 * computed once), so the upstream pool keeps sharing connections across reloads while nothing changes, and a
 * rotated CA bundle gets new connections.
 *
 * @param policy the policy, {@code backendtlspolicy/<ns>/<name>}
 * @param sni the server name sent ({@code validation.hostname})
 * @param trustAnchors the CA certificates from {@code caCertificateRefs}; empty with {@code systemTrust}
 * @param systemTrust true for {@code wellKnownCACertificates: System} (the JDK's trust store)
 * @param subjectAltNames the names to accept (each {@code dns:<name>} or {@code uri:<uri>}); empty means the
 *     certificate must be valid for {@code sni}
 * @param invalid a reason when the policy is accepted but none of its CA references resolved: connections fail
 *     with a 5xx, as the spec requires; null when usable
 * @param clientCertificate the certificate and key Postern presents to the backend (the Gateway's
 *     {@code spec.tls.backend.clientCertificateRef}), or null for none
 * @param fingerprint SHA-256 over every setting above; the identity of this value
 */
public record UpstreamTls(String policy, String sni, List<X509Certificate> trustAnchors, boolean systemTrust,
                          List<String> subjectAltNames, String invalid, CertificateKeyPair clientCertificate,
                          String fingerprint) {

    /** Copies the lists. */
    public UpstreamTls {
        trustAnchors = List.copyOf(trustAnchors);
        subjectAltNames = List.copyOf(subjectAltNames);
    }

    /** Builds the value and its fingerprint. */
    public static UpstreamTls of(String policy, String sni, List<X509Certificate> trustAnchors, boolean systemTrust,
                                 List<String> subjectAltNames, String invalid) {
        return of(policy, sni, trustAnchors, systemTrust, subjectAltNames, invalid, null);
    }

    /** Builds the value, presenting {@code clientCertificate} (null for none), and its fingerprint. */
    public static UpstreamTls of(String policy, String sni, List<X509Certificate> trustAnchors, boolean systemTrust,
                                 List<String> subjectAltNames, String invalid, CertificateKeyPair clientCertificate) {
        try {
            final MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update((sni + "\n" + systemTrust + "\n" + subjectAltNames + "\n" + invalid + "\n")
                    .getBytes(StandardCharsets.UTF_8));
            for (X509Certificate c : trustAnchors) {
                d.update(c.getEncoded());
            }
            if (clientCertificate != null) {
                d.update("\nclient\n".getBytes(StandardCharsets.UTF_8));
                for (X509Certificate c : clientCertificate.chain()) {
                    d.update(c.getEncoded());
                }
                d.update(clientCertificate.key().getEncoded());
            }
            return new UpstreamTls(policy, sni, trustAnchors, systemTrust, subjectAltNames, invalid,
                    clientCertificate, HexFormat.of().formatHex(d.digest()));
        } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The same settings presenting {@code cert} (null for none) to the backend. */
    public UpstreamTls withClientCertificate(CertificateKeyPair cert) {
        return of(policy, sni, trustAnchors, systemTrust, subjectAltNames, invalid, cert);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UpstreamTls u && u.fingerprint.equals(fingerprint);
    }

    @Override
    public int hashCode() {
        return fingerprint.hashCode();
    }

    @Override
    public String toString() {
        return "UpstreamTls[" + policy + ", sni=" + sni + ", sans=" + subjectAltNames
                + (systemTrust ? ", system trust" : ", " + trustAnchors.size() + " CA(s)")
                + (clientCertificate == null ? "" : ", client certificate " + clientCertificate.source())
                + (invalid == null ? "" : ", invalid: " + invalid) + "]";
    }
}
