package dev.postern.config.runtime;

import dev.postern.config.tls.CertificateKeyPair;
import dev.postern.config.tls.ClientValidation;

import java.util.List;
import java.util.Locale;

/**
 * How an HTTPS socket picks its certificate from the client's SNI: the most specific listener for the SNI
 * hostname (exact, then wildcard, then the listener without hostname), then that listener's certificate whose
 * DNS names cover the SNI, else its first. Without SNI, or with an SNI no listener covers, the default listener
 * (the one without hostname, else the first) answers with its first certificate.
 *
 * @param listeners the listeners' certificates by listener hostname
 * @param fallback the default listener's certificates
 */
public record TlsTable(HostIndex<ListenerCerts> listeners, ListenerCerts fallback) {

    /**
     * The certificates of one listener, in certificateRefs order.
     *
     * @param listener the listener name, {@code gateway/<ns>/<name>/listener/<listener>}
     * @param certificates the certificates, at least one
     * @param clientValidation the client certificate validation of the port, or null for none
     */
    public record ListenerCerts(String listener, List<CertificateKeyPair> certificates,
                                ClientValidation clientValidation) {
        /** Copies the list. */
        public ListenerCerts {
            certificates = List.copyOf(certificates);
        }

        /** The certificate for an SNI hostname: the first whose names cover it, else the first. */
        public CertificateKeyPair select(String sni) {
            if (sni != null) {
                for (CertificateKeyPair c : certificates) {
                    for (String n : c.dnsNames()) {
                        if (covers(n, sni)) {
                            return c;
                        }
                    }
                }
            }
            return certificates.getFirst();
        }

        /**
         * The certificate for an SNI hostname and a client, when a name has several certificates (an ECDSA and an
         * RSA one, as nginx and Envoy allow). The candidates are the certificates whose names cover the SNI, or,
         * without SNI or with an unknown one, those with the same names as the first (the default). Among them the
         * one with the highest {@code score} wins, the first in certificateRefs order on a tie; a scorer ranks what
         * the client can verify, ECDSA first (see {@code ClientHelloCapabilities} in proxy-core). With one
         * certificate, or one candidate, this is {@link #select(String)}.
         */
        public CertificateKeyPair select(String sni, java.util.function.ToIntFunction<CertificateKeyPair> score) {
            if (certificates.size() == 1) {
                return certificates.getFirst();
            }
            CertificateKeyPair best = null;
            int bestScore = Integer.MIN_VALUE;
            if (sni != null) {
                for (CertificateKeyPair c : certificates) {
                    if (coversAny(c, sni)) {
                        final int sc = score.applyAsInt(c);
                        if (sc > bestScore) {
                            best = c;
                            bestScore = sc;
                        }
                    }
                }
            }
            if (best == null) {
                final List<String> names = certificates.getFirst().dnsNames();
                for (CertificateKeyPair c : certificates) {
                    if (c.dnsNames().equals(names)) {
                        final int sc = score.applyAsInt(c);
                        if (sc > bestScore) {
                            best = c;
                            bestScore = sc;
                        }
                    }
                }
            }
            return best;
        }

        private static boolean coversAny(CertificateKeyPair c, String sni) {
            for (String n : c.dnsNames()) {
                if (covers(n, sni)) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Chooses the listener for an SNI hostname (lower case; null when the client sent none). */
    public ListenerCerts listenerFor(String sni) {
        if (sni == null) {
            return fallback;
        }
        final ListenerCerts l = listeners.find(sni.toLowerCase(Locale.ROOT));
        return l == null ? fallback : l;
    }

    /**
     * Whether the SNI names a listener and one of its certificates covers it; false means the client gets the
     * default certificate (counted as unknown SNI).
     */
    public boolean knows(String sni) {
        if (sni == null) {
            return false;
        }
        final String h = sni.toLowerCase(Locale.ROOT);
        final ListenerCerts l = listeners.find(h);
        if (l == null) {
            return false;
        }
        for (CertificateKeyPair c : l.certificates()) {
            for (String n : c.dnsNames()) {
                if (covers(n, h)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Chooses the certificate for an SNI hostname. */
    public CertificateKeyPair select(String sni) {
        return listenerFor(sni).select(sni == null ? null : sni.toLowerCase(Locale.ROOT));
    }

    /** Certificate name matching (RFC 6125: a wildcard covers exactly one label). */
    static boolean covers(String certName, String host) {
        if (certName.equals(host) || certName.equals("*")) {
            return true;
        }
        if (certName.startsWith("*.")) {
            final int dot = host.indexOf('.');
            return dot > 0 && host.substring(dot).equals(certName.substring(1));
        }
        return false;
    }
}
