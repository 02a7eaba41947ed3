package dev.postern.config.status;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A Kubernetes status condition as Postern computes it.
 *
 * @param type Accepted, Programmed, ResolvedRefs, Conflicted...
 * @param status {@code True} or {@code False}
 * @param reason a Gateway API reason name
 * @param message human-readable detail
 * @param observedGeneration the generation the condition was computed from
 */
public record Condition(String type, String status, String reason, String message, long observedGeneration) {

    /** A True condition. */
    public static Condition ok(String type, String reason, String message, long generation) {
        return new Condition(type, "True", reason, message, generation);
    }

    /** A False condition. */
    public static Condition no(String type, String reason, String message, long generation) {
        return new Condition(type, "False", reason, message, generation);
    }

    /** The stanza as written to the API server (lastTransitionTime is set by the writer). */
    public Map<String, Object> toMap() {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", type);
        m.put("status", status);
        m.put("reason", reason);
        m.put("message", message);
        m.put("observedGeneration", observedGeneration);
        return m;
    }
}
