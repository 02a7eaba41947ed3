package dev.postern.config.runtime;


import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A readable, JSON-shaped dump of a compiled route table, for {@code /config_dump} and golden files. Key
 * material is never dumped: a TLS socket lists its certificates by source and DNS names only.
 */
public final class TableDump {
    private TableDump() {
    }

    /** Dumps a table as plain maps and lists. */
    public static Map<String, Object> of(RouteTable t) {
        final Map<String, Object> out = new LinkedHashMap<>();
        out.put("version", t.version());
        final Map<String, Object> ports = new LinkedHashMap<>();
        t.ports().entrySet().stream().sorted(Map.Entry.comparingByKey(
                java.util.Comparator.comparing(BindKey::toString))).forEach(e -> ports.put(e.getKey().toString(),
                port(e.getValue())));
        out.put("sockets", ports);
        return out;
    }

    private static Map<String, Object> port(PortTable p) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("protocol", p.protocol());
        if (p.tls() != null) {
            final Map<String, Object> certs = new LinkedHashMap<>();
            p.tls().listeners().entries().forEach((h, l) -> certs.put(h, l.certificates().stream()
                    .map(c -> c.source() + " " + c.dnsNames()).toList()));
            m.put("certificates", certs);
        }
        final Map<String, Object> ls = new LinkedHashMap<>();
        for (Map.Entry<String, ListenerRoutes> e : p.listeners().entries().entrySet()) {
            final Map<String, Object> l = new LinkedHashMap<>();
            l.put("listener", e.getValue().name());
            final Map<String, Object> hosts = new LinkedHashMap<>();
            for (Map.Entry<String, VirtualHost> h : e.getValue().hosts().entries().entrySet()) {
                final List<Object> routes = new ArrayList<>();
                for (RouteEntry r : h.getValue().routes()) {
                    final Map<String, Object> rm = new LinkedHashMap<>();
                    rm.put("match", r.describe());
                    rm.put("action", action(r.action()));
                    routes.add(rm);
                }
                hosts.put(h.getKey(), routes);
            }
            l.put("virtualHosts", hosts);
            ls.put(e.getKey(), l);
        }
        m.put("listeners", ls);
        return m;
    }

    /** An insertion-ordered map from key/value pairs: dumps must be stable from run to run. */
    public static Map<String, Object> ordered(Object... kv) {
        final Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static Object action(RouteAction a) {
        return switch (a) {
            case RouteAction.Direct d -> ordered("direct", d.status(), "reason", d.reason());
            case RouteAction.Redirect r -> ordered("redirect", r.statusCode(), "scheme", String.valueOf(r.scheme()),
                    "hostname", String.valueOf(r.hostname()), "port", String.valueOf(r.port()));
            case RouteAction.Forward f -> {
                final List<Object> bs = new ArrayList<>();
                int prev = 0;
                for (int i = 0; i < f.backends().size(); i++) {
                    final int w = f.cumulativeWeights()[i] - prev;
                    prev = f.cumulativeWeights()[i];
                    final Map<String, Object> b = new LinkedHashMap<>();
                    b.put("weight", w);
                    b.putAll(backend(f.backends().get(i)));
                    bs.add(b);
                }
                yield ordered("forward", bs);
            }
        };
    }

    /** One backend of a forward action, without its weight. */
    static Map<String, Object> backend(Backend backend) {
        final Map<String, Object> b = new LinkedHashMap<>();
        switch (backend) {
            case Backend.Forward c -> {
                b.put("cluster", c.cluster().name());
                b.put("protocol", c.cluster().protocol().name());
                if (c.cluster().loadBalancing() != Cluster.LoadBalancing.DEFAULT) {
                    b.put("loadBalancing", c.cluster().loadBalancing().name());
                }
                b.put("endpoints", new ArrayList<>(c.cluster().endpoints().stream().map(Endpoint::toString)
                        .toList()));
                final dev.postern.config.tls.UpstreamTls t = c.cluster().tls();
                if (t != null) {
                    final Map<String, Object> tm = new LinkedHashMap<>();
                    tm.put("policy", t.policy());
                    tm.put("sni", t.sni());
                    tm.put("trust", t.systemTrust() ? "System" : t.trustAnchors().size() + " CA");
                    if (!t.subjectAltNames().isEmpty()) {
                        tm.put("subjectAltNames", new ArrayList<>(t.subjectAltNames()));
                    }
                    if (t.invalid() != null) {
                        tm.put("invalid", t.invalid());
                    }
                    b.put("tls", tm);
                }
            }
            case Backend.Invalid inv -> {
                b.put("invalid", inv.reason());
                b.put("status", inv.status());
            }
        }
        return b;
    }
}
