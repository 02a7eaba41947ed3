package dev.postern.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.postern.config.runtime.RouteEntry;
import dev.postern.config.runtime.VirtualHost;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** The indexed lookup of a large virtual host answers exactly what a scan in precedence order answers. */
class VirtualHostIndexTest {
    @Test
    void indexedLookupEqualsLinearScan() {
        final StringBuilder rules = new StringBuilder();
        final String[] exact = {"/a", "/a/b", "/c/d/e", "/"};
        final String[] prefix = {"/", "/a", "/a/b", "/c", "/c/d", "/x/y/z", "/a/"};
        for (String e : exact) {
            rules.append("  - matches: [{path: {type: Exact, value: \"").append(e).append("\"}}]\n")
                    .append("    backendRefs: [{name: svc, port: 80}]\n");
        }
        for (String p : prefix) {
            rules.append("  - matches: [{path: {type: PathPrefix, value: \"").append(p).append("\"}}]\n")
                    .append("    backendRefs: [{name: svc, port: 80}]\n");
            rules.append("  - matches: [{path: {type: PathPrefix, value: \"").append(p).append("\"}, ")
                    .append("headers: [{name: x, value: \"1\"}]}]\n    backendRefs: [{name: svc, port: 80}]\n");
        }
        rules.append("  - matches: [{path: {type: RegularExpression, value: \"/a/[0-9]+\"}}]\n")
                .append("    backendRefs: [{name: svc, port: 80}]\n");
        final ConfigPipeline.Build b = PipelineTest.build("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: app}
                spec:
                  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
                  rules:
                """ + rules);
        final VirtualHost vh = b.table().port(new dev.postern.config.runtime.BindKey("127.0.0.5", 8080))
                .virtualHost("h");
        final List<RouteEntry> all = vh.routes();
        final String[] paths = {"/", "/a", "/a/", "/a/b", "/a/b/", "/a/b/c", "/a/12", "/ab", "/c", "/c/d",
            "/c/d/e", "/c/d/e/f", "/x", "/x/y", "/x/y/z", "/x/y/z/w", "/zzz", "/a//b"};
        for (String p : paths) {
            for (Map<String, String> h : List.of(Map.<String, String>of(), Map.of("x", "1"))) {
                final TestRequests req = TestRequests.of("GET", p, h);
                RouteEntry scan = null;
                for (RouteEntry r : all) {
                    if (r.matches(req)) {
                        scan = r;
                        break;
                    }
                }
                final RouteEntry got = vh.match(req);
                assertEquals(scan == null ? null : scan.name(), got == null ? null : got.name(), p + " " + h);
            }
        }
    }
}
