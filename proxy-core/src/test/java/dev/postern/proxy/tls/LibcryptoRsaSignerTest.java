package dev.postern.proxy.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.handler.ssl.OpenSslPrivateKeyMethod;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;

import java.nio.charset.StandardCharsets;
import java.security.Signature;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.atomic.LongAdder;

import javax.net.ssl.SSLHandshakeException;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The libcrypto RSA signer against the JDK's verifier: every TLS RSA scheme BoringSSL asks for, the self-check
 * that refuses a key that does not match its certificate, and the refused operations. The handshakes themselves
 * are in {@code RsaSignerEndToEndTest}.
 */
class LibcryptoRsaSignerTest {
    private static final byte[] MESSAGE = "a TLS 1.3 CertificateVerify input".getBytes(StandardCharsets.US_ASCII);

    @BeforeAll
    static void loadBoringssl() {
        // The SSL_SIGN_* constants are read from netty-tcnative, so it must be loaded first.
        io.netty.handler.ssl.OpenSsl.ensureAvailability();
    }

    private static X509Bundle rsa(String cn) throws Exception {
        return new CertificateBuilder().rsa2048().subject("CN=" + cn)
                .notBefore(Instant.now().minus(1, ChronoUnit.DAYS)).notAfter(Instant.now().plus(1, ChronoUnit.DAYS))
                .setIsCertificateAuthority(true).buildSelfSigned();
    }

    @Test
    void libcryptoLoadsHere() {
        assertTrue(LibcryptoRsaSigner.available(), () -> "libcrypto.so.3: " + LibcryptoRsaSigner.unavailabilityCause());
    }

    @Test
    void everyRsaSchemeVerifiesWithTheCertificate() throws Exception {
        final X509Bundle b = rsa("sign.test");
        final LongAdder count = new LongAdder();
        final LibcryptoRsaSigner s = LibcryptoRsaSigner.create(b.getKeyPair().getPrivate(), b.getCertificate(),
                "test/sign", count);
        assertNotNull(s);
        record Scheme(int id, String jdk, String digest, int saltLen) {
        }
        final Scheme[] schemes = {
            new Scheme(OpenSslPrivateKeyMethod.SSL_SIGN_RSA_PSS_RSAE_SHA256, "RSASSA-PSS", "SHA-256", 32),
            new Scheme(OpenSslPrivateKeyMethod.SSL_SIGN_RSA_PSS_RSAE_SHA384, "RSASSA-PSS", "SHA-384", 48),
            new Scheme(OpenSslPrivateKeyMethod.SSL_SIGN_RSA_PSS_RSAE_SHA512, "RSASSA-PSS", "SHA-512", 64),
            new Scheme(OpenSslPrivateKeyMethod.SSL_SIGN_RSA_PKCS1_SHA256, "SHA256withRSA", null, 0),
            new Scheme(OpenSslPrivateKeyMethod.SSL_SIGN_RSA_PKCS1_SHA384, "SHA384withRSA", null, 0),
            new Scheme(OpenSslPrivateKeyMethod.SSL_SIGN_RSA_PKCS1_SHA512, "SHA512withRSA", null, 0),
            new Scheme(OpenSslPrivateKeyMethod.SSL_SIGN_RSA_PKCS1_SHA1, "SHA1withRSA", null, 0),
        };
        for (Scheme sc : schemes) {
            final byte[] sig = s.sign(null, sc.id(), MESSAGE);
            assertEquals(256, sig.length, sc.jdk());
            final Signature v = Signature.getInstance(sc.jdk());
            if (sc.digest() != null) {
                v.setParameter(new PSSParameterSpec(sc.digest(), "MGF1", new MGF1ParameterSpec(sc.digest()),
                        sc.saltLen(), 1));
            }
            v.initVerify(b.getCertificate().getPublicKey());
            v.update(MESSAGE);
            assertTrue(v.verify(sig), sc.jdk() + " " + sc.digest());
            // A signature over another message does not verify: the input is hashed, not signed as is.
            v.initVerify(b.getCertificate().getPublicKey());
            v.update("another message".getBytes(StandardCharsets.US_ASCII));
            assertTrue(!v.verify(sig), sc.jdk() + " " + sc.digest());
        }
        assertEquals(schemes.length, count.sum(), "the self-check is not counted, every handshake signature is");
        final SSLHandshakeException ecdsa = assertThrows(SSLHandshakeException.class,
                () -> s.sign(null, OpenSslPrivateKeyMethod.SSL_SIGN_ECDSA_SECP256R1_SHA256, MESSAGE));
        assertTrue(ecdsa.getMessage().contains("test/sign") && ecdsa.getMessage().contains("0x403"),
                ecdsa.getMessage());
        final SSLHandshakeException decrypt = assertThrows(SSLHandshakeException.class,
                () -> s.decrypt(null, new byte[256]));
        assertTrue(decrypt.getMessage().contains("ECDHE-only"), decrypt.getMessage());
    }

    @Test
    void keyNotMatchingTheCertificateFailsTheSelfCheck() throws Exception {
        final X509Bundle a = rsa("a.test");
        final X509Bundle other = rsa("b.test");
        assertNull(LibcryptoRsaSigner.create(a.getKeyPair().getPrivate(), other.getCertificate(), "test/mismatch",
                new LongAdder()));
    }

    @Test
    void ecdsaKeysAreNotTaken() throws Exception {
        final X509Bundle ec = new CertificateBuilder().ecp256().subject("CN=ec.test")
                .notBefore(Instant.now().minus(1, ChronoUnit.DAYS)).notAfter(Instant.now().plus(1, ChronoUnit.DAYS))
                .setIsCertificateAuthority(true).buildSelfSigned();
        assertNull(LibcryptoRsaSigner.create(ec.getKeyPair().getPrivate(), ec.getCertificate(), "test/ec",
                new LongAdder()));
    }
}
