package dev.postern.config.runtime;

import java.util.List;

/**
 * A compiled header modifier: remove, then set (overwrite), then add (append). Names are lower case.
 *
 * @param set name/value pairs that replace any existing value
 * @param add name/value pairs appended to existing values
 * @param remove names removed
 */
public record HeaderMutation(List<NameValue> set, List<NameValue> add, List<String> remove) {

    /** A header name (lower case) and value. */
    public record NameValue(String name, String value) {
    }

    /** Copies the lists. */
    public HeaderMutation {
        set = List.copyOf(set);
        add = List.copyOf(add);
        remove = List.copyOf(remove);
    }

    /** Returns true when this changes nothing. */
    public boolean isEmpty() {
        return set.isEmpty() && add.isEmpty() && remove.isEmpty();
    }
}
