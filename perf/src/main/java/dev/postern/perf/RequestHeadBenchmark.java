package dev.postern.perf;

import dev.postern.proxy.http.RequestHead;
import dev.postern.proxy.server.HttpListenerInitializer;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.util.ReferenceCountUtil;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Request-head parsing: {@link RequestHead#parse} (method, host, path and query from the target and the Host
 * header, as routing reads them), and for scale the wire decode in front of it ({@code HttpServerCodec} with
 * Postern's limits on an {@code EmbeddedChannel}, bytes to {@code HttpRequest}). Each asserts what it parsed.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class RequestHeadBenchmark {
    /**
     * {@code origin}: origin-form with a query, Host with upper case and a port; {@code plain}: a lower-case Host
     * without port, no query; {@code absolute}: absolute-form target.
     */
    @Param({"origin", "plain", "absolute"})
    public String form;

    private String method;
    private String uri;
    private String hostHeader;
    private HttpHeaders headers;
    private String wantHost;
    private String wantPath;
    private byte[] wire;
    private EmbeddedChannel channel;

    /** Prepares the request. */
    @Setup
    public void setUp() {
        method = "GET";
        switch (form) {
            case "origin" -> {
                uri = "/api/v1/items/42?expand=true&page=2";
                hostHeader = "App-42.Example.com:8080";
                wantHost = "app-42.example.com";
                wantPath = "/api/v1/items/42";
            }
            case "plain" -> {
                uri = "/index.html";
                hostHeader = "app-42.example.com";
                wantHost = "app-42.example.com";
                wantPath = "/index.html";
            }
            case "absolute" -> {
                uri = "http://app-42.example.com:8080/api/v1/items/42?expand=true";
                hostHeader = "ignored.example.com";
                wantHost = "app-42.example.com";
                wantPath = "/api/v1/items/42";
            }
            default -> throw new IllegalArgumentException(form);
        }
        headers = new DefaultHttpHeaders();
        headers.add("host", hostHeader);
        headers.add("user-agent", "perf/1.0");
        headers.add("accept", "*/*");
        wire = (method + " " + uri + " HTTP/1.1\r\nHost: " + hostHeader
                + "\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n"
                + "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                + "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.5\r\n"
                + "Cookie: session=0123456789abcdef; theme=dark\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        // The decoding half of the listener's HttpServerCodec, with its limits and header validation (the encoder
        // half would queue a method per request for responses that never come).
        channel = new EmbeddedChannel(new HttpRequestDecoder(new HttpDecoderConfig()
                .setMaxInitialLineLength(HttpListenerInitializer.MAX_INITIAL_LINE)
                .setMaxHeaderSize(HttpListenerInitializer.MAX_HEADER_BYTES)
                .setValidateHeaders(true)));
    }

    /** Closes the channel. */
    @TearDown
    public void tearDown() {
        channel.finishAndReleaseAll();
    }

    /** {@link RequestHead#parse}; fails on a wrong host or path. */
    @Benchmark
    public RequestHead parse() {
        final RequestHead r = RequestHead.parse(method, uri, hostHeader, headers);
        if (!r.host().equals(wantHost) || !r.path().equals(wantPath)) {
            throw new AssertionError(form + ": " + r.host() + " " + r.path());
        }
        return r;
    }

    /** The wire decode of the whole head (bytes to a Netty {@code HttpRequest}) and then {@link #parse}. */
    @Benchmark
    public RequestHead decodeAndParse() {
        final ByteBuf in = Unpooled.wrappedBuffer(wire);
        channel.writeInbound(in);
        final Object msg = channel.readInbound();
        final Object last = channel.readInbound();
        ReferenceCountUtil.release(last);
        if (!(msg instanceof HttpRequest req) || req.decoderResult().isFailure()) {
            throw new AssertionError(form + ": decoded " + msg);
        }
        final RequestHead r = RequestHead.parse(req.method().name(), req.uri(), req.headers().get("host"),
                req.headers());
        if (!r.host().equals(wantHost) || !r.path().equals(wantPath)) {
            throw new AssertionError(form + ": " + r.host() + " " + r.path());
        }
        return r;
    }
}
