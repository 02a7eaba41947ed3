package dev.postern.config.runtime;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * A hostname lookup built once: exact names in a hash map, then wildcard suffixes from the longest to the
 * shortest, then the default. Wildcards follow Gateway API rules: {@code *.example.com} matches any number of
 * labels in front of {@code example.com}, but not {@code example.com} itself (this is not RFC 6125).
 *
 * <p>Lookups walk the host's own label boundaries (so the cost is the number of labels, not the number of
 * wildcards) and are safe from any thread: the instance is immutable.
 *
 * @param <T> the value type
 */
public final class HostIndex<T> {
    private final Map<String, T> exact;
    /** Key: the suffix including the leading dot, such as {@code .example.com}. */
    private final Map<String, T> wildcard;
    /** The same wildcards, probed by a region of the host: no substring per label. */
    private final RegionMap<T> wildcardIndex;
    private final T fallback;

    private HostIndex(Map<String, T> exact, Map<String, T> wildcard, T fallback) {
        this.exact = exact;
        this.wildcard = wildcard;
        this.wildcardIndex = new RegionMap<>(wildcard);
        this.fallback = fallback;
    }

    /**
     * Builds an index from hostnames to values. A null or {@code ""} or {@code "*"} hostname is the default.
     * Hostnames must be lower case.
     */
    public static <T> HostIndex<T> of(Map<String, T> byHostname) {
        final Map<String, T> exact = new HashMap<>();
        final Map<String, T> wildcard = new HashMap<>();
        T fallback = null;
        for (Map.Entry<String, T> e : byHostname.entrySet()) {
            final String h = e.getKey();
            if (h == null || h.isEmpty() || h.equals("*")) {
                fallback = e.getValue();
            } else if (h.startsWith("*.")) {
                wildcard.put(h.substring(1), e.getValue());
            } else {
                exact.put(h, e.getValue());
            }
        }
        return new HostIndex<>(Map.copyOf(exact), Map.copyOf(wildcard), fallback);
    }

    /**
     * Finds the value for a lower-case host without port: the exact entry, else the longest matching wildcard,
     * else the default; null when nothing matches.
     */
    public T find(String host) {
        final T e = exact.get(host);
        if (e != null) {
            return e;
        }
        if (!wildcard.isEmpty()) {
            // Each '.' at index i > 0 starts a candidate suffix; the first found is the longest.
            for (int i = host.indexOf('.'); i > 0; i = host.indexOf('.', i + 1)) {
                final T w = wildcardIndex.get(host, i, host.length());
                if (w != null) {
                    return w;
                }
            }
        }
        return fallback;
    }

    /** Returns a new index with every value mapped. */
    public <R> HostIndex<R> map(Function<T, R> f) {
        final Map<String, R> ex = new HashMap<>();
        exact.forEach((k, v) -> ex.put(k, f.apply(v)));
        final Map<String, R> wc = new HashMap<>();
        wildcard.forEach((k, v) -> wc.put(k, f.apply(v)));
        return new HostIndex<>(Map.copyOf(ex), Map.copyOf(wc), fallback == null ? null : f.apply(fallback));
    }

    /** Returns every value, exact first, then wildcards, then the default (for dumps). */
    public Map<String, T> entries() {
        final Map<String, T> out = new java.util.TreeMap<>();
        out.putAll(exact);
        wildcard.forEach((k, v) -> out.put("*" + k, v));
        if (fallback != null) {
            out.put("*", fallback);
        }
        return out;
    }
}
