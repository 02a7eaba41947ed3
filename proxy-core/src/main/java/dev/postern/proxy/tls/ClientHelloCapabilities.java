package dev.postern.proxy.tls;

import dev.postern.config.tls.CertificateKeyPair;

import io.netty.buffer.ByteBuf;

import java.security.interfaces.ECKey;
import java.security.interfaces.RSAKey;

/**
 * What a client can verify, read from its ClientHello before the handshake starts, to choose between an ECDSA and
 * an RSA certificate for the same name (as nginx and Envoy do): whether it offers TLS 1.3, its
 * signature_algorithms, its supported_groups, and whether it offers an ECDHE-ECDSA or ECDHE-RSA cipher suite (what
 * TLS 1.2 also needs).
 *
 * <p>Why here and not in BoringSSL: netty-tcnative gives one certificate per {@code SslContext} and the SNI
 * handler picks the context before an engine exists; the alternative (one context with a key manager whose
 * {@code chooseEngineServerAlias} reads the peer's signature algorithms from the handshake session in BoringSSL's
 * certificate callback) works too, but loses Postern's per-certificate contexts and their ticket keys and costs a
 * key-material conversion per handshake. The ClientHello is already buffered and parsed for SNI, so reading three
 * more extensions is a few dozen bytes of scanning.
 *
 * <p>Score: 2 for an ECDSA certificate the client can verify, 1 for an RSA one, 0 when it cannot verify it.
 */
public final class ClientHelloCapabilities {
    /** A client about which nothing is known: every certificate scores the same (the first one wins). */
    public static final ClientHelloCapabilities UNKNOWN = new ClientHelloCapabilities(false, null, null, false,
            false, true);

    private final boolean tls13;
    /** The signature schemes offered, or null without the extension. */
    private final int[] sigalgs;
    /** The named groups offered, or null without the extension. */
    private final int[] groups;
    private final boolean ecdsaCipher;
    private final boolean rsaCipher;
    private final boolean unknown;

    private ClientHelloCapabilities(boolean tls13, int[] sigalgs, int[] groups, boolean ecdsaCipher,
                                    boolean rsaCipher, boolean unknown) {
        this.tls13 = tls13;
        this.sigalgs = sigalgs;
        this.groups = groups;
        this.ecdsaCipher = ecdsaCipher;
        this.rsaCipher = rsaCipher;
        this.unknown = unknown;
    }

    /**
     * Reads a ClientHello body (from {@code client_version} on, as Netty's {@code SslClientHelloHandler} hands it
     * over) without moving its indexes. A malformed one gives {@link #UNKNOWN}: BoringSSL will reject it anyway.
     */
    public static ClientHelloCapabilities parse(ByteBuf hello) {
        try {
            final int end = hello.writerIndex();
            int i = hello.readerIndex() + 34; // version, random
            i += 1 + hello.getUnsignedByte(i); // session id
            final int csLen = hello.getUnsignedShort(i);
            i += 2;
            boolean ecdsaCipher = false;
            boolean rsaCipher = false;
            for (int j = i; j + 1 < i + csLen && j + 1 < end; j += 2) {
                switch (hello.getUnsignedShort(j)) {
                    // ECDHE-ECDSA with AES-GCM or ChaCha20-Poly1305 (the suites Postern serves), and the CBC ones
                    case 0xC02B, 0xC02C, 0xCCA9, 0xC009, 0xC00A, 0xC023, 0xC024 -> ecdsaCipher = true;
                    case 0xC02F, 0xC030, 0xCCA8, 0xC013, 0xC014, 0xC027, 0xC028 -> rsaCipher = true;
                    default -> { }
                }
            }
            i += csLen;
            i += 1 + hello.getUnsignedByte(i); // compression methods
            boolean tls13 = false;
            int[] sigalgs = null;
            int[] groups = null;
            if (i + 2 <= end) {
                final int extEnd = Math.min(end, i + 2 + hello.getUnsignedShort(i));
                i += 2;
                while (i + 4 <= extEnd) {
                    final int type = hello.getUnsignedShort(i);
                    final int len = hello.getUnsignedShort(i + 2);
                    final int data = i + 4;
                    if (data + len > extEnd) {
                        break;
                    }
                    switch (type) {
                        case 13 -> sigalgs = shorts(hello, data + 2, Math.min(hello.getUnsignedShort(data), len - 2));
                        case 10 -> groups = shorts(hello, data + 2, Math.min(hello.getUnsignedShort(data), len - 2));
                        case 43 -> {
                            for (int v : shorts(hello, data + 1, Math.min(hello.getUnsignedByte(data), len - 1))) {
                                tls13 |= v == 0x0304;
                            }
                        }
                        default -> { }
                    }
                    i = data + len;
                }
            }
            return new ClientHelloCapabilities(tls13, sigalgs, groups, ecdsaCipher, rsaCipher, false);
        } catch (IndexOutOfBoundsException e) {
            return UNKNOWN;
        }
    }

    private static int[] shorts(ByteBuf b, int from, int bytes) {
        final int[] out = new int[Math.max(0, bytes / 2)];
        for (int k = 0; k < out.length; k++) {
            out[k] = b.getUnsignedShort(from + 2 * k);
        }
        return out;
    }

    /** Whether the client offered TLS 1.3 (supported_versions). */
    public boolean tls13() {
        return tls13;
    }

    /** 2 for an ECDSA certificate the client can verify, 1 for an RSA one, 0 for one it cannot; 0 when unknown. */
    public int score(CertificateKeyPair c) {
        if (unknown) {
            return 0;
        }
        if (c.key() instanceof ECKey ec) {
            return ecdsa(ec.getParams().getCurve().getField().getFieldSize()) ? 2 : 0;
        }
        if (c.key() instanceof RSAKey) {
            return rsa() ? 1 : 0;
        }
        return 0;
    }

    /**
     * ECDSA on a curve of {@code bits}: TLS 1.3 needs the curve's own scheme (ecdsa_secp256r1_sha256 for P-256,
     * secp384r1_sha384, secp521r1_sha512); TLS 1.2 needs an ECDHE-ECDSA suite, an ECDSA scheme with any hash (or
     * no signature_algorithms at all: SHA-1 is implied), and the curve among supported_groups when that is sent.
     */
    private boolean ecdsa(int bits) {
        final int scheme = switch (bits) {
            case 256 -> 0x0403;
            case 384 -> 0x0503;
            case 521 -> 0x0603;
            default -> -1;
        };
        final int group = switch (bits) {
            case 256 -> 23;
            case 384 -> 24;
            case 521 -> 25;
            default -> -1;
        };
        if (tls13) {
            return contains(sigalgs, scheme);
        }
        return ecdsaCipher && (sigalgs == null || contains(sigalgs, 0x0403) || contains(sigalgs, 0x0503)
                || contains(sigalgs, 0x0603) || contains(sigalgs, 0x0203))
                && (groups == null || contains(groups, group));
    }

    /**
     * RSA: TLS 1.3 signs with RSA-PSS (rsa_pss_rsae_*); TLS 1.2 needs an ECDHE-RSA suite and an RSA scheme
     * (PKCS#1 or PSS), or no signature_algorithms.
     */
    private boolean rsa() {
        final boolean pss = contains(sigalgs, 0x0804) || contains(sigalgs, 0x0805) || contains(sigalgs, 0x0806);
        if (tls13) {
            return pss;
        }
        return rsaCipher && (sigalgs == null || pss || contains(sigalgs, 0x0401) || contains(sigalgs, 0x0501)
                || contains(sigalgs, 0x0601) || contains(sigalgs, 0x0201));
    }

    private static boolean contains(int[] a, int v) {
        if (a == null) {
            return false;
        }
        for (int x : a) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }
}
