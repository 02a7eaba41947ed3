package dev.postern.config.runtime;

import java.lang.ref.WeakReference;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What changed between two published tables, in one line for the log: routes added, removed and changed (by
 * route identity, {@code httproute/<ns>/<name>}), sockets, and endpoints. Runs off the event loops after a publish.
 *
 * <p>A route's fingerprint is the sum of the hash codes of its distinct parts (the hash code of the set of them),
 * accumulated without keeping the parts: at 10,000 routes, keeping every entry's signature string for both tables
 * made this log line most of what a rebuild allocated. The summary of the last table described is kept (weakly)
 * for the next call, whose {@code before} it usually is.
 */
public final class TableDiff {
    private TableDiff() {
    }

    /** Counts of one table. */
    private record Summary(Map<String, Integer> routes, Set<String> sockets, Set<String> endpoints) {
    }

    /** The last table summarised and its summary. */
    private record Last(WeakReference<RouteTable> table, Summary summary) {
    }

    private static final AtomicReference<Last> LAST = new AtomicReference<>();

    /** Summarises {@code after} against {@code before} (null or empty: everything is new). */
    public static String describe(RouteTable before, RouteTable after) {
        final Summary a = summary(before == null ? RouteTable.EMPTY : before);
        final Summary b = summary(after);
        LAST.set(new Last(new WeakReference<>(after), b));
        int added = 0;
        int changed = 0;
        for (Map.Entry<String, Integer> e : b.routes().entrySet()) {
            final Integer old = a.routes().get(e.getKey());
            if (old == null) {
                added++;
            } else if (!old.equals(e.getValue())) {
                changed++;
            }
        }
        int removed = 0;
        for (String k : a.routes().keySet()) {
            if (!b.routes().containsKey(k)) {
                removed++;
            }
        }
        return "routes " + b.routes().size() + " (+" + added + " -" + removed + " ~" + changed + "), sockets "
                + b.sockets().size() + " (" + delta(a.sockets(), b.sockets()) + "), endpoints "
                + b.endpoints().size() + " (" + delta(a.endpoints(), b.endpoints()) + ")";
    }

    private static String delta(Set<String> before, Set<String> after) {
        int plus = 0;
        for (String s : after) {
            if (!before.contains(s)) {
                plus++;
            }
        }
        int minus = 0;
        for (String s : before) {
            if (!after.contains(s)) {
                minus++;
            }
        }
        return "+" + plus + " -" + minus;
    }

    private static Summary summary(RouteTable t) {
        final Last last = LAST.get();
        if (last != null && last.table().get() == t) {
            return last.summary();
        }
        return summarize(t);
    }

    private static Summary summarize(RouteTable t) {
        final Map<String, Integer> routes = new HashMap<>();
        final Set<String> sockets = new HashSet<>();
        final Set<String> endpoints = new HashSet<>();
        // Entries are shared between virtual hosts (a wildcard or hostname-less route is in many): count each once.
        final Set<RouteEntry> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        final Signatures sigs = new Signatures();
        for (PortTable p : t.ports().values()) {
            sockets.add(p.bind() + "/" + p.protocol());
            for (ListenerRoutes l : p.listeners().entries().values()) {
                // The sockets and listeners a route is served on are part of what it is (the virtual hosts it lands
                // in are not: adding a hostname elsewhere copies catch-all routes into it): counted once per route.
                final int where = (p.bind() + " " + l.name()).hashCode();
                final Set<String> here = new HashSet<>();
                for (VirtualHost vh : l.hosts().entries().values()) {
                    for (RouteEntry r : vh.ownRoutes()) {
                        if (here.add(r.routeKey())) {
                            routes.merge(r.routeKey(), where, Integer::sum);
                        }
                        if (seen.add(r)) {
                            routes.merge(r.routeKey(), sigs.hash(r), Integer::sum);
                            collectEndpoints(r.action(), endpoints);
                        }
                    }
                }
            }
        }
        return new Summary(routes, sockets, endpoints);
    }

    /**
     * The hash code of an entry's signature string (its predicates, its action with each backend's cluster and
     * endpoints, filters, timeouts and retry), written into one reused builder. Backends and filter sets are shared
     * between entries (one Cluster per Service port), so each one's text is made once per summary.
     */
    private static final class Signatures {
        private final StringBuilder sb = new StringBuilder(256);
        private final Map<Object, String> texts = new IdentityHashMap<>();

        int hash(RouteEntry r) {
            sb.setLength(0);
            sb.append(r.describe());
            switch (r.action()) {
                case RouteAction.Forward f -> {
                    for (int i = 0; i < f.backends().size(); i++) {
                        sb.append('|').append(f.cumulativeWeights()[i]).append(' ')
                                .append(texts.computeIfAbsent(f.backends().get(i),
                                        b -> TableDump.backend((Backend) b).toString()));
                    }
                    sb.append('|').append(text(f.filters())).append('|');
                    for (RouteAction.Filters bf : f.backendFilters()) {
                        sb.append(text(bf)).append(',');
                    }
                    sb.append('|').append(f.timeouts()).append('|').append(f.retry().attempts())
                            .append(Arrays.toString(f.retry().codes())).append(f.retry().backoffMs());
                }
                case RouteAction.Redirect rd -> sb.append('|').append(rd);
                case RouteAction.Direct d -> sb.append('|').append(TableDump.action(d));
            }
            int h = 0;
            for (int i = 0; i < sb.length(); i++) {
                h = 31 * h + sb.charAt(i);
            }
            return h;
        }

        private String text(RouteAction.Filters f) {
            return f == null ? "null" : texts.computeIfAbsent(f, Object::toString);
        }
    }

    private static void collectEndpoints(RouteAction a, Set<String> out) {
        if (a instanceof RouteAction.Forward f) {
            for (Backend b : f.backends()) {
                if (b instanceof Backend.Forward c) {
                    for (Endpoint e : c.cluster().endpoints()) {
                        out.add(c.cluster().name() + " " + e);
                    }
                }
            }
        }
    }
}
