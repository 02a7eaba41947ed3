package dev.postern.proxy.http;

import dev.postern.config.runtime.RequestView;

import io.netty.handler.codec.http.HttpHeaders;

import java.util.Locale;

/**
 * The parts of a request head that routing reads: method, host (lower case, no port), path and query, split
 * once from the request target, the path normalized by the bootstrap's policy ({@link PathNormalizer}). Origin-form ({@code /p?q}) and absolute-form ({@code http://h/p?q}) targets are
 * accepted; in absolute form the target's authority wins over the Host header (RFC 9112 §3.2.2).
 */
public final class RequestHead implements RequestView {
    private final String method;
    private final String host;
    private final String authority;
    private final String path;
    private final String query;
    private final HttpHeaders headers;
    private final boolean absolute;
    private final boolean slashRedirect;

    private RequestHead(String method, String authority, String host, String path, String query,
                        HttpHeaders headers, boolean absolute, boolean slashRedirect) {
        this.absolute = absolute;
        this.slashRedirect = slashRedirect;
        this.method = method;
        this.authority = authority;
        this.host = host;
        this.path = path;
        this.query = query;
        this.headers = headers;
    }

    /**
     * Parses a request head; returns null when the target or Host is unusable (the caller answers 400).
     *
     * @param method the method name
     * @param uri the request target as received
     * @param hostHeader the Host header or :authority, may be null
     */
    public static RequestHead parse(String method, String uri, String hostHeader, HttpHeaders headers) {
        return parse(method, uri, hostHeader, headers, PathNormalizer.Policy.DEFAULTS);
    }

    /**
     * Parses a request head with a path policy: the path is normalized ({@link PathNormalizer}) and the result is
     * both what routing matches and what is forwarded; null also when the policy rejects the path.
     */
    public static RequestHead parse(String method, String uri, String hostHeader, HttpHeaders headers,
                                    PathNormalizer.Policy paths) {
        if (hostHeader != null && !validAuthority(hostHeader)) {
            return null; // a bad Host is 400 even when an absolute-form target's authority wins over it
        }
        String authority = hostHeader;
        String target = uri;
        final boolean absolute = !uri.startsWith("/");
        if (absolute) {
            final int scheme = uri.indexOf("://");
            if (scheme <= 0) {
                return uri.equals("*") && method.equals("OPTIONS") && validAuthority(authority)
                        ? new RequestHead(method, authority, hostOf(authority), "*", null, headers, false, false) : null;
            }
            if (!(scheme == 4 && uri.regionMatches(true, 0, "http", 0, 4)
                    || scheme == 5 && uri.regionMatches(true, 0, "https", 0, 5))) {
                return null; // absolute form with a scheme other than http or https
            }
            final int slash = uri.indexOf('/', scheme + 3);
            authority = uri.substring(scheme + 3, slash < 0 ? uri.length() : slash);
            target = slash < 0 ? "/" : uri.substring(slash);
        }
        if (!validAuthority(authority) || !validTarget(target)) {
            return null;
        }
        final int q = target.indexOf('?');
        final String raw = q < 0 ? target : target.substring(0, q);
        final String path = PathNormalizer.normalize(raw, paths);
        if (path == PathNormalizer.REJECT) {
            return null;
        }
        final boolean redirect = path != raw
                && paths.escapedSlashes() == PathNormalizer.EscapedSlashes.UNESCAPE_AND_REDIRECT
                && PathNormalizer.hasEscapedSlash(raw);
        final String query = q < 0 ? null : target.substring(q + 1);
        return new RequestHead(method, authority, hostOf(authority), path, query, headers, absolute, redirect);
    }

    /**
     * True for a request target of visible ASCII without a fragment (RFC 9112 §3.2: a fragment is never sent;
     * Envoy rejects one too). Controls, spaces and non-ASCII bytes are never forwarded (Netty's decoder lets them
     * through: a target with 0xF3 was routed, found by RequestHeadFuzzTest). The one scan of the target; the
     * authority of an absolute-form target is checked by {@link #validAuthority}.
     */
    static boolean validTarget(String target) {
        for (int i = 0; i < target.length(); i++) {
            final char c = target.charAt(i);
            if (c <= ' ' || c >= 0x7f || c == '#') {
                return false;
            }
        }
        return true;
    }

    /**
     * True for an RFC 3986 authority without userinfo: a reg-name (unreserved, pct-encoded, sub-delims) or an
     * IP-literal in brackets, then optionally {@code :} and at most five digits. Host and :authority values that
     * carry {@code @}, {@code /}, spaces or a non-numeric port are rejected (400) rather than routed on a prefix.
     */
    static boolean validAuthority(String a) {
        if (a == null || a.isEmpty()) {
            return false;
        }
        int i = 0;
        final int n = a.length();
        if (a.charAt(0) == '[') {
            final int end = a.indexOf(']');
            if (end < 2) {
                return false;
            }
            for (i = 1; i < end; i++) {
                final char c = a.charAt(i);
                if (!(hex(c) || c == ':' || c == '.' || c == 'v' || c == 'V')) {
                    return false;
                }
            }
            i = end + 1;
        } else {
            for (; i < n && a.charAt(i) != ':'; i++) {
                final char c = a.charAt(i);
                if (c == '%') { // pct-encoded: exactly two hex digits follow (found by RequestHeadFuzzTest)
                    if (i + 2 >= n || !hex(a.charAt(i + 1)) || !hex(a.charAt(i + 2))) {
                        return false;
                    }
                    i += 2;
                } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                        || "-._~!$&'()*+,;=".indexOf(c) >= 0)) {
                    return false;
                }
            }
            if (i == 0) {
                return false;
            }
        }
        if (i == n) {
            return true;
        }
        if (a.charAt(i) != ':' || n - i - 1 > 5) {
            return false;
        }
        for (i++; i < n; i++) {
            if (a.charAt(i) < '0' || a.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    private static boolean hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }

    /** Lower-cases the host and strips a port and a trailing dot: {@code Foo.COM.:80} gives {@code foo.com}. */
    static String hostOf(String authority) {
        String h = authority;
        if (h.startsWith("[")) {
            final int end = h.indexOf(']');
            h = end < 0 ? h : h.substring(0, end + 1);
        } else {
            final int colon = h.lastIndexOf(':');
            if (colon >= 0) {
                h = h.substring(0, colon);
            }
        }
        if (h.endsWith(".")) {
            h = h.substring(0, h.length() - 1);
        }
        for (int i = 0; i < h.length(); i++) {
            final char c = h.charAt(i);
            if (c >= 'A' && c <= 'Z') {
                return h.toLowerCase(Locale.ROOT);
            }
        }
        return h;
    }

    @Override
    public String method() {
        return method;
    }

    @Override
    public String path() {
        return path;
    }

    @Override
    public String query() {
        return query;
    }

    @Override
    public String header(String lowerCaseName) {
        return headers.get(lowerCaseName);
    }

    /** The host for routing: lower case, without port. */
    public String host() {
        return host;
    }

    /** The authority as received (Host header or absolute-form authority), with any port. */
    public String authority() {
        return authority;
    }

    /**
     * True when the path held percent-encoded slashes and the policy is UNESCAPE_AND_REDIRECT: the answer is a
     * 307 to {@link #pathAndQuery()}, which holds the unescaped, normalized path.
     */
    public boolean slashRedirect() {
        return slashRedirect;
    }

    /** True when the request target was in absolute form ({@code http://host/path}). */
    public boolean absoluteForm() {
        return absolute;
    }

    /** The target path and query, as it would be sent upstream in origin form. */
    public String pathAndQuery() {
        return query == null ? path : path + "?" + query;
    }
}
