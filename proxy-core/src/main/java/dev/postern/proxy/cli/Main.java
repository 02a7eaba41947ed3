package dev.postern.proxy.cli;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.config.diag.Diagnostic;
import dev.postern.config.gatewayapi.EndpointSlice;
import dev.postern.config.gatewayapi.Resource;
import dev.postern.config.status.ResourceStatus;
import dev.postern.config.yaml.YamlReader;
import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.ConfigLoader;
import dev.postern.proxy.server.ConfigSource;
import dev.postern.proxy.server.PosternServer;
import dev.postern.proxy.server.Transport;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;

import org.slf4j.bridge.SLF4JBridgeHandler;

/**
 * The {@code postern} command line: {@code run [CONFIG_DIR]}, {@code run --kubernetes}, {@code validate CONFIG_DIR},
 * {@code --help}.
 */
public final class Main {
    private static final String USAGE = """
            Usage:
              postern run [CONFIG_DIR] [--bootstrap FILE] [--admin-port PORT] [--log-format text|json]
                  Serve the Gateway API objects in CONFIG_DIR (every *.yaml, multi-document), reloading on
                  change. Without CONFIG_DIR, serve examples/quickstart with its echo backends in-process.
              postern run --kubernetes [--kubeconfig FILE] [--bootstrap FILE] [--admin-port PORT] [--log-format ...]
                  Kubernetes mode: watch the API server (in-cluster config, or FILE, or $KUBECONFIG) and serve
                  the Gateways of GatewayClasses whose controllerName is Postern's; one replica, elected on a
                  Lease, writes their status. Needs the kubernetes module on the class path (./postern adds it).
                  See docs/kubernetes.md.
              postern validate CONFIG_DIR [--bootstrap FILE]
                  Print every diagnostic (file:line: kind ns/name: field: message) and the computed status;
                  exit 1 when there are errors.
              postern --help
                  This text.

            The bootstrap file (optional YAML) sets what Gateway API does not: admin address and port,
            controllerName, defaultBindAddress, clientAddress.xffNumTrustedHops and internalCidrs, transport
            (auto|epoll|io_uring|nio), eventLoops, upstream.connectTimeout and idleTimeout, accessLog.
            See docs/bootstrap.md.
            """;

    private Main() {
    }

    /** Entry point. */
    public static void main(String[] args) throws Exception {
        SLF4JBridgeHandler.removeHandlersForRootLogger();
        SLF4JBridgeHandler.install();
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command; returns the exit code. ({@code run} blocks until the process is stopped.) */
    static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
            out.print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        final String cmd = args[0];
        String dir = null;
        String bootstrapFile = null;
        Integer adminPort = null;
        boolean kubernetes = false;
        final Map<String, String> sourceFlags = new java.util.HashMap<>();
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--bootstrap" -> bootstrapFile = value(args, ++i, "--bootstrap");
                case "--kubernetes" -> kubernetes = true;
                case "--kubeconfig" -> sourceFlags.put("kubeconfig", value(args, ++i, "--kubeconfig"));
                case "--admin-port" -> adminPort = Integer.parseInt(value(args, ++i, "--admin-port"));
                case "--log-format" -> {
                    final String f = value(args, ++i, "--log-format");
                    switch (f) {
                        case "json" -> dev.postern.proxy.observe.LogLevels.useJson();
                        case "text" -> { }
                        default -> {
                            err.println("postern: --log-format must be text or json, not " + f);
                            return 2;
                        }
                    }
                }
                default -> {
                    if (args[i].startsWith("-") || dir != null) {
                        err.println("postern: unexpected argument " + args[i] + "\n");
                        err.print(USAGE);
                        return 2;
                    }
                    dir = args[i];
                }
            }
        }
        Bootstrap b;
        try {
            b = bootstrapFile == null ? Bootstrap.defaults() : Bootstrap.read(Path.of(bootstrapFile));
        } catch (IllegalArgumentException e) {
            err.println("postern: " + e.getMessage());
            return 1;
        }
        if (adminPort != null) {
            b = b.withAdminPort(adminPort);
        }
        return switch (cmd) {
            case "validate" -> {
                if (dir == null) {
                    err.println("postern validate: CONFIG_DIR is required");
                    yield 2;
                }
                yield validate(Path.of(dir), b, out, err);
            }
            case "run" -> {
                if (!kubernetes && !sourceFlags.isEmpty()) {
                    err.println("postern run: --kubeconfig needs --kubernetes");
                    yield 2;
                }
                if (kubernetes && dir != null) {
                    err.println("postern run: give either CONFIG_DIR or --kubernetes, not both");
                    yield 2;
                }
                yield kubernetes ? serveSource("kubernetes", sourceFlags, b, out, err) : serve(dir, b, out, err);
            }
            default -> {
                err.println("postern: unknown command " + cmd + "\n");
                err.print(USAGE);
                yield 2;
            }
        };
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args[i];
    }

    private static ConfigPipeline.Settings settings(Bootstrap b) {
        return new ConfigPipeline.Settings(b.controllerName(), b.defaultBindAddress());
    }

    static int validate(Path dir, Bootstrap b, PrintStream out, PrintStream err) {
        if (!Files.isDirectory(dir)) {
            err.println("postern validate: " + dir + " is not a directory");
            return 2;
        }
        final ConfigPipeline.Build build = ConfigPipeline.fromDirectory(dir, settings(b), 1);
        for (Diagnostic d : build.diagnostics()) {
            out.println(d);
        }
        if (build.rejected()) {
            out.println("config rejected: " + build.diagnostics().stream().filter(Diagnostic::isError).count()
                    + " structural error(s); nothing would be served");
            return 1;
        }
        for (ResourceStatus s : build.statuses()) {
            out.println(StatusText.of(s));
        }
        final long errors = build.diagnostics().stream().filter(Diagnostic::isError).count();
        out.println(errors == 0 ? "config OK" : "config has " + errors + " error(s)");
        return errors == 0 ? 0 : 1;
    }

    private static int serve(String dirArg, Bootstrap b, PrintStream out, PrintStream err) throws Exception {
        final boolean quickstart = dirArg == null;
        final Path dir = quickstart ? home().resolve("examples").resolve("quickstart") : Path.of(dirArg);
        if (!Files.isDirectory(dir)) {
            err.println("postern run: " + dir + " is not a directory");
            return 2;
        }
        final List<EchoServer> echoes = new ArrayList<>();
        EventLoopGroup echoGroup = null;
        if (quickstart) {
            final Transport t = Transport.choose("auto");
            echoGroup = t.newGroup(1, new DefaultThreadFactory("echo", true));
            for (Resource r : YamlReader.readDirectory(dir).resources()) {
                if (r instanceof EndpointSlice es) {
                    int n = 0;
                    for (EndpointSlice.Endpoint e : es.endpoints()) {
                        for (String a : e.addresses()) {
                            for (EndpointSlice.EndpointPort p : es.ports()) {
                                final String svc = es.metadata().labels().get(EndpointSlice.SERVICE_NAME_LABEL);
                                echoes.add(EchoServer.start(echoGroup, t.serverChannel(), new InetSocketAddress(
                                        InetAddress.ofLiteral(a), p.port()), new EchoServer.Identity(
                                        es.metadata().namespace(), svc + "-" + n++, "", "",
                                        String.valueOf(p.port()))));
                            }
                        }
                    }
                }
            }
        }
        final ConfigRef ref = new ConfigRef();
        final ConfigLoader loader = new ConfigLoader(dir, settings(b), ref);
        final ConfigPipeline.Build first = loader.reload();
        if (first.rejected()) {
            err.println("postern run: the config in " + dir + " has errors; not serving a half-read config:");
            for (Diagnostic d : first.diagnostics()) {
                if (d.isError()) {
                    err.println("  " + d);
                }
            }
            return 1;
        }
        final PosternServer server = PosternServer.start(b, ref);
        server.context().metrics().onConfigBuild(true, first.buildNanos(), first.table().version());
        loader.reportTo(server.context().metrics());
        loader.watch();
        final CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // SIGTERM: drain first (GOAWAY, Connection: close, in-flight exchanges finish), then stop.
            server.drain(b.drainTimeout());
            server.close();
            stop.countDown();
        }, "postern-shutdown"));
        out.println("Postern is serving " + dir.toAbsolutePath().normalize() + " (admin: http://"
                + hostPort(server.adminAddress()) + "/config_dump)");
        for (Map.Entry<dev.postern.config.runtime.BindKey, InetSocketAddress> e
                : server.boundAddresses().entrySet()) {
            out.println("  listening on " + e.getKey());
        }
        if (quickstart) {
            for (EchoServer e : echoes) {
                out.println("  echo backend " + e.identity().pod() + " on " + hostPort(e.address()));
            }
            final String gw = server.boundAddresses().keySet().stream().findFirst()
                    .map(Object::toString).orElse("127.0.0.1:8080");
            out.println();
            out.println("Try:");
            out.println("  curl -s http://" + gw + "/hello -H 'Host: echo.example.com'");
            out.println("  curl -s http://" + gw + "/v2/hello -H 'Host: echo.example.com'");
            out.println("  curl -s -o /dev/null -w '%{http_code}\\n' http://" + gw + "/ -H 'Host: nobody.example'");
            out.println("Edit the YAML in " + dir + " and Postern reloads it. Ctrl-C stops.");
        }
        out.flush();
        stop.await();
        for (EchoServer e : echoes) {
            e.close();
        }
        if (echoGroup != null) {
            echoGroup.shutdownGracefully();
        }
        return 0;
    }

    /** Runs with a {@link ConfigSource} found through {@link ServiceLoader} (Kubernetes mode). */
    private static int serveSource(String name, Map<String, String> flags, Bootstrap b, PrintStream out,
                                   PrintStream err) throws Exception {
        ConfigSource.Provider provider = null;
        for (ConfigSource.Provider p : ServiceLoader.load(ConfigSource.Provider.class)) {
            if (p.name().equals(name)) {
                provider = p;
            }
        }
        if (provider == null) {
            err.println("postern run: --" + name + " needs the " + name + " module on the class path; run through"
                    + " ./postern (it adds kubernetes/target/lib) or the container image");
            return 2;
        }
        final ConfigRef ref = new ConfigRef();
        final PosternServer server = PosternServer.start(b, ref);
        final ConfigSource source;
        try {
            source = provider.start(new ConfigSource.Options(flags, settings(b), ref,
                    x -> server.context().metrics().onConfigBuild(!x.rejected(), x.buildNanos(),
                            x.rejected() ? 0 : x.table().version())));
        } catch (Exception e) {
            err.println("postern run: cannot start the " + name + " source: " + e.getMessage());
            server.close();
            return 1;
        }
        final CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // SIGTERM: drain first (readiness turns 503 so the load balancer stops sending), then let go of the
            // Lease so another replica takes over status writing at once.
            server.drain(b.drainTimeout());
            source.close();
            server.close();
            stop.countDown();
        }, "postern-shutdown"));
        out.println("Postern is serving " + source.describe() + " (admin: http://" + hostPort(server.adminAddress())
                + "/config_dump)");
        out.flush();
        stop.await();
        return 0;
    }

    private static String hostPort(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    private static Path home() {
        final String h = System.getProperty("postern.home");
        return Path.of(h == null ? "." : h);
    }
}
