package dev.postern.config.diag;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Collects diagnostics instead of stopping at the first one. Not thread-safe: one instance per build.
 */
public final class Diagnostics {
    private final List<Diagnostic> all = new ArrayList<>();

    /** Adds one diagnostic. */
    public void add(Diagnostic d) {
        all.add(d);
    }

    /** Adds every diagnostic of another collector. */
    public void addAll(Diagnostics other) {
        all.addAll(other.all);
    }

    /** Returns an unmodifiable view of everything collected, in order. */
    public List<Diagnostic> all() {
        return Collections.unmodifiableList(all);
    }

    /** Returns true when at least one error was collected. */
    public boolean hasErrors() {
        for (Diagnostic d : all) {
            if (d.isError()) {
                return true;
            }
        }
        return false;
    }

    /** Returns the number of errors. */
    public long errorCount() {
        return all.stream().filter(Diagnostic::isError).count();
    }
}
