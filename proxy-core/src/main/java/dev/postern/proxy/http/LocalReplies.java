package dev.postern.proxy.http;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;

/** Builds the responses Postern answers itself. The one place where errors become responses. */
public final class LocalReplies {
    private LocalReplies() {
    }

    /** The response for an error. */
    public static FullHttpResponse of(ProxyError e, boolean keepAlive, ByteBufAllocator alloc) {
        return of(e.status(), e.body(), keepAlive, alloc);
    }

    /** A plain-text response with the given status and body. */
    public static FullHttpResponse of(HttpResponseStatus status, String body, boolean keepAlive,
                                      ByteBufAllocator alloc) {
        final FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                body.isEmpty() ? alloc.buffer(0) : ByteBufUtil.writeUtf8(alloc, body));
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        if (!body.isEmpty()) {
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN);
        }
        HttpUtil.setKeepAlive(r, keepAlive);
        return r;
    }
}
