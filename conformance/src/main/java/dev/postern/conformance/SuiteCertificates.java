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

    /** Issues a certificate signed by {@code ca} (ECDSA P-256) for DNS names and {@code spiffe:} URIs. */
    public static Issued issuedBy(Issued ca, String cn, String... names) {
        try {
            final CertificateBuilder b = new CertificateBuilder().ecp256().subject("CN=" + cn)
                    .notBefore(Instant.now().minus(1, ChronoUnit.DAYS))
                    .notAfter(Instant.now().plus(365, ChronoUnit.DAYS))
                    .addExtendedKeyUsageServerAuth().addExtendedKeyUsageClientAuth();
            for (String n : names) {
                if (n.contains("://")) {
                    b.addSanUriName(n);
                } else {
                    b.addSanDnsName(n);
                }
            }
            final X509Bundle bundle = b.buildIssuedBy(ca.bundle());
            return new Issued(bundle, bundle.getCertificatePEM(), bundle.getPrivateKeyPEM());
        } catch (Exception e) {
            throw new IllegalStateException("cannot generate a test certificate", e);
        }
    }

    /** A CA (ECDSA P-256). */
    public static Issued ca(String cn) {
        try {
            final X509Bundle bundle = new CertificateBuilder().ecp256().subject("CN=" + cn)
                    .notBefore(Instant.now().minus(1, ChronoUnit.DAYS))
                    .notAfter(Instant.now().plus(365, ChronoUnit.DAYS))
                    .setIsCertificateAuthority(true).buildSelfSigned();
            return new Issued(bundle, bundle.getCertificatePEM(), bundle.getPrivateKeyPEM());
        } catch (Exception e) {
            throw new IllegalStateException("cannot generate a test CA", e);
        }
    }

    /** A ConfigMap with the CA certificate in {@code ca.crt}, as the suite's MustCreateCACertConfigMap. */
    public static String caConfigMap(String namespace, String name, Issued ca) {
        return """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: %s
                  namespace: %s
                data:
                  ca.crt: |
                %s""".formatted(name, namespace, ca.certPem().strip().indent(4));
    }

    /**
     * Everything the suite's setup creates, generated once per run (suite.go, v1.6.1): the self-signed
     * certificates of the HTTPS listeners, the CA ConfigMaps with their client and server certificates for
     * frontend and backend TLS, and an unrelated CA for the negative BackendTLSPolicy cases.
     *
     * @param objects the Secrets and ConfigMaps as one multi-document YAML
     * @param identities every generated certificate by its Secret name ({@code ns/name})
     */
    public record Suite(String objects, java.util.Map<String, Issued> identities) {
        /** A certificate by {@code ns/name}. */
        public Issued identity(String key) {
            final Issued i = identities.get(key);
            if (i == null) {
                throw new IllegalArgumentException("no suite certificate " + key);
            }
            return i;
        }
    }

    private static final class Holder {
        static final Suite SUITE = build();
    }

    /** The suite's certificates of this run. */
    public static Suite suite() {
        return Holder.SUITE;
    }

    private static Suite build() {
        final String infra = "gateway-conformance-infra";
        final java.util.Map<String, Issued> ids = new java.util.LinkedHashMap<>();
        final StringBuilder y = new StringBuilder();
        final java.util.function.BiConsumer<String, Issued> secret = (key, c) -> {
            ids.put(key, c);
            final String[] nsName = key.split("/");
            y.append(y.isEmpty() ? "" : "---\n").append(tlsSecret(nsName[0], nsName[1], c));
        };
        final java.util.function.BiConsumer<String, Issued> configMap = (key, c) -> {
            final String[] nsName = key.split("/");
            y.append(y.isEmpty() ? "" : "---\n").append(caConfigMap(nsName[0], nsName[1], c));
        };
        secret.accept("gateway-conformance-web-backend/certificate", selfSigned("web-backend", "*"));
        secret.accept(infra + "/tls-validity-checks-certificate",
                selfSigned("tls-validity-checks", "*", "*.org", "*.wildcard.org"));
        configMap.accept("gateway-conformance-web-backend/web-backend-cm", ca("web-backend-ca"));
        final Issued frontendCa = ca("tls-validity-checks-ca");
        configMap.accept(infra + "/tls-validity-checks-ca-certificate", frontendCa);
        secret.accept(infra + "/tls-validity-checks-client-certificate", issuedBy(frontendCa, "client"));
        final Issued perPortCa = ca("tls-validity-checks-per-port-ca");
        configMap.accept(infra + "/tls-validity-checks-per-port-ca-certificate", perPortCa);
        secret.accept(infra + "/tls-validity-checks-per-port-client-certificate", issuedBy(perPortCa, "client"));
        final Issued checksCa = ca("tls-checks-ca");
        configMap.accept(infra + "/tls-checks-ca-certificate", checksCa);
        ids.put("ca/" + infra + "/tls-checks-ca-certificate", checksCa);
        secret.accept(infra + "/tls-checks-certificate", issuedBy(checksCa, "abc.example.com", "abc.example.com",
                "spiffe://abc.example.com/test-identity", "other.example.com"));
        secret.accept(infra + "/tls-checks-client-certificate", issuedBy(checksCa, "client"));
        secret.accept(infra + "/tls-passthrough-checks-certificate", issuedBy(checksCa, "abc.example.com",
                "abc.example.com", "other.example.com"));
        secret.accept("gateway-conformance-app-backend/tls-passthrough-checks-certificate",
                issuedBy(checksCa, "abc.example.com", "abc.example.com"));
        secret.accept(infra + "/tls-terminate-checks-certificate", issuedBy(checksCa, "tls.example.com",
                "tls.example.com"));
        configMap.accept(infra + "/mismatch-ca-certificate", ca("mismatch-ca"));
        return new Suite(y.toString(), java.util.Map.copyOf(ids));
    }


    /**
     * The suite's TLSRoute checks, from {@link #suite()}: the CA (ConfigMap {@code tls-checks-ca-certificate})
     * signing the certificate the TCP echo backend serves in Passthrough tests
     * ({@code tls-passthrough-checks-certificate}) and the one the Gateway serves in Terminate tests
     * ({@code tls-terminate-checks-certificate}), so that the environment, the backends and the client agree.
     */
    public static final class TlsChecks {
        /** The CA the client trusts. */
        public static final X509Bundle CA = suite().identity("ca/gateway-conformance-infra/tls-checks-ca-certificate")
                .bundle();
        /** The TCP echo backend's certificate (Passthrough). */
        public static final Issued PASSTHROUGH =
                suite().identity("gateway-conformance-infra/tls-passthrough-checks-certificate");
        /** The Gateway's certificate (Terminate). */
        public static final Issued TERMINATE =
                suite().identity("gateway-conformance-infra/tls-terminate-checks-certificate");

        private TlsChecks() {
        }
    }

    /** The objects every test needs (suite setup), from {@link #suite()}. */
    public static String setupObjects() {
        return suite().objects();
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
    }
}
