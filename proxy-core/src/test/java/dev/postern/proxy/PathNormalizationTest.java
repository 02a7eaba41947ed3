package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.http.PathNormalizer;
import dev.postern.proxy.http.PathNormalizer.EscapedSlashes;
import dev.postern.proxy.http.PathNormalizer.Policy;
import dev.postern.proxy.server.Bootstrap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Path normalization (issue 9): dot segments are removed before matching, and the bootstrap's
 * {@code mergeSlashes} and {@code pathWithEscapedSlashesAction} apply, over HTTP/1.1 (raw sockets) and HTTP/2
 * (curl with prior knowledge and {@code --path-as-is}). The route is chosen on the normalized path and the echo
 * backend reports the same path: routing and forwarding never disagree.
 */
class PathNormalizationTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static EchoServer admin;
    private static EchoServer pub;
    @TempDir
    static Path dir;
    private static TestGateway keep;
    private static TestGateway mergeForward;
    private static TestGateway reject;
    private static TestGateway redirect;

    @BeforeAll
    static void start() throws Exception {
        admin = TestGateway.echo("admin");
        pub = TestGateway.echo("public");
        keep = gateway("keep", Policy.DEFAULTS);
        mergeForward = gateway("merge", new Policy(true, EscapedSlashes.UNESCAPE_AND_FORWARD));
        reject = gateway("reject", new Policy(false, EscapedSlashes.REJECT_REQUEST));
        redirect = gateway("redirect", new Policy(false, EscapedSlashes.UNESCAPE_AND_REDIRECT));
    }

    private static TestGateway gateway(String name, Policy p) throws Exception {
        final Path d = Files.createDirectories(dir.resolve(name));
        final Bootstrap b = Bootstrap.defaults().withDownstream(Bootstrap.Downstream.DEFAULTS.withPaths(p));
        return TestGateway.start(d, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /admin}}]
                    backendRefs: [{name: admin, port: 80}]
                  - backendRefs: [{name: pub, port: 80}]
                """ + TestGateway.service("admin", admin.address().getPort())
                + TestGateway.service("pub", pub.address().getPort()), b);
    }

    @AfterAll
    static void stop() throws Exception {
        for (TestGateway g : new TestGateway[] {keep, mergeForward, reject, redirect}) {
            g.close();
        }
        admin.close();
        pub.close();
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "/, /",
        "/a/./b, /a/b",
        "/a/../b, /b",
        "/a/b/.., /a/",
        "/a/b/., /a/b/",
        "/.., /",
        "/../../a, /a",
        "/a/%2e%2E/b, /b",
        "/a/.%2e/b, /b",
        "/a/%2E/b, /a/b",
        "/a//../b, /a/b",
        "//a, //a",
        "/a%2Fb, /a%2Fb",
    })
    void dotSegmentsByDefault(String in, String want) {
        assertEquals(want, PathNormalizer.normalize(in, Policy.DEFAULTS));
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "//a///b, /a/b",
        "/a//, /a/",
        "///, /",
        "/a%2Fb, /a/b",
        "/a%5cb, /a\\b",
        "/a%2f..%2fb, /b",
        "/a%2F%2Fb, /a/b",
    })
    void mergeAndUnescape(String in, String want) {
        assertEquals(want, PathNormalizer.normalize(in, new Policy(true, EscapedSlashes.UNESCAPE_AND_FORWARD)));
    }

    /** Normal paths come back as the very same string: the hot path does not allocate. */
    @Test
    void normalPathsAreNotCopied() {
        for (String p : new String[] {"/", "/a/b/c", "/.well-known/acme", "/a.b/c..d/...", "/a%20b", "/a/b/",
            "/x%2"}) {
            assertSame(p, PathNormalizer.normalize(p, Policy.DEFAULTS), p);
            assertSame(p, PathNormalizer.normalize(p, new Policy(true, EscapedSlashes.REJECT_REQUEST)), p);
        }
        assertSame(PathNormalizer.REJECT, PathNormalizer.normalize("/a%2fb",
                new Policy(false, EscapedSlashes.REJECT_REQUEST)));
    }

    /** The pod that answered and the path it saw, over HTTP/1.1 and over HTTP/2. */
    private static void routesTo(TestGateway gw, String target, String pod, String path) throws Exception {
        try (RawHttp c = gw.client()) {
            final RawHttp.Response r = c.get("p.test", target);
            assertEquals(200, r.status(), target);
            final JsonNode j = JSON.readTree(r.body());
            assertEquals(pod, j.get("pod").asText(), () -> "HTTP/1.1 " + target + ": " + r.text());
            assertEquals(path, j.get("path").asText(), () -> "HTTP/1.1 " + target);
        }
        final JsonNode j = JSON.readTree(TestGateway.run("curl", "-sS", "--http2-prior-knowledge", "--path-as-is",
                "-H", "Host: p.test", gw.url(target)));
        assertEquals(pod, j.get("pod").asText(), () -> "HTTP/2 " + target + ": " + j);
        assertEquals(path, j.get("path").asText(), () -> "HTTP/2 " + target);
    }

    @Test
    void dotSegmentsAreRemovedBeforeMatchingAndForwarding() throws Exception {
        routesTo(keep, "/public/../admin/x", "admin", "/admin/x");
        routesTo(keep, "/%2e%2e/admin", "admin", "/admin");
        routesTo(keep, "/admin/./x/../y?q=1", "admin", "/admin/y?q=1");
        routesTo(keep, "/admin/../public", "public", "/public");
        routesTo(keep, "//admin", "public", "//admin"); // slashes are not merged by default
        routesTo(keep, "/admin%2Fx", "public", "/admin%2Fx"); // nor escaped slashes unescaped
    }

    @Test
    void mergeSlashesAndUnescapeAndForward() throws Exception {
        routesTo(mergeForward, "//admin///x", "admin", "/admin/x");
        routesTo(mergeForward, "/public%2F..%2Fadmin", "admin", "/admin");
        routesTo(mergeForward, "/admin%2fx?a=%2F", "admin", "/admin/x?a=%2F"); // the query is left alone
    }

    @Test
    void rejectRequest() throws Exception {
        try (RawHttp c = reject.client()) {
            assertEquals(400, c.get("p.test", "/admin%2fx").status());
        }
        final String h2 = TestGateway.run("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                "--http2-prior-knowledge", "--path-as-is", "-H", "Host: p.test", reject.url("/admin%2Fx"));
        assertEquals("400", h2);
        routesTo(reject, "/a/../admin", "admin", "/admin");
    }

    @Test
    void unescapeAndRedirect() throws Exception {
        try (RawHttp c = redirect.client()) {
            final RawHttp.Response r = c.get("p.test", "/admin%2Fx/%2e%2e/y?q=1");
            assertEquals(307, r.status());
            assertEquals("/admin/y?q=1", r.header("location"));
            assertEquals(200, c.get("p.test", r.header("location")).status(), "the connection is kept");
        }
        final String h2 = TestGateway.run("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                "--http2-prior-knowledge", "--path-as-is", "-H", "Host: p.test", redirect.url("/admin%2Fx"));
        assertEquals("307 " + redirect.url("/admin/x"), h2);
        routesTo(redirect, "/public/../admin", "admin", "/admin"); // no escaped slash: no redirect
    }

    @Test
    void bootstrapKnobs() throws Exception {
        final Path f = dir.resolve("bootstrap.yaml");
        Files.writeString(f, "downstream: {mergeSlashes: true, pathWithEscapedSlashesAction: UNESCAPE_AND_REDIRECT}\n");
        assertEquals(new Policy(true, EscapedSlashes.UNESCAPE_AND_REDIRECT),
                Bootstrap.read(f).downstream().paths());
        Files.writeString(f, "downstream: {pathWithEscapedSlashesAction: DECODE}\n");
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bootstrap.read(f));
        assertEquals(f + ": downstream.pathWithEscapedSlashesAction: \"DECODE\" is not one of [KEEP_UNCHANGED, "
                + "REJECT_REQUEST, UNESCAPE_AND_REDIRECT, UNESCAPE_AND_FORWARD]", e.getMessage());
        Files.writeString(f, "downstream: {mergeSlashes: yes please}\n");
        assertThrows(IllegalArgumentException.class, () -> Bootstrap.read(f));
        assertEquals(Policy.DEFAULTS, Bootstrap.defaults().downstream().paths());
    }
}
