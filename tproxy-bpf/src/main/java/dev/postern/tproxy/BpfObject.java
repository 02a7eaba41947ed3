package dev.postern.tproxy;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Postern's BPF object, opened from the bytes packaged in the jar, optionally with its maps pinned (reused when
 * already pinned and compatible), and loaded into the kernel. Gives access to the program and map file
 * descriptors and to map elements.
 *
 * <p>Not thread-safe; {@link TproxyDataplane} serialises access.
 */
final class BpfObject implements AutoCloseable {
    static final String RESOURCE = "postern_tproxy.bpf.o";
    static final List<String> MAPS = List.of(BpfMaps.SERVICES, BpfMaps.CONFIG, BpfMaps.COUNTERS, BpfMaps.ATTACH,
            BpfMaps.LISTENERS);
    private static final long BPF_ANY = 0;

    private final Libbpf bpf;
    private final Arena arena;
    private MemorySegment object;
    private final Map<String, Integer> mapFds = new HashMap<>();
    private final Map<String, Integer> valueSizes = new HashMap<>();
    private final Map<String, Integer> keySizes = new HashMap<>();
    private final int ethProgramFd;
    private final int l3ProgramFd;
    private final int skLookupProgramFd;

    private BpfObject(final Libbpf bpf, final Arena arena, final MemorySegment object) {
        this.bpf = bpf;
        this.arena = arena;
        this.object = object;
        for (final String name : MAPS) {
            final MemorySegment map = map(name);
            final int fd = Native.callInt(bpf.mapFd, map);
            if (fd < 0) {
                throw TproxyException.errno("getting the fd of map " + name, fd);
            }
            mapFds.put(name, fd);
            keySizes.put(name, Native.callInt(bpf.mapKeySize, map));
            valueSizes.put(name, Native.callInt(bpf.mapValueSize, map));
        }
        this.ethProgramFd = programFd(BpfMaps.PROGRAM_ETH);
        this.l3ProgramFd = programFd(BpfMaps.PROGRAM_L3);
        this.skLookupProgramFd = programFd(BpfMaps.PROGRAM_SK_LOOKUP);
    }

    /** The object file's bytes, as packaged in the jar next to this class. */
    static byte[] objectBytes() {
        try (InputStream in = BpfObject.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new TproxyException("the BPF object " + RESOURCE + " is missing from the tproxy-bpf jar "
                        + "(dev/postern/tproxy/); the build compiles it with clang in generate-resources");
            }
            return in.readAllBytes();
        } catch (final IOException e) {
            throw new TproxyException("reading the BPF object " + RESOURCE + " from the jar failed: " + e, e);
        }
    }

    /**
     * Opens and loads the object.
     *
     * @param pinDir where the maps are pinned (and reused from), or null for private maps
     * @param notes receives a line for each pinned map that was reused or replaced
     */
    static BpfObject load(final Libbpf bpf, final Path pinDir, final List<String> notes) {
        final byte[] bytes = objectBytes();
        final Arena arena = Arena.ofShared();
        final StringBuilder log = new StringBuilder();
        MemorySegment object = MemorySegment.NULL;
        try {
            final MemorySegment buffer = arena.allocate(bytes.length, 8);
            MemorySegment.copy(bytes, 0, buffer, JAVA_BYTE, 0, bytes.length);
            // struct bpf_object_open_opts, only its first two fields (sz, object_name): libbpf accepts an older,
            // shorter struct and defaults the rest.
            final MemorySegment opts = arena.allocate(16, 8);
            opts.set(JAVA_LONG, 0, 16L);
            opts.set(ADDRESS, 8, arena.allocateFrom("postern_tproxy"));
            final int[] errno = new int[1];
            object = Libbpf.withLog(() -> Native.callPointer(bpf.objectOpenMem, errno, buffer, (long) bytes.length,
                    opts), log);
            if (object.equals(MemorySegment.NULL)) {
                throw TproxyException.errno("opening the BPF object " + RESOURCE + " (" + bytes.length + " bytes)",
                        errno[0] == 0 ? 22 : errno[0], Libbpf.tail(log, 4000));
            }
            if (pinDir != null) {
                preparePins(bpf, object, pinDir, arena, notes);
            }
            final MemorySegment opened = object;
            final int rc = Libbpf.withLog(() -> Native.callInt(bpf.objectLoad, opened), log);
            if (rc < 0) {
                throw TproxyException.errno("loading the BPF program " + RESOURCE + " into the kernel", rc,
                        Libbpf.tail(log, 6000));
            }
            return new BpfObject(bpf, arena, object);
        } catch (final RuntimeException e) {
            if (!object.equals(MemorySegment.NULL)) {
                closeObject(bpf, object);
            }
            arena.close();
            throw e;
        }
    }

    // For each map: reuse the pinned one when libbpf will accept it, replace it (with a note) when its shape changed
    // (a newer Postern changed the layout), and pin the new one after load.
    private static void preparePins(final Libbpf bpf, final MemorySegment object, final Path pinDir,
            final Arena arena, final List<String> notes) {
        for (final String name : MAPS) {
            final MemorySegment map = Native.callPointer(bpf.findMap, new int[1], object, arena.allocateFrom(name));
            if (map.equals(MemorySegment.NULL)) {
                throw new TproxyException("the BPF object has no map " + name + "; the jar and the C source differ");
            }
            final Path pin = pinDir.resolve(name);
            if (Files.exists(pin)) {
                final int fd = Native.callInt(bpf.objGet, arena.allocateFrom(pin.toString()));
                if (fd < 0) {
                    throw TproxyException.errno("opening the pinned map " + pin, fd);
                }
                try {
                    final int[] info = mapInfo(bpf, fd);
                    final boolean same = info[0] == Native.callInt(bpf.mapType, map)
                            && info[2] == Native.callInt(bpf.mapKeySize, map)
                            && info[3] == Native.callInt(bpf.mapValueSize, map)
                            && info[4] == Native.callInt(bpf.mapMaxEntries, map)
                            && info[5] == Native.callInt(bpf.mapFlags, map);
                    if (same) {
                        notes.add("reusing pinned map " + pin + " (id " + info[1] + ")");
                    } else {
                        Files.delete(pin);
                        notes.add("replaced pinned map " + pin + ": its layout differs from this Postern's");
                    }
                } catch (final IOException e) {
                    throw new TproxyException("removing the incompatible pinned map " + pin + " failed: " + e, e);
                } finally {
                    Native.close(fd);
                }
            }
            final int rc = Native.callInt(bpf.mapSetPinPath, map, arena.allocateFrom(pin.toString()));
            if (rc < 0) {
                throw TproxyException.errno("setting the pin path of map " + name + " to " + pin, rc);
            }
        }
    }

    /** {@code struct bpf_map_info}: type, id, key_size, value_size, max_entries, map_flags. */
    private static int[] mapInfo(final Libbpf bpf, final int fd) {
        try (Arena local = Arena.ofConfined()) {
            final MemorySegment info = local.allocate(128, 8);
            final MemorySegment length = local.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, 128);
            final int rc = Native.callInt(bpf.objGetInfo, fd, info, length);
            if (rc < 0) {
                throw TproxyException.errno("reading BPF map info of fd " + fd, rc);
            }
            final int[] out = new int[6];
            for (int i = 0; i < out.length; i++) {
                out[i] = info.get(JAVA_INT, i * 4L);
            }
            return out;
        }
    }

    private MemorySegment map(final String name) {
        final MemorySegment map = Native.callPointer(bpf.findMap, new int[1], object, arena.allocateFrom(name));
        if (map.equals(MemorySegment.NULL)) {
            throw new TproxyException("the BPF object has no map " + name + "; the jar and the C source differ");
        }
        return map;
    }

    private int programFd(final String name) {
        final MemorySegment program = Native.callPointer(bpf.findProgram, new int[1], object,
                arena.allocateFrom(name));
        if (program.equals(MemorySegment.NULL)) {
            throw new TproxyException("the BPF object has no program " + name + "; the jar and the C source differ");
        }
        final int fd = Native.callInt(bpf.programFd, program);
        if (fd < 0) {
            throw TproxyException.errno("getting the fd of program " + name, fd);
        }
        return fd;
    }

    int ethProgramFd() {
        return ethProgramFd;
    }

    int skLookupProgramFd() {
        return skLookupProgramFd;
    }

    int l3ProgramFd() {
        return l3ProgramFd;
    }

    int mapFd(final String name) {
        return mapFds.get(name);
    }

    void update(final String map, final byte[] key, final byte[] value) {
        try (Arena local = Arena.ofConfined()) {
            final int rc = Native.callInt(bpf.mapUpdate, mapFd(map), local.allocateFrom(JAVA_BYTE, key),
                    local.allocateFrom(JAVA_BYTE, value), BPF_ANY);
            if (rc < 0) {
                throw TproxyException.errno("writing an element of BPF map " + map, rc);
            }
        }
    }

    /** The value for {@code key}, or null when absent. {@code valueSize} covers per-CPU maps (size x CPUs). */
    byte[] lookup(final String map, final byte[] key, final int valueSize) {
        try (Arena local = Arena.ofConfined()) {
            final MemorySegment value = local.allocate(valueSize, 8);
            final int rc = Native.callInt(bpf.mapLookup, mapFd(map), local.allocateFrom(JAVA_BYTE, key), value);
            if (rc == -2) {
                return null;
            }
            if (rc < 0) {
                throw TproxyException.errno("reading an element of BPF map " + map, rc);
            }
            return value.toArray(JAVA_BYTE);
        }
    }

    byte[] lookup(final String map, final byte[] key) {
        return lookup(map, key, valueSizes.get(map));
    }

    /** Deletes {@code key}; absent keys are not an error (a sockmap answers an empty slot with EINVAL). */
    void delete(final String map, final byte[] key) {
        try (Arena local = Arena.ofConfined()) {
            final int rc = Native.callInt(bpf.mapDelete, mapFd(map), local.allocateFrom(JAVA_BYTE, key));
            if (rc < 0 && rc != -2 && !(rc == -22 && map.equals(BpfMaps.LISTENERS))) {
                throw TproxyException.errno("deleting an element of BPF map " + map, rc);
            }
        }
    }

    /** Every key of a hash or LPM map. */
    List<byte[]> keys(final String map) {
        final int size = keySizes.get(map);
        final List<byte[]> out = new ArrayList<>();
        try (Arena local = Arena.ofConfined()) {
            MemorySegment previous = MemorySegment.NULL;
            final MemorySegment next = local.allocate(size, 8);
            while (true) {
                final int rc = Native.callInt(bpf.mapNextKey, mapFd(map), previous, next);
                if (rc == -2) {
                    return out;
                }
                if (rc < 0) {
                    throw TproxyException.errno("listing the keys of BPF map " + map, rc);
                }
                final byte[] key = next.toArray(JAVA_BYTE);
                out.add(key);
                if (out.size() > 1_000_000) {
                    throw new TproxyException("listing the keys of BPF map " + map + " did not end");
                }
                previous = local.allocateFrom(JAVA_BYTE, key);
            }
        }
    }

    private static void closeObject(final Libbpf bpf, final MemorySegment object) {
        try (Arena local = Arena.ofConfined()) {
            bpf.objectClose.invokeWithArguments(Native.newCapture(local), object);
        } catch (final Throwable t) {
            throw new IllegalStateException("bpf_object__close failed", t);
        }
    }

    /** Closes the object's fds. Attached programs and pinned maps stay in the kernel. */
    @Override
    public void close() {
        if (object != null) {
            closeObject(bpf, object);
            object = null;
            arena.close();
        }
    }
}
