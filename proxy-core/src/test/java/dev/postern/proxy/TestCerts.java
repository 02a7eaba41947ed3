package dev.postern.proxy;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;

import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;

/** Certificates generated for a test run (never committed), and the Secret YAML that carries them. */
final class TestCerts {
    private TestCerts() {
    }

    /** A self-signed server certificate for the DNS names. */
    static X509Bundle selfSigned(String... dnsNames) throws Exception {
        final GeneralName[] names = new GeneralName[dnsNames.length];
        for (int i = 0; i < names.length; i++) {
            names[i] = new GeneralName(GeneralName.dNSName, dnsNames[i]);
        }
        return new CertificateBuilder().rsa2048().subject("CN=" + dnsNames[0])
                .notBefore(Instant.now().minus(1, ChronoUnit.DAYS)).notAfter(Instant.now().plus(30, ChronoUnit.DAYS))
                .setIsCertificateAuthority(true)
                .addExtensionOctetString("2.5.29.17", false, new GeneralNames(names).getEncoded())
                .buildSelfSigned();
    }

    /** A certificate authority. */
    static X509Bundle ca(String cn) throws Exception {
        return new CertificateBuilder().ecp256().subject("CN=" + cn)
                .notBefore(Instant.now().minus(1, ChronoUnit.DAYS)).notAfter(Instant.now().plus(30, ChronoUnit.DAYS))
                .setIsCertificateAuthority(true).buildSelfSigned();
    }

    /** A leaf certificate issued by {@code ca}, with DNS names (and {@code uri:}-prefixed URI names). */
    static X509Bundle issued(X509Bundle ca, String... names) throws Exception {
        final CertificateBuilder b = new CertificateBuilder().ecp256().subject("CN=" + names[0])
                .notBefore(Instant.now().minus(1, ChronoUnit.DAYS)).notAfter(Instant.now().plus(30, ChronoUnit.DAYS))
                .addExtendedKeyUsageServerAuth().addExtendedKeyUsageClientAuth();
        for (String n : names) {
            if (n.startsWith("uri:")) {
                b.addSanUriName(n.substring(4));
            } else {
                b.addSanDnsName(n);
            }
        }
        return b.buildIssuedBy(ca);
    }

    /** A ConfigMap with {@code ca.crt}. */
    static String caConfigMap(String ns, String name, X509Bundle... cas) {
        final StringBuilder pem = new StringBuilder();
        for (X509Bundle c : cas) {
            pem.append(c.getCertificatePEM());
        }
        return "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: " + ns + "}\n"
                + "data:\n  ca.crt: |\n" + pem.toString().strip().indent(4);
    }

    /** Writes the certificate and key PEM (a client identity for curl and openssl). */
    static Path[] identityFiles(Path dir, String name, X509Bundle b) throws Exception {
        final Path crt = dir.resolve(name + ".crt");
        final Path key = dir.resolve(name + ".key");
        Files.writeString(crt, b.getCertificatePEM());
        Files.writeString(key, b.getPrivateKeyPEM());
        return new Path[] {crt, key};
    }

    static String secret(String ns, String name, X509Bundle b) {
        return "---\napiVersion: v1\nkind: Secret\nmetadata: {name: " + name + ", namespace: " + ns + "}\n"
                + "type: kubernetes.io/tls\ndata:\n  tls.crt: " + b64(b.getCertificatePEM()) + "\n  tls.key: "
                + b64(b.getPrivateKeyPEM()) + "\n";
    }

    /** Writes the certificate PEM to a file (a CA file for curl). */
    static Path pemFile(Path dir, String name, X509Bundle b) throws Exception {
        final Path p = dir.resolve(name);
        Files.writeString(p, b.getCertificatePEM());
        return p;
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
    }
}
