package dev.postern.conformance;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * One upstream conformance test ported as data (conformance/src/test/resources/cases/*.yaml; the schema is in
 * that folder's README): its manifests, features, gateways, and request/expectation cases.
 */
public record ConformanceCase(String name, String description, List<String> manifests, List<String> features,
                              boolean provisional, String kind, Map<String, GatewayRef> gateways, List<Case> cases,
                              String special) {

    /** A Gateway by alias, with an optional listener whose port the cases use. */
    public record GatewayRef(String namespace, String name, String listener) {
    }

    /** One request and what must come back. Absent parts are null. */
    public record Case(String gateway, Map<String, Object> request, Map<String, Object> expectedRequest,
                       Map<String, Object> redirectRequest, Map<String, Object> response, String backend,
                       String namespace, String mode, List<Map<String, Object>> mirroredTo) {

        /** This case with a query parameter added to the request path and the expected path. */
        public Case withQuery(String name, String value) {
            final Map<String, Object> rq = new LinkedHashMap<>(request);
            rq.put("path", addQuery(String.valueOf(rq.getOrDefault("path", "/")), name, value));
            Map<String, Object> er = expectedRequest;
            if (er != null && er.get("path") != null) {
                er = new LinkedHashMap<>(er);
                er.put("path", addQuery(String.valueOf(er.get("path")), name, value));
            }
            return new Case(gateway, rq, er, redirectRequest, response, backend, namespace, mode, mirroredTo);
        }

        /** This case with another mode (eventually, once, failure). */
        public Case withMode(String m) {
            return new Case(gateway, request, expectedRequest, redirectRequest, response, backend, namespace, m,
                    mirroredTo);
        }

        private static String addQuery(String path, String name, String value) {
            return path + (path.contains("?") ? "&" : "?") + name + "=" + value;
        }
    }

    /** Parses a case file (safe loading). */
    @SuppressWarnings("unchecked")
    public static ConformanceCase parse(String yaml) {
        final Map<String, Object> m = (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions()))
                .load(yaml);
        final Map<String, GatewayRef> gws = new LinkedHashMap<>();
        ((Map<String, Object>) m.getOrDefault("gateways", Map.of())).forEach((alias, v) -> {
            final Map<String, Object> g = (Map<String, Object>) v;
            gws.put(alias, new GatewayRef(str(g.get("namespace")), str(g.get("name")), str(g.get("listener"))));
        });
        final List<Case> cases = new ArrayList<>();
        for (Object o : (List<Object>) m.getOrDefault("cases", List.of())) {
            final Map<String, Object> c = (Map<String, Object>) o;
            cases.add(new Case(str(c.getOrDefault("gateway", gws.isEmpty() ? null : gws.keySet().iterator().next())),
                    (Map<String, Object>) c.getOrDefault("request", Map.of()),
                    (Map<String, Object>) c.get("expectedRequest"), (Map<String, Object>) c.get("redirectRequest"),
                    (Map<String, Object>) c.getOrDefault("response", Map.of()), str(c.get("backend")),
                    c.containsKey("namespace") ? String.valueOf(c.get("namespace") == null ? "" : c.get("namespace"))
                            : null, str(c.getOrDefault("mode", "eventually")),
                    (List<Map<String, Object>>) c.getOrDefault("mirroredTo", List.of())));
        }
        return new ConformanceCase(str(m.get("name")), str(m.get("description")),
                strings(m.get("manifests")), strings(m.get("features")), Boolean.TRUE.equals(m.get("provisional")),
                str(m.getOrDefault("kind", "http")), gws, cases, str(m.get("special")));
    }

    private static String str(Object o) {
        return o == null ? null : String.valueOf(o);
    }

    @SuppressWarnings("unchecked")
    private static List<String> strings(Object o) {
        if (o == null) {
            return List.of();
        }
        return ((List<Object>) o).stream().map(String::valueOf).toList();
    }
}
