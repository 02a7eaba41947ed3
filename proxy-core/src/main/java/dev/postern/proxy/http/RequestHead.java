package dev.postern.proxy.http;

import dev.postern.config.runtime.RequestView;

import io.netty.handler.codec.http.HttpHeaders;

import java.util.Locale;

/**
 * The parts of a request head that routing reads: method, host (lower case, no port), path and query, split
 * once from the request target. Origin-form ({@code /p?q}) and absolute-form ({@code http://h/p?q}) targets are
 * accepted; in absolute form the target's authority wins over the Host header (RFC 9112 §3.2.2).
 */
public final class RequestHead implements RequestView {
    private final String method;
    private final String host;
    private final String authority;
    private final String path;
    private final String query;
    private final HttpHeaders headers;

    private RequestHead(String method, String authority, String host, String path, String query,
                        HttpHeaders headers) {
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
        if (!visibleAscii(uri) || hostHeader != null && !validAuthority(hostHeader)) {
            return null; // a bad Host is 400 even when an absolute-form target's authority wins over it
        }
        String authority = hostHeader;
        String target = uri;
        if (!uri.startsWith("/")) {
            final int scheme = uri.indexOf("://");
            if (scheme <= 0) {
                return uri.equals("*") && method.equals("OPTIONS") && authority != null
                        && !authority.isEmpty() && validAuthority(authority)
                        ? new RequestHead(method, authority, hostOf(authority), "*", null, headers) : null;
            }
            final int slash = uri.indexOf('/', scheme + 3);
            authority = uri.substring(scheme + 3, slash < 0 ? uri.length() : slash);
            target = slash < 0 ? "/" : uri.substring(slash);
        }
        if (authority == null || authority.isEmpty() || !validAuthority(authority)) {
            return null;
        }
        final int hash = target.indexOf('#');
        if (hash >= 0) {
            target = target.substring(0, hash);
        }
        final int q = target.indexOf('?');
        final String path = q < 0 ? target : target.substring(0, q);
        final String query = q < 0 ? null : target.substring(q + 1);
        return new RequestHead(method, authority, hostOf(authority), path, query, headers);
    }

    /**
     * RFC 9112 §3.2 / RFC 3986: a request target is visible ASCII only. Netty's decoder lets other bytes through
     * (a target with 0xF3 was routed; found by RequestHeadFuzzTest); they answer 400.
     */
    static boolean visibleAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            if (c < 0x21 || c > 0x7E) {
                return false;
            }
        }
        return !s.isEmpty();
    }

    /**
     * RFC 9110 §7.2 / RFC 3986 §3.2.2: a Host (or :authority, or absolute-form authority) is a reg-name (unreserved,
     * percent-encoded and sub-delims characters) or a bracketed IP literal, then an optional {@code :port}; RFC 9112
     * §3.2 answers anything else with 400. No spaces, controls, {@code @} (userinfo), {@code /} or non-ASCII: a
     * Host such as {@code "a b"} would otherwise be routed (found by RequestHeadFuzzTest).
     */
    static boolean validAuthority(String a) {
        int i = 0;
        final int n = a.length();
        if (n > 0 && a.charAt(0) == '[') {
            final int close = a.indexOf(']');
            if (close < 2) {
                return false;
            }
            for (i = 1; i < close; i++) {
                final char c = a.charAt(i);
                if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.')) {
                    return false;
                }
            }
            i = close + 1;
        } else {
            for (; i < n && a.charAt(i) != ':'; i++) {
                final char c = a.charAt(i);
                if (c == '%') { // pct-encoded: exactly two hex digits follow
                    if (i + 2 >= n || Character.digit(a.charAt(i + 1), 16) < 0
                            || Character.digit(a.charAt(i + 2), 16) < 0) {
                        return false;
                    }
                    i += 2;
                } else if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                        || "-._~!$&'()*+,;=".indexOf(c) >= 0)) {
                    return false;
                }
            }
        }
        if (i == n) {
            return true;
        }
        if (a.charAt(i) != ':') {
            return false;
        }
        for (i++; i < n; i++) {
            if (a.charAt(i) < '0' || a.charAt(i) > '9') {
                return false; // the port: digits only
            }
        }
        return true;
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

    /** The target path and query, as it would be sent upstream in origin form. */
    public String pathAndQuery() {
        return query == null ? path : path + "?" + query;
    }
}
