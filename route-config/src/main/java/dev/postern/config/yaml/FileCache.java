package dev.postern.config.yaml;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * What a watched directory's files parsed to, so that a reload re-reads only the files that changed. A file is
 * unchanged when its size, modification time and file key (device and inode) are all the same as when it was
 * parsed; a rename into place (the atomic way to write a config file) always changes the file key.
 *
 * <p>Parsed results are immutable and shared between builds. Not thread-safe: one loader owns one cache and
 * rebuilds one at a time.
 */
public final class FileCache {
    private record Stamp(long size, long modifiedNanos, Object fileKey) {
        static Stamp of(BasicFileAttributes a) {
            return new Stamp(a.size(), a.lastModifiedTime().to(java.util.concurrent.TimeUnit.NANOSECONDS),
                    a.fileKey());
        }
    }

    private record Entry(Stamp stamp, YamlReader.Result result) {
    }

    private final Map<Path, Entry> entries = new HashMap<>();
    private int hits;
    private int misses;

    /** Returns the cached parse of {@code file} when its attributes are unchanged, else null. */
    YamlReader.Result get(Path file, BasicFileAttributes attrs) {
        final Entry e = entries.get(file);
        if (e != null && attrs.fileKey() != null && e.stamp().equals(Stamp.of(attrs))) {
            hits++;
            return e.result();
        }
        misses++;
        return null;
    }

    /** Remembers the parse of {@code file} as of {@code attrs}. */
    void put(Path file, BasicFileAttributes attrs, YamlReader.Result result) {
        entries.put(file, new Entry(Stamp.of(attrs), result));
    }

    /** Forgets files that are no longer in the directory. */
    void retain(Set<Path> present) {
        entries.keySet().retainAll(new HashSet<>(present));
    }

    /** Reads a file's attributes without following links further than the JDK does for regular files. */
    static BasicFileAttributes attributes(Path file) throws IOException {
        return Files.readAttributes(file, BasicFileAttributes.class);
    }

    /** Files served from the cache since it was created. */
    public int hits() {
        return hits;
    }

    /** Files parsed since the cache was created. */
    public int misses() {
        return misses;
    }
}
