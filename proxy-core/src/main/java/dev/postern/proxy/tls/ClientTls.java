package dev.postern.proxy.tls;

import dev.postern.config.tls.UpstreamTls;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import javax.net.ssl.SSLException;

/**
 * Client TLS contexts for backends (BackendTLSPolicy), one per distinct {@link UpstreamTls}, built once and
 * reused across reloads. The backend's chain must verify against the policy's CA bundle (or the JDK's trust
 * store for {@code System}); then its certificate must carry one of the policy's subject alt names, or, when the
 * policy lists none, be valid for the policy's hostname. The hostname is the SNI.
 *
 * <p>When the Gateway has {@code spec.tls.backend.clientCertificateRef}, its certificate is presented to backends
 * that ask for one (it is part of the {@link UpstreamTls} value, so of the pool key too).
 *
 * <p>ALPN offers one protocol, the one the cluster speaks: {@code h2} for HTTP/2 (h2c and gRPC backends),
 * {@code http/1.1} otherwise, as Envoy does (its {@code http_default_alpn}). A backend that selects nothing is
 * still spoken to in that protocol (Envoy's behaviour; see {@code UpstreamPool} for HTTP/2).
 *
 * <p>Thread-safety: safe from any thread.
 */
public final class ClientTls {
    /** What makes two client contexts the same: the policy's settings and the protocol offered by ALPN. */
    private record Key(UpstreamTls tls, boolean h2) {
    }

    private final Map<Key, SslContext> contexts = new ConcurrentHashMap<>();
    private final io.netty.handler.ssl.SslProvider provider;

    /** Creates the contexts, built with {@code provider} (the one the server side uses). */
    public ClientTls(io.netty.handler.ssl.SslProvider provider) {
        this.provider = provider;
    }

    /** The HTTP/1.1 context for a policy's settings (see {@link #context(UpstreamTls, boolean)}). */
    public SslContext context(UpstreamTls tls) throws SSLException {
        return context(tls, false);
    }

    /**
     * The context for a policy's settings, offering {@code h2} by ALPN when {@code h2}, else {@code http/1.1};
     * throws {@link SSLException} when the policy has no usable CA (the connection must fail).
     */
    public SslContext context(UpstreamTls tls, boolean h2) throws SSLException {
        if (tls.invalid() != null) {
            throw new SSLException("BackendTLSPolicy " + tls.policy() + " cannot be used: " + tls.invalid());
        }
        final Key k = new Key(tls, h2);
        final SslContext c = contexts.get(k);
        return c != null ? c : contexts.computeIfAbsent(k, this::build);
    }

    /** Drops the contexts no longer used by any cluster. */
    public void retain(Set<UpstreamTls> live) {
        contexts.keySet().removeIf(k -> !live.contains(k.tls()));
    }

    /** The number of contexts held (for tests). */
    public int size() {
        return contexts.size();
    }

    private SslContext build(Key k) {
        final UpstreamTls t = k.tls();
        final List<String> names = t.subjectAltNames().isEmpty() ? List.of("dns:" + t.sni()) : t.subjectAltNames();
        try {
            final SslContextBuilder b = SslContextBuilder.forClient();
            if (t.clientCertificate() != null) {
                // The Gateway's spec.tls.backend.clientCertificateRef, sent when the backend asks for one.
                b.keyManager(t.clientCertificate().key(), t.clientCertificate().chain()
                        .toArray(java.security.cert.X509Certificate[]::new));
            }
            return b
                    .sslProvider(provider)
                    .protocols("TLSv1.3", "TLSv1.2")
                    // Names are checked by our trust manager (SANs or the hostname), not by endpoint
                    // identification against the address we connect to (a pod IP).
                    .endpointIdentificationAlgorithm(null)
                    .trustManager(TrustManagers.server(TrustManagers.pkix(t.systemTrust() ? null
                            : t.trustAnchors()), names))
                    .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                            k.h2() ? ApplicationProtocolNames.HTTP_2 : ApplicationProtocolNames.HTTP_1_1))
                    .build();
        } catch (SSLException e) {
            throw new IllegalArgumentException("cannot build a TLS client context for " + t.policy() + ": " + e, e);
        }
    }
}
