package dev.postern.proxy;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.postern.config.ConfigPipeline;
import dev.postern.config.ConfigRef;
import dev.postern.config.runtime.BindKey;
import dev.postern.config.yaml.YamlReader;
import dev.postern.proxy.http.ForwardedHeaderPolicy;
import dev.postern.proxy.server.Bootstrap;
import dev.postern.proxy.server.HttpListenerInitializer;
import dev.postern.proxy.server.ServerContext;
import dev.postern.proxy.server.Transport;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import org.slf4j.LoggerFactory;

/**
 * Jazzer fuzz target (issue 9) for the request-head path: the fuzzer's bytes arrive on a plain HTTP listener's
 * real pipeline ({@link HttpListenerInitializer}: the connection guard with its obs-fold scan, the h2c
 * prior-knowledge and upgrade handlers, the strict HTTP/1.1 decoder, Expect handling, and
 * {@code Http1ProxyHandler}'s own checks), on an {@link EmbeddedChannel}, in one or two reads. The only route
 * is a catch-all redirect, so a request that passes every check answers 302: "routed", what would have been
 * forwarded. Invariants:
 *
 * <ul>
 *   <li>nothing throws and nothing is logged at WARN or above (Postern logs a bug in its request path at WARN;
 *       Netty logs an exception that reached a pipeline's tail, and leaks, at WARN/ERROR);</li>
 *   <li>what goes back is well-formed HTTP/1.1 (until a 101 switches protocols), and each status is one of the
 *       defined outcomes: 100, 101, 302 (routed), or the 4xx answers to bad input (400, 413, 414, 417, 431);
 *       never a 5xx;</li>
 *   <li>never more requests routed than a strict RFC 9112 reading of the same bytes ({@link StrictReader},
 *       written here independently) finds valid in a row: no CL+TE, one Content-Length of digits, Transfer-Encoding
 *       exactly {@code chunked}, one valid Host, token method and field names, no obs-fold, no bare CR or LF,
 *       no control characters in values, a visible-ASCII target, HTTP/1.0 or 1.1, valid chunk sizes.</li>
 * </ul>
 */
class RequestHeadFuzzTest {
    private static final ServerContext CONTEXT;
    private static final BindKey BIND;
    private static final Set<Integer> DEFINED = Set.of(100, 101, 302, 400, 413, 414, 417, 431);
    private static final List<String> PROBLEMS = new ArrayList<>();

    static {
        final YamlReader.Result read = YamlReader.read("fuzz.yaml", TestGateway.GATEWAY_HEAD + """
                  listeners: [{name: http, protocol: HTTP, port: 8080}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: all, namespace: default}
                spec:
                  parentRefs: [{name: gw}]
                  rules: [{filters: [{type: RequestRedirect, requestRedirect: {hostname: routed.test}}]}]
                """);
        final ConfigPipeline.Build build = ConfigPipeline.fromResources(read.resources(),
                new ConfigPipeline.Settings(ConfigPipeline.Settings.DEFAULT_CONTROLLER, "127.0.0.1"), 1);
        if (build.hasErrors()) {
            throw new IllegalStateException(build.diagnostics().toString());
        }
        final ConfigRef ref = new ConfigRef();
        ref.offer(build);
        BIND = build.table().ports().keySet().iterator().next();
        CONTEXT = new ServerContext(ref, new ForwardedHeaderPolicy(0, ForwardedHeaderPolicy.defaultInternal(),
                "192.0.2.1"), Bootstrap.defaults(), Transport.choose("nio"));
        final AppenderBase<ILoggingEvent> problems = new AppenderBase<>() {
            @Override
            protected void append(ILoggingEvent e) {
                if (e.getLevel().isGreaterOrEqual(Level.WARN)) {
                    synchronized (PROBLEMS) {
                        PROBLEMS.add(e.getLoggerName() + ": " + e.getFormattedMessage()
                                + (e.getThrowableProxy() == null ? "" : " " + e.getThrowableProxy().getClassName()
                                + ": " + e.getThrowableProxy().getMessage()));
                    }
                }
            }
        };
        problems.start();
        ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).addAppender(problems);
    }

    @FuzzTest(maxDuration = "10s")
    void requestHead(byte[] input) {
        synchronized (PROBLEMS) {
            PROBLEMS.clear();
        }
        final EmbeddedChannel ch = new EmbeddedChannel(new HttpListenerInitializer(CONTEXT, BIND, false,
                new AtomicInteger()));
        // Odd-length inputs arrive in two reads, split in the middle: state carried across reads is fuzzed too.
        final int split = input.length % 2 == 1 ? input.length / 2 : input.length;
        ch.writeInbound(Unpooled.wrappedBuffer(input, 0, split));
        ch.runPendingTasks();
        if (split < input.length && ch.isOpen()) {
            ch.writeInbound(Unpooled.wrappedBuffer(input, split, input.length - split));
            ch.runPendingTasks();
        }
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Object o; (o = ch.readOutbound()) != null; ) {
            if (o instanceof ByteBuf b) {
                final byte[] bytes = new byte[b.readableBytes()];
                b.readBytes(bytes);
                out.writeBytes(bytes);
                b.release();
            } else {
                io.netty.util.ReferenceCountUtil.release(o);
                fail("a non-byte message was written: " + o.getClass().getName());
            }
        }
        ch.finishAndReleaseAll();
        ch.checkException();
        synchronized (PROBLEMS) {
            assertTrue(PROBLEMS.isEmpty(), () -> "logged: " + PROBLEMS);
        }
        if (startsWith(input, "PRI * HTTP/2.0")) {
            return; // HTTP/2 prior knowledge: the answer is frames; the checks above still held
        }
        final int routed = routedResponses(out.toByteArray(), indexOf(input, 0, "HEAD") >= 0);
        final int allowed = StrictReader.validInARow(input);
        assertTrue(routed <= allowed, () -> routed + " request(s) routed but only " + allowed
                + " valid in a row under RFC 9112");
    }

    private static boolean startsWith(byte[] in, String prefix) {
        final byte[] p = prefix.getBytes(StandardCharsets.US_ASCII);
        if (in.length < p.length) {
            return false;
        }
        for (int i = 0; i < p.length; i++) {
            if (in[i] != p[i]) {
                return false;
            }
        }
        return true;
    }

    /** Parses the responses; fails on a malformed one or an undefined status. Returns how many were routed. */
    private static int routedResponses(byte[] out, boolean head) {
        int pos = 0;
        int routed = 0;
        while (pos < out.length) {
            final int end = indexOf(out, pos, "\r\n\r\n");
            if (end < 0) {
                fail("truncated response head: " + ascii(out, pos, out.length));
            }
            final String text = ascii(out, pos, end);
            final String[] lines = text.split("\r\n");
            if (!lines[0].matches("HTTP/1\\.1 [1-5][0-9][0-9] [ -~]*")) {
                fail("malformed status line: " + lines[0]);
            }
            final int status = Integer.parseInt(lines[0].substring(9, 12));
            if (!DEFINED.contains(status)) {
                fail("status " + status + " is not a defined outcome: " + text);
            }
            long length = 0;
            for (int i = 1; i < lines.length; i++) {
                final int colon = lines[i].indexOf(':');
                if (colon <= 0) {
                    fail("malformed response header: " + lines[i]);
                }
                final String name = lines[i].substring(0, colon).toLowerCase(Locale.ROOT);
                if (name.equals("content-length")) {
                    length = Long.parseLong(lines[i].substring(colon + 1).trim());
                } else if (name.equals("transfer-encoding")) {
                    fail("local replies have a content-length: " + text);
                }
            }
            if (status == 302 || status == 101) {
                routed++;
            }
            if (status == 101) {
                return routed; // HTTP/2 frames follow
            }
            pos = end + 4 + (status == 100 ? 0 : (int) length);
            if (pos > out.length) {
                if (!head) {
                    fail("response body shorter than its content-length: " + text);
                }
                pos = end + 4; // the answer to a HEAD request has no body (the codec drops it)
            }
        }
        return routed;
    }

    static int indexOf(byte[] b, int from, String s) {
        outer:
        for (int i = from; i <= b.length - s.length(); i++) {
            for (int j = 0; j < s.length(); j++) {
                if (b[i + j] != s.charAt(j)) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    static String ascii(byte[] b, int from, int to) {
        return new String(b, from, to - from, StandardCharsets.ISO_8859_1);
    }

    /**
     * A strict reader of HTTP/1.1 requests after RFC 9112, independent of Netty and Postern: how many requests at
     * the start of the bytes have valid heads (and, but for the last, valid bodies), i.e. the most that may be
     * routed. Bytes Netty skips before a request line (controls and whitespace) are skipped here too: they belong
     * to no request.
     */
    static final class StrictReader {
        private final byte[] b;
        private int pos;

        private StrictReader(byte[] b) {
            this.b = b;
        }

        static int validInARow(byte[] input) {
            final StrictReader r = new StrictReader(input);
            int n = 0;
            while (true) {
                while (r.pos < input.length && skippable(input[r.pos])) {
                    r.pos++;
                }
                if (r.pos >= input.length) {
                    return n;
                }
                final Head h = r.head(n == 0);
                if (h == null) {
                    return n;
                }
                n++;
                if (h.last || !r.body(h)) {
                    return n;
                }
            }
        }

        private static boolean skippable(byte c) {
            final int u = c & 0xFF;
            return u <= 0x20 || (u >= 0x7F && u <= 0x9F);
        }

        private record Head(long contentLength, boolean chunked, boolean last) {
        }

        /** The next CRLF-terminated line without its CRLF, or null when there is none or a bare CR/LF. */
        private String line() {
            return line(false);
        }

        /**
         * The next CRLF-terminated line; a bare CR inside it is refused unless {@code crIsSpace} (the request line:
         * RFC 9112 §3 lets a recipient read a bare CR there as SP, and §2.2 lets it replace one with SP).
         */
        private String line(boolean crIsSpace) {
            for (int i = pos; i < b.length; i++) {
                if (b[i] == '\n') {
                    if (i == pos || b[i - 1] != '\r') {
                        return null; // bare LF
                    }
                    final String l = ascii(b, pos, i - 1);
                    if (l.indexOf('\r') >= 0 && !crIsSpace) {
                        return null; // bare CR
                    }
                    pos = i + 1;
                    return l;
                }
            }
            return null;
        }

        /**
         * One request head. Postern rejects obs-fold in the first head it reads; a pipelined head that arrives in
         * the same read is unfolded by Netty's decoder instead, which RFC 9112 §5.2 also allows (the connection
         * guard scans raw bytes only up to the end of the head it is waiting for), so obs-fold is tolerated here
         * after the first head.
         */
        private Head head(boolean first) {
            final String rl = line(true);
            if (rl == null) {
                return null;
            }
            // RFC 9112 §3: a recipient MAY split the request line on whitespace (SP, HTAB, VT, FF; a bare CR is
            // refused above) and ignore whitespace before and after; Netty does, and so does Postern (decision 53).
            final String[] parts = rl.replaceAll("^[ \\t\\x0B\\f\\r]+|[ \\t\\x0B\\f\\r]+$", "")
                    .split("[ \\t\\x0B\\f\\r]+");
            if (parts.length != 3 || !token(parts[0]) || parts[1].isEmpty() || !visible(parts[1])
                    // Open finding: Netty reads the HTTP-name case-insensitively ("hTTP/1.1" is routed) and keeps no
                    // trace of the original case; tolerated here until the guard checks the raw request line.
                    || !(parts[2].equalsIgnoreCase("HTTP/1.1") || parts[2].equalsIgnoreCase("HTTP/1.0"))) {
                return null;
            }
            final String target = parts[1];
            final boolean absolute = target.matches("(?i)[a-z][a-z0-9+.-]*://.*");
            if (!(target.startsWith("/") || absolute || (target.equals("*") && parts[0].equals("OPTIONS")))) {
                return null;
            }
            final boolean http11 = parts[2].equalsIgnoreCase("HTTP/1.1");
            int hosts = 0;
            String host = null;
            final List<String> cl = new ArrayList<>();
            final List<String> te = new ArrayList<>();
            boolean close = !http11;
            boolean sawField = false;
            while (true) {
                final String l = line();
                if (l == null) {
                    return null;
                }
                if (l.isEmpty()) {
                    break;
                }
                if (l.charAt(0) == ' ' || l.charAt(0) == '\t') {
                    if (first || !sawField) {
                        return null; // obs-fold (or whitespace before the first field)
                    }
                    continue; // a continuation of the previous field, unfolded by the decoder
                }
                sawField = true;
                final int colon = l.indexOf(':');
                if (colon <= 0 || !token(l.substring(0, colon))) {
                    return null;
                }
                final String value = l.substring(colon + 1).strip();
                for (int i = colon + 1; i < l.length(); i++) {
                    final char c = l.charAt(i);
                    if (c < 0x20 && c != '\t' || c == 0x7F) {
                        return null;
                    }
                }
                switch (l.substring(0, colon).toLowerCase(Locale.ROOT)) {
                    case "host" -> {
                        hosts++;
                        host = value;
                    }
                    case "content-length" -> cl.add(value);
                    case "transfer-encoding" -> te.add(value);
                    case "connection" -> {
                        // Connection is a token list: "closegrade" is not "close".
                        final List<String> tokens = new ArrayList<>();
                        for (String t : value.toLowerCase(Locale.ROOT).split(",")) {
                            tokens.add(t.strip());
                        }
                        close |= tokens.contains("close");
                        close &= !(tokens.contains("keep-alive") && !http11);
                    }
                    default -> {
                    }
                }
            }
            if (hosts > 1 || (hosts == 0 && http11 && !absolute) || (host != null && !validHost(host))) {
                return null;
            }
            if (!te.isEmpty() && (te.size() != 1 || !te.getFirst().equalsIgnoreCase("chunked") || !cl.isEmpty())) {
                return null;
            }
            long length = 0;
            if (!cl.isEmpty()) {
                if (cl.size() != 1 || !cl.getFirst().matches("[0-9]{1,18}")) {
                    return null;
                }
                length = Long.parseLong(cl.getFirst());
            }
            // After a close or HTTP/1.0 framing by Transfer-Encoding, nothing more is read. An upgrade does not end
            // the count: one that is not switched (any but a complete h2c upgrade; the catch-all route answers 302)
            // leaves the connection HTTP/1.1, so a pipelined request after it is a request (RFC 9110 §7.8); after a
            // switched h2c upgrade the rest is HTTP/2 and no HTTP/1.1 answer can be counted as routed anyway.
            return new Head(length, !te.isEmpty(), close || (!http11 && !te.isEmpty()));
        }

        /** Skips a body; false when it is incomplete or invalid (nothing after it can be a request). */
        private boolean body(Head h) {
            if (!h.chunked()) {
                if (b.length - pos < h.contentLength()) {
                    return false;
                }
                pos += (int) h.contentLength();
                return true;
            }
            while (true) {
                final String size = line();
                if (size == null) {
                    return false;
                }
                final int semi = size.indexOf(';');
                final String hex = (semi < 0 ? size : size.substring(0, semi)).strip();
                if (!hex.matches("[0-9a-fA-F]{1,15}")) {
                    return false;
                }
                final long n = Long.parseLong(hex, 16);
                if (n == 0) {
                    while (true) { // trailers
                        final String t = line();
                        if (t == null) {
                            return false;
                        }
                        if (t.isEmpty()) {
                            return true;
                        }
                        final int colon = t.indexOf(':');
                        if (colon <= 0 || !token(t.substring(0, colon)) || t.charAt(0) == ' ') {
                            return false;
                        }
                    }
                }
                if (b.length - pos < n + 2 || b[pos + (int) n] != '\r' || b[pos + (int) n + 1] != '\n') {
                    return false;
                }
                pos += (int) n + 2;
            }
        }

        private static boolean token(String s) {
            if (s.isEmpty()) {
                return false;
            }
            for (int i = 0; i < s.length(); i++) {
                final char c = s.charAt(i);
                if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                        || "!#$%&'*+-.^_`|~".indexOf(c) >= 0)) {
                    return false;
                }
            }
            return true;
        }

        private static boolean visible(String s) {
            for (int i = 0; i < s.length(); i++) {
                if (s.charAt(i) < 0x21 || s.charAt(i) > 0x7E) {
                    return false;
                }
            }
            return true;
        }

        /** RFC 9110 §7.2 Host: uri-host [ ":" port ], with uri-host a reg-name or an IP literal in brackets. */
        private static boolean validHost(String h) {
            return h.matches("([A-Za-z0-9\\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(:[0-9]*)?")
                    || h.matches("\\[[0-9A-Fa-f:.]+\\](:[0-9]*)?");
        }
    }
}
