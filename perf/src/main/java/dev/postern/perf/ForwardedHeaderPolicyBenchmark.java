package dev.postern.perf;

import dev.postern.proxy.http.ForwardedHeaderPolicy;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;

import java.net.InetAddress;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@link ForwardedHeaderPolicy#apply}: Envoy's client-address algorithm on a typical browser request's headers.
 * The policy mutates in place, so each invocation first copies the received headers; {@link #copyOnly} measures
 * that copy alone, to subtract. Each invocation asserts the outcome and the X-Forwarded-For written.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class ForwardedHeaderPolicyBenchmark {
    /**
     * {@code edge}: an external client, no X-Forwarded-For (control headers stripped, x-request-id and
     * x-envoy-external-address written); {@code internal}: a 10/8 peer (x-envoy-internal); {@code trustedHop}:
     * {@code xffNumTrustedHops: 1} behind a load balancer that sent X-Forwarded-For.
     */
    @Param({"edge", "internal", "trustedHop"})
    public String kind;

    private ForwardedHeaderPolicy policy;
    private HttpHeaders received;
    private InetAddress peer;
    private String wantClient;
    private boolean wantInternal;
    private String wantXff;

    /** Builds the policy and the received headers. */
    @Setup
    public void setUp() throws Exception {
        received = new DefaultHttpHeaders();
        received.add("host", "app-42.example.com");
        received.add("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)");
        received.add("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        received.add("accept-encoding", "gzip, deflate, br");
        received.add("accept-language", "en-US,en;q=0.5");
        received.add("connection", "keep-alive");
        received.add("cookie", "session=0123456789abcdef; theme=dark");
        received.add("x-envoy-retry-on", "5xx");
        int hops = 0;
        switch (kind) {
            case "edge" -> {
                peer = InetAddress.ofLiteral("203.0.113.7");
                wantClient = "203.0.113.7";
                wantXff = "203.0.113.7";
            }
            case "internal" -> {
                peer = InetAddress.ofLiteral("10.1.2.3");
                wantClient = "10.1.2.3";
                wantInternal = true;
                wantXff = "10.1.2.3";
            }
            case "trustedHop" -> {
                hops = 1;
                received.add("x-forwarded-for", "198.51.100.1, 203.0.113.9");
                received.add("x-forwarded-proto", "https");
                peer = InetAddress.ofLiteral("10.0.0.2");
                wantClient = "203.0.113.9";
                wantXff = "198.51.100.1, 203.0.113.9,10.0.0.2";
            }
            default -> throw new IllegalArgumentException(kind);
        }
        policy = new ForwardedHeaderPolicy(hops, ForwardedHeaderPolicy.defaultInternal(), "10.0.0.5");
        apply(); // check once outside measurement too
    }

    /** Copies the received headers and applies the policy; fails on a wrong outcome. */
    @Benchmark
    public ForwardedHeaderPolicy.Outcome apply() {
        final HttpHeaders h = received.copy();
        final ForwardedHeaderPolicy.Outcome o = policy.apply(h, peer, false, false);
        if (!o.trustedClient().equals(wantClient) || o.internal() != wantInternal
                || !wantXff.equals(h.get("x-forwarded-for")) || h.contains("connection")) {
            throw new AssertionError(kind + ": " + o + " " + h);
        }
        return o;
    }

    /** The copy alone, to subtract from {@link #apply}. */
    @Benchmark
    public HttpHeaders copyOnly() {
        final HttpHeaders h = received.copy();
        if (h.size() != received.size()) {
            throw new AssertionError();
        }
        return h;
    }
}
