package dev.postern.perf;

import static java.util.Objects.requireNonNull;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.yaml.YamlReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A generated, deterministic Gateway API config of N HTTPRoutes behind one Gateway, shaped like a large shared
 * gateway, and probes (requests) that know which route must answer them.
 *
 * <p>Route {@code i} (name {@code r-NNNNN}, namespace {@code team-(i mod 20)}) has a shape chosen by
 * {@code i mod 100}:
 * <ul>
 *   <li>0–64, <b>exact host</b> {@code app-i.example.com}: four rules, Exact {@code /healthz}; PathPrefix
 *       {@code /api/v1} with header {@code x-canary: true}; PathPrefix {@code /api}; PathPrefix {@code /static}
 *       with method GET;</li>
 *   <li>65–84, <b>wildcard host</b> {@code *.tenant-i.example.net}: PathPrefix {@code /admin} with a
 *       RegularExpression header {@code x-admin-token}, then PathPrefix {@code /};</li>
 *   <li>85–93, the <b>shared host</b> {@code api.example.com}: PathPrefix {@code /svc-i}, odd routes also with header
 *       {@code x-tenant: t-i} (9% of the routes on one virtual host: a long precedence list);</li>
 *   <li>94–98, <b>two exact hosts</b> {@code site-i.example.org} and {@code www.site-i.example.org}: PathPrefix
 *       {@code /};</li>
 *   <li>99, <b>no hostname</b> (any host): PathPrefix {@code /global/i}. These follow every host's own routes.</li>
 * </ul>
 * Each namespace has Services {@code web} and {@code web-canary} with one ready endpoint (the upstream).
 *
 * <p>Immutable; the probe generator is seeded, so runs are reproducible.
 */
public final class RouteCorpus {
    /** The Gateway's namespace. */
    public static final String GATEWAY_NS = "infra";
    /** The number of route namespaces. */
    public static final int TEAMS = 20;

    /** The kinds of probes. */
    public enum Kind {
        /** A rule of an exact-hostname route (or of a two-hostname route). */
        EXACT,
        /** A rule of a wildcard-hostname route, one to three labels deep. */
        WILDCARD,
        /** A route on the shared host, most with a header match. */
        SHARED,
        /** A hostname-less route, reached through an unknown host or through an exact host's fallback. */
        CATCHALL,
        /** No route matches (404): an exact host's unknown path, or an unknown host's. */
        MISS,
        /** All of the above, weighted 50% exact, 20% wildcard, 15% shared, 10% catch-all, 5% miss. */
        MIXED
    }

    /**
     * One request and the route that must answer it.
     *
     * @param kind what it exercises
     * @param method the method
     * @param uri the request target
     * @param authority the Host header as sent (mixed case, with the port)
     * @param headers extra request headers
     * @param expected the expected {@code RouteEntry.name()}, or null for a 404
     */
    public record Probe(Kind kind, String method, String uri, String authority, Map<String, String> headers,
                        String expected) {
    }

    private final int routes;
    private final String gatewayAddress;
    private final int port;
    private final String upstreamAddress;
    private final int upstreamPort;

    private RouteCorpus(int routes, String gatewayAddress, int port, String upstreamAddress, int upstreamPort) {
        if (routes < 100) {
            throw new IllegalArgumentException("at least 100 routes, so that every shape is present: " + routes);
        }
        this.routes = routes;
        this.gatewayAddress = requireNonNull(gatewayAddress, "gatewayAddress");
        this.port = port;
        this.upstreamAddress = requireNonNull(upstreamAddress, "upstreamAddress");
        this.upstreamPort = upstreamPort;
    }

    /** A corpus of {@code routes} routes on 127.0.0.1:8080, with the upstream at 127.0.0.2:3000. */
    public static RouteCorpus of(int routes) {
        return new RouteCorpus(routes, "127.0.0.1", 8080, "127.0.0.2", 3000);
    }

    /** A corpus with explicit addresses (the load harness points it at its upstream). */
    public static RouteCorpus of(int routes, String gatewayAddress, int port, String upstreamAddress,
                                 int upstreamPort) {
        return new RouteCorpus(routes, gatewayAddress, port, upstreamAddress, upstreamPort);
    }

    /** The number of routes. */
    public int routes() {
        return routes;
    }

    /** The socket the Gateway listener binds, the key of its {@code PortTable}. */
    public BindKey bind() {
        return new BindKey(gatewayAddress, port);
    }

    private static String ns(int i) {
        return "team-%02d".formatted(i % TEAMS);
    }

    private static String name(int i) {
        return "r-%05d".formatted(i);
    }

    private static String entry(int i, int rule) {
        return "httproute/" + ns(i) + "/" + name(i) + "/rule/" + rule + "/match/0";
    }

    private static int shape(int i) {
        return i % 100;
    }

    /** The GatewayClass, the Gateway, and per namespace the Services and EndpointSlices. */
    public String gatewayYaml() {
        final StringBuilder sb = new StringBuilder();
        sb.append("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: postern}
                spec: {controllerName: postern.dev/gateway-controller}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: bench, namespace: %s}
                spec:
                  gatewayClassName: postern
                  addresses: [{type: IPAddress, value: %s}]
                  listeners:
                  - name: http
                    protocol: HTTP
                    port: %d
                    allowedRoutes: {namespaces: {from: All}}
                """.formatted(GATEWAY_NS, gatewayAddress, port));
        for (int t = 0; t < TEAMS; t++) {
            for (String svc : List.of("web", "web-canary")) {
                sb.append("""
                        ---
                        apiVersion: v1
                        kind: Service
                        metadata: {name: %1$s, namespace: %2$s}
                        spec: {ports: [{name: http, port: 80, targetPort: %4$d}]}
                        ---
                        apiVersion: discovery.k8s.io/v1
                        kind: EndpointSlice
                        metadata: {name: %1$s-1, namespace: %2$s, labels: {kubernetes.io/service-name: %1$s}}
                        addressType: IPv4
                        endpoints: [{addresses: [%3$s], conditions: {ready: true}}]
                        ports: [{name: http, port: %4$d}]
                        """.formatted(svc, ns(t), upstreamAddress, upstreamPort));
            }
        }
        return sb.toString();
    }

    /** One HTTPRoute as YAML (a document, without the leading separator). */
    public String routeYaml(int i) {
        final String head = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: %s, namespace: %s}
                spec:
                  parentRefs: [{name: bench, namespace: %s}]
                """.formatted(name(i), ns(i), GATEWAY_NS);
        final int s = shape(i);
        if (s < 65) {
            return head + """
                      hostnames: [app-%1$d.example.com]
                      rules:
                      - matches: [{path: {type: Exact, value: /healthz}}]
                        backendRefs: [{name: web, port: 80}]
                      - matches: [{path: {type: PathPrefix, value: /api/v1}, headers: [{name: X-Canary, value: "true"}]}]
                        backendRefs: [{name: web-canary, port: 80}]
                      - matches: [{path: {type: PathPrefix, value: /api}}]
                        backendRefs: [{name: web, port: 80}]
                      - matches: [{path: {type: PathPrefix, value: /static}, method: GET}]
                        backendRefs: [{name: web, port: 80}]
                    """.formatted(i);
        } else if (s < 85) {
            return head + """
                      hostnames: ["*.tenant-%1$d.example.net"]
                      rules:
                      - matches:
                        - path: {type: PathPrefix, value: /admin}
                          headers: [{name: x-admin-token, type: RegularExpression, value: "[0-9a-f]{8}"}]
                        backendRefs: [{name: web, port: 80}]
                      - matches: [{path: {type: PathPrefix, value: /}}]
                        backendRefs: [{name: web, port: 80}]
                    """.formatted(i);
        } else if (s < 94) {
            final String header = i % 2 == 1 ? ", headers: [{name: x-tenant, value: t-" + i + "}]" : "";
            return head + """
                      hostnames: [api.example.com]
                      rules:
                      - matches: [{path: {type: PathPrefix, value: /svc-%1$d}%2$s}]
                        backendRefs: [{name: web, port: 80}]
                    """.formatted(i, header);
        } else if (s < 99) {
            return head + """
                      hostnames: [site-%1$d.example.org, www.site-%1$d.example.org]
                      rules:
                      - matches: [{path: {type: PathPrefix, value: /}}]
                        backendRefs: [{name: web, port: 80}]
                    """.formatted(i);
        }
        return head + """
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /global/%1$d}}]
                    backendRefs: [{name: web, port: 80}]
                """.formatted(i);
    }

    /** The routes as YAML files of at most {@code perFile} routes each (the reader limits a file to 8 MiB). */
    public List<String> routeFiles(int perFile) {
        final List<String> files = new ArrayList<>();
        for (int from = 0; from < routes; from += perFile) {
            final StringBuilder sb = new StringBuilder();
            for (int i = from; i < Math.min(routes, from + perFile); i++) {
                sb.append("---\n").append(routeYaml(i));
            }
            files.add(sb.toString());
        }
        return files;
    }

    /** Every file: name to YAML text ({@code gateway.yaml}, {@code routes-000.yaml}...). */
    public Map<String, String> files() {
        final Map<String, String> out = new LinkedHashMap<>();
        out.put("gateway.yaml", gatewayYaml());
        final List<String> rf = routeFiles(1000);
        for (int k = 0; k < rf.size(); k++) {
            out.put("routes-%03d.yaml".formatted(k), rf.get(k));
        }
        return out;
    }

    /** Writes {@link #files()} into {@code dir}. */
    public void writeTo(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (Map.Entry<String, String> e : files().entrySet()) {
            Files.writeString(dir.resolve(e.getKey()), e.getValue());
        }
    }

    /**
     * Reads {@link #files()} into records with the production reader.
     *
     * @throws IllegalStateException if the reader reports any error (the corpus would be wrong)
     */
    public List<Resource> resources() {
        final List<Resource> out = new ArrayList<>();
        for (Map.Entry<String, String> e : files().entrySet()) {
            final YamlReader.Result r = YamlReader.read(e.getKey(), e.getValue());
            for (Diagnostic d : r.diagnostics()) {
                if (d.isError()) {
                    throw new IllegalStateException("corpus does not read cleanly: " + d);
                }
            }
            out.addAll(r.resources());
        }
        return out;
    }

    /** The index of a random route of a shape range [from, to) of {@code i mod 100}. */
    private int pick(SplittableRandom rnd, int from, int to) {
        while (true) {
            final int i = rnd.nextInt(routes);
            final int s = shape(i);
            if (s >= from && s < to) {
                return i;
            }
        }
    }

    /** {@code count} probes of one kind, reproducible for a seed. */
    public Probe[] probes(Kind kind, int count, long seed) {
        final SplittableRandom rnd = new SplittableRandom(seed);
        final Probe[] out = new Probe[count];
        for (int n = 0; n < count; n++) {
            out[n] = probe(kind, rnd);
        }
        return out;
    }

    private Probe probe(Kind kind, SplittableRandom rnd) {
        final String port = ":" + this.port;
        return switch (kind) {
            case MIXED -> {
                final int w = rnd.nextInt(100);
                yield probe(w < 45 ? Kind.EXACT : w < 65 ? Kind.WILDCARD : w < 80 ? Kind.SHARED
                        : w < 90 ? Kind.CATCHALL : w < 95 ? Kind.MISS : Kind.EXACT, rnd);
            }
            case EXACT -> {
                if (rnd.nextInt(10) == 0) {
                    final int i = pick(rnd, 94, 99);
                    final String host = (rnd.nextBoolean() ? "www." : "") + "site-" + i + ".example.org";
                    yield new Probe(kind, "GET", "/products/42?ref=home", host + port, Map.of(), entry(i, 0));
                }
                final int i = pick(rnd, 0, 65);
                final String host = "app-" + i + ".Example.com" + port;
                yield switch (rnd.nextInt(5)) {
                    case 0 -> new Probe(kind, "GET", "/healthz", host, Map.of(), entry(i, 0));
                    case 1 -> new Probe(kind, "GET", "/api/v1/items/42?expand=true", host,
                            Map.of("x-canary", "true"), entry(i, 1));
                    case 2 -> new Probe(kind, "GET", "/api/v1/items/42", host, Map.of(), entry(i, 2));
                    case 3 -> new Probe(kind, "POST", "/api/orders?id=7", host, Map.of(), entry(i, 2));
                    default -> new Probe(kind, "GET", "/static/app.js", host, Map.of(), entry(i, 3));
                };
            }
            case WILDCARD -> {
                final int i = pick(rnd, 65, 85);
                final String sub = switch (rnd.nextInt(3)) {
                    case 0 -> "shop";
                    case 1 -> "eu.shop";
                    default -> "a.b.c";
                };
                final String host = sub + ".tenant-" + i + ".example.net" + port;
                yield rnd.nextInt(4) == 0
                        ? new Probe(kind, "GET", "/admin/users", host, Map.of("x-admin-token", "0badf00d"),
                                entry(i, 0))
                        : new Probe(kind, "GET", "/index.html", host, Map.of(), entry(i, 1));
            }
            case SHARED -> {
                final int i = pick(rnd, 85, 94);
                yield new Probe(kind, "GET", "/svc-" + i + "/resource/7", "api.example.com" + port,
                        i % 2 == 1 ? Map.of("x-tenant", "t-" + i) : Map.of(), entry(i, 0));
            }
            case CATCHALL -> {
                final int i = pick(rnd, 99, 100);
                final String host = rnd.nextBoolean() ? "nohost-" + rnd.nextInt(1000) + ".example.com"
                        : "app-" + pick(rnd, 0, 65) + ".example.com";
                yield new Probe(kind, "GET", "/global/" + i + "/x", host + port, Map.of(), entry(i, 0));
            }
            case MISS -> rnd.nextBoolean()
                    ? new Probe(kind, "GET", "/nothing/here", "app-" + pick(rnd, 0, 65) + ".example.com" + port,
                            Map.of(), null)
                    : new Probe(kind, "GET", "/nothing/here", "unknown.example.com" + port, Map.of(), null);
        };
    }

    /**
     * Writes a corpus directory for the load harness.
     *
     * <p>{@code RouteCorpus DIR ROUTES GATEWAY_ADDRESS PORT UPSTREAM_ADDRESS UPSTREAM_PORT [--no-gateway-class]};
     * the last flag leaves the GatewayClass out, for a directory that already defines it.
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 6 || args.length > 7 || (args.length == 7 && !args[6].equals("--no-gateway-class"))) {
            System.err.println("usage: RouteCorpus DIR ROUTES GATEWAY_ADDRESS PORT UPSTREAM_ADDRESS UPSTREAM_PORT"
                    + " [--no-gateway-class]");
            System.exit(2);
        }
        final RouteCorpus c = of(Integer.parseInt(args[1]), args[2], Integer.parseInt(args[3]), args[4],
                Integer.parseInt(args[5]));
        final Path dir = Path.of(args[0]);
        Files.createDirectories(dir);
        for (Map.Entry<String, String> e : c.files().entrySet()) {
            String text = e.getValue();
            if (args.length == 7 && e.getKey().equals("gateway.yaml")) {
                text = text.substring(text.indexOf("---\n") + 4); // the GatewayClass is the first document
            }
            Files.writeString(dir.resolve("corpus-" + e.getKey()), text);
        }
    }
}
