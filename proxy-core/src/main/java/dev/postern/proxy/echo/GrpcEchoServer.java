package dev.postern.proxy.echo;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamFrame;

import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC mode of the conformance suite's echo-basic: service
 * {@code gateway_api_conformance.echo_basic.grpcecho.GrpcEcho} over h2c, where {@code Echo} and {@code EchoTwo}
 * answer an {@code EchoResponse} carrying what the server saw (the fully qualified method, the metadata, the
 * authority and the pod's context) and {@code EchoThree} (like any other method) is Unimplemented. The protobuf is
 * written by hand: the messages are a few string fields.
 */
public final class GrpcEchoServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GrpcEchoServer.class);
    /** The echo service's fully qualified name. */
    public static final String SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

    private final Channel channel;

    private GrpcEchoServer(Channel channel) {
        this.channel = channel;
    }

    /** Starts a gRPC echo server on {@code address} (port 0 picks one). */
    public static GrpcEchoServer start(EventLoopGroup group, Class<? extends io.netty.channel.ServerChannel> channelClass,
                                       InetSocketAddress address, EchoServer.Identity id) throws InterruptedException {
        return start(group, channelClass, address, id, null);
    }

    /**
     * Starts a gRPC echo server, over TLS when {@code tls} is not null (HTTP/2 whatever ALPN says, as a gRPC server
     * does; give the context ALPN {@code h2} so that clients see it negotiated).
     */
    public static GrpcEchoServer start(EventLoopGroup group, Class<? extends io.netty.channel.ServerChannel> channelClass,
                                       InetSocketAddress address, EchoServer.Identity id,
                                       io.netty.handler.ssl.SslContext tls) throws InterruptedException {
        requireNonNull(id, "id");
        final Channel ch = new ServerBootstrap().group(group).channel(channelClass)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        if (tls != null) {
                            c.pipeline().addLast(tls.newHandler(c.alloc()));
                        }
                        c.pipeline().addLast(Http2FrameCodecBuilder.forServer().build(),
                                new Http2MultiplexHandler(new ChannelInitializer<Channel>() {
                                    @Override
                                    protected void initChannel(Channel stream) {
                                        stream.pipeline().addLast(new Call(id));
                                    }
                                }));
                    }
                }).bind(address).sync().channel();
        return new GrpcEchoServer(ch);
    }

    /** The bound address. */
    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly();
    }

    /** One RPC on one stream. */
    private static final class Call extends SimpleChannelInboundHandler<Http2StreamFrame> {
        private final EchoServer.Identity id;
        private Http2Headers request;

        Call(EchoServer.Identity id) {
            this.id = id;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, Http2StreamFrame f) {
            boolean end = false;
            if (f instanceof Http2HeadersFrame h) {
                if (request == null) {
                    request = h.headers();
                }
                end = h.isEndStream();
            } else if (f instanceof Http2DataFrame d) {
                end = d.isEndStream(); // the request message is empty; its bytes are not needed
            }
            if (end) {
                respond(ctx);
            }
        }

        private void respond(ChannelHandlerContext ctx) {
            final String path = String.valueOf(request.path());
            final Http2Headers head = new DefaultHttp2Headers().status("200").set("content-type", "application/grpc");
            if (!path.equals("/" + SERVICE + "/Echo") && !path.equals("/" + SERVICE + "/EchoTwo")) {
                head.set("grpc-status", "12").set("grpc-message", "unknown method " + path);
                ctx.writeAndFlush(new DefaultHttp2HeadersFrame(head, true));
                return;
            }
            LOG.info("Echoing back request made to {} to client ({})", path, ctx.channel().parent().remoteAddress());
            final List<byte[]> headers = new ArrayList<>();
            for (Map.Entry<CharSequence, CharSequence> e : request) {
                final String k = e.getKey().toString();
                if (!k.startsWith(":")) {
                    headers.add(message(field(1, k), field(2, e.getValue().toString())));
                }
            }
            final byte[] context = message(field(1, id.namespace()), field(2, id.ingress()), field(3, id.service()),
                    field(4, id.pod()));
            final List<byte[]> assertions = new ArrayList<>();
            assertions.add(field(1, path));
            for (byte[] h : headers) {
                assertions.add(embedded(2, h));
            }
            assertions.add(field(3, request.authority() == null ? "" : request.authority().toString()));
            assertions.add(embedded(4, context));
            final byte[] response = message(embedded(1, message(assertions.toArray(byte[][]::new))));
            final ByteBuf frame = Unpooled.buffer(5 + response.length);
            frame.writeByte(0).writeInt(response.length).writeBytes(response);
            ctx.write(new DefaultHttp2HeadersFrame(head));
            ctx.write(new DefaultHttp2DataFrame(frame));
            ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("grpc-status", "0"), true));
        }
    }

    // Protobuf wire format: a string or a message is the tag (field << 3 | 2), a varint length, the bytes.

    private static byte[] field(int number, String value) {
        return embedded(number, value.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] embedded(int number, byte[] bytes) {
        if (bytes.length == 0) {
            return new byte[0]; // proto3 leaves empty strings and messages out
        }
        final ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length + 6);
        varint(out, (number << 3) | 2);
        varint(out, bytes.length);
        out.writeBytes(bytes);
        return out.toByteArray();
    }

    private static byte[] message(byte[]... fields) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] f : fields) {
            out.writeBytes(f);
        }
        return out.toByteArray();
    }

    private static void varint(ByteArrayOutputStream out, int v) {
        while ((v & ~0x7f) != 0) {
            out.write((v & 0x7f) | 0x80);
            v >>>= 7;
        }
        out.write(v);
    }
}
