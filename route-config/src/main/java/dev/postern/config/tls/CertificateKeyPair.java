package dev.postern.config.tls;

import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * A parsed certificate chain and its private key, with the names the leaf certificate is valid for (used to
 * choose a certificate by SNI). Never dumped: the key is secret.
 *
 * @param source where it came from, such as {@code secret/ns/name}
 * @param chain the certificate chain, leaf first
 * @param key the private key of the leaf
 * @param dnsNames the leaf's DNS subject alternative names (lower case; may contain wildcards), or its CN when
 *     it has none
 */
public record CertificateKeyPair(String source, List<X509Certificate> chain, PrivateKey key, List<String> dnsNames) {

    /** Copies the lists. */
    public CertificateKeyPair {
        chain = List.copyOf(chain);
        dnsNames = List.copyOf(dnsNames);
    }

    @Override
    public String toString() {
        return "CertificateKeyPair[" + source + ", " + dnsNames + "]";
    }
}
