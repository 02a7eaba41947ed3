package dev.postern.proxy.upstream;

import io.netty.handler.codec.http.HttpObject;

/**
 * The exchange currently using an upstream connection. Called on the connection's event loop, which is also the
 * downstream connection's event loop.
 */
public interface UpstreamListener {
    /** A decoded response part. The listener owns the message and must release it. */
    void onUpstreamRead(HttpObject msg);

    /** Raw bytes after a protocol switch (101 Switching Protocols). The listener owns the buffer. */
    void onUpstreamBytes(io.netty.buffer.ByteBuf buf);

    /** The upstream read cycle ended: the listener may flush what it wrote downstream. */
    default void onUpstreamReadComplete() {
    }

    /** The connection closed or failed while this listener owned it. */
    void onUpstreamClosed(Throwable cause);
}
