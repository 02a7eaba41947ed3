package dev.postern.config.runtime;

import com.google.re2j.Pattern;

import java.util.List;

/**
 * One compiled match of one rule: the predicates built once in the constructor, then the action. The lookup
 * only evaluates predicates; it does no parsing and no regex compilation.
 *
 * <p>Immutable and safe from any thread.
 */
public final class RouteEntry {
    /** How the path is compared. */
    public enum PathKind {
        /** Equal to the value. */
        EXACT,
        /** Starts with the value on a segment boundary. */
        PREFIX,
        /** The whole path matches the RE2 expression. */
        REGEX
    }

    /** A compiled header or query parameter predicate: exact value, or an RE2 full match. */
    public record ValuePredicate(String name, String exact, Pattern regex) {
        boolean test(String actual) {
            if (actual == null) {
                return false;
            }
            return regex == null ? exact.equals(actual) : regex.matches(actual);
        }
    }

    /** Shared by the entries without header or query predicates (most of them): one empty array, not two each. */
    private static final ValuePredicate[] NO_PREDICATES = new ValuePredicate[0];

    /**
     * The name without its route key when it starts with it ({@code /rule/<i>/match/<j>}, one shared instance
     * of each), else the whole name: at 10,000 routes the full names were 30,000 strings kept only for logs.
     */
    private final String nameTail;
    private final boolean nameAfterKey;
    private final PathKind pathKind;
    private final String pathValue;
    private final Pattern pathRegex;
    private final String method;
    private final ValuePredicate[] headers;
    private final ValuePredicate[] queryParams;
    private final RouteAction action;
    private final String routeKey;

    /**
     * Builds an entry.
     *
     * @param name the provenance name, {@code httproute/<ns>/<name>/rule/<i>/match/<j>}
     * @param routeKey the low-cardinality route identity for metrics and logs, {@code httproute/<ns>/<name>}
     * @param pathKind how the path is compared
     * @param pathValue for EXACT and PREFIX the value (PREFIX without a trailing slash, except {@code /})
     * @param pathRegex for REGEX the compiled expression, else null
     * @param method the method, or null for any
     */
    public RouteEntry(String name, String routeKey, PathKind pathKind, String pathValue, Pattern pathRegex,
                      String method, List<ValuePredicate> headers, List<ValuePredicate> queryParams,
                      RouteAction action) {
        this.nameAfterKey = routeKey != null && name.startsWith(routeKey);
        this.nameTail = nameAfterKey ? name.substring(routeKey.length()).intern() : name;
        this.routeKey = routeKey;
        this.pathKind = pathKind;
        this.pathValue = pathValue;
        this.pathRegex = pathRegex;
        this.method = method;
        this.headers = headers.isEmpty() ? NO_PREDICATES : headers.toArray(ValuePredicate[]::new);
        this.queryParams = queryParams.isEmpty() ? NO_PREDICATES : queryParams.toArray(ValuePredicate[]::new);
        this.action = action;
    }

    /** Returns true when the request satisfies every predicate. */
    public boolean matches(RequestView req) {
        final String path = req.path();
        switch (pathKind) {
            case EXACT -> {
                if (!path.equals(pathValue)) {
                    return false;
                }
            }
            case PREFIX -> {
                if (!prefixMatches(path, pathValue)) {
                    return false;
                }
            }
            case REGEX -> {
                if (!pathRegex.matches(path)) {
                    return false;
                }
            }
        }
        if (method != null && !method.equals(req.method())) {
            return false;
        }
        for (ValuePredicate h : headers) {
            if (!h.test(req.header(h.name()))) {
                return false;
            }
        }
        if (queryParams.length > 0) {
            final String q = req.query();
            for (ValuePredicate p : queryParams) {
                if (!p.test(queryValue(q, p.name()))) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Segment-wise prefix: {@code /foo} matches {@code /foo}, {@code /foo/} and {@code /foo/bar}, not {@code /foobar}. */
    static boolean prefixMatches(String path, String prefix) {
        if (prefix.equals("/")) {
            return true;
        }
        if (!path.startsWith(prefix)) {
            return false;
        }
        return path.length() == prefix.length() || path.charAt(prefix.length()) == '/';
    }

    /** Returns the first value of a query parameter (exact, case-sensitive name), or null. */
    static String queryValue(String query, String name) {
        if (query == null) {
            return null;
        }
        int i = 0;
        final int n = query.length();
        while (i <= n) {
            int amp = query.indexOf('&', i);
            if (amp < 0) {
                amp = n;
            }
            final int eq = query.indexOf('=', i);
            final int keyEnd = eq >= 0 && eq < amp ? eq : amp;
            if (keyEnd - i == name.length() && query.regionMatches(i, name, 0, name.length())) {
                return keyEnd == amp ? "" : query.substring(keyEnd + 1, amp);
            }
            i = amp + 1;
        }
        return null;
    }

    /** The provenance name, {@code httproute/<ns>/<name>/rule/<i>/match/<j>}. */
    public String name() {
        return nameAfterKey ? routeKey + nameTail : nameTail;
    }

    /** The route identity, {@code httproute/<ns>/<name>}: low cardinality, for metrics. */
    public String routeKey() {
        return routeKey;
    }

    /** The action. */
    public RouteAction action() {
        return action;
    }

    /** How the path is compared. */
    public PathKind pathKind() {
        return pathKind;
    }

    /** The path value (EXACT, PREFIX) or expression (REGEX). */
    public String pathValue() {
        return pathKind == PathKind.REGEX ? pathRegex.pattern() : pathValue;
    }

    /** A readable one-line description for dumps. */
    public String describe() {
        final StringBuilder sb = new StringBuilder(name()).append(" path ").append(pathKind).append(' ')
                .append(pathValue());
        if (method != null) {
            sb.append(" method ").append(method);
        }
        for (ValuePredicate h : headers) {
            sb.append(" header ").append(h.name()).append(h.regex() == null ? "=" + h.exact() : "~" + h.regex());
        }
        for (ValuePredicate q : queryParams) {
            sb.append(" query ").append(q.name()).append(q.regex() == null ? "=" + q.exact() : "~" + q.regex());
        }
        return sb.toString();
    }
}
