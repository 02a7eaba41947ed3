package dev.postern.config.source;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Watches a config directory and calls {@code onChange} on its own thread after a burst of changes has been quiet
 * for the debounce interval. The callback runs off the event loops and never concurrently with itself.
 */
public final class DirectoryWatcher implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(DirectoryWatcher.class.getName());

    private final Path dir;
    private final Duration debounce;
    private final java.util.function.LongConsumer onChange;
    private final WatchService watch;
    private final Thread thread;
    private volatile boolean closed;

    /**
     * Starts watching; {@code onChange} receives the {@link System#nanoTime()} at which the first change of the
     * burst was seen (for propagation metrics).
     *
     * @param dir the directory
     * @param debounce how long changes must be quiet before the callback runs
     * @param onChange what to run (a rebuild)
     * @throws IOException if the directory cannot be watched
     */
    public DirectoryWatcher(Path dir, Duration debounce, java.util.function.LongConsumer onChange)
            throws IOException {
        this.dir = requireNonNull(dir, "dir");
        this.debounce = requireNonNull(debounce, "debounce");
        this.onChange = requireNonNull(onChange, "onChange");
        this.watch = FileSystems.getDefault().newWatchService();
        dir.register(watch, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                StandardWatchEventKinds.ENTRY_DELETE);
        this.thread = Thread.ofPlatform().name("postern-config-watch").daemon().start(this::loop);
    }

    private void loop() {
        try {
            while (!closed) {
                WatchKey key = watch.take();
                final long first = System.nanoTime();
                drain(key);
                // Debounce: keep absorbing events until the directory is quiet.
                while ((key = watch.poll(debounce.toNanos(), TimeUnit.NANOSECONDS)) != null) {
                    drain(key);
                }
                try {
                    onChange.accept(first);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.ERROR, "config rebuild of " + dir + " failed", e);
                }
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closing
        }
    }

    private static void drain(WatchKey key) {
        key.pollEvents();
        key.reset();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        watch.close();
        thread.interrupt();
    }
}
