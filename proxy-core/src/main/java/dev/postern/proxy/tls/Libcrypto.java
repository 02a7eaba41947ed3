package dev.postern.proxy.tls;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * The few functions of the system's OpenSSL 3 {@code libcrypto.so.3} that RSA signing needs, bound once through
 * the FFM API (java.lang.foreign). The process needs {@code --enable-native-access=ALL-UNNAMED}, which the
 * {@code postern} launcher, perf/run and the tests pass.
 *
 * <p>Why: BoringSSL as built into netty-tcnative takes about 600 µs per RSA-2048 signature on the machines we
 * measured, OpenSSL 3 (whose RSA has an AVX-512 IFMA path) 174 µs; see {@link LibcryptoRsaSigner}.
 *
 * <p>Thread-safety: immutable; the functions are safe from any thread on distinct contexts, and an
 * {@code EVP_PKEY} may sign from several threads at once (OpenSSL 3 treats a key as read-only once built).
 */
final class Libcrypto {
    /** The library searched for; OpenSSL 3's ABI. */
    static final String LIBRARY = "libcrypto.so.3";
    /** OpenSSL's {@code EVP_PKEY_RSA} (NID_rsaEncryption). */
    private static final int EVP_PKEY_RSA = 6;
    /** OpenSSL's {@code RSA_PKCS1_PSS_PADDING}. */
    private static final int RSA_PKCS1_PSS_PADDING = 6;
    /** OpenSSL's {@code RSA_PSS_SALTLEN_DIGEST}: the salt is as long as the digest, as TLS requires. */
    private static final int RSA_PSS_SALTLEN_DIGEST = -1;

    /** The digests TLS signs with, by OpenSSL's {@code EVP_shaN()} pointer. */
    enum Digest {
        SHA1("EVP_sha1"), SHA256("EVP_sha256"), SHA384("EVP_sha384"), SHA512("EVP_sha512");

        final String function;

        Digest(String function) {
            this.function = function;
        }
    }

    private static final Libcrypto INSTANCE;
    private static final Throwable UNAVAILABLE;

    static {
        Libcrypto lib = null;
        Throwable cause = null;
        try {
            lib = new Libcrypto(SymbolLookup.libraryLookup(LIBRARY, Arena.global()));
        } catch (Throwable t) { // IllegalArgumentException (no library), IllegalCallerException (no native access)
            cause = t;
        }
        INSTANCE = lib;
        UNAVAILABLE = cause;
    }

    private final MethodHandle d2iAutoPrivateKey;
    private final MethodHandle pkeyFree;
    private final MethodHandle pkeyBaseId;
    private final MethodHandle pkeySize;
    private final MethodHandle mdCtxNew;
    private final MethodHandle mdCtxFree;
    private final MethodHandle digestSignInit;
    private final MethodHandle digestSign;
    private final MethodHandle setRsaPadding;
    private final MethodHandle setRsaPssSaltLen;
    private final MethodHandle errGetError;
    private final MethodHandle errClearError;
    private final MethodHandle errErrorStringN;
    /** The {@code const EVP_MD *} of each {@link Digest}, by ordinal (static objects in libcrypto). */
    private final MemorySegment[] digests;

    private Libcrypto(SymbolLookup lookup) throws Throwable {
        final Linker linker = Linker.nativeLinker();
        d2iAutoPrivateKey = bind(linker, lookup, "d2i_AutoPrivateKey",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
        pkeyFree = bind(linker, lookup, "EVP_PKEY_free", FunctionDescriptor.ofVoid(ADDRESS));
        pkeyBaseId = bind(linker, lookup, "EVP_PKEY_get_base_id", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        pkeySize = bind(linker, lookup, "EVP_PKEY_get_size", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mdCtxNew = bind(linker, lookup, "EVP_MD_CTX_new", FunctionDescriptor.of(ADDRESS));
        mdCtxFree = bind(linker, lookup, "EVP_MD_CTX_free", FunctionDescriptor.ofVoid(ADDRESS));
        digestSignInit = bind(linker, lookup, "EVP_DigestSignInit",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        digestSign = bind(linker, lookup, "EVP_DigestSign",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
        setRsaPadding = bind(linker, lookup, "EVP_PKEY_CTX_set_rsa_padding",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        setRsaPssSaltLen = bind(linker, lookup, "EVP_PKEY_CTX_set_rsa_pss_saltlen",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        errGetError = bind(linker, lookup, "ERR_get_error", FunctionDescriptor.of(JAVA_LONG));
        errClearError = bind(linker, lookup, "ERR_clear_error", FunctionDescriptor.ofVoid());
        errErrorStringN = bind(linker, lookup, "ERR_error_string_n",
                FunctionDescriptor.ofVoid(JAVA_LONG, ADDRESS, JAVA_LONG));
        digests = new MemorySegment[Digest.values().length];
        for (Digest d : Digest.values()) {
            final MemorySegment md = (MemorySegment) bind(linker, lookup, d.function, FunctionDescriptor.of(ADDRESS))
                    .invokeExact();
            if (md.equals(MemorySegment.NULL)) {
                throw new IllegalStateException(LIBRARY + ": " + d.function + "() returned NULL");
            }
            digests[d.ordinal()] = md;
        }
    }

    private static MethodHandle bind(Linker linker, SymbolLookup lookup, String name, FunctionDescriptor fd) {
        return linker.downcallHandle(lookup.find(name).orElseThrow(
                () -> new IllegalStateException(LIBRARY + " has no symbol " + name)), fd);
    }

    /** The library, or null when it did not load (see {@link #unavailabilityCause()}). */
    static Libcrypto instance() {
        return INSTANCE;
    }

    /** Why the library did not load, or null. */
    static Throwable unavailabilityCause() {
        return UNAVAILABLE;
    }

    /**
     * Loads an RSA private key from its PKCS#8 DER encoding ({@code PrivateKey.getEncoded()}) into an
     * {@code EVP_PKEY}, which the caller frees with {@link #freeKey}.
     *
     * @return the key's address
     * @throws IllegalArgumentException if libcrypto cannot read it or it is not an RSA key
     */
    long loadRsaKey(byte[] pkcs8) {
        try (Arena a = Arena.ofConfined()) {
            final MemorySegment der = a.allocateFrom(JAVA_BYTE, pkcs8);
            final MemorySegment cursor = a.allocate(ADDRESS);
            cursor.set(ADDRESS, 0, der);
            final MemorySegment key;
            try {
                key = (MemorySegment) d2iAutoPrivateKey.invokeExact(MemorySegment.NULL, cursor, (long) pkcs8.length);
            } finally {
                der.fill((byte) 0); // the key's DER copy does not outlive the call
            }
            if (key.equals(MemorySegment.NULL)) {
                throw new IllegalArgumentException("libcrypto cannot read the private key: " + errors());
            }
            // Trying the decoders in turn can leave errors queued on this thread even on success.
            errClearError.invokeExact();
            final int id = (int) pkeyBaseId.invokeExact(key);
            if (id != EVP_PKEY_RSA) {
                pkeyFree.invokeExact(key);
                throw new IllegalArgumentException("not an RSA key (libcrypto key type " + id + ")");
            }
            return key.address();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Frees a key made by {@link #loadRsaKey}. */
    void freeKey(long key) {
        try {
            pkeyFree.invokeExact(MemorySegment.ofAddress(key));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** The largest signature of a key, in bytes (its modulus length for RSA). */
    int signatureSize(long key) {
        try {
            return (int) pkeySize.invokeExact(MemorySegment.ofAddress(key));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Signs {@code message} (hashed here with {@code digest}) with an RSA key: PKCS#1 v1.5, or PSS with MGF1 over the
     * same digest and a salt as long as the digest (TLS's rsa_pss_rsae_* schemes).
     *
     * @param maxSize {@link #signatureSize} of the key
     * @throws IllegalStateException naming libcrypto's error when signing fails
     */
    byte[] sign(long key, Digest digest, boolean pss, byte[] message, int maxSize) {
        final MemorySegment ctx;
        try {
            ctx = (MemorySegment) mdCtxNew.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (ctx.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("libcrypto: EVP_MD_CTX_new failed");
        }
        // One allocation for the message, the signature, its length and the EVP_PKEY_CTX out-parameter.
        try (Arena a = Arena.ofConfined()) {
            final MemorySegment slab = a.allocate(16L + maxSize + message.length, 8);
            final MemorySegment pctx = slab.asSlice(0, 8);
            final MemorySegment sigLen = slab.asSlice(8, 8);
            final MemorySegment sig = slab.asSlice(16, maxSize);
            final MemorySegment in = slab.asSlice(16L + maxSize, message.length);
            MemorySegment.copy(message, 0, in, JAVA_BYTE, 0, message.length);
            sigLen.set(JAVA_LONG, 0, maxSize);
            if ((int) digestSignInit.invokeExact(ctx, pctx, digests[digest.ordinal()], MemorySegment.NULL,
                    MemorySegment.ofAddress(key)) != 1) {
                throw new IllegalStateException("libcrypto: EVP_DigestSignInit failed: " + errors());
            }
            if (pss) {
                final MemorySegment p = pctx.get(ADDRESS, 0);
                if ((int) setRsaPadding.invokeExact(p, RSA_PKCS1_PSS_PADDING) != 1
                        || (int) setRsaPssSaltLen.invokeExact(p, RSA_PSS_SALTLEN_DIGEST) != 1) {
                    throw new IllegalStateException("libcrypto: cannot set RSA-PSS parameters: " + errors());
                }
            }
            if ((int) digestSign.invokeExact(ctx, sig, sigLen, in, (long) message.length) != 1) {
                throw new IllegalStateException("libcrypto: EVP_DigestSign failed: " + errors());
            }
            return sig.asSlice(0, sigLen.get(JAVA_LONG, 0)).toArray(JAVA_BYTE);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        } finally {
            try {
                mdCtxFree.invokeExact(ctx);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }

    /** Drains this thread's libcrypto error queue into one message. */
    private String errors() throws Throwable {
        final StringBuilder s = new StringBuilder();
        try (Arena a = Arena.ofConfined()) {
            final MemorySegment buf = a.allocate(256);
            for (long e = (long) errGetError.invokeExact(); e != 0; e = (long) errGetError.invokeExact()) {
                errErrorStringN.invokeExact(e, buf, 256L);
                if (!s.isEmpty()) {
                    s.append("; ");
                }
                s.append(buf.getString(0));
            }
        }
        return s.isEmpty() ? "no error queued" : s.toString();
    }
}
