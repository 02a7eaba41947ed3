package dev.postern.proxy.tls;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * The trust managers Postern builds: PKIX over a CA bundle (or the JDK's trust store), optionally checking the
 * peer's subject alternative names, or accepting any client certificate (insecure fallback).
 */
final class TrustManagers {
    private TrustManagers() {
    }

    /** PKIX validation against {@code anchors}, or against the JDK's trust store when {@code anchors} is null. */
    static X509TrustManager pkix(List<X509Certificate> anchors) {
        try {
            final TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            if (anchors == null) {
                f.init((KeyStore) null);
            } else {
                final KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
                ks.load(null, null);
                for (int i = 0; i < anchors.size(); i++) {
                    ks.setCertificateEntry("ca-" + i, anchors.get(i));
                }
                f.init(ks);
            }
            for (TrustManager tm : f.getTrustManagers()) {
                if (tm instanceof X509TrustManager x) {
                    return x;
                }
            }
            throw new IllegalStateException("no X509TrustManager");
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalStateException("cannot build a trust manager: " + e, e);
        }
    }

    /**
     * A server-side trust manager: {@code delegate} validates client certificates; with {@code fallback}, a
     * failure is forgiven (AllowInsecureFallback), so the handshake goes on and the backend decides.
     */
    static X509ExtendedTrustManager client(X509TrustManager delegate, boolean fallback) {
        return new Checked(delegate, List.of(), fallback);
    }

    /**
     * A client-side trust manager for a backend: {@code delegate} validates the chain; then the leaf must carry
     * one of {@code names} ({@code dns:<host>}, wildcards one label deep, or {@code uri:<uri>}).
     */
    static X509ExtendedTrustManager server(X509TrustManager delegate, List<String> names) {
        return new Checked(delegate, List.copyOf(names), false);
    }

    /** Chain validation by the delegate (never its hostname check), then the name check; optionally forgiving. */
    private static final class Checked extends X509ExtendedTrustManager {
        private final X509TrustManager delegate;
        private final List<String> names;
        private final boolean forgiving;

        Checked(X509TrustManager delegate, List<String> names, boolean forgiving) {
            this.delegate = delegate;
            this.names = names;
            this.forgiving = forgiving;
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            try {
                delegate.checkClientTrusted(chain, authType);
            } catch (CertificateException e) {
                if (!forgiving) {
                    throw e;
                }
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            delegate.checkServerTrusted(chain, authType);
            if (!names.isEmpty()) {
                checkNames(chain[0], names);
            }
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket s)
                throws CertificateException {
            checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket s)
                throws CertificateException {
            checkServerTrusted(chain, authType);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine e)
                throws CertificateException {
            checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine e)
                throws CertificateException {
            checkServerTrusted(chain, authType);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return delegate.getAcceptedIssuers();
        }
    }

    /** Fails unless the certificate has a SAN among {@code names}. */
    static void checkNames(X509Certificate leaf, List<String> names) throws CertificateException {
        final Collection<List<?>> sans;
        try {
            sans = leaf.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            throw new CertificateException("cannot read the subject alternative names: " + e.getMessage(), e);
        }
        final StringBuilder seen = new StringBuilder();
        if (sans != null) {
            for (List<?> san : sans) {
                final int type = (Integer) san.get(0);
                final String value = String.valueOf(san.get(1));
                if (type == 2) {
                    final String dns = value.toLowerCase(Locale.ROOT);
                    seen.append(seen.isEmpty() ? "" : ", ").append("DNS:").append(dns);
                    for (String n : names) {
                        if (n.startsWith("dns:") && dnsMatches(dns, n.substring(4))) {
                            return;
                        }
                    }
                } else if (type == 6) {
                    seen.append(seen.isEmpty() ? "" : ", ").append("URI:").append(value);
                    for (String n : names) {
                        if (n.startsWith("uri:") && n.substring(4).equals(value)) {
                            return;
                        }
                    }
                }
            }
        }
        throw new CertificateException("the backend certificate's subject alternative names [" + seen
                + "] match none of " + names);
    }

    /** RFC 6125 matching of a certificate DNS name (maybe {@code *.x}) against a host name. */
    static boolean dnsMatches(String certName, String host) {
        final String h = host.toLowerCase(Locale.ROOT);
        if (certName.equals(h)) {
            return true;
        }
        if (certName.startsWith("*.")) {
            final int dot = h.indexOf('.');
            return dot > 0 && h.substring(dot).equals(certName.substring(1));
        }
        return false;
    }
}
