package dev.postern.config.runtime;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The routes that apply to one hostname of one listener, in Gateway API precedence order; the first entry whose
 * predicates hold wins. Immutable.
 *
 * <p>A large virtual host is indexed by path so that a lookup only evaluates the entries that can match: exact
 * paths in a map, prefixes in a map keyed by prefix (probed at each segment boundary of the request path), and
 * the rest (regular expressions) in a list. Each group keeps precedence order, so the answer is the candidate
 * with the lowest precedence index among each group's first full match. Small virtual hosts are scanned.
 */
public final class VirtualHost {
    /** Below this many entries a scan is faster than the index. */
    private static final int INDEX_THRESHOLD = 8;

    private final String hostname;
    private final String listener;
    private final RouteEntry[] routes;
    /**
     * The virtual host of the next less specific hostname that covers this one (a wildcard, then the catch-all),
     * whose routes all rank after this one's; null at the end of the chain. Shared, not copied: a table with
     * thousands of hostnames holds the catch-all routes and their index once.
     */
    private final VirtualHost fallback;
    private final Map<String, int[]> exact;
    private final RegionMap<int[]> prefixes;
    private final int[] others;

    /** Builds a virtual host of no named listener; {@code routes} must already be in precedence order. */
    public VirtualHost(String hostname, List<RouteEntry> routes) {
        this(hostname, "", routes, null);
    }

    /**
     * Builds a virtual host; {@code routes} must already be in precedence order.
     *
     * @param listener the listener it belongs to, {@code gateway/<ns>/<name>/listener/<name>} (metrics labels)
     */
    public VirtualHost(String hostname, String listener, List<RouteEntry> routes) {
        this(hostname, listener, routes, null);
    }

    /**
     * Builds a virtual host whose own {@code routes} (in precedence order) come before those of {@code fallback}.
     *
     * @param fallback the virtual host of the next covering hostname, or null
     */
    public VirtualHost(String hostname, String listener, List<RouteEntry> routes, VirtualHost fallback) {
        this.hostname = hostname;
        this.listener = listener;
        this.fallback = fallback;
        this.routes = routes.toArray(RouteEntry[]::new);
        if (this.routes.length < INDEX_THRESHOLD) {
            exact = null;
            prefixes = null;
            others = null;
            return;
        }
        final Map<String, List<Integer>> ex = new HashMap<>();
        final Map<String, List<Integer>> px = new HashMap<>();
        final List<Integer> ot = new ArrayList<>();
        for (int i = 0; i < this.routes.length; i++) {
            final RouteEntry r = this.routes[i];
            switch (r.pathKind()) {
                case EXACT -> ex.computeIfAbsent(r.pathValue(), k -> new ArrayList<>()).add(i);
                case PREFIX -> px.computeIfAbsent(r.pathValue(), k -> new ArrayList<>()).add(i);
                default -> ot.add(i);
            }
        }
        exact = freeze(ex);
        prefixes = new RegionMap<>(freeze(px));
        others = ot.stream().mapToInt(Integer::intValue).toArray();
    }

    private static Map<String, int[]> freeze(Map<String, List<Integer>> m) {
        final Map<String, int[]> out = new HashMap<>(m.size() * 2);
        m.forEach((k, v) -> out.put(k, v.stream().mapToInt(Integer::intValue).toArray()));
        return out;
    }

    /** Returns the first matching entry, or null (404). */
    public RouteEntry match(RequestView req) {
        final RouteEntry own = matchOwn(req);
        return own != null || fallback == null ? own : fallback.match(req);
    }

    private RouteEntry matchOwn(RequestView req) {
        // The first entries are scanned: they are the most specific hostname's own routes, the likeliest to
        // match, and adjacent in memory. The index answers for the rest.
        final int scan = Math.min(routes.length, INDEX_THRESHOLD);
        for (int i = 0; i < scan; i++) {
            if (routes[i].matches(req)) {
                return routes[i];
            }
        }
        if (exact == null) {
            return null;
        }
        final String path = req.path();
        int best = Integer.MAX_VALUE;
        best = first(exact.get(path), req, best);
        // Prefix candidates: "/" and every segment boundary of the path ("/a", "/a/b", ...), and the whole path.
        best = first(prefixes.get("/"), req, best);
        for (int i = path.indexOf('/', 1); i > 0; i = path.indexOf('/', i + 1)) {
            best = first(prefixes.get(path, 0, i), req, best);
        }
        final int end = path.endsWith("/") ? path.length() - 1 : path.length();
        if (end > 1) {
            best = first(prefixes.get(path, 0, end), req, best);
        }
        best = first(others, req, best);
        return best == Integer.MAX_VALUE ? null : routes[best];
    }

    /** The lowest index in {@code candidates} (sorted) that matches and beats {@code best}, else {@code best}. */
    private int first(int[] candidates, RequestView req, int best) {
        if (candidates == null) {
            return best;
        }
        for (int i : candidates) {
            if (i >= best) {
                return best;
            }
            if (i >= INDEX_THRESHOLD && routes[i].matches(req)) {
                return i;
            }
        }
        return best;
    }

    /** The hostname ({@code *} for the default). */
    public String hostname() {
        return hostname;
    }

    /** The listener this virtual host belongs to, {@code gateway/<ns>/<name>/listener/<name>}. */
    public String listener() {
        return listener;
    }

    /** The entries in precedence order: this host's own, then the fallback chain's (each entry once). */
    public List<RouteEntry> routes() {
        if (fallback == null) {
            return List.of(routes);
        }
        final java.util.Set<RouteEntry> all = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        final List<RouteEntry> out = new ArrayList<>();
        for (VirtualHost v = this; v != null; v = v.fallback) {
            for (RouteEntry r : v.routes) {
                if (all.add(r)) {
                    out.add(r);
                }
            }
        }
        return List.copyOf(out);
    }

    /** This host's own entries, in precedence order (without the fallback chain's). */
    public List<RouteEntry> ownRoutes() {
        return List.of(routes);
    }

    /** The fallback virtual host, or null. */
    public VirtualHost fallback() {
        return fallback;
    }
}
