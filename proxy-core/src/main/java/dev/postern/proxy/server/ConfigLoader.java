package dev.postern.proxy.server;

import static java.util.Objects.requireNonNull;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.config.diag.Diagnostic;
import dev.postern.config.runtime.RouteTable;
import dev.postern.config.runtime.TableDiff;
import dev.postern.config.source.DirectoryWatcher;
import dev.postern.config.yaml.FileCache;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads a config directory into a {@link ConfigRef} and keeps it current: the first load must succeed, and every
 * change after it is rebuilt off the event loops, debounced, and published only when it builds. A build that is
 * rejected keeps the last good table and logs every diagnostic.
 */
public final class ConfigLoader implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ConfigLoader.class);
    /** How long a burst of file changes must be quiet before a rebuild. */
    public static final Duration DEBOUNCE = Duration.ofMillis(10);

    private final Path dir;
    private final ConfigPipeline.Settings settings;
    private final ConfigRef ref;
    private final AtomicLong version = new AtomicLong();
    /** Parsed files by path: a reload re-parses only what changed. Guarded by {@code this}. */
    private final FileCache files = new FileCache();
    private DirectoryWatcher watcher;
    private volatile java.util.function.Consumer<ConfigPipeline.Build> onBuild = b -> { };

    /** Registers a callback run after every build, published or rejected (metrics). */
    public void onBuild(java.util.function.Consumer<ConfigPipeline.Build> listener) {
        this.onBuild = requireNonNull(listener, "listener");
    }

    /** Creates a loader for {@code dir}, publishing into {@code ref}. */
    public ConfigLoader(Path dir, ConfigPipeline.Settings settings, ConfigRef ref) {
        this.dir = requireNonNull(dir, "dir");
        this.settings = requireNonNull(settings, "settings");
        this.ref = requireNonNull(ref, "ref");
    }

    private volatile java.util.function.LongConsumer onPropagated = n -> { };

    /** Registers a callback given, for each published rebuild the watcher started, the nanoseconds from the first
     * file change of the burst to the publish. */
    public void onPropagated(java.util.function.LongConsumer listener) {
        this.onPropagated = requireNonNull(listener, "listener");
    }

    /** Reports every build and every propagation to {@code metrics} from now on. */
    public void reportTo(dev.postern.proxy.observe.Metrics metrics) {
        onBuild(x -> metrics.onConfigBuild(!x.rejected(), x.buildNanos(), x.rejected() ? 0 : x.table().version()));
        onPropagated(metrics::onPropagated);
    }

    /** Builds once; returns the build (published when not rejected). */
    public synchronized ConfigPipeline.Build reload() {
        return reload(0);
    }

    private synchronized ConfigPipeline.Build reload(long changedAtNanos) {
        final ConfigPipeline.Build b = ConfigPipeline.fromDirectory(dir, settings, version.incrementAndGet(), files);
        for (Diagnostic d : b.diagnostics()) {
            if (d.isError()) {
                LOG.error("{}", d);
            } else {
                LOG.warn("{}", d);
            }
        }
        final RouteTable before = ref.table();
        final boolean published = ref.offer(b);
        if (published && changedAtNanos != 0) {
            onPropagated.accept(System.nanoTime() - changedAtNanos);
        }
        onBuild.accept(b);
        if (published) {
            // After the publish: the summary never delays propagation.
            LOG.info("config version {} published from {} in {} ms: {}", b.table().version(), dir,
                    b.buildNanos() / 1_000_000, TableDiff.describe(before, b.table()));
        } else {
            LOG.error("config from {} rejected ({} errors); still serving version {}", dir,
                    b.diagnostics().stream().filter(Diagnostic::isError).count(), ref.table().version());
        }
        return b;
    }

    /** Starts watching the directory for changes. */
    public void watch() throws IOException {
        watcher = new DirectoryWatcher(dir, DEBOUNCE, this::reload);
    }

    @Override
    public void close() throws IOException {
        if (watcher != null) {
            watcher.close();
        }
    }
}
