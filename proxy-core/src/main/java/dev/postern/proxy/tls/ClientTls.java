package dev.postern.proxy.tls;

import dev.postern.config.tls.UpstreamTls;

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
 * <p>Thread-safety: safe from any thread.
 */
public final class ClientTls {
    private final Map<UpstreamTls, SslContext> contexts = new ConcurrentHashMap<>();
    private final io.netty.handler.ssl.SslProvider provider;

    /** Creates the contexts, built with {@code provider} (the one the server side uses). */
    public ClientTls(io.netty.handler.ssl.SslProvider provider) {
        this.provider = provider;
    }

    /**
     * The context for a policy's settings; throws {@link SSLException} when the policy has no usable CA (the
     * connection must fail).
     */
    public SslContext context(UpstreamTls tls) throws SSLException {
        if (tls.invalid() != null) {
            throw new SSLException("BackendTLSPolicy " + tls.policy() + " cannot be used: " + tls.invalid());
        }
        final SslContext c = contexts.get(tls);
        return c != null ? c : contexts.computeIfAbsent(tls, this::build);
    }

    /** Drops the contexts no longer used by any cluster. */
    public void retain(Set<UpstreamTls> live) {
        contexts.keySet().retainAll(live);
    }

    private SslContext build(UpstreamTls t) {
        final List<String> names = t.subjectAltNames().isEmpty() ? List.of("dns:" + t.sni()) : t.subjectAltNames();
        try {
            return SslContextBuilder.forClient()
                    .sslProvider(provider)
                    .protocols("TLSv1.3", "TLSv1.2")
                    // Names are checked by our trust manager (SANs or the hostname), not by endpoint
                    // identification against the address we connect to (a pod IP).
                    .endpointIdentificationAlgorithm(null)
                    .trustManager(TrustManagers.server(TrustManagers.pkix(t.systemTrust() ? null
                            : t.trustAnchors()), names))
                    .build();
        } catch (SSLException e) {
            throw new IllegalArgumentException("cannot build a TLS client context for " + t.policy() + ": " + e, e);
        }
    }
}
