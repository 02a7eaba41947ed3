package dev.postern.tproxy;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A named network namespace ({@code ip netns add}) with a dedicated platform thread that has joined it with
 * {@code setns(2)}. Work submitted with {@link #call} runs in the namespace: sockets it creates, netlink, libbpf's
 * tc calls, {@code /proc/sys/net}. Only the network namespace changes; the mount namespace stays the JVM's, so
 * {@code /sys/fs/bpf} and the test's bpffs stay visible.
 */
final class NetNs implements AutoCloseable {
    private static final int O_RDONLY_CLOEXEC = 0x80000;
    private static final int CLONE_NEWNET = 0x40000000;
    private static final MethodHandle OPEN = Native.libc("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SETNS = Native.libc("setns",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));

    final String name;
    private final ExecutorService thread;

    private NetNs(final String name) {
        this.name = name;
        this.thread = Executors.newSingleThreadExecutor(r -> {
            final Thread t = Thread.ofPlatform().name("netns-" + name).daemon().unstarted(r);
            return t;
        });
    }

    /** Creates the namespace (with lo up) and a thread inside it. */
    static NetNs create(final String name) {
        Shell.run("ip", "netns", "add", name);
        final NetNs ns = new NetNs(name);
        try {
            ns.call(() -> {
                enter(name);
                return null;
            });
            Shell.inNs(name, "ip", "link", "set", "lo", "up");
            return ns;
        } catch (final RuntimeException e) {
            ns.close();
            throw e;
        }
    }

    private static void enter(final String name) throws Exception {
        final Path path = Path.of("/var/run/netns", name);
        try (Arena arena = Arena.ofConfined()) {
            final int fd = Native.callInt(OPEN, arena.allocateFrom(path.toString()), O_RDONLY_CLOEXEC);
            if (fd < 0) {
                throw new IllegalStateException("open " + path + ": " + Native.describe(fd));
            }
            try {
                final int rc = Native.callInt(SETNS, fd, CLONE_NEWNET);
                if (rc < 0) {
                    throw new IllegalStateException("setns " + path + ": " + Native.describe(rc));
                }
            } finally {
                Native.close(fd);
            }
        }
        // Prove it: this thread's netns inode is the named namespace's.
        final String link = Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString();
        final Object inode = Files.getAttribute(path, "unix:ino");
        if (!link.equals("net:[" + inode + "]")) {
            throw new IllegalStateException("setns did not move the thread into " + name + ": " + link);
        }
    }

    /** Runs {@code work} on the namespace's thread and waits (at most 60 s). */
    <T> T call(final Callable<T> work) {
        final Future<T> future = thread.submit(work);
        try {
            return future.get(60, TimeUnit.SECONDS);
        } catch (final ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(e.getCause());
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (final TimeoutException e) {
            future.cancel(true);
            throw new IllegalStateException("work in netns " + name + " took longer than 60 s", e);
        }
    }

    /** Runs {@code work} on a new platform thread that joins the namespace first (for parallel clients). */
    <T> T callOnNewThread(final Callable<T> work) throws Exception {
        final Object[] result = new Object[1];
        final Exception[] failure = new Exception[1];
        final Thread t = Thread.ofPlatform().name("netns-" + name + "-worker").start(() -> {
            try {
                enter(name);
                result[0] = work.call();
            } catch (final Exception e) {
                failure[0] = e;
            }
        });
        t.join();
        if (failure[0] != null) {
            throw failure[0];
        }
        @SuppressWarnings("unchecked")
        final T value = (T) result[0];
        return value;
    }

    /** {@code ip ...} inside the namespace. */
    String ip(final String... args) {
        final String[] full = new String[args.length + 1];
        full[0] = "ip";
        System.arraycopy(args, 0, full, 1, args.length);
        return Shell.inNs(name, full);
    }

    /** Writes {@code /proc/sys/<key with dots as slashes>} from inside the namespace. */
    void sysctl(final String key, final String value) {
        call(() -> Files.writeString(Path.of("/proc/sys", key.split("\\.")), value));
    }

    /** Reads a sysctl from inside the namespace. */
    String readSysctl(final String key) {
        return call(() -> Files.readString(Path.of("/proc/sys", key.split("\\."))).strip());
    }

    /** Stops the thread and deletes the namespace (which removes its interfaces, routes, filters and links). */
    @Override
    public void close() {
        thread.shutdownNow();
        try {
            thread.awaitTermination(5, TimeUnit.SECONDS);
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Shell.tryRun("ip", "netns", "del", name);
    }
}
