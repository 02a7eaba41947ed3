package dev.postern.proxy.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ByteProcessor;
import io.netty.util.ReferenceCountUtil;

import java.util.ArrayDeque;
import java.util.List;

/**
 * The HTTP/1.1 codec of an upstream connection: Netty's request encoder and response decoder, with the response
 * held to what a proxy may pass on (issue 9; RFC 9112). A response whose head is malformed reaches the exchange
 * as a failed {@link HttpResponse} (502 UPE) and nothing more is decoded from the connection:
 *
 * <ul>
 *   <li>obs-fold (a header line starting with SP or HTAB) or a bare CR in the head: Netty would fold the line
 *       into the previous value; the raw bytes of each head are scanned, up to its empty line, before
 *       decoding;</li>
 *   <li>bare LF line ends (strict line parsing);</li>
 *   <li>a version other than HTTP/1.0 or HTTP/1.1;</li>
 *   <li>any Transfer-Encoding other than exactly {@code chunked}, and Transfer-Encoding together with
 *       Content-Length (Netty would drop the Content-Length and carry on);</li>
 *   <li>more than one Content-Length, a signed or non-numeric one (Netty's decoder).</li>
 * </ul>
 *
 * <p>The methods of the requests sent are queued so that a response to HEAD is read without a body, as in
 * Netty's {@code HttpClientCodec}, which this replaces. An interim (1xx) response reaches the exchange as a head
 * alone: the empty end Netty's decoder adds after it is dropped, so that it is never taken for the end of the
 * final response. A final response that arrives whole in one read is passed on as one {@link FullHttpResponse}.
 *
 * <p>Threading: the connection's event loop.
 */
public final class UpstreamCodec extends CombinedChannelDuplexHandler<HttpResponseDecoder, HttpRequestEncoder> {
    private final ArrayDeque<HttpMethod> methods = new ArrayDeque<>(2);

    /**
     * Creates the codec of one connection.
     *
     * @param maxHeaderSize the largest response head accepted (502 past it)
     */
    public UpstreamCodec(int maxHeaderSize) {
        init(new Decoder(new HttpDecoderConfig().setMaxHeaderSize(maxHeaderSize).setStrictLineParsing(true)
                .setValidateHeaders(true)), new Encoder());
    }

    private final class Encoder extends HttpRequestEncoder {
        @Override
        protected void encode(ChannelHandlerContext ctx, Object msg, List<Object> out) throws Exception {
            if (msg instanceof HttpRequest r) {
                methods.add(r.method());
            }
            super.encode(ctx, msg, out);
        }
    }

    private final class Decoder extends HttpResponseDecoder {
        private final HeadScanner scanner = new HeadScanner();
        /** The next bytes are (part of) a response head: scan them before decoding. */
        private boolean scanning = true;
        /** Bytes at the reader index already scanned (a head that has not fully arrived). */
        private int ahead;
        /** After a bad response or a 101: nothing more is decoded (or scanned). */
        private boolean done;
        private boolean contentLengthAndChunked;
        /** An interim response was decoded; its empty end is dropped. */
        private boolean interim;
        /** A 101 was decoded: the bytes that follow are a tunnel's, passed through undecoded. */
        private boolean upgraded;

        Decoder(HttpDecoderConfig config) {
            super(config);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            if (done) {
                if (upgraded) {
                    super.decode(ctx, in, out);
                } else {
                    in.skipBytes(in.readableBytes());
                }
                return;
            }
            if (scanning) {
                final int from = in.readerIndex() + ahead;
                final int len = in.writerIndex() - from;
                if (len > 0) {
                    final int at = in.forEachByte(from, len, scanner);
                    if (scanner.fault != null) {
                        fail(in, out, scanner.fault);
                        return;
                    }
                    if (at >= 0) {
                        scanning = false; // the head ends here; what follows is body
                    } else {
                        ahead += len;
                    }
                }
            }
            final int readerBefore = in.readerIndex();
            final int first = out.size();
            super.decode(ctx, in, out);
            if (scanning) {
                ahead = Math.max(0, ahead - (in.readerIndex() - readerBefore));
            }
            for (int i = first; i < out.size(); i++) {
                final Object o = out.get(i);
                if (o instanceof HttpResponse r && !r.decoderResult().isFailure()) {
                    final String why = check(r);
                    if (why != null) {
                        r.setDecoderResult(DecoderResult.failure(new IllegalArgumentException(why)));
                        for (int j = out.size() - 1; j > i; j--) {
                            ReferenceCountUtil.release(out.remove(j));
                        }
                        done = true;
                        in.skipBytes(in.readableBytes());
                        return;
                    }
                    if (r.status().code() == 101) {
                        done = true; // a tunnel follows; its bytes are not HTTP
                        upgraded = true;
                    } else if (r.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
                        interim = true;
                    }
                }
                if (o instanceof LastHttpContent && !done) {
                    scanning = true; // the next response's head starts at the reader index
                    ahead = 0;
                    scanner.reset();
                    if (interim) {
                        // The empty end the decoder adds after an interim (1xx) response: the exchange waits for
                        // the final response, whose end is the one that counts.
                        interim = false;
                        ReferenceCountUtil.release(out.remove(i--));
                    }
                }
            }
            merge(out, first);
        }

        /**
         * A final response whose whole body came in the same read (a small response, or one without a body) goes
         * on as one {@link FullHttpResponse}: one message through both pipelines, one write and one encode
         * downstream, where the head and the end would each have been a message of their own.
         */
        private static void merge(List<Object> out, int first) {
            for (int i = first; i + 1 < out.size(); i++) {
                if (out.get(i) instanceof HttpResponse r && !(r instanceof FullHttpResponse)
                        && r.decoderResult().isSuccess() && r.status().codeClass() != HttpStatusClass.INFORMATIONAL
                        && out.get(i + 1) instanceof LastHttpContent end && end.decoderResult().isSuccess()) {
                    out.set(i, new DefaultFullHttpResponse(r.protocolVersion(), r.status(), end.content(),
                            r.headers(), end.trailingHeaders()));
                    out.remove(i + 1);
                }
            }
        }

        /** Why a decoded response head must not be passed on, or null. */
        private String check(HttpResponse r) {
            final HttpVersion v = r.protocolVersion();
            if (v.majorVersion() != 1 || v.minorVersion() > 1) {
                return "unsupported version " + v;
            }
            if (contentLengthAndChunked) {
                contentLengthAndChunked = false;
                return "Content-Length together with Transfer-Encoding";
            }
            final List<String> te = r.headers().getAll(HttpHeaderNames.TRANSFER_ENCODING);
            if (!te.isEmpty() && (te.size() > 1 || !te.getFirst().trim().equalsIgnoreCase("chunked")
                    || r.headers().contains(HttpHeaderNames.CONTENT_LENGTH))) {
                return "Transfer-Encoding other than chunked";
            }
            return null;
        }

        private void fail(ByteBuf in, List<Object> out, String why) {
            final HttpResponse bad = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.BAD_GATEWAY);
            bad.setDecoderResult(DecoderResult.failure(new IllegalArgumentException(why)));
            out.add(bad);
            done = true;
            in.skipBytes(in.readableBytes());
        }

        @Override
        protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
            contentLengthAndChunked = true;
            super.handleTransferEncodingChunkedWithContentLength(message);
        }

        @Override
        protected boolean isContentAlwaysEmpty(HttpMessage msg) {
            final HttpResponseStatus status = ((HttpResponse) msg).status();
            if (status.codeClass() == HttpStatusClass.INFORMATIONAL && status.code() != 101) {
                return super.isContentAlwaysEmpty(msg); // an interim response: the request still waits
            }
            final HttpMethod m = methods.poll();
            return HttpMethod.HEAD.equals(m) || super.isContentAlwaysEmpty(msg);
        }
    }

    /** Finds obs-fold and bare CR in a response head; stops at the empty line that ends it. */
    private static final class HeadScanner implements ByteProcessor {
        String fault;
        private int lines;
        private int lineLen;
        private boolean cr;

        void reset() {
            fault = null;
            lines = 0;
            lineLen = 0;
            cr = false;
        }

        @Override
        public boolean process(byte b) {
            if (cr && b != '\n') {
                fault = "bare CR in the response head";
                return false;
            }
            if (b == '\n') {
                cr = false;
                if (lineLen == 0 && lines > 0) {
                    return false; // the end of the head
                }
                if (lineLen > 0) {
                    lines++;
                }
                lineLen = 0;
                return true;
            }
            if (b == '\r') {
                cr = true;
                return true;
            }
            if (lineLen == 0 && lines > 0 && (b == ' ' || b == '\t')) {
                fault = "obs-fold in the response head";
                return false;
            }
            lineLen++;
            return true;
        }
    }
}
