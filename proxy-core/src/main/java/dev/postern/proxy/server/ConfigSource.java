package dev.postern.proxy.server;

import static java.util.Objects.requireNonNull;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;

import java.util.Map;
import java.util.function.Consumer;

/**
 * A source of config other than a directory, found at run time through {@link java.util.ServiceLoader} so that
 * proxy-core does not depend on it (the Kubernetes source lives in the {@code kubernetes} module and is on the
 * class path only when {@code ./postern run --kubernetes} asks for it).
 *
 * <p>A source feeds the same pipeline as the directory loader and publishes into the same {@link ConfigRef}; it
 * runs its builds on its own thread. {@link #close()} stops it; the last published table stays live.
 */
public interface ConfigSource extends AutoCloseable {

    /** A one-line description for the startup message, such as {@code kubernetes (in-cluster)}. */
    String describe();

    /** Stops watching and releases what the source holds (connections, leases). Never throws. */
    @Override
    void close();

    /**
     * What a source is started with.
     *
     * @param flags command-line values for the source's own flags (for Kubernetes: {@code kubeconfig})
     * @param settings the pipeline settings (controllerName, default bind address)
     * @param ref where builds are published
     * @param onBuild called after every build, published or rejected (metrics)
     */
    record Options(Map<String, String> flags, ConfigPipeline.Settings settings, ConfigRef ref,
                   Consumer<ConfigPipeline.Build> onBuild) {
        /** Checks for nulls and copies the flags. */
        public Options {
            flags = Map.copyOf(requireNonNull(flags, "flags"));
            requireNonNull(settings, "settings");
            requireNonNull(ref, "ref");
            requireNonNull(onBuild, "onBuild");
        }
    }

    /** Makes sources of one kind; registered in {@code META-INF/services/dev.postern.proxy.server.ConfigSource$Provider}. */
    interface Provider {
        /** The name the command line selects it by ({@code kubernetes} for {@code --kubernetes}). */
        String name();

        /**
         * Starts a source. Returns once watching has begun; the first publish may come later ({@code /ready}
         * answers 503 until it does).
         *
         * @throws Exception when the source cannot start (no cluster config, say); the message names the cause
         */
        ConfigSource start(Options options) throws Exception;
    }
}
