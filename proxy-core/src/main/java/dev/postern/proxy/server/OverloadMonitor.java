package dev.postern.proxy.server;

import io.netty.util.internal.PlatformDependent;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Samples heap and direct memory on its own daemon thread and publishes one volatile flag: overloaded when either
 * passes its fraction of the maximum ({@link Bootstrap.Overload}). While it is set, new connections are closed on
 * accept and new requests answered 503 (flag OM) with {@code Connection: close}; the request path reads the flag
 * only. Direct memory counts both the JDK's direct buffers and Netty's cleaner-less allocations.
 *
 * <p>Thread-safety: safe from any thread.
 */
public final class OverloadMonitor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OverloadMonitor.class);

    private final Bootstrap.Overload limits;
    private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    private final BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
            .filter(b -> b.getName().equals("direct")).findFirst().orElse(null);
    private final ScheduledExecutorService sampler;
    private volatile boolean overloaded;

    /** Starts sampling every {@code limits.checkInterval()}. */
    public OverloadMonitor(Bootstrap.Overload limits) {
        this.limits = limits;
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, "postern-overload");
            t.setDaemon(true);
            return t;
        });
        final long every = Math.max(1, limits.checkInterval().toMillis());
        sampler.scheduleAtFixedRate(this::sample, 0, every, TimeUnit.MILLISECONDS);
    }

    /** True while memory is past a threshold. */
    public boolean overloaded() {
        return overloaded;
    }

    /** Takes one sample and updates the flag. */
    void sample() {
        try {
            final long heapMax = Runtime.getRuntime().maxMemory();
            final long heapUsed = memory.getHeapMemoryUsage().getUsed();
            final long directMax = PlatformDependent.maxDirectMemory();
            final long directUsed = Math.max(direct == null ? 0 : direct.getMemoryUsed(),
                    PlatformDependent.usedDirectMemory());
            final double heap = heapMax > 0 ? (double) heapUsed / heapMax : 0;
            final double dir = directMax > 0 ? (double) directUsed / directMax : 0;
            final boolean now = heap > limits.heapThreshold() || dir > limits.directThreshold();
            if (now != overloaded) {
                overloaded = now;
                if (now) {
                    LOG.warn("overloaded: heap {}% of {} MiB (threshold {}%), direct {}% of {} MiB (threshold {}%);"
                            + " closing new connections and answering new requests 503",
                            pct(heap), heapMax >> 20, pct(limits.heapThreshold()), pct(dir), directMax >> 20,
                            pct(limits.directThreshold()));
                } else {
                    LOG.info("no longer overloaded: heap {}%, direct {}%", pct(heap), pct(dir));
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("memory sample failed: {}", e.toString());
        }
    }

    private static long pct(double f) {
        return Math.round(f * 100);
    }

    @Override
    public void close() {
        sampler.shutdownNow();
    }
}
