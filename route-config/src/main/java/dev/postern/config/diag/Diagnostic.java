package dev.postern.config.diag;

import static java.util.Objects.requireNonNull;

/**
 * One finding about the input, naming the culprit: the file and line, the resource, the field path and the
 * reason (a Gateway API reason name where one exists).
 *
 * <p>Printed as {@code file:line: kind ns/name: field: message}.
 *
 * @param severity whether the config can still be published
 * @param file the file the resource came from, or {@code ""} when not known
 * @param line the 1-based line of the field, or 0 when not known
 * @param kind the resource kind, or {@code ""} when the problem is not inside a resource
 * @param namespace the resource namespace, or {@code ""}
 * @param name the resource name, or {@code ""}
 * @param field the field path such as {@code spec.rules[0].backendRefs[1].port}, or {@code ""}
 * @param reason a short reason name such as {@code BackendNotFound} or {@code InvalidYaml}
 * @param message what is wrong, in words
 */
public record Diagnostic(Severity severity, String file, int line, String kind, String namespace, String name,
                         String field, String reason, String message) {

    /** Checks that no component is null. */
    public Diagnostic {
        requireNonNull(severity, "severity");
        requireNonNull(file, "file");
        requireNonNull(kind, "kind");
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        requireNonNull(field, "field");
        requireNonNull(reason, "reason");
        requireNonNull(message, "message");
    }

    /** Returns true for {@link Severity#ERROR}. */
    public boolean isError() {
        return severity == Severity.ERROR;
    }

    @Override
    public String toString() {
        final StringBuilder sb = new StringBuilder();
        sb.append(file.isEmpty() ? "<input>" : file);
        if (line > 0) {
            sb.append(':').append(line);
        }
        sb.append(": ").append(severity == Severity.ERROR ? "error" : "warning").append(": ");
        if (!kind.isEmpty()) {
            sb.append(kind).append(' ');
            if (!namespace.isEmpty()) {
                sb.append(namespace).append('/');
            }
            sb.append(name.isEmpty() ? "<unnamed>" : name).append(": ");
        }
        if (!field.isEmpty()) {
            sb.append(field).append(": ");
        }
        sb.append(message).append(" (").append(reason).append(')');
        return sb.toString();
    }
}
