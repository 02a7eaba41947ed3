package dev.postern.conformance;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.proxy.server.ConfigLoader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A config directory served by the production {@link ConfigLoader} with its watcher running, for the status tests
 * that change a resource: each {@link #write} replaces a file the way a user would (a temporary file renamed into
 * place) and returns the statuses of the build the watcher made from it.
 */
final class WatchedConfig implements AutoCloseable {
    private final Path dir;
    private final ConfigRef ref = new ConfigRef();
    private final ConfigLoader loader;
    private final LinkedBlockingQueue<ConfigPipeline.Build> builds = new LinkedBlockingQueue<>();

    private final Path scratch;

    /**
     * Writes {@code manifest-<i>.yaml} for each text into {@code root/config}, builds once, and starts watching.
     * Temporary files are written in {@code root}, outside the watched directory.
     */
    WatchedConfig(Path root, String... yamls) throws IOException {
        this.scratch = root;
        this.dir = Files.createDirectories(root.resolve("config"));
        for (int i = 0; i < yamls.length; i++) {
            Files.writeString(file(i), yamls[i]);
        }
        loader = new ConfigLoader(dir, new ConfigPipeline.Settings(SuiteManifests.CONTROLLER, "0.0.0.0"), ref);
        final ConfigPipeline.Build first = loader.reload();
        assertFalse(first.rejected(), () -> first.diagnostics().toString());
        loader.onBuild(builds::add);
        loader.watch();
    }

    private Path file(int i) {
        return dir.resolve("manifest-" + i + ".yaml");
    }

    /** The statuses of the published table. */
    StatusExpectations current() {
        final ConfigRef.Snapshot s = ref.snapshot();
        return StatusExpectations.of(new ConfigPipeline.Build(s.table(), s.statuses(), s.diagnostics(), 0));
    }

    /**
     * Replaces {@code manifest-<i>.yaml} atomically and waits (at most 5 s) for the watcher's rebuild; asserts
     * that it was published and returns its statuses.
     */
    StatusExpectations write(int i, String yaml) {
        try {
            final long before = ref.table().version();
            final Path tmp = scratch.resolve("manifest-" + i + ".tmp");
            Files.writeString(tmp, yaml);
            Files.move(tmp, file(i), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            final ConfigPipeline.Build b = builds.poll(5, TimeUnit.SECONDS);
            assertNotNull(b, "the watcher rebuilt nothing within 5 s of the change to " + file(i));
            assertFalse(b.rejected(), () -> b.diagnostics().toString());
            assertTrue(ref.table().version() > before, "the rebuild was not published");
            return StatusExpectations.of(b);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    @Override
    public void close() throws IOException {
        loader.close();
    }
}
