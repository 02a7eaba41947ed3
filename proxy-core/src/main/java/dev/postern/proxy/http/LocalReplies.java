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

    /**
     * The gRPC form of a local error: HTTP 200, trailers only, with grpc-status mapped from the HTTP status as the
     * gRPC spec's http-grpc-status-mapping says (so a client sees UNIMPLEMENTED for no route, UNAVAILABLE for no
     * healthy upstream) and grpc-message the local reply body.
     */
    public static FullHttpResponse grpc(HttpResponseStatus status, String message, ByteBufAllocator alloc) {
        final FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                alloc.buffer(0));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc");
        r.headers().set("grpc-status", grpcStatus(status.code()));
        r.headers().set("grpc-message", message.isEmpty() ? status.reasonPhrase() : message);
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
        return r;
    }

    /** The gRPC status for an HTTP status (gRPC's http-grpc-status-mapping), used when no grpc-status came. */
    public static int grpcStatus(int http) {
        return switch (http) {
            case 400 -> 13;
            case 401 -> 16;
            case 403 -> 7;
            case 404 -> 12;
            case 429, 502, 503, 504 -> 14;
            default -> 2;
        };
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
