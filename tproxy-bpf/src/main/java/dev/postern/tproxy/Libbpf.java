package dev.postern.tproxy;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Bindings to the parts of {@code libbpf.so.1} (1.1 or newer) that Postern uses, through the JDK's foreign function
 * API. All int-returning calls return {@code -errno} on failure (libbpf 1.x convention).
 *
 * <p>libbpf's own log (for example the verifier's output when a load fails) goes to a per-thread buffer while
 * {@link #withLog} runs, so that the exception can quote it; otherwise to {@link System.Logger} at DEBUG.
 *
 * <p>Thread safety: the handles are immutable and libbpf's calls used here are safe to make from any thread;
 * callers serialise operations on one {@code bpf_object}.
 */
final class Libbpf {
    /** {@code struct bpf_tc_hook}: sz, ifindex, attach_point, parent (24 bytes on LP64). */
    static final StructLayout TC_HOOK = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"), JAVA_INT.withName("ifindex"), JAVA_INT.withName("attach_point"),
            JAVA_INT.withName("parent"), MemoryLayout.paddingLayout(4));
    /** {@code struct bpf_tc_opts}: sz, prog_fd, flags, prog_id, handle, priority (32 bytes on LP64). */
    static final StructLayout TC_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"), JAVA_INT.withName("prog_fd"), JAVA_INT.withName("flags"),
            JAVA_INT.withName("prog_id"), JAVA_INT.withName("handle"), JAVA_INT.withName("priority"),
            MemoryLayout.paddingLayout(4));
    static final long TC_OPTS_PROG_FD = 8;
    static final long TC_OPTS_FLAGS = 12;
    static final long TC_OPTS_PROG_ID = 16;
    static final long TC_OPTS_HANDLE = 20;
    static final long TC_OPTS_PRIORITY = 24;
    static final int BPF_TC_INGRESS = 1;
    static final int BPF_TC_EGRESS = 2;
    static final int BPF_TC_F_REPLACE = 1;

    private static final System.Logger LOG = System.getLogger("dev.postern.tproxy.libbpf");
    private static final ThreadLocal<StringBuilder> CAPTURE = new ThreadLocal<>();
    private static final int LOG_LIMIT = 16 * 1024;
    /** {@code enum libbpf_print_level}: WARN 0, INFO 1, DEBUG 2. */
    private static final int LIBBPF_INFO = 1;

    private static Libbpf instance;
    private static String unavailable;

    final MethodHandle objectOpenMem;
    final MethodHandle objectLoad;
    final MethodHandle objectClose;
    final MethodHandle findProgram;
    final MethodHandle programFd;
    final MethodHandle findMap;
    final MethodHandle mapFd;
    final MethodHandle mapSetPinPath;
    final MethodHandle mapType;
    final MethodHandle mapKeySize;
    final MethodHandle mapValueSize;
    final MethodHandle mapMaxEntries;
    final MethodHandle mapFlags;
    final MethodHandle mapUpdate;
    final MethodHandle mapLookup;
    final MethodHandle mapDelete;
    final MethodHandle mapNextKey;
    final MethodHandle tcHookCreate;
    final MethodHandle tcHookDestroy;
    final MethodHandle tcAttach;
    final MethodHandle tcDetach;
    final MethodHandle tcQuery;
    final MethodHandle linkUpdate;
    final MethodHandle objPin;
    final MethodHandle objGet;
    final MethodHandle objGetInfo;
    final MethodHandle numPossibleCpus;

    private Libbpf(final SymbolLookup lib) {
        objectOpenMem = Native.downcall(lib, "bpf_object__open_mem",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        objectLoad = Native.downcall(lib, "bpf_object__load", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        objectClose = Native.downcall(lib, "bpf_object__close", FunctionDescriptor.ofVoid(ADDRESS));
        findProgram = Native.downcall(lib, "bpf_object__find_program_by_name",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        programFd = Native.downcall(lib, "bpf_program__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        findMap = Native.downcall(lib, "bpf_object__find_map_by_name",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        mapFd = Native.downcall(lib, "bpf_map__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapSetPinPath = Native.downcall(lib, "bpf_map__set_pin_path",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        mapType = Native.downcall(lib, "bpf_map__type", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapKeySize = Native.downcall(lib, "bpf_map__key_size", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapValueSize = Native.downcall(lib, "bpf_map__value_size", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapMaxEntries = Native.downcall(lib, "bpf_map__max_entries", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapFlags = Native.downcall(lib, "bpf_map__map_flags", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapUpdate = Native.downcall(lib, "bpf_map_update_elem",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        mapLookup = Native.downcall(lib, "bpf_map_lookup_elem",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        mapDelete = Native.downcall(lib, "bpf_map_delete_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        mapNextKey = Native.downcall(lib, "bpf_map_get_next_key",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        tcHookCreate = Native.downcall(lib, "bpf_tc_hook_create", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        tcHookDestroy = Native.downcall(lib, "bpf_tc_hook_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        tcAttach = Native.downcall(lib, "bpf_tc_attach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        tcDetach = Native.downcall(lib, "bpf_tc_detach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        tcQuery = Native.downcall(lib, "bpf_tc_query", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        linkUpdate = Native.downcall(lib, "bpf_link_update",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
        objPin = Native.downcall(lib, "bpf_obj_pin", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        objGet = Native.downcall(lib, "bpf_obj_get", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        objGetInfo = Native.downcall(lib, "bpf_obj_get_info_by_fd",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        numPossibleCpus = Native.downcall(lib, "libbpf_num_possible_cpus", FunctionDescriptor.of(JAVA_INT));
        installLogCallback(lib);
    }

    /**
     * The bindings, loaded once per JVM.
     *
     * @throws TproxyException when {@code libbpf.so.1} cannot be loaded, naming the package that provides it
     */
    static synchronized Libbpf get() {
        if (instance != null) {
            return instance;
        }
        if (unavailable != null) {
            throw new TproxyException(unavailable);
        }
        final SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup("libbpf.so.1", Arena.global());
        } catch (final IllegalArgumentException e) {
            unavailable = "libbpf.so.1 cannot be loaded (" + e.getMessage() + "); install libbpf 1.1 or newer "
                    + "(Debian/Ubuntu: apt-get install libbpf1; RHEL: dnf install libbpf)";
            throw new TproxyException(unavailable);
        }
        try {
            instance = new Libbpf(lib);
        } catch (final TproxyException e) {
            unavailable = e.getMessage();
            throw e;
        }
        return instance;
    }

    /**
     * Runs {@code action} while appending libbpf's warning and info lines of this thread to {@code log} (also when
     * the action throws), so that an exception can quote them.
     */
    static <T> T withLog(final Supplier<T> action, final StringBuilder log) {
        final StringBuilder previous = CAPTURE.get();
        CAPTURE.set(log);
        try {
            return action.get();
        } finally {
            if (previous == null) {
                CAPTURE.remove();
            } else {
                CAPTURE.set(previous);
            }
        }
    }

    /** The last {@code maxChars} of a captured log, starting at a line boundary. */
    static String tail(final StringBuilder log, final int maxChars) {
        if (log.length() <= maxChars) {
            return log.toString();
        }
        final int start = log.indexOf("\n", log.length() - maxChars);
        return "...\n" + log.substring(start < 0 ? log.length() - maxChars : start + 1);
    }

    // libbpf calls printf-style with a va_list. On x86-64 a va_list argument is a pointer, so vsnprintf can
    // format it; on other ABIs the log is not captured (errors still carry the errno).
    private static void installLogCallback(final SymbolLookup lib) {
        final String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!arch.equals("amd64") && !arch.equals("x86_64")) {
            return;
        }
        try {
            final MethodHandle target = MethodHandles.lookup().findStatic(Libbpf.class, "onLibbpfLog",
                    MethodType.methodType(int.class, int.class, MemorySegment.class, MemorySegment.class));
            final MemorySegment stub = Native.LINKER.upcallStub(target,
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), Arena.global());
            final MethodHandle setPrint = Native.LINKER.downcallHandle(lib.find("libbpf_set_print").orElseThrow(),
                    FunctionDescriptor.of(ADDRESS, ADDRESS));
            final MemorySegment ignored = (MemorySegment) setPrint.invokeExact(stub);
            assert ignored != null;
        } catch (final Throwable t) {
            LOG.log(System.Logger.Level.DEBUG, "libbpf log capture unavailable", t);
        }
    }

    private static final MethodHandle VSNPRINTF = Native.LINKER.downcallHandle(
            Native.LIBC.find("vsnprintf").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));

    // Called by libbpf on the thread that made the libbpf call. Must never throw.
    @SuppressWarnings("unused")
    private static int onLibbpfLog(final int level, final MemorySegment format, final MemorySegment args) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment buffer = arena.allocate(4096);
            final int n = (int) VSNPRINTF.invokeExact(buffer, 4096L, format, args);
            if (n <= 0) {
                return 0;
            }
            final String line = buffer.getString(0);
            final StringBuilder capture = CAPTURE.get();
            if (capture != null && level <= LIBBPF_INFO) { // debug lines stay in the logger only
                capture.append(line);
                if (capture.length() > LOG_LIMIT * 4) {
                    capture.delete(0, capture.length() - LOG_LIMIT * 2);
                }
            }
            LOG.log(System.Logger.Level.DEBUG, () -> "libbpf: " + line.stripTrailing());
            return n;
        } catch (final Throwable t) {
            return 0;
        }
    }

    int numPossibleCpus() {
        final int n = Native.callInt(numPossibleCpus);
        if (n <= 0) {
            throw TproxyException.errno("libbpf_num_possible_cpus (reading /sys/devices/system/cpu/possible)", n);
        }
        return n;
    }
}
