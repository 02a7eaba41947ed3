package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.postern.proxy.echo.EchoServer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two real Postern processes, as a rolling restart runs them: while a client opens a new connection for every
 * request, a second Postern binds the same socket (SO_REUSEPORT), then the first gets SIGTERM and drains. No
 * connection may be refused or reset, and a slow request in flight on the old process must complete.
 */
class RestartHandoverTest {

    /** A Postern child process and the lines it printed. */
    private record Child(Process process, ConcurrentLinkedQueue<String> output) {
        static Child start(Path dir) throws IOException {
            final String java = ProcessHandle.current().info().command().orElse("java");
            final Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                    "--sun-misc-unsafe-memory-access=allow", "-Xmx256m",
                    "-cp", System.getProperty("java.class.path"), "dev.postern.proxy.cli.Main",
                    "run", dir.toString(), "--admin-port", "0").redirectErrorStream(true).start();
            final ConcurrentLinkedQueue<String> out = new ConcurrentLinkedQueue<>();
            Thread.ofPlatform().daemon().start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        out.add(l);
                    }
                } catch (IOException ignored) {
                    // the process ended
                }
            });
            return new Child(p, out);
        }

        void awaitListening() throws InterruptedException {
            final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (output.stream().noneMatch(l -> l.startsWith("  listening on"))) {
                if (System.nanoTime() > end || !process.isAlive()) {
                    throw new AssertionError("Postern did not start:\n" + String.join("\n", output));
                }
                Thread.sleep(20);
            }
        }
    }

    @Test
    void aSecondProcessTakesOverWithNoRefusedConnectionAndTheFirstDrains(@TempDir Path dir) throws Exception {
        final EchoServer echo = TestGateway.echo("handover");
        final int port = TestGateway.freePort();
        Files.writeString(dir.resolve("gateway.yaml"), TestGateway.CLASS.replace("${PORT}", String.valueOf(port)));
        Files.writeString(dir.resolve("routes.yaml"), """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: r, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{backendRefs: [{name: svc, port: 80}]}]
                """ + TestGateway.service("svc", echo.address().getPort()));
        final List<Child> children = new ArrayList<>();
        try {
            final Child old = Child.start(dir);
            children.add(old);
            old.awaitListening();

            final AtomicBoolean stop = new AtomicBoolean();
            final AtomicLong ok = new AtomicLong();
            final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
            final Thread client = Thread.ofPlatform().name("handover-client").start(() -> {
                while (!stop.get()) {
                    try {
                        final String status = oneRequest(port, "/x");
                        if (status.startsWith("HTTP/1.1 200")) {
                            ok.incrementAndGet();
                        } else {
                            errors.add(status);
                        }
                    } catch (IOException e) {
                        errors.add(e.toString());
                    }
                }
            });
            // A slow exchange in flight on the old process when it gets SIGTERM.
            final RawHttp slow = new RawHttp(new java.net.InetSocketAddress("127.0.0.1", port));
            slow.send("GET /slow?delay=1500ms HTTP/1.1\r\nHost: h.test\r\n\r\n");
            Thread.sleep(300);

            final Child next = Child.start(dir);
            children.add(next);
            next.awaitListening();
            Thread.sleep(300);
            final long beforeTerm = ok.get();
            old.process().destroy(); // SIGTERM: drain
            assertEquals(200, slow.read(false).status(), "the in-flight exchange on the old process completes");
            assertTrue(old.process().waitFor(20, TimeUnit.SECONDS), "the old process drained and exited");
            final long atExit = ok.get();
            Thread.sleep(1000);
            stop.set(true);
            client.join(10_000);
            slow.close();

            assertTrue(errors.isEmpty(), () -> errors.size() + " connections failed, first: " + errors.peek()
                    + "\nold process:\n" + String.join("\n", old.output()));
            assertTrue(beforeTerm > 20, "requests before the restart: " + beforeTerm);
            assertTrue(ok.get() - atExit > 20, "the new process serves after the old one exited: "
                    + (ok.get() - atExit));
            System.out.printf("handover: %d requests, 0 failed; %d after the old process exited%n", ok.get(),
                    ok.get() - atExit);
        } finally {
            for (Child c : children) {
                c.process().destroyForcibly();
            }
            echo.close();
        }
    }

    /** One request on a new connection; returns the status line. */
    private static String oneRequest(int port, String path) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(5000);
            final OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            final BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                    StandardCharsets.US_ASCII));
            final String status = in.readLine();
            while (in.readLine() != null) {
                // read to the end: the exchange completed
            }
            return status == null ? "no response" : status;
        }
    }
}
