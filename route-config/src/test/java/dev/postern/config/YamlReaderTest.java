package dev.postern.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.gatewayapi.HTTPRoute;
import dev.postern.config.yaml.FileCache;
import dev.postern.config.yaml.YamlReader;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading manifests: good input, and every kind of bad input named precisely. */
class YamlReaderTest {

    private static Diagnostic only(YamlReader.Result r, String reason) {
        final List<Diagnostic> ds = r.diagnostics().stream().filter(d -> d.reason().equals(reason)).toList();
        assertEquals(1, ds.size(), () -> "expected one " + reason + " in " + r.diagnostics());
        return ds.getFirst();
    }

    @Test
    void readsRouteWithDefaultsAndLines() {
        final YamlReader.Result r = YamlReader.read("routes.yaml", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata:
                  name: r1
                  namespace: ns1
                  generation: 3
                spec:
                  parentRefs:
                  - name: gw
                  rules:
                  - backendRefs:
                    - name: svc
                      port: 8080
                """);
        assertFalse(r.hasErrors(), r.diagnostics()::toString);
        final HTTPRoute route = (HTTPRoute) r.resources().getFirst();
        assertEquals("ns1", route.metadata().namespace());
        assertEquals(3, route.metadata().generation());
        assertEquals("gateway.networking.k8s.io", route.parentRefs().getFirst().group());
        assertEquals("Gateway", route.parentRefs().getFirst().kind());
        assertEquals(1, route.rules().getFirst().backendRefs().getFirst().weight());
        assertEquals(13, route.source().lineOf("spec.rules[0].backendRefs[0].port"));
    }

    // Gateway API v1.6 spec.tls.frontend (GEP-91): default and perPort validation, mode defaulting to
    // AllowValidOnly; a perPort entry without its port is an error naming the field; spec.tls.backend is reported.
    @Test
    void readsFrontendClientCertificateValidation() {
        final YamlReader.Result r = YamlReader.read("gw.yaml", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: infra}
                spec:
                  gatewayClassName: postern
                  tls:
                    backend: {clientCertificateRef: {name: c}}
                    frontend:
                      default:
                        validation:
                          caCertificateRefs: [{group: "", kind: ConfigMap, name: ca, namespace: other}]
                      perPort:
                      - port: 8443
                        tls: {validation: {mode: AllowInsecureFallback, caCertificateRefs: [{kind: ConfigMap, name: b}]}}
                  listeners: [{name: https, protocol: HTTPS, port: 443}]
                """);
        assertFalse(r.hasErrors(), r.diagnostics()::toString);
        final dev.postern.config.gatewayapi.Gateway gw = (dev.postern.config.gatewayapi.Gateway) r.resources()
                .getFirst();
        final dev.postern.config.gatewayapi.Gateway.FrontendTLS f = gw.frontendTls();
        assertEquals("AllowValidOnly", f.defaultValidation().mode());
        assertEquals("other", f.defaultValidation().caCertificateRefs().getFirst().namespace());
        assertEquals(1, f.perPort().size());
        assertEquals(8443, f.perPort().getFirst().port());
        assertEquals("AllowInsecureFallback", f.perPort().getFirst().validation().mode());
        assertTrue(r.diagnostics().isEmpty(), r.diagnostics()::toString);
        final dev.postern.config.gatewayapi.Gateway.SecretObjectReference client = gw.backendClientCertificateRef();
        assertEquals("c", client.name());
        assertEquals("Secret", client.kind());
        assertEquals("", client.group());
        assertEquals(null, client.namespace());
        final YamlReader.Result bad = YamlReader.read("gw.yaml", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: infra}
                spec:
                  gatewayClassName: postern
                  tls: {frontend: {perPort: [{tls: {}}]}}
                  listeners: [{name: https, protocol: HTTPS, port: 443}]
                """);
        assertEquals("spec.tls.frontend.perPort[0].port", only(bad, "Required").field());
    }

    @Test
    void wrongTypeNamesFileLineResourceAndField() {
        final YamlReader.Result r = YamlReader.read("bad.yaml", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata:
                  name: r1
                spec:
                  rules:
                  - backendRefs:
                    - name: svc
                      port: eighty
                """);
        final Diagnostic d = only(r, "InvalidType");
        assertTrue(d.isError());
        assertEquals("bad.yaml", d.file());
        assertEquals(9, d.line());
        assertEquals("HTTPRoute", d.kind());
        assertEquals("default", d.namespace());
        assertEquals("r1", d.name());
        assertEquals("spec.rules[0].backendRefs[0].port", d.field());
        assertTrue(d.toString().startsWith("bad.yaml:9: error: HTTPRoute default/r1: spec.rules[0].backendRefs[0].port:"),
                d.toString());
        assertTrue(r.resources().isEmpty(), "a resource with an error is not kept");
    }

    @Test
    void invalidYamlNamesTheLine() {
        final YamlReader.Result r = YamlReader.read("broken.yaml", "kind: Gateway\nmetadata: {name: [x\n");
        final Diagnostic d = only(r, "InvalidYaml");
        assertEquals("broken.yaml", d.file());
        assertTrue(d.line() >= 2, d::toString);
    }

    @Test
    void aliasBombIsRefused() {
        final StringBuilder sb = new StringBuilder("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (char c = 'b'; c <= 'k'; c++) {
            final char p = (char) (c - 1);
            sb.append(c).append(": &").append(c).append(" [*").append(p).append(",*").append(p).append(",*")
                    .append(p).append(",*").append(p).append(",*").append(p).append(",*").append(p).append("]\n");
        }
        final YamlReader.Result r = YamlReader.read("bomb.yaml", sb.toString());
        assertTrue(r.hasErrors(), r.diagnostics()::toString);
        assertTrue(r.resources().isEmpty());
    }

    @Test
    void deepNestingIsRefused() {
        final String deep = "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: x}\nspec: "
                + "[".repeat(500) + "]".repeat(500) + "\n";
        final YamlReader.Result r = YamlReader.read("deep.yaml", deep);
        assertTrue(r.hasErrors(), r.diagnostics()::toString);
    }

    @Test
    void unknownFieldsWarnAndOtherKindsAreSkipped() {
        final YamlReader.Result r = YamlReader.read("mixed.yaml", """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r}
                spec:
                  bogus: 1
                """);
        assertFalse(r.hasErrors(), r.diagnostics()::toString);
        assertEquals(1, r.resources().size());
        final Diagnostic d = only(r, "UnknownField");
        assertEquals("spec.bogus", d.field());
        assertEquals(9, d.line());
    }

    @Test
    void duplicatesAndMissingNamesAreErrors(@TempDir Path dir) throws Exception {
        final String route = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: same}
                """;
        Files.writeString(dir.resolve("a.yaml"), route);
        Files.writeString(dir.resolve("b.yaml"), route + "---\napiVersion: v1\nkind: Service\nmetadata: {}\n");
        final YamlReader.Result r = YamlReader.readDirectory(dir);
        final Diagnostic dup = only(r, "Duplicate");
        assertTrue(dup.file().endsWith("b.yaml"));
        assertTrue(dup.message().contains("a.yaml"));
        final Diagnostic req = only(r, "Required");
        assertEquals("metadata.name", req.field());
    }

    @Test
    void hugeFileIsRefused(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("huge.yaml"), "# " + "x".repeat(YamlReader.MAX_FILE_CHARS + 10));
        final YamlReader.Result r = YamlReader.readDirectory(dir);
        assertEquals("TooLarge", r.diagnostics().getFirst().reason());
    }

    @Test
    void fileCacheReparsesOnlyChangedFilesAndForgetsDeletedOnes(@TempDir Path dir) throws Exception {
        final String route = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: %s, namespace: default}
                """;
        Files.writeString(dir.resolve("a.yaml"), route.formatted("a"));
        Files.writeString(dir.resolve("b.yaml"), route.formatted("b"));
        final FileCache cache = new FileCache();
        assertEquals(2, YamlReader.readDirectory(dir, cache).resources().size());
        assertEquals(2, cache.misses());

        YamlReader.Result r = YamlReader.readDirectory(dir, cache);
        assertEquals(2, cache.hits());
        assertEquals(List.of("a", "b"), r.resources().stream().map(x -> x.metadata().name()).toList());

        // Rewrite b atomically (a new inode), as editors and kubectl-like tools do: parsed again.
        final Path tmp = dir.resolve(".b.tmp");
        Files.writeString(tmp, route.formatted("b2"));
        Files.move(tmp, dir.resolve("b.yaml"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        r = YamlReader.readDirectory(dir, cache);
        assertEquals(List.of("a", "b2"), r.resources().stream().map(x -> x.metadata().name()).toList());
        assertEquals(3, cache.hits());
        assertEquals(3, cache.misses());

        // Rewrite in place with a different size: parsed again too.
        Files.writeString(dir.resolve("a.yaml"), route.formatted("a-longer"));
        r = YamlReader.readDirectory(dir, cache);
        assertEquals(List.of("a-longer", "b2"), r.resources().stream().map(x -> x.metadata().name()).toList());

        // A deleted file's resources are gone, and a bad file still rejects the build from the cache.
        Files.delete(dir.resolve("a.yaml"));
        Files.writeString(dir.resolve("c.yaml"), "kind: [unclosed");
        r = YamlReader.readDirectory(dir, cache);
        assertEquals(List.of("b2"), r.resources().stream().map(x -> x.metadata().name()).toList());
        assertTrue(r.hasErrors());
        r = YamlReader.readDirectory(dir, cache);
        assertTrue(r.hasErrors(), "a cached parse keeps its diagnostics");
    }
}
