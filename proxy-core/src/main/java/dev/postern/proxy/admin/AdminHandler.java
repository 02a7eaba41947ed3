package dev.postern.proxy.admin;

import dev.postern.config.ConfigRef;
import dev.postern.config.diag.Diagnostic;
import dev.postern.config.status.ResourceStatus;
import dev.postern.proxy.observe.LogLevels;
import dev.postern.proxy.server.PosternServer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The admin endpoints (loopback by default): {@code /ready}, {@code /config_dump}, {@code /status},
 * {@code /diagnostics}, {@code /stats/prometheus}, {@code /healthcheck/fail|ok} and {@code /logging}. Runs on the event loops; every answer is built from immutable snapshots.
 */
public final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final PosternServer server;

    /** Creates the handler for one admin connection. */
    public AdminHandler(PosternServer server) {
        this.server = server;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) throws JsonProcessingException {
        final String path = req.uri().contains("?") ? req.uri().substring(0, req.uri().indexOf('?')) : req.uri();
        final ConfigRef.Snapshot snap = server.config().snapshot();
        final FullHttpResponse resp = switch (path) {
            case "/ready" -> server.isReady() ? text(HttpResponseStatus.OK, "LIVE\n")
                    : text(HttpResponseStatus.SERVICE_UNAVAILABLE, "NOT READY\n");
            case "/config_dump" -> json(dev.postern.config.runtime.TableDump.of(snap.table()));
            case "/status" -> {
                final List<Object> out = new ArrayList<>();
                for (ResourceStatus s : snap.statuses()) {
                    out.add(s.toMap());
                }
                yield json(out);
            }
            case "/healthcheck/fail" -> {
                server.healthFailed(true);
                yield text(HttpResponseStatus.OK, "OK\n");
            }
            case "/healthcheck/ok" -> {
                server.healthFailed(false);
                yield text(HttpResponseStatus.OK, "OK\n");
            }
            case "/stats/prometheus" -> {
                final FullHttpResponse r = text(HttpResponseStatus.OK, server.context().metrics().scrape());
                r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
                yield r;
            }
            case "/logging" -> logging(req);
            case "/diagnostics" -> {
                final Map<String, Object> m = new LinkedHashMap<>();
                m.put("live", snap.diagnostics().stream().map(Diagnostic::toString).toList());
                m.put("lastRejected", snap.lastRejected().stream().map(Diagnostic::toString).toList());
                yield json(m);
            }
            default -> text(HttpResponseStatus.NOT_FOUND,
                    "unknown admin path; try /ready /config_dump /status /stats/prometheus /diagnostics "
                            + "/healthcheck/fail /healthcheck/ok /logging\n");
        };
        final boolean keepAlive = HttpUtil.isKeepAlive(req);
        HttpUtil.setKeepAlive(resp, keepAlive);
        final var f = ctx.writeAndFlush(resp);
        if (!keepAlive) {
            f.addListener(ChannelFutureListener.CLOSE);
        }
    }

    /**
     * {@code GET /logging} lists the loggers with a level of their own; {@code POST /logging?level=debug} sets all
     * of them, {@code POST /logging?dev.postern.proxy.http=debug} one logger and those under it (Envoy's shape).
     */
    private static FullHttpResponse logging(FullHttpRequest req) {
        final QueryStringDecoder q = new QueryStringDecoder(req.uri());
        try {
            if (!q.parameters().isEmpty()) {
                if (!req.method().equals(HttpMethod.POST)) {
                    return text(HttpResponseStatus.METHOD_NOT_ALLOWED, "changing log levels requires POST\n");
                }
                for (Map.Entry<String, List<String>> e : q.parameters().entrySet()) {
                    final ch.qos.logback.classic.Level level = LogLevels.parse(e.getValue().getLast());
                    if (e.getKey().equals("level")) {
                        LogLevels.setAll(level);
                    } else {
                        LogLevels.set(e.getKey(), level);
                    }
                }
            }
            final StringBuilder sb = new StringBuilder("active loggers:\n");
            LogLevels.configured().forEach((k, v) -> sb.append("  ").append(k).append(": ").append(v).append('\n'));
            return text(HttpResponseStatus.OK, sb.toString());
        } catch (IllegalArgumentException e) {
            return text(HttpResponseStatus.BAD_REQUEST, e.getMessage() + "\n");
        } catch (IllegalStateException e) {
            return text(HttpResponseStatus.NOT_IMPLEMENTED, e.getMessage() + "\n");
        }
    }

    private static FullHttpResponse text(HttpResponseStatus status, String body) {
        final FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        return r;
    }

    private static FullHttpResponse json(Object o) throws JsonProcessingException {
        final byte[] b = JSON.writeValueAsBytes(o);
        final FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                Unpooled.wrappedBuffer(b));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, b.length);
        return r;
    }
}
