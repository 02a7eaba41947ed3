package dev.postern.proxy.tls;

import dev.postern.config.tls.CertificateKeyPair;

import io.netty.handler.codec.http2.Http2SecurityUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;

import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import javax.net.ssl.SSLException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server TLS contexts, one per certificate, built once and reused across config reloads (a certificate and key
 * that did not change keep their context, and so their session-ticket keys). BoringSSL (netty-tcnative) is the
 * provider; if it cannot load, Postern says so loudly and uses the JDK's. TLS 1.2 and 1.3 only, a modern cipher
 * list, ALPN {@code h2} and {@code http/1.1}.
 *
 * <p>Thread-safety: safe from any thread.
 */
public final class ServerTls {
    private static final Logger LOG = LoggerFactory.getLogger(ServerTls.class);
    private static final SslProvider PROVIDER = chooseProvider();

    private final Map<CertificateKeyPair, SslContext> contexts = new ConcurrentHashMap<>();

    private static SslProvider chooseProvider() {
        if (OpenSsl.isAvailable()) {
            LOG.info("TLS provider: BoringSSL ({})", OpenSsl.versionString());
            return SslProvider.OPENSSL;
        }
        LOG.error("BoringSSL (netty-tcnative) cannot load, so TLS falls back to the JDK provider, which is slower: {}",
                String.valueOf(OpenSsl.unavailabilityCause()));
        return SslProvider.JDK;
    }

    /** The provider in use. */
    public static SslProvider provider() {
        return PROVIDER;
    }

    /** The context for a certificate, built on first use. */
    public SslContext context(CertificateKeyPair pair) {
        return contexts.computeIfAbsent(pair, ServerTls::build);
    }

    /** Drops the contexts of certificates no longer in use. */
    public void retain(Set<CertificateKeyPair> live) {
        contexts.keySet().retainAll(live);
    }

    private static SslContext build(CertificateKeyPair p) {
        try {
            return SslContextBuilder.forServer(p.key(), p.chain().toArray(X509Certificate[]::new))
                    .sslProvider(PROVIDER)
                    .protocols("TLSv1.3", "TLSv1.2")
                    .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                    .applicationProtocolConfig(new ApplicationProtocolConfig(
                            ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                            ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1))
                    .build();
        } catch (SSLException e) {
            throw new IllegalArgumentException("cannot build a TLS context for " + p.source() + ": " + e, e);
        }
    }
}
