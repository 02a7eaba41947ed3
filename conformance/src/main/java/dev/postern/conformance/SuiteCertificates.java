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

    /**
     * The suite's TLSRoute checks: one CA (ConfigMap {@code tls-checks-ca-certificate}) signing the certificate the
     * TCP echo backend serves in Passthrough tests ({@code tls-passthrough-checks-certificate}) and the one the
     * Gateway serves in Terminate tests ({@code tls-terminate-checks-certificate}). Made once per JVM so that the
     * environment, the backends and the client agree.
     */
    public static final class TlsChecks {
        /** The CA the client trusts. */
        public static final X509Bundle CA;
        /** The TCP echo backend's certificate (Passthrough). */
        public static final Issued PASSTHROUGH;
        /** The Gateway's certificate (Terminate). */
        public static final Issued TERMINATE;

        static {
            try {
                CA = new CertificateBuilder().rsa2048().subject("CN=tls-checks-ca")
                        .notBefore(Instant.now().minus(1, ChronoUnit.DAYS))
                        .notAfter(Instant.now().plus(365, ChronoUnit.DAYS))
                        .setKeyUsage(true, CertificateBuilder.KeyUsage.keyCertSign,
                                CertificateBuilder.KeyUsage.digitalSignature)
                        .setIsCertificateAuthority(true).buildSelfSigned();
                PASSTHROUGH = issued("tls-passthrough-checks", "abc.example.com", "other.example.com");
                TERMINATE = issued("tls-terminate-checks", "tls.example.com");
            } catch (Exception e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        private TlsChecks() {
        }

        private static Issued issued(String cn, String... dnsNames) throws Exception {
            final CertificateBuilder b = new CertificateBuilder().rsa2048().subject("CN=" + cn)
                    .notBefore(Instant.now().minus(1, ChronoUnit.DAYS))
                    .notAfter(Instant.now().plus(365, ChronoUnit.DAYS))
                    .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature,
                            CertificateBuilder.KeyUsage.keyEncipherment)
                    .addExtendedKeyUsageServerAuth();
            for (String n : dnsNames) {
                b.addSanDnsName(n);
            }
            final X509Bundle bundle = b.buildIssuedBy(CA);
            return new Issued(bundle, bundle.getCertificatePEM(), bundle.getPrivateKeyPEM());
        }
    }

    /** The objects every test needs (suite setup): the Secrets used by HTTPS and TLS listeners, the TLS checks CA. */
    public static String setupObjects() {
        return tlsSecret("gateway-conformance-web-backend", "certificate", selfSigned("web-backend", "*"))
                + "---\n" + tlsSecret("gateway-conformance-infra", "tls-validity-checks-certificate",
                selfSigned("tls-validity-checks", "*", "*.org", "*.wildcard.org"))
                + "---\n" + tlsSecret("gateway-conformance-infra", "tls-terminate-checks-certificate",
                TlsChecks.TERMINATE)
                + "---\n" + tlsSecret("gateway-conformance-infra", "tls-passthrough-checks-certificate",
                TlsChecks.PASSTHROUGH)
                + "---\n" + """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: tls-checks-ca-certificate
                  namespace: gateway-conformance-infra
                data:
                  ca.crt: |
                """ + TlsChecks.CA.getCertificatePEM().strip().indent(4);
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
    }
}
