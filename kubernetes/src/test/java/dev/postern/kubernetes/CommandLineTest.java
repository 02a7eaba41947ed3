package dev.postern.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;

import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code postern run --kubernetes --kubeconfig FILE} as a separate JVM (the way the launcher and the image run
 * it): proxy-core's command line finds the Kubernetes source through ServiceLoader, {@code /ready} turns 200 once
 * the first config is published, and SIGTERM drains, stops and releases the status Lease.
 */
class CommandLineTest {

    @Test
    void runKubernetesFromTheCommandLine(@TempDir Path tmp) throws Exception {
        final KubernetesMockServer api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        api.init(InetAddress.getLoopbackAddress(), 0);
        final KubernetesClient client = api.createClient();
        Process p = null;
        try {
            final GenericKubernetesResource gc = client.getKubernetesSerialization().unmarshal("""
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: GatewayClass
                    metadata: {name: postern}
                    spec: {controllerName: postern.dev/gateway-controller}
                    """, GenericKubernetesResource.class);
            client.genericKubernetesResources(WatchedKind.gatewayApi("GatewayClass").context()).resource(gc).create();
            final Path kubeconfig = tmp.resolve("kubeconfig");
            Files.writeString(kubeconfig, """
                    apiVersion: v1
                    kind: Config
                    clusters: [{name: mock, cluster: {server: "http://127.0.0.1:%d"}}]
                    users: [{name: mock, user: {token: t}}]
                    contexts: [{name: mock, context: {cluster: mock, user: mock, namespace: default}}]
                    current-context: mock
                    """.formatted(api.getPort()));
            final String java = ProcessHandle.current().info().command().orElse("java");
            final ProcessBuilder pb = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                    System.getProperty("java.class.path"), "dev.postern.proxy.cli.Main", "run", "--kubernetes",
                    "--kubeconfig", kubeconfig.toString(), "--admin-port", "0");
            pb.environment().put("POD_NAME", "cli-replica");
            pb.environment().put("POD_NAMESPACE", "default");
            pb.redirectError(tmp.resolve("stderr.log").toFile());
            p = pb.start();
            final BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8));
            final String banner = out.readLine();
            assertTrue(banner != null && banner.startsWith("Postern is serving kubernetes ("),
                    banner + "\n" + Files.readString(tmp.resolve("stderr.log")));
            final Matcher m = Pattern.compile("admin: http://([0-9.:]+)/").matcher(banner);
            assertTrue(m.find(), banner);
            final URI ready = URI.create("http://" + m.group(1) + "/ready");
            final HttpClient http = HttpClient.newHttpClient();
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            int code = 0;
            while (System.nanoTime() < deadline && code != 200) {
                code = http.send(HttpRequest.newBuilder(ready).build(), HttpResponse.BodyHandlers.discarding())
                        .statusCode();
                Thread.sleep(50);
            }
            assertEquals(200, code, "/ready after the first publish");
            // It holds the Lease (the only replica) and wrote the GatewayClass status.
            final long statusDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            Object status = null;
            while (System.nanoTime() < statusDeadline && status == null) {
                status = client.genericKubernetesResources(WatchedKind.gatewayApi("GatewayClass").context())
                        .withName("postern").get().getAdditionalProperties().get("status");
                Thread.sleep(50);
            }
            assertTrue(String.valueOf(status).contains("Accepted"), String.valueOf(status));

            p.destroy(); // SIGTERM: drain, close the source (release the Lease), stop
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "postern did not stop on SIGTERM");
            final Lease lease = client.leases().inNamespace("default").withName("postern-status").get();
            final String holder = lease.getSpec().getHolderIdentity();
            assertTrue(holder == null || holder.isEmpty() || !holder.equals("cli-replica")
                    || lease.getSpec().getLeaseDurationSeconds() <= 1, "Lease still held: " + lease.getSpec());
        } finally {
            if (p != null) {
                p.destroyForcibly();
            }
            client.close();
            api.destroy();
        }
    }
}
