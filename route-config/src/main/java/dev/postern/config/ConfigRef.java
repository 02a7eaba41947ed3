package dev.postern.config;

import static java.util.Objects.requireNonNull;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.runtime.RouteTable;
import dev.postern.config.status.ResourceStatus;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Holds the published config snapshot. Publishing is one volatile write; readers call {@link #table()} once per
 * exchange and keep the result to its end. A rejected build never replaces the live snapshot.
 *
 * <p>Thread-safety: {@link #table()} and {@link #snapshot()} from any thread without locks; {@link #offer} from the
 * config thread only.
 */
public final class ConfigRef {

    /**
     * What is live.
     *
     * @param table the route table
     * @param statuses the statuses computed with it
     * @param diagnostics the diagnostics of the build that produced it
     * @param lastRejected the diagnostics of the latest rejected build, empty when the latest build was published
     */
    public record Snapshot(RouteTable table, List<ResourceStatus> statuses, List<Diagnostic> diagnostics,
                           List<Diagnostic> lastRejected) {
    }

    private volatile Snapshot current = new Snapshot(RouteTable.EMPTY, List.of(), List.of(), List.of());
    private volatile boolean published;
    private final List<Consumer<Snapshot>> listeners = new CopyOnWriteArrayList<>();

    /** The live table. */
    public RouteTable table() {
        return current.table();
    }

    /** The live snapshot. */
    public Snapshot snapshot() {
        return current;
    }

    /** Returns true once a first table has been published. */
    public boolean isPublished() {
        return published;
    }

    /** Registers a callback run on the config thread after each publish. */
    public void onPublish(Consumer<Snapshot> listener) {
        listeners.add(requireNonNull(listener, "listener"));
    }

    /**
     * Publishes a build if it produced a table; otherwise records its diagnostics and keeps the live table.
     *
     * @return true when published
     */
    public boolean offer(ConfigPipeline.Build build) {
        requireNonNull(build, "build");
        if (build.rejected()) {
            final Snapshot s = current;
            current = new Snapshot(s.table(), s.statuses(), s.diagnostics(), build.diagnostics());
            return false;
        }
        final Snapshot s = new Snapshot(build.table(), build.statuses(), build.diagnostics(), List.of());
        current = s;
        published = true;
        for (Consumer<Snapshot> l : listeners) {
            l.accept(s);
        }
        return true;
    }
}
