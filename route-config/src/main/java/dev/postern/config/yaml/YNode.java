package dev.postern.config.yaml;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.diag.Severity;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * A YAML node at a field path inside one resource, with typed accessors that report a diagnostic (naming the
 * file, line, resource and field) instead of throwing. A missing node answers null or empty.
 */
final class YNode {
    /** Per-resource reading context. */
    static final class Ctx {
        final String file;
        final String kind;
        String namespace = "";
        String name = "";
        final List<Diagnostic> diagnostics;
        final Map<String, Integer> lines = new LinkedHashMap<>();
        /**
         * Values shared by the resources of the file being read: one instance of each scalar string, and the
         * field-line arrays of each resource shape (SourceInfo.read). The parsed resources stay in memory between
         * reloads (FileCache), and at 10,000 routes the same namespaces, Service names, path values, match types
         * and resource shapes repeat thousands of times.
         */
        final Map<Object, Object> shared;
        /** Bounds the work done on one resource, so that aliases cannot expand into a bomb. */
        int budget = 200_000;

        Ctx(String file, String kind, List<Diagnostic> diagnostics, Map<Object, Object> shared) {
            this.file = file;
            this.kind = kind;
            this.diagnostics = diagnostics;
            this.shared = shared;
        }

        /** The file's one instance of {@code s}. */
        String canonical(String s) {
            return (String) shared.computeIfAbsent(s, x -> x);
        }

        void report(Severity severity, int line, String field, String reason, String message) {
            diagnostics.add(new Diagnostic(severity, file, line, kind, namespace, name, field, reason, message));
        }
    }

    private final Ctx ctx;
    private final Node node;
    final String path;

    YNode(Ctx ctx, Node node, String path) {
        this.ctx = ctx;
        this.node = node;
        this.path = path;
        if (node != null) {
            if (--ctx.budget < 0) {
                throw new BudgetExceeded();
            }
            ctx.lines.putIfAbsent(path, line());
        }
    }

    /** Thrown when a resource takes too many nodes to read (for example through YAML aliases). */
    static final class BudgetExceeded extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BudgetExceeded() {
            super(null, null, false, false);
        }
    }

    /** Returns the underlying node, or null when missing. */
    Node raw() {
        return node;
    }

    int line() {
        return node == null ? 0 : node.getStartMark().getLine() + 1;
    }

    boolean present() {
        return node != null && !(node instanceof ScalarNode s && s.getTag().equals(Tag.NULL));
    }

    private String child(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    void error(String reason, String message) {
        ctx.report(Severity.ERROR, line(), path, reason, message);
    }

    void warn(String reason, String message) {
        ctx.report(Severity.WARNING, line(), path, reason, message);
    }

    /** Returns the child at {@code key}; missing (never null) when absent. Reports a non-mapping. */
    YNode get(String key) {
        if (!present()) {
            return new YNode(ctx, null, child(key));
        }
        if (!(node instanceof MappingNode m)) {
            error("InvalidType", "expected an object, found " + describe(node));
            return new YNode(ctx, null, child(key));
        }
        for (NodeTuple t : m.getValue()) {
            if (t.getKeyNode() instanceof ScalarNode k && k.getValue().equals(key)) {
                return new YNode(ctx, t.getValueNode(), child(key));
            }
        }
        return new YNode(ctx, null, child(key));
    }

    /** Reports every key of this mapping that is not in {@code known}, as a warning. */
    YNode known(Set<String> known) {
        if (node instanceof MappingNode m) {
            for (NodeTuple t : m.getValue()) {
                if (t.getKeyNode() instanceof ScalarNode k && !known.contains(k.getValue())) {
                    ctx.report(Severity.WARNING, k.getStartMark().getLine() + 1, child(k.getValue()),
                            "UnknownField", "unknown field \"" + k.getValue() + "\" is ignored");
                }
            }
        }
        return this;
    }

    /** Returns the scalar as a string, or null when absent. Reports a non-scalar. */
    String str() {
        if (!present()) {
            return null;
        }
        if (node instanceof ScalarNode s) {
            return ctx.canonical(s.getValue());
        }
        error("InvalidType", "expected a string, found " + describe(node));
        return null;
    }

    /** Returns the string, or {@code def} when absent. */
    String str(String def) {
        final String s = str();
        return s == null ? def : s;
    }

    /** Returns the string, reporting an error when absent. */
    String required() {
        final String s = str();
        if (s == null && !present()) {
            error("Required", "required field is missing");
        }
        return s;
    }

    /** Returns the scalar as an integer, or null when absent or not an integer (reported). */
    Integer integer() {
        if (!present()) {
            return null;
        }
        if (node instanceof ScalarNode s && s.getTag().equals(Tag.INT)) {
            try {
                return Integer.valueOf(s.getValue());
            } catch (NumberFormatException e) {
                error("InvalidValue", "integer out of range: " + s.getValue());
                return null;
            }
        }
        error("InvalidType", "expected an integer, found " + describe(node));
        return null;
    }

    /** Returns the scalar as a long, or {@code def} when absent or invalid (reported). */
    long longValue(long def) {
        if (!present()) {
            return def;
        }
        if (node instanceof ScalarNode s && s.getTag().equals(Tag.INT)) {
            try {
                return Long.parseLong(s.getValue());
            } catch (NumberFormatException e) {
                error("InvalidValue", "integer out of range: " + s.getValue());
                return def;
            }
        }
        error("InvalidType", "expected an integer, found " + describe(node));
        return def;
    }

    /** Returns the scalar as a boolean, or null when absent or not a boolean (reported). */
    Boolean bool() {
        if (!present()) {
            return null;
        }
        if (node instanceof ScalarNode s && s.getTag().equals(Tag.BOOL)) {
            return Boolean.valueOf(s.getValue().toLowerCase(java.util.Locale.ROOT).equals("true"));
        }
        error("InvalidType", "expected a boolean, found " + describe(node));
        return null;
    }

    /** Returns an int-or-string scalar as written, or null when absent. */
    String intOrString() {
        if (!present()) {
            return null;
        }
        if (node instanceof ScalarNode s) {
            return s.getValue();
        }
        error("InvalidType", "expected an integer or a string, found " + describe(node));
        return null;
    }

    /** Returns the items of a sequence; empty when absent. Reports a non-sequence. */
    List<YNode> list() {
        if (!present()) {
            return List.of();
        }
        if (!(node instanceof SequenceNode s)) {
            error("InvalidType", "expected a list, found " + describe(node));
            return List.of();
        }
        final List<YNode> out = new ArrayList<>(s.getValue().size());
        int i = 0;
        for (Node n : s.getValue()) {
            out.add(new YNode(ctx, n, path + "[" + i++ + "]"));
        }
        return out;
    }

    /** Returns a list of strings; empty when absent. */
    List<String> strings() {
        final List<String> out = new ArrayList<>();
        for (YNode n : list()) {
            final String s = n.str();
            if (s != null) {
                out.add(s);
            }
        }
        return List.copyOf(out);
    }

    /** Returns a string-to-string map; empty when absent. */
    Map<String, String> stringMap() {
        if (!present()) {
            return Map.of();
        }
        if (!(node instanceof MappingNode m)) {
            error("InvalidType", "expected an object, found " + describe(node));
            return Map.of();
        }
        final Map<String, String> out = new LinkedHashMap<>();
        for (NodeTuple t : m.getValue()) {
            if (t.getKeyNode() instanceof ScalarNode k) {
                final String v = new YNode(ctx, t.getValueNode(), child(k.getValue())).str();
                out.put(ctx.canonical(k.getValue()), v == null ? "" : v);
            }
        }
        return Collections.unmodifiableMap(out);
    }

    private static String describe(Node n) {
        return switch (n) {
            case MappingNode m -> "an object";
            case SequenceNode s -> "a list";
            case ScalarNode s -> "\"" + truncate(s.getValue()) + "\"";
            default -> n.getNodeId().toString();
        };
    }

    private static String truncate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
