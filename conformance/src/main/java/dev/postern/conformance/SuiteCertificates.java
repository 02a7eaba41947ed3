package dev.postern.conformance;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;

import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;

/**
 * The TLS Secrets and CA ConfigMaps the upstream suite creates in code at setup (same names, same SANs), as YAML.
 * Keys are generated fresh for every run; nothing secret is committed.
 */
public final class SuiteCertificates {
    private SuiteCertificates() {
    }

    /** A generated certificate and key with their PEM text. */
    public record Issued(X509Bundle bundle, String certPem, String keyPem) {
    }

    /** Issues a self-signed RSA server certificate for the given DNS names. */
    public static Issued selfSigned(String cn, String... dnsNames) {
        try {
            final CertificateBuilder b = new CertificateBuilder().rsa2048().subject("CN=" + cn)
                    .notBefore(Instant.now().minus(1, ChronoUnit.DAYS))
                    .notAfter(Instant.now().plus(365, ChronoUnit.DAYS))
                    .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature,
                            CertificateBuilder.KeyUsage.keyEncipherment, CertificateBuilder.KeyUsage.keyCertSign)
                    .setIsCertificateAuthority(true);
            if (dnsNames.length > 0) {
                // Encoded here rather than with addSanDnsName, which refuses wildcard names such as "*.org".
                final GeneralName[] names = new GeneralName[dnsNames.length];
                for (int i = 0; i < names.length; i++) {
                    names[i] = new GeneralName(GeneralName.dNSName, dnsNames[i]);
                }
                b.addExtensionOctetString("2.5.29.17", false, new GeneralNames(names).getEncoded());
            }
            final X509Bundle bundle = b.buildSelfSigned();
            return new Issued(bundle, bundle.getCertificatePEM(), bundle.getPrivateKeyPEM());
        } catch (Exception e) {
            throw new IllegalStateException("cannot generate a test certificate", e);
        }
    }

    /** A kubernetes.io/tls Secret as YAML. */
    public static String tlsSecret(String namespace, String name, Issued c) {
        return """
                apiVersion: v1
                kind: Secret
                metadata:
                  name: %s
                  namespace: %s
                type: kubernetes.io/tls
                data:
                  tls.crt: %s
                  tls.key: %s
                """.formatted(name, namespace, b64(c.certPem()), b64(c.keyPem()));
    }

    /** The objects every test needs (suite setup): the two Secrets used by HTTPS listeners. */
    public static String setupObjects() {
        return tlsSecret("gateway-conformance-web-backend", "certificate", selfSigned("web-backend", "*"))
                + "---\n" + tlsSecret("gateway-conformance-infra", "tls-validity-checks-certificate",
                selfSigned("tls-validity-checks", "*", "*.org", "*.wildcard.org"));
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
    }
}
