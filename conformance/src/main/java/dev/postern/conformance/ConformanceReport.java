package dev.postern.conformance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Writes the replay's results (the upstream ConformanceReport format comes with the full harness). */
public final class ConformanceReport {
    private ConformanceReport() {
    }

    /** Writes one line per test: name and result. */
    public static void write(Map<String, String> results, Path file) throws IOException {
        final StringBuilder sb = new StringBuilder("# Postern conformance replay results\n");
        results.forEach((k, v) -> sb.append(k).append(": ").append(v.replace("\n", " ")).append('\n'));
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, sb.toString());
    }
}
