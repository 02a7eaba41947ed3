package dev.postern.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.runtime.TableDump;
import dev.postern.config.status.ResourceStatus;
import dev.postern.config.yaml.YamlReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * Golden files: every upstream test manifest, over the base manifests and the suite's setup objects, compiles to a
 * reviewed dump of the routes it contributes and the statuses of its resources
 * ({@code src/test/resources/golden/<manifest>.yaml}). Regenerate with {@code -Dgolden.update=true} and review the
 * diff.
 */
class GoldenTranslationTest {
    private static final Path GOLDEN = Path.of("src", "test", "resources", "golden");
    private static final boolean UPDATE = Boolean.getBoolean("golden.update");

    @TestFactory
    Stream<DynamicTest> everyManifestMatchesItsGolden() throws IOException {
        final SuiteManifests m = SuiteManifests.locate();
        final String base = m.base();
        final String setup = SuiteCertificates.setupObjects();
        final Path tests = manifestsDir();
        final List<String> names;
        try (Stream<Path> s = Files.list(tests)) {
            names = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml"))
                    .map(n -> n.substring(0, n.length() - 5)).sorted().toList();
        }
        assertTrue(names.size() > 100, "upstream manifests found: " + names.size());
        return names.stream().map(n -> DynamicTest.dynamicTest(n, () -> check(n, base, setup, m.test(n))));
    }

    private static Path manifestsDir() {
        Path p = Path.of("").toAbsolutePath();
        while (!Files.isDirectory(p.resolve("shared").resolve("gateway-api-conformance"))) {
            p = p.getParent();
        }
        return p.resolve("shared").resolve("gateway-api-conformance").resolve("tests");
    }

    @SuppressWarnings("unchecked")
    private static void check(String name, String base, String setup, String manifest) throws IOException {
        final List<Resource> all = new ArrayList<>();
        for (String y : List.of(base, setup)) {
            all.addAll(YamlReader.read("base.yaml", y).resources());
        }
        final List<Resource> own = YamlReader.read(name + ".yaml", manifest).resources();
        all.addAll(own);
        final ConfigPipeline.Build b = ConfigPipeline.fromResources(all, new ConfigPipeline.Settings(
                SuiteManifests.CONTROLLER, "0.0.0.0"), 1);
        final Set<String> ownKeys = new TreeSet<>();
        final Set<String> routePrefixes = new TreeSet<>();
        for (Resource r : own) {
            ownKeys.add(r.kind() + "/" + r.metadata().namespace() + "/" + r.metadata().name());
            routePrefixes.add(r.kind().toLowerCase(java.util.Locale.ROOT) + "/" + r.metadata().namespace() + "/"
                    + r.metadata().name() + "/");
        }
        final List<Object> statuses = new ArrayList<>();
        for (ResourceStatus s : b.statuses()) {
            if (ownKeys.contains(s.kind() + "/" + s.namespace() + "/" + s.name())) {
                statuses.add(s.toMap());
            }
        }
        final Map<String, Object> routes = new LinkedHashMap<>();
        final Map<String, Object> sockets = (Map<String, Object>) TableDump.of(b.table()).get("sockets");
        sockets.forEach((sock, v) -> {
            final Map<String, Object> listeners = (Map<String, Object>) ((Map<String, Object>) v).get("listeners");
            listeners.forEach((lh, lv) -> {
                final Map<String, Object> hosts = (Map<String, Object>) ((Map<String, Object>) lv).get("virtualHosts");
                hosts.forEach((host, entries) -> {
                    final List<Object> kept = new ArrayList<>();
                    for (Object e : (List<Object>) entries) {
                        final String match = String.valueOf(((Map<String, Object>) e).get("match"));
                        if (routePrefixes.stream().anyMatch(match::startsWith)) {
                            kept.add(e);
                        }
                    }
                    if (!kept.isEmpty()) {
                        routes.put(sock + " " + ((Map<String, Object>) lv).get("listener") + " " + host, kept);
                    }
                });
            });
        });
        final Map<String, Object> out = new LinkedHashMap<>();
        out.put("manifest", name);
        out.put("routes", routes);
        out.put("statuses", statuses);
        final DumperOptions o = new DumperOptions();
        o.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        o.setWidth(160);
        o.setDereferenceAliases(true);
        final String actual = "# Generated by GoldenTranslationTest (-Dgolden.update=true); review changes as diffs.\n"
                + new Yaml(o).dump(out);
        final Path file = GOLDEN.resolve(name + ".yaml");
        if (UPDATE) {
            Files.writeString(file, actual);
            return;
        }
        assertTrue(Files.exists(file), "no golden file " + file + "; run with -Dgolden.update=true");
        assertEquals(Files.readString(file), actual, name + " differs from its golden file; if the change is "
                + "intended, regenerate with -Dgolden.update=true and review the diff");
    }
}
