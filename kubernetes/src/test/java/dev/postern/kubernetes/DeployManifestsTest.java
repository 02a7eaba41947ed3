package dev.postern.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kubectl apply --dry-run=client -f deploy/} accepts every manifest. kubectl needs an API server even for a
 * client-side dry run (discovery maps kinds to resources; apply reads the live object), so the test serves both
 * from the fabric8 mock server: discovery documents for the groups the manifests use, and CRUD (404: "created")
 * for the objects. {@code --validate=false} because schema validation would download OpenAPI from the server.
 * Skipped when kubectl is not installed (.ci/install-deps installs Debian's kubernetes-client).
 */
class DeployManifestsTest {
    private static final Path DEPLOY = Path.of("..", "deploy");

    /** group/version → resources (plural, kind, namespaced) the manifests use. */
    private static final Map<String, List<Res>> RESOURCES = Map.of(
            "v1", List.of(r("namespaces", "Namespace", false), r("services", "Service", true),
                    r("serviceaccounts", "ServiceAccount", true), r("configmaps", "ConfigMap", true)),
            "apps/v1", List.of(r("deployments", "Deployment", true), r("daemonsets", "DaemonSet", true)),
            "rbac.authorization.k8s.io/v1", List.of(r("clusterroles", "ClusterRole", false),
                    r("clusterrolebindings", "ClusterRoleBinding", false), r("roles", "Role", true),
                    r("rolebindings", "RoleBinding", true)),
            "policy/v1", List.of(r("poddisruptionbudgets", "PodDisruptionBudget", true)),
            "gateway.networking.k8s.io/v1", List.of(r("gatewayclasses", "GatewayClass", false)));

    private record Res(String plural, String kind, boolean namespaced) {
    }

    private static Res r(String plural, String kind, boolean namespaced) {
        return new Res(plural, kind, namespaced);
    }

    @Test
    void kubectlDryRunAcceptsEveryManifest(@TempDir Path tmp) throws Exception {
        // CI installs kubectl (.ci/install-deps: kubernetes-client); elsewhere the test skips saying why, or fails
        // with -Dpostern.requireAllTests=true.
        if (Boolean.getBoolean("postern.requireAllTests")) {
            org.junit.jupiter.api.Assertions.assertTrue(onPath("kubectl"), "kubectl is not installed");
        }
        assumeTrue(onPath("kubectl"), "kubectl is not installed (Debian package kubernetes-client)");
        final Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
        final KubernetesMockServer api = new KubernetesMockServer(new Context(), new MockWebServer(), responses,
                new KubernetesMixedDispatcher(responses), false);
        api.init(InetAddress.getLoopbackAddress(), 0);
        try {
            discovery(api);
            final Path kubeconfig = tmp.resolve("kubeconfig");
            Files.writeString(kubeconfig, """
                    apiVersion: v1
                    kind: Config
                    clusters: [{name: mock, cluster: {server: "http://127.0.0.1:%d"}}]
                    users: [{name: mock, user: {token: dry-run}}]
                    contexts: [{name: mock, context: {cluster: mock, user: mock}}]
                    current-context: mock
                    """.formatted(api.getPort()));
            final List<String> cmd = List.of("kubectl", "--kubeconfig", kubeconfig.toString(), "--cache-dir",
                    tmp.resolve("cache").toString(), "apply", "--dry-run=client", "--validate=false", "-f",
                    DEPLOY.toString());
            final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "kubectl timed out");
            assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
            // Every document of every file was mapped and applied.
            final long documents = countDocuments();
            final long applied = out.lines().filter(l -> l.endsWith("(dry run)")).count();
            assertEquals(documents, applied, out);
        } finally {
            api.destroy();
        }
    }

    private static long countDocuments() throws IOException {
        long n = 0;
        try (Stream<Path> files = Files.list(DEPLOY)) {
            for (Path f : files.filter(x -> x.toString().endsWith(".yaml")).toList()) {
                n += Files.readAllLines(f).stream().filter(l -> l.startsWith("kind:")).count();
            }
        }
        return n;
    }

    private static void discovery(KubernetesMockServer api) {
        expect(api, "/api", Map.of("kind", "APIVersions", "versions", List.of("v1"),
                "serverAddressByClientCIDRs", List.of(Map.of("clientCIDR", "0.0.0.0/0",
                        "serverAddress", "127.0.0.1"))));
        final List<Map<String, Object>> groups = new ArrayList<>();
        for (String gv : RESOURCES.keySet()) {
            if (gv.equals("v1")) {
                continue;
            }
            final String group = gv.substring(0, gv.indexOf('/'));
            final Map<String, String> version = Map.of("groupVersion", gv, "version", gv.substring(gv.indexOf('/') + 1));
            groups.add(Map.of("name", group, "versions", List.of(version), "preferredVersion", version));
        }
        expect(api, "/apis", Map.of("kind", "APIGroupList", "apiVersion", "v1", "groups", groups));
        for (Map.Entry<String, List<Res>> e : RESOURCES.entrySet()) {
            final List<Map<String, Object>> rs = new ArrayList<>();
            for (Res r : e.getValue()) {
                rs.add(Map.of("name", r.plural(), "singularName", "", "kind", r.kind(), "namespaced",
                        r.namespaced(), "verbs", List.of("create", "delete", "get", "list", "patch",
                                "update", "watch")));
            }
            final String path = e.getKey().equals("v1") ? "/api/v1" : "/apis/" + e.getKey();
            expect(api, path, Map.of("kind", "APIResourceList", "apiVersion", "v1", "groupVersion", e.getKey(),
                    "resources", rs));
        }
    }

    /** Expectations match the whole request target: kubectl adds {@code ?timeout=32s} to discovery requests. */
    private static void expect(KubernetesMockServer api, String path, Object body) {
        api.expect().get().withPath(path).andReturn(200, body).always();
        api.expect().get().withPath(path + "?timeout=32s").andReturn(200, body).always();
    }

    private static boolean onPath(String exe) {
        final String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String dir : path.split(":")) {
            if (Files.isExecutable(Path.of(dir, exe))) {
                return true;
            }
        }
        return false;
    }
}
