package dev.postern.tproxy;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A Netty epoll listener bound the way proxy-core binds a transparent listener: {@code IP_TRANSPARENT} set before
 * bind, on a loopback address. On each connection it writes one line naming the accepted channel's local address
 * (the original destination) and remote address (the client); it closes when the client does.
 */
final class TransparentListener implements AutoCloseable {
    final BlockingQueue<String> accepted = new LinkedBlockingQueue<>();
    private final String banner;
    private final boolean echo;
    private boolean closeFirst;
    private Channel channel;

    private TransparentListener(final String banner, final boolean echo) {
        this.banner = banner;
        this.echo = echo;
    }

    /** A listener that greets and then closes first, as an HTTP server does after a Connection: close response. */
    static TransparentListener bindClosingFirst(final NetNs ns, final EventLoopGroup group,
            final InetSocketAddress address, final String banner) {
        final TransparentListener listener = bind(ns, group, address, banner, false, false);
        listener.closeFirst = true;
        return listener;
    }

    /** Binds in {@code ns}: the socket is created on the namespace's thread, so it lives in that namespace. */
    static TransparentListener bind(final NetNs ns, final EventLoopGroup group, final InetSocketAddress address,
            final String banner) {
        return bind(ns, group, address, banner, false);
    }

    /** As {@link #bind}, echoing whatever the client sends after the greeting when {@code echo} is set. */
    static TransparentListener bind(final NetNs ns, final EventLoopGroup group, final InetSocketAddress address,
            final String banner, final boolean echo) {
        return bind(ns, group, address, banner, echo, false);
    }

    /** As {@link #bind}, optionally with {@code SO_REUSEPORT} (one listener per event loop, as proxy-core may do). */
    static TransparentListener bind(final NetNs ns, final EventLoopGroup group, final InetSocketAddress address,
            final String banner, final boolean echo, final boolean reusePort) {
        final TransparentListener listener = new TransparentListener(banner, echo);
        listener.channel = ns.call(() -> new ServerBootstrap()
                .group(group)
                .channel(EpollServerSocketChannel.class)
                .option(EpollChannelOption.IP_TRANSPARENT, true)
                .option(EpollChannelOption.SO_REUSEPORT, reusePort)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(final SocketChannel ch) {
                        ch.pipeline().addLast(listener.new Greeter(ch));
                    }
                })
                .bind(address).sync().channel());
        return listener;
    }

    private final class Greeter extends ChannelInboundHandlerAdapter {
        private final SocketChannel ch;

        Greeter(final SocketChannel ch) {
            this.ch = ch;
        }

        @Override
        public void channelActive(final ChannelHandlerContext ctx) {
            final String line = banner + " local=" + text(ch.localAddress()) + " remote=" + text(ch.remoteAddress());
            accepted.add(line);
            final var written = ctx.writeAndFlush(ctx.alloc().buffer().writeBytes((line + "\n").getBytes(
                    StandardCharsets.US_ASCII)));
            if (closeFirst) {
                written.addListener(io.netty.channel.ChannelFutureListener.CLOSE); // this side keeps the TIME_WAIT
            }
        }

        @Override
        public void channelRead(final ChannelHandlerContext ctx, final Object msg) {
            if (echo) {
                ctx.writeAndFlush(msg);
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause) {
            ctx.close();
        }
    }

    static String text(final SocketAddress address) {
        final InetSocketAddress a = (InetSocketAddress) address;
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    /** The listening socket's file descriptor (for {@link TproxyDataplane#setListenerSockets}). */
    int fd() {
        return ((EpollServerSocketChannel) channel).fd().intValue();
    }

    int port() {
        return address().getPort();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
    }
}
