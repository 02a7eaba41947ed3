package dev.postern.config.translate;

import dev.postern.config.model.ListenerModel;
import dev.postern.config.model.RouteModel;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.runtime.HostIndex;
import dev.postern.config.runtime.ListenerRoutes;
import dev.postern.config.runtime.PortTable;
import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.RouteTable;
import dev.postern.config.runtime.TlsTable;
import dev.postern.config.runtime.VirtualHost;

import com.google.re2j.Pattern;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Compiles the listener model to immutable runtime tables: per bound socket, listeners by hostname; per
 * listener, virtual hosts by hostname; per virtual host, route entries in Gateway API precedence order, each with
 * its predicates compiled once.
 *
 * <p>A virtual host for a hostname holds every route that applies to it: routes naming that exact hostname
 * first, then routes of each wildcard that covers it (most specific first), then routes for any host. So a
 * request reaches a wildcard route when no exact-host route matches it, as the spec's precedence asks.
 */
public final class RouteTableCompiler {

    /**
     * Gateway API match precedence: Exact path, then the longest prefix, then method, then the number of header
     * matches, then the number of query matches, then the oldest route, then namespace/name, then rule and match
     * order. Regular-expression paths rank after prefixes (implementation-specific; see docs/decisions.md).
     */
    public static final Comparator<RouteModel> PRECEDENCE = Comparator
            .comparingInt((RouteModel r) -> pathRank(r.pathType()))
            .thenComparing(r -> -r.pathValue().length())
            .thenComparing(r -> r.method() == null ? 1 : 0)
            .thenComparing(r -> -r.headers().size())
            .thenComparing(r -> -r.queryParams().size())
            .thenComparing(r -> r.creationTimestamp().isEmpty() ? "~" : r.creationTimestamp())
            .thenComparing(RouteModel::namespace)
            .thenComparing(RouteModel::routeName)
            .thenComparingInt(RouteModel::ruleIndex)
            .thenComparingInt(RouteModel::matchIndex);

    private RouteTableCompiler() {
    }

    private static int pathRank(String type) {
        return switch (type) {
            case "Exact" -> 0;
            case "PathPrefix" -> 1;
            default -> 2;
        };
    }

    /** Compiles the listeners into a table with the given version. */
    public static RouteTable compile(List<ListenerModel> listeners, long version) {
        // Group listeners by socket, then by listener hostname (listeners of several Gateways on one socket with
        // the same hostname share their routes).
        final Map<BindKey, Map<String, List<ListenerModel>>> bySocket = new LinkedHashMap<>();
        final Map<BindKey, String> protocols = new HashMap<>();
        for (ListenerModel l : listeners) {
            for (String a : l.addresses()) {
                final BindKey k = new BindKey(a, l.port());
                bySocket.computeIfAbsent(k, x -> new LinkedHashMap<>())
                        .computeIfAbsent(l.hostname() == null ? "*" : l.hostname(), x -> new ArrayList<>()).add(l);
                protocols.putIfAbsent(k, l.protocol());
            }
        }
        final Map<RouteModel, RouteEntry> compiled = new IdentityHashMap<>();
        final Map<BindKey, PortTable> ports = new LinkedHashMap<>();
        for (Map.Entry<BindKey, Map<String, List<ListenerModel>>> e : bySocket.entrySet()) {
            final Map<String, ListenerRoutes> byHost = new LinkedHashMap<>();
            final Map<String, TlsTable.ListenerCerts> certs = new LinkedHashMap<>();
            TlsTable.ListenerCerts first = null;
            for (Map.Entry<String, List<ListenerModel>> le : e.getValue().entrySet()) {
                for (ListenerModel l : le.getValue()) {
                    if (!l.certificates().isEmpty() && !certs.containsKey(le.getKey())) {
                        final TlsTable.ListenerCerts lc = new TlsTable.ListenerCerts(l.name(), l.certificates(),
                                l.clientValidation());
                        certs.put(le.getKey(), lc);
                        first = first == null ? lc : first;
                    }
                }
                final List<RouteModel> routes = new ArrayList<>();
                for (ListenerModel l : le.getValue()) {
                    routes.addAll(l.routes());
                }
                final String listenerName = le.getValue().getFirst().name();
                byHost.put(le.getKey(), new ListenerRoutes(listenerName,
                        virtualHosts(listenerName, routes, compiled)));
            }
            TlsTable tls = null;
            // HTTPS, and TLS ports with Terminate listeners (Passthrough listeners on the same port have no
            // certificates, so an SNI that reaches one of them finds no entry of its own here).
            if (("HTTPS".equals(protocols.get(e.getKey())) || "TLS".equals(protocols.get(e.getKey())))
                    && first != null) {
                tls = new TlsTable(HostIndex.of(certs), certs.getOrDefault("*", first));
            }
            ports.put(e.getKey(), new PortTable(e.getKey(), protocols.get(e.getKey()), HostIndex.of(byHost), tls));
        }
        return new RouteTable(version, ports);
    }

    private static HostIndex<VirtualHost> virtualHosts(String listener, List<RouteModel> routes,
                                                       Map<RouteModel, RouteEntry> cache) {
        final Map<String, List<RouteModel>> byHost = new LinkedHashMap<>();
        for (RouteModel r : routes) {
            for (String h : r.hostnames()) {
                byHost.computeIfAbsent(h, x -> new ArrayList<>()).add(r);
            }
        }
        // Each hostname's group in precedence order, sorted once.
        byHost.values().forEach(g -> g.sort(PRECEDENCE));
        // Each virtual host holds its own group and falls back to the virtual host of the next covering hostname
        // (the most specific wildcard of a parent domain, then *): built from the least specific up, so that the
        // fallback exists first. ("a.b.c" falls back to "*.b.c" if present, else "*.c", else "*".)
        final List<String> order = new ArrayList<>(byHost.keySet());
        order.sort(Comparator.comparingInt(RouteTableCompiler::specificity));
        final Map<String, VirtualHost> out = new LinkedHashMap<>();
        for (String host : order) {
            VirtualHost fallback = null;
            if (!host.equals("*")) {
                final String domain = host.startsWith("*.") ? host.substring(2) : host;
                for (int dot = domain.indexOf('.'); dot >= 0 && fallback == null; dot = domain.indexOf('.', dot + 1)) {
                    fallback = out.get("*" + domain.substring(dot));
                }
                if (fallback == null) {
                    fallback = out.get("*");
                }
            }
            final List<RouteEntry> entries = new ArrayList<>();
            for (RouteModel r : byHost.get(host)) {
                entries.add(cache.computeIfAbsent(r, RouteTableCompiler::entry));
            }
            out.put(host, new VirtualHost(host, listener, entries, fallback));
        }
        return HostIndex.of(out);
    }

    /** Orders hostnames from the least specific: *, then wildcards by label count, then exact names. */
    private static int specificity(String host) {
        if (host.equals("*")) {
            return 0;
        }
        int labels = 1;
        for (int i = host.indexOf('.'); i >= 0; i = host.indexOf('.', i + 1)) {
            labels++;
        }
        return host.startsWith("*.") ? labels : 1000 + labels;
    }

    private static RouteEntry entry(RouteModel r) {
        final RouteEntry.PathKind kind;
        String value = r.pathValue();
        Pattern regex = null;
        switch (r.pathType()) {
            case "Exact" -> kind = RouteEntry.PathKind.EXACT;
            case "PathPrefix" -> {
                kind = RouteEntry.PathKind.PREFIX;
                value = GatewayTranslator.trimSlash(value);
            }
            default -> {
                kind = RouteEntry.PathKind.REGEX;
                regex = Pattern.compile(value);
            }
        }
        final List<RouteEntry.ValuePredicate> headers = new ArrayList<>();
        for (RouteModel.ValueMatch v : r.headers()) {
            headers.add(new RouteEntry.ValuePredicate(v.name(), v.value(), v.regex() ? Pattern.compile(v.value())
                    : null));
        }
        final List<RouteEntry.ValuePredicate> query = new ArrayList<>();
        for (RouteModel.ValueMatch v : r.queryParams()) {
            query.add(new RouteEntry.ValuePredicate(v.name(), v.value(), v.regex() ? Pattern.compile(v.value())
                    : null));
        }
        return new RouteEntry(r.name(), r.routeKey(), kind, value, regex, r.method(), headers, query, r.action());
    }
}
