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
