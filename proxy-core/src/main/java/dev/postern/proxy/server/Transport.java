package dev.postern.proxy.server;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.uring.IoUringDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;

import java.util.concurrent.ThreadFactory;

/**
 * The I/O transport: epoll by default on Linux, io_uring when asked for, NIO as the fallback. The choice and its
 * reason are logged once at start.
 *
 * @param name epoll, io_uring or nio
 * @param reason why this transport was chosen
 */
public record Transport(String name, String reason, IoHandlerFactory ioHandlerFactory,
                        Class<? extends ServerChannel> serverChannel, Class<? extends SocketChannel> socketChannel,
                        Class<? extends DatagramChannel> datagramChannel) {

    /** Chooses a transport for a bootstrap value: auto, epoll, io_uring or nio. */
    public static Transport choose(String wanted) {
        return switch (wanted) {
            case "nio" -> nio("asked for in the bootstrap");
            case "io_uring" -> IoUring.isAvailable() ? ioUring("asked for in the bootstrap")
                    : epollOrNio("io_uring unavailable: " + IoUring.unavailabilityCause());
            case "epoll" -> epollOrNio("asked for in the bootstrap");
            default -> epollOrNio("default on Linux");
        };
    }

    private static Transport epollOrNio(String why) {
        if (Epoll.isAvailable()) {
            return new Transport("epoll", why, EpollIoHandler.newFactory(), EpollServerSocketChannel.class,
                    EpollSocketChannel.class, EpollDatagramChannel.class);
        }
        return nio(why + "; epoll unavailable: " + Epoll.unavailabilityCause());
    }

    private static Transport ioUring(String why) {
        return new Transport("io_uring", why, IoUringIoHandler.newFactory(), IoUringServerSocketChannel.class,
                IoUringSocketChannel.class, IoUringDatagramChannel.class);
    }

    private static Transport nio(String why) {
        return new Transport("nio", why, NioIoHandler.newFactory(), NioServerSocketChannel.class,
                NioSocketChannel.class, NioDatagramChannel.class);
    }

    /** Creates an event loop group of this transport. */
    public EventLoopGroup newGroup(int threads, ThreadFactory tf) {
        return new MultiThreadIoEventLoopGroup(threads, tf, ioHandlerFactory);
    }
}
