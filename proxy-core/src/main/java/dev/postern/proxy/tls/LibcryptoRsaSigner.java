package dev.postern.proxy.tls;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.OpenSslPrivateKeyMethod;

import java.lang.ref.Cleaner;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPrivateKey;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.concurrent.atomic.LongAdder;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLHandshakeException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A BoringSSL private-key method that makes a certificate's RSA signatures with the system's OpenSSL 3 libcrypto
 * (through {@link Libcrypto}), the way Envoy's private key providers hand signing to another implementation.
 * BoringSSL keeps the rest of the handshake; only the one signature per full handshake moves, because OpenSSL 3
 * signs RSA-2048 about three times faster than netty-tcnative's BoringSSL here (perf/FINDINGS.md §12).
 *
 * <p>One instance per certificate: the private key is loaded into an {@code EVP_PKEY} once, and freed by a
 * {@link Cleaner} when the instance is unreachable, which is when the TLS context that holds it and every engine
 * made from it are gone (so a handshake in flight never sees a freed key). A key is only used after a self-check:
 * a PSS and a PKCS#1 signature made by libcrypto must verify in Java against the certificate's public key.
 *
 * <p>{@link #sign} runs on the event loop inside the handshake, as BoringSSL's own signing would: no lock, one
 * confined arena and one {@code EVP_MD_CTX} per signature, and a {@link LongAdder} count of signatures.
 *
 * <p>Thread-safety: safe from any thread.
 */
final class LibcryptoRsaSigner implements OpenSslPrivateKeyMethod {
    private static final Logger LOG = LoggerFactory.getLogger(LibcryptoRsaSigner.class);
    private static final Cleaner CLEANER = Cleaner.create(r -> {
        final Thread t = new Thread(r, "postern-libcrypto-cleaner");
        t.setDaemon(true);
        return t;
    });
    private static final byte[] SELF_CHECK = "postern libcrypto self-check".getBytes(StandardCharsets.US_ASCII);

    private final Libcrypto lib;
    private final long key;
    private final int size;
    private final String source;
    private final LongAdder signatures;

    private LibcryptoRsaSigner(Libcrypto lib, long key, String source, LongAdder signatures) {
        this.lib = lib;
        this.key = key;
        CLEANER.register(this, new Free(lib, key));
        this.size = lib.signatureSize(key);
        this.source = source;
        this.signatures = signatures;
    }

    /** Frees the {@code EVP_PKEY}; holds no reference to the signer, so the signer can become unreachable. */
    private record Free(Libcrypto lib, long key) implements Runnable {
        @Override
        public void run() {
            lib.freeKey(key);
        }
    }

    /** True when libcrypto.so.3 loaded; else {@link #unavailabilityCause()} says why. */
    static boolean available() {
        return Libcrypto.instance() != null;
    }

    /** Why libcrypto is not available, or null. */
    static Throwable unavailabilityCause() {
        return Libcrypto.unavailabilityCause();
    }

    /**
     * A signer for an RSA key and its certificate, or null (with a warning naming {@code source} and the reason)
     * when libcrypto is unavailable, cannot load the key, or fails the self-check.
     *
     * @param signatures counts the signatures made (after the self-check)
     */
    static LibcryptoRsaSigner create(PrivateKey privateKey, X509Certificate certificate, String source,
                                     LongAdder signatures) {
        requireNonNull(privateKey, "privateKey");
        requireNonNull(certificate, "certificate");
        requireNonNull(source, "source");
        requireNonNull(signatures, "signatures");
        final Libcrypto lib = Libcrypto.instance();
        if (lib == null || !(privateKey instanceof RSAPrivateKey)) {
            return null;
        }
        final byte[] pkcs8 = privateKey.getEncoded();
        if (pkcs8 == null) {
            LOG.warn("{}: RSA signatures stay with BoringSSL, the key has no PKCS#8 encoding to hand to libcrypto",
                    source);
            return null;
        }
        final LibcryptoRsaSigner s;
        try {
            s = new LibcryptoRsaSigner(lib, lib.loadRsaKey(pkcs8), source, signatures);
        } catch (RuntimeException e) {
            LOG.warn("{}: RSA signatures stay with BoringSSL, libcrypto cannot use the key: {}", source,
                    e.getMessage());
            return null;
        } finally {
            java.util.Arrays.fill(pkcs8, (byte) 0);
        }
        try {
            s.selfCheck(certificate);
        } catch (GeneralSecurityException | RuntimeException e) {
            LOG.warn("{}: RSA signatures stay with BoringSSL, the libcrypto self-check failed: {}", source,
                    e.toString());
            return null; // the Cleaner frees the key
        }
        return s;
    }

    /** Signs with PSS and PKCS#1 v1.5 and verifies both in Java against the certificate's public key. */
    private void selfCheck(X509Certificate certificate) throws GeneralSecurityException {
        final Signature pss = Signature.getInstance("RSASSA-PSS");
        pss.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
        pss.initVerify(certificate.getPublicKey());
        pss.update(SELF_CHECK);
        if (!pss.verify(lib.sign(key, Libcrypto.Digest.SHA256, true, SELF_CHECK, size))) {
            throw new GeneralSecurityException("an RSA-PSS SHA-256 signature does not verify with the certificate");
        }
        final Signature pkcs1 = Signature.getInstance("SHA256withRSA");
        pkcs1.initVerify(certificate.getPublicKey());
        pkcs1.update(SELF_CHECK);
        if (!pkcs1.verify(lib.sign(key, Libcrypto.Digest.SHA256, false, SELF_CHECK, size))) {
            throw new GeneralSecurityException("a PKCS#1 SHA-256 signature does not verify with the certificate");
        }
    }

    @Override
    public byte[] sign(SSLEngine engine, int signatureAlgorithm, byte[] input) throws Exception {
        final Libcrypto.Digest digest;
        final boolean pss;
        if (signatureAlgorithm == SSL_SIGN_RSA_PSS_RSAE_SHA256) {
            digest = Libcrypto.Digest.SHA256;
            pss = true;
        } else if (signatureAlgorithm == SSL_SIGN_RSA_PSS_RSAE_SHA384) {
            digest = Libcrypto.Digest.SHA384;
            pss = true;
        } else if (signatureAlgorithm == SSL_SIGN_RSA_PSS_RSAE_SHA512) {
            digest = Libcrypto.Digest.SHA512;
            pss = true;
        } else if (signatureAlgorithm == SSL_SIGN_RSA_PKCS1_SHA256) {
            digest = Libcrypto.Digest.SHA256;
            pss = false;
        } else if (signatureAlgorithm == SSL_SIGN_RSA_PKCS1_SHA384) {
            digest = Libcrypto.Digest.SHA384;
            pss = false;
        } else if (signatureAlgorithm == SSL_SIGN_RSA_PKCS1_SHA512) {
            digest = Libcrypto.Digest.SHA512;
            pss = false;
        } else if (signatureAlgorithm == SSL_SIGN_RSA_PKCS1_SHA1) {
            digest = Libcrypto.Digest.SHA1;
            pss = false;
        } else {
            throw new SSLHandshakeException(source + ": the libcrypto RSA signer cannot make signature algorithm 0x"
                    + Integer.toHexString(signatureAlgorithm));
        }
        final byte[] sig = lib.sign(key, digest, pss, input, size);
        signatures.increment();
        return sig;
    }

    /**
     * Never called: RSA key exchange (the only use of a private-key decrypt) is not in Postern's cipher list,
     * which has ECDHE suites only ({@code Http2SecurityUtil.CIPHERS}) and TLS 1.3.
     */
    @Override
    public byte[] decrypt(SSLEngine engine, byte[] input) throws Exception {
        throw new SSLHandshakeException(source + ": RSA key exchange asked for a private-key decrypt, which the "
                + "libcrypto signer does not do (Postern's cipher list is ECDHE-only)");
    }
}
