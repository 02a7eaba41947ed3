package dev.postern.proxy.tls;

import dev.postern.config.tls.CertificateKeyPair;
import dev.postern.config.tls.ClientValidation;

import io.netty.handler.codec.http2.Http2SecurityUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.OpenSslSessionTicketKey;
import io.netty.handler.ssl.OpenSslX509KeyManagerFactory;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;

import java.security.SecureRandom;
import java.security.interfaces.RSAPrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server TLS contexts, one per certificate and client validation, built once and reused across config reloads (a
 * certificate, key and CA bundle that did not change keep their context). A changed Secret or ConfigMap is a new
 * value, so it gets a new context, used by the next handshake; established connections keep the engine they
 * were made with. BoringSSL (netty-tcnative) is the provider; if it cannot load, Postern says so loudly and uses
 * the JDK's. TLS 1.2 and 1.3 only, a modern cipher list, ALPN {@code h2} and {@code http/1.1}.
 *
 * <p>Session resumption uses tickets. Every context shares one key ring: a new key is made every
 * {@code ticketKeyRotation}; it encrypts new tickets, and the previous key still decrypts, so a ticket lives at
 * most two rotation periods. (With the JDK provider Postern does not manage ticket keys.)
 *
 * <p>RSA signatures ({@link RsaSigner}): by default a certificate with an RSA key signs its handshakes with the
 * system's OpenSSL 3 libcrypto ({@link LibcryptoRsaSigner}, a BoringSSL private-key method), which is about three
 * times faster than BoringSSL's RSA here; BoringSSL signs when libcrypto.so.3 does not load, when the key fails
 * the self-check, for ECDSA keys, and with {@code tls.rsaSigner: boringssl}.
 *
 * <p>Thread-safety: safe from any thread.
 */
public final class ServerTls implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServerTls.class);
    private static final SslProvider PROVIDER = chooseProvider();
    /** Who makes the RSA signatures of full handshakes (bootstrap {@code tls.rsaSigner}). */
    public enum RsaSigner {
        /** The system's OpenSSL 3 libcrypto.so.3 through FFM, when it loads and passes the self-check. */
        LIBCRYPTO,
        /** BoringSSL's own RSA (netty-tcnative). */
        BORINGSSL;

        /** The bootstrap spelling: {@code libcrypto} or {@code boringssl}. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** The default rotation period of session ticket keys. */
    public static final Duration DEFAULT_TICKET_KEY_ROTATION = Duration.ofHours(1);

    /** What makes two server contexts the same. */
    private record Key(CertificateKeyPair pair, ClientValidation validation) {
    }

    private final Map<Key, SslContext> contexts = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();
    private final ScheduledExecutorService rotation;
    /** The ticket keys, the encrypting one first; replaced whole on rotation. */
    private volatile OpenSslSessionTicketKey[] ticketKeys;

    /** The rotation period of the ticket keys. */
    private final Duration ticketKeyRotation;

    /** The provider of this instance: BoringSSL when it loads, unless {@code -Dpostern.tls.forceJdk=true}. */
    private final SslProvider provider;

    /** True when RSA keys sign through libcrypto (asked for, BoringSSL in use, libcrypto loaded). */
    private final boolean libcryptoRsa;
    /** Signatures made by libcrypto for this instance's contexts. */
    private final LongAdder libcryptoSignatures = new LongAdder();

    private static SslProvider chooseProvider() {
        if (OpenSsl.isAvailable()) {
            LOG.info("TLS provider: BoringSSL ({})", OpenSsl.versionString());
            return SslProvider.OPENSSL;
        }
        LOG.error("BoringSSL (netty-tcnative) cannot load, so TLS falls back to the JDK provider, which is slower: {}",
                String.valueOf(OpenSsl.unavailabilityCause()));
        return SslProvider.JDK;
    }

    /** Creates the contexts with session ticket keys rotated every hour. */
    public ServerTls() {
        this(DEFAULT_TICKET_KEY_ROTATION);
    }

    /**
     * Creates the contexts with session ticket keys rotated every {@code ticketKeyRotation}, RSA signatures by
     * libcrypto when it is available.
     */
    public ServerTls(Duration ticketKeyRotation) {
        this(ticketKeyRotation, RsaSigner.LIBCRYPTO);
    }

    /** Creates the contexts with session ticket keys rotated every {@code ticketKeyRotation}. */
    public ServerTls(Duration ticketKeyRotation, RsaSigner rsaSigner) {
        if (Boolean.getBoolean("postern.tls.forceJdk") && PROVIDER != SslProvider.JDK) {
            LOG.error("TLS provider: JDK, forced by -Dpostern.tls.forceJdk=true; BoringSSL is not used, TLS is slower "
                    + "and session ticket keys are not managed");
            this.provider = SslProvider.JDK;
        } else {
            this.provider = PROVIDER;
        }
        this.libcryptoRsa = chooseRsaSigner(java.util.Objects.requireNonNull(rsaSigner, "rsaSigner"), provider);
        this.ticketKeys = new OpenSslSessionTicketKey[] {newTicketKey()};
        this.rotation = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, "postern-tls-ticket-keys");
            t.setDaemon(true);
            return t;
        });
        this.ticketKeyRotation = ticketKeyRotation;
        final long ms = Math.max(1, ticketKeyRotation.toMillis());
        rotation.scheduleAtFixedRate(this::rotateTicketKeys, ms, ms, TimeUnit.MILLISECONDS);
    }

    private static boolean chooseRsaSigner(RsaSigner asked, SslProvider provider) {
        if (asked == RsaSigner.BORINGSSL) {
            LOG.info("RSA signatures: BoringSSL (tls.rsaSigner: boringssl)");
            return false;
        }
        if (provider != SslProvider.OPENSSL) {
            return false; // the JDK provider has no private-key method; it was logged already
        }
        if (!LibcryptoRsaSigner.available()) {
            LOG.warn("RSA signatures: BoringSSL, because {} does not load (tls.rsaSigner: libcrypto needs OpenSSL 3"
                    + " and --enable-native-access=ALL-UNNAMED): {}", Libcrypto.LIBRARY,
                    String.valueOf(LibcryptoRsaSigner.unavailabilityCause()));
            return false;
        }
        LOG.info("RSA signatures: system OpenSSL 3 {} (tls.rsaSigner: libcrypto), each key after a self-check",
                Libcrypto.LIBRARY);
        return true;
    }

    /**
     * Who signs for RSA keys: libcrypto when asked for and loaded (per key, after its self-check), else
     * {@code BORINGSSL}, which means the provider's own signing (the JDK's with {@code postern.tls.forceJdk}).
     */
    public RsaSigner rsaSigner() {
        return libcryptoRsa ? RsaSigner.LIBCRYPTO : RsaSigner.BORINGSSL;
    }

    /** RSA signatures made by libcrypto so far (metric {@code gateway_tls_private_key_signatures_total}). */
    public long libcryptoSignatures() {
        return libcryptoSignatures.sum();
    }

    /** The rotation period of the session ticket keys (bootstrap {@code tls.sessionTicketKeyRotation}). */
    public Duration ticketKeyRotation() {
        return ticketKeyRotation;
    }

    /** The provider in use. */
    public SslProvider provider() {
        return provider;
    }

    /** The context for a certificate without client validation, built on first use. */
    public SslContext context(CertificateKeyPair pair) {
        return context(pair, null);
    }

    /** The context for a certificate and a client validation (null for none), built on first use. */
    public SslContext context(CertificateKeyPair pair, ClientValidation validation) {
        return contexts.computeIfAbsent(new Key(pair, validation), this::build);
    }

    /** Drops the contexts of certificates and client validations no longer in use. */
    public void retain(Set<CertificateKeyPair> live, Set<ClientValidation> liveValidations) {
        contexts.keySet().removeIf(k -> !live.contains(k.pair())
                || (k.validation() != null && !liveValidations.contains(k.validation())));
    }

    /** The number of contexts held (for tests). */
    public int size() {
        return contexts.size();
    }

    /**
     * Makes a new ticket key: it encrypts new tickets from now on, the previous one still decrypts, older ones are
     * forgotten. Runs on the schedule; public for tests and operators.
     */
    public void rotateTicketKeys() {
        final OpenSslSessionTicketKey[] old = ticketKeys;
        final OpenSslSessionTicketKey[] next = {newTicketKey(), old[0]};
        ticketKeys = next;
        for (SslContext c : contexts.values()) {
            applyTicketKeys(c, next);
        }
        LOG.debug("session ticket keys rotated ({} contexts)", contexts.size());
    }

    private OpenSslSessionTicketKey newTicketKey() {
        final byte[] name = new byte[OpenSslSessionTicketKey.NAME_SIZE];
        final byte[] hmac = new byte[OpenSslSessionTicketKey.HMAC_KEY_SIZE];
        final byte[] aes = new byte[OpenSslSessionTicketKey.AES_KEY_SIZE];
        random.nextBytes(name);
        random.nextBytes(hmac);
        random.nextBytes(aes);
        return new OpenSslSessionTicketKey(name, hmac, aes);
    }

    private static void applyTicketKeys(SslContext c, OpenSslSessionTicketKey[] keys) {
        if (c.sessionContext() instanceof OpenSslSessionContext s) {
            s.setTicketKeys(keys);
        }
    }

    private SslContext build(Key k) {
        final CertificateKeyPair p = k.pair();
        try {
            final X509Certificate[] chain = p.chain().toArray(X509Certificate[]::new);
            final LibcryptoRsaSigner signer = libcryptoRsa && p.key() instanceof RSAPrivateKey
                    ? LibcryptoRsaSigner.create(p.key(), chain[0], p.source(), libcryptoSignatures) : null;
            // With the libcrypto signer BoringSSL gets the chain only (a keyless key manager): a private key in
            // the per-handshake key material would take precedence over the context's private-key method.
            final SslContextBuilder b = (signer != null
                    ? SslContextBuilder.forServer(OpenSslX509KeyManagerFactory.newKeyless(chain))
                            .option(OpenSslContextOption.PRIVATE_KEY_METHOD, signer)
                    : SslContextBuilder.forServer(p.key(), chain))
                    .sslProvider(provider)
                    .protocols("TLSv1.3", "TLSv1.2")
                    .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                    .applicationProtocolConfig(new ApplicationProtocolConfig(
                            ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                            ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1));
            final ClientValidation v = k.validation();
            if (v != null) {
                // AllowValidOnly: a certificate is required and must chain to the bundle. AllowInsecureFallback:
                // one is asked for (so a client that has one sends it) but neither its absence nor a failed
                // validation ends the handshake.
                b.trustManager(TrustManagers.client(TrustManagers.pkix(v.trustAnchors()), v.insecureFallback()))
                        .clientAuth(v.insecureFallback() ? ClientAuth.OPTIONAL : ClientAuth.REQUIRE);
            }
            final SslContext c = b.build();
            applyTicketKeys(c, ticketKeys);
            return c;
        } catch (java.security.GeneralSecurityException | java.io.IOException e) {
            throw new IllegalArgumentException("cannot build a TLS context for " + p.source() + ": " + e, e);
        }
    }

    @Override
    public void close() {
        rotation.shutdownNow();
    }
}
