package dev.postern.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.yaml.YamlReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/** Every upstream conformance manifest (v1.6.1, base and tests) reads with no structural error. */
class ConformanceManifestsTest {

    /** Finds {@code shared/gateway-api-conformance} beside the repository (CI and developer machines). */
    static Path manifests() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null) {
            final Path c = p.resolve("shared").resolve("gateway-api-conformance");
            if (Files.isDirectory(c)) {
                return c;
            }
            p = p.getParent();
        }
        throw new IllegalStateException("../shared/gateway-api-conformance not found above " + Path.of("")
                .toAbsolutePath());
    }

    @Test
    void everyManifestReadsWithoutErrors() throws IOException {
        final List<Path> files = new ArrayList<>();
        files.add(manifests().resolve("base").resolve("manifests.yaml"));
        try (Stream<Path> s = Files.list(manifests().resolve("tests"))) {
            s.filter(f -> f.toString().endsWith(".yaml")).sorted().forEach(files::add);
        }
        assertTrue(files.size() > 100, "expected the upstream suite's manifests, found " + files.size());
        final List<Diagnostic> errors = new ArrayList<>();
        int resources = 0;
        for (Path f : files) {
            final YamlReader.Result r = YamlReader.read(f.getFileName().toString(), Files.readString(f));
            r.diagnostics().stream().filter(Diagnostic::isError).forEach(errors::add);
            // Every kind the suite uses is served (ListenerSet included).
            r.diagnostics().stream().filter(d -> d.reason().equals("UnsupportedKind"))
                    .forEach(d -> assertEquals(List.of(), List.of(d)));
            resources += r.resources().size();
        }
        assertEquals(List.of(), errors);
        assertTrue(resources > 350, "resources read: " + resources);
    }
}
