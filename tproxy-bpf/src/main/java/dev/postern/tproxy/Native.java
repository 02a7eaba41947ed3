package dev.postern.tproxy;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Map;

/**
 * The foreign-function plumbing shared by the libbpf and libc bindings: downcalls that capture {@code errno},
 * and errno names for messages.
 *
 * <p>Convention: every wrapper returns what the C call returns when it succeeds and {@code -errno} when it
 * fails, the way libbpf 1.x itself reports errors.
 */
final class Native {
    static final Linker LINKER = Linker.nativeLinker();
    static final SymbolLookup LIBC = LINKER.defaultLookup();

    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle SOCKET = libc("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT));
    private static final MethodHandle BIND = libc("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS,
            JAVA_INT));
    private static final MethodHandle SENDTO = libc("sendto", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS,
            JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECV = libc("recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS,
            JAVA_LONG, JAVA_INT));
    private static final MethodHandle SETSOCKOPT = libc("setsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CLOSE = libc("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle STATFS = libc("statfs", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(LIBC.find("strerror").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));
    /** {@code long syscall(long number, ...)} with three variadic arguments (int, pointer, int). */
    private static final MethodHandle SYSCALL3 = LINKER.downcallHandle(LIBC.find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT),
            Linker.Option.firstVariadicArg(1), CAPTURE_ERRNO);

    private static final Map<Integer, String> ERRNO_NAMES = Map.ofEntries(
            Map.entry(1, "EPERM"), Map.entry(2, "ENOENT"), Map.entry(3, "ESRCH"), Map.entry(4, "EINTR"),
            Map.entry(5, "EIO"), Map.entry(7, "E2BIG"), Map.entry(9, "EBADF"), Map.entry(11, "EAGAIN"),
            Map.entry(12, "ENOMEM"), Map.entry(13, "EACCES"), Map.entry(14, "EFAULT"), Map.entry(16, "EBUSY"),
            Map.entry(17, "EEXIST"), Map.entry(19, "ENODEV"), Map.entry(20, "ENOTDIR"), Map.entry(22, "EINVAL"),
            Map.entry(24, "EMFILE"), Map.entry(28, "ENOSPC"), Map.entry(30, "EROFS"), Map.entry(34, "ERANGE"),
            Map.entry(38, "ENOSYS"), Map.entry(67, "ENOLINK"), Map.entry(71, "EPROTO"),
            Map.entry(93, "EPROTONOSUPPORT"), Map.entry(95, "EOPNOTSUPP"), Map.entry(97, "EAFNOSUPPORT"),
            Map.entry(98, "EADDRINUSE"), Map.entry(101, "ENETUNREACH"), Map.entry(110, "ETIMEDOUT"),
            Map.entry(524, "ENOTSUPP"));

    private Native() {
    }

    /** A libc downcall whose first parameter is the errno capture segment. */
    static MethodHandle libc(final String name, final FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(
                () -> new IllegalStateException("libc has no symbol " + name)), descriptor, CAPTURE_ERRNO);
    }

    /** A downcall into {@code lookup} whose first parameter is the errno capture segment. */
    static MethodHandle downcall(final SymbolLookup lookup, final String name, final FunctionDescriptor descriptor) {
        final MemorySegment symbol = lookup.find(name).orElseThrow(() -> new TproxyException(
                "libbpf.so.1 has no symbol " + name + ": Postern needs libbpf 1.1 or newer"));
        return LINKER.downcallHandle(symbol, descriptor, CAPTURE_ERRNO);
    }

    static MemorySegment newCapture(final Arena arena) {
        return arena.allocate(CAPTURE_LAYOUT);
    }

    static int errno(final MemorySegment capture) {
        return (int) ERRNO.get(capture, 0L);
    }

    /** Invokes a capturing handle returning int; returns the result, or {@code -errno} when it is negative. */
    static int callInt(final MethodHandle handle, final Object... args) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment capture = newCapture(arena);
            final Object[] all = prepend(capture, args);
            final int rc = (int) handle.invokeWithArguments(all);
            if (rc < 0) {
                // libbpf returns -errno itself; libc returns -1 and sets errno.
                return rc == -1 && errno(capture) != 0 ? -errno(capture) : rc;
            }
            return rc;
        } catch (final RuntimeException | Error e) {
            throw e;
        } catch (final Throwable t) {
            throw new IllegalStateException("native call failed: " + handle, t);
        }
    }

    /** Invokes a capturing handle returning long (ssize_t); returns the result or {@code -errno}. */
    static long callLong(final MethodHandle handle, final Object... args) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment capture = newCapture(arena);
            final long rc = (long) handle.invokeWithArguments(prepend(capture, args));
            return rc < 0 ? -errno(capture) : rc;
        } catch (final RuntimeException | Error e) {
            throw e;
        } catch (final Throwable t) {
            throw new IllegalStateException("native call failed: " + handle, t);
        }
    }

    /** Invokes a capturing handle returning a pointer; {@code errnoOut[0]} receives errno when it is NULL. */
    static MemorySegment callPointer(final MethodHandle handle, final int[] errnoOut, final Object... args) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment capture = newCapture(arena);
            final MemorySegment result = (MemorySegment) handle.invokeWithArguments(prepend(capture, args));
            errnoOut[0] = result.equals(MemorySegment.NULL) ? errno(capture) : 0;
            return result;
        } catch (final RuntimeException | Error e) {
            throw e;
        } catch (final Throwable t) {
            throw new IllegalStateException("native call failed: " + handle, t);
        }
    }

    private static Object[] prepend(final Object first, final Object[] rest) {
        final Object[] all = new Object[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    /** {@code ENOENT (No such file or directory)} for 2; accepts a negative errno too. */
    static String describe(final int errno) {
        final int e = Math.abs(errno);
        final String name = ERRNO_NAMES.getOrDefault(e, "errno " + e);
        if (e == 524) {
            return name + " (operation not supported by this kernel)";
        }
        try {
            final MemorySegment text = (MemorySegment) STRERROR.invokeExact(e);
            return name + " (" + text.reinterpret(256).getString(0) + ")";
        } catch (final Throwable t) {
            return name;
        }
    }

    // ---- libc wrappers (negative errno on failure) ----

    static int socket(final int domain, final int type, final int protocol) {
        return callInt(SOCKET, domain, type, protocol);
    }

    static int bind(final int fd, final MemorySegment address, final int length) {
        return callInt(BIND, fd, address, length);
    }

    static long sendto(final int fd, final MemorySegment buffer, final long length, final MemorySegment address,
            final int addressLength) {
        return callLong(SENDTO, fd, buffer, length, 0, address, addressLength);
    }

    static long recv(final int fd, final MemorySegment buffer, final long length) {
        return callLong(RECV, fd, buffer, length, 0);
    }

    static int setsockopt(final int fd, final int level, final int name, final MemorySegment value,
            final int length) {
        return callInt(SETSOCKOPT, fd, level, name, value, length);
    }

    static int close(final int fd) {
        return callInt(CLOSE, fd);
    }

    /** The {@code f_type} of the file system holding {@code path}, or {@code -errno}. */
    static long statfsType(final String path) {
        try (Arena arena = Arena.ofConfined()) {
            // struct statfs is 120 bytes on 64-bit Linux; f_type is its first field (a long).
            final MemorySegment buffer = arena.allocate(256, 8);
            final int rc = callInt(STATFS, arena.allocateFrom(path), buffer);
            return rc < 0 ? rc : buffer.get(JAVA_LONG, 0);
        }
    }

    /** {@code syscall(number, a, b, c)} with int, pointer, int arguments; returns the result or {@code -errno}. */
    static long syscall(final long number, final int a, final MemorySegment b, final int c) {
        return callLong(SYSCALL3, number, a, b, c);
    }
}
