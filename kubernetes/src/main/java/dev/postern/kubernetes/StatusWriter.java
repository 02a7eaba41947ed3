package dev.postern.kubernetes;

import static java.util.Objects.requireNonNull;

import dev.postern.config.status.ResourceStatus;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;

import java.time.Clock;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes what route-config computed ({@link ResourceStatus}) to the status subresource of each object (a JSON
 * Patch that tests the resourceVersion the status was computed from and then sets the stanza: a conflict is
 * retried, never overwritten), and only when it differs from what the object already has.
 *
 * <ul>
 *   <li>{@code lastTransitionTime}: kept from the object's condition of the same type when its status did not
 *       change, else now (RFC 3339, seconds).</li>
 *   <li>Routes: {@code status.parents} entries of other controllers are kept; ours are replaced; a route no longer
 *       attached to our Gateways loses our entries.</li>
 *   <li>GatewayClass: {@code supportedFeatures} is added to what route-config computed.</li>
 *   <li>Gateway without {@code spec.addresses}: {@code status.addresses} are the load balancer's (the ingress
 *       of the Service named by {@code POSTERN_ADDRESS_SERVICE}) when it has one.</li>
 *   <li>A status key we own and no longer compute is removed; keys of other writers are kept.</li>
 * </ul>
 *
 * <p>Thread-safety: confined to the source's status thread.
 */
final class StatusWriter {
    private static final Logger LOG = LoggerFactory.getLogger(StatusWriter.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** What we last wrote to an object, to stay quiet while the informer cache has not seen our own write. */
    private record Written(JsonNode status, String resourceVersionBefore, String resourceVersionAfter) {
    }

    private final KubernetesClient client;
    private final String controllerName;
    private final List<Map<String, Object>> supportedFeatures;
    private final Function<WatchedKind, List<GenericKubernetesResource>> objects;
    private final java.util.function.Supplier<List<Map<String, Object>>> serviceAddresses;
    private final Clock clock;
    private final Map<String, Written> written = new HashMap<>();
    private volatile long patches; // written by the status thread only; read by tests

    StatusWriter(KubernetesClient client, String controllerName, List<String> supportedFeatures,
                 Function<WatchedKind, List<GenericKubernetesResource>> objects,
                 java.util.function.Supplier<List<Map<String, Object>>> serviceAddresses, Clock clock) {
        this.client = requireNonNull(client, "client");
        this.controllerName = requireNonNull(controllerName, "controllerName");
        final List<Map<String, Object>> f = new ArrayList<>();
        for (String s : supportedFeatures) {
            f.add(Map.of("name", s));
        }
        this.supportedFeatures = List.copyOf(f);
        this.objects = requireNonNull(objects, "objects");
        this.serviceAddresses = requireNonNull(serviceAddresses, "serviceAddresses");
        this.clock = requireNonNull(clock, "clock");
    }

    /** How many status patches were sent (tests and logs). */
    long patches() {
        return patches;
    }

    /**
     * Brings every object's status in line with {@code statuses}.
     *
     * @return true when every needed patch succeeded (false: the caller retries later)
     */
    boolean write(List<ResourceStatus> statuses) {
        boolean ok = true;
        final Map<String, ResourceStatus> byKey = new HashMap<>();
        for (ResourceStatus s : statuses) {
            byKey.put(s.kind() + "/" + s.namespace() + "/" + s.name(), s);
        }
        final Set<String> live = new HashSet<>();
        for (WatchedKind kind : WatchedKind.GATEWAY_API) {
            for (GenericKubernetesResource obj : objects.apply(kind)) {
                final String ns = Objects.requireNonNullElse(obj.getMetadata().getNamespace(), "");
                final String key = kind.kind() + "/" + ns + "/" + obj.getMetadata().getName();
                live.add(key);
                final ResourceStatus s = byKey.get(key);
                final Map<String, Object> existing = existingStatus(obj);
                final Map<String, Object> desired;
                if (s != null) {
                    desired = desired(kind, s, existing, obj);
                } else if (kind.isRoute() && hasOurParents(existing)) {
                    desired = new LinkedHashMap<>(existing);
                    desired.put("parents", otherParents(existing));
                } else {
                    continue;
                }
                ok &= patchIfChanged(kind, key, obj, existing, desired);
            }
        }
        written.keySet().retainAll(live);
        return ok;
    }

    private Map<String, Object> desired(WatchedKind kind, ResourceStatus s, Map<String, Object> existing,
                                        GenericKubernetesResource obj) {
        final Map<String, Object> d = new LinkedHashMap<>(s.status());
        if (kind.kind().equals("Gateway") && !hasSpecAddresses(obj)) {
            // Clients reach a Gateway without spec.addresses through the load balancer in front of Postern.
            final List<Map<String, Object>> lb = serviceAddresses.get();
            if (!lb.isEmpty()) {
                d.put("addresses", lb);
            }
        }
        if (kind.kind().equals("GatewayClass")) {
            d.put("supportedFeatures", supportedFeatures);
        }
        if (kind.isRoute()) {
            final List<Object> parents = new ArrayList<>(otherParents(existing));
            if (d.get("parents") instanceof List<?> ours) {
                parents.addAll(ours);
            }
            d.put("parents", parents);
        }
        // Keys of other writers (and fields we never compute) stay as they are.
        for (Map.Entry<String, Object> e : existing.entrySet()) {
            if (!d.containsKey(e.getKey()) && !ownedKey(kind, e.getKey())) {
                d.put(e.getKey(), e.getValue());
            }
        }
        final String now = clock.instant().truncatedTo(ChronoUnit.SECONDS).toString();
        stamp(d, existing, now);
        return d;
    }

    /** Keys whose absence from our computation means "remove". */
    private static boolean ownedKey(WatchedKind kind, String key) {
        return switch (kind.kind()) {
            case "Gateway" -> key.equals("addresses") || key.equals("listeners") || key.equals("conditions")
                    || key.equals("attachedListenerSets");
            case "ListenerSet" -> key.equals("listeners") || key.equals("conditions");
            case "GatewayClass" -> key.equals("conditions") || key.equals("supportedFeatures");
            default -> key.equals("parents") || key.equals("ancestors") || key.equals("conditions");
        };
    }

    private boolean patchIfChanged(WatchedKind kind, String key, GenericKubernetesResource obj,
                                   Map<String, Object> existing, Map<String, Object> desired) {
        final JsonNode want = canonical(desired);
        final String rv = obj.getMetadata().getResourceVersion();
        final Written w = written.get(key);
        if (w != null && w.status().equals(want)
                && (Objects.equals(rv, w.resourceVersionBefore()) || Objects.equals(rv, w.resourceVersionAfter()))) {
            return true; // our own write, seen or not yet seen by the informer
        }
        if (canonical(existing).equals(want)) {
            return true;
        }
        // A JSON Patch (RFC 6902) of the status subresource: set metadata.resourceVersion to the one the status
        // was computed from (the API server then requires the stored object to still have it, as
        // controller-runtime's MergeFromWithOptimisticLock does), and "add" (create or replace) the whole stanza.
        // Lists are replaced, never merged; keys we no longer compute disappear; a concurrent writer (another
        // controller adding its own route parents) makes it fail with 409 instead of being overwritten, and the
        // caller retries on a fresh cache. Nothing but status changes.
        final String patch = statusPatch(rv, desired);
        try {
            final var op = client.genericKubernetesResources(kind.context());
            final var named = kind.namespaced()
                    ? op.inNamespace(obj.getMetadata().getNamespace()).withName(obj.getMetadata().getName())
                    : op.withName(obj.getMetadata().getName());
            final GenericKubernetesResource after =
                    named.subresource("status").patch(PatchContext.of(PatchType.JSON), patch);
            patches++;
            written.put(key, new Written(want, rv, after == null ? null : after.getMetadata().getResourceVersion()));
            LOG.info("status written: {}", key);
            return true;
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404) {
                return true; // deleted meanwhile: nothing to write
            }
            if (e.getCode() == 409) {
                LOG.debug("status of {} changed meanwhile; retrying on a fresh cache", key);
            } else {
                LOG.warn("status update of {} failed ({}): {}", key, e.getCode(), e.getMessage());
            }
            return false;
        }
    }

    /** The JSON Patch document: the resourceVersion precondition, then the whole status stanza. */
    static String statusPatch(String resourceVersion, Map<String, Object> status) {
        final List<Map<String, Object>> ops = new ArrayList<>(2);
        if (resourceVersion != null) {
            ops.add(Map.of("op", "replace", "path", "/metadata/resourceVersion", "value", resourceVersion));
        }
        ops.add(Map.of("op", "add", "path", "/status", "value", status));
        try {
            return MAPPER.writeValueAsString(ops);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean hasSpecAddresses(GenericKubernetesResource obj) {
        return obj.getAdditionalProperties().get("spec") instanceof Map<?, ?> spec
                && spec.get("addresses") instanceof List<?> l && !l.isEmpty();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> existingStatus(GenericKubernetesResource obj) {
        final Object s = obj.getAdditionalProperties().get("status");
        return s instanceof Map<?, ?> m ? new LinkedHashMap<>((Map<String, Object>) m) : new LinkedHashMap<>();
    }

    private boolean hasOurParents(Map<String, Object> existing) {
        if (existing.get("parents") instanceof List<?> ps) {
            for (Object p : ps) {
                if (p instanceof Map<?, ?> m && controllerName.equals(m.get("controllerName"))) {
                    return true;
                }
            }
        }
        return false;
    }

    private List<Object> otherParents(Map<String, Object> existing) {
        final List<Object> out = new ArrayList<>();
        if (existing.get("parents") instanceof List<?> ps) {
            for (Object p : ps) {
                if (!(p instanceof Map<?, ?> m && controllerName.equals(m.get("controllerName")))) {
                    out.add(p);
                }
            }
        }
        return out;
    }

    /**
     * Sets {@code lastTransitionTime} on every condition under {@code desired}: the existing condition's time when
     * the same type has the same status, else {@code now}. Lists of listeners match by {@code name}, lists of
     * parents by {@code parentRef} and {@code controllerName}, anything else by position.
     */
    @SuppressWarnings("unchecked")
    private static void stamp(Map<String, Object> desired, Object existing, String now) {
        final Map<String, Object> ex = existing instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
        for (Map.Entry<String, Object> e : desired.entrySet()) {
            final Object prev = ex.get(e.getKey());
            if (e.getKey().equals("conditions") && e.getValue() instanceof List<?> conds) {
                e.setValue(stampConditions(conds, prev, now));
            } else if (e.getValue() instanceof Map<?, ?> child) {
                final Map<String, Object> copy = new LinkedHashMap<>((Map<String, Object>) child);
                stamp(copy, prev, now);
                e.setValue(copy);
            } else if (e.getValue() instanceof List<?> list) {
                final List<Object> out = new ArrayList<>(list.size());
                final List<?> prevList = prev instanceof List<?> pl ? pl : List.of();
                for (int i = 0; i < list.size(); i++) {
                    if (list.get(i) instanceof Map<?, ?> item) {
                        final Map<String, Object> copy = new LinkedHashMap<>((Map<String, Object>) item);
                        stamp(copy, match(copy, prevList, i), now);
                        out.add(copy);
                    } else {
                        out.add(list.get(i));
                    }
                }
                e.setValue(out);
            }
        }
    }

    private static Object match(Map<String, Object> item, List<?> prev, int index) {
        for (String id : List.of("name", "parentRef", "ancestorRef")) {
            if (item.containsKey(id)) {
                for (Object p : prev) {
                    if (p instanceof Map<?, ?> m && canonical(item.get(id)).equals(canonical(m.get(id)))
                            && Objects.equals(item.get("controllerName"), m.get("controllerName"))) {
                        return p;
                    }
                }
                return null;
            }
        }
        return index < prev.size() ? prev.get(index) : null;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> stampConditions(List<?> conds, Object prev, String now) {
        final List<?> prevList = prev instanceof List<?> pl ? pl : List.of();
        final List<Object> out = new ArrayList<>(conds.size());
        for (Object c : conds) {
            if (!(c instanceof Map<?, ?> cm)) {
                out.add(c);
                continue;
            }
            final Map<String, Object> copy = new LinkedHashMap<>((Map<String, Object>) cm);
            String time = now;
            for (Object p : prevList) {
                if (p instanceof Map<?, ?> pm && Objects.equals(pm.get("type"), copy.get("type"))
                        && Objects.equals(pm.get("status"), copy.get("status"))
                        && pm.get("lastTransitionTime") instanceof String t) {
                    time = t;
                }
            }
            copy.put("lastTransitionTime", time);
            out.add(copy);
        }
        return out;
    }

    /** A JSON tree with numbers normalized (an int and a long of the same value compare equal). */
    static JsonNode canonical(Object o) {
        try {
            return MAPPER.readTree(MAPPER.writeValueAsString(o));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
