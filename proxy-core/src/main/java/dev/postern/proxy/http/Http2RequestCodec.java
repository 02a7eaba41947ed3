package dev.postern.proxy.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamFrame;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;

import java.util.List;

/**
 * The server side of an HTTP/2 stream's conversion to HTTP/1-style messages, with the request's pseudo-headers
 * checked first. A malformed request (RFC 9113 §8.3.1: no {@code :method}, a method that is not a token, no
 * {@code :path} outside CONNECT, or a path with controls, spaces or non-ASCII bytes) resets the stream with
 * PROTOCOL_ERROR instead of being converted.
 *
 * <p>Why not let the conversion fail: Netty 4.2's {@code HttpConversionUtil.toFullHttpRequest} allocates the body
 * buffer before it checks the method and path, and drops it when they are invalid: a request that ends with its
 * HEADERS frame and has a bad method leaks a buffer. The wire fuzz test found it.
 *
 * <p>Threading: the stream's event loop; one instance per stream.
 */
public final class Http2RequestCodec extends Http2StreamFrameToHttpObjectCodec {
    /** Creates the codec of one server-side stream. */
    public Http2RequestCodec() {
        super(true);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, Http2StreamFrame frame, List<Object> out) throws Exception {
        if (frame instanceof Http2HeadersFrame hf && !wellFormed(hf.headers())) {
            ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
            return;
        }
        super.decode(ctx, frame, out);
    }

    /** True for a well-formed request head, and for trailers (no pseudo-headers at all). */
    static boolean wellFormed(Http2Headers h) {
        final CharSequence method = h.method();
        if (method == null) {
            return h.path() == null && h.scheme() == null && h.authority() == null && h.status() == null;
        }
        if (method.isEmpty()) {
            return false;
        }
        for (int i = 0; i < method.length(); i++) {
            if (!tchar(method.charAt(i))) {
                return false;
            }
        }
        final CharSequence path = h.path();
        if (path == null) {
            return "CONNECT".contentEquals(method) && h.authority() != null;
        }
        if (path.isEmpty()) {
            return false;
        }
        for (int i = 0; i < path.length(); i++) {
            final char c = path.charAt(i);
            if (c <= ' ' || c >= 0x7f) {
                return false;
            }
        }
        return true;
    }

    /** RFC 9110 §5.6.2 token characters. */
    private static boolean tchar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
    }
}
