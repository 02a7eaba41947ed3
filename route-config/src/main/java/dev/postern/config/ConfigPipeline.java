package dev.postern.config;

import static java.util.Objects.requireNonNull;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.gatewayapi.ConfigInput;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.runtime.RouteTable;
import dev.postern.config.status.ResourceStatus;
import dev.postern.config.translate.GatewayTranslator;
import dev.postern.config.translate.RouteTableCompiler;
import dev.postern.config.yaml.FileCache;
import dev.postern.config.yaml.YamlReader;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The config pipeline in one place: read, validate, translate, compile. Pure: it publishes nothing; see
 * {@link ConfigRef}.
 *
 * <p>A structural error (a file that is not valid YAML, a resource with a wrong field type, a duplicate name)
 * rejects the whole build, so the last good table stays live. Problems inside a valid resource (a bad backend
 * reference, an unsupported filter, a conflicting listener) degrade that resource only and are reported.
 */
public final class ConfigPipeline {

    /**
     * What the pipeline needs to know beyond the input.
     *
     * @param controllerName the GatewayClass controllerName served
     * @param defaultBindAddress the IP literal bound by Gateways without {@code spec.addresses}
     */
    public record Settings(String controllerName, String defaultBindAddress) {
        /** Postern's default controllerName. */
        public static final String DEFAULT_CONTROLLER = "postern.dev/gateway-controller";

        /** Checks for nulls. */
        public Settings {
            requireNonNull(controllerName, "controllerName");
            requireNonNull(defaultBindAddress, "defaultBindAddress");
        }
    }

    /**
     * One build.
     *
     * @param table the compiled table, or null when the build was rejected
     * @param statuses the computed statuses (empty when rejected)
     * @param diagnostics everything found, errors and warnings
     * @param buildNanos how long the build took
     */
    public record Build(RouteTable table, List<ResourceStatus> statuses, List<Diagnostic> diagnostics,
                        long buildNanos) {
        /** Returns true when the build produced no table. */
        public boolean rejected() {
            return table == null;
        }

        /** Returns true when any diagnostic is an error (including degraded resources). */
        public boolean hasErrors() {
            return diagnostics.stream().anyMatch(Diagnostic::isError);
        }
    }

    private ConfigPipeline() {
    }

    /** Builds from every YAML file in a directory. */
    public static Build fromDirectory(Path dir, Settings settings, long version) {
        return fromDirectory(dir, settings, version, null);
    }

    /**
     * Builds from every YAML file in a directory, parsing only the files that changed since {@code cache} saw
     * them (a watched directory's reloads); null parses everything.
     */
    public static Build fromDirectory(Path dir, Settings settings, long version, FileCache cache) {
        final long t0 = System.nanoTime();
        final YamlReader.Result read = YamlReader.readDirectory(dir, cache);
        return finish(read, settings, version, t0);
    }

    /** Builds from resources already read (the Kubernetes source, tests). */
    public static Build fromResources(List<? extends Resource> resources, Settings settings, long version) {
        final long t0 = System.nanoTime();
        return finish(new YamlReader.Result(List.copyOf(resources), List.of()), settings, version, t0);
    }

    private static Build finish(YamlReader.Result read, Settings settings, long version, long t0) {
        final List<Diagnostic> diags = new ArrayList<>(read.diagnostics());
        if (read.hasErrors()) {
            return new Build(null, List.of(), diags, System.nanoTime() - t0);
        }
        final GatewayTranslator.Result tr = GatewayTranslator.translate(ConfigInput.of(read.resources()),
                settings.controllerName(), settings.defaultBindAddress());
        diags.addAll(tr.diagnostics());
        final RouteTable table = RouteTableCompiler.compile(tr.listeners(), version);
        return new Build(table, tr.statuses(), diags, System.nanoTime() - t0);
    }
}
