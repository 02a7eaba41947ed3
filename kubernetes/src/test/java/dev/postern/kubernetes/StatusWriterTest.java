package dev.postern.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.status.ResourceStatus;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.RecordedRequest;

import java.net.InetAddress;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The status write itself against the fabric8 mock API server in CRUD mode: a JSON Patch of the status
 * subresource guarded by the resourceVersion the status was computed from. A stale view fails and is retried
 * instead of overwriting another controller's route parents; spec is never sent.
 */
class StatusWriterTest {
    private static final String CONTROLLER = "postern.dev/gateway-controller";
    private static final WatchedKind ROUTE = WatchedKind.gatewayApi("HTTPRoute");

    private KubernetesMockServer api;
    private KubernetesClient client;

    @BeforeEach
    void setUp() {
        api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        api.init(InetAddress.getLoopbackAddress(), 0);
        client = api.createClient();
    }

    @AfterEach
    void tearDown() {
        client.close();
        api.destroy();
    }

    @Test
    void patchesStatusOnlyAndNeverOverwritesAConcurrentWriter() throws Exception {
        final GenericKubernetesResource created = client.genericKubernetesResources(ROUTE.context())
                .inNamespace("default").resource(route()).create();
        final AtomicReference<GenericKubernetesResource> view = new AtomicReference<>(created);
        final StatusWriter writer = new StatusWriter(client, CONTROLLER, List.of("HTTPRoute"),
                k -> k.equals(ROUTE) ? List.of(view.get()) : List.of(), List::of,
                Clock.fixed(Instant.parse("2026-11-22T10:00:00Z"), ZoneOffset.UTC));

        // Another controller writes its own parent after our view was taken: our view is now stale.
        final GenericKubernetesResource other = fetch();
        other.setAdditionalProperty("status", Map.of("parents", List.of(parent("other.example/controller", "gw2"))));
        client.genericKubernetesResources(ROUTE.context()).inNamespace("default").resource(other).updateStatus();
        drain();

        final List<ResourceStatus> ours = List.of(new ResourceStatus("gateway.networking.k8s.io/v1", "HTTPRoute",
                "default", "web", 1, Map.of("parents", List.of(parent(CONTROLLER, "gw")))));
        assertFalse(writer.write(ours), "a write computed from a stale resourceVersion must fail, to be retried");
        RecordedRequest req = api.takeRequest(5, TimeUnit.SECONDS);
        while (req != null && req.getMethod().equals("GET")) {
            req = api.takeRequest(5, TimeUnit.SECONDS); // the client may read the object before patching it
        }
        assertEquals("PATCH", req.getMethod());
        assertTrue(req.getPath().endsWith("/namespaces/default/httproutes/web/status"), req.getPath());
        assertTrue(req.getHeader("Content-Type").startsWith("application/json-patch+json"),
                req.getHeader("Content-Type"));
        assertEquals(List.of("other.example/controller"), controllers(fetch()), "the other writer's entry survives");

        // Retried on a fresh view: both controllers' parents, ours added.
        view.set(fetch());
        assertTrue(writer.write(ours));
        assertEquals(List.of("other.example/controller", CONTROLLER), controllers(fetch()));
        assertEquals(1, writer.patches());

        // Nothing changed: nothing is sent.
        view.set(fetch());
        drain();
        assertTrue(writer.write(ours));
        assertEquals(1, writer.patches());
        for (RecordedRequest r = api.takeRequest(200, TimeUnit.MILLISECONDS); r != null;
                r = api.takeRequest(200, TimeUnit.MILLISECONDS)) {
            assertEquals("GET", r.getMethod(), "nothing written when nothing changed: " + r.getPath());
        }
    }

    @Test
    void thePatchSetsOnlyTheResourceVersionPreconditionAndTheStatus() throws Exception {
        final ObjectMapper json = new ObjectMapper();
        assertEquals(json.readTree("[{\"op\":\"replace\",\"path\":\"/metadata/resourceVersion\",\"value\":\"41\"},"
                        + "{\"op\":\"add\",\"path\":\"/status\",\"value\":{\"conditions\":[]}}]"),
                json.readTree(StatusWriter.statusPatch("41", Map.of("conditions", List.of()))));
        assertEquals(json.readTree("[{\"op\":\"add\",\"path\":\"/status\",\"value\":{}}]"),
                json.readTree(StatusWriter.statusPatch(null, Map.of())));
    }

    private GenericKubernetesResource fetch() {
        return client.genericKubernetesResources(ROUTE.context()).inNamespace("default").withName("web").get();
    }

    private void drain() throws InterruptedException {
        while (api.takeRequest(50, TimeUnit.MILLISECONDS) != null) {
            // recorded requests so far are not what the assertions look at
        }
    }

    @SuppressWarnings("unchecked")
    private static List<String> controllers(GenericKubernetesResource r) {
        final List<String> out = new ArrayList<>();
        final Map<String, Object> status = (Map<String, Object>) r.getAdditionalProperties().get("status");
        for (Object p : (List<Object>) status.get("parents")) {
            out.add((String) ((Map<String, Object>) p).get("controllerName"));
        }
        return out;
    }

    private static Map<String, Object> parent(String controller, String gateway) {
        return Map.of("controllerName", controller,
                "parentRef", Map.of("group", "gateway.networking.k8s.io", "kind", "Gateway", "name", gateway),
                "conditions", List.of(Map.of("type", "Accepted", "status", "True", "reason", "Accepted",
                        "message", "", "observedGeneration", 1)));
    }

    private static GenericKubernetesResource route() {
        final GenericKubernetesResource r = new GenericKubernetesResource();
        r.setApiVersion("gateway.networking.k8s.io/v1");
        r.setKind("HTTPRoute");
        r.setMetadata(new ObjectMetaBuilder().withNamespace("default").withName("web").build());
        r.setAdditionalProperty("spec", Map.of("parentRefs", List.of(Map.of("name", "gw"))));
        return r;
    }
}
