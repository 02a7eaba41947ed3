package dev.postern.proxy;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.ConfigLoader;
import dev.postern.proxy.server.PosternServer;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A real Postern on a free port with real echo backends on port 0, configured from YAML written to a temp dir.
 * The YAML may use {@code ${PORT}} for the gateway port.
 */
final class TestGateway implements AutoCloseable {
    /** The GatewayClass and a Gateway {@code default/gw} on 127.0.0.1; the listeners YAML follows it. */
    static final String GATEWAY_HEAD = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: postern}
            spec: {controllerName: postern.dev/gateway-controller}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: gw, namespace: default}
            spec:
              gatewayClassName: postern
              addresses: [{type: IPAddress, value: 127.0.0.1}]
            """;

    static final String CLASS = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: postern}
            spec: {controllerName: postern.dev/gateway-controller}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: gw, namespace: default}
            spec:
              gatewayClassName: postern
              addresses: [{type: IPAddress, value: 127.0.0.1}]
              listeners: [{name: http, protocol: HTTP, port: ${PORT}}]
            """;

    final Path dir;
    final int port;
    final ConfigRef ref = new ConfigRef();
    final ConfigLoader loader;
    final PosternServer server;
    private final List<EchoServer> echoes = new ArrayList<>();
    private static final EventLoopGroup ECHO_GROUP = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());

    private TestGateway(Path dir, int port, Bootstrap b) throws Exception {
        this.dir = dir;
        this.port = port;
        this.loader = new ConfigLoader(dir, new ConfigPipeline.Settings(b.controllerName(), b.defaultBindAddress()),
                ref);
        final ConfigPipeline.Build first = loader.reload();
        if (first.rejected()) {
            throw new IllegalStateException("test config rejected: " + first.diagnostics());
        }
        this.server = PosternServer.start(b, ref);
        loader.reportTo(server.context().metrics());
        loader.watch();
    }

    /**
     * A free port below the kernel's ephemeral range (32768 and up here). A port the kernel handed out for port 0
     * could be handed out again before the gateway binds it (to the admin socket, which binds port 0 first, or to
     * any client connection), so test listeners take theirs from a range the kernel never picks by itself.
     */
    static int freePort() throws IOException {
        final java.util.concurrent.ThreadLocalRandom rnd = java.util.concurrent.ThreadLocalRandom.current();
        for (int i = 0; i < 1000; i++) {
            final int port = 20_000 + rnd.nextInt(12_000);
            try (ServerSocket s = new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            } catch (IOException inUse) {
                // try another
            }
        }
        throw new IOException("no free port in 20000-31999");
    }

    /** Starts with {@link #CLASS} plus {@code yaml}; the echo backends must already be running. */
    static TestGateway start(Path dir, String yaml, Bootstrap b) throws Exception {
        final int port = freePort();
        Files.writeString(dir.resolve("gateway.yaml"), CLASS.replace("${PORT}", String.valueOf(port)));
        Files.writeString(dir.resolve("routes.yaml"), yaml);
        return new TestGateway(dir, port, b.withAdminPort(0));
    }

    /** Starts on a directory that already holds the whole config, served on {@code port}. */
    static TestGateway startRaw(Path dir, int port) throws Exception {
        return new TestGateway(dir, port, Bootstrap.defaults().withAdminPort(0));
    }

    /** The same with another bootstrap. */
    static TestGateway startRaw(Path dir, int port, Bootstrap b) throws Exception {
        return new TestGateway(dir, port, b);
    }

    static TestGateway start(Path dir, String yaml) throws Exception {
        return start(dir, yaml, Bootstrap.defaults());
    }

    /** Starts an echo backend on 127.0.0.1 and a free port. */
    static EchoServer echo(String pod) throws InterruptedException {
        return EchoServer.start(ECHO_GROUP, NioServerSocketChannel.class, new InetSocketAddress("127.0.0.1", 0),
                new EchoServer.Identity("default", pod, "", "", "3000"));
    }

    /** The same, reporting every echoed request target to {@code log} (to count what reached the backend). */
    static EchoServer echo(String pod, java.util.function.Consumer<String> log) throws InterruptedException {
        return EchoServer.start(ECHO_GROUP, NioServerSocketChannel.class, new InetSocketAddress("127.0.0.1", 0),
                new EchoServer.Identity("default", pod, "", "", "3000"), log);
    }

    /** A Service plus EndpointSlice YAML for endpoints on 127.0.0.1 at {@code port}. */
    static String service(String name, int... ports) {
        return service(name, null, ports);
    }

    /** The same with the Service port's appProtocol (null for none). */
    static String service(String name, String appProtocol, int... ports) {
        final StringBuilder sb = new StringBuilder();
        sb.append("---\napiVersion: v1\nkind: Service\nmetadata: {name: ").append(name)
                .append(", namespace: default}\nspec: {ports: [{name: http, port: 80")
                .append(appProtocol == null ? "" : ", appProtocol: " + appProtocol).append("}]}\n");
        for (int i = 0; i < ports.length; i++) {
            sb.append("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ").append(name)
                    .append('-').append(i).append(", namespace: default, labels: {kubernetes.io/service-name: ")
                    .append(name).append("}}\naddressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]\n")
                    .append("ports: [{name: http, port: ").append(ports[i]).append("}]\n");
        }
        return sb.toString();
    }

    InetSocketAddress address() {
        return new InetSocketAddress("127.0.0.1", port);
    }

    /** Runs a command (curl, h2load...) to completion and returns its standard output; fails on a non-zero exit. */
    static String run(String... cmd) throws IOException, InterruptedException {
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (!p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " timed out:\n" + out);
        }
        if (p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " exited " + p.exitValue() + ":\n" + out);
        }
        return out;
    }

    String url(String path) {
        return "http://127.0.0.1:" + port + path;
    }

    RawHttp client() throws IOException {
        return new RawHttp(address());
    }

    @Override
    public void close() throws Exception {
        loader.close();
        server.close();
        for (EchoServer e : echoes) {
            e.close();
        }
    }
}
