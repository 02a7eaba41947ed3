package dev.postern.proxy;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A throw-away named network namespace with a platform thread inside it ({@code setns(2)}). Sockets created by work
 * run through {@link #call}, and threads that thread starts (Netty's event loops), live in the namespace; the mount
 * namespace stays the JVM's.
 */
final class Netns implements AutoCloseable {
    private static final MethodHandle SETNS = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("setns").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle OPEN = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("open").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    final String name;
    private final ExecutorService thread;

    Netns(String name) throws Exception {
        this.name = name;
        sh("ip", "netns", "add", name);
        this.thread = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("netns-" + name)
                .unstarted(r));
        call(() -> {
            enter(name);
            return null;
        });
        exec("ip", "link", "set", "lo", "up");
    }

    static void enter(String name) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            enter(name, arena);
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void enter(String name, Arena arena) throws Throwable {
        {
            final int fd = (int) OPEN.invokeExact(arena.allocateFrom("/var/run/netns/" + name), 0x80000);
            if (fd < 0) {
                throw new IllegalStateException("open /var/run/netns/" + name + " failed");
            }
            final int rc = (int) SETNS.invokeExact(fd, 0x40000000);
            final int ignored = (int) CLOSE.invokeExact(fd);
            if (rc != 0) {
                throw new IllegalStateException("setns " + name + " failed");
            }
        }
        final String link = Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString();
        if (!link.equals("net:[" + Files.getAttribute(Path.of("/var/run/netns", name), "unix:ino") + "]")) {
            throw new IllegalStateException("not in " + name + ": " + link);
        }
    }

    /** Runs {@code work} on the namespace's thread. */
    <T> T call(Callable<T> work) throws Exception {
        try {
            return thread.submit(work).get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception x) {
                throw x;
            }
            throw new IllegalStateException(e.getCause());
        }
    }

    /** A command inside the namespace; its output, or an exception with it. */
    String exec(String... cmd) throws Exception {
        final String[] full = new String[cmd.length + 4];
        full[0] = "ip";
        full[1] = "netns";
        full[2] = "exec";
        full[3] = name;
        System.arraycopy(cmd, 0, full, 4, cmd.length);
        return sh(full);
    }

    /** The exit code and output of a command inside the namespace (no exception on failure). */
    Process start(String... cmd) throws Exception {
        final String[] full = new String[cmd.length + 4];
        full[0] = "ip";
        full[1] = "netns";
        full[2] = "exec";
        full[3] = name;
        System.arraycopy(cmd, 0, full, 4, cmd.length);
        return new ProcessBuilder(full).redirectErrorStream(true).start();
    }

    static String sh(String... cmd) throws Exception {
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
        return out;
    }

    @Override
    public void close() {
        thread.shutdownNow();
        try {
            sh("ip", "netns", "del", name);
        } catch (Exception e) {
            System.err.println("cleanup: " + e);
        }
    }
}
