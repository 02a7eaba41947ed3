package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.postern.proxy.echo.EchoServer;
import dev.postern.proxy.echo.GrpcEchoServer;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GRPCRoute with python's grpcio as the client, over h2c, to the gRPC echo backend; gRPC-shaped local errors. */
class GrpcEndToEndTest {
    private static EventLoopGroup group;
    private static GrpcEchoServer grpcA;
    private static GrpcEchoServer grpcB;

    @BeforeAll
    static void start() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        grpcA = GrpcEchoServer.start(group, NioServerSocketChannel.class, new InetSocketAddress("127.0.0.1", 0),
                new EchoServer.Identity("default", "grpc-a-1", "", "", "3000"));
        grpcB = GrpcEchoServer.start(group, NioServerSocketChannel.class, new InetSocketAddress("127.0.0.1", 0),
                new EchoServer.Identity("default", "grpc-b-1", "", "", "3000"));
    }

    @AfterAll
    static void stop() {
        grpcA.close();
        grpcB.close();
        group.shutdownGracefully();
    }

    @Test
    void routesByMethodAndAnswersErrorsTheGrpcWay(@TempDir Path dir) throws Exception {
        final Path client = Files.createTempFile("grpc_echo_client", ".py");
        try (var in = getClass().getResourceAsStream("/grpc_echo_client.py")) {
            Files.write(client, in.readAllBytes());
        }
        final String svc = GrpcEchoServer.SERVICE;
        try (TestGateway gw = TestGateway.start(dir, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GRPCRoute
                metadata: {name: g, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  hostnames: [grpc.test]
                  rules:
                  - matches: [{method: {service: %1$s, method: Echo}}]
                    backendRefs: [{name: svc-a, port: 80}]
                  - matches: [{method: {service: %1$s, method: EchoTwo}}]
                    backendRefs: [{name: svc-b, port: 80}]
                  - matches: [{method: {service: %1$s, method: EchoThree}}]
                    backendRefs: [{name: svc-a, port: 80}]
                """.formatted(svc) + TestGateway.service("svc-a", grpcA.address().getPort())
                + TestGateway.service("svc-b", grpcB.address().getPort()))) {
            final String target = "127.0.0.1:" + gw.port;
            assertEquals(List.of("Echo OK match", "EchoThree UNIMPLEMENTED"), lines(TestGateway.run(
                    "/usr/bin/python3", client.toString(), target, "grpc.test", "grpc-a-1", "Echo", "EchoThree")));
            assertEquals(List.of("EchoTwo OK match"), lines(TestGateway.run("/usr/bin/python3", client.toString(),
                    target, "grpc.test", "grpc-b-1", "EchoTwo")));
            // No route for this authority: Postern's 404 becomes UNIMPLEMENTED, as gRPC's status mapping says.
            assertEquals(List.of("Echo UNIMPLEMENTED"), lines(TestGateway.run("/usr/bin/python3", client.toString(),
                    target, "other.test", "grpc-a-1", "Echo")));
        } finally {
            Files.deleteIfExists(client);
        }
    }

    private static List<String> lines(String s) {
        return s.lines().filter(l -> !l.isBlank()).toList();
    }
}
