package dev.postern.config.gatewayapi;

import java.util.List;
import java.util.Map;

/**
 * A Kubernetes label selector.
 *
 * @param matchLabels labels that must all be equal
 * @param matchExpressions expressions that must all hold
 */
public record LabelSelector(Map<String, String> matchLabels, List<Requirement> matchExpressions) {

    /** One match expression: operator In, NotIn, Exists or DoesNotExist. */
    public record Requirement(String key, String operator, List<String> values) {
    }

    /** Returns true when the labels satisfy the selector. An empty selector matches everything. */
    public boolean matches(Map<String, String> labels) {
        for (Map.Entry<String, String> e : matchLabels.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        for (Requirement r : matchExpressions) {
            final String v = labels.get(r.key());
            final boolean ok = switch (r.operator()) {
                case "In" -> v != null && r.values().contains(v);
                case "NotIn" -> v == null || !r.values().contains(v);
                case "Exists" -> v != null;
                case "DoesNotExist" -> v == null;
                default -> false;
            };
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
