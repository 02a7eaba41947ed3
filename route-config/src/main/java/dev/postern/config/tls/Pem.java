package dev.postern.config.tls;

import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAPrivateCrtKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.security.auth.x500.X500Principal;

/**
 * PEM parsing with the JDK only: X.509 certificate chains, and private keys in PKCS#8 ({@code PRIVATE KEY}) or
 * PKCS#1 ({@code RSA PRIVATE KEY}, as Go and cert-manager write RSA keys). Every failure is an
 * {@link IllegalArgumentException} saying what is wrong.
 */
public final class Pem {
    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*([A-Za-z0-9+/=\\s]*?)\\s*-----END \\1-----");

    private Pem() {
    }

    /** Parses every certificate in a PEM text, in order; fails when there is none. */
    public static List<X509Certificate> certificates(String pem) {
        final List<X509Certificate> out = new ArrayList<>();
        final CertificateFactory cf;
        try {
            cf = CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException(e);
        }
        final Matcher m = BLOCK.matcher(pem);
        while (m.find()) {
            if (!m.group(1).equals("CERTIFICATE")) {
                continue;
            }
            try {
                out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(decode(m.group(2)))));
            } catch (CertificateException e) {
                throw new IllegalArgumentException("invalid certificate: " + e.getMessage());
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("no PEM certificate found");
        }
        return out;
    }

    /** Parses the first private key in a PEM text. */
    public static PrivateKey privateKey(String pem) {
        final Matcher m = BLOCK.matcher(pem);
        while (m.find()) {
            final byte[] der = decode(m.group(2));
            try {
                switch (m.group(1)) {
                    case "PRIVATE KEY" -> {
                        return pkcs8(der);
                    }
                    case "RSA PRIVATE KEY" -> {
                        return pkcs1(der);
                    }
                    case "EC PRIVATE KEY" -> throw new IllegalArgumentException(
                            "SEC1 EC keys are not supported; convert to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)");
                    case "ENCRYPTED PRIVATE KEY" -> throw new IllegalArgumentException(
                            "encrypted private keys are not supported");
                    default -> {
                        // keep looking
                    }
                }
            } catch (GeneralSecurityException e) {
                throw new IllegalArgumentException("invalid private key: " + e.getMessage());
            }
        }
        throw new IllegalArgumentException("no PEM private key found");
    }

    /**
     * Parses a certificate chain and key and checks that the key belongs to the leaf.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    public static CertificateKeyPair pair(String source, String certPem, String keyPem) {
        final List<X509Certificate> chain = certificates(certPem);
        final PrivateKey key = privateKey(keyPem);
        if (!matches(key, chain.getFirst().getPublicKey())) {
            throw new IllegalArgumentException("the private key does not match the certificate");
        }
        return new CertificateKeyPair(source, chain, key, dnsNames(chain.getFirst()));
    }

    /** The DNS SANs of a certificate, lower case; its CN when it has none. */
    public static List<String> dnsNames(X509Certificate c) {
        final List<String> out = new ArrayList<>();
        try {
            final Collection<List<?>> sans = c.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    if (Integer.valueOf(2).equals(san.get(0))) {
                        out.add(String.valueOf(san.get(1)).toLowerCase(Locale.ROOT));
                    }
                }
            }
        } catch (CertificateException e) {
            throw new IllegalArgumentException("invalid subjectAltName: " + e.getMessage());
        }
        if (out.isEmpty()) {
            final String dn = c.getSubjectX500Principal().getName(X500Principal.RFC2253);
            final Matcher m = Pattern.compile("(?:^|,)CN=([^,]+)").matcher(dn);
            if (m.find()) {
                out.add(m.group(1).toLowerCase(Locale.ROOT));
            }
        }
        return out;
    }

    private static boolean matches(PrivateKey key, PublicKey pub) {
        try {
            final String alg = switch (key.getAlgorithm()) {
                case "RSA" -> "SHA256withRSA";
                case "EC" -> "SHA256withECDSA";
                case "Ed25519", "EdDSA" -> "Ed25519";
                default -> null;
            };
            if (alg == null) {
                return true; // cannot check; the TLS handshake will
            }
            final byte[] probe = "postern".getBytes(StandardCharsets.US_ASCII);
            final Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(probe);
            final byte[] sig = s.sign();
            s.initVerify(pub);
            s.update(probe);
            return s.verify(sig);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static byte[] decode(String b64) {
        try {
            return Base64.getMimeDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid base64 in PEM block");
        }
    }

    private static PrivateKey pkcs8(byte[] der) throws GeneralSecurityException {
        for (String alg : new String[] {"RSA", "EC", "Ed25519"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException e) {
                // try the next algorithm
            }
        }
        throw new GeneralSecurityException("not an RSA, EC or Ed25519 PKCS#8 key");
    }

    /** PKCS#1 RSAPrivateKey: SEQUENCE { version, n, e, d, p, q, dp, dq, qinv }. */
    private static PrivateKey pkcs1(byte[] der) throws GeneralSecurityException {
        final Der d = new Der(der);
        d.enterSequence();
        d.integer(); // version
        final BigInteger n = d.integer();
        final BigInteger e = d.integer();
        final BigInteger priv = d.integer();
        final BigInteger p = d.integer();
        final BigInteger q = d.integer();
        final BigInteger dp = d.integer();
        final BigInteger dq = d.integer();
        final BigInteger qinv = d.integer();
        final RSAPrivateCrtKey k = (RSAPrivateCrtKey) KeyFactory.getInstance("RSA").generatePrivate(
                new RSAPrivateCrtKeySpec(n, e, priv, p, q, dp, dq, qinv));
        return k;
    }

    /** Just enough DER to read a sequence of integers. */
    private static final class Der {
        private final byte[] b;
        private int pos;

        Der(byte[] b) {
            this.b = b;
        }

        void enterSequence() throws GeneralSecurityException {
            if (next() != 0x30) {
                throw new GeneralSecurityException("PKCS#1 key is not a DER SEQUENCE");
            }
            length();
        }

        BigInteger integer() throws GeneralSecurityException {
            if (next() != 0x02) {
                throw new GeneralSecurityException("expected a DER INTEGER in the PKCS#1 key");
            }
            final int len = length();
            if (len <= 0 || pos + len > b.length) {
                throw new GeneralSecurityException("truncated PKCS#1 key");
            }
            final byte[] v = java.util.Arrays.copyOfRange(b, pos, pos + len);
            pos += len;
            return new BigInteger(v);
        }

        private int next() throws GeneralSecurityException {
            if (pos >= b.length) {
                throw new GeneralSecurityException("truncated PKCS#1 key");
            }
            return b[pos++] & 0xff;
        }

        private int length() throws GeneralSecurityException {
            int l = next();
            if (l < 0x80) {
                return l;
            }
            final int n = l & 0x7f;
            if (n > 4) {
                throw new GeneralSecurityException("DER length too long");
            }
            l = 0;
            for (int i = 0; i < n; i++) {
                l = (l << 8) | next();
            }
            return l;
        }
    }
}
