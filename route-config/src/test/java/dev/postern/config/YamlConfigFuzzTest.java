package dev.postern.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.config.diag.Diagnostic;
import dev.postern.config.runtime.TableDump;
import dev.postern.config.yaml.YamlReader;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.nio.charset.StandardCharsets;

/**
 * Jazzer fuzz target (issue 9) for the YAML config loader: arbitrary bytes, read as a manifest file, go through
 * {@link YamlReader#read} and, when the read has no error, the rest of the pipeline (translate, compile) and the
 * table dump. Invariants: nothing throws (bad input only ever gives {@link Diagnostic}s), no diagnostic is an
 * {@code InternalError} (an unchecked exception inside Postern's own reading), an error in the read rejects the
 * build, and the same bytes give the same diagnostics twice. SnakeYAML's limits (aliases, nesting, duplicate
 * keys, no object construction) are exercised by the seeds in {@code YamlConfigFuzzTestInputs/loadYaml/}.
 *
 * <p>{@code ./mvnw verify} fuzzes it for a bounded time; {@code perf/fuzz} runs longer campaigns. Without
 * {@code JAZZER_FUZZ} it replays the seeds and every checked-in crash as a regression test.
 */
class YamlConfigFuzzTest {
    private static final ConfigPipeline.Settings SETTINGS = new ConfigPipeline.Settings(
            ConfigPipeline.Settings.DEFAULT_CONTROLLER, "127.0.0.1");

    @FuzzTest(maxDuration = "10s")
    void loadYaml(byte[] input) {
        final String text = new String(input, StandardCharsets.UTF_8);
        final YamlReader.Result read = YamlReader.read("fuzz.yaml", text);
        for (Diagnostic d : read.diagnostics()) {
            assertFalse(d.reason().equals("InternalError"), d::toString);
            assertFalse(d.reason().isEmpty() || d.message().isEmpty(), d::toString);
        }
        assertEquals(read.diagnostics(), YamlReader.read("fuzz.yaml", text).diagnostics(), "not deterministic");
        if (read.hasErrors()) {
            return; // fromDirectory would reject the build here; the last good table stays
        }
        final ConfigPipeline.Build build = ConfigPipeline.fromResources(read.resources(), SETTINGS, 1);
        assertFalse(build.rejected(), "a read without errors must compile: " + build.diagnostics());
        assertNotNull(TableDump.of(build.table()));
        for (Diagnostic d : build.diagnostics()) {
            assertTrue(!d.reason().isEmpty() && !d.message().isEmpty(), d::toString);
        }
    }
}
