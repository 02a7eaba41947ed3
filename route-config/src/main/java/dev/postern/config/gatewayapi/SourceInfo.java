package dev.postern.config.gatewayapi;

import java.util.Map;

/**
 * Where a resource was read from: the file, the line of its first key, and the line of each field path read.
 *
 * @param file the file path as given to the reader
 * @param line the 1-based line where the resource starts
 * @param fieldLines field path (such as {@code spec.rules[0].backendRefs[1].port}) to its 1-based line
 */
public record SourceInfo(String file, int line, Map<String, Integer> fieldLines) {

    /** Stores the field lines compactly (see {@link FieldLines}). */
    public SourceInfo {
        fieldLines = fieldLines instanceof FieldLines ? fieldLines : FieldLines.of(fieldLines);
    }

    /**
     * A source read from a file, whose field-line arrays are shared with the file's earlier resources of the same
     * shape through {@code shared} (one map per file read; it keeps them).
     */
    public static SourceInfo read(String file, int line, Map<String, Integer> fieldLines, Map<Object, Object> shared) {
        return new SourceInfo(file, line, FieldLines.of(fieldLines, line, shared));
    }

    /** A source for resources built in code rather than read from a file. */
    public static SourceInfo synthetic(String what) {
        return new SourceInfo(what, 0, Map.of());
    }

    /** Returns the line of a field path, falling back to the closest parent path that was read, then the resource. */
    public int lineOf(String fieldPath) {
        String p = fieldPath;
        while (!p.isEmpty()) {
            final Integer l = fieldLines.get(p);
            if (l != null) {
                return l;
            }
            final int cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
            p = cut <= 0 ? "" : p.substring(0, cut);
        }
        return line;
    }
}
